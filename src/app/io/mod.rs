//! File formats: .npy/.npz arrays and PyTorch state_dicts read into the
//! core's models.

pub mod attention;
pub mod conv;
pub mod npy;
pub mod onnx;
pub mod rnn;
pub mod state_dict;

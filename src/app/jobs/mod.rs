//! What each `wgsl-nn` subcommand does, as a function of a job description:
//! build the model, load or seed its inputs, run, check and time it.

pub mod attention;
pub mod attention_half;
pub mod classify;
pub mod conv;
pub mod conv_half;
pub mod rnn;
pub mod text2image;

//! Compositions of ops: the exercise's conv stack (and any stack the layer
//! language describes).

pub mod attention_job;
pub mod conv_job;
pub mod conv_stack;
pub mod permutation;
pub mod text2image;
pub mod text2image_job;
pub mod transformer;

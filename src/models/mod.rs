//! Compositions of ops: the exercise's conv stack (and any stack the layer
//! language describes).

pub mod attention_job;
pub mod conv_job;
pub mod conv_stack;
pub mod permutation;
pub mod transformer;

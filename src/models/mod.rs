//! Compositions of ops: the exercise's conv stack (and any stack the layer
//! language describes).

pub mod conv_init;
pub mod conv_stack;
pub mod conv_stack_half;
pub mod permutation;
pub mod rnn_stack;
pub mod text2image;
pub mod transformer;

use crate::cpu::attention::MhaWeights;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::attention::MhaTensors;
use crate::tensor::Tensor;

/// Uploads one attention layer's projections (`[D, D]` weights, `[D]` biases).
pub fn upload_mha(gpu: &Gpu, w: &MhaWeights) -> Result<MhaTensors> {
    let d = w.d_model;
    let t = |n: &str, s: &[usize], v: &[f32]| Tensor::upload(gpu, n, s, v);
    Ok(MhaTensors {
        wq: t("Wq", &[d, d], &w.wq)?,
        bq: t("bq", &[d], &w.bq)?,
        wk: t("Wk", &[d, d], &w.wk)?,
        bk: t("bk", &[d], &w.bk)?,
        wv: t("Wv", &[d, d], &w.wv)?,
        bv: t("bv", &[d], &w.bv)?,
        wo: t("Wo", &[d, d], &w.wo)?,
        bo: t("bo", &[d], &w.bo)?,
    })
}

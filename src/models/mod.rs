//! Compositions of ops: the exercise's conv stack (and any stack the layer
//! language describes).

pub mod attention_io;
pub mod attention_job;
pub mod conv_job;
pub mod conv_params;
pub mod conv_stack;
pub mod permutation;
pub mod rnn_job;
pub mod rnn_stack;
pub mod text2image;
pub mod text2image_job;
pub mod transformer;

use crate::cpu::attention::MhaWeights;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::attention::MhaTensors;
use crate::tensor::Tensor;

/// Uploads one attention layer's projections ([D, D] weights, [D] biases).
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

/// One tensor of a saved state_dict, by its name after any module prefix
/// (`attn.in_proj_weight` matches `in_proj_weight`); an error naming the
/// file when several modules have one.
pub fn state_dict_entry<'a>(
    p: &'a std::collections::BTreeMap<String, crate::npy::Array>,
    name: &str,
    src: &str,
) -> Result<Option<&'a crate::npy::Array>> {
    let hits: Vec<&String> = p
        .keys()
        .filter(|k| *k == name || k.ends_with(&format!(".{name}")))
        .collect();
    match hits[..] {
        [] => Ok(None),
        [k] => Ok(p.get(k)),
        _ => Err(crate::Error::arg(
            "--params",
            format!("{src} has several '{name}' ({hits:?}); save one module's state_dict"),
        )),
    }
}

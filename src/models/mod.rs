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

/// A saved state_dict read by name after an optional module prefix
/// (`attn.in_proj_weight` answers `in_proj_weight`). It remembers what was
/// read: every key must come from one module (one prefix), and `finish`
/// refuses keys nobody read, so a typo or a missing layer is an error, not
/// a silently zero bias or a shorter stack.
pub struct StateDict<'a> {
    pub map: &'a std::collections::BTreeMap<String, crate::npy::Array>,
    pub src: String,
    used: std::cell::RefCell<std::collections::BTreeSet<String>>,
    prefix: std::cell::RefCell<Option<String>>,
}

impl<'a> StateDict<'a> {
    pub fn new(map: &'a std::collections::BTreeMap<String, crate::npy::Array>, src: &str) -> Self {
        StateDict {
            map,
            src: src.to_string(),
            used: Default::default(),
            prefix: Default::default(),
        }
    }

    pub fn get(&self, name: &str) -> Result<Option<&'a crate::npy::Array>> {
        let hits: Vec<&String> = self
            .map
            .keys()
            .filter(|k| *k == name || k.ends_with(&format!(".{name}")))
            .collect();
        let key = match hits[..] {
            [] => return Ok(None),
            [k] => k,
            _ => {
                return Err(crate::Error::arg(
                    "--params",
                    format!(
                        "{} has several '{name}' ({hits:?}); save one module's state_dict",
                        self.src
                    ),
                ))
            }
        };
        let prefix = key[..key.len() - name.len()].to_string();
        let mut seen = self.prefix.borrow_mut();
        match seen.as_deref() {
            Some(p) if p != prefix => {
                return Err(crate::Error::arg(
                    "--params",
                    format!(
                        "{} mixes modules: '{key}' does not share the prefix '{p}' of the keys read before; \
                         save one module's state_dict",
                        self.src
                    ),
                ))
            }
            _ => *seen = Some(prefix),
        }
        self.used.borrow_mut().insert(key.clone());
        Ok(self.map.get(key))
    }

    /// Marks a key as understood without reading it (e.g. num_batches_tracked).
    pub fn ignore(&self, name: &str) -> Result<()> {
        self.get(name).map(|_| ())
    }

    /// The keys, for messages.
    pub fn keys(&self) -> String {
        let k: Vec<&str> = self.map.keys().map(String::as_str).collect();
        if k.is_empty() {
            "none".into()
        } else {
            k.join(", ")
        }
    }

    /// Every key must have been read; `module` completes "keys ... does
    /// not use", e.g. "an nn.LSTM".
    pub fn finish(&self, module: &str) -> Result<()> {
        let used = self.used.borrow();
        let unused: Vec<&String> = self.map.keys().filter(|k| !used.contains(*k)).collect();
        if unused.is_empty() {
            return Ok(());
        }
        Err(crate::Error::arg(
            "--params",
            format!(
                "{} has keys {module} does not use: {unused:?}; check for typos, missing layers or \
                 another module's weights",
                self.src
            ),
        ))
    }
}

/// [rows, cols] row-major to [cols, rows]: PyTorch's output-major weights
/// to wgsl-nn's input-major ones.
pub fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|i| w[(i % rows) * cols + i / rows])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::StateDict;
    use crate::npy::Array;
    use std::collections::BTreeMap;

    fn dict(keys: &[&str]) -> BTreeMap<String, Array> {
        keys.iter()
            .map(|k| {
                let a = Array {
                    shape: vec![1],
                    data: vec![0.0],
                };
                (k.to_string(), a)
            })
            .collect()
    }

    #[test]
    fn keys_under_one_prefix_are_found_and_every_key_must_be_used() {
        let d = dict(&["features.0.weight", "features.10.weight", "features.0.bias"]);
        let sd = StateDict::new(&d, "m.npz");
        assert!(sd.get("0.weight").unwrap().is_some());
        assert!(sd.get("0.bias").unwrap().is_some());
        assert!(sd.get("3.weight").unwrap().is_none());
        let e = sd.finish("this stack").unwrap_err().to_string();
        assert!(
            e.contains("features.10.weight") && e.contains("m.npz"),
            "{e}"
        );
        assert!(sd.get("10.weight").unwrap().is_some());
        assert!(sd.finish("this stack").is_ok());
    }

    #[test]
    fn two_modules_are_refused() {
        let d = dict(&["a.weight_ih_l0", "b.weight_hh_l0"]);
        let sd = StateDict::new(&d, "m.npz");
        assert!(sd.get("weight_ih_l0").unwrap().is_some());
        let e = sd.get("weight_hh_l0").unwrap_err().to_string();
        assert!(e.contains("mixes modules"), "{e}");
        let d = dict(&["a.in_proj_weight", "b.in_proj_weight"]);
        let e = StateDict::new(&d, "m.npz")
            .get("in_proj_weight")
            .unwrap_err()
            .to_string();
        assert!(e.contains("several"), "{e}");
    }
}

//! Real weights and inputs for `wgsl-nn attention`, in the form PyTorch's
//! `nn.MultiheadAttention(D, H, batch_first=True)` takes them, so the GPU's
//! output can be compared with PyTorch's on the same numbers.
//!
//! PyTorch stores projections output-major (`y = x W^T + b`); wgsl-nn keeps
//! them input-major (`y = x W + b`), so every matrix is transposed on load.

use crate::app::io::npy;
use crate::app::io::state_dict::{transpose, StateDict};
use crate::cpu::attention::MhaWeights;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The files a user may give; any may be absent (then seeded random data).
#[derive(Debug, Clone, Default)]
pub struct AttentionFiles {
    /// A state_dict saved with np.savez.
    pub params: Option<PathBuf>,
    /// Queries, [L, D] or [B, L, D].
    pub input: Option<PathBuf>,
    /// Keys and values for cross-attention, [S, D] or [B, S, D].
    pub kv_input: Option<PathBuf>,
    /// PyTorch's key_padding_mask, `[S]` or `[B, S]`: True / 1 / -inf hide a key.
    pub key_padding_mask: Option<PathBuf>,
}

/// What the files held, checked against each other.
#[derive(Debug, Clone, Default)]
pub struct AttentionData {
    /// The module's projections from `params`, transposed to input-major
    /// (zero biases for a bias=False module).
    pub weights: Option<MhaWeights>,
    /// Row-major [B, L, D] and its (B, L, D).
    pub queries: Option<(Vec<f32>, [usize; 3])>,
    /// Keys/values for cross-attention, row-major [B, S, D] and its
    /// (B, S, D); B and D equal the queries'.
    pub kv: Option<(Vec<f32>, [usize; 3])>,
    /// [B or 1, S] in wgsl-nn's convention: 1 keeps a key, 0 hides it.
    pub keep_keys: Option<(Vec<f32>, [usize; 2])>,
    /// The query file was [L, D], so the output is written the same way.
    pub unbatched: bool,
}

impl AttentionFiles {
    /// No file was given: the job seeds every input.
    pub fn is_empty(&self) -> bool {
        self.params.is_none()
            && self.input.is_none()
            && self.kv_input.is_none()
            && self.key_padding_mask.is_none()
    }

    /// Reads every file given and checks them against each other. An
    /// unbatched `[L, D]` (or `[S, D]`, `[S]`) file is read as batch 1; the mask
    /// is turned from PyTorch's convention (True / 1 / -inf hide) into
    /// wgsl-nn's (1 keeps).
    ///
    /// # Errors
    ///
    /// Any read error of the files; `Error::Argument` naming the flag when
    /// keys/values come without queries, a shape is not one of those
    /// above, queries and keys/values differ in batch or D, the queries'
    /// D is not the weights', a mask holds values other than 0/1/-inf, a
    /// tensor is too large, or the state_dict is not one
    /// `nn.MultiheadAttention`'s (missing, unread or misshapen keys,
    /// `kdim`/`vdim` other than D, `add_bias_kv=True`).
    pub fn load(&self) -> Result<AttentionData> {
        if self.kv_input.is_some() && self.input.is_none() {
            return Err(Error::arg(
                "--kv-npy",
                "the keys/values come with queries: give --input-npy too",
            ));
        }
        let weights = self.params.as_deref().map(load_params).transpose()?;
        let queries = self
            .input
            .as_deref()
            .map(|p| sequence(p, "--input-npy", "L"))
            .transpose()?;
        let kv = self
            .kv_input
            .as_deref()
            .map(|p| sequence(p, "--kv-npy", "S"))
            .transpose()?;
        if let (Some((_, (q, _))), Some((_, (k, _)))) = (&queries, &kv) {
            if q[0] != k[0] || q[2] != k[2] {
                return Err(Error::arg(
                    "--kv-npy",
                    format!(
                        "keys/values of batch {} and width {} do not fit queries of batch {} and width {}; \
                         batch and D must agree",
                        k[0], k[2], q[0], q[2]
                    ),
                ));
            }
        }
        if let (Some(w), Some((_, (q, _)))) = (&weights, &queries) {
            if w.d_model != q[2] {
                return Err(Error::arg(
                    "--input-npy",
                    format!(
                        "the queries are {} wide but the weights in --params are for D = {}; they must agree",
                        q[2], w.d_model
                    ),
                ));
            }
        }
        let keep_keys = self
            .key_padding_mask
            .as_deref()
            .map(load_mask)
            .transpose()?;
        Ok(AttentionData {
            weights,
            unbatched: queries.as_ref().is_some_and(|(_, (_, u))| *u),
            queries: queries.map(|(v, (s, _))| (v, s)),
            kv: kv.map(|(v, (s, _))| (v, s)),
            keep_keys,
        })
    }
}

type Sequence = (Vec<f32>, ([usize; 3], bool));

/// [T, D] (batch 1, remembered as unbatched) or [B, T, D].
fn sequence(path: &Path, flag: &str, t: &str) -> Result<Sequence> {
    let a = npy::read_npy(path)?;
    let (shape, unbatched) = match a.shape[..] {
        [l, d] => ([1, l, d], true),
        [b, l, d] => ([b, l, d], false),
        _ => {
            return Err(Error::arg(
                flag,
                format!(
                    "{} has shape {:?}; expected [{t}, D] or [B, {t}, D] (batch_first=True)",
                    path.display(),
                    a.shape
                ),
            ))
        }
    };
    crate::tensor::numel(flag, &shape)?;
    crate::models::conv_stack::check_size(flag, "sequence", &shape)?;
    Ok((a.data, (shape, unbatched)))
}

fn load_mask(path: &Path) -> Result<(Vec<f32>, [usize; 2])> {
    let a = npy::read_npy(path)?;
    let shape = match a.shape[..] {
        [s] => [1, s],
        [b, s] => [b, s],
        _ => {
            return Err(Error::arg(
                "--key-padding-mask-npy",
                format!(
                    "{} has shape {:?}; expected [S] or [B, S] (True hides a key, as PyTorch's key_padding_mask)",
                    path.display(),
                    a.shape
                ),
            ))
        }
    };
    crate::tensor::numel("--key-padding-mask-npy", &shape)?;
    let keep = a
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| match v {
            0.0 => Ok(1.0),
            1.0 | f32::NEG_INFINITY => Ok(0.0),
            _ => Err(Error::arg(
                "--key-padding-mask-npy",
                format!(
                    "{} holds {v} at flat index {i}; a key padding mask holds True/False, 1/0 or -inf/0 \
                     (additive float biases are not supported)",
                    path.display()
                ),
            )),
        })
        .collect::<Result<Vec<f32>>>()?;
    Ok((keep, shape))
}

fn load_params(path: &Path) -> Result<MhaWeights> {
    let src = path.display().to_string();
    let map = npy::read_npz(path)?;
    let sd = StateDict::new(&map, &src);
    let find = |name: &str| sd.get(name);
    let bad = |m: String| Error::arg("--params", format!("{src}: {m}"));
    let (wq, wk, wv, d) = if let Some(w) = find("in_proj_weight")? {
        let [three_d, d] = w.shape[..] else {
            return Err(bad(format!(
                "in_proj_weight has shape {:?}; expected [3D, D]",
                w.shape
            )));
        };
        if three_d != 3 * d || d == 0 {
            return Err(bad(format!(
                "in_proj_weight has shape {:?}; expected [3D, D] (kdim and vdim equal to embed_dim)",
                w.shape
            )));
        }
        let part = |i: usize| w.data[i * d * d..(i + 1) * d * d].to_vec();
        (part(0), part(1), part(2), d)
    } else {
        let get = |n: &str| {
            find(n)?.ok_or_else(|| {
                bad(format!(
                    "no 'in_proj_weight' nor '{n}'; expected nn.MultiheadAttention's state_dict (keys present: {})",
                    sd.keys()
                ))
            })
        };
        let (q, k, v) = (
            get("q_proj_weight")?,
            get("k_proj_weight")?,
            get("v_proj_weight")?,
        );
        let d = q.shape.first().copied().unwrap_or(0);
        for (n, a) in [
            ("q_proj_weight", q),
            ("k_proj_weight", k),
            ("v_proj_weight", v),
        ] {
            if a.shape != [d, d] || d == 0 {
                return Err(bad(format!(
                    "{n} has shape {:?}; wgsl-nn needs square [D, D] projections (kdim = vdim = embed_dim)",
                    a.shape
                )));
            }
        }
        (q.data.clone(), k.data.clone(), v.data.clone(), d)
    };
    let wo = find("out_proj.weight")?.ok_or_else(|| bad("no 'out_proj.weight'".into()))?;
    if wo.shape != [d, d] {
        return Err(bad(format!(
            "out_proj.weight has shape {:?}; expected [{d}, {d}]",
            wo.shape
        )));
    }
    // bias=False modules have no bias keys: zeros are the same layer.
    let bias = |name: &str, n: usize| -> Result<Vec<f32>> {
        match find(name)? {
            None => Ok(vec![0.0; n]),
            Some(b) if b.shape == [n] => Ok(b.data.clone()),
            Some(b) => Err(bad(format!(
                "{name} has shape {:?}; expected [{n}]",
                b.shape
            ))),
        }
    };
    if find("in_proj_bias")?.is_some() != find("out_proj.bias")?.is_some() {
        return Err(bad(
            "has one of in_proj_bias and out_proj.bias but not the other; nn.MultiheadAttention has both or \
             (bias=False) neither"
                .into(),
        ));
    }
    let bin = bias("in_proj_bias", 3 * d)?;
    let bo = bias("out_proj.bias", d)?;
    if find("bias_k")?.is_some() || find("bias_v")?.is_some() {
        return Err(bad(
            "add_bias_kv=True is not supported (bias_k/bias_v present); build the module without it".into(),
        ));
    }
    sd.finish("an nn.MultiheadAttention")?;
    Ok(MhaWeights {
        d_model: d,
        wq: transpose(&wq, d, d),
        bq: bin[..d].to_vec(),
        wk: transpose(&wk, d, d),
        bk: bin[d..2 * d].to_vec(),
        wv: transpose(&wv, d, d),
        bv: bin[2 * d..].to_vec(),
        wo: transpose(&wo.data, d, d),
        bo,
    })
}

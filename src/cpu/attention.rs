//! Reference attention: the composed form in f64 (scores, softmax, times
//! V), which both GPU paths are checked against.

use super::matmul::{linear, matmul_into};
use super::softmax::softmax;
use super::RefTensor;
use crate::ops::matmul::{Activation, Matmul, View};

/// softmax(Q K^T / sqrt(d) + mask) V per head; Q [B, L, H*d], K, V [B, S, H*d].
pub fn sdpa(
    q: &RefTensor,
    k: &RefTensor,
    v: &RefTensor,
    heads: usize,
    causal: bool,
    key_mask: Option<&[f32]>,
) -> RefTensor {
    let (b, l, w, s) = (q.shape[0], q.shape[1], q.shape[2], k.shape[1]);
    let d = w / heads;
    let per_head = |rows: usize| View {
        ld: w,
        outer: rows * w,
        inner: d,
    };
    let mut scores = RefTensor::zeros(&[b, heads, l, s]);
    let scale = 1.0 / (d as f32).sqrt();
    let qk = Matmul {
        m: l,
        n: s,
        k: d,
        batches: [b, heads],
        trans_a: false,
        trans_b: true,
        bias: false,
        act: Activation::None,
        alpha: scale,
    };
    matmul_into(
        &qk,
        (q, per_head(l)),
        (k, per_head(s)),
        None,
        (
            &mut scores,
            View {
                ld: s,
                outer: heads * l * s,
                inner: l * s,
            },
        ),
    );
    let probs = softmax(&scores, causal, key_mask);
    let mut out = RefTensor::zeros(&[b, l, w]);
    let pv = Matmul {
        m: l,
        n: d,
        k: s,
        batches: [b, heads],
        trans_a: false,
        trans_b: false,
        bias: false,
        act: Activation::None,
        alpha: 1.0,
    };
    matmul_into(
        &pv,
        (
            &probs,
            View {
                ld: s,
                outer: heads * l * s,
                inner: l * s,
            },
        ),
        (v, per_head(s)),
        None,
        (&mut out, per_head(l)),
    );
    out
}

/// Host copies of one attention layer's projections ([D, D] input-major).
#[derive(Debug, Clone)]
pub struct MhaWeights {
    pub d_model: usize,
    pub wq: Vec<f32>,
    pub bq: Vec<f32>,
    pub wk: Vec<f32>,
    pub bk: Vec<f32>,
    pub wv: Vec<f32>,
    pub bv: Vec<f32>,
    pub wo: Vec<f32>,
    pub bo: Vec<f32>,
}

pub struct RopeTables<'a> {
    pub cos: &'a [f32],
    pub sin: &'a [f32],
}

#[allow(clippy::too_many_arguments)]
pub fn mha(
    w: &MhaWeights,
    xq: &RefTensor,
    xkv: &RefTensor,
    heads: usize,
    causal: bool,
    key_mask: Option<&[f32]>,
    rope: Option<&RopeTables>,
) -> RefTensor {
    let dm = w.d_model;
    let lin =
        |x: &RefTensor, wt: &[f32], b: &[f32]| linear(x, wt, dm, dm, Some(b), Activation::None);
    let (mut q, mut k) = (lin(xq, &w.wq, &w.bq), lin(xkv, &w.wk, &w.bk));
    let v = lin(xkv, &w.wv, &w.bv);
    if let Some(r) = rope {
        q = super::sequence::rope(&q, heads, r.cos, r.sin);
        k = super::sequence::rope(&k, heads, r.cos, r.sin);
    }
    let o = sdpa(&q, &k, &v, heads, causal, key_mask);
    lin(&o, &w.wo, &w.bo)
}

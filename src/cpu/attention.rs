//! Reference attention in f64, one query row at a time, so that long
//! sequences can be checked on a seeded sample of rows: scores, a stable
//! softmax with the same masks as the GPU, then the weighted sum of values.
//! Both GPU paths are checked against it; the fused path's online softmax
//! rescales its running sums whenever the running max grows, which
//! `Order::Online` adds to the error bound.

use super::matmul::linear;
use super::sum::Acc;
use super::RefTensor;
use crate::ops::matmul::Activation;
use rayon::prelude::*;

pub use crate::rung::Order;

/// Which keys each query may see: the host twin of `ops::softmax::Mask`.
/// A query whose keys are all hidden gets zeros.
pub struct Masks<'a> {
    /// Key j is hidden from query i when j > i.
    pub causal: bool,
    /// [B, S], 0 = hidden.
    pub keys: Option<&'a [f32]>,
}

/// Attention output of query row `i` of batch `b`, one head at a time;
/// Q [B, L, H*d], K and V [B, S, H*d]. Returns (values, error bounds).
#[allow(clippy::too_many_arguments)]
fn attend_row(
    q: &RefTensor,
    k: &RefTensor,
    v: &RefTensor,
    heads: usize,
    b: usize,
    i: usize,
    masks: &Masks,
    order: Order,
) -> (Vec<f64>, Vec<f64>) {
    let (l, w, s) = (q.shape[1], q.shape[2], k.shape[1]);
    let d = w / heads;
    let alpha = 1.0 / f64::from((d as f32).sqrt());
    let (mut out, mut err) = (vec![0.0; w], vec![0.0; w]);
    let qrow = (b * l + i) * w;
    let kept: Vec<usize> = (0..s)
        .filter(|&j| !(masks.causal && j > i) && masks.keys.is_none_or(|m| m[b * s + j] != 0.0))
        .collect();
    for h in 0..heads {
        let (mut sc, mut sc_err) = (
            Vec::with_capacity(kept.len()),
            Vec::with_capacity(kept.len()),
        );
        for &j in &kept {
            let krow = (b * s + j) * w + h * d;
            let mut acc = Acc::new();
            for t in 0..d {
                let qi = qrow + h * d + t;
                acc.add_product(q.val[qi], q.err[qi], k.val[krow + t], k.err[krow + t]);
            }
            let score = alpha * acc.sum;
            sc.push(score);
            // The dot product, the scale (a rounding per q element or one
            // on the sum, whichever the kernel does) and the store.
            sc_err.push(alpha * (acc.bound() + 0.5 * acc.abs) + score.abs());
        }
        if sc.is_empty() {
            continue; // every key hidden: zeros
        }
        if sc.iter().any(|x| x.is_nan()) {
            out[h * d..(h + 1) * d].fill(f64::NAN);
            continue;
        }
        let m = sc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut l = Acc::new();
        for x in &sc {
            l.add((x - m).exp());
        }
        let total = l.sum;
        let p: Vec<f64> = sc.iter().map(|x| (x - m).exp() / total).collect();
        // Relative errors of each weight exp(s_j - m): its score's error and
        // exp's own (Vulkan allows 3 + 2|x| ulp).
        let own: Vec<f64> = (0..sc.len())
            .map(|j| sc_err[j] + 3.0 + 2.0 * (sc[j] - m).abs())
            .collect();
        let mean_own: f64 = p.iter().zip(&own).map(|(p, o)| p * o).sum();
        // The normaliser: its inputs' errors and its own rounding walk.
        let norm = mean_own + l.rounding() / total + 4.0;
        // The online form multiplies what it summed so far by a rounded
        // exp(m_old - m_new) each time the running max grows (never when
        // it stays: exp(0) is 1), per key or per tile; a tile's max grows
        // only where some key's does, so the per-key records bound both,
        // each (3 + 2 dm) ulp of exp and a rounding of the product.
        let extra = match order {
            Order::Stored => 0.0,
            Order::Online => {
                let (mut run, mut charge) = (sc[0], 0.0);
                for &x in &sc[1..] {
                    if x > run {
                        charge += 4.0 + 2.0 * (x - run);
                        run = x;
                    }
                }
                charge
            }
        };
        for t in 0..d {
            let mut acc = Acc::new();
            for (jj, &j) in kept.iter().enumerate() {
                let vi = (b * s + j) * w + h * d + t;
                let vv = v.val[vi];
                // v's error through p; p's own (relative) error through v.
                acc.add_product(p[jj], p[jj] * own[jj], vv, v.err[vi]);
            }
            // The normaliser's error is common to every weight: linear.
            acc.carried += acc.sum.abs() * norm;
            out[h * d + t] = acc.sum;
            err[h * d + t] = acc.bound() + extra * acc.abs + 2.0 * acc.sum.abs();
        }
    }
    (out, err)
}

/// softmax(Q K^T / sqrt(d) + mask) V for the given query rows (pairs of
/// batch and position), or every row; the result is [rows, H*d].
pub fn sdpa_rows(
    q: &RefTensor,
    k: &RefTensor,
    v: &RefTensor,
    heads: usize,
    masks: &Masks,
    order: Order,
    rows: &[(usize, usize)],
) -> RefTensor {
    let w = q.shape[2];
    let mut y = RefTensor::zeros(&[rows.len(), w]);
    // Query rows are independent: spread over the cores (RAYON_NUM_THREADS).
    y.val
        .par_chunks_mut(w.max(1))
        .zip(y.err.par_chunks_mut(w.max(1)))
        .zip(rows.par_iter())
        .for_each(|((yv, ye), &(b, i))| {
            let (val, err) = attend_row(q, k, v, heads, b, i, masks, order);
            yv.copy_from_slice(&val);
            ye.copy_from_slice(&err);
        });
    y
}

/// Every query row, shaped [B, L, H*d].
pub fn sdpa(
    q: &RefTensor,
    k: &RefTensor,
    v: &RefTensor,
    heads: usize,
    masks: &Masks,
    order: Order,
) -> RefTensor {
    let (b, l, w) = (q.shape[0], q.shape[1], q.shape[2]);
    let rows: Vec<_> = (0..b).flat_map(|bb| (0..l).map(move |i| (bb, i))).collect();
    let mut y = sdpa_rows(q, k, v, heads, masks, order, &rows);
    y.shape = vec![b, l, w];
    y
}

/// Host copies of one attention layer's projections ([D, D] input-major).
#[derive(Debug, Clone)]
pub struct MhaWeights {
    /// D, the model width; the heads split it evenly.
    pub d_model: usize,
    /// Query projection `[D, D]`, input-major (q = x W_q + b_q; PyTorch's
    /// weight transposed).
    pub wq: Vec<f32>,
    /// Query bias `[D]`.
    pub bq: Vec<f32>,
    /// Key projection `[D, D]`, input-major.
    pub wk: Vec<f32>,
    /// Key bias `[D]`.
    pub bk: Vec<f32>,
    /// Value projection `[D, D]`, input-major.
    pub wv: Vec<f32>,
    /// Value bias `[D]`.
    pub bv: Vec<f32>,
    /// Output projection `[D, D]`, input-major, applied to the concatenated
    /// heads.
    pub wo: Vec<f32>,
    /// Output bias `[D]`.
    pub bo: Vec<f32>,
}

/// RoPE's host tables, as `ops::positional::rope_tables` makes them:
/// row-major [positions, d/2] with d the head size; entry (t, q) is the
/// cos (sin) of the angle by which the pair (q, q + d/2) turns at
/// position t. They need a row for every position used.
pub struct RopeTables<'a> {
    /// The cosines, [positions, d/2].
    pub cos: &'a [f32],
    /// The sines, [positions, d/2].
    pub sin: &'a [f32],
}

/// Rows `rows` (batch, position) of x [B, T, D] as a [1, n, D] tensor
/// whose positions are remembered by the caller.
fn gather_rows(x: &RefTensor, rows: &[(usize, usize)]) -> RefTensor {
    let (t, w) = (x.shape[1], x.shape[2]);
    let mut y = RefTensor::zeros(&[1, rows.len(), w]);
    for (r, &(b, i)) in rows.iter().enumerate() {
        let src = (b * t + i) * w;
        y.val[r * w..(r + 1) * w].copy_from_slice(&x.val[src..src + w]);
        y.err[r * w..(r + 1) * w].copy_from_slice(&x.err[src..src + w]);
    }
    y
}

/// Multi-head attention for the query rows `rows` of `xq` (all keys and
/// values of `xkv`); [rows, D]. RoPE turns each row by its own position.
#[allow(clippy::too_many_arguments)]
pub fn mha_rows(
    w: &MhaWeights,
    xq: &RefTensor,
    xkv: &RefTensor,
    heads: usize,
    masks: &Masks,
    rope: Option<&RopeTables>,
    order: Order,
    rows: &[(usize, usize)],
) -> RefTensor {
    let dm = w.d_model;
    let lin =
        |x: &RefTensor, wt: &[f32], b: &[f32]| linear(x, wt, dm, dm, Some(b), Activation::None);
    let mut k = lin(xkv, &w.wk, &w.bk);
    let v = lin(xkv, &w.wv, &w.bv);
    // Projections are row-wise, so projecting only the sampled rows is exact.
    let mut q = lin(&gather_rows(xq, rows), &w.wq, &w.bq);
    if let Some(r) = rope {
        k = super::sequence::rope(&k, heads, r.cos, r.sin);
        let positions: Vec<usize> = rows.iter().map(|&(_, i)| i).collect();
        q = super::sequence::rope_at(&q, heads, r.cos, r.sin, &positions);
    }
    // Lay the sampled queries back out as [B, L, D] rows the row kernel can
    // address: a sparse copy holding just the sampled rows.
    let (bsz, l) = (xq.shape[0], xq.shape[1]);
    let mut qfull = RefTensor::zeros(&[bsz, l, dm]);
    for (r, &(b, i)) in rows.iter().enumerate() {
        let dst = (b * l + i) * dm;
        qfull.val[dst..dst + dm].copy_from_slice(&q.val[r * dm..(r + 1) * dm]);
        qfull.err[dst..dst + dm].copy_from_slice(&q.err[r * dm..(r + 1) * dm]);
    }
    let o = sdpa_rows(&qfull, &k, &v, heads, masks, order, rows);
    linear(&o, &w.wo, dm, dm, Some(&w.bo), Activation::None)
}

/// Every row: [B, L, D].
pub fn mha(
    w: &MhaWeights,
    xq: &RefTensor,
    xkv: &RefTensor,
    heads: usize,
    masks: &Masks,
    rope: Option<&RopeTables>,
    order: Order,
) -> RefTensor {
    let (b, l) = (xq.shape[0], xq.shape[1]);
    let rows: Vec<_> = (0..b).flat_map(|bb| (0..l).map(move |i| (bb, i))).collect();
    let mut y = mha_rows(w, xq, xkv, heads, masks, rope, order, &rows);
    y.shape = vec![b, l, w.d_model];
    y
}

/// Attention probabilities softmax(Q K^T / sqrt(d)) per head, [B, H, L, S],
/// from projected Q [B, L, H*d] and K [B, S, H*d] (the composed form).
pub fn probabilities(q: &RefTensor, k: &RefTensor, heads: usize, masks: &Masks) -> RefTensor {
    use crate::ops::matmul::{Matmul, View};
    let (b, l, w, s) = (q.shape[0], q.shape[1], q.shape[2], k.shape[1]);
    let d = w / heads;
    let per_head = |rows: usize| View {
        ld: w,
        outer: rows * w,
        inner: d,
    };
    let mut scores = RefTensor::zeros(&[b, heads, l, s]);
    let qk = Matmul {
        m: l,
        n: s,
        k: d,
        batches: [b, heads],
        trans_a: false,
        trans_b: true,
        bias: false,
        act: Activation::None,
        alpha: 1.0 / (d as f32).sqrt(),
    };
    super::matmul::matmul_into(
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
    super::softmax::softmax(&scores, masks.causal, masks.keys)
}

//! Scaled dot-product attention on the CPU: per (batch, head, block of
//! query rows), scores by GEMM on strided views of Q and K, a stable
//! softmax per row, then P V by GEMM straight into the output.

use super::{exp, sgemm, threads, with_avx2, Mat, SendPtr};
use crate::ops::attention::AttentionShape;
use gemm::Parallelism;
use rayon::prelude::*;

/// Most query rows per block (the stack array of row sums has this size).
const MAX_BLOCK: usize = 256;
/// Fewest query rows per block when splitting for parallelism.
const MIN_BLOCK: usize = 16;
/// Score-buffer budget per block, in floats (1 MiB): long sequences get
/// fewer rows per block, but never fewer than 64 unless parallelism asks.
const SCORE_FLOATS: usize = 1 << 18;

/// softmax(Q K^T / sqrt(d) + masks) V per head; Q [B, L, H*d], K and V
/// [B, S, H*d], the result [B, L, H*d]. Masks as on the GPU: `causal`
/// hides keys j > i from query i; `key_mask` [B, S] hides keys whose
/// entry is 0; a query that sees no key gets zeros. The scale is
/// 1 / sqrt(d) rounded to f32, as the GPU computes it.
///
/// Memory beyond the output is one [rows, S] score buffer per thread
/// (rows = 64 for S = 4096 and beyond), so L = S = 8192 runs in a few MiB.
/// Panics when a slice disagrees with the shape.
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    causal: bool,
    key_mask: Option<&[f32]>,
) -> Vec<f32> {
    let AttentionShape {
        batch: nb,
        queries: l,
        keys: s,
        heads,
        head_dim: d,
    } = shape;
    let w = heads * d;
    let q_len = super::numel("baseline attention Q", &[nb, l, heads, d]);
    let kv_len = super::numel("baseline attention K", &[nb, s, heads, d]);
    assert_eq!(
        q.len(),
        q_len,
        "baseline attention: Q has {} values for {shape:?}",
        q.len()
    );
    assert_eq!(
        k.len(),
        kv_len,
        "baseline attention: K has {} values for {shape:?}",
        k.len()
    );
    assert_eq!(
        v.len(),
        kv_len,
        "baseline attention: V has {} values for {shape:?}",
        v.len()
    );
    if let Some(m) = key_mask {
        assert_eq!(
            m.len(),
            nb * s,
            "baseline attention: key mask has {} values for [{nb}, {s}]",
            m.len()
        );
    }
    let mut out = vec![0.0f32; q_len];
    if out.is_empty() || s == 0 {
        return out; // no keys: every query sees none
    }
    let scale = 1.0 / (d as f32).sqrt();

    let threads = threads();
    let mut block = (SCORE_FLOATS / s).clamp(64, MAX_BLOCK).min(l);
    let tasks_for = |block: usize| nb * heads * l.div_ceil(block);
    while tasks_for(block) < 2 * threads && block > MIN_BLOCK {
        block = (block / 2).max(MIN_BLOCK);
    }
    let blocks = l.div_ceil(block);
    let tasks = tasks_for(block);
    // Few tasks (a short query on one head): let each GEMM split instead.
    let par = if tasks < threads && threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    let (qp, kp, vp, op) = (
        SendPtr(q.as_ptr()),
        SendPtr(k.as_ptr()),
        SendPtr(v.as_ptr()),
        SendPtr(out.as_mut_ptr()),
    );

    let task = |scores: &mut Vec<f32>, t: usize| {
        let (bh, blk) = (t / blocks, t % blocks);
        let (b, h) = (bh / heads, bh % heads);
        let (i0, i1) = (blk * block, ((blk + 1) * block).min(l));
        let rows = i1 - i0;
        // Causal: no query of this block sees a key at or past i1.
        let se = if causal { s.min(i1) } else { s };
        let buf = &mut scores[..rows * se];
        let q_at = (b * l + i0) * w + h * d;
        let kv_at = b * s * w + h * d;
        // SAFETY: Q rows i0..i1 of head h, K rows 0..se of head h, all
        // inside their checked slices; buf is [rows, se].
        unsafe {
            sgemm(
                rows,
                se,
                d,
                buf.as_mut_ptr(),
                se,
                Mat {
                    ptr: qp.get().add(q_at),
                    rs: w,
                    cs: 1,
                },
                Mat {
                    ptr: kp.get().add(kv_at),
                    rs: 1,
                    cs: w,
                },
                scale,
                par,
            );
        }
        let mask = key_mask.map(|m| &m[b * s..b * s + se]);
        let mut sums = [0.0f32; MAX_BLOCK];
        for (r, row) in buf.chunks_exact_mut(se).enumerate() {
            let seen = if causal { (i0 + r + 1).min(se) } else { se };
            sums[r] = softmax_row(row, seen, mask);
        }
        let o_at = (b * l + i0) * w + h * d;
        // SAFETY: V rows 0..se of head h; the destination, rows i0..i1 and
        // columns h*d..(h+1)*d of the output, belongs to this task alone.
        unsafe {
            sgemm(
                rows,
                d,
                se,
                op.get().add(o_at),
                w,
                Mat {
                    ptr: buf.as_ptr(),
                    rs: se,
                    cs: 1,
                },
                Mat {
                    ptr: vp.get().add(kv_at),
                    rs: w,
                    cs: 1,
                },
                1.0,
                par,
            );
        }
        for (r, &sum) in sums[..rows].iter().enumerate() {
            // SAFETY: as above, this task's own d outputs of row i0 + r.
            let o = unsafe { std::slice::from_raw_parts_mut(op.get().add(o_at + r * w), d) };
            if sum == 0.0 {
                o.fill(0.0); // every key hidden
            } else {
                o.iter_mut().for_each(|x| *x /= sum);
            }
        }
    };

    (0..tasks)
        .into_par_iter()
        .for_each_init(|| vec![0.0f32; block * s], task);
    out
}

with_avx2!(
    /// Turns one row of scores into unnormalised weights (see the generic).
    fn softmax_row(row: &mut [f32], seen: usize, mask: Option<&[f32]>) -> f32 = softmax_row_generic
);

/// Turns one row of scores into unnormalised weights exp(x - max) for the
/// first `seen` keys (later ones, and those the mask hides, get 0) and
/// returns their sum: 0 when every key is hidden, NaN when a kept score is.
#[inline(always)]
fn softmax_row_generic(row: &mut [f32], seen: usize, mask: Option<&[f32]>) -> f32 {
    let (live, dead) = row.split_at_mut(seen);
    dead.fill(0.0);
    if let Some(m) = mask {
        for (x, &m) in live.iter_mut().zip(&m[..seen]) {
            *x = if m != 0.0 { *x } else { f32::NEG_INFINITY };
        }
    }
    let mx = max(live);
    if mx == f32::NEG_INFINITY && live.iter().all(|&x| x == f32::NEG_INFINITY) {
        live.fill(0.0);
        return 0.0;
    }
    exp_sum(live, mx)
}

/// Maximum in 16 lanes (NaN is skipped here; exp then carries it).
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for j in 0..16 {
            acc[j] = if c[j] > acc[j] { c[j] } else { acc[j] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &x in acc.iter().chain(chunks.remainder()) {
        m = if x > m { x } else { m };
    }
    m
}

/// x = exp(x - mx) in place, returning the sum (16 lanes).
#[inline(always)]
fn exp_sum(xs: &mut [f32], mx: f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = xs.chunks_exact_mut(16);
    for c in &mut chunks {
        for j in 0..16 {
            let e = exp(c[j] - mx);
            c[j] = e;
            acc[j] += e;
        }
    }
    let mut tail = 0.0;
    for x in chunks.into_remainder() {
        *x = exp(*x - mx);
        tail += *x;
    }
    acc.iter().sum::<f32>() + tail
}

//! Reference softmax over the last axis of [B, H, L, S] with the same masks
//! as `ops::softmax`; a fully masked row is zeros.
//!
//! Error carried: an error e_j in logit j moves p_j by p_j (e_j + sum_i p_i
//! e_i); the kernel's own roundings add p_j (4 + the sum's rounding walk
//! relative to the sum, `sum::Acc`), and exp's (Vulkan allows 3 + 2|x|
//! ulp) p_j (3 + 2|x_j - max|) plus the same averaged.

use super::sum::Acc;
use super::RefTensor;

/// Softmax over the last axis of scores `x` [B, H, L, S] (queries L, keys
/// S). `causal` hides key j from query i when j > i; `key_mask` [B, S]
/// hides a key of a batch wherever it is 0. Hidden entries, and every entry
/// of a fully hidden row, are 0; a NaN among a row's visible logits makes
/// the whole row NaN.
pub fn softmax(x: &RefTensor, causal: bool, key_mask: Option<&[f32]>) -> RefTensor {
    let (h, l, s) = (x.shape[1], x.shape[2], x.shape[3]);
    let mut y = RefTensor::zeros(&x.shape);
    for row in 0..x.val.len() / s {
        let (i, batch) = (row % l, row / (l * h));
        let base = row * s;
        let xs = &x.val[base..base + s];
        // A -inf logit (an additive mask) is an exact zero, hidden like a
        // masked key rather than carrying an infinite error.
        let kept = |j: &usize| {
            !(causal && *j > i)
                && key_mask.is_none_or(|m| m[batch * s + *j] != 0.0)
                && xs[*j] != f64::NEG_INFINITY
        };
        if (0..s).filter(kept).any(|j| xs[j].is_nan()) {
            y.val[base..base + s].fill(f64::NAN);
            continue;
        }
        let m = (0..s)
            .filter(kept)
            .map(|j| xs[j])
            .fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            continue; // every entry masked: zeros
        }
        let mut sum = Acc::new();
        for j in (0..s).filter(kept) {
            sum.add((xs[j] - m).exp());
        }
        let total = sum.sum;
        // The sum's rounding walk, relative to the sum.
        let sum_rel = sum.rounding() / total;
        let p = |j: usize| (xs[j] - m).exp() / total;
        let own = |j: usize| x.err[base + j] + 3.0 + 2.0 * (xs[j] - m).abs();
        let mean_err: f64 = (0..s).filter(kept).map(|j| p(j) * own(j)).sum();
        for j in (0..s).filter(kept) {
            y.val[base + j] = p(j);
            y.err[base + j] = p(j) * (own(j) + mean_err + sum_rel + 4.0);
        }
    }
    y
}

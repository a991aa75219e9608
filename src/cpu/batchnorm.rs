//! Reference BatchNorm2d (eval mode): y = (x - mean) / sqrt(var + eps) *
//! weight + bias per channel, in f64 from the f32 parameters.
//!
//! Error carried (units of eps_f32), for the kernel's y = x * s32 + t32 with
//! s32 and t32 the folded scale and shift each rounded once to f32: the
//! rounding of s32 (|x s|), of t32 (|t|), of the product (|x s|) and of the
//! sum (|y|), plus the input's own error through |s|.

use super::RefTensor;
use crate::ops::batchnorm::BatchNorm;

/// Eval-mode batch norm of `x` [N, C, H, W] (any trailing dimensions; the
/// channel is axis 1) with `bn`'s per-channel parameters, which must hold
/// C values each. The result has `x`'s shape.
pub fn batchnorm(bn: &BatchNorm, x: &RefTensor) -> RefTensor {
    let channels = x.shape.get(1).copied().unwrap_or(1).max(1);
    let plane: usize = x.shape.iter().skip(2).product::<usize>().max(1);
    let f = bn.fold();
    let mut y = RefTensor::zeros(&x.shape);
    for i in 0..x.val.len() {
        let c = (i / plane) % channels;
        let (w, b, m, v) = (
            f64::from(bn.weight[c]),
            f64::from(bn.bias[c]),
            f64::from(bn.mean[c]),
            f64::from(bn.var[c]),
        );
        let val = (x.val[i] - m) / (v + bn.eps).sqrt() * w + b;
        let (s, t) = f[c];
        y.val[i] = val;
        y.err[i] = 2.0 * (x.val[i] * s).abs() + t.abs() + val.abs() + s.abs() * x.err[i];
    }
    y
}

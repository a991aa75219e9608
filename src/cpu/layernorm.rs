//! Reference layer norm over the last axis (biased variance, as PyTorch).
//!
//! Error carried (first order, units of eps), following the kernel's
//! two-pass order: the mean's sum (its rounding walk, `sum::Acc`, and the
//! inputs' errors) and division; each deviation x - mean its input's and
//! the mean's errors and a rounding; the sum of squared deviations the
//! same way, relative; var + eps, sqrt and the reciprocal a few units
//! relative (halved through the square root); then z = dev / sigma and
//! y = z * gamma + beta a rounding each.

use super::sum::Acc;
use super::RefTensor;

/// Layer norm of every row of `x` over its last axis D (e.g.
/// [batch, tokens, D]): (x - mean) / sqrt(var + eps) * gamma + beta, with
/// `gamma` and `beta` of D values each. The result has `x`'s shape.
pub fn layernorm(x: &RefTensor, gamma: &[f32], beta: &[f32], eps: f32) -> RefTensor {
    let d = *x.shape.last().unwrap_or(&1);
    let mut y = RefTensor::zeros(&x.shape);
    for row in 0..x.val.len() / d.max(1) {
        let (xs, es) = (
            &x.val[row * d..(row + 1) * d],
            &x.err[row * d..(row + 1) * d],
        );
        let mut sum = Acc::new();
        for (&v, &e) in xs.iter().zip(es) {
            sum.add_carrying(v, 1.0, e);
        }
        let mean = sum.sum / d as f64;
        let mean_err = sum.bound() / d as f64 + mean.abs();
        let dev_err = |j: usize| es[j] + mean_err + (xs[j] - mean).abs();
        let mut squares = Acc::new();
        for (j, &v) in xs.iter().enumerate() {
            let dev = v - mean;
            squares.add_carrying(dev * dev, 2.0 * dev, dev_err(j));
        }
        let var = squares.sum / d as f64;
        let sigma = (var + f64::from(eps)).sqrt();
        // Relative error of var + eps: the squares' bound and the division
        // on var, the addition on the total.
        let shifted = var + f64::from(eps);
        let rel_shifted = (squares.bound() / d as f64 + var) / shifted + 1.0;
        // sqrt halves it; sqrt and the reciprocal add a few units each.
        let rel_inv = rel_shifted / 2.0 + 4.0;
        for j in 0..d {
            let z = (xs[j] - mean) / sigma;
            let (g, b) = (f64::from(gamma[j]), f64::from(beta[j]));
            let v = z * g + b;
            y.val[row * d + j] = v;
            let z_err = dev_err(j) / sigma + z.abs() * (rel_inv + 1.0);
            y.err[row * d + j] = g.abs() * z_err + (g * z).abs() + v.abs();
        }
    }
    y
}

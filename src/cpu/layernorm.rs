//! Reference layer norm over the last axis (biased variance, as PyTorch).
//!
//! Error carried (first order, units of eps): the deviation x - mean is off
//! by at most 2 * the row's largest input error plus the mean's rounding
//! (D * (|mean| + max|x|)); that passes through 1/sigma to z, and through
//! sigma's own relative error to |z| once more.

use super::RefTensor;

pub fn layernorm(x: &RefTensor, gamma: &[f32], beta: &[f32], eps: f32) -> RefTensor {
    let d = *x.shape.last().unwrap_or(&1);
    let mut y = RefTensor::zeros(&x.shape);
    for row in 0..x.val.len() / d.max(1) {
        let xs = &x.val[row * d..(row + 1) * d];
        let mean = xs.iter().sum::<f64>() / d as f64;
        let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / d as f64;
        let sigma = (var + f64::from(eps)).sqrt();
        let max_err = x.err[row * d..(row + 1) * d]
            .iter()
            .copied()
            .fold(0.0, f64::max);
        let max_abs = xs.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let dev_err = 2.0 * max_err + (d as f64 + 2.0) * (mean.abs() + max_abs);
        for j in 0..d {
            let z = (xs[j] - mean) / sigma;
            let (g, b) = (f64::from(gamma[j]), f64::from(beta[j]));
            y.val[row * d + j] = z * g + b;
            let z_err = (1.0 + z.abs()) * dev_err / sigma + z.abs() * (d as f64 + 6.0);
            y.err[row * d + j] = g.abs() * z_err + 3.0 * ((g * z).abs() + b.abs());
        }
    }
    y
}

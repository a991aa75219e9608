//! Reference pointwise activations with their float32 error bounds (units
//! of eps_f32), shared by the recurrent layers and the conv stack's
//! activation layers. Each follows its kernel's formula (shaders/prelude.wgsl).
//!
//! - tanh carries the input error through its largest slope over the error
//!   interval and adds 8 units absolute (|tanh| <= 1, and exp-based forms
//!   lose absolute, not relative, accuracy near 0);
//! - sigmoid adds (8 + 2|x| (1 - s)) s (exp's error grows with |x| on real
//!   GPUs: Vulkan allows 3 + 2|x| ulp);
//! - exact GELU, x erfc(-x / sqrt 2) / 2, adds 16 |y| (erfcc's own 1.2e-7
//!   and the polynomial's roundings) and 3 x^2 times the erfc tail
//!   |x| erfc(|x| / sqrt 2) / 2 (all of |y| below zero, x - y above): exp's
//!   argument -z^2 = -x^2/2 carries the roundings of z and of the f32
//!   constant 1/sqrt 2 as absolute errors of ~x^2/2 units each, and exp's
//!   own error grows with its argument on real GPUs (Vulkan: 3 + 2|arg|
//!   ulp). On llvmpipe the worst case (x = -6.6) uses about a third;
//! - products carry |a| err_b + |b| err_a and add a unit of the result.

use crate::ops::elementwise::Pointwise;

const EPS: f64 = f32::EPSILON as f64;
/// The kernels clamp tanh's argument to this (tanh(15) is 1 in f32).
const TANH_CLAMP: f64 = 15.0;
/// GELU's largest slope (both forms): input errors grow by at most this.
pub const GELU_MAX_SLOPE: f64 = 1.13;

/// A value with its error bound (units of eps_f32).
#[derive(Debug, Clone, Copy)]
pub struct Val {
    /// The f64 value.
    pub v: f64,
    /// Its error bound, absolute, in units of eps_f32: a float32
    /// computation may land anywhere within `v` ± eps_f32 * `e`.
    pub e: f64,
}

/// The logistic function 1 / (1 + exp(-x)) in f64, without a bound (see
/// [`sigmoid_val`] for one).
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The distance from `x` to 0 that an error of `e` units may not cross:
/// the point of the error interval where tanh and sigmoid are steepest.
fn nearest_to_zero(x: Val) -> f64 {
    (x.v.abs() - EPS * x.e).max(0.0)
}

/// tanh as the kernel computes it (argument clamped to ±15), with its
/// bound: the input's error through tanh's steepest slope over the error
/// interval, plus 8 units absolute. NaN stays NaN.
pub fn tanh(x: Val) -> Val {
    let y = x.v.clamp(-TANH_CLAMP, TANH_CLAMP).tanh();
    let slope = 1.0 - nearest_to_zero(x).tanh().powi(2);
    Val {
        v: if x.v.is_nan() { f64::NAN } else { y },
        e: slope * x.e + 8.0,
    }
}

/// The logistic sigmoid with its bound: the input's error through the
/// steepest slope over the error interval, plus (8 + 2|x| (1 - s)) s for
/// the kernel's exp.
pub fn sigmoid_val(x: Val) -> Val {
    let s = sigmoid(x.v);
    let m = sigmoid(nearest_to_zero(x));
    let slope = m * (1.0 - m);
    Val {
        v: s,
        // |x| (1 - s) -> 0 as x -> +-inf; written so that inf * 0 is not NaN.
        e: slope * x.e
            + (8.0
                + if x.v.is_finite() {
                    2.0 * x.v.abs() * sigmoid(-x.v)
                } else {
                    0.0
                })
                * s,
    }
}

/// x sigmoid(x) (SiLU, swish).
pub fn silu(x: Val) -> Val {
    let s = sigmoid_val(x);
    let v = x.v * s.v;
    Val {
        v,
        e: x.v.abs() * s.e + s.v.abs() * x.e + v.abs(),
    }
}

/// Exact GELU, x Phi(x), computed as the kernel does: x erfc(-x/sqrt 2) / 2.
pub fn gelu_erf(x: Val) -> Val {
    let v = 0.5 * x.v * erfc(-x.v * std::f64::consts::FRAC_1_SQRT_2);
    // exp's argument errors touch only the erfc(|x|/sqrt 2) tail: all of y
    // below zero, the small correction x - y above it.
    let tail = 0.5 * x.v.abs() * erfc(x.v.abs() * std::f64::consts::FRAC_1_SQRT_2);
    let tail = if tail.is_nan() { 0.0 } else { tail };
    let e = GELU_MAX_SLOPE * x.e + 16.0 * v.abs() + 3.0 * x.v * x.v * tail;
    Val { v, e }
}

/// GELU, tanh form, as [`gelu`], with the matmul epilogue's bound.
pub fn gelu_tanh(x: Val) -> Val {
    Val {
        v: gelu(x.v),
        e: GELU_MAX_SLOPE * x.e + 8.0 * x.v.abs(),
    }
}

/// x for x >= 0, slope x below (NaN stays NaN); the slope is rounded to
/// f32 once on its way to the kernel.
pub fn leaky_relu(x: Val, slope: f64) -> Val {
    if x.v >= 0.0 || x.v.is_nan() {
        return x;
    }
    let v = slope * x.v;
    Val {
        v,
        e: slope.abs() * x.e + 2.0 * v.abs(),
    }
}

/// erf to ~1e-15: the Maclaurin series below 2.5 (terms stay under 40,
/// so little cancellation), 1 - erfc beyond.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.abs() >= 2.5 {
        return x.signum() * (1.0 - erfc_cf(x.abs()));
    }
    // (erfc_cf converges for x >= 1 too, but slowly; erf needs it only here.)
    let (x2, mut term, mut sum) = (x * x, x, x);
    for n in 1..200 {
        term *= -x2 / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

/// erfc without cancellation in either tail.
pub fn erfc(x: f64) -> f64 {
    // Below 1, 1 - erf loses at most a factor ~6 of accuracy; beyond, the
    // continued fraction keeps the small tail's relative accuracy.
    if x.is_nan() {
        f64::NAN
    } else if x >= 1.0 {
        erfc_cf(x)
    } else if x <= -1.0 {
        2.0 - erfc_cf(-x)
    } else {
        1.0 - erf(x)
    }
}

/// erfc(x) for x >= 1 by its continued fraction (modified Lentz):
/// exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
fn erfc_cf(x: f64) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    let tiny = 1e-300;
    let (mut f, mut c, mut d) = (x, x, 0.0);
    for n in 1..20_000 {
        let a = n as f64 / 2.0;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

/// GELU, tanh form, as the kernel computes it.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + (0.7978845608028654 * (x + 0.044715 * x * x * x)).tanh())
}

impl Pointwise {
    /// The reference value and error bound (see `cpu::activation`).
    pub fn reference(self, x: Val) -> Val {
        match self {
            Pointwise::Sigmoid => sigmoid_val(x),
            Pointwise::Tanh => tanh(x),
            Pointwise::Silu => silu(x),
            Pointwise::Gelu { tanh: false } => gelu_erf(x),
            Pointwise::Gelu { tanh: true } => gelu_tanh(x),
            Pointwise::LeakyRelu { slope } => leaky_relu(x, f64::from(slope as f32)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_published_values() {
        // Abramowitz & Stegun table 7.1 and higher-precision values.
        for (x, want) in [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (2.5, 0.999593047982555),
            (3.0, 0.9999779095030014),
            (-1.5, -0.9661051464753108),
        ] {
            assert!(
                (erf(x) - want).abs() < 2e-15,
                "erf({x}) = {} vs {want}",
                erf(x)
            );
        }
        // Tails, relative: erfc(5) = 1.5374597944280349e-12, erfc(10) = 2.088487583762545e-45.
        for (x, want) in [
            (5.0, 1.537_459_794_428_035e-12),
            (10.0, 2.088487583762545e-45),
            (2.6, 2.360344165293492e-4),
        ] {
            assert!(
                ((erfc(x) - want) / want).abs() < 1e-13,
                "erfc({x}) = {} vs {want}",
                erfc(x)
            );
        }
        assert!((erfc(-3.0) - (2.0 - 2.209049699858544e-5)).abs() < 1e-15);
    }
}

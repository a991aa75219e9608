//! The CPU baseline's element-wise functions in float32, with the
//! kernels' semantics (NaN kept by ReLU and Clip, erf by the shaders'
//! erfcc, Pow with 2 as an exact square, Mod with the divisor's sign).

use super::op::{Binary, Op, Reduce, Unary};

/// erfc by Numerical Recipes' erfcc (1.2e-7 relative), as the kernels
/// compute it (shaders/prelude.wgsl), in float32.
#[inline(always)]
fn erfc_c(z: f32) -> f32 {
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    // The baseline's branch-free exp (0.7 eps), so erf over a slice
    // vectorises; erfcc's own 1.2e-7 dominates either way.
    let r = t * crate::cpu::baseline::exp(-a * a + poly);
    if z >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[inline(always)]
pub(super) fn unary(f: Unary, x: f32) -> f32 {
    let bit = |b: bool| f32::from(u8::from(b));
    match f {
        Unary::Copy => x,
        Unary::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Unary::Tanh => x.tanh(),
        Unary::Erf => {
            let r = 1.0 - erfc_c(x.abs());
            if x < 0.0 {
                -r
            } else {
                r
            }
        }
        Unary::Sqrt => x.sqrt(),
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Neg => -x,
        Unary::Abs => x.abs(),
        Unary::Reciprocal => 1.0 / x,
        Unary::Clip(lo, hi) => {
            if x.is_nan() {
                x
            } else {
                x.max(lo).min(hi)
            }
        }
        Unary::HardSigmoid(a, b) => {
            if x.is_nan() {
                x
            } else {
                (a * x + b).clamp(0.0, 1.0)
            }
        }
        Unary::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Unary::LeakyRelu(a) => {
            if x >= 0.0 {
                x
            } else {
                a * x
            }
        }
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        Unary::Not => bit(x == 0.0),
        Unary::Trunc => x.trunc(),
        Unary::NonZero => bit(x != 0.0),
        Unary::Gelu => 0.5 * x * erfc_c(-std::f32::consts::FRAC_1_SQRT_2 * x),
        Unary::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
    }
}

#[inline(always)]
pub(super) fn binary(f: Binary, a: f32, b: f32) -> f32 {
    let bit = |v: bool| f32::from(u8::from(v));
    match f {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Pow => {
            if b == 2.0 {
                a * a
            } else {
                a.powf(b)
            }
        }
        Binary::Max | Binary::Min if a.is_nan() || b.is_nan() => f32::NAN,
        Binary::Max => a.max(b),
        Binary::Min => a.min(b),
        Binary::Equal => bit(a == b),
        Binary::Less => bit(a < b),
        Binary::Greater => bit(a > b),
        Binary::And => bit(a != 0.0 && b != 0.0),
        Binary::Or => bit(a != 0.0 || b != 0.0),
        Binary::Mod { fmod } => {
            let m = a % b;
            if !fmod && m != 0.0 && (m < 0.0) != (b < 0.0) {
                m + b
            } else {
                m
            }
        }
    }
}

/// Whether an op's result on integer tensors differs from its float32
/// evaluation (integer division truncates; everything else is exact on
/// values below 2^24, which the loader checks).
pub(super) fn integer_sensitive(op: &Op) -> bool {
    matches!(
        op,
        Op::Binary(Binary::Div | Binary::Mod { .. } | Binary::Pow, ..)
            | Op::Reduce {
                f: Reduce::Mean,
                ..
            }
    )
}

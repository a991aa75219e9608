//! The element-wise functions' f64 values and float32 error bounds (units
//! of eps_f32), as shaders/strided.wgsl computes them: one unit per
//! correctly rounded operation, the WGSL accuracy of the built-ins
//! (division 2.5 ulp, exp 3 + 2|x| ulp, log 3 ulp or 2^-21 absolute near
//! 1, sqrt 2.5 ulp), and each input's error through the function's slope.

use super::op::{Binary, Unary};
use crate::cpu::activation::{self, Val};

const EPS: f64 = f32::EPSILON as f64;

/// The distance from `x` to `at` that an error of `e` units may not cross.
fn away(x: Val, at: f64) -> f64 {
    ((x.v - at).abs() - EPS * x.e).max(0.0)
}

/// One unary function, value and bound, as the kernel computes it.
pub fn unary(f: Unary, x: Val, integer: bool) -> Val {
    let exact = |v: f64| Val { v, e: x.e };
    match f {
        Unary::Copy | Unary::Neg | Unary::Abs | Unary::Floor | Unary::Ceil | Unary::Trunc => {
            exact(match f {
                Unary::Neg => -x.v,
                Unary::Abs => x.v.abs(),
                Unary::Floor => x.v.floor(),
                Unary::Ceil => x.v.ceil(),
                Unary::Trunc => x.v.trunc(),
                _ => x.v,
            })
        }
        Unary::Relu => exact(if x.v < 0.0 { 0.0 } else { x.v }),
        Unary::Clip(lo, hi) => exact(if x.v.is_nan() {
            x.v
        } else {
            x.v.max(f64::from(lo)).min(f64::from(hi))
        }),
        Unary::Not => Val {
            v: f64::from(u8::from(x.v == 0.0)),
            e: 0.0,
        },
        Unary::NonZero => Val {
            v: f64::from(u8::from(x.v != 0.0)),
            e: 0.0,
        },
        Unary::Sigmoid => activation::sigmoid_val(x),
        Unary::Tanh => activation::tanh(x),
        Unary::Gelu => activation::gelu_erf(x),
        Unary::LeakyRelu(a) => activation::leaky_relu(x, f64::from(a)),
        Unary::Erf => {
            // 1 - erfc_c(|x|): erfc_c's 1.2e-7 relative error and its exp's
            // (3 + 2 arg) ulp on the tail, a rounding of 1, and the slope.
            let a = x.v.abs();
            let tail = activation::erfc(a);
            let slope = 2.0 / std::f64::consts::PI.sqrt() * (-away(x, 0.0).powi(2)).exp();
            let v = activation::erf(x.v);
            Val {
                v,
                e: slope * x.e + 2.0 + tail * (4.0 + 2.0 * a * a + 2.0) + v.abs(),
            }
        }
        Unary::Sqrt => {
            let v = x.v.sqrt();
            let near = away(x, 0.0).max(f64::MIN_POSITIVE);
            // The slope 1/(2 sqrt x) over the error interval, or sqrt of the
            // interval where it reaches 0.
            let carried = (x.e / (2.0 * near.sqrt())).min((x.e / EPS).sqrt());
            Val {
                v,
                e: carried + 3.0 * v.abs(),
            }
        }
        Unary::Exp => {
            let v = x.v.exp();
            let hi = (x.v + EPS * x.e).exp();
            Val {
                v,
                e: hi * x.e + (3.0 + 2.0 * x.v.abs()) * v,
            }
        }
        Unary::Log => {
            let v = x.v.ln();
            Val {
                v,
                e: x.e / away(x, 0.0).max(f64::MIN_POSITIVE) + 3.0 * v.abs() + 4.0,
            }
        }
        Unary::Reciprocal => {
            let v = 1.0 / x.v;
            let near = away(x, 0.0).max(f64::MIN_POSITIVE);
            Val {
                v,
                e: x.e / (near * near) + 3.0 * v.abs(),
            }
        }
        Unary::HardSigmoid(a, b) => {
            let (a, b) = (f64::from(a), f64::from(b));
            let t = a * x.v + b;
            let v = t.clamp(0.0, 1.0);
            Val {
                v: if x.v.is_nan() { x.v } else { v },
                e: a.abs() * x.e + (a * x.v).abs() + t.abs(),
            }
        }
        Unary::HardSwish => {
            let t = x.v / 6.0 + 0.5;
            let h = t.clamp(0.0, 1.0);
            let v = x.v * h;
            // slope |h + x/6| <= 1.5 on the ramp, 1 or 0 outside. h's own
            // error: the division's 2.5 ulp of x/6, then the add's unit of
            // t, absolute, which cancels near x = -3 (t small, x/6 not);
            // both scaled by |x|, then the product's unit.
            Val {
                v,
                e: 1.5 * x.e + x.v.abs() * (2.5 * (x.v / 6.0).abs() + t.abs()) + v.abs(),
            }
        }
        Unary::Softplus => {
            let v = x.v.max(0.0) + (-x.v.abs()).exp().ln_1p();
            Val {
                v,
                e: x.e + 8.0 + 2.0 * v.abs(),
            }
        }
    }
    .integer(integer)
}

pub(crate) trait Integer {
    /// Integer tensors are exact on both sides: no error bound.
    fn integer(self, integer: bool) -> Self;
}

impl Integer for Val {
    /// Integer tensors are exact on both sides.
    fn integer(self, integer: bool) -> Val {
        if integer {
            Val { v: self.v, e: 0.0 }
        } else {
            self
        }
    }
}

/// One binary function, value and bound.
pub fn binary(f: Binary, a: Val, b: Val, integer: bool) -> Val {
    let r = |v: f64, e: f64| Val { v, e };
    let out = match f {
        Binary::Add => r(a.v + b.v, a.e + b.e + (a.v + b.v).abs()),
        Binary::Sub => r(a.v - b.v, a.e + b.e + (a.v - b.v).abs()),
        Binary::Mul => r(
            a.v * b.v,
            b.v.abs() * a.e + a.v.abs() * b.e + (a.v * b.v).abs(),
        ),
        Binary::Div => {
            let v = if integer {
                (a.v / b.v).trunc()
            } else {
                a.v / b.v
            };
            let near = away(b, 0.0).max(f64::MIN_POSITIVE);
            r(
                v,
                a.e / near + a.v.abs() * b.e / (near * near) + 3.0 * v.abs(),
            )
        }
        Binary::Pow => {
            let v = a.v.powf(b.v);
            if b.v == 2.0 && b.e == 0.0 {
                // The kernel squares exactly then: x * x.
                r(v, 2.0 * a.v.abs() * a.e + v.abs())
            } else {
                let l = a.v.abs().ln();
                let slope_a = (b.v * a.v.abs().powf(b.v - 1.0)).abs();
                r(
                    v,
                    slope_a * a.e
                        + (v * l).abs() * b.e
                        + v.abs()
                            * (4.0
                                + 2.0 * (b.v * l).abs() * std::f64::consts::LOG2_E
                                + 4.0 * b.v.abs()),
                )
            }
        }
        Binary::Max => r(
            if a.v.is_nan() || b.v.is_nan() {
                f64::NAN
            } else {
                a.v.max(b.v)
            },
            a.e.max(b.e),
        ),
        Binary::Min => r(
            if a.v.is_nan() || b.v.is_nan() {
                f64::NAN
            } else {
                a.v.min(b.v)
            },
            a.e.max(b.e),
        ),
        Binary::Equal => r(f64::from(u8::from(a.v == b.v)), 0.0),
        Binary::Less => r(f64::from(u8::from(a.v < b.v)), 0.0),
        Binary::Greater => r(f64::from(u8::from(a.v > b.v)), 0.0),
        Binary::And => r(f64::from(u8::from(a.v != 0.0 && b.v != 0.0)), 0.0),
        Binary::Or => r(f64::from(u8::from(a.v != 0.0 || b.v != 0.0)), 0.0),
        Binary::Mod { fmod } => {
            let m = a.v % b.v;
            let v = if !fmod && m != 0.0 && (m < 0.0) != (b.v < 0.0) {
                m + b.v
            } else {
                m
            };
            // x - z * trunc(x / z): the product rounds on |x|'s scale.
            r(
                v,
                a.e + (a.v / b.v).trunc().abs() * b.e + 2.0 * a.v.abs() + v.abs(),
            )
        }
    };
    // An infinity (a -inf mask) is exact: any kernel must give the same.
    if out.v.is_infinite() {
        return Val { v: out.v, e: 0.0 };
    }
    out.integer(integer)
}

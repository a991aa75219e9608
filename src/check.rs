//! GPU against the f64 reference. The verdict uses the per-element error
//! bound the reference carries (see `cpu` and `cpu::sum`): what a correct
//! float32 kernel may lose on the way, in any summation order, so a long
//! reduction or a cancelling sum is judged fairly and a dropped term is
//! still caught at K = 65536. Max abs, max rel, relative L2 and a
//! classic allclose are reported beside it.

use crate::cpu::RefTensor;
use serde::Serialize;

/// f32 machine epsilon (2^-23): the reference counts one of these per
/// rounding, twice the unit roundoff, a 2x margin over the textbook bound.
pub const EPS_F32: f64 = f32::EPSILON as f64;
/// A floor so that a reference of exactly zero does not demand exactly zero
/// from a GPU that, e.g., flushed a subnormal.
pub const ATOL_FLOOR: f64 = 1e-30;
/// The stated allclose tolerances (reported, not the verdict).
pub const ALLCLOSE_RTOL: f64 = 1e-4;
/// The allclose absolute tolerance, beside [`ALLCLOSE_RTOL`]: an element
/// passes allclose when |gpu - ref| <= atol + rtol |ref|.
pub const ALLCLOSE_ATOL: f64 = 1e-5;

/// The element that came nearest to its bound, or went furthest past it.
#[derive(Debug, Clone, Serialize)]
pub struct Worst {
    /// Its flat (row-major) index in the output.
    pub index: usize,
    /// The GPU's value, widened to f64.
    pub gpu: f64,
    /// The f64 reference value.
    pub reference: f64,
    /// The |gpu - ref| allowed there: `EPS_F32 * err + ATOL_FLOOR`.
    pub bound: f64,
}

/// The verdict of one GPU-against-reference comparison ([`compare`]), with
/// the error statistics the reports print beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Elements in the reference (a GPU output of another length fails).
    pub elements: usize,
    /// max |gpu - ref| over the elements where both are finite.
    pub max_abs_err: f64,
    /// max |gpu - ref| / |ref| over the finite elements with a non-zero
    /// reference.
    pub max_rel_err: f64,
    /// ||gpu - ref|| / ||ref|| (L2 norms) over the finite elements; the
    /// plain ||gpu - ref|| when the reference is all zeros.
    pub rel_l2_err: f64,
    /// Elements that broke the bound (or the finiteness rule).
    pub failures: usize,
    /// GPU outputs that are NaN or infinite where the reference is finite.
    pub nonfinite: usize,
    /// Of those, the ones (inf, or NaN made from an inf) where the values
    /// summed into the element exceed float32's range: float32 arithmetic overflowed there, and no
    /// kernel fixes that but a smaller input. Still failures.
    pub overflow: usize,
    /// Of the non-finite ones, those a float16 store made infinite: the
    /// reference's value is past float16's 65504 ([`compare_f16`] only).
    /// Still failures.
    pub overflow_f16: usize,
    /// The worst element relative to its bound.
    pub worst: Option<Worst>,
    /// Its |gpu - ref| / bound: under 1 passes; how far under is the margin.
    pub worst_ratio: f64,
    /// Whether every element meets |gpu - ref| <= [`ALLCLOSE_ATOL`] +
    /// [`ALLCLOSE_RTOL`] |ref| (non-finite ones must match the reference);
    /// reported, not the verdict.
    pub allclose: bool,
    /// The rule the verdict applied, in words ([`rule_text`]).
    pub rule: String,
    /// The verdict: no failures (every element within its bound, non-finite
    /// values as the reference's, the lengths equal).
    pub passed: bool,
}

impl Check {
    /// `"PASS"` or `"FAIL"`.
    pub fn verdict(&self) -> &'static str {
        if self.passed {
            "PASS"
        } else {
            "FAIL"
        }
    }

    /// One line for a report: the verdict, the element count, the error
    /// statistics, the worst error-to-bound ratio, any failures and
    /// non-finite values (with a hint when float32 overflowed) and, on a
    /// failure, the worst element.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} elements, max abs err {:.3e}, max rel err {:.3e}, rel L2 {:.3e}{}",
            self.verdict(),
            self.elements,
            self.max_abs_err,
            self.max_rel_err,
            self.rel_l2_err,
            if self.nonfinite > 0 {
                " (over the finite GPU values)"
            } else {
                ""
            }
        );
        s.push_str(&format!(", worst err/bound {:.3}", self.worst_ratio));
        if self.failures > 0 {
            s.push_str(&format!(", {} outside the bound", self.failures));
        }
        if self.nonfinite > 0 {
            s.push_str(&format!(
                ", {} non-finite where the reference is finite",
                self.nonfinite
            ));
        }
        if self.overflow > 0 {
            s.push_str(&format!(
                " ({} of them where the reference's magnitudes reach f32's max {:.2e}: likely float32 overflow; scale the input down)",
                self.overflow,
                f32::MAX
            ));
        }
        if self.overflow_f16 > 0 {
            s.push_str(&format!(
                " ({} of them past float16's largest value 65504: float16 overflow where float32 holds the value; scale the input down or use --dtype f32)",
                self.overflow_f16
            ));
        }
        if let (false, Some(w)) = (self.passed, &self.worst) {
            s.push_str(&format!(
                "; worst at index {}: gpu {} vs reference {} (bound {:.3e})",
                w.index,
                number(w.gpu),
                number(w.reference),
                w.bound
            ));
        }
        s
    }
}

/// Plain for everyday magnitudes, scientific beyond, so 1.65e38 is not 39 digits.
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e6).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:.7e}")
    }
}

/// The verdict's rule in words, with the constants filled in (what
/// [`Check::rule`] holds).
pub fn rule_text() -> String {
    format!(
        "|gpu - ref| <= {EPS_F32:.3e} * err + {ATOL_FLOOR:.0e} per element, err = the reference's float32 error \
         bound: a long sum charged {lambda} u sqrt(V), V its terms' and partial sums' squares in any summation \
         order (Azuma: a correct kernel exceeds it with probability < 1e-13; never above the worst case), other roundings one unit times the \
         magnitude rounded, inputs' errors carried through; non-finite values must match the reference's; \
         allclose(rtol={ALLCLOSE_RTOL:.0e}, atol={ALLCLOSE_ATOL:.0e}) reported",
        lambda = crate::cpu::sum::LAMBDA
    )
}

/// Compares GPU output with the reference. Lengths must match; a mismatch
/// is itself a failure.
///
/// Both are flat, row-major arrays of the same shape. Element i passes
/// when |gpu - ref| <= [`EPS_F32`] * `reference.err[i]` + [`ATOL_FLOOR`];
/// where the reference is NaN or infinite the GPU must give the same (NaN
/// for NaN, the same infinity); a non-finite GPU value where the reference
/// is finite always fails.
///
/// ```
/// use wgsl_nn::check::compare;
/// use wgsl_nn::cpu::RefTensor;
/// // A reference whose bound allows 4 roundings of each value.
/// let reference = RefTensor {
///     shape: vec![3],
///     val: vec![1.0, -2.0, 3.0],
///     err: vec![4.0, 8.0, 12.0],
/// };
/// let check = compare(&[1.0, -2.0, 3.0000002], &reference);
/// assert!(check.passed, "{}", check.summary());
/// let bad = compare(&[1.0, -2.0, 3.01], &reference);
/// assert_eq!(bad.verdict(), "FAIL");
/// assert_eq!(bad.worst.unwrap().index, 2);
/// ```
pub fn compare(gpu: &[f32], reference: &RefTensor) -> Check {
    let n = gpu.len().min(reference.val.len());
    let (mut max_abs, mut max_rel, mut diff2, mut ref2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut failures, mut nonfinite, mut overflow) =
        (usize::from(gpu.len() != reference.val.len()), 0, 0);
    let mut allclose = true;
    let mut worst: Option<(f64, Worst)> = None;
    for (i, (&gv, &r)) in gpu.iter().zip(&reference.val).take(n).enumerate() {
        let g = f64::from(gv);
        let bound = EPS_F32 * reference.err[i] + ATOL_FLOOR;
        if !r.is_finite() {
            // NaN must meet NaN and an infinity the same infinity.
            let same = (r.is_nan() && g.is_nan()) || g == r;
            if !same {
                failures += 1;
                allclose = false;
                worst = Some((
                    f64::INFINITY,
                    Worst {
                        index: i,
                        gpu: g,
                        reference: r,
                        bound,
                    },
                ));
            }
            continue;
        }
        if !g.is_finite() {
            nonfinite += 1;
            // inf, or NaN from inf - inf or inf * 0 further on.
            overflow += usize::from(reference.err[i] > f64::from(f32::MAX));
            failures += 1;
            allclose = false;
            let ratio = f64::INFINITY;
            if worst.as_ref().is_none_or(|(w, _)| ratio > *w) {
                worst = Some((
                    ratio,
                    Worst {
                        index: i,
                        gpu: g,
                        reference: r,
                        bound,
                    },
                ));
            }
            continue;
        }
        let err = (g - r).abs();
        max_abs = max_abs.max(err);
        if r != 0.0 {
            max_rel = max_rel.max(err / r.abs());
        }
        diff2 += err * err;
        ref2 += r * r;
        if err > ALLCLOSE_ATOL + ALLCLOSE_RTOL * r.abs() {
            allclose = false;
        }
        // A NaN bound (a reference that lost track) fails: it must not let
        // any value through.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(err <= bound) {
            failures += 1;
        }
        let ratio = if bound.is_nan() {
            f64::INFINITY
        } else {
            err / bound
        };
        if worst.as_ref().is_none_or(|(w, _)| ratio > *w) {
            worst = Some((
                ratio,
                Worst {
                    index: i,
                    gpu: g,
                    reference: r,
                    bound,
                },
            ));
        }
    }
    let rel_l2 = if ref2 > 0.0 {
        (diff2 / ref2).sqrt()
    } else {
        diff2.sqrt()
    };
    Check {
        elements: reference.val.len(),
        max_abs_err: max_abs,
        max_rel_err: max_rel,
        rel_l2_err: rel_l2,
        failures,
        nonfinite,
        overflow,
        overflow_f16: 0,
        worst_ratio: worst.as_ref().map_or(0.0, |(r, _)| *r),
        worst: worst.map(|(_, w)| w),
        allclose,
        rule: rule_text(),
        passed: failures == 0,
    }
}

/// [`compare`] for an output stored as float16 (its reference through
/// `cpu::half::stored_f16`): the same rule, and the GPU infinities where
/// the reference's value is past float16's range counted as float16
/// overflow, so the report names the cause.
pub fn compare_f16(gpu: &[f32], reference: &RefTensor) -> Check {
    let mut c = compare(gpu, reference);
    c.overflow_f16 = gpu
        .iter()
        .zip(&reference.val)
        .filter(|(g, r)| g.is_infinite() && r.is_finite() && r.abs() > crate::dtype::F16_MAX)
        .count();
    c.rule = format!(
        "{}; float16 store: one float16 spacing (2^-10 relative, 2^-24 absolute below 2^-14) charged per output, either rounding direction allowed",
        c.rule
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(vals: &[f64], roundings: f64) -> RefTensor {
        RefTensor {
            shape: vec![vals.len()],
            val: vals.to_vec(),
            err: vals.iter().map(|v| roundings * v.abs()).collect(),
        }
    }

    #[test]
    fn rounding_passes_and_a_wrong_element_fails() {
        let r = reference(&[1.0, -2.0, 3.0], 4.0);
        assert!(compare(&[1.0, -2.0, 3.0000002], &r).passed);
        let bad = compare(&[1.0, -2.0, 3.01], &r);
        assert!(!bad.passed && bad.failures == 1 && bad.worst.unwrap().index == 2);
    }

    #[test]
    fn nan_left_unwritten_fails_and_matching_nan_passes() {
        let r = reference(&[1.0, 2.0], 1.0);
        let c = compare(&[1.0, f32::NAN], &r);
        assert!(!c.passed && c.nonfinite == 1);
        let r = reference(&[f64::NAN, f64::INFINITY], 1.0);
        assert!(compare(&[f32::NAN, f32::INFINITY], &r).passed);
        assert!(!compare(&[f32::NAN, f32::NEG_INFINITY], &r).passed);
    }

    #[test]
    fn float32_overflow_fails_with_its_cause_named() {
        // An average of four values near f32's max: the f32 sum overflows.
        let r = reference(&[3.0e38, 1.0], 4.0);
        let c = compare(&[f32::INFINITY, f32::INFINITY], &r);
        assert!(!c.passed && c.nonfinite == 2 && c.overflow == 1, "{c:?}");
        assert!(c
            .summary()
            .contains("1 of them where the reference's magnitudes reach"));
    }

    #[test]
    fn a_length_mismatch_fails() {
        let r = reference(&[1.0, 2.0], 1.0);
        assert!(!compare(&[1.0], &r).passed);
    }
}

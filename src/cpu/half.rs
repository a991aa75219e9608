//! Float16 storage in the references: what a float16 output may lose in
//! its store, charged on top of the float32 bound of the value stored.
//!
//! Inputs need nothing here: a float16 input is uploaded rounded
//! (`Tensor::upload_f16`), and the reference starts from those rounded
//! values, exactly as the GPU reads them.

use super::RefTensor;
use crate::dtype::{round_f16, F16_SUBNORMAL_HALF_ULP, F16_UNIT};

/// Float16's unit roundoff in the references' units (eps_f32 = 2^-23):
/// 2^-11 / 2^-23 = 4096.
pub const F16_UNIT_IN_EPS32: f64 = F16_UNIT / f32::EPSILON as f64;

/// The reference of a float32 result stored as float16: the value as it
/// was (float16's rounding is charged, not applied), its bound grown by one
/// float16 spacing of the largest value the GPU's float32 result can be:
/// 2^-10 relative, or 2^-24 absolute below float16's normal range. That is
/// twice the round-to-nearest error, as the float32 charges are (one
/// eps per rounding): WGSL leaves the direction of an f32 -> f16
/// conversion to the implementation, so a correct kernel may land on
/// either neighbour. A value whose store
/// overflows stays finite here: a GPU infinity then fails the check,
/// named as float16 overflow (`check::compare_f16`).
///
/// ```
/// use wgsl_nn::cpu::{half::stored_f16, RefTensor};
/// let r = stored_f16(RefTensor::from_f32(&[2], &[1.0, 0.0]));
/// assert_eq!(r.err, [8192.5, 0.5]);
/// ```
pub fn stored_f16(mut r: RefTensor) -> RefTensor {
    for (v, e) in r.val.iter().zip(r.err.iter_mut()) {
        *e = stored_err(*v, *e);
    }
    r
}

/// [`stored_f16`]'s charge on one value `v` with bound `e` (eps_f32
/// units): the bound after a float16 store.
///
/// ```
/// use wgsl_nn::cpu::half::stored_err;
/// assert_eq!(stored_err(1.0, 0.0), 8192.5);
/// ```
pub fn stored_err(v: f64, e: f64) -> f64 {
    let eps = f64::from(f32::EPSILON);
    let most = v.abs() + eps * e;
    e + 2.0 * (F16_UNIT_IN_EPS32 * most + F16_SUBNORMAL_HALF_ULP / eps)
}

/// Host data as a float16 tensor holds it: each value rounded to nearest.
pub fn as_f16(data: &[f32]) -> Vec<f32> {
    data.iter().map(|&v| round_f16(v)).collect()
}

/// The first finite value float16 cannot hold (|v| from 65520, which
/// rounds to infinity), if any: what a float16 run refuses up front.
///
/// ```
/// use wgsl_nn::cpu::half::past_f16;
/// assert_eq!(past_f16(&[1.0, 7e4]), Some(7e4));
/// assert_eq!(past_f16(&[65504.0, f32::INFINITY]), None);
/// ```
pub fn past_f16(data: &[f32]) -> Option<f32> {
    data.iter()
        .copied()
        .find(|v| v.is_finite() && v.abs() >= 65520.0)
}

//! Optimised CPU baselines: what a user would actually run on the CPU, so
//! that GPU timings are compared against something fair. Unlike the f64
//! references beside them these compute in f32, multithreaded over every
//! core (rayon), with the products done by a blocked, vectorised GEMM
//! (the `gemm` crate) on strided views, so transposes, leading dimensions
//! and per-head slices cost nothing.
//!
//! They are checked against the references with the same float32 error
//! bound the GPU is judged by (`check::compare`): a blocked GEMM reorders
//! each sum, which that bound (one rounding per term) already allows.
//!
//! - [`matmul`]: the batched, strided product of `ops::matmul`, with
//!   alpha, bias and ReLU / GELU;
//! - [`conv2d`]: im2col + GEMM per image (1x1 stride-1 unpadded convs
//!   multiply the input directly), bias and ReLU fused after;
//! - [`conv2d_packed_into`]: what `wgsl-nn run` takes where the CPU has
//!   AVX-512. The weights are packed once ([`packed::PackedWeights`]); the
//!   input is padded and split into its stride phases, with no im2col; one
//!   product covers the batch; bias, a residual and a clamp are applied in
//!   the tile store;
//! - [`depthwise_into`]: depthwise convs (MobileNet's) with sixteen
//!   channels to a vector, every output pixel one vector over its taps;
//! - [`attention`]: scaled dot-product attention, blocked over query rows
//!   so the score buffer stays small, with the GPU's masks.
//!
//! Every function checks its slices against the shapes it is given and
//! panics with a message naming the operand when one is too short; it
//! never reads or writes out of bounds.

mod attention;
pub mod blocked;
pub mod blocked_direct;
pub mod blocked_pool;
mod conv;
mod depthwise;
mod direct;
mod matmul;
mod out_map;
pub mod packed;
mod packed_wide;

pub use attention::attention;
pub use conv::{conv2d, conv2d_into, conv2d_packed_into};
pub use depthwise::{
    depthwise_applies, depthwise_into, depthwise_layout_into, depthwise_portable_into,
};
pub use matmul::matmul;

use crate::ops::matmul::Activation;

/// A raw pointer that may cross threads. Every task writes only a region
/// no other task touches (the callers check that regions are disjoint).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<P: Copy>(pub(crate) P);
unsafe impl<P: Copy> Send for SendPtr<P> {}
unsafe impl<P: Copy> Sync for SendPtr<P> {}

impl<P: Copy> SendPtr<P> {
    /// Through a method, so closures capture the whole (Send) wrapper.
    #[inline]
    pub(crate) fn get(self) -> P {
        self.0
    }
}

/// The product of a shape's dimensions; panics rather than wrap, since the
/// bounds checks that keep the raw GEMM calls in bounds rest on it.
fn numel(what: &str, dims: &[usize]) -> usize {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or_else(|| panic!("{what}: shape {dims:?} overflows usize"))
}

fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// A float buffer kept per thread between calls (on a VM, page faults on
/// fresh buffers cost as much as a small layer).
pub(crate) type Scratch = std::cell::RefCell<Vec<f32>>;

/// Runs `f` with this thread's buffer under `key`; a task that nested
/// rayon work started while the buffer is in use gets a fresh one.
pub(crate) fn with_scratch<R>(
    key: &'static std::thread::LocalKey<Scratch>,
    f: impl FnOnce(&mut Vec<f32>) -> R,
) -> R {
    key.with(|c| match c.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut Vec::new()),
    })
}

/// `scatter_phases` at step 2 on AVX-512: 32 floats split into their
/// even and odd lanes by two permutes (stride-2 convs' padded copies and
/// max pooling spent ~3% of resnet18's baseline in the scalar walk).
/// False, with nothing written, where it does not apply.
fn split_pairs(src: &[f32], pad: usize, limit: usize, dst: &mut [f32], pstride: usize) -> bool {
    let n = src.len().min(limit.saturating_sub(pad));
    let (ne, no) = (n.div_ceil(2), n / 2);
    // Input column 2i lands in phase pad % 2 at i + pad / 2, column 2i + 1
    // in the other phase at i + (pad + 1) / 2.
    let (e0, o0) = (pad / 2, pad.div_ceil(2));
    let second = if pad.is_multiple_of(2) {
        o0 + no
    } else {
        e0 + ne
    };
    if !packed::available()
        || e0 + ne > pstride
        || o0 + no > pstride
        || dst.len() < pstride + second
    {
        return false;
    }
    let (p0, p1) = dst.split_at_mut(pstride);
    let (even, odd) = if pad.is_multiple_of(2) {
        (&mut p0[e0..e0 + ne], &mut p1[o0..o0 + no])
    } else {
        (&mut p1[e0..e0 + ne], &mut p0[o0..o0 + no])
    };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: available() checked AVX-512F.
    unsafe {
        split_pairs_avx512(&src[..n], even, odd);
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AVX-512 off x86-64: {:?}", (even.len(), odd.len()));
    true
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn split_pairs_avx512(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    use std::arch::x86_64::*;
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_add_epi32(ie, _mm512_set1_epi32(1));
    let whole = src.len() / 32;
    for i in 0..whole {
        let (a, b) = (&src[32 * i..32 * i + 16], &src[32 * i + 16..32 * i + 32]);
        let (a, b) = (_mm512_loadu_ps(a.as_ptr()), _mm512_loadu_ps(b.as_ptr()));
        let (e, o) = (
            &mut even[16 * i..16 * i + 16],
            &mut odd[16 * i..16 * i + 16],
        );
        _mm512_storeu_ps(e.as_mut_ptr(), _mm512_permutex2var_ps(a, ie, b));
        _mm512_storeu_ps(o.as_mut_ptr(), _mm512_permutex2var_ps(a, io, b));
    }
    for (ix, &v) in src.iter().enumerate().skip(32 * whole) {
        if ix % 2 == 0 {
            even[ix / 2] = v;
        } else {
            odd[ix / 2] = v;
        }
    }
}

/// Scatters one input row into its column phases: input column ix is
/// padded column c = ix + pad, stored at dst[(c % step) * pstride + c /
/// step] where c < limit. Walks phase by phase, so no element pays for an
/// integer division (which at ~25 cycles cost more than the pooling or
/// depthwise conv that reads the copy).
pub(crate) fn scatter_phases(
    src: &[f32],
    pad: usize,
    step: usize,
    limit: usize,
    dst: &mut [f32],
    pstride: usize,
) {
    if step == 1 {
        let end = (pad + src.len()).min(limit);
        if end > pad {
            dst[pad..end].copy_from_slice(&src[..end - pad]);
        }
        return;
    }
    if step == 2 && split_pairs(src, pad, limit, dst, pstride) {
        return;
    }
    for px in 0..step {
        scatter_phase(src, pad, step, limit, px, &mut dst[px * pstride..]);
    }
}

/// Phase `px` alone of [`scatter_phases`], into `dst` (the phase's first
/// element): padded column c = px + j step at dst[j] where c < limit (a
/// strided 1x1 conv's copy keeps phase 0 only).
pub(crate) fn scatter_phase(
    src: &[f32],
    pad: usize,
    step: usize,
    limit: usize,
    px: usize,
    dst: &mut [f32],
) {
    // Padded columns px + j step, j >= first, read src from c0 - pad.
    let first = pad.saturating_sub(px).div_ceil(step);
    let c0 = px + first * step;
    if c0 >= limit || c0 - pad >= src.len() {
        return;
    }
    let count = (limit - c0)
        .div_ceil(step)
        .min((src.len() - (c0 - pad)).div_ceil(step));
    let row = &mut dst[first..first + count];
    for (o, &v) in row.iter_mut().zip(src[c0 - pad..].iter().step_by(step)) {
        *o = v;
    }
}

/// A strided f32 matrix: element (r, c) at `ptr + r * rs + c * cs`.
#[derive(Clone, Copy)]
struct Mat {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

/// dst[m, n] (row stride `dst_rs`, unit column stride) = scale * lhs rhs.
///
/// # Safety
/// Every element the three strided matrices address must lie inside live
/// allocations, and no other thread may touch dst's elements meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    lhs: Mat,
    rhs: Mat,
    scale: f32,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for r in 0..m {
            std::slice::from_raw_parts_mut(dst.add(r * dst_rs), n).fill(0.0);
        }
        return;
    }
    // gemm computes dst = alpha * dst + beta * lhs rhs; dst is not read.
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        false,
        lhs.ptr,
        lhs.cs as isize,
        lhs.rs as isize,
        rhs.ptr,
        rhs.cs as isize,
        rhs.rs as isize,
        0.0,
        scale,
        false,
        false,
        false,
        par,
    );
}

/// exp(x) in f32, branch-free so loops over it vectorise: Cody-Waite
/// reduction x = n ln2 + r (|r| <= ln2 / 2), Cephes' polynomial for
/// exp(r), and 2^n put straight into the exponent bits. Relative error
/// under 0.7 eps_f32 on [-87.3, 88.3] (the tests sweep it and allow 2);
/// below -87.3 it gives 0 (exp is then under 1.2e-38), above 88.3
/// infinity, exp(0) = 1 exactly, and NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    let t = x.clamp(-88.0, 89.0) * LOG2E + SHIFTER;
    let n = t - SHIFTER;
    let bits = t.to_bits().wrapping_sub(SHIFTER.to_bits()) as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let y = y * f32::from_bits((bits.wrapping_add(127) << 23) as u32);
    let y = if x < -87.3 { 0.0 } else { y };
    if x > 88.3 {
        f32::INFINITY
    } else {
        y
    }
}

/// GELU, the tanh form of `cpu::activation::gelu`, evaluated through the
/// identity 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)), so that it vectorises
/// with [`exp`]: x / (1 + exp(-2 sqrt(2/pi) (x + 0.044715 x^3))).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x / (1.0 + exp(-1.595_769 * (x + 0.044715 * x * x * x)))
}

/// Defines `fn $name(args) -> ret` that runs `$generic` compiled for AVX2
/// and FMA where the CPU has them (the crate itself is built for the
/// baseline x86-64 target, where loops get only 4-wide SSE2).
macro_rules! with_avx2 {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $generic:ident) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}
pub(crate) use with_avx2;

/// ReLU that keeps NaN, as the GPU and the reference do.
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

with_avx2!(
    /// row = act(row + bias), one bias value per column (or none).
    fn finish_row(row: &mut [f32], bias: Option<&[f32]>, act: Activation) = finish_row_generic
);

#[inline(always)]
fn finish_row_generic(row: &mut [f32], bias: Option<&[f32]>, act: Activation) {
    match (bias, act) {
        (None, Activation::None) => {}
        (None, Activation::Relu) => row.iter_mut().for_each(|x| *x = relu(*x)),
        (None, Activation::Gelu) => row.iter_mut().for_each(|x| *x = gelu(*x)),
        (Some(b), Activation::None) => row.iter_mut().zip(b).for_each(|(x, b)| *x += b),
        (Some(b), Activation::Relu) => row.iter_mut().zip(b).for_each(|(x, b)| *x = relu(*x + b)),
        (Some(b), Activation::Gelu) => row.iter_mut().zip(b).for_each(|(x, b)| *x = gelu(*x + b)),
    }
}

/// Applies bias and activation to the m rows of n elements at `dst`, row
/// stride `ld` (>= n), on every thread when `par`.
///
/// # Safety
/// The rows must lie inside a live allocation that no one else touches.
unsafe fn finish_rows(
    dst: *mut f32,
    ld: usize,
    m: usize,
    n: usize,
    bias: Option<&[f32]>,
    act: Activation,
    par: bool,
) {
    if bias.is_none() && act == Activation::None {
        return;
    }
    let dst = SendPtr(dst);
    let row = |r: usize| {
        // SAFETY: rows are disjoint (ld >= n) and inside the allocation.
        let row = unsafe { std::slice::from_raw_parts_mut(dst.get().add(r * ld), n) };
        finish_row(row, bias, act);
    };
    if par && m > 1 {
        use rayon::prelude::*;
        (0..m)
            .into_par_iter()
            .with_min_len((4096 / n.max(1)).max(1))
            .for_each(row);
    } else {
        (0..m).for_each(row);
    }
}

with_avx2!(
    /// row = clamp(row + b), one bias value for the whole row (a conv
    /// channel); the clamp (ReLU is [0, inf), ReLU6 [0, 6]) keeps NaN.
    pub(crate) fn finish_channel(row: &mut [f32], b: f32, clamp: Option<(f32, f32)>) = finish_channel_generic
);

#[inline(always)]
fn finish_channel_generic(row: &mut [f32], b: f32, clamp: Option<(f32, f32)>) {
    match clamp {
        Some((0.0, f32::INFINITY)) => row.iter_mut().for_each(|x| *x = relu(*x + b)),
        Some((lo, hi)) => row.iter_mut().for_each(|x| {
            let v = *x + b;
            *x = if v < lo {
                lo
            } else if v > hi {
                hi
            } else {
                v
            }
        }),
        None if b != 0.0 => row.iter_mut().for_each(|x| *x += b),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    /// Every element lands where the definition puts it (the AVX-512 split
    /// at step 2 included), and nothing else is written.
    #[test]
    fn scatter_phases_matches_its_definition() {
        for step in 1..4 {
            for len in [0usize, 1, 2, 31, 32, 33, 64, 65, 112, 229] {
                for pad in 0..4 {
                    for cut in [0, 1, 3] {
                        let src: Vec<f32> = (0..len).map(|i| i as f32 + 0.5).collect();
                        let limit = (len + 2 * pad).saturating_sub(cut);
                        let pstride = limit.div_ceil(step) + 3;
                        let mut want = vec![f32::NAN; pstride * step];
                        for (ix, &v) in src.iter().enumerate() {
                            let c = ix + pad;
                            if c < limit {
                                want[c % step * pstride + c / step] = v;
                            }
                        }
                        let mut got = vec![f32::NAN; pstride * step];
                        super::scatter_phases(&src, pad, step, limit, &mut got, pstride);
                        let same = want
                            .iter()
                            .zip(&got)
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "step {step} len {len} pad {pad} limit {limit}");
                    }
                }
            }
        }
    }
}

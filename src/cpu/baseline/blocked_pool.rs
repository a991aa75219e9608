//! Max pooling in the channel-blocked layout: each tap of an output pixel
//! is one 16-channel vector, so resnet's stem -> pool -> first block
//! stays blocked (in NCHW its pool ran 3.5x onnxruntime's NCHWc one).

use super::blocked::BLK;
use crate::geometry::Window;
use rayon::prelude::*;

/// Max pooling (window `win`, ceil mode as its output shape `[oh, ow]`
/// says) of blocked x [N, C, H, W] into blocked y [N, C, OH, OW]. Padding
/// and taps past the input are skipped (ONNX's -inf padding); NaN sticks,
/// as in the reference; a window with no tap inside gives -inf.
///
/// Panics when a slice is shorter than its blocked shape.
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::*;
/// use wgsl_nn::cpu::baseline::blocked_pool::maxpool_blocked_into;
/// use wgsl_nn::geometry::Window;
/// let mut win = Window::square(2);
/// win.stride = [2, 2];
/// let x: Vec<f32> = (0..4).map(|v| v as f32).collect(); // [1, 1, 2, 2]
/// let xb = { let mut b = vec![0.0; blocked_len([1, 1, 2, 2])]; to_blocked(&x, [1, 1, 2, 2], &mut b); b };
/// let mut y = vec![f32::NAN; 16];
/// maxpool_blocked_into(&win, &xb, [1, 1, 2, 2], [1, 1], &mut y);
/// assert_eq!(y[0], 3.0);
/// ```
pub fn maxpool_blocked_into(
    win: &Window,
    x: &[f32],
    shape: [usize; 4],
    out: [usize; 2],
    y: &mut [f32],
) {
    maxpool_path(win, x, shape, out, y, true)
}

/// [`maxpool_blocked_into`] without its AVX-512 select (what CPUs without
/// it run), so tests can check that path on any CPU.
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked_pool::maxpool_blocked_portable_into;
/// use wgsl_nn::geometry::Window;
/// let mut x = vec![0.0f32; 2 * 16]; // [1, 1, 1, 2] blocked
/// x[16] = f32::NAN;
/// let mut y = vec![0.0; 16];
/// let mut win = Window::square(1);
/// win.kernel = [1, 2];
/// maxpool_blocked_portable_into(&win, &x, [1, 1, 1, 2], [1, 1], &mut y);
/// assert!(y[0].is_nan());
/// ```
pub fn maxpool_blocked_portable_into(
    win: &Window,
    x: &[f32],
    shape: [usize; 4],
    out: [usize; 2],
    y: &mut [f32],
) {
    maxpool_path(win, x, shape, out, y, false)
}

fn maxpool_path(
    win: &Window,
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    [oh, ow]: [usize; 2],
    y: &mut [f32],
    simd: bool,
) {
    let cb = c.div_ceil(BLK);
    assert!(
        x.len() >= n * cb * h * w * BLK && y.len() >= n * cb * oh * ow * BLK,
        "maxpool_blocked_into: x or y shorter than its blocked shape"
    );
    let ([kh, kw], [sh, sw], [dh, dw], [pt, pl]) =
        (win.kernel, win.stride, win.dilation, win.pad_begin);
    let row = |(r, out): (usize, &mut [f32])| {
        let (plane, oy) = (r / oh, r % oh);
        let src = &x[plane * h * w * BLK..(plane + 1) * h * w * BLK];
        let rows = span(oy, sh, dh, pt, kh, h);
        for (ox, acc) in out.chunks_exact_mut(BLK).enumerate() {
            let acc: &mut [f32; BLK] = acc.try_into().expect("a block");
            let cols = span(ox, sw, dw, pl, kw, w);
            let taps = rows.clone().flat_map(|ky| {
                let iy = oy * sh + ky * dh - pt;
                cols.clone()
                    .map(move |kx| (iy * w + ox * sw + kx * dw - pl) * BLK)
            });
            max_taps(acc, src, taps, simd);
        }
    };
    let y = &mut y[..n * cb * oh * ow * BLK];
    if ow == 0 {
        return;
    }
    y.par_chunks_mut(ow * BLK)
        .enumerate()
        .with_min_len((1024 / ow).max(1))
        .for_each(row);
}

/// The taps of a window axis that land inside the input: output
/// coordinate o, stride s, dilation d, padding p, k taps, len pixels.
fn span(o: usize, s: usize, d: usize, p: usize, k: usize, len: usize) -> std::ops::Range<usize> {
    let first = p.saturating_sub(o * s).div_ceil(d);
    // Tap t is inside while o s + t d < len + p.
    let end = (len + p).saturating_sub(o * s).div_ceil(d).min(k);
    first..end.max(first)
}

/// acc = the running max (NaN sticking) of -inf and the 16-channel
/// vectors of `src` at `taps`.
fn max_taps(acc: &mut [f32; BLK], src: &[f32], taps: impl Iterator<Item = usize>, simd: bool) {
    #[cfg(target_arch = "x86_64")]
    if simd && super::packed::available() {
        // SAFETY: AVX-512F checked.
        return unsafe { max_taps_avx512(acc, src, taps) };
    }
    *acc = [f32::NEG_INFINITY; BLK];
    for at in taps {
        let v: &[f32; BLK] = src[at..at + BLK].try_into().expect("a block");
        for (m, &v) in acc.iter_mut().zip(v) {
            *m = if (v > *m) | v.is_nan() { v } else { *m };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_taps_avx512(acc: &mut [f32; BLK], src: &[f32], taps: impl Iterator<Item = usize>) {
    use std::arch::x86_64::*;
    let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
    for at in taps {
        let v: &[f32; BLK] = src[at..at + BLK].try_into().expect("a block");
        let v = _mm512_loadu_ps(v.as_ptr());
        // v where v > m or v is NaN, as the generic select.
        let take =
            _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, m) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        m = _mm512_mask_blend_ps(take, m, v);
    }
    _mm512_storeu_ps(acc.as_mut_ptr(), m);
}

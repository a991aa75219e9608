//! Depthwise convolution (groups = in = out channels, MobileNet's 3x3
//! layers) with sixteen channels side by side in one vector.
//!
//! Run plane by plane in NCHW, a 7 x 7 or 14 x 14 plane gives each tap a
//! row of 7 or 14 floats: most of a vector wasted, and per-plane costs
//! (padding, a task) larger than the taps. mobilenet_v2's depthwise layers
//! ran at 1-11 GFLOP/s so. Here each task takes sixteen channels of one
//! image, copies a band of their rows zero-padded and interleaved
//! (pixel-major, the sixteen channels of a pixel adjacent), and every
//! output pixel is then one vector summed over its taps, whatever the
//! plane's width, stride or dilation; the sixteen results go back to
//! their planes as the band's rows are done.

use super::{with_scratch, Scratch};
use crate::ops::conv2d::Conv2d;
use rayon::prelude::*;

/// Channels per vector (one AVX-512 register of f32).
const L: usize = 16;

/// Output floats a band aims at: its padded input (about this many floats
/// at stride 1) stays in L2.
const BAND: usize = 8192;

thread_local! {
    /// The band's interleaved, padded input and one output row.
    static BAND_BUF: Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether [`depthwise_into`] takes `conv`: one input channel per group
/// and one output channel per input channel.
///
/// ```
/// use wgsl_nn::cpu::baseline::depthwise_applies;
/// use wgsl_nn::ops::conv2d::Conv2d;
/// assert!(depthwise_applies(&Conv2d::new(32, 32, 3).groups(32)));
/// assert!(!depthwise_applies(&Conv2d::new(4, 12, 3).groups(4)));
/// ```
pub fn depthwise_applies(conv: &Conv2d) -> bool {
    conv.groups > 1 && conv.groups == conv.in_channels && conv.groups == conv.out_channels
}

/// y = depthwise conv(x) (+ bias, then `clamp` as a fused ReLU or Clip,
/// NaN kept; `conv.relu` clamps at 0 when `clamp` is None), x `[N, C, H,
/// W]`, w `[C, 1, kh, kw]`, y `[N, C, OH, OW]`, every element of y
/// written. Tasks are (image, sixteen channels), shared among rayon's
/// threads.
///
/// Panics when `conv` is not depthwise ([`depthwise_applies`]) or a slice
/// is shorter than its shape.
///
/// ```
/// use wgsl_nn::cpu::baseline::depthwise_into;
/// use wgsl_nn::ops::conv2d::Conv2d;
/// // Two channels, 2x2 taps, no padding: each output sums its window.
/// let conv = Conv2d::new(2, 2, 2).groups(2).bias(false);
/// let x: Vec<f32> = (0..18).map(|v| v as f32).collect();
/// let w = [1.0f32; 8];
/// let mut y = [f32::NAN; 8];
/// depthwise_into(&conv, &x, [1, 2, 3, 3], &w, None, [1, 2, 2, 2], None, &mut y);
/// assert_eq!(y, [8.0, 12.0, 20.0, 24.0, 44.0, 48.0, 56.0, 60.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn depthwise_into(
    conv: &Conv2d,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    os: [usize; 4],
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
) {
    depthwise_path_into(conv, x, xs, w, bias, os, clamp, y, true, [false; 2])
}

/// [`depthwise_into`] with x and y each in NCHW or in the channel-blocked
/// layout (`blocked`: [x's, y's]; `blocked::to_blocked`), which reads and
/// writes the band's rows as they lie instead of gathering sixteen planes.
///
/// ```
/// use wgsl_nn::cpu::baseline::{blocked, depthwise_layout_into};
/// use wgsl_nn::ops::conv2d::Conv2d;
/// let conv = Conv2d::new(2, 2, 2).groups(2).bias(false);
/// let x: Vec<f32> = (0..18).map(|v| v as f32).collect();
/// let mut yb = vec![f32::NAN; blocked::blocked_len([1, 2, 2, 2])];
/// depthwise_layout_into(&conv, &x, [1, 2, 3, 3], &[1.0; 8], None, [1, 2, 2, 2], None, &mut yb, [false, true]);
/// let mut y = [0.0f32; 8];
/// blocked::from_blocked(&yb, [1, 2, 2, 2], &mut y);
/// assert_eq!(y, [8.0, 12.0, 20.0, 24.0, 44.0, 48.0, 56.0, 60.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn depthwise_layout_into(
    conv: &Conv2d,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    os: [usize; 4],
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
    blocked: [bool; 2],
) {
    depthwise_path_into(conv, x, xs, w, bias, os, clamp, y, true, blocked)
}

/// [`depthwise_into`] without its AVX-512 kernels (what CPUs without
/// them run), so tests can check that path on any CPU.
///
/// ```
/// use wgsl_nn::cpu::baseline::depthwise_portable_into;
/// use wgsl_nn::ops::conv2d::Conv2d;
/// let conv = Conv2d::new(2, 2, 1).groups(2).bias(false);
/// let mut y = [f32::NAN; 2];
/// depthwise_portable_into(&conv, &[3.0, -4.0], [1, 2, 1, 1], &[2.0, 2.0], None, [1, 2, 1, 1], Some((0.0, 6.0)), &mut y);
/// assert_eq!(y, [6.0, 0.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn depthwise_portable_into(
    conv: &Conv2d,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    os: [usize; 4],
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
) {
    depthwise_path_into(conv, x, xs, w, bias, os, clamp, y, false, [false; 2])
}

#[allow(clippy::too_many_arguments)]
fn depthwise_path_into(
    conv: &Conv2d,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    os: [usize; 4],
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
    simd: bool,
    [x_blocked, y_blocked]: [bool; 2],
) {
    assert!(
        depthwise_applies(conv),
        "depthwise_into: {conv:?} is not depthwise"
    );
    let [n, c, h, wd] = xs;
    let [_, _, oh, ow] = os;
    let [kh, kw] = conv.window.kernel;
    let taps = kh * kw;
    let plane = oh * ow;
    let blocks = c.div_ceil(L);
    // Floats per image of x and y in their layouts.
    let x_img = if x_blocked { blocks * L } else { c } * h * wd;
    let y_img = if y_blocked { blocks * L } else { c } * plane;
    assert!(
        x.len() >= n * x_img,
        "depthwise_into: x is shorter than {xs:?}"
    );
    assert!(
        w.len() >= c * taps,
        "depthwise_into: w is shorter than [{c}, 1, {kh}, {kw}]"
    );
    assert!(
        y.len() >= n * y_img,
        "depthwise_into: y is shorter than {os:?}"
    );
    assert!(
        bias.is_none_or(|b| b.len() >= c),
        "depthwise_into: bias is shorter than {c}"
    );
    if n * c * plane == 0 {
        return;
    }
    let clamp = clamp.or(conv.clamp());
    // Weights and bias per block of sixteen channels, tap-major; the
    // channels past C weigh 0 and are stored only in a blocked y's padding.
    let mut wb = vec![0.0f32; blocks * taps * L];
    let mut bb = vec![0.0f32; blocks * L];
    for ch in 0..c {
        for t in 0..taps {
            wb[((ch / L) * taps + t) * L + ch % L] = w[ch * taps + t];
        }
        bb[ch] = bias.map_or(0.0, |b| b[ch]);
    }
    let geo = Geo::new(conv, xs, os);
    #[cfg(target_arch = "x86_64")]
    let kernels: Simd = avx512::Kernels::new(&geo).filter(|_| simd);
    #[cfg(not(target_arch = "x86_64"))]
    let kernels: Simd = {
        let _ = simd;
        None
    };
    let y = &mut y[..n * y_img];
    let tasks: Vec<(usize, usize, &mut [f32])> = y
        .chunks_mut(y_img)
        .enumerate()
        .flat_map(|(b, yb)| {
            yb.chunks_mut(L * plane)
                .enumerate()
                .map(move |(k, yk)| (b, k, yk))
        })
        .collect();
    let run = |(b, k, yk): (usize, usize, &mut [f32])| {
        let ws = &wb[k * taps * L..(k + 1) * taps * L];
        let bs = &bb[k * L..(k + 1) * L];
        let xk = if x_blocked {
            &x[(b * blocks + k) * L * h * wd..]
        } else {
            &x[(b * c + k * L) * h * wd..]
        };
        let lay = Lay {
            chans: L.min(c - k * L),
            x_blocked,
            y_blocked,
        };
        with_scratch(&BAND_BUF, |buf| {
            block(&geo, lay, xk, ws, bs, clamp, yk, buf, kernels)
        });
    };
    if tasks.len() == 1 {
        tasks.into_iter().for_each(run);
    } else {
        tasks.into_par_iter().for_each(run);
    }
}

/// A depthwise conv's geometry, worked out once.
struct Geo {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 2],
    /// Padded columns every output row's taps span.
    pcols: usize,
    /// Output rows per band.
    rows: usize,
}

impl Geo {
    fn new(conv: &Conv2d, xs: [usize; 4], os: [usize; 4]) -> Geo {
        let win = &conv.window;
        let (ow, kw) = (os[3], win.kernel[1]);
        Geo {
            h: xs[2],
            w: xs[3],
            oh: os[2],
            ow,
            kernel: win.kernel,
            stride: win.stride,
            dilation: win.dilation,
            pad: win.pad_begin,
            pcols: (ow - 1) * win.stride[1] + (kw.max(1) - 1) * win.dilation[1] + 1,
            rows: (BAND / (ow * L)).clamp(1, os[2]),
        }
    }
}

/// A block's channels and where its input and output lie.
#[derive(Clone, Copy)]
struct Lay {
    /// Real channels in the block (16 but in the last).
    chans: usize,
    x_blocked: bool,
    y_blocked: bool,
}

/// One image's sixteen channels (fewer in the last block: `yk` holds
/// their planes, or the block's [OH, OW, 16] where y is blocked), band by
/// band of output rows.
#[allow(clippy::too_many_arguments)]
fn block(
    g: &Geo,
    lay: Lay,
    xk: &[f32],
    ws: &[f32],
    bs: &[f32],
    clamp: Option<(f32, f32)>,
    yk: &mut [f32],
    buf: &mut Vec<f32>,
    kernels: Simd,
) {
    let plane = g.oh * g.ow;
    let chans = lay.chans;
    let ph = (g.kernel[0].max(1) - 1) * g.dilation[0];
    let band_rows = (g.rows - 1) * g.stride[0] + ph + 1;
    let band_len = band_rows * g.pcols * L;
    // Grown, never cleared: every band row a band uses is written whole
    // (zeros included) before it is read, and so is the output row.
    if buf.len() < band_len + g.ow * L {
        buf.resize(band_len + g.ow * L, 0.0);
    }
    let (band, row) = buf.split_at_mut(band_len);
    for oy0 in (0..g.oh).step_by(g.rows) {
        let oy1 = (oy0 + g.rows).min(g.oh);
        let prows = (oy1 - oy0 - 1) * g.stride[0] + ph + 1;
        let r0 = oy0 * g.stride[0];
        if lay.x_blocked {
            fill_band_blocked(g, xk, r0, prows, band);
        } else {
            fill_plain(g, kernels, xk, chans, r0, prows, band);
        }
        for oy in oy0..oy1 {
            let r = (oy - oy0) * g.stride[0];
            if lay.y_blocked {
                // The taps write the block's output row where it lies.
                let dst = &mut yk[oy * g.ow * L..(oy + 1) * g.ow * L];
                taps_any(g, kernels, band, r, ws, bs, clamp, dst);
            } else {
                taps_any(g, kernels, band, r, ws, bs, clamp, row);
                store_row(g, kernels, row, oy, plane, yk);
            }
        }
    }
}

/// The AVX-512 kernels, where the CPU has them (never off x86-64).
#[cfg(target_arch = "x86_64")]
type Simd = Option<avx512::Kernels>;
#[cfg(not(target_arch = "x86_64"))]
type Simd = Option<std::convert::Infallible>;

/// [`fill_band`] from an NCHW input, by the AVX-512 gathers where given.
fn fill_plain(
    g: &Geo,
    kernels: Simd,
    xk: &[f32],
    chans: usize,
    r0: usize,
    prows: usize,
    band: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(h) = kernels {
        // SAFETY: `kernels` is Some only where the CPU has AVX-512F; the
        // slices are the ones the generic code indexes.
        unsafe { h.fill(g, xk, chans, r0, prows, band) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernels;
    fill_band(g, xk, chans, r0, prows, band);
}

/// [`taps_row`], by the AVX-512 kernel where given.
#[allow(clippy::too_many_arguments)]
fn taps_any(
    g: &Geo,
    kernels: Simd,
    band: &[f32],
    r: usize,
    ws: &[f32],
    bs: &[f32],
    clamp: Option<(f32, f32)>,
    row: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(h) = kernels {
        // SAFETY: as in `fill_plain`.
        unsafe { h.taps(g, band, r, ws, bs, clamp, row) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernels;
    taps_row(g, band, r, ws, bs, clamp, row);
}

/// Output row `oy` of the block's NCHW planes in `yk` from the
/// interleaved `row`, by the AVX-512 gathers where given.
fn store_row(g: &Geo, kernels: Simd, row: &[f32], oy: usize, plane: usize, yk: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(h) = kernels {
        // SAFETY: as in `fill_plain`.
        unsafe { h.store(g, row, oy, plane, yk) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernels;
    for (j, yp) in yk.chunks_mut(plane).enumerate() {
        let dst = &mut yp[oy * g.ow..(oy + 1) * g.ow];
        for (o, v) in dst.iter_mut().zip(row[j..].iter().step_by(L)) {
            *o = *v;
        }
    }
}

/// Padded row `r` of the band starting at padded row `r0`: zeroed and
/// None where it lies in the padding, else its columns outside the image
/// zeroed and (its image row, the slice from its first image column
/// through its last, `(last - first) L` floats) for the caller to fill.
fn band_row<'b>(
    g: &Geo,
    band: &'b mut [f32],
    r0: usize,
    r: usize,
) -> Option<(usize, &'b mut [f32])> {
    let stride = g.pcols * L;
    let dst = &mut band[r * stride..(r + 1) * stride];
    let iy = (r0 + r).checked_sub(g.pad[0]).filter(|&iy| iy < g.h);
    let Some(iy) = iy else {
        dst.fill(0.0);
        return None;
    };
    // Columns 0 .. pad and past the image's last are padding.
    let first = g.pad[1].min(g.pcols);
    let last = (g.pad[1] + g.w).min(g.pcols);
    dst[..first * L].fill(0.0);
    dst[last * L..].fill(0.0);
    Some((iy, &mut dst[first * L..last * L]))
}

/// As [`fill_band`] from a blocked input: each band row is a copy of the
/// block's image row (its padding channels as they lie).
fn fill_band_blocked(g: &Geo, xk: &[f32], r0: usize, prows: usize, band: &mut [f32]) {
    for r in 0..prows {
        let Some((iy, inner)) = band_row(g, band, r0, r) else {
            continue;
        };
        let n = inner.len();
        inner.copy_from_slice(&xk[iy * g.w * L..][..n]);
    }
}

/// Padded rows r0 .. r0 + prows of the block's channels into `band`,
/// interleaved: padded (row r, column q, channel j) at (r q) L + j, zero
/// where the window leaves the image and in the channels past `chans`.
fn fill_band(g: &Geo, xk: &[f32], chans: usize, r0: usize, prows: usize, band: &mut [f32]) {
    for r in 0..prows {
        let Some((iy, inner)) = band_row(g, band, r0, r) else {
            continue;
        };
        if chans < L {
            inner.fill(0.0);
        }
        let cols = inner.len() / L;
        for j in 0..chans {
            let src = &xk[(j * g.h + iy) * g.w..][..cols];
            for (d, v) in inner[j..].iter_mut().step_by(L).zip(src) {
                *d = *v;
            }
        }
    }
}

crate::cpu::baseline::with_avx2!(
    /// One output row of the band: `row[ox L + j]` = bias + the taps of
    /// pixel ox, channel j, clamped.
    fn taps_row(
        g: &Geo,
        band: &[f32],
        r: usize,
        ws: &[f32],
        bs: &[f32],
        clamp: Option<(f32, f32)>,
        row: &mut [f32]
    ) = taps_row_generic
);

#[inline(always)]
fn taps_row_generic(
    g: &Geo,
    band: &[f32],
    r: usize,
    ws: &[f32],
    bs: &[f32],
    clamp: Option<(f32, f32)>,
    row: &mut [f32],
) {
    let [kh, kw] = g.kernel;
    let stride = g.pcols * L;
    let bias: &[f32; L] = bs.try_into().expect("sixteen biases");
    for (ox, out) in row.chunks_exact_mut(L).take(g.ow).enumerate() {
        let mut acc = *bias;
        for ky in 0..kh {
            let prow = &band[(r + ky * g.dilation[0]) * stride..];
            for kx in 0..kw {
                let q = ox * g.stride[1] + kx * g.dilation[1];
                let v: &[f32; L] = prow[q * L..q * L + L].try_into().expect("a pixel");
                let t = ky * kw + kx;
                let wv: &[f32; L] = ws[t * L..t * L + L].try_into().expect("a tap");
                for j in 0..L {
                    acc[j] = v[j].mul_add(wv[j], acc[j]);
                }
            }
        }
        if let Some((lo, hi)) = clamp {
            // As the reference's clamp: NaN stays NaN.
            for a in acc.iter_mut() {
                *a = if *a < lo {
                    lo
                } else if *a > hi {
                    hi
                } else {
                    *a
                };
            }
        }
        out.copy_from_slice(&acc);
    }
}

#[cfg(target_arch = "x86_64")]
#[path = "depthwise_avx512.rs"]
mod avx512;

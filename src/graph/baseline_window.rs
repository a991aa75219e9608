//! The CPU baseline's windowed ops: pooling and grouped (depthwise)
//! convolutions over phase-split copies of each plane, so every tap is a
//! contiguous run that vectorises, and transposed convolutions as strided
//! scatters.

use super::baseline_par::par_rows;
use crate::cpu::baseline::{with_scratch, Scratch};
use crate::ops::pool2d::PoolKind;

pub(super) fn pool2d(
    pool: &crate::ops::pool2d::Pool2d,
    x: &[f32],
    xs: [usize; 4],
    os: [usize; 4],
    y: &mut [f32],
) {
    let [_, _, h, w] = xs;
    let [_, _, oh, ow] = os;
    let win = &pool.window;
    par_rows(y, (oh * ow).max(1), |p, yp| {
        let xp = &x[p * h * w..(p + 1) * h * w];
        match pool.kind {
            PoolKind::Max => max_plane(win, xp, [h, w], [oh, ow], yp),
            PoolKind::Avg => avg_plane(pool, xp, [h, w], [oh, ow], yp),
        }
    });
}

/// Max pooling of one plane: the plane is copied, padded with -inf, into
/// its `sw` column phases (as `grouped_conv` does with zeros), so each tap
/// of each output row is a contiguous running max (NaN sticks, as in the
/// reference) that vectorises.
fn max_plane(
    win: &crate::geometry::Window,
    xp: &[f32],
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    yp: &mut [f32],
) {
    if oh == 0 || ow == 0 {
        return;
    }
    let ([kh, kw], [sh, sw], [dh, dw], [pt, pl]) =
        (win.kernel, win.stride, win.dilation, win.pad_begin);
    let prows = (oh - 1) * sh + (kh.max(1) - 1) * dh + 1;
    let pcols = (ow - 1) * sw + (kw.max(1) - 1) * dw + 1;
    let phase_len = pcols.div_ceil(sw);
    with_scratch(&PLANE, |buf| {
        buf.clear();
        buf.resize(prows * sw * phase_len, f32::NEG_INFINITY);
        for r in 0..prows {
            let iy = r as i64 - pt as i64;
            if iy < 0 || iy >= h as i64 {
                continue;
            }
            let src = &xp[iy as usize * w..(iy as usize + 1) * w];
            let dst = &mut buf[r * sw * phase_len..(r + 1) * sw * phase_len];
            crate::cpu::baseline::scatter_phases(src, pl, sw, pcols, dst, phase_len);
        }
        yp.fill(f32::NEG_INFINITY);
        let cols: Vec<usize> = (0..kw)
            .map(|kx| (kx * dw) % sw * phase_len + (kx * dw) / sw)
            .collect();
        for oy in 0..oh {
            let out = &mut yp[oy * ow..(oy + 1) * ow];
            for ky in 0..kh {
                let row = (oy * sh + ky * dh) * sw * phase_len;
                for &col in &cols {
                    running_max(out, &buf[row + col..][..ow]);
                }
            }
        }
    });
}

crate::cpu::baseline::with_avx2!(
    /// out = max(out, src) elementwise, NaN sticking from either side.
    fn running_max(out: &mut [f32], src: &[f32]) = running_max_generic
);

#[inline(always)]
fn running_max_generic(out: &mut [f32], src: &[f32]) {
    for (m, &v) in out.iter_mut().zip(src) {
        // `|`, not `||`: no branch, so the loop vectorises as a select.
        *m = if (v > *m) | v.is_nan() { v } else { *m };
    }
}

/// Average pooling of one plane, PyTorch's divisor (padding counted on
/// both sides alike when `count_include_pad`).
fn avg_plane(
    pool: &crate::ops::pool2d::Pool2d,
    xp: &[f32],
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    yp: &mut [f32],
) {
    let win = &pool.window;
    for oy in 0..oh {
        let y0 = (oy * win.stride[0]) as i64 - win.pad_begin[0] as i64;
        for ox in 0..ow {
            let x0 = (ox * win.stride[1]) as i64 - win.pad_begin[1] as i64;
            let y1 = (y0 + win.kernel[0] as i64).min((h + win.pad_begin[0]) as i64);
            let x1 = (x0 + win.kernel[1] as i64).min((w + win.pad_begin[1]) as i64);
            let padded = (y1 - y0) * (x1 - x0);
            let (ya, xa) = (y0.max(0) as usize, x0.max(0) as usize);
            let (yb, xb) = (
                y1.min(h as i64).max(0) as usize,
                x1.min(w as i64).max(0) as usize,
            );
            let mut s = 0.0f32;
            for iy in ya..yb {
                s += xp[iy * w + xa..iy * w + xb.max(xa)].iter().sum::<f32>();
            }
            let count = if pool.count_include_pad {
                padded as usize
            } else {
                yb.saturating_sub(ya) * xb.saturating_sub(xa)
            };
            yp[oy * ow + ox] = s / count as f32;
        }
    }
}

thread_local! {
    /// Per-thread padded, phase-split copy of one input plane.
    static PLANE: Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// A grouped (or depthwise) convolution, one output plane per task. Each
/// input plane is first copied, zero-padded, into `sw` column phases
/// (phase r holds columns r, r + sw, ...), so every tap of every stride is
/// a contiguous axpy over an output row, with no bounds logic inside.
#[allow(clippy::too_many_arguments)]
pub(super) fn grouped_conv(
    conv: &crate::ops::conv2d::Conv2d,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    os: [usize; 4],
    y: &mut [f32],
) {
    let [_, cin, h, wd] = xs;
    let [_, cout, oh, ow] = os;
    let win = &conv.window;
    let [kh, kw] = win.kernel;
    let ([sh, sw], [dh, dw], [pt, pl]) = (win.stride, win.dilation, win.pad_begin);
    let (cig, cog) = (cin / conv.groups, cout / conv.groups);
    // The padded plane covers every tap of every output.
    let prows = (oh.max(1) - 1) * sh + (kh.max(1) - 1) * dh + 1;
    let pcols = (ow.max(1) - 1) * sw + (kw.max(1) - 1) * dw + 1;
    let phase_len = pcols.div_ceil(sw);
    let run = |p: usize, yp: &mut [f32], buf: &mut Vec<f32>| {
        yp.fill(0.0);
        let (b, co) = (p / cout, p % cout);
        let g = co / cog;
        // Zeroed once: every input channel overwrites the same pixels.
        buf.clear();
        buf.resize(prows * sw * phase_len, 0.0);
        for ci in 0..cig {
            let xp = &x[(b * cin + g * cig + ci) * h * wd..][..h * wd];
            for r in 0..prows {
                let dst = &mut buf[r * sw * phase_len..(r + 1) * sw * phase_len];
                let iy = r as i64 - pt as i64;
                if iy < 0 || iy >= h as i64 {
                    continue;
                }
                let src = &xp[iy as usize * wd..(iy as usize + 1) * wd];
                crate::cpu::baseline::scatter_phases(src, pl, sw, pcols, dst, phase_len);
            }
            let taps = &w[(co * cig + ci) * kh * kw..][..kh * kw];
            let geo = TapGeo {
                kernel: [kh, kw],
                stride: [sh, sw],
                dilation: [dh, dw],
                out: [oh, ow],
                phase_len,
            };
            conv_taps(yp, buf, taps, geo);
        }
        crate::cpu::baseline::finish_channel(yp, bias.map_or(0.0, |b| b[co]), conv.clamp());
    };
    par_rows(y, (oh * ow).max(1), |p, yp| {
        with_scratch(&PLANE, |buf| run(p, yp, buf))
    });
}

/// The tap geometry of one plane of a grouped conv over its phase-split
/// copy.
#[derive(Clone, Copy)]
struct TapGeo {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    out: [usize; 2],
    phase_len: usize,
}

crate::cpu::baseline::with_avx2!(
    /// yp += every tap of one input plane (phase-split in `buf`), each
    /// tap a contiguous axpy along each output row.
    fn conv_taps(yp: &mut [f32], buf: &[f32], taps: &[f32], geo: TapGeo) = conv_taps_generic
);

#[inline(always)]
fn conv_taps_generic(yp: &mut [f32], buf: &[f32], taps: &[f32], g: TapGeo) {
    let ([kh, kw], [sh, sw], [dh, dw], [oh, ow]) = (g.kernel, g.stride, g.dilation, g.out);
    for oy in 0..oh {
        let out = &mut yp[oy * ow..(oy + 1) * ow];
        for ky in 0..kh {
            let r = oy * sh + ky * dh;
            for kx in 0..kw {
                let wv = taps[ky * kw + kx];
                let (phase, start) = ((kx * dw) % sw, (kx * dw) / sw);
                let src = &buf[(r * sw + phase) * g.phase_len + start..][..ow];
                for (o, v) in out.iter_mut().zip(src) {
                    *o += wv * v;
                }
            }
        }
    }
}

/// A transposed convolution, one output plane per task: each input pixel
/// of each channel scatters weight x value over the taps it reaches, a
/// strided axpy along each input row.
pub(super) fn conv_transpose(
    ct: &crate::ops::conv_transpose2d::ConvTranspose2d,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    os: [usize; 4],
    y: &mut [f32],
) {
    let [_, cin, h, wd] = xs;
    let [_, cout, oh, ow] = os;
    let [kh, kw] = ct.kernel;
    let ([sh, sw], [dh, dw], [ph, pw]) = (ct.stride, ct.dilation, ct.padding);
    par_rows(y, (oh * ow).max(1), |p, yp| {
        let (b, co) = (p / cout, p % cout);
        yp.fill(bias.map_or(0.0, |bv| bv[co]));
        for ci in 0..cin {
            let xp = &x[(b * cin + ci) * h * wd..][..h * wd];
            for ky in 0..kh {
                for kx in 0..kw {
                    let wv = w[((ci * cout + co) * kh + ky) * kw + kx];
                    for iy in 0..h {
                        let oy = (iy * sh + ky * dh) as i64 - ph as i64;
                        if oy < 0 || oy >= oh as i64 {
                            continue;
                        }
                        let row = &mut yp[oy as usize * ow..(oy as usize + 1) * ow];
                        for ix in 0..wd {
                            let ox = (ix * sw + kx * dw) as i64 - pw as i64;
                            if (0..ow as i64).contains(&ox) {
                                row[ox as usize] += wv * xp[iy * wd + ix];
                            }
                        }
                    }
                }
            }
        }
        if ct.relu {
            yp.iter_mut().for_each(|v| {
                if *v < 0.0 {
                    *v = 0.0
                }
            });
        }
    });
}

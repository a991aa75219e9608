//! The CPU baseline's float32 kernels for the graph ops that are not a
//! plain conv or matrix product: strided element-wise maps, reductions,
//! softmax, layer norm, pooling, batch norm, grouped (depthwise) and
//! transposed convolutions, written as a CPU library would run them (f32 all the
//! way, rows spread over rayon's pool, inner loops over contiguous
//! memory), so `run`'s GPU-against-CPU figure is against honest CPU code
//! rather than the f64 reference's bookkeeping. Each mirrors the
//! reference's semantics (NaN propagation, -inf logits, PyTorch's
//! average-pool divisor); integer arithmetic (Div, Mod on int64 tensors)
//! is left to the reference (`false`).

use super::baseline_pointwise::{binary, integer_sensitive, unary};
use super::op::{Op, Reduce, Strides, Unary};
use super::{reference, DType};
use crate::ops::pool2d::PoolKind;
use crate::ops::strided::coalesce;
use rayon::prelude::*;

/// Elements per parallel task: below two of these a node runs on one
/// thread (rayon's hand-off costs more than it saves).
const CHUNK: usize = 1 << 14;

/// Fills `y` chunk by chunk, `f(first index, chunk)`, in parallel when big.
fn par_fill(y: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    if y.len() < 2 * CHUNK {
        f(0, y);
    } else {
        y.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| f(i * CHUNK, c));
    }
}

/// Runs `f(row index, row)` over the `rows` rows of `len` in `y`, in
/// parallel when there is enough work.
fn par_rows(y: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if len == 0 {
        return;
    }
    if y.len() < 2 * CHUNK {
        y.chunks_mut(len).enumerate().for_each(|(r, c)| f(r, c));
    } else {
        y.par_chunks_mut(len).enumerate().for_each(|(r, c)| f(r, c));
    }
}

/// y[i] = f(offsets of element i in each read), for an output of `shape`
/// read through up to three strided views. Dims are coalesced, and the
/// innermost one walks each read by its stride.
fn map_strided(
    y: &mut [f32],
    shape: &[usize],
    reads: &[&Strides],
    f: impl Fn([usize; 3]) -> f32 + Sync,
) {
    if y.is_empty() {
        return;
    }
    let views: Vec<&[i64]> = reads.iter().map(|s| s.strides.as_slice()).collect();
    let (dims, st) = coalesce(shape, &views);
    let k = reads.len();
    let last = dims.len() - 1;
    par_fill(y, |start, out| {
        let mut idx = vec![0usize; dims.len()];
        let mut rem = start;
        for d in (0..dims.len()).rev() {
            idx[d] = rem % dims[d];
            rem /= dims[d];
        }
        let mut at = [0i64; 3];
        for r in 0..k {
            at[r] = reads[r].offset as i64
                + (0..dims.len())
                    .map(|d| idx[d] as i64 * st[r][d])
                    .sum::<i64>();
        }
        let step: [i64; 3] = std::array::from_fn(|r| if r < k { st[r][last] } else { 0 });
        let mut i = 0;
        while i < out.len() {
            let run = (dims[last] - idx[last]).min(out.len() - i);
            for (j, o) in out[i..i + run].iter_mut().enumerate() {
                let j = j as i64;
                *o = f(std::array::from_fn(|r| {
                    (at[r] + j * step[r]).max(0) as usize
                }));
            }
            i += run;
            idx[last] += run;
            for r in 0..k {
                at[r] += run as i64 * step[r];
            }
            let mut d = last;
            while d > 0 && idx[d] == dims[d] {
                for r in 0..k {
                    at[r] += st[r][d - 1] - dims[d] as i64 * st[r][d];
                }
                idx[d] = 0;
                d -= 1;
                idx[d] += 1;
            }
        }
    });
}

/// `op` in float32 on `ins` (shapes `shapes`) into `y` (the output, of
/// shape `out`, every element written); false where the reference's loops
/// must run it (see the module docs). The caller owns `y`, so the same
/// memory serves every run, as a CPU library's arena would.
pub fn eval_into(
    op: &Op,
    dtype: DType,
    ins: &[&[f32]],
    shapes: &[&[usize]],
    out: &[usize],
    y: &mut [f32],
) -> bool {
    if dtype != DType::F32 && integer_sensitive(op) {
        return false;
    }
    match op {
        Op::Unary(f, s) if s.is_identity(out) => unary_contiguous(*f, ins[0], y),
        Op::Unary(f, s) => {
            let x = ins[0];
            map_strided(y, out, &[s], |[i, ..]| unary(*f, x[i]));
        }
        Op::Binary(f, sa, sb) if sa.is_identity(out) && sb.is_identity(out) => {
            let (a, b) = (ins[0], ins[1]);
            par_fill(y, |start, c| {
                let (a, b) = (&a[start..start + c.len()], &b[start..start + c.len()]);
                for ((o, &x), &z) in c.iter_mut().zip(a).zip(b) {
                    *o = binary(*f, x, z);
                }
            });
        }
        Op::Binary(f, sa, sb) => {
            let (a, b) = (ins[0], ins[1]);
            map_strided(y, out, &[sa, sb], |[i, j, _]| binary(*f, a[i], b[j]));
        }
        Op::Where(sc, sa, sb) => {
            let (c, a, b) = (ins[0], ins[1], ins[2]);
            map_strided(
                y,
                out,
                &[sc, sa, sb],
                |[i, j, k]| if c[i] != 0.0 { a[j] } else { b[k] },
            );
        }
        Op::Concat { axis } => {
            let inner: usize = out[axis + 1..].iter().product();
            let outer: usize = out[..*axis].iter().product();
            let row = out[*axis] * inner;
            let mut at = 0;
            for (t, s) in ins.iter().zip(shapes) {
                let len = s[*axis] * inner;
                for o in 0..outer {
                    y[o * row + at..o * row + at + len].copy_from_slice(&t[o * len..(o + 1) * len]);
                }
                at += len;
            }
        }
        Op::Pad { begin, value, .. } => {
            let (x, xs) = (ins[0], shapes[0]);
            let Some(last) = xs.len().checked_sub(1) else {
                return false;
            };
            y.fill(*value);
            let ys = super::op::contiguous(out);
            let w = xs[last];
            for r in 0..x.len() / w.max(1) {
                let (mut rem, mut dst) = (r, begin[last]);
                for d in (0..last).rev() {
                    dst += (rem % xs[d] + begin[d]) * ys[d];
                    rem /= xs[d];
                }
                y[dst..dst + w].copy_from_slice(&x[r * w..(r + 1) * w]);
            }
        }
        Op::Gather { axis } => {
            let (data, idx, ds) = (ins[0], ins[1], shapes[0]);
            let dim = ds[*axis] as i64;
            let inner: usize = ds[axis + 1..].iter().product();
            let count = idx.len();
            for (r, row) in y.chunks_mut(inner.max(1)).enumerate() {
                let (o, j) = (r / count.max(1), r % count.max(1));
                let i = idx[j] as i64;
                let i = if i < 0 { i + dim } else { i };
                if (0..dim).contains(&i) {
                    let src = (o * dim as usize + i as usize) * inner;
                    row.copy_from_slice(&data[src..src + inner]);
                } else {
                    row.fill(f32::NAN);
                }
            }
        }
        Op::Reduce { f, outer, n, inner } => reduce(*f, ins[0], [*outer, *n, *inner], y),
        Op::Softmax {
            log,
            outer,
            n,
            inner,
        } => softmax(*log, ins[0], [*outer, *n, *inner], y),
        Op::LayerNorm { n, eps, .. } => {
            let (x, g, b) = (ins[0], ins[1], ins.get(2).copied());
            par_rows(y, *n, |r, yr| {
                let xr = &x[r * n..(r + 1) * n];
                let mean = xr.iter().sum::<f32>() / *n as f32;
                let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / *n as f32;
                let inv = 1.0 / (var + eps).sqrt();
                for (k, o) in yr.iter_mut().enumerate() {
                    *o = (xr[k] - mean) * inv * g[k] + b.map_or(0.0, |b| b[k]);
                }
            });
        }
        Op::Pool { pool, .. } => {
            let (xs, os) = (reference::nchw_out(shapes[0]), reference::nchw_out(out));
            pool2d(pool, ins[0], xs, os, y);
        }
        Op::BatchNorm(bn) => {
            let (x, xs) = (ins[0], shapes[0]);
            let Some(&c) = xs.get(1) else {
                return false;
            };
            let plane: usize = xs[2..].iter().product();
            // Scale and shift per channel, computed once in f64.
            let (scale, shift): (Vec<f32>, Vec<f32>) = (0..c)
                .map(|ch| {
                    let s = f64::from(bn.weight[ch]) / (f64::from(bn.var[ch]) + bn.eps).sqrt();
                    (
                        s as f32,
                        (f64::from(bn.bias[ch]) - f64::from(bn.mean[ch]) * s) as f32,
                    )
                })
                .unzip();
            par_rows(y, plane, |p, yr| {
                let ch = p % c;
                for (o, v) in yr.iter_mut().zip(&x[p * plane..(p + 1) * plane]) {
                    *o = v * scale[ch] + shift[ch];
                }
            });
        }
        Op::ConvTranspose { ct, .. } => {
            let (xs, os) = (reference::nchw_out(shapes[0]), reference::nchw_out(out));
            conv_transpose(ct, ins[0], xs, ins[1], ins.get(2).copied(), os, y);
        }
        Op::Conv { conv, .. } if conv.groups > 1 => {
            let (xs, os) = (reference::nchw_out(shapes[0]), reference::nchw_out(out));
            grouped_conv(conv, ins[0], xs, ins[1], ins.get(2).copied(), os, y);
        }
        _ => return false,
    }
    true
}

/// A unary function over a contiguous input: one loop per function (the
/// match is outside it), so the simple ones vectorise.
fn unary_contiguous(f: Unary, x: &[f32], y: &mut [f32]) {
    fn apply(x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32 + Sync) {
        par_fill(y, |start, c| {
            let src = &x[start..start + c.len()];
            for (o, &v) in c.iter_mut().zip(src) {
                *o = g(v);
            }
        });
    }
    match f {
        Unary::Copy => y.copy_from_slice(x),
        Unary::Relu => apply(x, y, |v| unary(Unary::Relu, v)),
        Unary::Clip(lo, hi) => apply(x, y, move |v| unary(Unary::Clip(lo, hi), v)),
        Unary::HardSwish => apply(x, y, |v| unary(Unary::HardSwish, v)),
        Unary::HardSigmoid(a, b) => apply(x, y, move |v| unary(Unary::HardSigmoid(a, b), v)),
        Unary::Sigmoid => apply(x, y, |v| unary(Unary::Sigmoid, v)),
        Unary::Gelu => apply(x, y, |v| unary(Unary::Gelu, v)),
        Unary::Erf => apply(x, y, |v| unary(Unary::Erf, v)),
        Unary::Sqrt => apply(x, y, f32::sqrt),
        Unary::Neg => apply(x, y, |v| -v),
        _ => apply(x, y, |v| unary(f, v)),
    }
}

fn reduce(f: Reduce, x: &[f32], [_, n, inner]: [usize; 3], y: &mut [f32]) {
    let fold = |acc: f32, v: f32| match f {
        Reduce::Sum | Reduce::Mean => acc + v,
        _ if acc.is_nan() || v.is_nan() => f32::NAN,
        Reduce::Max => acc.max(v),
        Reduce::Min => acc.min(v),
    };
    let init = match f {
        Reduce::Sum | Reduce::Mean => 0.0,
        Reduce::Max => f32::NEG_INFINITY,
        Reduce::Min => f32::INFINITY,
    };
    let scale = if f == Reduce::Mean {
        1.0 / n as f32
    } else {
        1.0
    };
    par_rows(y, inner.max(1), |o, yr| {
        yr.fill(init);
        for k in 0..n {
            let src = &x[(o * n + k) * inner..(o * n + k + 1) * inner];
            for (a, &v) in yr.iter_mut().zip(src) {
                *a = fold(*a, v);
            }
        }
        if scale != 1.0 {
            yr.iter_mut().for_each(|a| *a *= scale);
        }
    });
}

fn softmax(log: bool, x: &[f32], [_, n, inner]: [usize; 3], y: &mut [f32]) {
    // One task per outer slice [n, inner]: each column j is one softmax.
    par_rows(y, (n * inner).max(1), |o, ys| {
        let xs = &x[o * n * inner..(o + 1) * n * inner];
        for j in 0..inner {
            let col = |k: usize| xs[k * inner + j];
            if (0..n).any(|k| col(k).is_nan()) {
                (0..n).for_each(|k| ys[k * inner + j] = f32::NAN);
                continue;
            }
            let m = (0..n).map(col).fold(f32::NEG_INFINITY, f32::max);
            if m == f32::NEG_INFINITY {
                // Every logit -inf: zeros, as the reference has it.
                (0..n).for_each(|k| ys[k * inner + j] = 0.0);
                continue;
            }
            let mut sum = 0.0f32;
            for k in 0..n {
                let e = (col(k) - m).exp();
                ys[k * inner + j] = e;
                sum += e;
            }
            if log {
                let ls = sum.ln();
                (0..n).for_each(|k| ys[k * inner + j] = col(k) - m - ls);
            } else {
                let inv = 1.0 / sum;
                (0..n).for_each(|k| ys[k * inner + j] *= inv);
            }
        }
    });
}

/// The output positions o in 0..len whose tap o * stride + t - pad lands
/// inside 0..size.
fn valid(len: usize, stride: usize, t: usize, pad: usize, size: usize) -> std::ops::Range<usize> {
    let lo = pad.saturating_sub(t).div_ceil(stride);
    let hi = (size + pad).saturating_sub(t).div_ceil(stride);
    lo.min(len)..hi.min(len).max(lo.min(len))
}

fn pool2d(
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

/// Max pooling of one plane tap by tap: each tap updates the output
/// columns it reaches (NaN sticks, as in the reference).
fn max_plane(
    win: &crate::geometry::Window,
    xp: &[f32],
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    yp: &mut [f32],
) {
    yp.fill(f32::NEG_INFINITY);
    let (sw, dw) = (win.stride[1], win.dilation[1]);
    for ky in 0..win.kernel[0] {
        let rows = valid(oh, win.stride[0], ky * win.dilation[0], win.pad_begin[0], h);
        for kx in 0..win.kernel[1] {
            let cols = valid(ow, sw, kx * dw, win.pad_begin[1], w);
            if cols.is_empty() {
                continue;
            }
            for oy in rows.clone() {
                let iy = oy * win.stride[0] + ky * win.dilation[0] - win.pad_begin[0];
                let ix0 = cols.start * sw + kx * dw - win.pad_begin[1];
                let row = &xp[iy * w..(iy + 1) * w];
                let out = &mut yp[oy * ow + cols.start..oy * ow + cols.end];
                for (j, m) in out.iter_mut().enumerate() {
                    let v = row[ix0 + j * sw];
                    if v > *m || v.is_nan() {
                        *m = v;
                    }
                }
            }
        }
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
    static PLANE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A grouped (or depthwise) convolution, one output plane per task. Each
/// input plane is first copied, zero-padded, into `sw` column phases
/// (phase r holds columns r, r + sw, ...), so every tap of every stride is
/// a contiguous axpy over an output row, with no bounds logic inside.
#[allow(clippy::too_many_arguments)]
fn grouped_conv(
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
        buf.clear();
        buf.resize(prows * sw * phase_len, 0.0);
        for ci in 0..cig {
            let xp = &x[(b * cin + g * cig + ci) * h * wd..][..h * wd];
            for r in 0..prows {
                let dst = &mut buf[r * sw * phase_len..(r + 1) * sw * phase_len];
                let iy = r as i64 - pt as i64;
                if iy < 0 || iy >= h as i64 {
                    dst.fill(0.0);
                    continue;
                }
                let src = &xp[iy as usize * wd..(iy as usize + 1) * wd];
                for (phase, row) in dst.chunks_mut(phase_len).enumerate() {
                    // Column c = j * sw + phase reads input column c - pl.
                    for (j, o) in row.iter_mut().enumerate() {
                        let ix = (j * sw + phase) as i64 - pl as i64;
                        *o = if ix < 0 || ix >= wd as i64 {
                            0.0
                        } else {
                            src[ix as usize]
                        };
                    }
                }
            }
            for ky in 0..kh {
                for kx in 0..kw {
                    let wv = w[((co * cig + ci) * kh + ky) * kw + kx];
                    let (phase, start) = ((kx * dw) % sw, (kx * dw) / sw);
                    for oy in 0..oh {
                        let r = oy * sh + ky * dh;
                        let src = &buf[(r * sw + phase) * phase_len + start..][..ow];
                        for (o, v) in yp[oy * ow..(oy + 1) * ow].iter_mut().zip(src) {
                            *o += wv * v;
                        }
                    }
                }
            }
        }
        let b0 = bias.map_or(0.0, |b| b[co]);
        for o in yp.iter_mut() {
            *o += b0;
            if conv.relu && *o < 0.0 {
                *o = 0.0;
            }
        }
    };
    par_rows(y, (oh * ow).max(1), |p, yp| {
        PLANE.with(|c| match c.try_borrow_mut() {
            Ok(mut buf) => run(p, yp, &mut buf),
            Err(_) => run(p, yp, &mut Vec::new()),
        })
    });
}

/// y = clamp(y, lo, hi) in place, NaN kept (a Clip or ReLU fused after a
/// grouped conv).
pub fn clamp_in_place(y: &mut [f32], lo: f32, hi: f32) {
    par_fill(y, |_, c| {
        for v in c.iter_mut() {
            *v = if *v < lo {
                lo
            } else if *v > hi {
                hi
            } else {
                *v
            };
        }
    });
}

/// A transposed convolution, one output plane per task: each input pixel
/// of each channel scatters weight x value over the taps it reaches, a
/// strided axpy along each input row.
fn conv_transpose(
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

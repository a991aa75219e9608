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

use super::baseline_par::{par_fill, par_rows};
use super::baseline_pointwise::{binary, integer_sensitive, unary};
use super::op::{Binary, Op, Reduce, Strides, Unary};
use super::{reference, DType};
use crate::ops::strided::coalesce;

/// y[i] = f(offsets of element i in each read), for an output of `shape`
/// read through up to three strided views. Dims are coalesced, and the
/// innermost one walks each read by its stride.
fn map_strided(
    y: &mut [f32],
    shape: &[usize],
    reads: &[&Strides],
    f: impl Fn([usize; 3]) -> f32 + Sync,
) {
    map_runs(y, shape, reads, |out, at, step| {
        for (j, o) in out.iter_mut().enumerate() {
            let j = j as i64;
            *o = f(std::array::from_fn(|r| {
                (at[r] + j * step[r]).max(0) as usize
            }));
        }
    });
}

/// [`map_strided`] a run at a time: `f(run of y, first offset in each
/// read, each read's step along the run)`, a run being a stretch of the
/// innermost coalesced dim, so that f can loop over slices.
fn map_runs(
    y: &mut [f32],
    shape: &[usize],
    reads: &[&Strides],
    f: impl Fn(&mut [f32], [i64; 3], [i64; 3]) + Sync,
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
            f(&mut out[i..i + run], at, step);
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
        Op::Unary(Unary::Copy, s) if super::baseline_par::transpose_copy(y, out, s, ins[0]) => {}
        Op::Unary(f, s) => {
            // Runs that read contiguously (a Transpose keeping the last
            // axis, a Slice) are slice copies or slice loops.
            let x = ins[0];
            map_runs(y, out, &[s], |o, [i, ..], [step, ..]| {
                let n = o.len();
                match (step, f) {
                    (1, Unary::Copy) => o.copy_from_slice(&x[i as usize..i as usize + n]),
                    (1, _) => unary_contiguous_run(*f, &x[i as usize..i as usize + n], o),
                    _ => {
                        for (t, o) in o.iter_mut().enumerate() {
                            *o = unary(*f, x[(i + t as i64 * step).max(0) as usize]);
                        }
                    }
                }
            });
        }
        Op::Binary(f, sa, sb) if sa.is_identity(out) && sb.is_identity(out) => {
            let (a, b) = (ins[0], ins[1]);
            par_fill(y, |start, c| {
                let (a, b) = (&a[start..start + c.len()], &b[start..start + c.len()]);
                binary_slices(*f, c, a, b);
            });
        }
        Op::Binary(f, sa, sb) => {
            let (a, b) = (ins[0], ins[1]);
            // Runs along which each side steps by 1 or not at all (a bias
            // row, a scalar) are slice loops; the rest walk element by
            // element.
            map_runs(y, out, &[sa, sb], |o, [i, j, _], step| {
                let (i, j, n) = (i.max(0) as usize, j.max(0) as usize, o.len());
                match (step[0], step[1]) {
                    (1, 1) => binary_slices(*f, o, &a[i..i + n], &b[j..j + n]),
                    (1, 0) => binary_scalar(*f, o, &a[i..i + n], b[j], false),
                    (0, 1) => binary_scalar(*f, o, &b[j..j + n], a[i], true),
                    (si, sj) => {
                        for (t, o) in o.iter_mut().enumerate() {
                            let t = t as i64;
                            let (ii, jj) =
                                ((i as i64 + t * si) as usize, (j as i64 + t * sj) as usize);
                            *o = binary(*f, a[ii], b[jj]);
                        }
                    }
                }
            });
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
                let mean = lane_sum(xr, 0.0) / *n as f32;
                let var = lane_sum(xr, mean) / *n as f32;
                let inv = 1.0 / (var + eps).sqrt();
                for (k, o) in yr.iter_mut().enumerate() {
                    *o = (xr[k] - mean) * inv * g[k] + b.map_or(0.0, |b| b[k]);
                }
            });
        }
        Op::Pool { pool, .. } => {
            let (xs, os) = (reference::nchw_out(shapes[0]), reference::nchw_out(out));
            super::baseline_window::pool2d(pool, ins[0], xs, os, y);
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
            super::baseline_window::conv_transpose(
                ct,
                ins[0],
                xs,
                ins[1],
                ins.get(2).copied(),
                os,
                y,
            );
        }
        Op::Conv { conv, .. } if conv.groups > 1 => {
            let (xs, os) = (reference::nchw_out(shapes[0]), reference::nchw_out(out));
            super::baseline_window::grouped_conv(
                conv,
                ins[0],
                xs,
                ins[1],
                ins.get(2).copied(),
                os,
                y,
            );
        }
        _ => return false,
    }
    true
}

crate::cpu::baseline::with_avx2!(
    /// y = erf(x) element for element (the GELU of ViTs' MLPs, unfused).
    fn erf_into(x: &[f32], y: &mut [f32]) = erf_into_generic
);

#[inline(always)]
fn erf_into_generic(x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = unary(Unary::Erf, v);
    }
}

crate::cpu::baseline::with_avx2!(
    /// y = gelu(x), the exact form, element for element (a ViT's MLP,
    /// its five exported nodes fused into one).
    fn gelu_into(x: &[f32], y: &mut [f32]) = gelu_into_generic
);

crate::cpu::baseline::with_avx2!(
    /// x = gelu(x) in place (a GELU fused into the linear layer before it).
    pub(super) fn gelu_in_place(x: &mut [f32]) = gelu_in_place_generic
);

#[inline(always)]
fn gelu_in_place_generic(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = unary(Unary::Gelu, *v);
    }
}

#[inline(always)]
fn gelu_into_generic(x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = unary(Unary::Gelu, v);
    }
}

crate::cpu::baseline::with_avx2!(
    /// sum(x) when `center` is 0, else sum((x - center)^2): sixteen
    /// running sums side by side, so the loop vectorises instead of
    /// waiting on one add after another (a blocked order, which the
    /// float32 bound allows as it allows a GPU's tree).
    fn lane_sum(x: &[f32], center: f32) -> f32 = lane_sum_generic
);

#[inline(always)]
fn lane_sum_generic(x: &[f32], center: f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    let term = |v: f32| {
        if center == 0.0 {
            v
        } else {
            (v - center) * (v - center)
        }
    };
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += term(v);
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|&v| term(v)).sum::<f32>()
}

crate::cpu::baseline::with_avx2!(
    /// o = f(a, b) element for element.
    fn binary_slices(f: Binary, o: &mut [f32], a: &[f32], b: &[f32]) = binary_slices_generic
);

/// One loop per common function (the match outside it), so they
/// vectorise; the others call `binary` per element.
#[inline(always)]
fn binary_slices_generic(f: Binary, o: &mut [f32], a: &[f32], b: &[f32]) {
    let it = o.iter_mut().zip(a).zip(b);
    match f {
        Binary::Add => it.for_each(|((o, &x), &z)| *o = x + z),
        Binary::Sub => it.for_each(|((o, &x), &z)| *o = x - z),
        Binary::Mul => it.for_each(|((o, &x), &z)| *o = x * z),
        Binary::Div => it.for_each(|((o, &x), &z)| *o = x / z),
        _ => it.for_each(|((o, &x), &z)| *o = binary(f, x, z)),
    }
}

crate::cpu::baseline::with_avx2!(
    /// o = f(a, s) element for element, or f(s, a) when `swap`.
    fn binary_scalar(f: Binary, o: &mut [f32], a: &[f32], s: f32, swap: bool) = binary_scalar_generic
);

#[inline(always)]
fn binary_scalar_generic(f: Binary, o: &mut [f32], a: &[f32], s: f32, swap: bool) {
    let it = o.iter_mut().zip(a);
    match (f, swap) {
        (Binary::Add, _) => it.for_each(|(o, &x)| *o = x + s),
        (Binary::Mul, _) => it.for_each(|(o, &x)| *o = x * s),
        (Binary::Sub, false) => it.for_each(|(o, &x)| *o = x - s),
        (Binary::Sub, true) => it.for_each(|(o, &x)| *o = s - x),
        (Binary::Div, false) => it.for_each(|(o, &x)| *o = x / s),
        (Binary::Div, true) => it.for_each(|(o, &x)| *o = s / x),
        (_, false) => it.for_each(|(o, &x)| *o = binary(f, x, s)),
        (_, true) => it.for_each(|(o, &x)| *o = binary(f, s, x)),
    }
}

/// A unary function over a contiguous input: one loop per function (the
/// match is outside it), so the simple ones vectorise.
fn unary_contiguous(f: Unary, x: &[f32], y: &mut [f32]) {
    match f {
        Unary::Copy => y.copy_from_slice(x),
        _ => par_fill(y, |start, c| {
            unary_contiguous_run(f, &x[start..start + c.len()], c)
        }),
    }
}

/// [`unary_contiguous`] on this thread: y = f(x), same lengths.
fn unary_contiguous_run(f: Unary, x: &[f32], y: &mut [f32]) {
    fn apply(x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = g(v);
        }
    }
    match f {
        Unary::Copy => y.copy_from_slice(x),
        Unary::Relu => apply(x, y, |v| unary(Unary::Relu, v)),
        Unary::Clip(lo, hi) => apply(x, y, move |v| unary(Unary::Clip(lo, hi), v)),
        Unary::HardSwish => apply(x, y, |v| unary(Unary::HardSwish, v)),
        Unary::HardSigmoid(a, b) => apply(x, y, move |v| unary(Unary::HardSigmoid(a, b), v)),
        Unary::Sigmoid => apply(x, y, |v| unary(Unary::Sigmoid, v)),
        Unary::Gelu => gelu_into(x, y),
        Unary::Erf => erf_into(x, y),
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
    if inner == 1 && n > 0 {
        // One contiguous run per output (a global average pool): a loop
        // over one-element rows cost 0.14 ms for mobilenet_v2's 1280 x 49.
        par_fill(y, |first, ys| {
            for (j, a) in ys.iter_mut().enumerate() {
                let run = &x[(first + j) * n..(first + j + 1) * n];
                *a = match f {
                    Reduce::Sum | Reduce::Mean => lane_sum(run, 0.0) * scale,
                    _ => run.iter().fold(init, |acc, &v| fold(acc, v)),
                };
            }
        });
        return;
    }
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

//! conv2d as im2col + GEMM, as a CPU library would run it.

use super::packed::{gemm, Dense, Epilogue, OutMap, PackB, PackedWeights, MR, NR};
use super::{finish_channel, sgemm, threads, Mat, SendPtr};
use crate::geometry::Window;
use crate::ops::conv2d::Conv2d;
use gemm::Parallelism;
use rayon::prelude::*;

thread_local! {
    /// Per-thread im2col scratch for batches run image-parallel.
    static COLS: super::Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest im2col buffer (floats, per image in flight): bigger images are
/// lowered a band of output pixels at a time.
const IM2COL_FLOATS: usize = 1 << 21;
/// Narrowest band of output pixels worth a GEMM call.
const MIN_BAND: usize = 256;

/// out = act(conv(x, w) + bias) for x [N, Cin, H, W] and w [Cout, Cin, kh,
/// kw]; `out` is the layer's output shape (as `Conv2d::output_shape` gives
/// it). Per image: the input is lowered to a [Cin*kh*kw, OH*OW] matrix
/// (padding as zeros; stride, asymmetric padding and dilation respected)
/// and one GEMM [Cout, Cin*kh*kw] x [.., OH*OW] gives the output; a 1x1,
/// stride-1, unpadded conv multiplies the input itself. Images run in
/// parallel when N > 1.
///
/// Panics when a shape or slice disagrees with the layer, when the bias
/// is missing (bias = true) or unexpected (bias = false), or for a grouped
/// conv (groups > 1), which this baseline does not lower.
pub fn conv2d(
    conv: &Conv2d,
    x: &[f32],
    x_shape: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    out: [usize; 4],
) -> Vec<f32> {
    let mut y = vec![0.0f32; out.iter().product()];
    let clamp = conv.clamp();
    conv2d_into(
        conv,
        x,
        x_shape,
        w,
        bias,
        out,
        clamp,
        &mut y,
        &mut Vec::new(),
    );
    y
}

/// [`conv2d`] into `y` (every element written), the output clamped to
/// `clamp` (NaN kept) in the bias pass instead of `conv.relu` (a Clip or
/// ReLU after the conv, fused as CPU libraries fuse it), with `scratch` as
/// the im2col buffer of a single image: a caller that keeps both between
/// calls touches no fresh memory (on a VM, page faults on fresh buffers
/// cost as much as a small layer).
///
/// Panics as [`conv2d`] does, and when `y` is not the output's size.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_into(
    conv: &Conv2d,
    x: &[f32],
    x_shape: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    out: [usize; 4],
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let bias = check_args(conv, x_shape, out, x.len(), bias, y.len());
    assert_eq!(
        w.len(),
        conv.weight_shape().iter().product::<usize>(),
        "baseline conv2d: weight has {} values for {:?}",
        w.len(),
        conv.weight_shape()
    );
    if y.is_empty() {
        return;
    }
    let [n, cin, h, wd] = x_shape;
    let [_, cout, oh, ow] = out;
    let win = &conv.window;
    let [kh, kw] = win.kernel;
    let kk = cin * kh * kw;
    let p = oh * ow;
    let direct = kh == 1
        && kw == 1
        && win.stride == [1, 1]
        && win.pad_begin == [0, 0]
        && win.pad_end == [0, 0];
    let band = if kk.saturating_mul(p) <= IM2COL_FLOATS {
        p
    } else {
        (IM2COL_FLOATS / kk.max(1)).max(MIN_BAND).min(p)
    };
    let threads = threads();
    let plane = cin * h * wd;

    // One image: x_img [Cin, H, W] -> y_img [Cout, OH*OW].
    let image = |x_img: &[f32], y_img: &mut [f32], cols: &mut Vec<f32>, par: bool| {
        let gemm_par = if par {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        let lhs = Mat {
            ptr: w.as_ptr(),
            rs: kk,
            cs: 1,
        };
        if direct {
            let rhs = Mat {
                ptr: x_img.as_ptr(),
                rs: p,
                cs: 1,
            };
            // SAFETY: w is [Cout, Cin], x_img [Cin, H*W] with H*W = p, y_img
            // [Cout, p]; this call has y_img to itself.
            unsafe { sgemm(cout, p, cin, y_img.as_mut_ptr(), p, lhs, rhs, 1.0, gemm_par) };
        } else {
            cols.resize(kk * band, 0.0);
            for p0 in (0..p).step_by(band) {
                let pc = band.min(p - p0);
                let cols = &mut cols[..kk * pc];
                im2col(win, x_img, [cin, h, wd], ow, p0, cols, par);
                let rhs = Mat {
                    ptr: cols.as_ptr(),
                    rs: pc,
                    cs: 1,
                };
                // SAFETY: cols is [kk, pc]; the destination is columns
                // p0..p0+pc of y_img [Cout, p], which this call owns.
                unsafe {
                    sgemm(
                        cout,
                        pc,
                        kk,
                        y_img.as_mut_ptr().add(p0),
                        p,
                        lhs,
                        rhs,
                        1.0,
                        gemm_par,
                    )
                };
            }
        }
        if bias.is_some() || clamp.is_some() {
            let fin = |(co, row): (usize, &mut [f32])| {
                finish_channel(row, bias.map_or(0.0, |b| b[co]), clamp)
            };
            if par && cout * p >= 1 << 16 {
                y_img.par_chunks_mut(p).enumerate().for_each(fin);
            } else {
                y_img.chunks_mut(p).enumerate().for_each(fin);
            }
        }
    };

    if n > 1 && threads > 1 {
        // Images in parallel; with fewer images than threads each GEMM
        // splits too (rayon balances the nesting).
        let inner = n < threads;
        y.par_chunks_mut(cout * p)
            .zip(x.par_chunks(plane))
            .for_each(|(y_img, x_img)| {
                // Each thread keeps its scratch between calls; a task
                // stolen while this thread's is in use (nested rayon
                // work) takes a fresh one.
                super::with_scratch(&COLS, |cols| image(x_img, y_img, cols, inner))
            });
    } else {
        for (y_img, x_img) in y.chunks_mut(cout * p).zip(x.chunks(plane)) {
            image(x_img, y_img, scratch, threads > 1);
        }
    }
}

/// [`conv2d_into`] (plus `residual`, added element for element before the
/// clamp, as a residual connection's Add) through the packed AVX-512 GEMM, the weights packed
/// once by the caller (`PackedWeights::new(w, Cout, Cin kh kw)`). A 1x1,
/// stride-1, unpadded conv multiplies the input itself; any other is run
/// over its padded, phase-split input (`direct`), with no im2col. One
/// product covers the whole batch; bias and clamp are applied in the tile
/// store, and the work is split among threads by columns (pixels of every
/// image) or by output channels, whichever keeps each thread's reads
/// smaller.
///
/// Panics as [`conv2d_into`] does, and when the packed weights are not
/// the layer's [Cout, Cin kh kw].
///
/// ```
/// use wgsl_nn::cpu::baseline::{self, packed::PackedWeights};
/// use wgsl_nn::ops::conv2d::Conv2d;
/// let conv = Conv2d::new(1, 1, 1).bias(false);
/// let x = [1.0f32, 2.0, 3.0, 4.0];
/// if let Some(pw) = PackedWeights::new(&[2.0], 1, 1) {
///     let mut y = [f32::NAN; 4];
///     // A residual added before the ReLU: 2x + r, clamped at 0.
///     let r = [-3.0f32, 0.0, 0.0, -10.0];
///     let relu = Some((0.0, f32::INFINITY));
///     baseline::conv2d_packed_into(&conv, &pw, &x, [1, 1, 2, 2], None, [1, 1, 2, 2], relu, Some(&r), &mut y);
///     assert_eq!(y, [0.0, 4.0, 6.0, 0.0]);
/// }
/// ```
#[allow(clippy::too_many_arguments)]
pub fn conv2d_packed_into(
    conv: &Conv2d,
    pw: &PackedWeights,
    x: &[f32],
    x_shape: [usize; 4],
    bias: Option<&[f32]>,
    out: [usize; 4],
    clamp: Option<(f32, f32)>,
    residual: Option<&[f32]>,
    y: &mut [f32],
) {
    let bias = check_args(conv, x_shape, out, x.len(), bias, y.len());
    if let Some(r) = residual {
        assert_eq!(r.len(), y.len(), "baseline conv2d: residual size");
    }
    let [n, cin, h, wd] = x_shape;
    let [_, cout, oh, ow] = out;
    let [kh, kw] = conv.window.kernel;
    assert_eq!(
        (pw.rows(), pw.depth()),
        (cout, cin * kh * kw),
        "baseline conv2d: packed weights are not [Cout, Cin kh kw]"
    );
    let p = oh * ow;
    if y.is_empty() {
        return;
    }
    let win = &conv.window;
    let direct = kh == 1
        && kw == 1
        && win.stride == [1, 1]
        && win.pad_begin == [0, 0]
        && win.pad_end == [0, 0];
    let epi = Epilogue {
        bias,
        clamp: clamp.or(conv.clamp()),
        residual,
    };
    let yp = y.as_mut_ptr();
    if direct {
        // A 1x1, stride-1, unpadded conv multiplies the input itself.
        let src = Dense {
            b: x,
            cols: p,
            image_stride: cin * h * wd,
        };
        run_split(pw, &src, OutMap::dense(yp, cout * p, p), n * p, epi);
    } else {
        super::direct::with_padded(conv, x, x_shape, out, yp, |src, map, cols| {
            run_split(pw, src, map, cols, epi)
        });
    }
}

/// One product over the whole batch (`cols` columns over every image),
/// split among threads by rows where the weights outweigh the columns
/// (each thread then reads only its share of them), else by columns.
fn run_split(pw: &PackedWeights, src: &dyn PackB, out: OutMap, cols: usize, epi: Epilogue) {
    let threads = threads();
    let (m, mr) = (pw.rows(), pw.panel_rows());
    let (row_panels, col_panels) = (m.div_ceil(mr), cols.div_ceil(NR));
    let (row_parts, col_parts) = if m > cols {
        let r = threads.min(row_panels);
        (r, threads.div_ceil(r).min(col_panels))
    } else {
        let c = threads.min(col_panels);
        (threads.div_ceil(c).min(row_panels), c)
    };
    let mut tasks = Vec::with_capacity(row_parts * col_parts);
    for cpart in 0..col_parts {
        let c0 = cpart * col_panels / col_parts * NR;
        let c1 = ((cpart + 1) * col_panels / col_parts * NR).min(cols);
        for rpart in 0..row_parts {
            let r0 = rpart * row_panels / row_parts * mr;
            let r1 = ((rpart + 1) * row_panels / row_parts * mr).min(m);
            tasks.push((r0..r1, c0..c1));
        }
    }
    let out = SendPtr(out);
    let run = |(rows, cols): &(std::ops::Range<usize>, std::ops::Range<usize>)| {
        // SAFETY: the output holds every image of [M, oh, ow]; each task's
        // rows x columns are its own.
        unsafe {
            if pw.panel_rows() == MR {
                gemm(pw, src, rows.clone(), cols.clone(), out.get(), epi)
            } else {
                super::packed_wide::gemm(pw, src, rows.clone(), cols.clone(), out.get(), epi)
            }
        }
    };
    if tasks.len() > 1 {
        tasks.par_iter().for_each(run);
    } else {
        tasks.iter().for_each(run);
    }
}

/// The checks both conv entries make: groups 1, the layer's output shape,
/// the input, bias and output sizes. Returns the bias.
fn check_args<'b>(
    conv: &Conv2d,
    x_shape: [usize; 4],
    out: [usize; 4],
    x_len: usize,
    bias: Option<&'b [f32]>,
    y_len: usize,
) -> Option<&'b [f32]> {
    assert_eq!(
        conv.groups, 1,
        "baseline conv2d: groups > 1 is not lowered here"
    );
    let expected = conv
        .output_shape(&x_shape, "baseline conv2d")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out, expected,
        "baseline conv2d: output shape {out:?} does not match the layer's {expected:?}"
    );
    assert_eq!(
        x_len,
        super::numel("baseline conv2d input", &x_shape),
        "baseline conv2d: x has {x_len} values for shape {x_shape:?}"
    );
    assert_eq!(
        y_len,
        super::numel("baseline conv2d output", &out),
        "baseline conv2d: output buffer size"
    );
    let cout = out[1];
    match (conv.bias, bias) {
        (true, Some(b)) => {
            assert_eq!(
                b.len(),
                cout,
                "baseline conv2d: bias has {} values for {cout} channels",
                b.len()
            );
            Some(b)
        }
        (true, None) => panic!("baseline conv2d: the layer has a bias but none was given"),
        (false, Some(_)) => {
            panic!("baseline conv2d: a bias was given but the layer has bias=false")
        }
        (false, None) => None,
    }
}

/// Lowers output pixels p0.. (as many as `cols` has columns) of one image:
/// cols[(ci, ky, kx), t] = x[ci, iy, ix] for output pixel p0 + t, or 0 in
/// the padding.
fn im2col(
    win: &Window,
    x_img: &[f32],
    [cin, h, wd]: [usize; 3],
    ow: usize,
    p0: usize,
    cols: &mut [f32],
    par: bool,
) {
    let [kh, kw] = win.kernel;
    let pc = cols.len() / (cin * kh * kw);
    let row = |(r, row): (usize, &mut [f32])| {
        let (ci, ky, kx) = (r / (kh * kw), r / kw % kh, r % kw);
        let plane = &x_img[ci * h * wd..(ci + 1) * h * wd];
        lower_row(win, plane, [h, wd], ow, [ky, kx], p0, row);
    };
    if par && cols.len() >= 1 << 15 {
        cols.par_chunks_mut(pc).enumerate().for_each(row);
    } else {
        cols.chunks_mut(pc).enumerate().for_each(row);
    }
}

/// One row of the lowered matrix: tap (ky, kx) of one input plane for
/// output pixels p0 .. p0 + row.len(), walked one output row at a time.
fn lower_row(
    win: &Window,
    plane: &[f32],
    [h, wd]: [usize; 2],
    ow: usize,
    [ky, kx]: [usize; 2],
    p0: usize,
    row: &mut [f32],
) {
    let [sh, sw] = win.stride;
    // ix = ox * sw + off; valid ox: lo <= ox < hi.
    let off = (kx * win.dilation[1]) as isize - win.pad_begin[1] as isize;
    let lo = (if off >= 0 { 0 } else { (-off) as usize }).div_ceil(sw);
    let hi = (wd as isize - off).max(0) as usize;
    let hi = hi.div_ceil(sw).min(ow);
    let (mut oy, mut ox0, mut pos) = (p0 / ow, p0 % ow, 0);
    while pos < row.len() {
        let take = (ow - ox0).min(row.len() - pos);
        let seg = &mut row[pos..pos + take];
        let iy = (oy * sh + ky * win.dilation[0]) as isize - win.pad_begin[0] as isize;
        if iy < 0 || iy >= h as isize {
            seg.fill(0.0);
        } else {
            let src = &plane[iy as usize * wd..(iy as usize + 1) * wd];
            let (a, b) = (lo.clamp(ox0, ox0 + take), hi.clamp(ox0, ox0 + take));
            let (a, b) = (a - ox0, b.max(a) - ox0);
            seg[..a].fill(0.0);
            seg[b..].fill(0.0);
            let first = ((a + ox0) * sw) as isize + off;
            if a == b {
                // the whole stretch lies in the padding
            } else if sw == 1 {
                seg[a..b].copy_from_slice(&src[first as usize..first as usize + (b - a)]);
            } else {
                for (t, dst) in seg[a..b].iter_mut().enumerate() {
                    *dst = src[first as usize + t * sw];
                }
            }
        }
        pos += take;
        oy += 1;
        ox0 = 0;
    }
}

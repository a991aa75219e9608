//! The channel-blocked layout (NCHW16c), the 1x1 conv that runs in it,
//! and linear layers on the same tiles.
//!
//! In NCHW a MobileNet block pays twice for its layout: the depthwise
//! conv gathers sixteen planes into pixel vectors and scatters them back,
//! and the 1x1 convs' tiles write eight planes 50 KB apart. onnxruntime
//! keeps such chains in NCHWc: [N, C/16, H, W, 16], a pixel's sixteen
//! channels of a block adjacent. Here too: a depthwise conv reads and
//! writes its band rows as they lie, and a 1x1 conv's tile is 16 or 32
//! output channels (one zmm each) by 12 pixels, each input channel of a
//! pixel broadcast from where it lies and every result stored as one
//! vector. Channels past C (up to the next 16) are padding: the kernels
//! never read them into a real channel's sum.

use super::{threads, SendPtr};
use rayon::prelude::*;

/// Channels per block (one zmm of f32).
pub const BLK: usize = 16;
/// Pixels per tile of the 1x1 conv: 2 x 12 accumulators leave LLVM
/// registers for the weights and broadcasts (at 14 it spilled the tile).
const NP: usize = 12;

/// Floats of [N, C, H, W] in the blocked layout (C rounded up to 16).
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::blocked_len;
/// assert_eq!(blocked_len([2, 24, 3, 3]), 2 * 32 * 9);
/// ```
pub fn blocked_len([n, c, h, w]: [usize; 4]) -> usize {
    n * c.div_ceil(BLK) * BLK * h * w
}

/// NCHW `x` of `shape` into the blocked `y` ([`blocked_len`] floats;
/// padding channels zero).
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::{from_blocked, to_blocked};
/// let x: Vec<f32> = (0..2 * 17 * 3).map(|v| v as f32).collect();
/// let mut b = vec![f32::NAN; 2 * 32 * 3];
/// to_blocked(&x, [2, 17, 1, 3], &mut b);
/// assert_eq!(b[16 + 1], x[1 * 3 + 1]); // image 0, pixel 1, channel 1
/// let mut back = vec![f32::NAN; x.len()];
/// from_blocked(&b, [2, 17, 1, 3], &mut back);
/// assert_eq!(back, x);
/// ```
pub fn to_blocked(x: &[f32], shape: [usize; 4], y: &mut [f32]) {
    reorder(x, shape, y, true)
}

/// The blocked `x` ([`blocked_len`] floats) back into NCHW `y` of `shape`.
/// See [`to_blocked`].
pub fn from_blocked(x: &[f32], shape: [usize; 4], y: &mut [f32]) {
    reorder(x, shape, y, false)
}

fn reorder(x: &[f32], [n, c, h, w]: [usize; 4], y: &mut [f32], into: bool) {
    let (plane, cb) = (h * w, c.div_ceil(BLK));
    let (plain, blocked) = (n * c * plane, blocked_len([n, c, h, w]));
    let (xl, yl) = if into {
        (plain, blocked)
    } else {
        (blocked, plain)
    };
    assert!(
        x.len() >= xl && y.len() >= yl,
        "blocked reorder: {} / {} floats for [{n}, {c}, {h}, {w}]",
        x.len(),
        y.len()
    );
    // Both layouts hold a block (image b, channels 16 k ..) in one run:
    // 16 x plane floats blocked, its channels' planes (fewer in the last
    // block) in NCHW; each task reorders one.
    let one = |(i, dst): (usize, &mut [f32])| {
        let (b, k) = (i / cb, i % cb);
        let chans = BLK.min(c - k * BLK);
        let (po, bo) = ((b * c + k * BLK) * plane, (b * cb + k) * BLK * plane);
        for q in 0..plane {
            for j in 0..BLK {
                if into {
                    dst[q * BLK + j] = if j < chans {
                        x[po + j * plane + q]
                    } else {
                        0.0
                    };
                } else if j < chans {
                    dst[j * plane + q] = x[bo + q * BLK + j];
                }
            }
        }
    };
    let blocks = (0..n).flat_map(|_| (0..cb).map(|k| BLK.min(c - k * BLK) * plane));
    let mut rest = &mut y[..yl];
    let mut runs = Vec::with_capacity(n * cb);
    for len in blocks {
        let len = if into { BLK * plane } else { len };
        let (run, tail) = rest.split_at_mut(len);
        runs.push(run);
        rest = tail;
    }
    if runs.len() > 1 && plain >= 1 << 14 {
        runs.into_par_iter().enumerate().for_each(one);
    } else {
        runs.into_iter().enumerate().for_each(one);
    }
}

/// A 1x1 conv's [Cout, Cin] weights for [`pointwise_blocked_into`]: per
/// block of 16 output channels, `[Cin][16]` floats (channels past Cout 0).
pub struct BlockedWeights {
    cout: usize,
    cin: usize,
    data: Vec<f32>,
}

impl BlockedWeights {
    /// Packs row-major [cout, cin] `w`.
    ///
    /// ```
    /// use wgsl_nn::cpu::baseline::blocked::BlockedWeights;
    /// let bw = BlockedWeights::new(&[1.0; 6], 3, 2);
    /// assert_eq!((bw.rows(), bw.depth()), (3, 2));
    /// ```
    pub fn new(w: &[f32], cout: usize, cin: usize) -> Self {
        assert_eq!(w.len(), cout * cin, "BlockedWeights: [{cout}, {cin}]");
        let mut data = vec![0.0; cout.div_ceil(BLK) * cin * BLK];
        for co in 0..cout {
            for ci in 0..cin {
                data[((co / BLK) * cin + ci) * BLK + co % BLK] = w[co * cin + ci];
            }
        }
        Self { cout, cin, data }
    }

    /// Output channels.
    pub fn rows(&self) -> usize {
        self.cout
    }

    /// Input channels.
    pub fn depth(&self) -> usize {
        self.cin
    }

    /// The packed floats: per block of 16 rows, `[depth][16]`.
    pub(super) fn data(&self) -> &[f32] {
        &self.data
    }
}

/// What the 1x1 conv's store applies, in the blocked layout as its output.
#[derive(Clone, Copy)]
pub struct BlockedEpilogue<'a> {
    /// One per output channel.
    pub bias: Option<&'a [f32]>,
    /// Added before the clamp: a residual branch, blocked as the output.
    pub residual: Option<&'a [f32]>,
    /// (lo, hi), NaN kept.
    pub clamp: Option<(f32, f32)>,
}

/// y = clamp(W x + bias + residual) for a 1x1, stride-1, unpadded conv, x
/// blocked [N, Cin, pixels] and y blocked [N, Cout, pixels]. Every float
/// of y's blocks is written, padding channels as W's zero rows give them.
/// Tasks are runs of (image, 12 pixels, two output blocks), about four
/// per thread, shared among rayon's threads.
///
/// Panics when a slice is shorter than its blocked shape.
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::*;
/// // Two input channels, one output channel: y = 2 x0 + 3 x1 + 1.
/// let bw = BlockedWeights::new(&[2.0, 3.0], 1, 2);
/// let x: Vec<f32> = [1.0f32, 10.0, 2.0, 20.0].to_vec(); // [1, 2, 1, 2]
/// let mut xb = vec![0.0; blocked_len([1, 2, 1, 2])];
/// to_blocked(&x, [1, 2, 1, 2], &mut xb);
/// let mut yb = vec![f32::NAN; blocked_len([1, 1, 1, 2])];
/// let epi = BlockedEpilogue { bias: Some(&[1.0]), residual: None, clamp: None };
/// pointwise_blocked_into(&bw, &xb, 1, 2, epi, &mut yb);
/// let mut y = [0.0f32; 2];
/// from_blocked(&yb, [1, 1, 1, 2], &mut y);
/// assert_eq!(y, [2.0 + 6.0 + 1.0, 20.0 + 60.0 + 1.0]);
/// ```
pub fn pointwise_blocked_into(
    bw: &BlockedWeights,
    x: &[f32],
    n: usize,
    pixels: usize,
    epi: BlockedEpilogue<'_>,
    y: &mut [f32],
) {
    pointwise_path(bw, x, n, pixels, epi, y, true)
}

/// [`pointwise_blocked_into`] without its AVX-512 tiles (what CPUs
/// without them run), so tests can check that path on any CPU.
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::*;
/// let bw = BlockedWeights::new(&[2.0], 1, 1);
/// let mut x = vec![0.0; 16];
/// x[0] = 3.0;
/// let mut y = vec![f32::NAN; 16];
/// let epi = BlockedEpilogue { bias: None, residual: None, clamp: Some((0.0, 5.0)) };
/// pointwise_blocked_portable_into(&bw, &x, 1, 1, epi, &mut y);
/// assert_eq!(y[0], 5.0);
/// ```
pub fn pointwise_blocked_portable_into(
    bw: &BlockedWeights,
    x: &[f32],
    n: usize,
    pixels: usize,
    epi: BlockedEpilogue<'_>,
    y: &mut [f32],
) {
    pointwise_path(bw, x, n, pixels, epi, y, false)
}

/// An in-place pass over rows of a product's output (a fused activation),
/// run by the tasks of [`linear_into`].
pub type RowsFn = dyn Fn(&mut [f32]) + Sync;

/// y = clamp(x W^T + bias) for row-major x [rows, Cin] and y [rows, Cout]
/// (a linear layer: MatMul or Gemm with constant weights), by the 1x1
/// conv's tiles with rows as pixels. Each task takes 12 rows: it copies
/// them blocked, runs every output block over them and copies the
/// results back into y's rows, so nothing runs serially around the
/// parallel part. `finish`, if any, then runs over the task's rows of y
/// while they are in cache (a fused activation). `epi.residual` must be
/// None.
///
/// Panics when a slice is shorter than its shape or a residual is given.
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::*;
/// // W = [[1, 2], [3, 4], [5, 6]]: three outputs of two inputs.
/// let bw = BlockedWeights::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2);
/// let x = [1.0f32, 1.0, 0.0, 2.0];
/// let mut y = [f32::NAN; 6];
/// let epi = BlockedEpilogue { bias: Some(&[0.5, 0.5, 0.5]), residual: None, clamp: None };
/// linear_into(&bw, &x, 2, epi, None, &mut y);
/// assert_eq!(y, [3.5, 7.5, 11.5, 4.5, 8.5, 12.5]);
/// ```
pub fn linear_into(
    bw: &BlockedWeights,
    x: &[f32],
    rows: usize,
    epi: BlockedEpilogue<'_>,
    finish: Option<&RowsFn>,
    y: &mut [f32],
) {
    let (cin, cout) = (bw.cin, bw.cout);
    let (cbi, cbo) = (cin.div_ceil(BLK), cout.div_ceil(BLK));
    assert!(
        x.len() >= rows * cin && y.len() >= rows * cout,
        "linear_into: x or y shorter than [{rows}, {cin} / {cout}]"
    );
    assert!(epi.residual.is_none(), "linear_into: no residual is taken");
    assert!(
        epi.bias.is_none_or(|b| b.len() >= cout),
        "linear_into: bias"
    );
    if rows * cout == 0 {
        return;
    }
    let bias = block_bias(epi.bias, cout);
    let run = |(t, dst): (usize, &mut [f32])| {
        let (r0, np) = (t * NP, dst.len() / cout);
        super::with_scratch(&LINEAR_TILE, |buf| {
            let (xl, yl) = (cbi * BLK * np, cbo * BLK * np);
            if buf.len() < xl + yl {
                buf.resize(xl + yl, 0.0);
            }
            let (xb, yb) = buf.split_at_mut(xl);
            // (No input channels: the rows are the bias alone.)
            for (q, row) in x[r0 * cin..(r0 + np) * cin]
                .chunks_exact(cin.max(1))
                .enumerate()
            {
                for (cb, part) in row.chunks(BLK).enumerate() {
                    let at = (cb * np + q) * BLK;
                    copy16(part, &mut xb[at..at + part.len()]);
                }
            }
            let k = Kernel {
                w: &bw.data,
                cin,
                pixels: np,
                x: xb,
                bias: &bias,
                res: None,
                clamp: epi.clamp,
                simd: true,
            };
            // SAFETY: yb holds the tile's cbo blocks of np pixels.
            unsafe { k.run(yb.as_mut_ptr(), 0..np, 0..cbo) };
            for (q, row) in dst.chunks_exact_mut(cout).enumerate() {
                for (ob, part) in row.chunks_mut(BLK).enumerate() {
                    let at = (ob * np + q) * BLK;
                    copy16(&yb[at..at + part.len()], part);
                }
            }
            if let Some(f) = finish {
                f(dst);
            }
        })
    };
    // One task per tile of rows, each writing its own rows of y.
    let y = &mut y[..rows * cout];
    if rows > NP {
        y.par_chunks_mut(NP * cout).enumerate().for_each(run);
    } else {
        run((0, y));
    }
}

/// The bias in whole blocks, 0 for no bias and in the padding channels.
pub(super) fn block_bias(bias: Option<&[f32]>, cout: usize) -> Vec<f32> {
    let mut b = vec![0.0f32; cout.div_ceil(BLK) * BLK];
    if let Some(bias) = bias {
        b[..cout].copy_from_slice(&bias[..cout]);
    }
    b
}

thread_local! {
    /// A `linear_into` task's blocked rows of x and y.
    static LINEAR_TILE: super::Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// Up to 16 floats from `src` to `dst` (the same length): a whole block
/// as one fixed-size move, not a memcpy call each.
#[inline(always)]
fn copy16(src: &[f32], dst: &mut [f32]) {
    match (
        <&[f32; BLK]>::try_from(src),
        <&mut [f32; BLK]>::try_from(&mut *dst),
    ) {
        (Ok(s), Ok(d)) => *d = *s,
        _ => dst.copy_from_slice(src),
    }
}

fn pointwise_path(
    bw: &BlockedWeights,
    x: &[f32],
    n: usize,
    pixels: usize,
    epi: BlockedEpilogue<'_>,
    y: &mut [f32],
    simd: bool,
) {
    let (cin, cout) = (bw.cin, bw.cout);
    let (cbi, cbo) = (cin.div_ceil(BLK), cout.div_ceil(BLK));
    let (xi, yi) = (cbi * BLK * pixels, cbo * BLK * pixels);
    assert!(
        x.len() >= n * xi && y.len() >= n * yi,
        "pointwise_blocked_into: x or y shorter than [{n}, {cin} / {cout}, {pixels}] blocked"
    );
    assert!(
        epi.bias.is_none_or(|b| b.len() >= cout),
        "pointwise_blocked_into: bias"
    );
    assert!(
        epi.residual.is_none_or(|r| r.len() >= n * yi),
        "pointwise_blocked_into: residual shorter than the output"
    );
    if n * pixels * cout == 0 {
        return;
    }
    let bias = block_bias(epi.bias, cout);
    // Units of work are (tile of pixels, pair of output blocks), pixel
    // tile major so a task's pairs share their input; each image's units
    // are shared out in about 4 tasks per thread, which keeps the 7 x 7
    // and 14 x 14 layers' few tiles balanced.
    let pairs = cbo.div_ceil(2);
    let units = pixels.div_ceil(NP) * pairs;
    let per_image = (4 * threads()).div_ceil(n).clamp(1, units);
    let mut tasks = Vec::with_capacity(n * per_image);
    for b in 0..n {
        for t in 0..per_image {
            tasks.push((b, t * units / per_image..(t + 1) * units / per_image));
        }
    }
    let yp = SendPtr(y.as_mut_ptr());
    let run = |(b, us): &(usize, std::ops::Range<usize>)| {
        let k = Kernel {
            w: &bw.data,
            cin,
            pixels,
            x: &x[b * xi..(b + 1) * xi],
            bias: &bias,
            res: epi.residual.map(|r| &r[b * yi..(b + 1) * yi]),
            clamp: epi.clamp,
            simd,
        };
        for u in us.clone() {
            let (t, pair) = (u / pairs, u % pairs);
            let px = t * NP..((t + 1) * NP).min(pixels);
            let ob = 2 * pair..(2 * pair + 2).min(cbo);
            // SAFETY: unit u of image b writes that image's blocks ob at
            // pixels px only, inside y (asserted above); no two units
            // share one.
            unsafe { k.run(yp.get().add(b * yi), px, ob) };
        }
    };
    if tasks.len() > 1 {
        tasks.par_iter().for_each(run);
    } else {
        tasks.iter().for_each(run);
    }
}

/// One image's operands.
struct Kernel<'a> {
    w: &'a [f32],
    cin: usize,
    pixels: usize,
    x: &'a [f32],
    bias: &'a [f32],
    res: Option<&'a [f32]>,
    clamp: Option<(f32, f32)>,
    /// The AVX-512 tiles where the CPU has them.
    simd: bool,
}

impl Kernel<'_> {
    /// Output blocks `ob` at pixels `px` into the image's output at `y`.
    unsafe fn run(&self, y: *mut f32, px: std::ops::Range<usize>, ob: std::ops::Range<usize>) {
        #[cfg(target_arch = "x86_64")]
        if self.simd && super::packed::available() {
            let mut p0 = px.start;
            while p0 < px.end {
                let np = NP.min(px.end - p0);
                let mut o = ob.start;
                while o < ob.end {
                    let mb = 2.min(ob.end - o);
                    // SAFETY: AVX-512F checked; pixels p0 .. p0 + np and
                    // blocks o .. o + mb are inside the image.
                    match (mb, np) {
                        (2, NP) => self.tile::<2, NP>(y, p0, o),
                        (1, NP) => self.tile::<1, NP>(y, p0, o),
                        (2, _) => {
                            // Tails four pixels at a time, then one.
                            let q = np / 4 * 4;
                            (0..q)
                                .step_by(4)
                                .for_each(|i| self.tile::<2, 4>(y, p0 + i, o));
                            (q..np).for_each(|i| self.tile::<2, 1>(y, p0 + i, o));
                        }
                        _ => {
                            let q = np / 4 * 4;
                            (0..q)
                                .step_by(4)
                                .for_each(|i| self.tile::<1, 4>(y, p0 + i, o));
                            (q..np).for_each(|i| self.tile::<1, 1>(y, p0 + i, o));
                        }
                    }
                    o += mb;
                }
                p0 += np;
            }
            return;
        }
        for q in px {
            for o in ob.clone() {
                self.portable(y, q, o);
            }
        }
    }

    /// Pixel q, output block o, as the tiles compute it (the same sums in
    /// the same order).
    unsafe fn portable(&self, y: *mut f32, q: usize, o: usize) {
        let mut acc = [0.0f32; BLK];
        for ci in 0..self.cin {
            let xv = self.x[(ci / BLK) * self.pixels * BLK + q * BLK + ci % BLK];
            let wv = &self.w[(o * self.cin + ci) * BLK..][..BLK];
            for (a, w) in acc.iter_mut().zip(wv) {
                *a = w.mul_add(xv, *a);
            }
        }
        let at = o * self.pixels * BLK + q * BLK;
        let res = self.res.map(|r| &r[at..at + BLK]);
        finish_portable(&mut acc, &self.bias[o * BLK..], res, self.clamp);
        std::ptr::copy_nonoverlapping(acc.as_ptr(), y.add(at), BLK);
    }

    /// MB output blocks by P pixels from (p0, o0), in MB x P zmm.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::needless_range_loop)] // acc[m][i]: the tile's registers
    unsafe fn tile<const MB: usize, const P: usize>(&self, y: *mut f32, p0: usize, o0: usize) {
        use std::arch::x86_64::*;
        let (cin, pix) = (self.cin, self.pixels);
        assert!(p0 + P <= pix && (o0 + MB) * cin * BLK <= self.w.len());
        assert!(cin.div_ceil(BLK) * pix * BLK <= self.x.len());
        let mut acc = [[_mm512_setzero_ps(); P]; MB];
        let w = self.w.as_ptr().add(o0 * cin * BLK);
        for cb in 0..cin.div_ceil(BLK) {
            let xb = self.x.as_ptr().add((cb * pix + p0) * BLK);
            for l in 0..BLK.min(cin - cb * BLK) {
                let ci = cb * BLK + l;
                let mut wv = [_mm512_setzero_ps(); MB];
                for (m, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm512_loadu_ps(w.add((m * cin + ci) * BLK));
                }
                for i in 0..P {
                    let xv = _mm512_set1_ps(*xb.add(i * BLK + l));
                    for m in 0..MB {
                        acc[m][i] = _mm512_fmadd_ps(wv[m], xv, acc[m][i]);
                    }
                }
            }
        }
        let (lo, hi) = self.clamp.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for (m, acc) in acc.iter().enumerate() {
            let o = o0 + m;
            let bv = _mm512_loadu_ps(self.bias.as_ptr().add(o * BLK));
            let at = (o * pix + p0) * BLK;
            for (i, a) in acc.iter().enumerate() {
                let mut v = _mm512_add_ps(*a, bv);
                if let Some(r) = self.res {
                    assert!(at + P * BLK <= r.len());
                    v = _mm512_add_ps(v, _mm512_loadu_ps(r.as_ptr().add(at + i * BLK)));
                }
                if self.clamp.is_some() {
                    // max(lo, v) and min(hi, v) return v when v is NaN.
                    v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
                }
                _mm512_storeu_ps(y.add(at + i * BLK), v);
            }
        }
    }
}

/// What a store applies to one pixel's 16 sums, in the reference's
/// order: bias (16 values), the residual's 16, the clamp (NaN kept).
pub(super) fn finish_portable(
    acc: &mut [f32; BLK],
    bias: &[f32],
    res: Option<&[f32]>,
    clamp: Option<(f32, f32)>,
) {
    for (j, a) in acc.iter_mut().enumerate() {
        *a += bias[j];
        if let Some(r) = res {
            *a += r[j];
        }
        if let Some((lo, hi)) = clamp {
            // As the reference's clamp: NaN stays NaN.
            *a = if *a < lo {
                lo
            } else if *a > hi {
                hi
            } else {
                *a
            };
        }
    }
}

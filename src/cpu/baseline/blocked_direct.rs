//! Any conv of one group, written channel-blocked (NCHW16c), the way
//! onnxruntime's NCHWc convs run it: a tile of 2 x 16 output channels by
//! up to 12 pixels of one output row lives in 24 zmm while every tap of
//! every input channel passes by, each input value broadcast from where
//! it lies in a padded, stride-phase-split copy of the input (NCHW or
//! blocked) at the offset its tap's table entry gives, and the result is
//! stored one vector per pixel, with bias, residual and clamp applied.
//!
//! In NCHW, resnet18's convs ran as a packed GEMM whose 8-channel tiles
//! write eight planes apart and whose strided operands (the stem's: 3
//! input channels, 7 x 7, stride 2) are packed per call.

use super::blocked::{block_bias, finish_portable, BlockedEpilogue, BlockedWeights, BLK};
use super::{threads, SendPtr};
use crate::ops::conv2d::Conv2d;
use rayon::prelude::*;

/// Most pixels of one output row per tile (2 x 12 accumulators, as the
/// 1x1 conv's tile; a row is split into near-equal tiles of at most 12).
const NP: usize = 12;
/// Fewest pixels in a unit of work's band of rows (see `conv_path`).
const BAND_PIXELS: usize = 48;
/// Most taps per chunk: 2 x 16 output channels' weights for 256 taps are
/// 32 KB, which stay in L1 (48 KB) while a band's pixels pass. With all
/// of K at once a long K's weights came from L2 for every tile.
const KC: usize = 256;

/// Which taps a tile sums, and whether it starts the sums (else it adds
/// to the partial sums in y) and finishes them (bias, residual, clamp).
struct Sums {
    taps: std::ops::Range<usize>,
    first: bool,
    last: bool,
}

/// The tap ranges, in `tap_order`, that the tiles sum in turn: whole
/// blocks of 16 input channels (with all their taps), up to `KC` taps
/// each, at least one block.
fn k_chunks(cin: usize, taps: usize) -> Vec<std::ops::Range<usize>> {
    let mut chunks = vec![];
    let (mut start, mut end) = (0, 0);
    for cb in 0..cin.div_ceil(BLK) {
        let len = (cin - cb * BLK).min(BLK) * taps;
        if end > start && end - start + len > KC {
            chunks.push(start..end);
            start = end;
        }
        end += len;
    }
    chunks.push(start..end);
    chunks
}

thread_local! {
    /// The padded, phase-split input, kept between calls.
    static XPAD: super::Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// The padded copy's geometry: per image, `units` planes (input channels
/// for NCHW, blocks of 16 for blocked) of `ph x pw` phases of `hq x wq`
/// pixels of `lanes` floats.
#[derive(Clone, Copy)]
struct Padded {
    lanes: usize,
    units: usize,
    ph: usize,
    pw: usize,
    hq: usize,
    wq: usize,
}

impl Padded {
    fn unit_len(&self) -> usize {
        self.ph * self.pw * self.hq * self.wq * self.lanes
    }

    fn image_len(&self) -> usize {
        self.units * self.unit_len()
    }
}

/// y = clamp(conv(x, W) + bias + residual), y blocked [N, Cout, OH, OW]
/// (`out`), for any conv of one group: kernel, stride, padding and
/// dilation as `conv` has them; x [N, Cin, H, W] NCHW or, with
/// `x_blocked`, blocked. `bw` holds the weights as [`conv_weights`]
/// packs them. Every float of y is written, padding channels as W's zero rows
/// give them. The residual, if any, is blocked as y.
///
/// Panics when a slice is shorter than its shape, the weights do not fit
/// the conv, or the conv has groups.
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::*;
/// use wgsl_nn::cpu::baseline::blocked_direct::*;
/// use wgsl_nn::ops::conv2d::Conv2d;
/// // One channel, a 3x3 box sum, padding 1, over a 2x2 image of ones.
/// let conv = Conv2d::new(1, 1, 3).padding(1);
/// let bw = conv_weights(&[1.0; 9], 1, 1, [3, 3]);
/// let mut y = vec![f32::NAN; blocked_len([1, 1, 2, 2])];
/// let epi = BlockedEpilogue { bias: None, residual: None, clamp: None };
/// conv_blocked_into(&conv, &bw, &[1.0; 4], [1, 1, 2, 2], false, [1, 1, 2, 2], epi, &mut y);
/// assert_eq!([y[0], y[16], y[32], y[48]], [4.0; 4]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn conv_blocked_into(
    conv: &Conv2d,
    bw: &BlockedWeights,
    x: &[f32],
    x_shape: [usize; 4],
    x_blocked: bool,
    out: [usize; 4],
    epi: BlockedEpilogue<'_>,
    y: &mut [f32],
) {
    conv_path(conv, bw, x, x_shape, x_blocked, out, epi, y, true)
}

/// [`conv_blocked_into`] without its AVX-512 tiles (what CPUs without
/// them run), so tests can check that path on any CPU.
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked::*;
/// use wgsl_nn::cpu::baseline::blocked_direct::*;
/// use wgsl_nn::ops::conv2d::Conv2d;
/// let conv = Conv2d::new(1, 1, 1).stride(2);
/// let bw = conv_weights(&[3.0], 1, 1, [1, 1]);
/// let mut y = vec![f32::NAN; 16];
/// let epi = BlockedEpilogue { bias: Some(&[1.0]), residual: None, clamp: None };
/// conv_blocked_portable_into(&conv, &bw, &[2.0, 5.0], [1, 1, 1, 2], false, [1, 1, 1, 1], epi, &mut y);
/// assert_eq!(y[0], 7.0);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn conv_blocked_portable_into(
    conv: &Conv2d,
    bw: &BlockedWeights,
    x: &[f32],
    x_shape: [usize; 4],
    x_blocked: bool,
    out: [usize; 4],
    epi: BlockedEpilogue<'_>,
    y: &mut [f32],
) {
    conv_path(conv, bw, x, x_shape, x_blocked, out, epi, y, false)
}

#[allow(clippy::too_many_arguments)]
fn conv_path(
    conv: &Conv2d,
    bw: &BlockedWeights,
    x: &[f32],
    [n, cin, h, w]: [usize; 4],
    x_blocked: bool,
    [on, cout, oh, ow]: [usize; 4],
    epi: BlockedEpilogue<'_>,
    y: &mut [f32],
    simd: bool,
) {
    let win = &conv.window;
    let ([kh, kw], [sh, sw], [dh, dw], [pt, pl], [pb, pr]) = (
        win.kernel,
        win.stride,
        win.dilation,
        win.pad_begin,
        win.pad_end,
    );
    assert_eq!(conv.groups, 1, "conv_blocked_into: grouped conv");
    assert!(
        bw.rows() == cout && bw.depth() == cin * kh * kw && on == n,
        "conv_blocked_into: weights [{}, {}] for [{n}, {cin}] -> [{on}, {cout}] with a {kh}x{kw} kernel",
        bw.rows(),
        bw.depth()
    );
    let (lanes, units) = if x_blocked {
        (BLK, cin.div_ceil(BLK))
    } else {
        (1, cin)
    };
    let cbo = cout.div_ceil(BLK);
    let yi = cbo * BLK * oh * ow;
    assert!(
        x.len() >= n * units * lanes * h * w && y.len() >= n * yi,
        "conv_blocked_into: x or y shorter than its shape"
    );
    assert!(
        epi.bias.is_none_or(|b| b.len() >= cout),
        "conv_blocked_into: bias"
    );
    assert!(
        epi.residual.is_none_or(|r| r.len() >= n * yi),
        "conv_blocked_into: residual shorter than the output"
    );
    if n * cout * oh * ow == 0 {
        return;
    }
    let (hp, wp) = (h + pt + pb, w + pl + pr);
    assert!(
        (oh - 1) * sh + (kh - 1) * dh < hp && (ow - 1) * sw + (kw - 1) * dw < wp,
        "conv_blocked_into: output [{oh}, {ow}] reads past the padded input"
    );
    // A 1x1 kernel reads phase (0, 0) alone, so a strided 1x1 conv
    // (resnet's downsample) copies only that phase.
    let (ph, pw) = if kh == 1 && kw == 1 { (1, 1) } else { (sh, sw) };
    let g = Padded {
        lanes,
        units,
        ph,
        pw,
        hq: hp.div_ceil(sh),
        wq: wp.div_ceil(sw),
    };
    // Tap k = (ci, ky, kx) of `tap_order` reads phase (ky dh % sh, kx dw
    // % sw) shifted by (ky dh / sh, kx dw / sw) from the pixel.
    let plane = g.hq * g.wq;
    let off: Vec<usize> = tap_order(cin, kh, kw)
        .map(|(ci, ky, kx)| {
            let (ty, tx) = (ky * dh, kx * dw);
            let phase = (ci / lanes * ph + ty % sh) * pw + tx % sw;
            ((phase * plane + ty / sh * g.wq + tx / sw) * lanes) + ci % lanes
        })
        .collect();
    let bias = block_bias(epi.bias, cout);
    super::with_scratch(&XPAD, |xpad| {
        let il = g.image_len();
        if xpad.len() < n * il {
            xpad.resize(n * il, 0.0);
        }
        let xpad = &mut xpad[..n * il];
        fill_padded(x, [h, w], [pt, pl], [sh, sw], g, xpad);
        // Units of work are (pair of output blocks, image, band of output
        // rows), pair major so a task's units share one pair's weights
        // (512 x 3 x 3 of them are 590 KB: they stay in L2 while the
        // images pass; image-major tasks at batch 8 streamed all of a
        // layer's weights once per image). A band has at least
        // BAND_PIXELS pixels, so a chunk of weights loaded into L1 serves
        // that many (a 7 x 7 image is one band).
        let pairs = cbo.div_ceil(2);
        let band = BAND_PIXELS.div_ceil(ow).clamp(1, oh);
        let bands = oh.div_ceil(band);
        let units = pairs * n * bands;
        let count = (4 * threads()).clamp(1, units);
        let tasks: Vec<std::ops::Range<usize>> = (0..count)
            .map(|t| t * units / count..(t + 1) * units / count)
            .collect();
        let chunks = k_chunks(cin, kh * kw);
        // No input channels: no taps, so nothing for a tile to read; the
        // portable path gives bias + residual, clamped.
        let tiles_ok = simd && cin > 0;
        let max_off = off.iter().copied().max().unwrap_or(0);
        let yp = SendPtr(y.as_mut_ptr());
        let xpad = &*xpad;
        let tiles = ow.div_ceil(NP);
        let run = |us: &std::ops::Range<usize>| {
            for u in us.clone() {
                let (pair, b, bd) = (u / (n * bands), u / bands % n, u % bands);
                let k = Kernel {
                    w: bw.data(),
                    k: off.len(),
                    off: &off,
                    max_off,
                    x: &xpad[b * il..(b + 1) * il],
                    wq: g.wq,
                    lanes,
                    oh,
                    ow,
                    bias: &bias,
                    res: epi.residual.map(|r| &r[b * yi..(b + 1) * yi]),
                    clamp: epi.clamp,
                };
                let ob = 2 * pair..(2 * pair + 2).min(cbo);
                let rows = bd * band..((bd + 1) * band).min(oh);
                // Each chunk of taps runs over the whole band while its
                // weights stay in L1; the partial sums wait in y.
                for (c, kr) in chunks.iter().enumerate() {
                    let sums = Sums {
                        taps: kr.clone(),
                        first: c == 0,
                        last: c + 1 == chunks.len(),
                    };
                    for oy in rows.clone() {
                        for t in 0..tiles {
                            // Near-equal tiles: 56 pixels as 12 + 4 x 11.
                            let px = t * ow / tiles..(t + 1) * ow / tiles;
                            // SAFETY: unit u writes image b's blocks ob in
                            // rows `rows` only, inside y (asserted above);
                            // no two units share one.
                            unsafe {
                                k.run(yp.get().add(b * yi), oy, px, ob.clone(), &sums, tiles_ok)
                            };
                        }
                    }
                }
            }
        };
        if tasks.len() > 1 {
            tasks.par_iter().for_each(run);
        } else {
            tasks.iter().for_each(run);
        }
    })
}

/// The taps (ci, ky, kx) in the order the tiles sum them: per block of
/// 16 input channels, per tap, its channels. Consecutive taps then read
/// the same 64-byte pixel vectors of a blocked input; in (ci, ky, kx)
/// order each read 12 fresh ones, which the weights streaming by evicted
/// from L1 before their next channel came (resnet18's 3x3 convs ran at
/// 63% of the FMA units' peak).
fn tap_order(cin: usize, kh: usize, kw: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..cin.div_ceil(BLK)).flat_map(move |cb| {
        let chans = cb * BLK..(cb * BLK + BLK).min(cin);
        (0..kh * kw).flat_map(move |t| chans.clone().map(move |ci| (ci, t / kw, t % kw)))
    })
}

/// A conv's weights [Cout, Cin, kh, kw] packed for [`conv_blocked_into`]
/// (their taps in the order its tiles sum them).
///
/// ```
/// use wgsl_nn::cpu::baseline::blocked_direct::conv_weights;
/// let bw = conv_weights(&[1.0; 2 * 3 * 9], 2, 3, [3, 3]);
/// assert_eq!((bw.rows(), bw.depth()), (2, 27));
/// ```
pub fn conv_weights(w: &[f32], cout: usize, cin: usize, [kh, kw]: [usize; 2]) -> BlockedWeights {
    let k = cin * kh * kw;
    assert_eq!(
        w.len(),
        cout * k,
        "conv_weights: [{cout}, {cin}, {kh}, {kw}]"
    );
    let order: Vec<usize> = tap_order(cin, kh, kw)
        .map(|(ci, ky, kx)| (ci * kh + ky) * kw + kx)
        .collect();
    let sorted: Vec<f32> = (0..cout)
        .flat_map(|co| order.iter().map(move |&t| w[co * k + t]))
        .collect();
    BlockedWeights::new(&sorted, cout, k)
}

/// The zero-padded, phase-split copy of every image of x: padded pixel
/// (r, c) of plane u at phase (r % sh, c % sw), position (r / sh, c /
/// sw), where that phase is kept (a 1x1 kernel keeps phase (0, 0)).
fn fill_padded(
    x: &[f32],
    [h, w]: [usize; 2],
    [pt, pl]: [usize; 2],
    [sh, sw]: [usize; 2],
    g: Padded,
    xpad: &mut [f32],
) {
    let (ul, l) = (g.unit_len(), g.lanes);
    let fill = |(u, dst): (usize, &mut [f32])| {
        // Zeroed by the task that fills it, still in cache as rows land.
        dst.fill(0.0);
        let src = &x[u * h * w * l..(u + 1) * h * w * l];
        for (iy, row) in src.chunks_exact((w * l).max(1)).enumerate().take(h) {
            let r = iy + pt;
            let (py, qy) = (r % sh, r / sh);
            if py >= g.ph {
                continue;
            }
            let at = |c: usize| (((py * g.pw + c % sw) * g.hq + qy) * g.wq + c / sw) * l;
            if sw == 1 {
                dst[at(pl)..at(pl) + w * l].copy_from_slice(row);
            } else if l == 1 {
                // NCHW planes: the crate's phase scatter (pairs split in
                // registers at stride 2; one call per float cost 20% of
                // resnet18's stem).
                let phase = g.hq * g.wq;
                let dst = &mut dst[at(0)..];
                if g.pw == 1 {
                    super::scatter_phase(row, pl, sw, w + pl, 0, dst);
                } else {
                    super::scatter_phases(row, pl, sw, w + pl, dst, phase);
                }
            } else {
                for (ix, px) in row.chunks_exact(BLK).enumerate() {
                    let c = ix + pl;
                    if c % sw < g.pw {
                        let to: &mut [f32; BLK] =
                            (&mut dst[at(c)..at(c) + BLK]).try_into().expect("a block");
                        *to = px.try_into().expect("a block");
                    }
                }
            }
        }
    };
    if ul == 0 {
        return;
    }
    let min = (16384 / ul).max(1);
    xpad.par_chunks_mut(ul)
        .enumerate()
        .with_min_len(min)
        .for_each(fill);
}

/// One image's operands.
struct Kernel<'a> {
    /// Per block of 16 output channels, [K][16].
    w: &'a [f32],
    k: usize,
    /// Per tap (K of them), its float offset from a pixel's first tap.
    off: &'a [usize],
    max_off: usize,
    /// The image's padded copy.
    x: &'a [f32],
    wq: usize,
    lanes: usize,
    oh: usize,
    ow: usize,
    bias: &'a [f32],
    res: Option<&'a [f32]>,
    clamp: Option<(f32, f32)>,
}

/// `$k.tile::<MB, P, L>` for the runtime width `$p` (1 ..= 12).
macro_rules! by_width {
    ($k:ident, $mb:literal, $l:literal, $p:expr, $args:tt) => {
        by_width!(@ $k, $mb, $l, $p, $args, 1 2 3 4 5 6 7 8 9 10 11 12)
    };
    (@ $k:ident, $mb:literal, $l:literal, $p:expr, $args:tt, $($n:literal)*) => {
        match $p {
            $($n => $k.tile::<$mb, $n, $l> $args,)*
            _ => unreachable!("tiles are 1 to 12 pixels wide"),
        }
    };
}

impl Kernel<'_> {
    /// Output blocks `ob` at pixels `px` of row `oy`, into the image's
    /// output at `y`.
    unsafe fn run(
        &self,
        y: *mut f32,
        oy: usize,
        px: std::ops::Range<usize>,
        ob: std::ops::Range<usize>,
        sums: &Sums,
        simd: bool,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd && super::packed::available() {
            let p = px.len();
            let mut o = ob.start;
            while o < ob.end {
                // SAFETY (each arm): AVX-512F checked; pixels px of row
                // oy and blocks o .. o + MB are inside the image.
                let (k, x0) = (self, px.start);
                match (2.min(ob.end - o), self.lanes == BLK) {
                    (2, true) => by_width!(k, 2, 16, p, (y, oy, x0, o, sums)),
                    (2, false) => by_width!(k, 2, 1, p, (y, oy, x0, o, sums)),
                    (_, true) => by_width!(k, 1, 16, p, (y, oy, x0, o, sums)),
                    (_, false) => by_width!(k, 1, 1, p, (y, oy, x0, o, sums)),
                }
                o += 2;
            }
            return;
        }
        // All taps at once: storing a partial sum and loading it back
        // is exact, so these are the tiles' sums in the tiles' order.
        if sums.first {
            for ox in px {
                for o in ob.clone() {
                    self.portable(y, oy, ox, o);
                }
            }
        }
    }

    /// Where output pixel (oy, ox) of block o lies in the image's output.
    fn out_at(&self, o: usize, oy: usize, ox: usize) -> usize {
        ((o * self.oh + oy) * self.ow + ox) * BLK
    }

    /// Pixel (oy, ox), output block o, as the tiles compute it (the same
    /// sums in the same order).
    unsafe fn portable(&self, y: *mut f32, oy: usize, ox: usize, o: usize) {
        let base = (oy * self.wq + ox) * self.lanes;
        let mut acc = [0.0f32; BLK];
        for (k, &off) in self.off.iter().enumerate() {
            let xv = self.x[base + off];
            let wv = &self.w[(o * self.k + k) * BLK..][..BLK];
            for (a, w) in acc.iter_mut().zip(wv) {
                *a = w.mul_add(xv, *a);
            }
        }
        let at = self.out_at(o, oy, ox);
        let res = self.res.map(|r| &r[at..at + BLK]);
        finish_portable(&mut acc, &self.bias[o * BLK..], res, self.clamp);
        std::ptr::copy_nonoverlapping(acc.as_ptr(), y.add(at), BLK);
    }

    /// MB output blocks by P pixels of row oy from ox0, in MB x P zmm;
    /// input pixels L floats apart (1: NCHW planes, 16: blocked).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::needless_range_loop)] // acc[m][i]: the tile's registers
    unsafe fn tile<const MB: usize, const P: usize, const L: usize>(
        &self,
        y: *mut f32,
        oy: usize,
        ox0: usize,
        o0: usize,
        sums: &Sums,
    ) {
        use std::arch::x86_64::*;
        let (k, base) = (self.k, (oy * self.wq + ox0) * L);
        assert!(base + self.max_off + (P - 1) * L < self.x.len());
        assert!((o0 + MB) * k * BLK <= self.w.len() && ox0 + P <= self.ow);
        let mut acc = [[_mm512_setzero_ps(); P]; MB];
        if !sums.first {
            for (m, acc) in acc.iter_mut().enumerate() {
                let at = self.out_at(o0 + m, oy, ox0);
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_loadu_ps(y.add(at + i * BLK));
                }
            }
        }
        let xb = self.x.as_ptr().add(base);
        let w = self.w.as_ptr().add(o0 * k * BLK);
        // (A skip/take iterator here peeled the first tap off the loop,
        // and LLVM kept the tile in memory across both copies.)
        let taps = sums.taps.clone();
        for (t, &off) in taps.clone().zip(&self.off[taps]) {
            let mut wv = [_mm512_setzero_ps(); MB];
            for (m, wv) in wv.iter_mut().enumerate() {
                *wv = _mm512_loadu_ps(w.add((m * k + t) * BLK));
            }
            let xt = xb.add(off);
            for i in 0..P {
                let xv = _mm512_set1_ps(*xt.add(i * L));
                for m in 0..MB {
                    acc[m][i] = _mm512_fmadd_ps(wv[m], xv, acc[m][i]);
                }
            }
        }
        let (lo, hi) = self.clamp.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        // The store as the 1x1 tile's, written out here: through a shared
        // helper LLVM kept some tiles' accumulators in memory (the
        // stem and the 56 x 56 convs ran 2x slower).
        for (m, acc) in acc.iter().enumerate() {
            let o = o0 + m;
            let bv = _mm512_loadu_ps(self.bias.as_ptr().add(o * BLK));
            let at = self.out_at(o, oy, ox0);
            for (i, a) in acc.iter().enumerate() {
                if !sums.last {
                    _mm512_storeu_ps(y.add(at + i * BLK), *a);
                    continue;
                }
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

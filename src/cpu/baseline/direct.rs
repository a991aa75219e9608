//! Convs with no lowering at all, the way direct-convolution libraries
//! run them: the input is copied once, zero-padded and split into its
//! stride phases (phase (py, px) holds padded pixels (py + i sh, px + j
//! sw)), and the output is computed over the phase width, so that for
//! every tap (ci, ky, kx) the pixels a tile needs are consecutive floats
//! of one phase, at a fixed offset from the tile's first pixel. The packed
//! product packs those rows with plain copies, and the tile store drops
//! the columns past the output's width.
//!
//! Lowering each row pixel by pixel (im2col) cost about as long as the
//! multiply-adds themselves for a conv with 64 output channels.

use super::packed::{OutMap, PackB};
use crate::ops::conv2d::Conv2d;
use rayon::prelude::*;

thread_local! {
    /// The padded input, kept between calls (fresh pages cost on a VM).
    static XPAD: super::Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// The operand of a conv over its padded, phase-split input: row k = (ci,
/// ky, kx) at column q of an image is xpad[img][off[k] + q].
pub(crate) struct Padded<'a> {
    xpad: &'a [f32],
    /// Floats per padded image (with slack for the last columns' taps).
    stride: usize,
    off: Vec<usize>,
    /// Columns per image: OH x phase width.
    per: usize,
    /// Read in place by the product (stride 1): a strided conv's taps
    /// spread over its phases, and in place its stem ran 14% slower.
    in_place: bool,
}

impl PackB for Padded<'_> {
    fn per_image(&self) -> usize {
        self.per
    }
    fn row(&self, img: usize, k: usize) -> &[f32] {
        let s = img * self.stride + self.off[k];
        &self.xpad[s..s + self.per]
    }
    fn rows_at(&self) -> Option<(&[f32], usize, &[usize])> {
        self.in_place.then_some((self.xpad, self.stride, &self.off))
    }
}

/// Runs `f` with the padded operand of the conv over x [N, Cin, H, W] and
/// the map of its output y [N, Cout, OH, OW] (at `y`), the batch's columns
/// being N x OH x phase width.
pub(crate) fn with_padded<R>(
    conv: &Conv2d,
    x: &[f32],
    [n, cin, h, w]: [usize; 4],
    [_, cout, oh, ow]: [usize; 4],
    y: *mut f32,
    f: impl FnOnce(&Padded, OutMap, usize) -> R,
) -> R {
    let win = &conv.window;
    let ([pt, pl], [pb, pr], [dh, dw], [kh, kw], [sh, sw]) = (
        win.pad_begin,
        win.pad_end,
        win.dilation,
        win.kernel,
        win.stride,
    );
    let (hp, wp) = (h + pt + pb, w + pl + pr);
    let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
    let phase = hq * wq;
    // A 1x1 kernel reads phase (0, 0) alone (tap (0, 0)), so a strided
    // 1x1 conv (resnet's downsample) copies only that phase: a quarter
    // of the copy at stride 2.
    let (ph, pw) = if kh == 1 && kw == 1 { (1, 1) } else { (sh, sw) };
    // Tap (ky, kx) reads phase (ky dh % sh, kx dw % sw), shifted by
    // (ky dh / sh, kx dw / sw) from the output pixel.
    let off: Vec<usize> = (0..cin * kh * kw)
        .map(|k| {
            let (ci, ty, tx) = (k / (kh * kw), k / kw % kh * dh, k % kw * dw);
            ((ci * ph + ty % sh) * pw + tx % sw) * phase + ty / sh * wq + tx / sw
        })
        .collect();
    // The last columns' taps read up to (kw - 1) dw / sw past the last
    // phase; 64-byte steps keep every image aligned alike.
    let stride = (cin * ph * pw * phase + (kw - 1) * dw / sw).div_ceil(16) * 16;
    super::with_scratch(&XPAD, |xpad| {
        if xpad.len() < n * stride {
            xpad.resize(n * stride, 0.0);
        }
        let xpad = &mut xpad[..n * stride];
        // One task per channel of an image (at least ~16K floats each), not
        // per image: at batch 1 a per-image copy left the second thread
        // idle for ~8% of a 3x3 conv.
        let chan = ph * pw * phase;
        let fill = |(unit, dst): (usize, &mut [f32])| {
            let (img, ci) = (unit / cin, unit % cin);
            // Zeroed by the task that fills it (in parallel, and still in
            // cache when the rows land), then the rows copied in.
            dst.fill(0.0);
            let src = &x[(img * cin + ci) * h * w..][..h * w];
            for (iy, row) in src.chunks_exact(w.max(1)).enumerate().take(h) {
                let r = iy + pt;
                if (ph, pw) == (sh, sw) {
                    let base = (r % sh * sw) * phase + r / sh * wq;
                    super::scatter_phases(row, pl, sw, wp, &mut dst[base..], phase);
                } else if r % sh == 0 {
                    super::scatter_phase(row, pl, sw, wp, 0, &mut dst[r / sh * wq..]);
                }
            }
        };
        if chan > 0 {
            let mut units: Vec<&mut [f32]> = Vec::with_capacity(n * cin);
            for img in xpad.chunks_mut(stride) {
                let (planes, tail) = img.split_at_mut(cin * chan);
                tail.fill(0.0);
                units.extend(planes.chunks_mut(chan));
            }
            units
                .into_par_iter()
                .enumerate()
                .with_min_len((16384 / chan).max(1))
                .for_each(fill);
        }
        let src = Padded {
            xpad,
            stride,
            off,
            per: oh * wq,
            in_place: sh == 1 && sw == 1,
        };
        let out = OutMap {
            c: y,
            image_stride: cout * oh * ow,
            oh,
            ow,
            pitch: wq,
        };
        f(&src, out, n * oh * wq)
    })
}

//! A packed AVX-512 single-precision GEMM for the baseline's convs, in the
//! shape CPU libraries give it (BLIS, MLAS): the weights are packed once,
//! at load, into panels of `MR` (8) rows; the other operand is packed per
//! call, `KC` rows by `NC` columns at a time, into panels of `NR` (32)
//! columns, by plain copies from the conv's input (a 1x1 conv's, or the
//! padded, phase-split copy of `direct`; a stride-1 conv's panels are read
//! where they lie in that copy, no packing); an 8 x 32 tile of the output
//! lives in sixteen zmm registers while K runs, and bias and clamp are
//! applied as the tile is stored. Where the CPU has no AVX-512 the caller
//! keeps the `gemm` crate (`PackedWeights::new` gives None).
//!
//! Why not the gemm crate here: it packs both operands on every call (the
//! weights of resnet18 are 47 MB, repacked each run) and takes the lowered
//! matrix whole; on a 2-core Xeon it ran resnet18's convs at 120-150
//! GFLOP/s, where the FMA units allow about 330.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
pub(crate) use super::out_map::lanes;
pub(crate) use super::out_map::{OutMap, Stretches};

/// Rows of a weight panel (output channels per tile): every channel count
/// of the torchvision zoo is a multiple of 8.
pub(crate) const MR: usize = 8;
/// Columns of an input panel (output pixels per tile): two zmm registers.
pub(crate) const NR: usize = 32;
const _: () = assert!(NR <= super::out_map::MAX_LANES);
/// Rows of a weight panel for the wide tile (`packed_wide`): 32 output
/// channels, two zmm.
pub(crate) const MRW: usize = 32;
/// zmm registers per tile row.
const NV: usize = NR / 16;
/// Most K rows packed at once. Most convs' K fits one block, so a tile
/// sums all of K in registers and is stored once: on a 2-core Xeon that
/// beat 256-row blocks (whose partial sums go back to memory between
/// blocks) by ~5%, and 128-row blocks by ~20%.
pub(crate) const KC: usize = 1024;
/// Most columns packed at once: two panels, at most 256 KiB of packed
/// input, which stays in L2 while every weight panel passes by (512
/// columns were ~5% slower, 2048 ~15%).
pub(crate) const NC: usize = 64;
/// Longest K the wide tile (`packed_wide`, one K block) is picked for.
pub(crate) const WIDE_MAX_K: usize = 2304;

/// A [M, K] row-major weight matrix packed for the crate's packed GEMM: for each block of
/// K rows, for each panel of `mr` output rows (MR, or MRW for the wide
/// tile in one block), `[kc][mr]` floats, rows past M zero.
pub struct PackedWeights {
    m: usize,
    k: usize,
    /// Rows per panel: MR, or MRW for the wide tile.
    mr: usize,
    /// (first K row, rows) per block.
    blocks: Vec<(usize, usize)>,
    data: Vec<f32>,
}

/// What the tile store applies: per-row bias, then a clamp (NaN kept), and
/// an optional residual added before the clamp (row stride as C's).
#[derive(Clone, Copy)]
pub(crate) struct Epilogue<'a> {
    /// One value per output row.
    pub bias: Option<&'a [f32]>,
    /// (lo, hi); ReLU is (0, inf).
    pub clamp: Option<(f32, f32)>,
    /// Added after the bias and before the clamp, element for element: a
    /// residual connection's other branch, laid out as the output.
    pub residual: Option<&'a [f32]>,
}

/// Whether this CPU runs the packed kernels (x86-64 with AVX-512).
///
/// ```
/// let w = vec![1.0f32; 8 * 4];
/// let packed = wgsl_nn::cpu::baseline::packed::PackedWeights::new(&w, 8, 4);
/// assert_eq!(packed.is_some(), wgsl_nn::cpu::baseline::packed::available());
/// ```
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PackedWeights {
    /// Packs `w` ([m, k] row-major); None where the CPU lacks AVX-512 or
    /// the matrix is empty.
    ///
    /// ```
    /// use wgsl_nn::cpu::baseline::{self, packed::PackedWeights};
    /// use wgsl_nn::ops::conv2d::Conv2d;
    /// let conv = Conv2d::new(2, 3, 3).padding(1);
    /// let (w, b, x) = (vec![0.5f32; 3 * 2 * 9], vec![0.0f32; 3], vec![1.0f32; 2 * 5 * 5]);
    /// // None on a CPU without AVX-512: `baseline::conv2d` is the way there.
    /// if let Some(pw) = PackedWeights::new(&w, 3, 2 * 9) {
    ///     let mut y = vec![f32::NAN; 3 * 5 * 5];
    ///     baseline::conv2d_packed_into(&conv, &pw, &x, [1, 2, 5, 5], Some(&b), [1, 3, 5, 5], None, None, &mut y);
    ///     assert_eq!(y[12], 9.0); // the centre pixel: 2 channels x 9 taps x 0.5
    /// }
    /// ```
    pub fn new(w: &[f32], m: usize, k: usize) -> Option<Self> {
        Self::with_panels(w, m, k, MR, KC)
    }

    /// Packs `w` ([m, k] row-major) for the wide tile (32 output rows by
    /// 14 columns, `packed_wide`), in one K block; None as for [`Self::new`].
    /// The caller picks it for a stride-1 conv with more than one tap and
    /// output channels a multiple of 32, whose input the tile reads in place.
    ///
    /// ```
    /// # use wgsl_nn::cpu::baseline::packed::PackedWeights;
    /// if let Some(pw) = PackedWeights::new_wide(&[0.0; 64 * 9], 64, 9) {
    ///     assert_eq!((pw.rows(), pw.depth()), (64, 9));
    /// }
    /// ```
    pub fn new_wide(w: &[f32], m: usize, k: usize) -> Option<Self> {
        Self::with_panels(w, m, k, MRW, usize::MAX)
    }

    fn with_panels(w: &[f32], m: usize, k: usize, mr: usize, kc: usize) -> Option<Self> {
        if !available() || m == 0 || k == 0 {
            return None;
        }
        assert_eq!(w.len(), m * k, "packed gemm: weight size");
        let nb = k.div_ceil(kc);
        let blocks: Vec<(usize, usize)> = (0..nb)
            .map(|b| {
                let (k0, k1) = (b * k / nb, (b + 1) * k / nb);
                (k0, k1 - k0)
            })
            .collect();
        let panels = m.div_ceil(mr);
        let mut data = vec![0.0f32; panels * mr * k];
        let mut at = 0;
        for &(k0, kc) in &blocks {
            for p in 0..panels {
                for kk in 0..kc {
                    for r in 0..mr {
                        let row = p * mr + r;
                        if row < m {
                            data[at] = w[row * k + k0 + kk];
                        }
                        at += 1;
                    }
                }
            }
        }
        Some(Self {
            m,
            k,
            mr,
            blocks,
            data,
        })
    }

    /// Output rows (the M it was packed with).
    ///
    /// ```
    /// # use wgsl_nn::cpu::baseline::packed::PackedWeights;
    /// if let Some(pw) = PackedWeights::new(&[0.0; 6 * 5], 6, 5) {
    ///     assert_eq!((pw.rows(), pw.depth()), (6, 5));
    /// }
    /// ```
    pub fn rows(&self) -> usize {
        self.m
    }

    /// Inner dimension (the K it was packed with).
    ///
    /// ```
    /// # use wgsl_nn::cpu::baseline::packed::PackedWeights;
    /// if let Some(pw) = PackedWeights::new(&[0.0; 2 * 300], 2, 300) {
    ///     assert_eq!(pw.depth(), 300);
    /// }
    /// ```
    pub fn depth(&self) -> usize {
        self.k
    }

    /// Panics unless `rows` starts on a panel and ends inside M, and the
    /// bias (if any) covers M.
    pub(crate) fn check(&self, rows: &std::ops::Range<usize>, epi: &Epilogue) {
        assert!(
            rows.start.is_multiple_of(self.mr) && rows.end <= self.m,
            "packed gemm: rows"
        );
        if let Some(bias) = epi.bias {
            assert!(bias.len() >= self.m, "packed gemm: bias");
        }
    }

    /// Rows per panel (the unit threads split rows by).
    pub(crate) fn panel_rows(&self) -> usize {
        self.mr
    }

    pub(crate) fn panel(&self, block: usize, p: usize) -> &[f32] {
        let (k0, kc) = self.blocks[block];
        let mr = self.mr;
        let start = k0 * self.m.div_ceil(mr) * mr + p * kc * mr;
        &self.data[start..start + kc * mr]
    }
}

/// The [K, N] operand, row by row: its N columns run over the images of a
/// batch, `per_image` columns each, so one product covers the whole batch
/// and the weights are read once per block of columns, not once per image.
pub(crate) trait PackB: Sync {
    /// Columns per image.
    fn per_image(&self) -> usize;
    /// Row k of image `img`: `per_image` contiguous floats, column 0
    /// first, which packing copies panels from.
    fn row(&self, img: usize, k: usize) -> &[f32];
    /// Where every row sits, if the operand is one buffer: (the buffer,
    /// floats from one image to the next, each row's offset), row k of
    /// image i being `per_image` floats from buf[i * stride + off[k]].
    fn rows_at(&self) -> Option<(&[f32], usize, &[usize])> {
        None
    }
}

/// An operand in one buffer as the tiles read it in place
/// ([`PackB::rows_at`]), with its furthest row's offset.
pub(crate) struct InPlace<'a> {
    buf: &'a [f32],
    stride: usize,
    /// Each K row's offset from an image's start.
    pub off: &'a [usize],
    far: usize,
}

impl<'a> InPlace<'a> {
    /// None where the operand is not one buffer.
    pub fn of(b: &'a dyn PackB) -> Option<Self> {
        let (buf, stride, off) = b.rows_at()?;
        let far = off.iter().copied().max().unwrap_or(0);
        Some(Self {
            buf,
            stride,
            off,
            far,
        })
    }

    /// Where a tile of columns j .. j + w (`per` a image) that reads
    /// `lanes` floats a row starts, if it can read in place: its columns
    /// are one image's, and its furthest row's `lanes` floats (a short
    /// tile reads past its columns into whatever follows, columns the
    /// store drops) end inside the buffer.
    pub fn at(&self, per: usize, j: usize, w: usize, lanes: usize) -> Option<*const f32> {
        let (img, pix) = (j / per, j % per);
        let start = img * self.stride;
        (pix + w <= per && start + self.far + pix + lanes <= self.buf.len())
            .then(|| self.buf[start..].as_ptr().wrapping_add(pix))
    }
}

/// A dense operand: per image a [K, per_image] row-major matrix, images
/// `image_stride` floats apart (the input of a 1x1 conv).
pub(crate) struct Dense<'a> {
    /// The values.
    pub b: &'a [f32],
    /// Columns per image (also the row stride).
    pub cols: usize,
    /// Floats from one image to the next.
    pub image_stride: usize,
}

impl PackB for Dense<'_> {
    fn per_image(&self) -> usize {
        self.cols
    }
    fn row(&self, img: usize, k: usize) -> &[f32] {
        let s = img * self.image_stride + k * self.cols;
        &self.b[s..s + self.cols]
    }
}

/// Packs into `buf` and returns the packed block, which starts on a 64-byte
/// boundary so that no zmm load of a panel splits a cache line.
fn pack_block<'b>(
    src: &dyn PackB,
    k0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    buf: &'b mut Vec<f32>,
) -> &'b [f32] {
    let panels = nc.div_ceil(NR);
    // Every element below is written (the columns past nc as zeros), so
    // the buffer is only grown, never cleared: zeroing it on each call
    // cost as much as the copies.
    if buf.len() < panels * kc * NR + 16 {
        buf.resize(panels * kc * NR + 16, 0.0);
    }
    let skip = buf.as_ptr().align_offset(64).min(16);
    let out = &mut buf[skip..skip + panels * kc * NR];
    let per = src.per_image();
    for kk in 0..kc {
        // Panel p's row kk gets columns j0 + p NR .. of the batch, a
        // stretch at a time where they cross from one image to the next.
        let mut cur: Option<(usize, &[f32])> = None;
        for p in 0..panels {
            let w = NR.min(nc - p * NR);
            let row = &mut out[(p * kc + kk) * NR..][..NR];
            row[w..].fill(0.0);
            let d = &mut row[..w];
            let mut at = 0;
            while at < w {
                let j = j0 + p * NR + at;
                let (img, pix) = (j / per, j % per);
                let run = match cur {
                    Some((i, r)) if i == img => r,
                    _ => {
                        let r = src.row(img, k0 + kk);
                        cur = Some((img, r));
                        r
                    }
                };
                let take = (per - pix).min(w - at);
                if take == NR {
                    // A whole panel row from one image, the common case: a
                    // fixed-size copy is two zmm moves, where a call to
                    // memcpy cost about as much as the tile's FMAs for
                    // that row at 64 output channels.
                    let src: &[f32; NR] = run[pix..pix + NR].try_into().expect("NR floats");
                    let dst: &mut [f32; NR] = (&mut d[..NR]).try_into().expect("NR floats");
                    *dst = *src;
                } else {
                    d[at..at + take].copy_from_slice(&run[pix..pix + take]);
                }
                at += take;
            }
        }
    }
    out
}

thread_local! {
    static PACK: super::Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// out[r, j] = epi(sum_k a[r, k] b[k, j]) for rows `rows` of the packed
/// weights and columns `cols` of the batch; single-threaded (callers split
/// rows or columns among threads).
///
/// # Safety
/// `out` must address every image the columns reach, [M, per_image] floats
/// each, whose rows x columns here no other thread touches, and `b` must
/// give every row of the weights' depth over the columns.
pub(crate) unsafe fn gemm(
    a: &PackedWeights,
    b: &dyn PackB,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    out: OutMap,
    epi: Epilogue,
) {
    assert_eq!(
        a.mr, MR,
        "packed gemm: wide weights go to packed_wide::gemm"
    );
    a.check(&rows, &epi);
    let per = b.per_image();
    let in_place = InPlace::of(b);
    super::with_scratch(&PACK, |buf| {
        let nb = a.blocks.len();
        let mut jc = cols.start;
        while jc < cols.end {
            let nc = NC.min(cols.end - jc);
            let at: Vec<Stretches> = (0..nc.div_ceil(NR))
                .map(|jr| Stretches::of(&out, per, jc + jr * NR, NR.min(nc - jr * NR)))
                .collect();
            // Whole panels inside one image of an operand in one buffer
            // are read where they lie, row k at its offset: no copy, and
            // a 3x3 conv's nine taps of a channel share their cache lines.
            let direct = |jr: usize| {
                let (j, w) = (jc + jr * NR, NR.min(nc - jr * NR));
                in_place
                    .as_ref()
                    .and_then(|ip| Some((ip.at(per, j, w, NR)?, ip.off)))
            };
            let all_direct = (0..nc.div_ceil(NR)).all(|jr| direct(jr).is_some());
            for (bi, &(k0, kc)) in a.blocks.iter().enumerate() {
                let bp: &[f32] = if all_direct {
                    &[]
                } else {
                    pack_block(b, k0, kc, jc, nc, buf)
                };
                let bpans: Vec<BSrc> = (0..nc.div_ceil(NR))
                    .map(|jr| match direct(jr).filter(|_| all_direct) {
                        Some((base, off)) => BSrc::Rows(base, &off[k0..k0 + kc]),
                        None => BSrc::Panel(&bp[jr * kc * NR..(jr + 1) * kc * NR]),
                    })
                    .collect();
                for p in rows.start / MR..rows.end.div_ceil(MR) {
                    for (jr, &bpan) in bpans.iter().enumerate() {
                        let h = MR.min(rows.end - p * MR);
                        let to = Tile {
                            out,
                            r0: p * MR,
                            h,
                            at: &at[jr],
                        };
                        let bias = epi.bias.map(|b| &b[p * MR..p * MR + h]);
                        let last = (bi + 1 == nb).then_some(&epi);
                        // SAFETY: available() held when the weights were
                        // packed; the tile lies inside the caller's share.
                        tile(a.panel(bi, p), bpan, kc, to, bi == 0, last, bias);
                    }
                }
            }
            jc += nc;
        }
    });
}

/// Where a tile reads its NR columns of B, row after row: a packed panel
/// ([kc][NR] floats), or rows in place (row k at base + off[k]).
#[derive(Clone, Copy)]
enum BSrc<'s> {
    Panel(&'s [f32]),
    Rows(*const f32, &'s [usize]),
}

/// One output tile: rows r0 .. r0 + h, its columns where `at` puts them.
#[derive(Clone, Copy)]
struct Tile<'s> {
    out: OutMap,
    r0: usize,
    h: usize,
    at: &'s Stretches,
}

/// `last`: the final K block, with its clamp (None inside: Some(None)
/// means no clamp).
#[inline]
unsafe fn tile(
    a: &[f32],
    b: BSrc<'_>,
    kc: usize,
    to: Tile<'_>,
    first: bool,
    last: Option<&Epilogue>,
    bias: Option<&[f32]>,
) {
    #[cfg(target_arch = "x86_64")]
    tile_avx512(a.as_ptr(), b, kc, to, first, last, bias);
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!(
        "packed gemm without AVX-512: {a:p} {} {kc} {first} {} {}",
        matches!(b, BSrc::Panel(_)),
        to.h,
        last.is_some() || bias.is_some()
    );
}

/// Floats ahead of the tile's weight reads that it prefetches.
#[cfg(target_arch = "x86_64")]
const PF_A: usize = 1024;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512(
    a: *const f32,
    b: BSrc<'_>,
    kc: usize,
    to: Tile<'_>,
    first: bool,
    last: Option<&Epilogue>,
    bias: Option<&[f32]>,
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    // Columns past the panel's width are zero in it, rows past h in the
    // weights, so the whole tile computes; only loads and stores are
    // masked, one per stretch of lanes that is contiguous in memory.
    let plane = to.out.oh * to.out.ow;
    let stretches = &to.at.at[..to.at.n];
    if !first {
        for (r, acc) in acc.iter_mut().enumerate().take(to.h) {
            for &(a, b, off) in stretches {
                let p = to
                    .out
                    .c
                    .wrapping_add(off + (to.r0 + r) * plane)
                    .wrapping_sub(a);
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_mask_loadu_ps(*acc, lanes(a, b, 16 * v), p.wrapping_add(16 * v));
                }
            }
        }
    }
    // One K row: NR floats of B at bp times MR of A at ap.
    macro_rules! k_row {
        ($ap:expr, $bp:expr) => {{
            let (ap, bp) = ($ap, $bp);
            _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(PF_A) as *const i8);
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = _mm512_loadu_ps(bp.add(16 * v));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r));
                for (acc, bv) in acc.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(av, *bv, *acc);
                }
            }
        }};
    }
    let mut ap = a;
    match b {
        BSrc::Panel(panel) => {
            debug_assert_eq!(panel.len(), kc * NR);
            let mut bp = panel.as_ptr();
            for _ in 0..kc {
                k_row!(ap, bp);
                ap = ap.add(MR);
                bp = bp.add(NR);
            }
        }
        BSrc::Rows(base, off) => {
            debug_assert_eq!(off.len(), kc);
            for &o in off {
                k_row!(ap, base.add(o));
                ap = ap.add(MR);
            }
        }
    }
    for (r, acc) in acc.iter_mut().enumerate().take(to.h) {
        let mut v = *acc;
        if let Some(epi) = last {
            if let Some(bias) = bias {
                let bv = _mm512_set1_ps(bias[r]);
                v.iter_mut().for_each(|v| *v = _mm512_add_ps(*v, bv));
            }
            if let Some(res) = epi.residual {
                let mut rv = [_mm512_setzero_ps(); NV];
                for &(a, b, off) in stretches {
                    let p = res
                        .as_ptr()
                        .wrapping_add(off + (to.r0 + r) * plane)
                        .wrapping_sub(a);
                    for (i, rv) in rv.iter_mut().enumerate() {
                        *rv =
                            _mm512_mask_loadu_ps(*rv, lanes(a, b, 16 * i), p.wrapping_add(16 * i));
                    }
                }
                v.iter_mut()
                    .zip(&rv)
                    .for_each(|(v, r)| *v = _mm512_add_ps(*v, *r));
            }
            if let Some((lo, hi)) = epi.clamp {
                // max(lo, x) and min(hi, x) return x when x is NaN.
                let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
                v.iter_mut()
                    .for_each(|v| *v = _mm512_min_ps(hi, _mm512_max_ps(lo, *v)));
            }
        }
        for &(a, b, off) in stretches {
            let p = to
                .out
                .c
                .wrapping_add(off + (to.r0 + r) * plane)
                .wrapping_sub(a);
            for (i, v) in v.iter().enumerate() {
                _mm512_mask_storeu_ps(p.wrapping_add(16 * i), lanes(a, b, 16 * i), *v);
            }
        }
    }
}

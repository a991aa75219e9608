//! The packed product with its tile turned around, for the convs where
//! the 8 x 32 tile of `packed` falls short: stride 1, several taps, output
//! channels a multiple of 32 (resnet's 3x3 convs). A tile is 32 output
//! channels (two zmm) by 14 output pixels, 28 accumulators: per K row two
//! vector loads of the weights and 14 broadcasts of input pixels read
//! where they lie in the padded copy, 28 FMAs. The 8 x 32 tile does 16
//! FMAs for two vector loads and eight broadcasts, and its 32 pixels of a
//! row and 8 weights stream from L2 at ~25 bytes a cycle; this one needs
//! ~14. In resnet18 (batch 1) its layer1-2 convs ran 8-15% faster than
//! on the 8 x 32 tile, the whole model 1.03-1.04x; the K loops alone
//! (`cargo bench --bench conv_tiles`) differ by less than this guest's
//! run-to-run noise.
//!
//! The accumulators hold a pixel's channels, the output wants a channel's
//! pixels: at the store the tile goes through a 1.8 KB stack copy and one
//! gather per output row (~3% of a tile at K = 576). K is one block, so no
//! partial sums go back through that transpose.

#[cfg(target_arch = "x86_64")]
use super::out_map::lanes;
use super::out_map::{OutMap, Stretches};
use super::packed::{Epilogue, InPlace, PackB, PackedWeights, MRW};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Output pixels per tile.
const NP: usize = 14;
/// Tiles per block of columns: every weight panel passes over these 56
/// pixels, whose input rows stay in L1 between panels.
const TILES: usize = 4;
/// Floats ahead of the tile's weight reads that it prefetches (the
/// weights of resnet18's layer4 come from L3).
const PF_A: usize = 1024;

thread_local! {
    static PACK: super::Scratch = const { std::cell::RefCell::new(Vec::new()) };
}

/// Where a tile reads its pixels, K row by K row: row k's NP floats at
/// base + off[k] (in place), or a packed [k][NP] panel (off = None).
#[derive(Clone, Copy)]
struct Pixels<'s> {
    base: *const f32,
    off: Option<&'s [usize]>,
}

/// `packed::gemm` for weights packed by [`PackedWeights::new_wide`].
///
/// # Safety
/// As `packed::gemm`.
pub(crate) unsafe fn gemm(
    a: &PackedWeights,
    b: &dyn PackB,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    out: OutMap,
    epi: Epilogue,
) {
    a.check(&rows, &epi);
    let k = a.depth();
    let per = b.per_image();
    let in_place = InPlace::of(b);
    super::with_scratch(&PACK, |buf| {
        let mut j0 = cols.start;
        while j0 < cols.end {
            let jn = (cols.end - j0).min(NP * TILES);
            let tiles = jn.div_ceil(NP);
            if buf.len() < tiles * k * NP {
                buf.resize(tiles * k * NP, 0.0);
            }
            let mut src = [Pixels {
                base: std::ptr::null(),
                off: None,
            }; TILES];
            let mut at = Vec::with_capacity(tiles);
            for (t, src) in src.iter_mut().enumerate().take(tiles) {
                let (j, w) = (j0 + t * NP, NP.min(jn - t * NP));
                at.push(Stretches::of(&out, per, j, w));
                // In place where it can be, else packed (the last pixels of
                // an image, a source with no single buffer).
                let direct = in_place
                    .as_ref()
                    .and_then(|ip| Some((ip.at(per, j, w, NP)?, ip.off)));
                *src = match direct {
                    Some((base, off)) => Pixels {
                        base,
                        off: Some(off),
                    },
                    None => {
                        let panel = &mut buf[t * k * NP..(t + 1) * k * NP];
                        pack_tile(b, j, w, panel);
                        Pixels {
                            base: panel.as_ptr(),
                            off: None,
                        }
                    }
                };
            }
            for p in rows.start / MRW..rows.end.div_ceil(MRW) {
                let (r0, h) = (p * MRW, MRW.min(rows.end - p * MRW));
                let bias = epi.bias.map(|b| &b[r0..r0 + h]);
                for t in 0..tiles {
                    #[cfg(target_arch = "x86_64")]
                    tile_avx512(a.panel(0, p), src[t], k, out, r0, h, &at[t], &epi, bias);
                }
            }
            j0 += jn;
        }
    });
}

/// Packs columns j .. j + w of the batch (one image or two) as [k][NP],
/// lanes past w zero.
fn pack_tile(b: &dyn PackB, j: usize, w: usize, panel: &mut [f32]) {
    let per = b.per_image();
    for (kk, row) in panel.chunks_exact_mut(NP).enumerate() {
        row[w..].fill(0.0);
        let mut at = 0;
        while at < w {
            let (img, pix) = ((j + at) / per, (j + at) % per);
            let take = (per - pix).min(w - at);
            row[at..at + take].copy_from_slice(&b.row(img, kk)[pix..pix + take]);
            at += take;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512(
    a: &[f32],
    b: Pixels<'_>,
    k: usize,
    out: OutMap,
    r0: usize,
    h: usize,
    at: &Stretches,
    epi: &Epilogue,
    bias: Option<&[f32]>,
) {
    debug_assert_eq!(a.len(), k * MRW);
    let mut acc = [[_mm512_setzero_ps(); 2]; NP];
    macro_rules! k_row {
        ($ap:expr, $bp:expr) => {{
            let (ap, bp) = ($ap, $bp);
            _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(PF_A) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(PF_A + 16) as *const i8);
            let av = [_mm512_loadu_ps(ap), _mm512_loadu_ps(ap.add(16))];
            for (j, acc) in acc.iter_mut().enumerate() {
                let bv = _mm512_set1_ps(*bp.add(j));
                acc[0] = _mm512_fmadd_ps(av[0], bv, acc[0]);
                acc[1] = _mm512_fmadd_ps(av[1], bv, acc[1]);
            }
        }};
    }
    let mut ap = a.as_ptr();
    match b.off {
        Some(off) => {
            for &o in &off[..k] {
                k_row!(ap, b.base.add(o));
                ap = ap.add(MRW);
            }
        }
        None => {
            let mut bp = b.base;
            for _ in 0..k {
                k_row!(ap, bp);
                ap = ap.add(MRW);
                bp = bp.add(NP);
            }
        }
    }
    // Pixel-major to channel-major: the tile to the stack, then one
    // gather per output row (lanes = the tile's pixels).
    let mut s = [0.0f32; NP * MRW];
    for (j, acc) in acc.iter().enumerate() {
        _mm512_storeu_ps(s.as_mut_ptr().add(j * MRW), acc[0]);
        _mm512_storeu_ps(s.as_mut_ptr().add(j * MRW + 16), acc[1]);
    }
    let idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 0),
        _mm512_set1_epi32(MRW as i32),
    );
    let valid: __mmask16 = (1 << NP) - 1;
    let plane = out.oh * out.ow;
    let stretches = &at.at[..at.n];
    for r in 0..h {
        let mut v =
            _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), valid, idx, s.as_ptr().add(r));
        if let Some(bias) = bias {
            v = _mm512_add_ps(v, _mm512_set1_ps(bias[r]));
        }
        if let Some(res) = epi.residual {
            let mut rv = _mm512_setzero_ps();
            for &(a, b, off) in stretches {
                let p = res
                    .as_ptr()
                    .wrapping_add(off + (r0 + r) * plane)
                    .wrapping_sub(a);
                rv = _mm512_mask_loadu_ps(rv, lanes(a, b, 0), p);
            }
            v = _mm512_add_ps(v, rv);
        }
        if let Some((lo, hi)) = epi.clamp {
            // max(lo, x) and min(hi, x) return x when x is NaN.
            v = _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), v));
        }
        for &(a, b, off) in stretches {
            let p = out.c.wrapping_add(off + (r0 + r) * plane).wrapping_sub(a);
            _mm512_mask_storeu_ps(p, lanes(a, b, 0), v);
        }
    }
}

//! Where a packed product's tile lands: the output's layout over the
//! batch's columns ([`OutMap`]) and, per tile, the runs of its lanes that
//! are contiguous in memory ([`Stretches`]), shared by both tiles.

/// Most lanes a tile has (the 8 x 32 tile's 32 columns).
pub(crate) const MAX_LANES: usize = 32;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::__mmask16;

/// Where the product goes. Column j of the batch is column q = j %
/// per_image of image j / per_image, and q is output pixel (q / pitch, q %
/// pitch): a direct conv computes over the padded width (pitch > ow) and
/// the columns past ow are dropped; element (r, oy, ox) of an image sits
/// at r * oh * ow + oy * ow + ox.
#[derive(Clone, Copy)]
pub(crate) struct OutMap {
    /// Image 0, row 0, pixel 0.
    pub c: *mut f32,
    /// Floats from one image to the next.
    pub image_stride: usize,
    /// Output rows and columns.
    pub oh: usize,
    /// See `oh`.
    pub ow: usize,
    /// Columns per output row in the batch's column space (>= ow).
    pub pitch: usize,
}

impl OutMap {
    /// A dense [M, oh, ow] output per image (no dropped columns).
    pub fn dense(c: *mut f32, image_stride: usize, pixels: usize) -> Self {
        Self {
            c,
            image_stride,
            oh: 1,
            ow: pixels,
            pitch: pixels,
        }
    }
}

/// The stretches of a tile's lanes that land in memory, as (first lane,
/// end lane, offset of the first lane's element in row 0): lanes a..b
/// go to c + offset - a + lane, one masked access per stretch and zmm.
pub(crate) struct Stretches {
    pub(crate) n: usize,
    pub(crate) at: [(usize, usize, usize); MAX_LANES],
}

impl Stretches {
    pub(crate) fn of(out: &OutMap, per: usize, j0: usize, w: usize) -> Self {
        let mut s = Self {
            n: 0,
            at: [(0, 0, 0); MAX_LANES],
        };
        let mut a = 0;
        while a < w {
            let (img, q) = ((j0 + a) / per, (j0 + a) % per);
            let (oy, ox) = (q / out.pitch, q % out.pitch);
            let mut len = (per - q).min(w - a);
            if out.pitch != out.ow || out.oh != 1 {
                if ox >= out.ow || oy >= out.oh {
                    // Padding columns: skip to the next output row.
                    a += (out.pitch - ox).min(per - q).min(w - a);
                    continue;
                }
                if out.pitch != out.ow {
                    len = len.min(out.ow - ox);
                }
            }
            let off = img * out.image_stride
                + if out.pitch == out.ow {
                    q
                } else {
                    oy * out.ow + ox
                };
            s.at[s.n] = (a, a + len, off);
            s.n += 1;
            a += len;
        }
        s
    }
}

/// Lane mask of lanes lo .. hi within the 16 lanes starting at `base`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn lanes(lo: usize, hi: usize, base: usize) -> __mmask16 {
    let (lo, hi) = (
        lo.clamp(base, base + 16) - base,
        hi.clamp(base, base + 16) - base,
    );
    (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as u16
}

//! The band's copies and taps through AVX-512: channels gathered into
//! pixel vectors (16 floats per gather instead of 16 strided stores),
//! each output row gathered back out per channel, the taps one FMA each.

use super::{band_row, Geo, L};
use std::arch::x86_64::*;

/// Proof that this CPU has AVX-512F and that the gathers' 32-bit
/// offsets cannot overflow.
#[derive(Clone, Copy)]
pub(super) struct Kernels(());

impl Kernels {
    pub(super) fn new(g: &Geo) -> Option<Kernels> {
        let fits = L * g.h * g.w < i32::MAX as usize;
        (fits && std::is_x86_feature_detected!("avx512f")).then_some(Kernels(()))
    }

    /// As `super::fill_band`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fill(
        self,
        g: &Geo,
        xk: &[f32],
        chans: usize,
        r0: usize,
        prows: usize,
        band: &mut [f32],
    ) {
        let mask: __mmask16 = if chans >= L {
            0xffff
        } else {
            (1u16 << chans) - 1
        };
        let step = (g.h * g.w) as i32;
        let offs = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(step),
        );
        for r in 0..prows {
            let Some((iy, inner)) = band_row(g, band, r0, r) else {
                continue;
            };
            let cols = inner.len() / L;
            // The last channel's row must be inside xk for every gather.
            let row0 = iy * g.w;
            assert!((chans - 1) * g.h * g.w + row0 + cols <= xk.len());
            let src = xk.as_ptr().add(row0);
            let out = inner.as_mut_ptr();
            for i in 0..cols {
                // Masked-off lanes (channels past `chans`) come back zero.
                let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, offs, src.add(i));
                _mm512_storeu_ps(out.add(i * L), v);
            }
        }
    }

    /// As `super::taps_row_generic`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn taps(
        self,
        g: &Geo,
        band: &[f32],
        r: usize,
        ws: &[f32],
        bs: &[f32],
        clamp: Option<(f32, f32)>,
        row: &mut [f32],
    ) {
        if g.kernel == [3, 3] {
            self.taps_k::<3, 3>(g, band, r, ws, bs, clamp, row)
        } else {
            self.taps_k::<0, 0>(g, band, r, ws, bs, clamp, row)
        }
    }

    /// `taps` for a KH x KW window whose weights stay in registers (KH =
    /// 0: any window, read from `ws` per pixel).
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn taps_k<const KH: usize, const KW: usize>(
        self,
        g: &Geo,
        band: &[f32],
        r: usize,
        ws: &[f32],
        bs: &[f32],
        clamp: Option<(f32, f32)>,
        row: &mut [f32],
    ) {
        let [kh, kw] = if KH == 0 { g.kernel } else { [KH, KW] };
        let stride = g.pcols * L;
        let [dh, dw] = g.dilation;
        // Every tap's read stays inside the band, every weight inside ws.
        assert!(
            (r + (kh - 1) * dh) * stride + ((g.ow - 1) * g.stride[1] + (kw - 1) * dw + 1) * L
                <= band.len()
        );
        assert!(ws.len() >= kh * kw * L && bs.len() >= L && row.len() >= g.ow * L);
        let bias = _mm512_loadu_ps(bs.as_ptr());
        let (lo, hi) = clamp.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let b = band.as_ptr();
        // A fixed window's weights, loaded once for the row.
        let mut wk = [[_mm512_setzero_ps(); KW]; KH];
        for (ky, wr) in wk.iter_mut().enumerate() {
            for (kx, w) in wr.iter_mut().enumerate() {
                *w = _mm512_loadu_ps(ws.as_ptr().add((ky * KW + kx) * L));
            }
        }
        for ox in 0..g.ow {
            let mut acc = bias;
            let p = b.add(r * stride + ox * g.stride[1] * L);
            if KH == 0 {
                for ky in 0..kh {
                    let p = p.add(ky * dh * stride);
                    for kx in 0..kw {
                        let v = _mm512_loadu_ps(p.add(kx * dw * L));
                        let wv = _mm512_loadu_ps(ws.as_ptr().add((ky * kw + kx) * L));
                        acc = _mm512_fmadd_ps(v, wv, acc);
                    }
                }
            } else {
                for (ky, wr) in wk.iter().enumerate() {
                    let p = p.add(ky * dh * stride);
                    for (kx, w) in wr.iter().enumerate() {
                        let v = _mm512_loadu_ps(p.add(kx * dw * L));
                        acc = _mm512_fmadd_ps(v, *w, acc);
                    }
                }
            }
            if clamp.is_some() {
                // max(lo, a) and min(hi, a) return a when a is NaN.
                acc = _mm512_min_ps(hi, _mm512_max_ps(lo, acc));
            }
            _mm512_storeu_ps(row.as_mut_ptr().add(ox * L), acc);
        }
    }

    /// Output row `oy` of every channel plane in `yk` from `row`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store(
        self,
        g: &Geo,
        row: &[f32],
        oy: usize,
        plane: usize,
        yk: &mut [f32],
    ) {
        let ow = g.ow;
        assert!(row.len() >= ow * L && yk.len().is_multiple_of(plane) && (oy + 1) * ow <= plane);
        let offs = _mm512_setr_epi32(
            0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240,
        );
        for (j, yp) in yk.chunks_mut(plane).enumerate() {
            let dst = yp.as_mut_ptr().add(oy * ow);
            let mut ox = 0;
            while ox < ow {
                let n = (ow - ox).min(L);
                let mask: __mmask16 = if n == L { 0xffff } else { (1u16 << n) - 1 };
                let v = _mm512_mask_i32gather_ps::<4>(
                    _mm512_setzero_ps(),
                    mask,
                    offs,
                    row.as_ptr().add(ox * L + j),
                );
                _mm512_mask_storeu_ps(dst.add(ox), mask, v);
                ox += L;
            }
        }
    }
}

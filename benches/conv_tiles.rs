//! The two tiles of the CPU baseline's packed conv on resnet18's 3x3
//! shapes, one thread, the input read in place as `run` reads it: the
//! 8 x 32 tile (weights broadcast, pixels as vectors) against tiles turned
//! around (output channels as vectors, pixels broadcast), 32 x 14 being
//! `packed_wide`'s. Outputs go to a scratch tile (no store pattern), so
//! this times the K loop and its memory traffic only (BENCHMARKS.md, "The
//! CPU baseline: a wide tile...").
//!
//! ```sh
//! cargo bench --bench conv_tiles
//! ```
//!
//! Needs x86-64 with AVX-512; prints a note and exits elsewhere.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::time::Instant;

    /// 8 x 32: per K row two vector loads of pixels, eight broadcasts.
    #[target_feature(enable = "avx512f")]
    unsafe fn narrow(a: *const f32, base: *const f32, off: &[usize], c: *mut f32) {
        let mut acc = [[_mm512_setzero_ps(); 2]; 8];
        let mut ap = a;
        for &o in off {
            let bp = base.add(o);
            let bv = [_mm512_loadu_ps(bp), _mm512_loadu_ps(bp.add(16))];
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r));
                acc[0] = _mm512_fmadd_ps(av, bv[0], acc[0]);
                acc[1] = _mm512_fmadd_ps(av, bv[1], acc[1]);
            }
            ap = ap.add(8);
        }
        for (r, acc) in acc.iter().enumerate() {
            _mm512_storeu_ps(c.add(32 * r), acc[0]);
            _mm512_storeu_ps(c.add(32 * r + 16), acc[1]);
        }
    }

    /// 16 MV output channels x NP pixels broadcast from the rows in place.
    #[target_feature(enable = "avx512f")]
    unsafe fn turned<const MV: usize, const NP: usize>(
        a: *const f32,
        base: *const f32,
        off: &[usize],
        c: *mut f32,
    ) {
        let mut acc = [[_mm512_setzero_ps(); MV]; NP];
        let mut ap = a;
        for &o in off {
            let bp = base.add(o);
            let mut av = [_mm512_setzero_ps(); MV];
            for (v, av) in av.iter_mut().enumerate() {
                *av = _mm512_loadu_ps(ap.add(16 * v));
            }
            for (j, acc) in acc.iter_mut().enumerate() {
                let bv = _mm512_set1_ps(*bp.add(j));
                for (acc, av) in acc.iter_mut().zip(&av) {
                    *acc = _mm512_fmadd_ps(*av, bv, *acc);
                }
            }
            ap = ap.add(16 * MV);
        }
        for (j, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                _mm512_storeu_ps(c.add(j * 16 * MV + 16 * v), *acc);
            }
        }
    }

    type Tile = unsafe fn(*const f32, *const f32, &[usize], *mut f32);

    /// Median GFLOP/s of a 3x3 stride-1 conv cin -> m on side x side, one
    /// thread, tiles of `mr` channels x `np` pixels in blocks of ~64
    /// pixels, every weight panel over a block before the next block.
    fn conv(cin: usize, m: usize, side: usize, mr: usize, np: usize, f: Tile) -> f64 {
        let wq = side + 2;
        let plane = wq * (side + 2);
        let k = cin * 9;
        let xpad = vec![1.0f32; cin * plane + 64];
        let off: Vec<usize> = (0..k)
            .map(|kk| kk / 9 * plane + kk / 3 % 3 * wq + kk % 3)
            .collect();
        let a = vec![0.5f32; m * k];
        let tiles = side * wq / np;
        let mut c = vec![0.0f32; mr * np];
        let block = (64 / np).max(1);
        let mut ts = Vec::new();
        for _ in 0..15 {
            let t = Instant::now();
            let mut t0 = 0;
            while t0 < tiles {
                for p in 0..m / mr {
                    for t in t0..(t0 + block).min(tiles) {
                        let (ap, bp) = (a[p * k * mr..].as_ptr(), xpad[t * np..].as_ptr());
                        // SAFETY: AVX-512F checked by main; every read is
                        // inside a (K x mr) and xpad (K rows of np + 2).
                        unsafe { f(ap, bp, &off, c.as_mut_ptr()) };
                    }
                }
                t0 += block;
            }
            std::hint::black_box(&c);
            ts.push(t.elapsed().as_secs_f64());
        }
        ts.sort_by(f64::total_cmp);
        2.0 * (m / mr * mr * k * tiles * np) as f64 / ts[7] / 1e9
    }

    pub fn main() {
        if !std::is_x86_feature_detected!("avx512f") {
            println!("conv_tiles: this CPU has no AVX-512, nothing to time");
            return;
        }
        let shapes: [(usize, usize, usize); 3] = [(64, 64, 56), (256, 256, 14), (512, 512, 7)];
        let tiles: [(&str, usize, usize, Tile); 4] = [
            ("8 x 32 (packed)", 8, 32, narrow),
            ("32 x 14 (packed_wide)", 32, 14, turned::<2, 14>),
            ("32 x 12", 32, 12, turned::<2, 12>),
            ("64 x 6", 64, 6, turned::<4, 6>),
        ];
        println!("GFLOP/s, one thread, medians of 15 (3x3 stride 1, input in place)");
        for (cin, m, side) in shapes {
            let row: Vec<String> = tiles
                .iter()
                .map(|&(name, mr, np, f)| format!("{name} {:.1}", conv(cin, m, side, mr, np, f)))
                .collect();
            println!("{cin:>4} -> {m:<4} {side:>3}x{side:<3}: {}", row.join("  "));
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    x86::main();
    #[cfg(not(target_arch = "x86_64"))]
    println!("conv_tiles: needs x86-64 with AVX-512");
}

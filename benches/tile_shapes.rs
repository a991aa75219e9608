//! What the packed conv's 8 x 32 tile leaves on the table on this CPU:
//! the FMA units' peak (sixteen independent zmm FMA chains, one thread
//! per core at once) and the same K loop over panels in cache for other
//! tile shapes (BENCHMARKS.md, "The CPU baseline against onnxruntime,
//! third round").
//!
//! ```sh
//! cargo bench --bench tile_shapes
//! ```
//!
//! Needs x86-64 with AVX-512; prints a note and exits elsewhere.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::time::Instant;

    /// n rounds of sixteen independent FMA chains; GFLOP/s.
    #[target_feature(enable = "avx512f")]
    unsafe fn peak(n: usize) -> f64 {
        let mut a = [_mm512_set1_ps(1.0); 16];
        let (b, c) = (_mm512_set1_ps(1.000_000_1), _mm512_set1_ps(1e-7));
        let t = Instant::now();
        for _ in 0..n {
            for x in a.iter_mut() {
                *x = _mm512_fmadd_ps(*x, b, c);
            }
        }
        let dt = t.elapsed().as_secs_f64();
        std::hint::black_box(a);
        (n * 16 * 32) as f64 / dt / 1e9
    }

    /// One MR x (NV 16) tile over packed panels: A `[k][MR]`, B `[k][NV 16]`.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const MR: usize, const NV: usize>(
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        ldc: usize,
    ) {
        let kc = a.len() / MR;
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        for k in 0..kc {
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = _mm512_loadu_ps(b[(k * NV + v) * 16..][..16].as_ptr());
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(a[k * MR + r]);
                for (acc, bv) in acc.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(av, *bv, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                _mm512_storeu_ps(c[r * ldc + 16 * v..][..16].as_mut_ptr(), *acc);
            }
        }
    }

    /// Best of 20 sweeps of an [m, kc] x [kc, n] product, one thread.
    fn shape<const MR: usize, const NV: usize>(kc: usize, m: usize, n: usize) {
        let nr = NV * 16;
        let (m, n) = (m / MR * MR, n / nr * nr);
        let a = vec![0.5f32; kc * m];
        let b = vec![0.25f32; kc * n];
        let mut c = vec![0f32; m * n];
        let mut best = f64::MAX;
        for _ in 0..20 {
            let t = Instant::now();
            for jp in 0..n / nr {
                for ip in 0..m / MR {
                    let (ap, bp) = (&a[ip * MR * kc..][..MR * kc], &b[jp * nr * kc..][..nr * kc]);
                    // SAFETY: main checked AVX-512F.
                    unsafe { tile::<MR, NV>(ap, bp, &mut c[ip * MR * n + jp * nr..], n) };
                }
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let gflops = (2 * kc * m * n) as f64 / best / 1e9;
        println!("  {MR:>2} x {nr:<2} tile, K {kc}, [{m}, {n}]: {gflops:.1} GFLOP/s");
    }

    pub fn main() {
        if !std::is_x86_feature_detected!("avx512f") {
            println!("tile_shapes: this CPU has no AVX-512");
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let each: Vec<f64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..cores)
                .map(|_| s.spawn(|| unsafe { peak(20_000_000) }))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0.0)).collect()
        });
        println!("FMA peak, {cores} threads at once: {each:.1?} GFLOP/s");
        println!("the packed conv's K loop, one thread, panels in cache:");
        for kc in [576, 1024] {
            shape::<8, 2>(kc, 192, 768);
            shape::<8, 3>(kc, 192, 768);
            shape::<12, 2>(kc, 180, 768);
            shape::<14, 2>(kc, 168, 768);
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    x86::main();
    #[cfg(not(target_arch = "x86_64"))]
    println!("tile_shapes: x86-64 only");
}

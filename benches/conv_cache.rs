//! The CPU baseline's packed conv alone, with its data in cache and with
//! the caches flushed first (64 MiB written between runs), on
//! mobilenet_v2's and resnet18's shapes: how much of a conv's time in a
//! whole model is memory rather than arithmetic (BENCHMARKS.md, "The CPU
//! baseline against onnxruntime, third round").
//!
//! ```sh
//! cargo bench --bench conv_cache            # medians of 50 runs per shape
//! REPS=200 cargo bench --bench conv_cache
//! ```
//!
//! Needs AVX-512 (the packed path); prints a note and exits elsewhere.

use std::time::Instant;
use wgsl_nn::cpu::baseline::{self, packed::PackedWeights};
use wgsl_nn::ops::conv2d::Conv2d;

/// (in channels, out channels, input side, kernel, stride).
const SHAPES: [(usize, usize, usize, usize, usize); 9] = [
    (16, 96, 112, 1, 1),
    (24, 144, 56, 1, 1),
    (144, 24, 56, 1, 1),
    (3, 32, 224, 3, 2),
    (320, 1280, 7, 1, 1),
    (64, 64, 56, 3, 1),
    (128, 128, 28, 3, 1),
    (256, 256, 14, 3, 1),
    (512, 512, 7, 3, 1),
];

fn main() {
    if !baseline::packed::available() {
        println!("conv_cache: this CPU has no AVX-512, so no packed path to time");
        return;
    }
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .max(1);
    let mut flush = vec![0u8; 64 << 20];
    // Inside rayon's pool, as `wgsl-nn run`'s baseline rounds are.
    rayon::scope(|_| {
        for (cin, cout, side, k, s) in SHAPES {
            let mut conv = Conv2d::new(cin, cout, k);
            conv.window.stride = [s, s];
            conv.window.pad_begin = [k / 2; 2];
            conv.window.pad_end = [k / 2; 2];
            let xs = [1, cin, side, side];
            let os = conv.output_shape(&xs, "conv_cache").expect("a valid shape");
            let x: Vec<f32> = (0..cin * side * side).map(|i| (i % 7) as f32).collect();
            let w = vec![0.5f32; cout * cin * k * k];
            let b = vec![0.1f32; cout];
            let pw = PackedWeights::new(&w, cout, cin * k * k).expect("AVX-512");
            let mut y = vec![0.0f32; os.iter().product()];
            let flops = (os.iter().product::<usize>() * cin * k * k * 2) as f64;
            let mut line = format!("{cin:>4} -> {cout:<4} {side:>3}x{side:<3} k{k} s{s}:");
            for flushed in [false, true] {
                let mut ts = Vec::with_capacity(reps);
                for r in 0..reps {
                    if flushed {
                        flush
                            .iter_mut()
                            .for_each(|v| *v = v.wrapping_add(r as u8 | 1));
                    }
                    let t = Instant::now();
                    let relu6 = Some((0.0, 6.0));
                    baseline::conv2d_packed_into(
                        &conv,
                        &pw,
                        &x,
                        xs,
                        Some(&b),
                        os,
                        relu6,
                        None,
                        &mut y,
                    );
                    ts.push(t.elapsed().as_secs_f64() * 1e3);
                }
                ts.sort_by(f64::total_cmp);
                let ms = ts[reps / 2];
                let what = if flushed { "flushed" } else { "in cache" };
                line += &format!("  {what} {ms:.3} ms ({:.1} GFLOP/s)", flops / ms / 1e6);
            }
            println!("{line}");
        }
    });
    std::hint::black_box(&flush);
}

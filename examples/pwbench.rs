use std::time::Instant;
use wgsl_nn::cpu::baseline::{self, packed::PackedWeights};
use wgsl_nn::ops::conv2d::Conv2d;
fn main() {
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    rayon::scope(|_| {
        for &(cin, cout, hw, k, s) in &[
            (16usize, 96usize, 112usize, 1usize, 1usize),
            (24, 144, 56, 1, 1),
            (144, 24, 56, 1, 1),
            (3, 32, 224, 3, 2),
            (320, 1280, 7, 1, 1),
        ] {
            let mut conv = Conv2d::new(cin, cout, k);
            conv.window.stride = [s, s];
            if k == 3 {
                conv.window.pad_begin = [1, 1];
                conv.window.pad_end = [1, 1];
            }
            let xs = [1, cin, hw, hw];
            let os = conv.output_shape(&xs, "x").unwrap();
            let x: Vec<f32> = (0..cin * hw * hw).map(|i| (i % 7) as f32).collect();
            let w = vec![0.5f32; cout * cin * k * k];
            let b = vec![0.1f32; cout];
            let pw = PackedWeights::new(&w, cout, cin * k * k).unwrap();
            let mut y = vec![0.0f32; os.iter().product()];
            let mut ts = vec![];
            let mut flush = vec![0u8; 64 << 20];
            for r in 0..reps {
                if std::env::var("FLUSH").is_ok() {
                    flush.iter_mut().for_each(|v| *v = v.wrapping_add(r as u8));
                }
                let t = Instant::now();
                baseline::conv2d_packed_into(
                    &conv,
                    &pw,
                    &x,
                    xs,
                    Some(&b),
                    os,
                    Some((0.0, 6.0)),
                    None,
                    &mut y,
                );
                ts.push(t.elapsed().as_secs_f64() * 1e3);
            }
            ts.sort_by(|a, b| a.total_cmp(b));
            let fl = (os.iter().product::<usize>() * cin * k * k * 2) as f64;
            println!(
                "{cin}->{cout} {hw}x{hw} k{k} s{s}: {:.3} ms, {:.1} GFLOP/s",
                ts[reps / 2],
                fl / ts[reps / 2] / 1e6
            );
        }
    });
}

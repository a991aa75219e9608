//! burn 0.22's wgpu backend on issue 7's workloads, float32, medians after
//! warm-up, wall clock from launch to `Device::sync` (burn exposes no GPU
//! timestamps). Run on the adapter wgpu picks (set CUBECL_WGPU_DEFAULT_DEVICE
//! to choose); compare with `wgsl-nn bench` on the same machine.

use burn::tensor::module::{attention, conv2d};
use burn::tensor::ops::{AttentionModuleOptions, ConvOptions};
use burn::tensor::{Device, DeviceKind, Distribution, Tensor};
use std::time::Instant;

fn time(device: &Device, reps: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    for _ in 0..2 {
        f();
        device.sync().expect("sync");
    }
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            device.sync().expect("sync");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn report(op: &str, shape: &str, flops: f64, t: (f64, f64, f64)) {
    println!("{op:<10} {shape:<42} burn 0.22 wgpu  {:10.3} ms ({:.3}-{:.3})  {:8.2} GFLOP/s", t.0, t.1, t.2, flops / (t.0 * 1e6));
}

fn main() {
    let device = Device::wgpu(DeviceKind::DefaultDevice);
    let reps = 5;
    for (name, batch, chans) in [("exercise stack 1x1x128x128", 1, [1, 1, 1, 1, 1]), ("wide stack 16x1x128x128, 1-32-64-64-32", 16, [1, 32, 64, 64, 32])] {
        let layers = [(3usize, 2usize, 0usize), (5, 1, 2), (3, 1, 1), (5, 2, 0)];
        let x: Tensor<4> = Tensor::random([batch, 1, 128, 128], Distribution::Default, &device);
        let weights: Vec<(Tensor<4>, Tensor<1>)> = layers
            .iter()
            .zip(chans.windows(2))
            .map(|(&(k, _, _), c)| (Tensor::random([c[1], c[0], k, k], Distribution::Uniform(-0.1, 0.1), &device), Tensor::random([c[1]], Distribution::Default, &device)))
            .collect();
        let mut flops = 0.0;
        let mut hw = 128;
        for (&(k, s, p), c) in layers.iter().zip(chans.windows(2)) {
            hw = (hw + 2 * p - k) / s + 1;
            flops += 2.0 * (batch * c[1] * hw * hw * c[0] * k * k) as f64;
        }
        let t = time(&device, reps, || {
            let mut h = x.clone();
            for ((w, b), &(_, s, p)) in weights.iter().zip(&layers) {
                h = conv2d(h, w.clone(), Some(b.clone()), ConvOptions::new([s, s], [p, p], [1, 1], 1));
            }
            std::hint::black_box(h);
        });
        report("conv", name, flops, t);
    }
    for n in [1024usize, 2048] {
        let a: Tensor<2> = Tensor::random([n, n], Distribution::Default, &device);
        let b: Tensor<2> = Tensor::random([n, n], Distribution::Default, &device);
        let t = time(&device, reps, || {
            std::hint::black_box(a.clone().matmul(b.clone()));
        });
        report("matmul", &format!("{n}x{n}x{n}"), 2.0 * (n as f64).powi(3), t);
    }
    for l in [1024usize] {
        let q: Tensor<4> = Tensor::random([1, 8, l, 64], Distribution::Default, &device);
        let k: Tensor<4> = Tensor::random([1, 8, l, 64], Distribution::Default, &device);
        let v: Tensor<4> = Tensor::random([1, 8, l, 64], Distribution::Default, &device);
        let t = time(&device, reps, || {
            std::hint::black_box(attention(q.clone(), k.clone(), v.clone(), None, None, AttentionModuleOptions::default()));
        });
        report("attention", &format!("h=8 d=64 L={l}"), 4.0 * 8.0 * (l * l * 64) as f64, t);
    }
}

//! A LeNet-sized network built from ops, recorded into one plan and run
//! in one submission, checked layer by layer against the f64 reference
//! and timed per layer. `cargo run --release --example small_cnn`
use wgsl_nn::cpu::matmul::linear as linear_ref;
use wgsl_nn::ops::matmul::linear;
use wgsl_nn::prelude::*;

const SEED: u64 = 7;

/// Seeded values in [-scale, scale) (a 64-bit LCG: enough for weights).
fn seeded(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A dense layer's weights [in, out] and bias, PyTorch's init bound.
fn dense(
    gpu: &Gpu,
    inp: usize,
    out: usize,
    seed: u64,
) -> Result<(Tensor, Tensor, Vec<f32>, Vec<f32>)> {
    let k = 1.0 / (inp as f32).sqrt();
    let (w, b) = (seeded(inp * out, seed, k), seeded(out, seed + 1, k));
    Ok((
        Tensor::upload(gpu, "w", &[inp, out], &w)?,
        Tensor::upload(gpu, "b", &[out], &b)?,
        w,
        b,
    ))
}

fn main() -> Result<()> {
    let gpu = Gpu::new(&AdapterChoice::default())?;
    println!("adapter: {}; seed {SEED}", gpu.info.name);
    let batch = 4;
    let x = seeded(batch * 28 * 28, SEED, 1.0);
    let xt = Tensor::upload(&gpu, "x", &[batch, 1, 28, 28], &x)?;
    let conv1 = Conv2d::new(1, 6, 5).padding(2).relu(true);
    let conv2 = Conv2d::new(6, 16, 5).relu(true);
    let pool = Pool2d::max(Window {
        stride: [2, 2],
        ..Window::square(2)
    });
    let conv_w = |c: &Conv2d, seed| {
        let k = 1.0 / ((c.in_channels * 25) as f32).sqrt();
        let w = seeded(c.weight_shape().iter().product(), seed, k);
        let b = seeded(c.out_channels, seed + 1, k);
        (w, b)
    };
    let ((w1, b1), (w2, b2)) = (conv_w(&conv1, 10), conv_w(&conv2, 20));
    let up = |n: &str, s: &[usize], v: &[f32]| Tensor::upload(&gpu, n, s, v);
    let (fc1, fc2, fc3) = (
        dense(&gpu, 400, 120, 30)?,
        dense(&gpu, 120, 84, 40)?,
        dense(&gpu, 84, 10, 50)?,
    );

    // The whole forward pass as one plan: no read-back between layers.
    let mut plan = Plan::new();
    let c1 = conv1.record(
        &gpu,
        &mut plan,
        &xt,
        &up("w1", &conv1.weight_shape(), &w1)?,
        Some(&up("b1", &[6], &b1)?),
    )?;
    let p1 = pool.record(&gpu, &mut plan, &c1)?;
    let c2 = conv2.record(
        &gpu,
        &mut plan,
        &p1,
        &up("w2", &conv2.weight_shape(), &w2)?,
        Some(&up("b2", &[16], &b2)?),
    )?;
    let p2 = pool.record(&gpu, &mut plan, &c2)?;
    // Flatten [N, 16, 5, 5] to [N, 400]: the same buffer, another shape.
    let flat = Tensor {
        shape: vec![batch, 400],
        ..p2.clone()
    };
    let h1 = linear(
        &gpu,
        &mut plan,
        "fc1 400->120",
        &flat,
        &fc1.0,
        Some(&fc1.1),
        Activation::Relu,
    )?;
    let h2 = linear(
        &gpu,
        &mut plan,
        "fc2 120->84",
        &h1,
        &fc2.0,
        Some(&fc2.1),
        Activation::Relu,
    )?;
    let logits = linear(
        &gpu,
        &mut plan,
        "fc3 84->10",
        &h2,
        &fc3.0,
        Some(&fc3.1),
        Activation::None,
    )?;
    let run = gpu.run(&plan)?;
    println!(
        "{} steps in {} submission(s), {:.3} ms wall",
        plan.steps.len(),
        run.submissions,
        run.wall_ms
    );

    // The reference, layer by layer, from the same parameter values.
    let r_c1 = conv1.reference(
        &RefTensor::from_f32(&[batch, 1, 28, 28], &x),
        &w1,
        Some(&b1),
    )?;
    let r_p1 = pool.reference(&r_c1)?;
    let r_c2 = conv2.reference(&r_p1, &w2, Some(&b2))?;
    let mut r_flat = pool.reference(&r_c2)?;
    r_flat.shape = vec![batch, 400];
    let r_h1 = linear_ref(&r_flat, &fc1.2, 400, 120, Some(&fc1.3), Activation::Relu);
    let r_h2 = linear_ref(&r_h1, &fc2.2, 120, 84, Some(&fc2.3), Activation::Relu);
    let r_out = linear_ref(&r_h2, &fc3.2, 84, 10, Some(&fc3.3), Activation::None);
    let mut all_passed = true;
    for (name, t, r) in [
        ("conv1", &c1, &r_c1),
        ("conv2", &c2, &r_c2),
        ("fc1", &h1, &r_h1),
        ("logits", &logits, &r_out),
    ] {
        let v = compare(&t.download(&gpu)?, r);
        all_passed &= v.passed;
        println!("{name:<7} {:?}: {}", t.shape, v.summary());
    }

    // Per-layer GPU times (timestamp queries), medians of 10 runs.
    let t = time_plan(&gpu, &plan, 2, 10)?;
    println!("whole network: median {:.3} ms ({})", t.median_ms, t.clock);
    for (step, ms) in &t.steps {
        println!("  {step:<44} {ms:8.3} ms");
    }
    if !all_passed {
        eprintln!("a layer failed its check");
        std::process::exit(1);
    }
    Ok(())
}

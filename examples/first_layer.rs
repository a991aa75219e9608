//! One convolution on your own tensor: upload, run, check against the f64
//! reference, time. `cargo run --release --example first_layer`
use wgsl_nn::prelude::*;

fn main() -> Result<()> {
    let gpu = Gpu::new(&AdapterChoice::default())?;
    println!("adapter: {}", gpu.info.name);
    // Your layer, PyTorch's defaults: nn.Conv2d(3, 8, 3, padding=1).
    let conv = Conv2d::new(3, 8, 3).padding(1);
    let shape = [1, 3, 32, 32];
    // Your data: any f32s of the right length (here a smooth ramp).
    let x: Vec<f32> = (0..3 * 32 * 32).map(|i| (i as f32 * 0.01).sin()).collect();
    let n_w = conv.weight_shape().iter().product::<usize>();
    let w: Vec<f32> = (0..n_w).map(|i| ((i % 7) as f32 - 3.0) * 0.05).collect();
    let b = vec![0.1f32; 8];
    let (xt, wt, bt) = (
        Tensor::upload(&gpu, "x", &shape, &x)?,
        Tensor::upload(&gpu, "w", &conv.weight_shape(), &w)?,
        Tensor::upload(&gpu, "b", &[8], &b)?,
    );
    // Record the layer into a plan, run it, read the result back.
    let mut plan = Plan::new();
    let y = conv.record(&gpu, &mut plan, &xt, &wt, Some(&bt))?;
    gpu.run(&plan)?;
    let got = y.download(&gpu)?;
    // The same parameter value gives the f64 reference; compare states its rule.
    let reference = conv.reference(&RefTensor::from_f32(&shape, &x), &w, Some(&b))?;
    let verdict = compare(&got, &reference);
    println!("output {:?}: {}", y.shape, verdict.summary());
    // Time it: warm-up, then the median of repeated runs.
    let t = time_plan(&gpu, &plan, 2, 10)?;
    println!(
        "median {:.3} ms on {} ({} reps)",
        t.median_ms, t.clock, t.reps
    );
    if !verdict.passed {
        eprintln!("the GPU result failed its check");
        std::process::exit(1);
    }
    Ok(())
}

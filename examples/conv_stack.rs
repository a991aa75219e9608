//! The exercise's conv stack, step by step: parse the layers, ask the
//! formulas for the output size, run the stack on the GPU in one
//! submission, and check the result against the f64 CPU reference.
//!
//!     cargo run --release --example conv_stack

use wgsl_nn::check::compare;
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
use wgsl_nn::models::conv_stack::{random_input, ConvStack};
use wgsl_nn::{spec, Tensor};

fn main() -> wgsl_nn::Result<()> {
    // 1. One device, created once and passed to everything that follows.
    let gpu = Gpu::new(&AdapterChoice::from_args_or_env(None, None))?;
    println!("adapter: {} ({:?})", gpu.info.name, gpu.info.backend);

    // 2. The stack, in the exercise's own notation, on a 128x128x1 image.
    let layers = spec::parse_stack(spec::EXERCISE_STACK)?;
    let mut stack = ConvStack::new(&layers, [1, 1, 128, 128])?;
    let seed = 42;
    stack.randomize(seed);
    println!("seed {seed}; the formulas say:");
    for l in &stack.layers {
        println!("  {:<40} -> {:?}", l.name, l.out_shape);
    }

    // 3. The GPU: upload once, append every layer to one plan, run it.
    //    No read-back happens between layers.
    let input = random_input(&stack.input_shape, seed + 1);
    let x = Tensor::upload(&gpu, "image", &stack.input_shape, &input)?;
    let weights = stack.upload(&gpu)?;
    let mut plan = Plan::new();
    let y = stack.forward_gpu(&gpu, &weights, &x, &mut plan)?;
    let timing = gpu.run(&plan)?;
    let out = y.download(&gpu)?;
    println!(
        "GPU output shape {:?} ({} values), {:.3} ms",
        y.shape,
        out.len(),
        timing.best_ms()
    );

    // 4. The reference: plain loops in f64, and a check scaled to what
    //    float32 can actually get right.
    let reference = stack.forward_ref(&RefTensor::from_f32(&stack.input_shape, &input));
    let check = compare(&out, &reference);
    println!("check: {}\nrule:  {}", check.summary(), check.rule);
    assert_eq!(y.shape, [1, 1, 30, 30], "the exercise's answer is 30x30x1");
    Ok(())
}

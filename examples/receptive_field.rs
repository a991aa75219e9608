//! How far does one output neuron of the exercise's stack see? First by
//! formula, layer by layer; then measured on the GPU by sending a one-hot
//! at that neuron back through the stack's transposed convolutions; then
//! drawn as a heat map.
//!
//!     cargo run --release --example receptive_field

use wgsl_nn::app::heatmap;
use wgsl_nn::gpu::{AdapterChoice, Gpu};
use wgsl_nn::models::conv_stack::ConvStack;
use wgsl_nn::{receptive, spec};

fn main() -> wgsl_nn::Result<()> {
    let gpu = Gpu::new(&AdapterChoice::from_args_or_env(None, None))?;
    let stack = ConvStack::new(&spec::parse_stack(spec::EXERCISE_STACK)?, [1, 1, 128, 128])?;

    // r_out = r_in + (k - 1) * jump_in, jump_out = jump_in * stride.
    println!("{:<40} {:>5} {:>5}", "layer", "rf", "jump");
    for (l, g) in stack.layers.iter().zip(stack.geometry()?) {
        println!(
            "{:<40} {:>5} {:>5}",
            l.name, g.receptive_field[0], g.jump[0]
        );
    }

    let f = receptive::measure(&gpu, &stack)?;
    println!(
        "\nneuron {:?}: formula {:?}, measured on the GPU {:?}",
        f.neuron, f.analytic, f.measured
    );
    println!(
        "input rows {}..{}, cols {}..{}; {} pixels influence it",
        f.measured_first[0],
        f.measured_last[0],
        f.measured_first[1],
        f.measured_last[1],
        f.influencing_pixels
    );
    println!("how: {}", f.method);

    let path = std::env::temp_dir().join("receptive_field.png");
    let outline = [
        f.analytic_first[0],
        f.analytic_first[1],
        f.analytic_last[0],
        f.analytic_last[1],
    ];
    heatmap::write_png(&path, &f.map, f.map_hw[0], f.map_hw[1], Some(outline))?;
    println!("heat map (brightest = most paths): {}", path.display());
    Ok(())
}

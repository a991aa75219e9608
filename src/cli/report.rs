//! `wgsl-nn` with no subcommand: the exercise, answered by computation.

use super::DeviceArgs;
use wgsl_nn::models::conv_job::{self, ConvJob};

pub fn run(dev: &DeviceArgs) -> wgsl_nn::Result<bool> {
    println!("wgsl-nn: the exercise (IDL exercise 3), answered on the GPU\n");
    let gpu = dev.open()?;
    println!("== Question 3: conv stack output size and receptive field ==");
    println!("stack: {}\n", wgsl_nn::spec::EXERCISE_STACK);
    let report = conv_job::run(&gpu, &ConvJob::default())?;
    super::conv::print_text(&report, false);
    let out = report.stack.output_shape();
    println!(
        "\nanswer: a 128x128x1 image gives a {} response map; each centre neuron sees a {} receptive field \
         (formula {}, measured {}).",
        super::hwc(&out),
        super::pair(report.field.measured),
        super::pair(report.field.analytic),
        super::pair(report.field.measured),
    );
    println!("\n== Question 2 (transformer): permutation equivariance, and positional encodings breaking it ==");
    let perm = wgsl_nn::models::permutation::run(
        &gpu,
        &wgsl_nn::models::permutation::PermuteJob::default(),
    )?;
    super::permute::print_text(&perm);
    Ok(report.check.passed
        && report.field.agrees
        && perm.without_pe.check.passed
        && perm.with_pe.check.passed)
}

//! The `wgsl-nn` command line: one subcommand per job, each a thin layer
//! over the library. With no subcommand it prints the exercise report.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "wgsl-nn",
    version,
    about = "Neural-network layers as WGSL compute shaders, checked against an f64 CPU reference and timed"
)]
struct Args {
    #[command(flatten)]
    device: cli::DeviceArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter wgpu finds, with limits and features.
    Info(cli::info::InfoArgs),
    /// Run a conv/pooling stack on the GPU: shapes, receptive field, check, timing.
    Conv(cli::conv::ConvArgs),
    /// One multi-head attention layer, composed and fused paths, checked and timed.
    Attention(cli::attention::AttentionArgs),
    /// A stack of recurrent layers (nn.RNN, nn.GRU or nn.LSTM, seeded or from a state_dict), checked and timed.
    Rnn(cli::rnn::RnnArgs),
    /// Sweep conv, matmul and attention: GPU vs CPU baseline, checked, as a table, CSV, JSON or SVG plot.
    Bench(cli::bench::BenchArgs),
    /// Every kernel on this adapter (or --all-adapters) against the f64 reference: a pass/fail table.
    Selftest(cli::selftest::SelftestArgs),
    /// The exercise's text-to-image network: words routed to quadrants by cross-attention, decoded to an image.
    Text2image(cli::text2image::Text2ImageArgs),
    /// Time every kernel ladder on this adapter now and cache the picks (with progress).
    Tune(cli::tune::TuneArgs),
    /// Run an ONNX model on the GPU, checked node by node against the f64 reference, profiled per node.
    Run(cli::run::RunArgs),
    /// Show permutation equivariance of a transformer on the GPU, and how positions break it.
    Permute(cli::permute::PermuteArgs),
}

/// `wgsl-nn ... | head` closes stdout early; std's print macros then panic.
/// Exit as a program killed by SIGPIPE would (status 141), quietly, instead
/// of printing a panic and a backtrace; every other panic keeps the default
/// report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let args = Args::parse();
    let result = match args.command {
        Some(Command::Info(a)) => cli::info::run(&args.device, &a),
        Some(Command::Conv(a)) => cli::conv::run(&args.device, &a),
        Some(Command::Attention(a)) => cli::attention::run(&args.device, &a),
        Some(Command::Rnn(a)) => cli::rnn::run(&args.device, &a),
        Some(Command::Permute(a)) => cli::permute::run(&args.device, &a),
        Some(Command::Bench(a)) => cli::bench::run(&args.device, &a),
        Some(Command::Selftest(a)) => cli::selftest::run(&args.device, &a),
        Some(Command::Text2image(a)) => cli::text2image::run(&args.device, &a),
        Some(Command::Tune(a)) => cli::tune::run(&args.device, &a),
        Some(Command::Run(a)) => cli::run::run(&args.device, &a),
        None => cli::report::run(&args.device),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        // The job ran but a check failed: the output says which.
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

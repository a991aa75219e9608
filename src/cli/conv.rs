//! `wgsl-nn conv`: the exercise's conv stack (or any stack) on the GPU.

use super::{hwc, pair, pair_json, DeviceArgs};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use wgsl_nn::app::jobs::conv::{self as conv_job, ConvJob, ConvReport};
use wgsl_nn::models::conv_stack::parse_input_shape;

#[derive(Args, Debug, Clone)]
pub struct ConvArgs {
    /// Input shape, CxHxW or NxCxHxW [default: 1x128x128, the exercise's]
    #[arg(long)]
    pub input: Option<String>,
    /// The layer stack [default: the exercise's four convolutions]
    #[arg(long)]
    pub layers: Option<String>,
    /// Seed of every random weight and input (printed in the report).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Conv weights and biases from an nn.Sequential state_dict saved with
    /// numpy (np.savez): keys 0.weight, 0.bias, 1.weight, ...
    #[arg(long, value_name = "FILE.npz")]
    pub params: Option<PathBuf>,
    /// The input tensor (CxHxW or NxCxHxW) from a .npy file.
    #[arg(long, value_name = "FILE")]
    pub input_npy: Option<PathBuf>,
    /// Write the GPU's output tensor to a .npy file.
    #[arg(long, value_name = "FILE")]
    pub output_npy: Option<PathBuf>,
    /// Write the measured receptive field (the centre neuron's influence map) as a PNG heat map.
    #[arg(long, value_name = "FILE.png")]
    pub rf_png: Option<PathBuf>,
    /// Timed repetitions after warm-up.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Print the GPU plan (kernels, invocations, FLOPs, bytes) too.
    #[arg(long)]
    pub explain: bool,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Element type of the run: f32, or f16 (float16 storage, float32
    /// sums; convolution layers only so far).
    #[arg(long, default_value = "f32", value_parser = super::selftest::parse_dtype)]
    pub dtype: wgsl_nn::dtype::DType,
    /// With --dtype f16: read float16 as WGSL f16 (native, needs
    /// SHADER_F16) or as u32 words (packed) [default: native where the
    /// adapter has it]
    #[arg(long, value_name = "native|packed", value_parser = parse_path)]
    pub f16_path: Option<wgsl_nn::dtype::F16Path>,
}

pub fn parse_path(s: &str) -> Result<wgsl_nn::dtype::F16Path, String> {
    wgsl_nn::dtype::F16Path::parse(s).map_err(|e| e.to_string())
}

impl ConvArgs {
    pub fn job(&self) -> wgsl_nn::Result<ConvJob> {
        if self.reps == 0 || self.reps > 10_000 {
            return Err(wgsl_nn::Error::arg(
                "--reps",
                format!("{} is not between 1 and 10000", self.reps),
            ));
        }
        Ok(ConvJob {
            layers: self
                .layers
                .clone()
                .unwrap_or_else(|| wgsl_nn::spec::EXERCISE_STACK.to_string()),
            input_shape: self.input.as_deref().map(parse_input_shape).transpose()?,
            seed: self.seed,
            params: self.params.clone(),
            input_npy: self.input_npy.clone(),
            reps: self.reps,
        })
    }
}

pub fn run(dev: &DeviceArgs, args: &ConvArgs) -> wgsl_nn::Result<bool> {
    super::check_outputs(&[
        ("--output-npy", args.output_npy.as_deref()),
        ("--rf-png", args.rf_png.as_deref()),
    ])?;
    let job = args.job()?;
    // Shapes, specs and files are checked before a device is opened.
    let prepared = conv_job::prepare(&job)?;
    if args.dtype == wgsl_nn::dtype::DType::F16 {
        prepared.0.check_f16()?;
        if args.rf_png.is_some() {
            return Err(wgsl_nn::Error::arg(
                "--rf-png",
                "the receptive-field map runs in float32 only; drop --dtype f16",
            ));
        }
        let gpu = dev.open()?;
        return super::conv_half::run(&gpu, args, &job, prepared);
    }
    let gpu = dev.open()?;
    super::note_if_long(&gpu, prepared.0.flops(), 1);
    let report = conv_job::run_prepared(&gpu, &job, prepared)?;
    if let Some(path) = &args.output_npy {
        wgsl_nn::app::io::npy::write_npy(path, &report.stack.output_shape(), &report.output)?;
    }
    if let Some(path) = &args.rf_png {
        let f = &report.field;
        let outline = [
            f.analytic_first[0],
            f.analytic_first[1],
            f.analytic_last[0],
            f.analytic_last[1],
        ];
        wgsl_nn::app::heatmap::write_png(path, &f.map, f.map_hw[0], f.map_hw[1], Some(outline))?;
    }
    if args.json {
        super::print_json(&to_json(&report));
    } else {
        print_text(&report, args.explain);
        if let Some(p) = &args.rf_png {
            println!(
                "receptive-field heat map written to {} (analytic field outlined in cyan)",
                p.display()
            );
        }
        if let Some(p) = &args.output_npy {
            println!("output written to {}", p.display());
        }
    }
    Ok(report.check.passed && report.field.agrees)
}

pub fn to_json(r: &ConvReport) -> serde_json::Value {
    let out = r.stack.output_shape();
    let layers: Vec<_> = r
        .stack
        .layers
        .iter()
        .zip(&r.geometry)
        .map(|(l, g)| {
            json!({
                "index": l.spec.index,
                "spec": l.spec.to_string(),
                "output_shape": l.out_shape,
                "receptive_field": pair_json(g.receptive_field),
                "jump": pair_json(g.jump),
                "start": g.start,
            })
        })
        .collect();
    let f = &r.field;
    json!({
        "adapter": r.adapter,
        "seed": r.seed,
        "weights": r.weights_from,
        "input": r.input_from,
        "input_shape": r.stack.input_shape,
        "layers": layers,
        "output_shape": out,
        "output_size": hwc(&out),
        "receptive_field": {
            "analytic": pair_json(f.analytic),
            "measured": pair_json(f.measured),
            "analytic_hw": f.analytic,
            "measured_hw": f.measured,
            "neuron": f.neuron,
            "influencing_pixels": f.influencing_pixels,
            "clipped": f.clipped,
            "expected_first": f.expected_first,
            "expected_last": f.expected_last,
            "expected_pixels": f.expected_pixels,
            "agrees": f.agrees,
            "method": f.method,
        },
        "check": r.check,
        "timing": {
            "gpu_ms": r.timing.median_ms,
            "gpu_min_ms": r.timing.min_ms,
            "gpu_max_ms": r.timing.max_ms,
            "gpu_clock": r.timing.clock,
            "gpu_note": r.timing.note,
            "compile_ms": r.timing.compile_ms,
            "first_run_ms": r.timing.first_run_ms,
            "reps": r.timing.reps,
            "submissions": r.timing.submissions,
            "cpu_ms": r.reference.ms,
            "cpu_impl": "f64 reference loops",
            "reference_threads": r.reference.threads,
            "reference_beside_gpu": r.reference.beside_gpu,
            "gflop": r.stack.flops() as f64 / 1e9,
        },
    })
}

pub fn print_text(r: &ConvReport, explain: bool) {
    let a = &r.adapter;
    println!("adapter: {} ({}, {})", a.name, a.backend, a.device_type);
    println!("weights: {}\ninput:   {}", r.weights_from, r.input_from);
    println!(
        "\ninput {} (NCHW {:?})",
        hwc(&r.stack.input_shape),
        r.stack.input_shape
    );
    println!(
        "{:<6} {:<44} {:>14} {:>10} {:>6} {:>7}",
        "layer", "spec", "output HxWxC", "rf", "jump", "start"
    );
    for (l, g) in r.stack.layers.iter().zip(&r.geometry) {
        println!(
            "{:<6} {:<44} {:>14} {:>10} {:>6} {:>7}",
            l.spec.index + 1,
            l.spec.to_string(),
            hwc(&l.out_shape),
            pair(g.receptive_field),
            pair(g.jump),
            if g.start[0] == g.start[1] {
                format!("{}", g.start[0])
            } else {
                format!("{}x{}", g.start[0], g.start[1])
            }
        );
    }
    let out = r.stack.output_shape();
    println!(
        "\nresponse map (computed on the GPU): {}  [NCHW {:?}]",
        hwc(&out),
        out
    );
    let f = &r.field;
    println!(
        "receptive field of output neuron {:?}: analytic {}, measured on the GPU {} ({} influencing pixels, box rows {}..{} cols {}..{}){}{}",
        f.neuron,
        pair(f.analytic),
        pair(f.measured),
        f.influencing_pixels,
        f.measured_first[0],
        f.measured_last[0],
        f.measured_first[1],
        f.measured_last[1],
        clip_note(f),
        if f.agrees { "" } else if f.clipped { "; DISAGREES with the exact support" } else { "; DISAGREES with the formula" }
    );
    println!("  method: {}", f.method);
    println!("\ncheck vs f64 reference: {}", r.check.summary());
    println!("  rule: {}", r.check.rule);
    let t = &r.timing;
    println!(
        "\ntiming: GPU {:.3} ms median of {} (min {:.3}, max {:.3}; {}; {} submission{}), compile {:.1} ms, first run {:.3} ms; \
         {}; {:.3} MFLOP",
        t.median_ms,
        t.reps,
        t.min_ms,
        t.max_ms,
        t.clock,
        t.submissions,
        if t.submissions == 1 { "" } else { "s" },
        t.compile_ms,
        t.first_run_ms,
        r.reference,
        r.stack.flops() as f64 / 1e6
    );
    if let Some(n) = &t.note {
        println!("  note: {n}");
    }
    if explain {
        println!(
            "\nplan ({} steps, {} submission(s)):\n{}",
            r.plan.steps.len(),
            t.submissions,
            r.plan.explain()
        );
        for (label, ms) in &t.steps {
            println!("  {label:<40} {ms:.4} ms");
        }
    }
}

fn clip_note(f: &wgsl_nn::receptive::MeasuredField) -> String {
    if !f.clipped {
        return String::new();
    }
    if f.expected_pixels == 0 {
        return format!(
            "; CLIPPED: every window on the way lies in padding, so no input pixel reaches this neuron \
             (the formula's field would be rows {}..{} cols {}..{}); use a larger --input to see the field",
            f.analytic_first[0], f.analytic_last[0], f.analytic_first[1], f.analytic_last[1]
        );
    }
    format!(
        "; CLIPPED: the formula's field (rows {}..{} cols {}..{}) runs past the input or into padding, \
         so only rows {}..{} cols {}..{} ({} pixels, exact) can reach this neuron; use a larger --input to see the whole field",
        f.analytic_first[0],
        f.analytic_last[0],
        f.analytic_first[1],
        f.analytic_last[1],
        f.expected_first[0],
        f.expected_last[0],
        f.expected_first[1],
        f.expected_last[1],
        f.expected_pixels
    )
}

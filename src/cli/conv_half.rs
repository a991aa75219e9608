//! `wgsl-nn conv --dtype f16`: the report of a float16 run.

use super::conv::ConvArgs;
use serde_json::json;
use wgsl_nn::app::jobs::conv::{ConvJob, Prepared};
use wgsl_nn::app::jobs::conv_half::run_f16;
use wgsl_nn::dtype::F16Path;
use wgsl_nn::gpu::Gpu;

pub fn run(gpu: &Gpu, args: &ConvArgs, job: &ConvJob, prepared: Prepared) -> wgsl_nn::Result<bool> {
    let path = args
        .f16_path
        .unwrap_or_else(|| F16Path::for_features(gpu.device.features()));
    let r = run_f16(gpu, job, prepared, path)?;
    let out = r.stack.output_shape();
    if let Some(p) = &args.output_npy {
        wgsl_nn::app::io::npy::write_npy_f16(p, &out, &r.output)?;
    }
    let t = &r.timing;
    if args.json {
        super::print_json(&json!({
            "adapter": r.adapter,
            "dtype": "f16",
            "f16_path": r.path.name(),
            "accumulation": "f32",
            "seed": r.seed,
            "weights": r.weights_from,
            "input": r.input_from,
            "input_shape": r.stack.input_shape,
            "output_shape": out,
            "check": r.check,
            "passed": r.check.passed,
            "timing": timing_json(t),
            "reference_ms": r.reference.ms,
            "reference_threads": r.reference.threads,
        }));
    } else {
        println!("adapter: {}", r.adapter);
        println!(
            "float16 storage ({}), float32 sums; weights: {}; input: {}; seed {}",
            r.path.name(),
            r.weights_from,
            r.input_from,
            r.seed
        );
        for l in &r.stack.layers {
            println!("  {:<40} -> {:?}", l.name, l.out_shape);
        }
        if args.explain {
            print!("{}", r.explain);
        }
        println!(
            "check (float16 store charged per layer): {}",
            r.check.summary()
        );
        println!("{}", timing_line(t, &r.reference));
        if let Some(p) = &args.output_npy {
            println!(
                "output written to {} (float16 values as float32)",
                p.display()
            );
        }
    }
    Ok(r.check.passed)
}

/// A float16 run's timing in a report's JSON.
pub fn timing_json(t: &wgsl_nn::gpu::timer::PlanTiming) -> serde_json::Value {
    json!({"median_ms": t.median_ms, "min_ms": t.min_ms, "max_ms": t.max_ms,
           "clock": t.clock, "compile_ms": t.compile_ms, "first_run_ms": t.first_run_ms})
}

/// A float16 run's timing line, the reference's time after it.
pub fn timing_line(
    t: &wgsl_nn::gpu::timer::PlanTiming,
    reference: &wgsl_nn::cpu::RefTime,
) -> String {
    format!(
        "timing: GPU {:.3} ms median of {} (min {:.3}, max {:.3}; {}), compile {:.1} ms, first run {:.3} ms; {}",
        t.median_ms, t.reps, t.min_ms, t.max_ms, t.clock, t.compile_ms, t.first_run_ms, reference
    )
}

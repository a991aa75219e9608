//! `wgsl-nn text2image`: the exercise's text-to-image network, run.

use super::DeviceArgs;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use wgsl_nn::app::jobs::text2image::{self as text2image_job, Text2ImageReport};
use wgsl_nn::models::text2image::{Weights, QUADRANTS};

#[derive(Args, Debug, Clone)]
pub struct Text2ImageArgs {
    /// The sentence, e.g. "a red sun in the top left, grass at the bottom".
    pub sentence: String,
    /// demo (hand-built, location words aligned with the quadrant queries) or random (seeded, no alignment).
    #[arg(long, default_value = "demo")]
    pub weights: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the 64x64 image (drawn 4x larger).
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    /// Write the cross-attention weights as a labelled heat map: one row per quadrant (top_left, top_right, bottom_left, bottom_right), one column per word, a colour bar from 0 to 1.
    #[arg(long, value_name = "FILE.png")]
    pub attention_png: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(dev: &DeviceArgs, args: &Text2ImageArgs) -> wgsl_nn::Result<bool> {
    super::check_outputs(&[
        ("--png", args.png.as_deref()),
        ("--attention-png", args.attention_png.as_deref()),
    ])?;
    let weights = match args.weights.as_str() {
        "demo" => Weights::demo(),
        "random" => Weights::random(args.seed),
        other => {
            return Err(wgsl_nn::Error::arg(
                "--weights",
                format!("'{other}' is not demo or random"),
            ))
        }
    };
    wgsl_nn::models::text2image::tokenize(&args.sentence)?;
    let gpu = dev.open()?;
    let r = text2image_job::run(&gpu, &args.sentence, &weights, args.reps.clamp(1, 1000))?;
    if let Some(p) = &args.png {
        wgsl_nn::app::heatmap::write_image_png(p, &r.image, r.image_hw[0], r.image_hw[1], 4)?;
    }
    if let Some(p) = &args.attention_png {
        // One row per quadrant, as the text lists them: a row is one
        // query's distribution over the words, so it sums to 1.
        let m: Vec<Vec<f32>> = (0..QUADRANTS.len())
            .map(|q| r.attention.iter().map(|word| word[q]).collect())
            .collect();
        let rows: Vec<String> = QUADRANTS.iter().map(|q| q.to_string()).collect();
        let labels = wgsl_nn::app::heatmap::MatrixLabels {
            title: "cross-attention, mean over heads",
            rows: &rows,
            cols: &r.tokens,
        };
        wgsl_nn::app::heatmap::write_labelled_matrix_png(p, &m, 40, &labels)?;
    }
    if args.json {
        super::print_json(&to_json(&r));
    } else {
        print_text(&r);
    }
    Ok(r.passed())
}

pub fn to_json(r: &Text2ImageReport) -> serde_json::Value {
    json!({
        "adapter": r.adapter,
        "weights": r.weights,
        "tokens": r.tokens,
        "unknown_tokens": r.unknown,
        "quadrants": QUADRANTS,
        "attention": r.attention,
        "stages": r.stages,
        "total_gpu_ms": r.total_ms,
        "reference_ms": r.reference.ms,
        "reference_threads": r.reference.threads,
        "image_shape": [3, r.image_hw[0], r.image_hw[1]],
        "passed": r.passed(),
    })
}

pub fn print_text(r: &Text2ImageReport) {
    println!(
        "adapter: {} ({}, {})",
        r.adapter.name, r.adapter.backend, r.adapter.device_type
    );
    println!("weights: {} (untrained)", r.weights);
    println!(
        "tokens: {:?}{}",
        r.tokens,
        if r.unknown.is_empty() {
            String::new()
        } else {
            format!("  (unknown, read as <unk>: {:?})", r.unknown)
        }
    );
    println!("\n{:<20} {:<18} {:>10}  check", "stage", "shape", "GPU ms");
    for s in &r.stages {
        println!(
            "{:<20} {:<18} {:>10}  {}",
            s.stage,
            format!("{:?}", s.shape),
            s.gpu_ms.map_or("n/a".to_string(), |ms| format!("{ms:.3}")),
            s.check.summary()
        );
    }
    println!(
        "whole network: {:.3} ms on the GPU (median); {}",
        r.total_ms, r.reference
    );
    println!("\ncross-attention, averaged over heads: the words each quadrant attends to most");
    for (q, name) in QUADRANTS.iter().enumerate() {
        let top: Vec<String> = r
            .top_words(q, 3)
            .iter()
            .map(|(w, a)| format!("{w} {a:.2}"))
            .collect();
        println!("  {name:<13} {}", top.join(", "));
    }
}

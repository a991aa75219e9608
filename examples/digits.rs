//! A trained model to look at: a small CNN trained on scikit-learn's
//! handwritten digits (scripts/train_digits.py), exported to ONNX, run on
//! the GPU over its 540 held-out test images: accuracy beside PyTorch's,
//! a confusion table, and every node's check against the f64 reference.
//!
//! `cargo run --release --example digits`

use std::path::Path;
use wgsl_nn::app::jobs::classify::{classify, read_f64_npy};
use wgsl_nn::gpu::{AdapterChoice, Gpu};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits");
    let gpu = Gpu::new(&AdapterChoice::from_args_or_env(None, None))?;
    let torch = read_f64_npy(&dir.join("torch_logits.npy"))?;
    let c = classify(
        &gpu,
        &dir.join("digits.onnx"),
        &dir.join("test_x.npy"),
        &dir.join("test_y.npy"),
        &torch,
    )?;
    println!("adapter: {}", gpu.summary());
    println!(
        "digits test set: {} images, GPU accuracy {:.2}% (PyTorch float64: {:.2}%), top class differs from PyTorch's on {} images",
        c.examples,
        100.0 * c.accuracy,
        100.0 * c.reference_accuracy,
        c.disagreements
    );
    println!("confusion (rows: true digit, columns: predicted):");
    println!(
        "      {}",
        (0..c.classes)
            .map(|k| format!("{k:>4}"))
            .collect::<String>()
    );
    for (t, row) in c.confusion.iter().enumerate() {
        println!(
            "  {t:>2}  {}",
            row.iter().map(|v| format!("{v:>4}")).collect::<String>()
        );
    }
    println!(
        "per-node checks (from each node's own GPU inputs | against the propagated f64 reference):"
    );
    for n in &c.report.nodes {
        let cell = |x: &Option<wgsl_nn::check::Check>| {
            x.as_ref().map_or("-".to_string(), |c| {
                format!("{} err/bound {:.3}", c.verdict(), c.worst_ratio)
            })
        };
        println!(
            "  {:<40} {:<26} | {}",
            n.name,
            cell(&n.check),
            cell(&n.propagated)
        );
    }
    println!(
        "GPU run: median {:.3} ms for the batch of {} ({})",
        c.report.median_ms, c.examples, c.report.clock
    );
    if let Some(t) = c.report.reference {
        println!("{t}");
    }
    println!("{}", if c.report.passed { "PASS" } else { "FAIL" });
    if !c.report.passed {
        std::process::exit(1);
    }
    Ok(())
}

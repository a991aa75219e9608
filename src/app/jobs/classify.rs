//! A classifier from an ONNX file over a labelled test set, on the GPU:
//! accuracy beside a reference's (PyTorch's logits), a confusion table,
//! and the per-node checks of the run. What `examples/digits.rs` shows.

use crate::app::io::{npy, onnx};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::exec::{self, CheckMode, RunOptions, RunReport};
use crate::graph::{build, HostTensor};
use std::path::Path;

/// What classifying a test set measured.
pub struct Classified {
    /// Test examples.
    pub examples: usize,
    /// Classes (the logits' width).
    pub classes: usize,
    /// Fraction the GPU got right.
    pub accuracy: f64,
    /// Fraction the reference logits get right.
    pub reference_accuracy: f64,
    /// Examples where the GPU's and the reference's top class differ.
    pub disagreements: usize,
    /// `counts[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// The run, with its per-node checks and profile.
    pub report: RunReport,
}

fn argmax(row: &[f64]) -> usize {
    (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap_or(0)
}

/// Runs `model` on `x` ([N, ...] float32) and scores it against `labels`
/// (N integers) and `reference_logits` ([N, classes]).
///
/// # Errors
///
/// File errors, shape mismatches between the files, and the run's errors.
pub fn classify(
    gpu: &Gpu,
    model: &Path,
    x: &Path,
    labels: &Path,
    reference_logits: &[f64],
) -> Result<Classified> {
    let m = onnx::read_model(model)?;
    let x = npy::read_npy(x)?;
    let y = npy::read_npy(labels)?;
    let input = m
        .inputs
        .first()
        .ok_or_else(|| Error::arg("model", "the model has no input"))?;
    let n = *x.shape.first().unwrap_or(&0);
    if y.data.len() != n {
        return Err(Error::arg(
            "labels",
            format!("{} labels for {n} examples", y.data.len()),
        ));
    }
    let shapes = [(input.name.clone(), x.shape.clone())]
        .into_iter()
        .collect();
    let program = build(&m, &shapes)?;
    let t = HostTensor {
        dtype: input.dtype,
        shape: x.shape.clone(),
        data: x.data.iter().map(|&v| f64::from(v)).collect(),
    };
    let report = exec::run(
        gpu,
        &program,
        &[t],
        &RunOptions {
            check: CheckMode::Full,
            warmup: 1,
            repeats: 5,
            seed: 0,
            ..RunOptions::default()
        },
    )?;
    let logits = &report
        .outputs
        .first()
        .ok_or_else(|| Error::arg("model", "the model has no output"))?
        .2;
    let classes = logits.len() / n.max(1);
    if reference_logits.len() != logits.len() {
        return Err(Error::arg(
            "reference logits",
            format!(
                "{} values for {} outputs",
                reference_logits.len(),
                logits.len()
            ),
        ));
    }
    let mut confusion = vec![vec![0; classes]; classes];
    let (mut right, mut right_ref, mut differ) = (0, 0, 0);
    for i in 0..n {
        let row: Vec<f64> = logits[i * classes..(i + 1) * classes]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let (p, r) = (
            argmax(&row),
            argmax(&reference_logits[i * classes..(i + 1) * classes]),
        );
        let truth = (y.data[i] as usize).min(classes - 1);
        confusion[truth][p] += 1;
        right += usize::from(p == truth);
        right_ref += usize::from(r == truth);
        differ += usize::from(p != r);
    }
    Ok(Classified {
        examples: n,
        classes,
        accuracy: right as f64 / n.max(1) as f64,
        reference_accuracy: right_ref as f64 / n.max(1) as f64,
        disagreements: differ,
        confusion,
        report,
    })
}

/// Reads a little-endian float64 .npy (as PyTorch's double logits are
/// saved); float32 files are widened.
///
/// # Errors
///
/// Unreadable or malformed files.
pub fn read_f64_npy(path: &Path) -> Result<Vec<f64>> {
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let header_len = bytes
        .get(8..10)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let header = header_len.and_then(|h| {
        bytes
            .get(10..10 + h)
            .map(|b| (h, String::from_utf8_lossy(b).into_owned()))
    });
    match header {
        Some((h, text)) if text.contains("'<f8'") => Ok(bytes[10 + h..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect()),
        _ => Ok(npy::read_npy(path)?
            .data
            .iter()
            .map(|&v| f64::from(v))
            .collect()),
    }
}

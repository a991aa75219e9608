//! A whole sweep: cases in order, CPU baseline once per case, GPU rows per
//! adapter, progress on a terminal.

use super::cases::{Case, OpKind};
use super::{Progress, Row};
use crate::error::Result;
use crate::gpu::Gpu;

/// What `wgsl-nn bench` (or `cargo bench`) measures: which op families,
/// at which sizes, how often, on which rungs.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The op families swept, in order.
    pub ops: Vec<OpKind>,
    /// Replaces every op's default sizes when given.
    pub sizes: Option<Vec<usize>>,
    /// Timed repetitions per row (CPU baseline and GPU rows alike).
    pub reps: usize,
    /// Seeds every case's inputs and the sample of checked rows.
    pub seed: u64,
    /// Only the smallest default size of each op (when `sizes` is None).
    pub quick: bool,
    /// No progress bar on stderr.
    pub quiet: bool,
    /// Rungs to run per op family ("matmul" -> ["tiled"]); families not
    /// listed run their whole ladder.
    pub rungs: Vec<(String, String)>,
    /// `F16`: float16 rows (every float16 path the adapter has) after the
    /// float32 ones.
    pub dtype: crate::dtype::DType,
}

impl Sweep {
    /// Every (op, size) pair the sweep runs, op by op in `ops`' order,
    /// sizes from `sizes` or the op's defaults.
    pub fn cases(&self) -> Vec<(OpKind, usize)> {
        self.ops
            .iter()
            .flat_map(|&op| {
                self.sizes
                    .clone()
                    .unwrap_or_else(|| op.default_sizes(self.quick))
                    .into_iter()
                    .map(move |s| (op, s))
            })
            .collect()
    }

    /// Runs every case on every adapter; rows in case order, CPU first.
    pub fn run(&self, gpus: &[Gpu]) -> Result<Vec<Row>> {
        let cases = self.cases();
        let mut progress = Progress::new(cases.len() * (1 + gpus.len()), self.quiet);
        let mut rows = Vec::new();
        for (op, size) in cases {
            let mut case = Case::new(op, size, self.seed)?;
            progress.step(&format!("{} {} cpu baseline", op.name(), case.shape));
            rows.push(case.cpu_row(self.reps));
            for g in gpus {
                progress.step(&format!("{} {} {}", op.name(), case.shape, g.info.name));
                let chosen: Vec<String> = self
                    .rungs
                    .iter()
                    .filter(|(f, _)| f == case.family())
                    .map(|(_, k)| k.clone())
                    .collect();
                rows.extend(case.gpu_rows(
                    g,
                    self.reps,
                    self.seed,
                    (!chosen.is_empty()).then_some(&chosen[..]),
                ));
                if self.dtype == crate::dtype::DType::F16 {
                    rows.extend(case.f16_rows(g, self.reps, self.seed));
                }
            }
        }
        progress.finish();
        Ok(rows)
    }
}

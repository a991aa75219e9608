//! Sweeps behind `wgsl-nn bench` and `cargo bench`: every row is checked
//! against the f64 reference before it is timed (a failed row gets no
//! speed), the GPU is timed by its own clock (timestamps where they agree
//! with the wall clock) with inputs rotated between two buffers on CPU
//! adapters (on GPUs the runs go back to back), and the CPU side by the optimised baseline (`cpu::baseline`)
//! beside the reference's time where the reference ran in full.

pub mod cases;
pub mod plot;
pub mod sweep;
pub mod table;

use crate::gpu::timer::PlanTiming;
use serde::Serialize;

/// One line of the table, CSV and JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The op family benchmarked: "conv", "matmul" or "attention".
    pub op: String,
    /// The case's sizes in words, e.g. "h=8 d=64 L=1024".
    pub shape: String,
    /// `"gpu <kernel>"`, `"cpu baseline (<impl>)"`.
    pub implementation: String,
    /// Where the row ran: `"<adapter name> (<backend>)"` for GPU rows,
    /// `"cpu (<n> threads)"` for the CPU baseline.
    pub adapter: String,
    /// The sweep's size axis (N, L or image side), for plots.
    pub size: usize,
    /// Median time of the timed runs; None when the row failed its check
    /// or did not run.
    pub median_ms: Option<f64>,
    /// Fastest timed run (None as for `median_ms`).
    pub min_ms: Option<f64>,
    /// Slowest timed run (None as for `median_ms`).
    pub max_ms: Option<f64>,
    /// The case's FLOPs over the median time, in GFLOP/s.
    pub gflops: Option<f64>,
    /// The bytes the case moves over the median time, in GB/s (10^9).
    pub gbps: Option<f64>,
    /// CPU baseline time / this row's time.
    pub speedup_vs_cpu: Option<f64>,
    /// f64 reference time, when it ran over the whole output.
    pub reference_ms: Option<f64>,
    /// The output matched the f64 reference within its error bound.
    pub passed: bool,
    /// What the check compared ("all 900 elements", "64 of 2048 rows").
    pub checked: String,
    /// The clock the times are on: "gpu-timestamps" or "wall-clock"
    /// (see `PlanTiming::clock`); empty for rows that did not run.
    pub clock: String,
    /// Pipeline creation during the first run, in ms (GPU rows).
    pub compile_ms: Option<f64>,
    /// Why the wall clock was used, why the row failed or was refused, or
    /// other remarks for the table.
    pub note: Option<String>,
}

impl Row {
    /// A GPU row: speeds only when the check passed.
    #[allow(clippy::too_many_arguments)]
    pub fn gpu(
        op: &str,
        shape: &str,
        kernel: &str,
        adapter: &str,
        size: usize,
        flops: u64,
        bytes: u64,
        t: &PlanTiming,
        passed: bool,
        checked: String,
    ) -> Row {
        let ok = |v: f64| passed.then_some(v);
        Row {
            op: op.into(),
            shape: shape.into(),
            implementation: format!("gpu {kernel}"),
            adapter: adapter.into(),
            size,
            median_ms: ok(t.median_ms),
            min_ms: ok(t.min_ms),
            max_ms: ok(t.max_ms),
            gflops: ok(flops as f64 / (t.median_ms * 1e6)),
            gbps: ok(bytes as f64 / (t.median_ms * 1e6)),
            speedup_vs_cpu: None,
            reference_ms: None,
            passed,
            checked,
            clock: t.clock.into(),
            compile_ms: Some(t.compile_ms),
            note: if passed {
                t.note.clone()
            } else {
                Some("failed its check: no speed shown".into())
            },
        }
    }

    /// A row that could not run at all (the error says why).
    pub fn refused(
        op: &str,
        shape: &str,
        implementation: &str,
        adapter: &str,
        size: usize,
        why: String,
    ) -> Row {
        Row {
            op: op.into(),
            shape: shape.into(),
            implementation: implementation.into(),
            adapter: adapter.into(),
            size,
            median_ms: None,
            min_ms: None,
            max_ms: None,
            gflops: None,
            gbps: None,
            speedup_vs_cpu: None,
            reference_ms: None,
            passed: false,
            checked: "not run".into(),
            clock: String::new(),
            compile_ms: None,
            note: Some(why),
        }
    }
}

/// Median, min and max of repeated CPU runs of `f` (after one warm-up),
/// stopping early past the timing budget.
pub fn time_cpu(reps: usize, mut f: impl FnMut()) -> (f64, f64, f64, usize) {
    let t = std::time::Instant::now();
    f();
    let first = t.elapsed().as_secs_f64() * 1e3;
    let affordable = (crate::gpu::timer::TIMING_BUDGET_S * 1e3 / first.max(1e-6)) as usize;
    let reps = reps.min(affordable).max(1);
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let (lo, hi) = (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(0.0, f64::max),
    );
    (crate::gpu::timer::median(&mut v), lo, hi, reps)
}

/// Progress on stderr, only on a terminal and only when asked.
pub struct Progress {
    total: usize,
    done: usize,
    on: bool,
    start: std::time::Instant,
}

impl Progress {
    /// A bar for `total` steps; drawn only when stderr is a terminal and
    /// `quiet` is false.
    pub fn new(total: usize, quiet: bool) -> Progress {
        use std::io::IsTerminal;
        Progress {
            total,
            done: 0,
            on: !quiet && std::io::stderr().is_terminal(),
            start: std::time::Instant::now(),
        }
    }

    /// Counts one step done and, once the run has taken 2 s, redraws the
    /// bar with `what` (the case just finished) beside it.
    pub fn step(&mut self, what: &str) {
        self.done += 1;
        // Short runs finish before a bar would help; start drawing after 2 s.
        if !self.on || self.start.elapsed().as_secs_f64() < 2.0 {
            return;
        }
        let width = 30;
        let filled = width * self.done / self.total.max(1);
        eprint!(
            "\r[{}{}] {}/{} {:<48}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.done,
            self.total,
            what.chars().take(48).collect::<String>()
        );
        if self.done >= self.total {
            eprintln!();
        }
    }

    /// Ends the bar's line if one was drawn and the steps fell short of
    /// `total` (a sweep that stopped early).
    pub fn finish(&mut self) {
        if self.on && self.start.elapsed().as_secs_f64() >= 2.0 && self.done < self.total {
            eprintln!();
        }
    }
}

//! GPU clocks: a timestamp pair around every pass, resolved and scaled by
//! the queue's period. Readings that are zero, run backwards or are absurd
//! are refused, and the caller falls back to wall clock and says so.

use super::plan::Plan;
use super::Gpu;

/// wgpu caps a query set at this many queries.
const MAX_QUERIES: u32 = 4096;

/// GPU time of one run of a plan, from its timestamp queries.
#[derive(Debug, Clone)]
pub struct StepTimes {
    /// Sum of the timed steps' times, in milliseconds.
    pub total_ms: f64,
    /// (step label, ms); steps beyond the query budget are absent.
    pub steps: Vec<(String, f64)>,
}

/// The query set and buffers for one run's timestamps: a begin/end pair
/// around each of the plan's first 2048 steps (wgpu's 4096-query cap).
pub struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Steps that got a timestamp pair (the first `timed` ones).
    timed: usize,
}

impl Timestamps {
    /// Query set and buffers for a plan of `steps` steps; None when the
    /// adapter has no `TIMESTAMP_QUERY` or the plan is empty.
    pub fn new(gpu: &Gpu, steps: usize) -> Option<Timestamps> {
        if !gpu.has_timestamps() || steps == 0 {
            return None;
        }
        let timed = steps.min((MAX_QUERIES / 2) as usize);
        let count = (timed * 2) as u32;
        let bytes = u64::from(count) * 8;
        let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("step timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp resolve"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Some(Timestamps {
            set,
            resolve,
            readback,
            timed,
        })
    }

    /// The timestamp writes for step `step`'s compute pass (queries
    /// `2 * step` and `2 * step + 1`); None for steps past the query budget.
    pub fn pass_writes(&self, step: usize) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        (step < self.timed).then(|| wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(step as u32 * 2),
            end_of_pass_write_index: Some(step as u32 * 2 + 1),
        })
    }

    /// Records the resolution of every timed query into the resolve
    /// buffer; the runner calls it at the end of the plan's last command
    /// buffer.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.set, 0..(self.timed as u32 * 2), &self.resolve, 0);
    }

    /// Copies the resolved values out in a submission of their own (copying
    /// in the same submission as the resolve has returned zeros on some
    /// drivers) and converts them to milliseconds.
    pub fn read(&self, gpu: &Gpu, plan: &Plan) -> Result<StepTimes, String> {
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("timestamps"),
            });
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, self.resolve.size());
        let ticks: Vec<u64> = super::read_buffer(gpu, &self.readback, enc, "timestamps")
            .map_err(|e| format!("timestamps unreadable ({e}); wall clock only"))?;
        let period_ns = f64::from(gpu.queue.get_timestamp_period());
        let labels: Vec<(&str, bool)> = plan
            .steps
            .iter()
            .take(self.timed)
            .map(|s| (s.label.as_str(), s.invocations > 0))
            .collect();
        ticks_to_times(&ticks, period_ns, &labels)
    }
}

/// Launch overhead a wall clock may add to the device's own time: the
/// submission, the wait's wake-up and the gaps between dispatches.
pub const LAUNCH_OVERHEAD_MS: f64 = 0.5;

/// Refuses timestamps that disagree with the run's own wall clock. On a
/// CPU adapter the wall clock is the device's own time, so the stamps must
/// cover at least half of it (agreement within 2x; where submission costs
/// more than the work, the wall clock is reported, said so): lavapipe wrote stamps 0.03-0.05 ms apart around 256^3 products
/// that took 2-5 ms, and 0.075 ms around a 0.83 ms sm128p product, which a
/// guard of a tenth let through as a 10x speed-up. On a GPU, where the
/// stamps are the device's and the wall clock adds submission latency,
/// they may fall short of it by at most the launch overhead or a half,
/// whichever allows more. Stamps longer than the wall clock (by more than
/// rounding) are refused everywhere: the device cannot work longer than
/// the run that waited for it.
pub fn covers_wall_clock(times: StepTimes, wall_ms: f64, cpu: bool) -> Result<StepTimes, String> {
    let short = if cpu {
        times.total_ms < 0.5 * wall_ms
    } else {
        times.total_ms < 0.5 * wall_ms && wall_ms - times.total_ms > LAUNCH_OVERHEAD_MS
    };
    let long = times.total_ms > 1.05 * wall_ms + 0.05;
    if short || long {
        return Err(format!(
            "timestamps cover {:.3} ms of a {wall_ms:.3} ms run; wall clock used",
            times.total_ms
        ));
    }
    Ok(times)
}

/// Converts resolved timestamp pairs (begin, end per step) into
/// milliseconds. A pair that starts at zero, runs backwards or spans over an
/// hour is a driver fault, not a measurement: the whole reading is refused
/// with a note, and the caller falls back to wall clock.
pub fn ticks_to_times(
    ticks: &[u64],
    period_ns: f64,
    steps: &[(&str, bool)],
) -> Result<StepTimes, String> {
    if !(period_ns > 0.0 && period_ns.is_finite()) {
        return Err(format!(
            "timestamp period {period_ns} ns is not positive; wall clock only"
        ));
    }
    let mut out = Vec::new();
    let mut total = 0.0;
    for (i, &(label, ran)) in steps.iter().enumerate() {
        if !ran {
            continue;
        }
        let (Some(&a), Some(&b)) = (ticks.get(2 * i), ticks.get(2 * i + 1)) else {
            return Err(format!("no timestamp for step '{label}'; wall clock only"));
        };
        let ms = (b as f64 - a as f64) * period_ns / 1e6;
        if a == 0 || b < a || ms >= 3.6e6 {
            return Err(format!(
                "timestamp for step '{label}' is implausible ({a} -> {b} ticks); wall clock only"
            ));
        }
        total += ms;
        out.push((label.to_string(), ms));
    }
    if total <= 0.0 {
        return Err("every timestamp pair read zero time; wall clock only".into());
    }
    Ok(StepTimes {
        total_ms: total,
        steps: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_ticks_become_milliseconds() {
        let t = ticks_to_times(
            &[100, 1_100_100, 2_000_000, 5_000_000],
            1.0,
            &[("a", true), ("b", true)],
        )
        .unwrap();
        assert_eq!(t.steps.len(), 2);
        assert!((t.steps[0].1 - 1.1).abs() < 1e-9 && (t.total_ms - 4.1).abs() < 1e-9);
    }

    #[test]
    fn faulty_ticks_are_refused_with_a_reason() {
        for (ticks, why) in [
            (vec![0u64, 10], "implausible"),
            (vec![50, 10], "implausible"),
            (vec![1, 1 + 4_000_000_000_000], "implausible"),
            (vec![7, 7], "zero time"),
            (vec![1], "no timestamp"),
        ] {
            let e = ticks_to_times(&ticks, 1.0, &[("step", true)]).unwrap_err();
            assert!(
                e.contains(why) && e.contains("wall clock"),
                "{ticks:?}: {e}"
            );
        }
        assert!(ticks_to_times(&[1, 2], 0.0, &[("s", true)]).is_err());
    }

    #[test]
    fn stamps_that_miss_most_of_the_run_are_refused() {
        let t = |ms| StepTimes {
            total_ms: ms,
            steps: vec![("s".into(), ms)],
        };
        assert!(covers_wall_clock(t(0.07), 48.0, false)
            .unwrap_err()
            .contains("wall clock"));
        assert!(covers_wall_clock(t(44.0), 48.0, false).is_ok());
        // Short runs are dominated by submission latency on real GPUs.
        assert!(covers_wall_clock(t(0.05), 0.5, false).is_ok());
        assert!(covers_wall_clock(t(0.05), 2.0, false).is_err());
        // On a CPU adapter the stamps must agree within 2x: the sm128p
        // case stamped at 0.075 ms of a 0.83 ms run is refused.
        assert!(covers_wall_clock(t(0.075), 0.83, true).is_err());
        assert!(covers_wall_clock(t(0.05), 4.7, true).is_err());
        assert!(covers_wall_clock(t(4.2), 4.7, true).is_ok());
        assert!(covers_wall_clock(t(2.4), 4.7, true).is_ok());
        // ...however short the run.
        assert!(covers_wall_clock(t(0.05), 0.5, true).is_err());
        assert!(covers_wall_clock(t(0.3), 0.5, true).is_ok());
        // Longer than the run that waited for it: impossible.
        assert!(covers_wall_clock(t(9.0), 4.7, true).is_err());
        assert!(covers_wall_clock(t(9.0), 4.7, false).is_err());
    }

    #[test]
    fn median_is_the_middle() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}

/// Timing of a plan: compile and first run apart, then repetitions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanTiming {
    /// Pipeline creation during the first run.
    pub compile_ms: f64,
    /// The first run, wall clock (includes first-dispatch costs).
    pub first_run_ms: f64,
    /// Median time of the timed repetitions, on `clock`.
    pub median_ms: f64,
    /// Fastest timed repetition, on `clock`.
    pub min_ms: f64,
    /// Slowest timed repetition, on `clock`.
    pub max_ms: f64,
    /// Timed repetitions actually run (fewer than asked when a run is so
    /// slow that they would exceed [`TIMING_BUDGET_S`]).
    pub reps: usize,
    /// "gpu-timestamps" or "wall-clock".
    pub clock: &'static str,
    /// Why the wall clock was used, when it was.
    pub note: Option<String>,
    /// Median per-step GPU time, when timestamps were available.
    pub steps: Vec<(String, f64)>,
    /// Submissions one run of the plan took (a plan is cut only past the
    /// per-submission FLOP budget).
    pub submissions: usize,
}

/// The median of `v` (sorted in place by `f64::total_cmp`), the mean of
/// the two middle values for an even count, NaN when `v` is empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Warm-up on GPUs runs in batches of about this many milliseconds...
const WARM_BATCH_MS: f64 = 100.0;
/// ...until a batch's time per run is within this fraction of the last
/// one's, or this many milliseconds have passed.
const WARM_STEADY: f64 = 0.03;
const WARM_MAX_MS: f64 = 2000.0;

/// Runs `plan` back to back until its time per run stops falling, and
/// returns the size of one warm-up batch. An H200 through Vulkan idles at
/// 345 MHz and needs a few hundred milliseconds of steady work to reach
/// 1980 MHz: a single warm-up run left timed runs up to 5.7x slow
/// (BENCHMARKS.md).
fn warm_clocks(gpu: &Gpu, plan: &Plan, first_ms: f64) -> crate::Result<usize> {
    let start = std::time::Instant::now();
    let mut per_run = first_ms.max(1e-3);
    let mut last = f64::INFINITY;
    loop {
        let batch = ((WARM_BATCH_MS / per_run).ceil() as usize).clamp(1, 512);
        let t = std::time::Instant::now();
        gpu.run_queued(plan, batch, 0)?;
        per_run = t.elapsed().as_secs_f64() * 1e3 / batch as f64;
        let steady = (last - per_run).abs() <= WARM_STEADY * per_run;
        if steady || start.elapsed().as_secs_f64() * 1e3 >= WARM_MAX_MS {
            return Ok(batch);
        }
        last = per_run;
    }
}

/// Timed repetitions stop adding up past this many seconds: a long job is
/// timed fewer times rather than for minutes (the report says how many).
pub const TIMING_BUDGET_S: f64 = 10.0;

/// Runs `plan` once cold, `warmup` more times untimed, then `reps` timed
/// times; see `time_plans`.
pub fn time_plan(gpu: &Gpu, plan: &Plan, warmup: usize, reps: usize) -> crate::Result<PlanTiming> {
    time_plans(gpu, std::slice::from_ref(plan), warmup, reps)
}

/// Times equivalent plans that read different input buffers, taking them in
/// turn so that no repetition finds its inputs already in a cache. The first
/// run is cold (its pipeline creation is reported as `compile_ms`); when one
/// run is so slow that `warmup + reps` would exceed TIMING_BUDGET_S, there
/// is no warm-up and fewer repetitions (at least one). GPU timestamps are
/// used only if every repetition had plausible ones. On GPUs (not CPU
/// adapters) the repetitions of the first plan are queued back to back, as
/// a model's layers would be (WGSL_NN_SERIAL_TIMING=1 waits for each
/// instead), and inputs stay in the GPU's cache between them as they do in
/// PyTorch's timings.
pub fn time_plans(
    gpu: &Gpu,
    plans: &[Plan],
    warmup: usize,
    reps: usize,
) -> crate::Result<PlanTiming> {
    time_runs::<(), fn()>(gpu, plans, warmup, reps, None).map(|(t, _)| t)
}

/// [`time_plans`], with `host` (typically the f64 reference) running on the
/// CPU during the first, untimed run only: on a CPU adapter that first run
/// is mostly the driver compiling each shader on one thread, which the
/// host work can overlap. Every timed repetition runs after `host` ended.
pub fn time_plans_beside<R: Send>(
    gpu: &Gpu,
    plans: &[Plan],
    warmup: usize,
    reps: usize,
    host: impl FnOnce() -> R + Send,
) -> crate::Result<(PlanTiming, R)> {
    let (timing, out) = time_runs(gpu, plans, warmup, reps, Some(host))?;
    Ok((timing, out.expect("host work ran")))
}

fn time_runs<R: Send, F: FnOnce() -> R + Send>(
    gpu: &Gpu,
    plans: &[Plan],
    warmup: usize,
    reps: usize,
    host: Option<F>,
) -> crate::Result<(PlanTiming, Option<R>)> {
    let Some(first_plan) = plans.first() else {
        return Err(crate::Error::arg("timing", "no plan to time"));
    };
    let compile_before = gpu.compile_ms();
    let shared = host.is_some();
    let (first, host_out) = std::thread::scope(|s| {
        let h = host.map(|f| s.spawn(f));
        let first = gpu.run(first_plan);
        (first, h.map(|h| h.join()))
    });
    let host_out = host_out.map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e)));
    let first = first?;
    let compile_ms = gpu.compile_ms() - compile_before;
    // The first run shared the CPU with `host`: the budget is judged from
    // a run alone (the first warm-up) when there is one.
    let (alone_ms, warmup) = if warmup > 0 && shared {
        (gpu.run(first_plan)?.wall_ms, warmup - 1)
    } else {
        (first.wall_ms, warmup)
    };
    let affordable = (TIMING_BUDGET_S * 1e3 / alone_ms.max(1e-6)).floor() as usize;
    let (warmup, reps) = if affordable < warmup + reps.max(1) {
        (0, reps.min(affordable).max(1))
    } else {
        (warmup, reps.max(1))
    };
    let runs = if gpu.info.device_type == wgpu::DeviceType::Cpu {
        // CPU caches would keep one plan's inputs: take the plans in turn,
        // one run at a time.
        (0..warmup + reps)
            .map(|i| gpu.run(&plans[(i + 1) % plans.len()]))
            .collect::<crate::Result<Vec<_>>>()?
            .split_off(warmup)
    } else {
        // Back to back, after the clocks have come up; the last warm-up
        // batch goes in the same queue as the timed runs.
        let batch = if warmup == 0 {
            0
        } else {
            warm_clocks(gpu, first_plan, alone_ms)?
        };
        gpu.run_queued(first_plan, batch.max(warmup), reps)?
    };
    let all_gpu = runs.iter().all(|r| r.gpu.is_some());
    let mut times: Vec<f64> = runs
        .iter()
        .map(|r| if all_gpu { r.best_ms() } else { r.wall_ms })
        .collect();
    let steps = if all_gpu {
        let n = runs[0].gpu.as_ref().map_or(0, |g| g.steps.len());
        (0..n)
            .map(|i| {
                let label = runs[0]
                    .gpu
                    .as_ref()
                    .map(|g| g.steps[i].0.clone())
                    .unwrap_or_default();
                let mut v: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.gpu.as_ref().and_then(|g| g.steps.get(i).map(|s| s.1)))
                    .collect();
                (label, median(&mut v))
            })
            .collect()
    } else {
        vec![]
    };
    let note = if all_gpu {
        None
    } else {
        runs.iter().find_map(|r| r.gpu_note.clone())
    };
    let min_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max_ms = times.iter().copied().fold(0.0, f64::max);
    Ok((
        PlanTiming {
            compile_ms,
            first_run_ms: first.wall_ms,
            median_ms: median(&mut times),
            min_ms,
            max_ms,
            reps: runs.len(),
            clock: if all_gpu {
                "gpu-timestamps"
            } else {
                "wall-clock"
            },
            note,
            steps,
            submissions: first.submissions,
        },
        host_out,
    ))
}

/// The timing of a job run as consecutive parts (chunks): medians, minima,
/// maxima and compile times add up; the clock is the weakest of the parts'.
pub fn sum_timings(parts: &[PlanTiming]) -> PlanTiming {
    let sum = |f: fn(&PlanTiming) -> f64| parts.iter().map(f).sum::<f64>();
    let all_gpu = parts.iter().all(|t| t.clock == "gpu-timestamps");
    PlanTiming {
        compile_ms: sum(|t| t.compile_ms),
        first_run_ms: sum(|t| t.first_run_ms),
        median_ms: sum(|t| t.median_ms),
        min_ms: sum(|t| t.min_ms),
        max_ms: sum(|t| t.max_ms),
        reps: parts.iter().map(|t| t.reps).min().unwrap_or(0),
        clock: if all_gpu { "gpu-timestamps" } else { "wall-clock" },
        note: match parts.len() {
            0 | 1 => parts.first().and_then(|t| t.note.clone()),
            n => Some(format!("run in {n} chunks of the batch (activations exceed one storage binding); times are sums")),
        },
        steps: parts.iter().flat_map(|t| t.steps.clone()).collect(),
        submissions: parts.iter().map(|t| t.submissions).sum(),
    }
}

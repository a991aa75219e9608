//! GPU clocks: a timestamp pair around every pass, resolved and scaled by
//! the queue's period. Readings that are zero, run backwards or are absurd
//! are refused, and the caller falls back to wall clock and says so.

use super::plan::Plan;
use super::Gpu;

/// wgpu caps a query set at this many queries.
const MAX_QUERIES: u32 = 4096;

#[derive(Debug, Clone)]
pub struct StepTimes {
    pub total_ms: f64,
    /// (step label, ms); steps beyond the query budget are absent.
    pub steps: Vec<(String, f64)>,
}

pub struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Steps that got a timestamp pair (the first `timed` ones).
    timed: usize,
}

impl Timestamps {
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

    pub fn pass_writes(&self, step: usize) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        (step < self.timed).then(|| wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(step as u32 * 2),
            end_of_pass_write_index: Some(step as u32 * 2 + 1),
        })
    }

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
        let ticks: Vec<u64> = crate::tensor::read_buffer(gpu, &self.readback, enc, "timestamps")
            .map_err(|e| format!("timestamps unreadable ({e}); wall clock only"))?;
        let period_ns = f64::from(gpu.queue.get_timestamp_period());
        let mut steps = Vec::new();
        let mut total = 0.0;
        for (i, s) in plan.steps.iter().take(self.timed).enumerate() {
            if s.invocations == 0 {
                continue;
            }
            let (a, b) = (ticks[2 * i], ticks[2 * i + 1]);
            let ms = (b as f64 - a as f64) * period_ns / 1e6;
            // A pass that took no time, ran backwards or took over an hour
            // is a driver fault, not a measurement.
            if a == 0 || b < a || ms >= 3.6e6 {
                return Err(format!(
                    "timestamp for step '{}' is implausible ({a} -> {b} ticks); wall clock only",
                    s.label
                ));
            }
            total += ms;
            steps.push((s.label.clone(), ms));
        }
        if total <= 0.0 {
            return Err("every timestamp pair read zero time; wall clock only".into());
        }
        Ok(StepTimes {
            total_ms: total,
            steps,
        })
    }
}

/// Timing of a plan: compile and first run apart, then repetitions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanTiming {
    /// Pipeline creation during the first run.
    pub compile_ms: f64,
    /// The first run, wall clock (includes first-dispatch costs).
    pub first_run_ms: f64,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub reps: usize,
    /// "gpu-timestamps" or "wall-clock".
    pub clock: &'static str,
    /// Why the wall clock was used, when it was.
    pub note: Option<String>,
    /// Median per-step GPU time, when timestamps were available.
    pub steps: Vec<(String, f64)>,
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `plan` once cold, `warmup` more times untimed, then `reps` timed
/// times. GPU timestamps are used only if every repetition had them.
pub fn time_plan(gpu: &Gpu, plan: &Plan, warmup: usize, reps: usize) -> crate::Result<PlanTiming> {
    let compile_before = gpu.compile_ms();
    let first = gpu.run(plan)?;
    let compile_ms = gpu.compile_ms() - compile_before;
    for _ in 0..warmup {
        gpu.run(plan)?;
    }
    let runs: Vec<_> = (0..reps.max(1))
        .map(|_| gpu.run(plan))
        .collect::<crate::Result<_>>()?;
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
                    .filter_map(|r| r.gpu.as_ref().map(|g| g.steps[i].1))
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
    Ok(PlanTiming {
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
    })
}

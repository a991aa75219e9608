//! Turning a plan into one submission: pipelines from the cache, one compute
//! pass per step (so each step gets its own timestamp pair), grids folded to
//! respect max_compute_workgroups_per_dimension, limits checked first.

use super::plan::{fold_grid, Plan, Step};
use super::timer::{StepTimes, Timestamps};
use super::Gpu;
use crate::error::{Error, Result};
use std::time::Instant;
use wgpu::util::DeviceExt;

/// What one run of a plan cost.
#[derive(Debug, Clone)]
pub struct RunTiming {
    /// Submit to completion, always measured.
    pub wall_ms: f64,
    /// Per-step and total GPU time from timestamp queries, when trustworthy.
    pub gpu: Option<StepTimes>,
    /// Why there is no GPU time, when there is none.
    pub gpu_note: Option<String>,
    /// How many submissions the plan was cut into.
    pub submissions: usize,
}

impl RunTiming {
    /// The best clock available: GPU timestamps, else wall clock.
    pub fn best_ms(&self) -> f64 {
        self.gpu
            .as_ref()
            .map(|g| g.total_ms)
            .unwrap_or(self.wall_ms)
    }
}

impl Gpu {
    /// Checks every step against the device limits without touching the GPU.
    pub fn validate(&self, plan: &Plan) -> Result<()> {
        for s in &plan.steps {
            let max_binding = self.limits.max_storage_buffer_binding_size;
            for b in &s.bindings {
                // A texture's element type is its format's, not a tensor's.
                if b.texture.is_none() && b.dtype != s.kernel.dtype {
                    return Err(Error::shape(
                        &s.label,
                        format!(
                            "{} is a {} tensor but kernel {} reads {}; this op has no {} kernel \
                             here: convert the tensor, or run with --dtype {}",
                            b.name,
                            b.dtype.name(),
                            s.kernel.entry,
                            s.kernel.dtype.name(),
                            b.dtype.name(),
                            s.kernel.dtype.name()
                        ),
                    ));
                }
                if b.bytes() > max_binding {
                    return Err(Error::TooLarge {
                        tensor: format!("{} of step '{}'", b.name, s.label),
                        bytes: b.bytes(),
                        limit: max_binding,
                        limit_name: "max_storage_buffer_binding_size",
                    });
                }
            }
            self.grid(s)?;
        }
        Ok(())
    }

    fn grid(&self, s: &Step) -> Result<[u32; 3]> {
        let wg = u64::from(s.workgroup_size.max(1));
        let groups = s.invocations.div_ceil(wg);
        let max = self.limits.max_compute_workgroups_per_dimension;
        let grid = fold_grid(groups, max);
        // Kernels index invocations with u32; the folded grid may round up,
        // and those extra invocations must not wrap onto real indices.
        let covered = grid.map(|g| g.iter().map(|&d| u64::from(d)).product::<u64>() * wg);
        match (grid, covered) {
            (Some(g), Some(c)) if c <= u64::from(u32::MAX) => Ok(g),
            _ => Err(Error::shape(
                &s.label,
                format!(
                    "{} invocations exceed what one dispatch can index (u32, {} workgroups of {} per dimension); split the tensor (smaller batch)",
                    s.invocations, max, wg
                ),
            )),
        }
    }

    /// Encodes and submits the whole plan, waits for it, and times it.
    pub fn run(&self, plan: &Plan) -> Result<RunTiming> {
        self.validate(plan)?;
        // lavapipe's timestamps around passes that touch textures came back
        // far too short (a 450 ms run read 96 ms, a 22 ms pass 0.07 ms), so
        // such plans are timed by wall clock there; on a CPU adapter the
        // wall clock is the device's time anyway.
        let textures_on_cpu = self.textures_on_cpu(plan);
        let stamps = if textures_on_cpu {
            None
        } else {
            Timestamps::new(self, plan.steps.len())
        };
        let commands = self.scoped("encoding the plan", || self.encode(plan, stamps.as_ref()))?;
        let start = Instant::now();
        // One submission per command buffer: an OS watchdog judges each.
        let submissions = commands.len();
        let index = self.scoped("submitting the plan", || {
            let mut last = None;
            for cb in commands {
                last = Some(self.queue.submit([cb]));
            }
            Ok(last)
        })?;
        if let Some(index) = index {
            self.wait(index, "running the plan")?;
        }
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        let why_none = if textures_on_cpu {
            "texture passes on a CPU adapter: its timestamps are unreliable there; wall clock"
        } else {
            "adapter has no TIMESTAMP_QUERY; wall clock only"
        };
        let (gpu, gpu_note) = self.verdict(stamps, plan, wall_ms, why_none);
        Ok(RunTiming {
            wall_ms,
            gpu,
            gpu_note,
            submissions,
        })
    }

    /// Runs `plan` `warm + timed` times back to back: everything is encoded
    /// first, then submitted without waiting in between, so the GPU does not
    /// idle between runs (runs write the same output, so they cannot
    /// overlap). Returns the last `timed` runs, each with its own
    /// timestamps and the batch's average wall clock. Without usable
    /// timestamps, or with WGSL_NN_SERIAL_TIMING=1, the runs go one at a
    /// time instead.
    pub fn run_queued(&self, plan: &Plan, warm: usize, timed: usize) -> Result<Vec<RunTiming>> {
        let serial = match std::env::var("WGSL_NN_SERIAL_TIMING") {
            Ok(v) if v.trim() == "1" => true,
            Ok(v) if v.trim() == "0" || v.trim().is_empty() => false,
            Ok(v) => {
                static ONCE: std::sync::Once = std::sync::Once::new();
                ONCE.call_once(|| {
                    eprintln!("note: ignoring WGSL_NN_SERIAL_TIMING='{v}'; set it to 1 or 0")
                });
                false
            }
            Err(_) => false,
        };
        if serial || self.textures_on_cpu(plan) || !self.has_timestamps() {
            let mut runs = (0..warm + timed)
                .map(|_| self.run(plan))
                .collect::<Result<Vec<_>>>()?;
            return Ok(runs.split_off(warm));
        }
        self.validate(plan)?;
        let mut encoded = Vec::with_capacity(warm + timed);
        let mut submissions = 0;
        for i in 0..warm + timed {
            let stamps = if i < warm {
                None
            } else {
                Timestamps::new(self, plan.steps.len())
            };
            let commands =
                self.scoped("encoding the plan", || self.encode(plan, stamps.as_ref()))?;
            submissions = commands.len();
            encoded.push((stamps, commands));
        }
        let start = Instant::now();
        let index = self.scoped("submitting the plan", || {
            let mut last = None;
            for (_, commands) in &mut encoded {
                for cb in std::mem::take(commands) {
                    last = Some(self.queue.submit([cb]));
                }
            }
            Ok(last)
        })?;
        if let Some(index) = index {
            self.wait(index, "running the plan")?;
        }
        let runs = (warm + timed).max(1) as f64;
        let wall_ms = start.elapsed().as_secs_f64() * 1e3 / runs;
        Ok(encoded
            .into_iter()
            .skip(warm)
            .map(|(stamps, _)| {
                let (gpu, gpu_note) = self.verdict(
                    stamps,
                    plan,
                    wall_ms,
                    "no timestamps for this run; wall clock",
                );
                RunTiming {
                    wall_ms,
                    gpu,
                    gpu_note,
                    submissions,
                }
            })
            .collect())
    }

    /// lavapipe's timestamps around passes that touch textures came back
    /// far too short, so such plans are timed by wall clock on CPU adapters.
    fn textures_on_cpu(&self, plan: &Plan) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
            && plan
                .steps
                .iter()
                .any(|s| s.bindings.iter().any(|b| b.texture.is_some()))
    }

    /// A run's GPU times, if its stamps exist and hold up against its wall
    /// clock; else why not (`why_none` when there were no stamps).
    fn verdict(
        &self,
        stamps: Option<Timestamps>,
        plan: &Plan,
        wall_ms: f64,
        why_none: &str,
    ) -> (Option<StepTimes>, Option<String>) {
        let cpu = self.info.device_type == wgpu::DeviceType::Cpu;
        match stamps.map(|t| {
            t.read(self, plan)
                .and_then(|times| super::timer::covers_wall_clock(times, wall_ms, cpu))
        }) {
            Some(Ok(times)) => (Some(times), None),
            Some(Err(note)) => (None, Some(note)),
            None => (None, Some(why_none.to_string())),
        }
    }

    /// Encodes the plan into command buffers, starting a new one whenever
    /// the FLOPs since the last cut pass `submission_flops`.
    fn encode(&self, plan: &Plan, stamps: Option<&Timestamps>) -> Result<Vec<wgpu::CommandBuffer>> {
        let new_encoder = || {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("plan"),
                })
        };
        let mut buffers = Vec::new();
        let mut encoder = new_encoder();
        let mut flops_since_cut = 0u64;
        for (i, s) in plan.steps.iter().enumerate() {
            if s.invocations == 0 {
                continue;
            }
            if flops_since_cut > 0
                && flops_since_cut.saturating_add(s.flops) > self.submission_flops
            {
                buffers.push(std::mem::replace(&mut encoder, new_encoder()).finish());
                flops_since_cut = 0;
            }
            flops_since_cut = flops_since_cut.saturating_add(s.flops);
            let grid = self.grid(s)?;
            let pipeline =
                self.pipelines
                    .get(&self.device, &s.kernel, s.workgroup_size, &s.overrides);
            // Uniform buffers must be at least 16 bytes on some backends.
            let mut params = s.params.clone();
            params.resize(params.len().next_multiple_of(16).max(16), 0);
            let uniform = self
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&s.label),
                    contents: &params,
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            }];
            for (j, b) in s.bindings.iter().enumerate() {
                entries.push(wgpu::BindGroupEntry {
                    binding: j as u32 + 1,
                    resource: match (&b.texture, b.range) {
                        (Some(view), _) => wgpu::BindingResource::TextureView(view),
                        (None, None) => b.buffer.as_entire_binding(),
                        (None, Some((offset, size))) => {
                            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &b.buffer,
                                offset,
                                size: std::num::NonZeroU64::new(size),
                            })
                        }
                    },
                });
            }
            let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&s.label),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&s.label),
                timestamp_writes: stamps.and_then(|t| t.pass_writes(i)),
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        }
        if let Some(t) = stamps {
            t.resolve(&mut encoder);
        }
        buffers.push(encoder.finish());
        Ok(buffers)
    }

    /// Milliseconds spent creating pipelines on this device so far, all
    /// runs together (the difference around a run is its compile time).
    pub fn compile_ms(&self) -> f64 {
        self.pipelines.compile_time().as_secs_f64() * 1e3
    }
}

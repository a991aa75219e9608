//! The device: adapter choice, limits and features, error capture, the
//! pipeline cache and the plan runner. Created once and passed by reference
//! to every op, as in wgpu's `repeated_compute` example.

mod adapter;
mod pipelines;
pub mod plan;
mod readback;
mod run;
pub mod timer;

pub use adapter::{device_type_name, enumerate, not_found, AdapterChoice, AdapterSummary};
pub use pipelines::Patch;
pub use plan::{Binding, Kernel, Plan, Step};
pub use readback::read_buffer;
pub use run::RunTiming;

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Features wgsl-nn uses when the adapter offers them.
pub const WANTED_FEATURES: wgpu::Features = wgpu::Features::TIMESTAMP_QUERY
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
    .union(wgpu::Features::SHADER_F16)
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::PIPELINE_CACHE);

/// The folder for wgsl-nn's caches (kernel choices, the driver's pipeline
/// cache): $WGSL_NN_CACHE, else $XDG_CACHE_HOME/wgsl-nn, else
/// ~/.cache/wgsl-nn.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    env("WGSL_NN_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("wgsl-nn")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("wgsl-nn")))
}

/// The driver's pipeline cache goes to disk when the device is dropped.
impl Drop for Gpu {
    fn drop(&mut self) {
        self.pipelines.save();
    }
}

/// Measures one tuned family on `gpu` and returns its pick (`tune`).
/// The flag says whether it may measure (the op is big enough to repay
/// it) or only look up what an earlier run cached.
pub type Tuner = Arc<dyn Fn(&Gpu, &str, bool) -> Option<String> + Send + Sync>;

/// Ops below this many FLOPs never set off tuning: on a GPU they run in
/// well under a millisecond whichever rung runs them, while timing a
/// ladder costs a second or more (compiling every rung included). They
/// take the built-in rules, or a pick an earlier run cached.
pub const TUNE_MIN_FLOPS: u64 = 1_000_000_000;

/// llvmpipe's cap is 65535 iterations per invocation; leave room for the
/// short loops (tile loads, set-up) around the long one.
pub const LLVMPIPE_LOOP_BUDGET: u64 = 60_000;

/// Errors that reach wgpu's uncaptured handler or the device-lost callback.
/// wgpu's default handler panics; ours records, and the next call returns it.
#[derive(Default)]
struct Faults {
    uncaptured: Vec<String>,
    lost: Option<String>,
}

/// One opened adapter: the wgpu device and queue, what the adapter is and
/// allows, the error capture, the pipeline cache and the kernel choice.
/// Open it once and pass `&Gpu` to every op.
pub struct Gpu {
    /// The wgpu device, opened with the adapter's own limits.
    pub device: wgpu::Device,
    /// The device's one queue: every plan is submitted here.
    pub queue: wgpu::Queue,
    /// The adapter's name, backend, driver and device type.
    pub info: wgpu::AdapterInfo,
    /// The limits the device was opened with (the adapter's own).
    pub limits: wgpu::Limits,
    /// The optional features enabled (timestamps, subgroups, f16).
    pub features: wgpu::Features,
    /// How long any wait for the GPU may take before it is an Error.
    pub timeout: Duration,
    /// Most loop iterations one invocation may run. Mesa's llvmpipe (the
    /// lavapipe Vulkan and GL software adapters) silently stops every loop
    /// of an invocation after 65535 iterations in all, so kernels with long
    /// reductions are split into several dispatches under this budget.
    pub loop_budget: u64,
    /// Most loop iterations, summed over all invocations, that one dispatch
    /// may run: long reductions are split under it so that no single
    /// dispatch runs long enough for an OS watchdog (Windows TDR stops a
    /// GPU packet after 2 s). 2^34 is a few tens of GFLOP: milliseconds on
    /// a discrete GPU, well under a second on a small integrated one.
    pub dispatch_work_budget: u64,
    /// A plan is encoded into several command buffers, each submitted on its
    /// own, once the FLOPs since the last cut pass this (watchdogs act per
    /// submission).
    pub submission_flops: u64,
    /// Matmul K is cut into blocks of this many (0: none), accumulating in
    /// C: on adapters that run on CPU cores it keeps B's working set in
    /// cache. 512 for CPU adapters, measured on lavapipe (BENCHMARKS.md).
    pub matmul_k_block: usize,
    /// Extra NaN elements allocated after every op output (0 normally;
    /// tests raise it to catch writes past the end, see `Tensor::guard`).
    pub guard_elements: usize,
    faults: Arc<Mutex<Faults>>,
    pipelines: pipelines::Cache,
    /// The kernel choice every plan on this device follows where the plan
    /// has none of its own (`with_kernels`: what `--kernel` sets).
    kernels: crate::rung::Kernels,
    /// The autotuner's picks by family ("matmul" -> "tex", ...): measured
    /// facts about this device, weaker than any explicit choice.
    tuned: std::sync::RwLock<std::collections::HashMap<String, String>>,
    /// Measures a tuned family the first time an op big enough to repay it
    /// asks (`tune::install`); unset, only picks already set count.
    tuner: std::sync::OnceLock<Tuner>,
    /// Families the tuner was asked for already (measured or not), so a
    /// family is timed at most once per run and never from inside itself.
    tune_asked: Mutex<std::collections::HashSet<String>>,
    /// One small buffer bound wherever a kernel's optional input (bias,
    /// mask) is absent; made once, not per op call.
    pub(crate) placeholder: std::sync::OnceLock<Arc<wgpu::Buffer>>,
}

impl Gpu {
    /// Opens the chosen adapter with its own limits and the features we use.
    pub fn new(choice: &AdapterChoice) -> Result<Gpu> {
        let adapter = adapter::choose(choice)?;
        Self::from_adapter(&adapter)
    }

    /// Opens a device on `adapter` (one `enumerate` listed), with its
    /// limits and the features wgsl-nn uses where the adapter has them.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        let features = adapter.features() & WANTED_FEATURES;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wgsl-nn"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::RequestDevice {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;
        let faults = Arc::new(Mutex::new(Faults::default()));
        let f = faults.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut f) = f.lock() {
                f.uncaptured.push(e.to_string());
            }
        }));
        let f = faults.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut f) = f.lock() {
                f.lost = Some(format!("{reason:?}: {msg}"));
            }
        });
        let loop_budget = if [&info.name, &info.driver, &info.driver_info]
            .iter()
            .any(|s| s.to_lowercase().contains("llvmpipe"))
        {
            LLVMPIPE_LOOP_BUDGET
        } else {
            u64::MAX
        };
        let cpu_adapter = info.device_type == wgpu::DeviceType::Cpu;
        let disk = features
            .contains(wgpu::Features::PIPELINE_CACHE)
            .then(|| pipelines::DiskCache::open(&device, &info))
            .flatten();
        Ok(Gpu {
            device,
            queue,
            loop_budget,
            guard_elements: 0,
            dispatch_work_budget: 1 << 34,
            submission_flops: 200_000_000_000,
            matmul_k_block: if info.device_type == wgpu::DeviceType::Cpu {
                512
            } else {
                0
            },
            info,
            limits: device_limits_or(limits),
            features,
            timeout: Duration::from_secs(60),
            faults,
            pipelines: pipelines::Cache::new(cpu_adapter, disk),
            kernels: Default::default(),
            tuned: Default::default(),
            tuner: Default::default(),
            tune_asked: Default::default(),
            placeholder: Default::default(),
        })
    }

    /// Plants a fault in the kernels (`mutants`): until `plant(name, &[])`,
    /// pipelines of the patched families compile from the patched source.
    pub fn plant(&self, name: &str, patches: &[Patch]) {
        self.pipelines.plant(name, patches);
    }

    /// Pipelines that ran with the planted patch since `plant`: 0 means
    /// the patch never reached a kernel, and the mutant proves nothing.
    pub fn planted_hits(&self) -> usize {
        self.pipelines.planted_hits()
    }

    /// This device with `kernels` as the choice of every plan that makes
    /// none (a plan's own `Plan::with_kernels` wins over it).
    pub fn with_kernels(mut self, kernels: crate::rung::Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// The device's kernel choice (`with_kernels`).
    pub fn kernels(&self) -> crate::rung::Kernels {
        self.kernels
    }

    /// What the ops appending to `plan` follow: the plan's choice per
    /// family, else the device's.
    pub fn choice(&self, plan: &Plan) -> crate::rung::Kernels {
        plan.kernels.or(self.kernels)
    }

    /// The autotuner's pick for an op family, if any: weaker than
    /// `kernel_for` (a user's `--kernel`), and ops may overrule it where
    /// size decides (a tiny conv stays off the texture rung). The installed
    /// tuner is asked once per run: an op of at least `TUNE_MIN_FLOPS` may
    /// have the family measured, smaller ones only look up the cache.
    pub fn tuned_for(&self, family: &str, flops: u64) -> Option<String> {
        let known = self.tuned.read().ok().and_then(|t| t.get(family).cloned());
        if known.is_some() {
            return known;
        }
        let tuner = self.tuner.get()?.clone();
        let measure = flops >= TUNE_MIN_FLOPS;
        let asked = format!("{family}{}", if measure { " measured" } else { "" });
        if !self.tune_asked.lock().ok()?.insert(asked) {
            return None;
        }
        let pick = tuner(self, family, measure)?;
        self.set_tuned(family, Some(&pick));
        Some(pick)
    }

    /// Installs the function that measures a family on first use (see
    /// `tuned_for`); a second call keeps the first.
    pub fn set_tuner(&self, tuner: Tuner) {
        let _ = self.tuner.set(tuner);
    }

    /// Records the tuner's pick for `family` (None forgets it).
    pub fn set_tuned(&self, family: &str, kernel: Option<&str>) {
        if let Ok(mut k) = self.tuned.write() {
            match kernel {
                Some(name) => k.insert(family.to_string(), name.to_string()),
                None => k.remove(family),
            };
        }
    }

    /// The adapter's name, backend, driver and type, for reports.
    pub fn summary(&self) -> AdapterSummary {
        AdapterSummary::of(&self.info)
    }

    /// Whether steps can be timed by GPU timestamp queries.
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Returns the first recorded fault, if any. A lost device stays lost:
    /// every later call reports it again.
    pub fn check_faults(&self, context: &str) -> Result<()> {
        let Ok(mut f) = self.faults.lock() else {
            return Err(Error::DeviceLost {
                reason: "error state poisoned by an earlier panic".into(),
            });
        };
        if let Some(reason) = &f.lost {
            return Err(Error::DeviceLost {
                reason: reason.clone(),
            });
        }
        if !f.uncaptured.is_empty() {
            let message = f.uncaptured.drain(..).collect::<Vec<_>>().join("; ");
            return Err(Error::Validation {
                context: context.to_string(),
                message,
            });
        }
        Ok(())
    }

    /// Runs `f` inside validation, out-of-memory and internal error scopes and
    /// turns whatever they caught into an `Error`.
    pub fn scoped<T>(&self, context: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check_faults(context)?;
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        // Pop all three (innermost first) before waiting on any of them.
        let errors = [validation.pop(), oom.pop(), internal.pop()];
        if let Some(e) = errors.into_iter().find_map(pollster::block_on) {
            return Err(match e {
                wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory {
                    context: context.to_string(),
                },
                other => Error::Validation {
                    context: context.to_string(),
                    message: other.to_string(),
                },
            });
        }
        self.check_faults(context)?;
        out
    }

    /// Blocks until the given submission finishes, within `self.timeout`.
    pub fn wait(&self, index: wgpu::SubmissionIndex, context: &str) -> Result<()> {
        match self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: Some(self.timeout),
        }) {
            Ok(_) => self.check_faults(context),
            Err(wgpu::PollError::Timeout) => Err(Error::Timeout {
                context: context.to_string(),
                seconds: self.timeout.as_secs_f64(),
            }),
            Err(e) => {
                self.check_faults(context)?;
                Err(Error::DeviceLost {
                    reason: e.to_string(),
                })
            }
        }
    }
}

/// Some drivers report 0 for limits they do not enforce; treat those as the
/// WebGPU defaults so arithmetic on limits never divides by zero.
fn device_limits_or(l: wgpu::Limits) -> wgpu::Limits {
    let d = wgpu::Limits::downlevel_defaults();
    let pick = |v: u32, dv: u32| if v == 0 { dv } else { v };
    wgpu::Limits {
        max_compute_workgroups_per_dimension: pick(
            l.max_compute_workgroups_per_dimension,
            d.max_compute_workgroups_per_dimension,
        ),
        max_compute_invocations_per_workgroup: pick(
            l.max_compute_invocations_per_workgroup,
            d.max_compute_invocations_per_workgroup,
        ),
        max_compute_workgroup_size_x: pick(
            l.max_compute_workgroup_size_x,
            d.max_compute_workgroup_size_x,
        ),
        max_storage_buffer_binding_size: if l.max_storage_buffer_binding_size == 0 {
            d.max_storage_buffer_binding_size
        } else {
            l.max_storage_buffer_binding_size
        },
        ..l
    }
}

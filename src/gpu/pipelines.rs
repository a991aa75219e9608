//! Compiled pipelines, cached by a key that names the kernel and every
//! override constant, so a plan run twice compiles nothing the second time.

use super::plan::{Kernel, PRELUDE};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The device's compiled pipelines, keyed by [`key`], with the time spent
/// compiling them and the planted fault (if any) their sources carry.
#[derive(Default)]
pub struct Cache {
    /// The device runs shaders on CPU cores (see `runtime_checks`).
    cpu_adapter: bool,
    map: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    /// Time spent creating pipelines, reported apart from run times.
    compile: Mutex<Duration>,
    /// A planted fault (`wgsl-nn selftest --mutants`): its patches apply to
    /// every pipeline requested while it is set, and nowhere else.
    planted: Mutex<Option<Planted>>,
    /// The driver's own pipeline cache, kept on disk between runs, where
    /// wgpu offers one (Vulkan with PIPELINE_CACHE).
    disk: Option<DiskCache>,
}

/// A `wgpu::PipelineCache` loaded from and saved to one file per adapter
/// class (`wgpu::util::pipeline_cache_key`) in the cache folder.
pub struct DiskCache {
    cache: wgpu::PipelineCache,
    path: std::path::PathBuf,
    loaded: usize,
}

impl DiskCache {
    /// None where wgpu has no cache for this adapter or no folder is known.
    pub fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo) -> Option<DiskCache> {
        let path = super::cache_dir()?.join(wgpu::util::pipeline_cache_key(info)?);
        let data = std::fs::read(&path).ok();
        // SAFETY: the data was written by `get_data` for this adapter class
        // (the key names adapter and driver); `fallback` makes wgpu start
        // empty when its header check finds it stale or corrupt.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("wgsl-nn pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(DiskCache {
            cache,
            path,
            loaded: data.map_or(0, |d| d.len()),
        })
    }

    /// Writes the cache if it grew; a folder that cannot be written only
    /// costs the next run its compilations, so failures stay quiet.
    fn save(&self) {
        let Some(data) = self.cache.get_data() else {
            return;
        };
        if data.len() == self.loaded {
            return;
        }
        let tmp = self.path.with_extension("tmp");
        let _ = self
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&tmp, &data))
            .and_then(|_| std::fs::rename(&tmp, &self.path));
    }
}

/// One text patch of one kernel family's source: every occurrence of
/// `find` becomes `replace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// The kernel family (file stem) patched, e.g. "matmul".
    pub family: &'static str,
    /// The exact text to look for in the family's WGSL source.
    pub find: &'static str,
    /// The text each occurrence of `find` is replaced by.
    pub replace: &'static str,
}

#[derive(Debug, Clone)]
struct Planted {
    name: String,
    patches: Vec<Patch>,
    /// Pipelines requested with a patch applied.
    hits: usize,
}

/// Bounds and division checks always on. naga's per-loop iteration
/// counters (wgpu's `force_loop_bounding`) stay on CPU adapters, where they
/// measured ~8% faster (lavapipe, the tex matmul at 1024: 37.7 vs 41.5 ms),
/// and are dropped on GPUs, where the H200 figures in BENCHMARKS.md were
/// taken without them. WGSL_NN_FORCE_LOOP_BOUNDING=1 or 0 overrides.
fn runtime_checks(cpu_adapter: bool) -> wgpu::ShaderRuntimeChecks {
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    checks.force_loop_bounding = match std::env::var("WGSL_NN_FORCE_LOOP_BOUNDING").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        Ok(other) => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                eprintln!("note: ignoring WGSL_NN_FORCE_LOOP_BOUNDING='{other}'; set it to 1 or 0")
            });
            cpu_adapter
        }
        Err(_) => cpu_adapter,
    };
    checks
}

/// The cache key of a pipeline: family, entry point, workgroup size and
/// every override constant in order, e.g.
/// `"attention_flash::attention_flash WG=128 HD=64"`.
pub fn key(kernel: &Kernel, workgroup_size: u32, overrides: &[(&str, f64)]) -> String {
    let mut k = format!("{}::{} WG={}", kernel.family, kernel.entry, workgroup_size);
    for (name, v) in overrides {
        k.push_str(&format!(" {name}={v}"));
    }
    k
}

impl Cache {
    /// An empty cache; `cpu_adapter` keeps naga's forced loop bounds on
    /// (see `runtime_checks`), `disk` is the driver's on-disk cache, if any.
    pub fn new(cpu_adapter: bool, disk: Option<DiskCache>) -> Cache {
        Cache {
            cpu_adapter,
            disk,
            ..Default::default()
        }
    }

    /// Saves the driver's pipeline cache, where there is one.
    pub fn save(&self) {
        if let Some(d) = &self.disk {
            d.save();
        }
    }

    /// The pipeline for `kernel`'s entry point with the workgroup size
    /// (the prelude's `WG` override) and the other overrides given,
    /// compiled from the prelude plus the family's source (with any planted
    /// patch applied) the first time it is asked for, from the cache after.
    pub fn get(
        &self,
        device: &wgpu::Device,
        kernel: &Kernel,
        workgroup_size: u32,
        overrides: &[(&'static str, f64)],
    ) -> Arc<wgpu::ComputePipeline> {
        let mut key = key(kernel, workgroup_size, overrides);
        let mut source = kernel.source.to_string();
        if let Ok(mut planted) = self.planted.lock() {
            if let Some(pl) = planted.as_mut() {
                for patch in pl.patches.iter().filter(|p| p.family == kernel.family) {
                    source = source.replace(patch.find, patch.replace);
                }
                if source != kernel.source {
                    pl.hits += 1;
                    key.push_str(&format!(" mutant={}", pl.name));
                }
            }
        }
        if let Some(p) = self.map.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return p;
        }
        let start = Instant::now();
        // Enable directives must open the module, above the prelude.
        let source = match source.strip_prefix("enable f16;\n") {
            Some(rest) => format!("enable f16;\n{PRELUDE}\n{rest}"),
            None => format!("{PRELUDE}\n{source}"),
        };
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.family),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        // SAFETY: at most naga's forced loop bounds are dropped (bounds
        // checks stay). Every loop in shaders/ counts to a limit the host
        // computed and validated, so none is infinite.
        let module =
            unsafe { device.create_shader_module_trusted(desc, runtime_checks(self.cpu_adapter)) };
        let mut constants: Vec<(&str, f64)> = vec![("WG", f64::from(workgroup_size))];
        constants.extend(overrides.iter().copied());
        let pipeline = Arc::new(
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&key),
                layout: None,
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: self.disk.as_ref().map(|d| &d.cache),
            }),
        );
        if let Ok(mut c) = self.compile.lock() {
            *c += start.elapsed();
        }
        if let Ok(mut m) = self.map.lock() {
            m.insert(key, pipeline.clone());
        }
        pipeline
    }

    /// Plants a fault (or clears it with None); later pipelines of the
    /// patched families compile from the patched source.
    pub fn plant(&self, name: &str, patches: &[Patch]) {
        if let Ok(mut p) = self.planted.lock() {
            *p = (!patches.is_empty()).then(|| Planted {
                name: name.to_string(),
                patches: patches.to_vec(),
                hits: 0,
            });
        }
    }

    /// Pipelines requested with the planted patch applied since `plant`.
    pub fn planted_hits(&self) -> usize {
        self.planted
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(|p| p.hits))
            .unwrap_or(0)
    }

    /// Total time spent creating pipelines since the cache was made.
    pub fn compile_time(&self) -> Duration {
        self.compile.lock().map(|c| *c).unwrap_or_default()
    }
}

//! Compiled pipelines, cached by a key that names the kernel and every
//! override constant, so a plan run twice compiles nothing the second time.

use super::plan::{Kernel, PRELUDE};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Cache {
    map: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    /// Time spent creating pipelines, reported apart from run times.
    compile: Mutex<Duration>,
}

/// Bounds and division checks on; naga's per-loop iteration counters off,
/// unless WGSL_NN_FORCE_LOOP_BOUNDING=1 asks for them (to measure what they
/// cost: BENCHMARKS.md).
fn runtime_checks() -> wgpu::ShaderRuntimeChecks {
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    checks.force_loop_bounding =
        std::env::var("WGSL_NN_FORCE_LOOP_BOUNDING").is_ok_and(|v| v.trim() == "1");
    checks
}

pub fn key(kernel: &Kernel, workgroup_size: u32, overrides: &[(&str, f64)]) -> String {
    let mut k = format!("{}::{} WG={}", kernel.family, kernel.entry, workgroup_size);
    for (name, v) in overrides {
        k.push_str(&format!(" {name}={v}"));
    }
    k
}

impl Cache {
    pub fn get(
        &self,
        device: &wgpu::Device,
        kernel: &Kernel,
        workgroup_size: u32,
        overrides: &[(&'static str, f64)],
    ) -> Arc<wgpu::ComputePipeline> {
        let key = key(kernel, workgroup_size, overrides);
        if let Some(p) = self.map.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return p;
        }
        let start = Instant::now();
        let source = format!("{PRELUDE}\n{}", kernel.source);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.family),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        // SAFETY: only naga's forced loop bounds are dropped (bounds checks
        // stay). Every loop in shaders/ counts to a limit the host computed
        // and validated, so none is infinite. The counters naga adds to each
        // loop otherwise keep drivers from unrolling the inner products.
        let module = unsafe { device.create_shader_module_trusted(desc, runtime_checks()) };
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
                cache: None,
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

    pub fn compile_time(&self) -> Duration {
        self.compile.lock().map(|c| *c).unwrap_or_default()
    }
}

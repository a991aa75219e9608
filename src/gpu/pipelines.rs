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
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.family),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
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

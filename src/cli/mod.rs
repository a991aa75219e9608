//! Subcommands. Each returns Ok(true) when everything it checked passed.

pub mod attention;

pub mod conv;
pub mod info;
pub mod permute;
pub mod report;

use clap::Args;
use std::time::Duration;
use wgsl_nn::gpu::{AdapterChoice, Gpu};

/// Options shared by every command that touches the GPU.
#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Use the adapter whose name contains this (case-insensitive); default:
    /// a hardware GPU if there is one, else a software adapter. WGPU_ADAPTER_NAME works too.
    #[arg(long, global = true, value_name = "NAME-SUBSTRING")]
    pub adapter: Option<String>,
    /// Restrict to one backend: vulkan, gl, metal or dx12. WGPU_BACKEND works too.
    #[arg(long, global = true)]
    pub backend: Option<String>,
    /// Seconds any single wait for the GPU may take before it is an error.
    #[arg(long, global = true, default_value_t = 60.0, value_name = "SECONDS")]
    pub gpu_timeout: f64,
}

impl DeviceArgs {
    pub fn choice(&self) -> AdapterChoice {
        AdapterChoice::from_args_or_env(self.adapter.clone(), self.backend.clone())
    }

    pub fn open(&self) -> wgsl_nn::Result<Gpu> {
        if !(self.gpu_timeout.is_finite() && self.gpu_timeout > 0.0 && self.gpu_timeout <= 86_400.0)
        {
            return Err(wgsl_nn::Error::arg(
                "--gpu-timeout",
                format!(
                    "{} is not a number of seconds between 0 and 86400",
                    self.gpu_timeout
                ),
            ));
        }
        let mut gpu = Gpu::new(&self.choice())?;
        gpu.timeout = Duration::from_secs_f64(self.gpu_timeout);
        Ok(gpu)
    }
}

pub fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
}

/// "30x30x1" (H x W x C), as the exercise writes sizes.
pub fn hwc(shape: &[usize; 4]) -> String {
    format!("{}x{}x{}", shape[2], shape[3], shape[1])
}

/// "23" for a square field, "23x11" otherwise.
pub fn pair(v: [usize; 2]) -> String {
    if v[0] == v[1] {
        v[0].to_string()
    } else {
        format!("{}x{}", v[0], v[1])
    }
}

/// A square pair as one number, else [h, w]: what JSON readers expect for
/// the usual square case without losing the general one.
pub fn pair_json(v: [usize; 2]) -> serde_json::Value {
    if v[0] == v[1] {
        v[0].into()
    } else {
        serde_json::json!([v[0], v[1]])
    }
}

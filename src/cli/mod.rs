//! Subcommands. Each returns Ok(true) when everything it checked passed.

pub mod attention;
pub mod bench;

pub mod conv;
pub mod conv_half;
pub mod info;
pub mod permute;
pub mod report;
pub mod rnn;
pub mod run;
pub mod selftest;
pub mod selftest_half;
pub mod text2image;
pub mod tune;

use clap::Args;
use std::time::Duration;
use wgsl_nn::gpu::{AdapterChoice, Gpu};
use wgsl_nn::rung::Kernels;

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
    /// Kernel choice per adapter: cached (a family is timed the first time a GPU op big enough
    /// needs it, then reused; CPU adapters use built-in rules unless `wgsl-nn tune` ran),
    /// off (built-in rules) or redo (time again what this command needs).
    #[arg(long, global = true, default_value = "cached")]
    pub tune: String,
    /// Force a kernel for an op family, e.g. --kernel matmul=tiled --kernel conv2d=direct (see `wgsl-nn info`).
    #[arg(long, global = true, value_name = "FAMILY=KERNEL")]
    pub kernel: Vec<String>,
}

impl DeviceArgs {
    pub fn choice(&self) -> AdapterChoice {
        AdapterChoice::from_args_or_env(self.adapter.clone(), self.backend.clone())
    }

    pub fn open(&self) -> wgsl_nn::Result<Gpu> {
        self.configure(self.open_untuned()?)
    }

    /// The adapter with --gpu-timeout applied, before --tune and --kernel.
    pub fn open_untuned(&self) -> wgsl_nn::Result<Gpu> {
        if !(self.gpu_timeout.is_finite() && self.gpu_timeout > 0.0 && self.gpu_timeout <= 86_400.0)
        {
            return Err(wgsl_nn::Error::arg(
                "--gpu-timeout",
                format!(
                    "{} is not a number of seconds above 0 and at most 86400",
                    self.gpu_timeout
                ),
            ));
        }
        let mut gpu = Gpu::new(&self.choice())?;
        gpu.timeout = Duration::from_secs_f64(self.gpu_timeout);
        Ok(gpu)
    }

    /// Applies --tune, then --kernel (which wins over the tuner's picks).
    pub fn configure(&self, gpu: Gpu) -> wgsl_nn::Result<Gpu> {
        let kernels = self.kernels()?;
        wgsl_nn::app::tune::install(&gpu, wgsl_nn::app::tune::TuneMode::parse(&self.tune)?);
        Ok(gpu.with_kernels(kernels))
    }

    /// The --kernel choices as a value (an unknown family or rung is an
    /// error naming the choices).
    pub fn kernels(&self) -> wgsl_nn::Result<Kernels> {
        let mut k = Kernels::default();
        for item in &self.kernel {
            k.set(item)?;
        }
        Ok(k)
    }

    /// The --kernel choices as (family, rung) pairs, validated.
    pub fn forced_kernels(&self) -> wgsl_nn::Result<Vec<(String, String)>> {
        self.kernels()?;
        Ok(self
            .kernel
            .iter()
            .filter_map(|k| k.split_once('='))
            .map(|(f, r)| (f.trim().to_string(), r.trim().to_string()))
            .collect())
    }
}

/// Says up front when a run will take minutes: without it a big layer on a
/// software adapter looks like a hang. The rates are rough (llvmpipe's
/// best rungs reach ~40 GFLOP/s on two cores, a discrete GPU some TFLOP/s),
/// so the note gives an order of magnitude and how to shorten the run.
pub fn note_if_long(gpu: &wgsl_nn::gpu::Gpu, flops_per_run: u64, paths: usize) {
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let rate = if cpu { 40e9 } else { 5e12 };
    let per_run = flops_per_run as f64 / rate;
    // Slow runs skip the warm-up and time fewer repetitions, but each path
    // runs at least twice: the first (cold) run, then a timed one.
    if 2.0 * per_run * paths as f64 > 60.0 {
        eprintln!(
            "note: {:.1} TFLOP per run is roughly {:.0} minute(s) per run on {}, and each of {paths} path(s) \
             runs at least twice; a smaller shape is faster",
            flops_per_run as f64 / 1e12,
            per_run / 60.0,
            gpu.info.name
        );
    }
}

/// Output files are checked before any work: the folder must exist, the
/// path must not be a folder, and two flags may not name the same file.
pub fn check_outputs(outputs: &[(&str, Option<&std::path::Path>)]) -> wgsl_nn::Result<()> {
    let given: Vec<(&str, &std::path::Path)> =
        outputs.iter().filter_map(|&(f, p)| Some((f, p?))).collect();
    for (i, &(flag, path)) in given.iter().enumerate() {
        if path.is_dir() {
            return Err(wgsl_nn::Error::arg(
                flag,
                format!("{} is a folder; give a file name", path.display()),
            ));
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = parent.filter(|d| !d.is_dir()) {
            return Err(wgsl_nn::Error::arg(
                flag,
                format!(
                    "the folder {} does not exist; create it or write elsewhere",
                    dir.display()
                ),
            ));
        }
        // `a.npy` and `./a.npy` are one file: compare folder and name.
        let same = |a: &std::path::Path, b: &std::path::Path| {
            let key = |p: &std::path::Path| {
                let dir = p
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                (dir.canonicalize().ok(), p.file_name().map(|f| f.to_owned()))
            };
            a == b || key(a) == key(b)
        };
        if let Some((other, _)) = given[..i].iter().find(|(_, p)| same(p, path)) {
            return Err(wgsl_nn::Error::arg(
                flag,
                format!(
                    "{} is also the file of {other}; give each output its own file",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// A size given by a flag, a file, both (then they must agree) or neither
/// (the default), within 1..=max.
pub fn pick(
    flag: &str,
    given: Option<usize>,
    file: Option<usize>,
    source: &str,
    default: usize,
    max: usize,
) -> wgsl_nn::Result<usize> {
    let v = match (given, file) {
        (Some(g), Some(f)) if g != f => {
            return Err(wgsl_nn::Error::arg(
                flag,
                format!("{g} disagrees with {source}, which says {f}; drop {flag} or fix it"),
            ))
        }
        (g, f) => f.or(g).unwrap_or(default),
    };
    if v == 0 || v > max {
        let culprit = if file.is_some() { source } else { flag };
        return Err(wgsl_nn::Error::arg(
            culprit,
            format!("{v} (for {flag}) is outside 1..={max}"),
        ));
    }
    Ok(v)
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

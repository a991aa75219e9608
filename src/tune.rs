//! Per-adapter kernel choice: a short timing run of every rung of each
//! ladder (matmul, conv2d) on a representative size, each rung checked
//! before it may win, the winners cached on disk keyed by adapter and
//! driver. `--tune off` keeps the built-in defaults; `--tune redo` measures
//! again. Tile sizes themselves come from the device limits (`ops`), so no
//! choice can fail on a device with the default limits: a rung that cannot
//! run there is simply not a candidate.

use crate::check::compare;
use crate::cpu::{self, RefTensor};
use crate::error::{Error, Result};
use crate::geometry::Window;
use crate::gpu::timer::time_plan;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::random_input;
use crate::ops::conv2d::{conv2d_forward, Conv2d};
use crate::ops::matmul::{matmul_into, Matmul, View};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TuneMode {
    /// Use the cache; measure and store when this adapter has no entry.
    Cached,
    Off,
    Redo,
}

impl TuneMode {
    pub fn parse(s: &str) -> Result<TuneMode> {
        match s {
            "cached" | "auto" => Ok(TuneMode::Cached),
            "off" => Ok(TuneMode::Off),
            "redo" => Ok(TuneMode::Redo),
            _ => Err(Error::arg(
                "--tune",
                format!("'{s}' is not cached, off or redo"),
            )),
        }
    }
}

/// Where choices are cached: $WGSL_NN_CACHE, else $XDG_CACHE_HOME/wgsl-nn,
/// else ~/.cache/wgsl-nn.
pub fn cache_path() -> Option<PathBuf> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = env("WGSL_NN_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("wgsl-nn")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("wgsl-nn")))?;
    Some(dir.join("tune.json"))
}

/// Adapter, driver and the ladders' rungs: a new rung invalidates the
/// cached choice instead of being silently never tried.
pub fn adapter_key(gpu: &Gpu) -> String {
    let i = &gpu.info;
    format!(
        "{} | {:?} | {} | {} | matmul {} matmul_large {} conv2d {} conv2d_large",
        i.name,
        i.backend,
        i.driver,
        i.driver_info,
        crate::ops::matmul::KERNELS.join(","),
        LARGE_MATMUL_RUNGS.join(","),
        CONV_RUNGS.join(",")
    )
}

/// The rungs that can win a large product (`matmul_large`, timed at 2048
/// on GPUs that are not CPU adapters): on an H200 sm128p lost at 512 and
/// 1024 (too few 128 x 128 tiles to fill the chip) and won at 2048 and
/// 4096 by 1.4x (BENCHMARKS.md). The slower rungs are not worth timing.
const LARGE_MATMUL_RUNGS: [&str; 5] = ["rb4_vec4", "rb8_vec4", "tex", "sm128", "sm128p"];
const LARGE_MATMUL_N: usize = 2048;

/// The spatial conv rungs the tuner compares (1x1 convs always take the
/// plain product).
const CONV_RUNGS: [&str; 4] = ["direct", "row4", "igemm", "tex"];

type Cache = BTreeMap<String, BTreeMap<String, String>>;

fn load(path: &PathBuf) -> Cache {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Why a cached entry cannot be used: a kernel name no ladder has.
fn invalid_choice(c: &BTreeMap<String, String>) -> Option<String> {
    c.iter().find_map(|(family, k)| {
        let known: &[&str] = match family.as_str() {
            "matmul" => &crate::ops::matmul::KERNELS,
            "matmul_large" => &LARGE_MATMUL_RUNGS,
            "conv2d" | "conv2d_large" => &CONV_RUNGS,
            _ => return Some(format!("'{family}' is not a kernel family")),
        };
        (!known.contains(&k.as_str())).then(|| format!("'{k}' is not a {family} kernel"))
    })
}

/// Writes the cache; a cache that cannot be written only costs a re-measure
/// on every run, which the note says once per run.
fn save(p: &std::path::Path, cache: &Cache) {
    let written = p
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::write(p, serde_json::to_string_pretty(cache).unwrap_or_default()));
    if let Err(e) = written {
        eprintln!(
            "note: cannot write the kernel-choice cache {}: {e}; every run will measure again \
             (set WGSL_NN_CACHE to a writable folder, or use --tune off)",
            p.display()
        );
    }
}

/// Applies the cached or measured choices to `gpu`; returns them with how
/// each was decided ("cache" or the measurements).
pub fn tune(gpu: &Gpu, mode: TuneMode) -> Result<BTreeMap<String, String>> {
    if mode == TuneMode::Off {
        return Ok(BTreeMap::new());
    }
    let path = cache_path();
    let key = adapter_key(gpu);
    let mut cache = path.as_ref().map(load).unwrap_or_default();
    let cached = cache.get(&key).filter(|c| match invalid_choice(c) {
        None => true,
        Some(why) => {
            eprintln!(
                "note: ignoring the cached kernel choice for this adapter in {}: {why}; measuring again",
                path.as_ref().map_or(String::new(), |p| p.display().to_string())
            );
            false
        }
    });
    let choices = match (mode, cached) {
        (TuneMode::Cached, Some(c)) => c.clone(),
        _ => {
            let c = measure(gpu)?;
            let wanted: &[&str] = if gpu.info.device_type == wgpu::DeviceType::Cpu {
                &["matmul", "conv2d"]
            } else {
                &["matmul", "matmul_large", "conv2d", "conv2d_large"]
            };
            // A run where some ladder had no passing rung (a timeout, a lost
            // device) is not worth remembering: the next run measures again.
            if let Some(missing) = wanted.iter().find(|f| !c.contains_key(**f)) {
                eprintln!(
                    "note: tuning found no passing {missing} kernel (a --gpu-timeout too short?); built-in \
                     defaults are used for it and nothing is cached"
                );
                for (family, kernel) in &c {
                    gpu.set_tuned(family, Some(kernel));
                }
                return Ok(c);
            }
            cache.insert(key, c.clone());
            if let Some(p) = &path {
                save(p, &cache);
            }
            c
        }
    };
    for (family, kernel) in &choices {
        gpu.set_tuned(family, Some(kernel));
    }
    Ok(choices)
}

/// The fastest passing rung of each ladder on a short representative run.
pub fn measure(gpu: &Gpu) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let before: Vec<_> = ["matmul", "conv2d"]
        .iter()
        .map(|f| gpu.kernel_for(f))
        .collect();
    let best =
        |family: &str, kernels: &[&str], run: &dyn Fn() -> Result<(f64, bool)>| -> Option<String> {
            let mut best: Option<(f64, &str)> = None;
            for &k in kernels {
                gpu.set_kernel(family, Some(k));
                if let Ok((ms, true)) = run() {
                    if best.is_none_or(|(b, _)| ms < b) {
                        best = Some((ms, k));
                    }
                }
            }
            best.map(|(_, k)| k.to_string())
        };
    // Large enough that launch overheads do not decide (at 256 an H200
    // preferred the tiled rung, which loses 5x at 4096).
    let small = MatmulTrial::new(512);
    let matmul_run = || small.run(gpu);
    if let Some(k) = best("matmul", &crate::ops::matmul::KERNELS, &matmul_run) {
        out.insert("matmul".to_string(), k);
    }
    // On CPU adapters a 2048 product takes seconds per rung, and the size
    // rules there do not depend on it.
    if gpu.info.device_type != wgpu::DeviceType::Cpu {
        let large = MatmulTrial::new(LARGE_MATMUL_N);
        if let Some(k) = best("matmul", &LARGE_MATMUL_RUNGS, &|| large.run(gpu)) {
            out.insert("matmul_large".to_string(), k);
        }
    }
    let small = ConvTrial::new([1, 32, 48, 48], 32);
    let conv_run = || small.run(gpu);
    // 1x1 convs always take the plain product; tune the spatial rungs.
    if let Some(k) = best("conv2d", &CONV_RUNGS, &conv_run) {
        out.insert("conv2d".to_string(), k);
    }
    // A GFLOP-scale layer, as in the wide benchmark stack: on the H200 the
    // 42 MFLOP probe above picked direct, which igemm beat 3.2x on the
    // wide stack (BENCHMARKS.md). CPU adapters decide by size rules.
    if gpu.info.device_type != wgpu::DeviceType::Cpu {
        let large = ConvTrial::new([8, 64, 64, 64], 64);
        if let Some(k) = best("conv2d", &CONV_RUNGS, &|| large.run(gpu)) {
            out.insert("conv2d_large".to_string(), k);
        }
    }
    for (f, k) in ["matmul", "conv2d"].iter().zip(before) {
        gpu.set_kernel(f, k.as_deref());
    }
    Ok(out)
}

/// A square product timed for the tuner, checked on its first and last rows.
struct MatmulTrial {
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl MatmulTrial {
    fn new(n: usize) -> MatmulTrial {
        MatmulTrial {
            n,
            a: random_input(&[n * n], 11),
            b: random_input(&[n * n], 12),
        }
    }

    /// (median ms, passed) with the rung `gpu` currently selects.
    fn run(&self, gpu: &Gpu) -> Result<(f64, bool)> {
        let (n, a, b) = (self.n, &self.a, &self.b);
        let mm = Matmul::square(n);
        let (at, bt) = (
            Tensor::upload(gpu, "A", &[n, n], a)?,
            Tensor::upload(gpu, "B", &[n, n], b)?,
        );
        let c = Tensor::poisoned(gpu, "C", &[n, n])?;
        let mut plan = Plan::new();
        matmul_into(
            gpu,
            &mut plan,
            "tune matmul",
            &mm,
            (&at, View::dense(n, n, false)),
            (&bt, View::dense(n, n, false)),
            None,
            (&c, View::dense(n, n, false)),
        )?;
        let t = time_plan(gpu, &plan, 1, 3)?;
        // Rows 0 and n-1 are enough to catch a rung that is wrong here.
        let got = c.download(gpu)?;
        let rows = [0, n - 1];
        let sub: Vec<f32> = rows
            .iter()
            .flat_map(|&r| a[r * n..(r + 1) * n].to_vec())
            .collect();
        let mut reference = RefTensor::zeros(&[2, n]);
        cpu::matmul::matmul_into(
            &Matmul { m: 2, ..mm.clone() },
            (
                &RefTensor::from_f32(&[2, n], &sub),
                View::dense(2, n, false),
            ),
            (&RefTensor::from_f32(&[n, n], b), View::dense(n, n, false)),
            None,
            (&mut reference, View::dense(2, n, false)),
        );
        let got_rows: Vec<f32> = rows
            .iter()
            .flat_map(|&r| got[r * n..(r + 1) * n].to_vec())
            .collect();
        Ok((t.median_ms, compare(&got_rows, &reference).passed))
    }
}

/// A 3x3 conv (padding 1, bias) on `shape` [N, Cin, H, W] into `cout`
/// channels, timed for the tuner and checked on its first image.
struct ConvTrial {
    shape: [usize; 4],
    conv: Conv2d,
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl ConvTrial {
    fn new(shape: [usize; 4], cout: usize) -> ConvTrial {
        let conv = Conv2d {
            window: Window {
                kernel: [3, 3],
                stride: [1, 1],
                pad_begin: [1, 1],
                pad_end: [1, 1],
                dilation: [1, 1],
                ceil_mode: false,
            },
            in_channels: shape[1],
            out_channels: cout,
            groups: 1,
            bias: true,
            relu: false,
        };
        ConvTrial {
            shape,
            x: random_input(&shape, 13),
            w: random_input(&conv.weight_shape(), 14),
            bias: random_input(&[cout], 15),
            conv,
        }
    }

    /// (median ms, passed) with the rung `gpu` currently selects.
    fn run(&self, gpu: &Gpu) -> Result<(f64, bool)> {
        let [_, cin, h, w] = self.shape;
        let cout = self.conv.out_channels;
        let mut plan = Plan::new();
        let y = conv2d_forward(
            gpu,
            &mut plan,
            "tune conv",
            &self.conv,
            &Tensor::upload(gpu, "x", &self.shape, &self.x)?,
            &Tensor::upload(gpu, "w", &self.conv.weight_shape(), &self.w)?,
            Some(&Tensor::upload(gpu, "b", &[cout], &self.bias)?),
        )?;
        let t = time_plan(gpu, &plan, 1, 3)?;
        let image = cin * h * w;
        let reference = cpu::conv2d::conv2d(
            &self.conv,
            &RefTensor::from_f32(&[1, cin, h, w], &self.x[..image]),
            &self.w,
            Some(&self.bias),
            [1, cout, h, w],
        );
        let got = y.download(gpu)?;
        let first = &got[..cout * h * w];
        Ok((t.median_ms, compare(first, &reference).passed))
    }
}

//! Per-adapter kernel choice, measured only where it can pay. A ladder
//! (matmul, conv2d; each in a small and a large size class) is timed the
//! first time a command dispatches an op of that family big enough to
//! repay the timing (`gpu::TUNE_MIN_FLOPS`), each rung checked before it
//! may win, and the winner cached on disk keyed by adapter and driver;
//! families a command never dispatches are never timed. CPU adapters
//! (llvmpipe, lavapipe) take built-in rules measured there (BENCHMARKS.md)
//! and tune only on `wgsl-nn tune`, which times every ladder on purpose.
//! `--tune off` keeps the built-in rules; `--tune redo` measures again.
//! Tile sizes themselves come from the device limits (`ops`), so no
//! choice can fail on a device with the default limits: a rung that cannot
//! run there is simply not a candidate.

use crate::check::compare;
use crate::cpu::{self, RefTensor};
use crate::error::{Error, Result};
use crate::gpu::timer::time_plan;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::random_input;
use crate::ops::conv2d::{conv2d_forward, Conv2d};
use crate::ops::matmul::{matmul_into, Matmul, View};
use crate::rung::{ConvRung, Kernels, MatmulRung, Rung};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// How the tuner may spend time (`--tune`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TuneMode {
    /// Use the cache; measure (and store) a family the first time a big
    /// enough op needs it and this adapter has no entry for it.
    Cached,
    /// Built-in rules only: nothing measured, the cache not read.
    Off,
    /// Measure each family a command needs again, whatever is cached.
    Redo,
}

impl TuneMode {
    /// Reads `cached`, `off` or `redo`; anything else is an error naming them.
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

/// Where choices are cached: tune.json in `gpu::cache_dir()`.
pub fn cache_path() -> Option<PathBuf> {
    Some(crate::gpu::cache_dir()?.join("tune.json"))
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
        MatmulRung::names().join(","),
        names(&LARGE_MATMUL_RUNGS).join(","),
        names(&CONV_RUNGS).join(",")
    )
}

/// The rungs that can win a large product (`matmul_large`, timed at 2048):
/// on an H200 sm128p lost at 512 and 1024 (too few 128 x 128 tiles to
/// fill the chip) and won at 2048 and 4096 by 1.4x (BENCHMARKS.md). The
/// slower rungs are not worth timing.
const LARGE_MATMUL_RUNGS: [MatmulRung; 5] = [
    MatmulRung::Rb4Vec4,
    MatmulRung::Rb8Vec4,
    MatmulRung::Tex,
    MatmulRung::Sm128,
    MatmulRung::Sm128p,
];
const LARGE_MATMUL_N: usize = 2048;

/// The spatial conv rungs the tuner compares (1x1 convs always take the
/// plain product).
const CONV_RUNGS: [ConvRung; 4] = [
    ConvRung::Direct,
    ConvRung::Row4,
    ConvRung::Igemm,
    ConvRung::Tex,
];

fn names<R: Rung>(rungs: &[R]) -> Vec<&'static str> {
    rungs.iter().map(|r| r.name()).collect()
}

/// Every tuned family, small class before large.
pub const FAMILIES: [&str; 4] = ["matmul", "matmul_large", "conv2d", "conv2d_large"];

type Cache = BTreeMap<String, BTreeMap<String, String>>;

fn load(path: &PathBuf) -> Cache {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Why a cached entry cannot be used: a kernel name no ladder has.
fn invalid_choice(family: &str, k: &str) -> Option<String> {
    let known: Vec<&str> = match family {
        "matmul" => MatmulRung::names(),
        "matmul_large" => names(&LARGE_MATMUL_RUNGS),
        "conv2d" | "conv2d_large" => names(&CONV_RUNGS),
        _ => return Some(format!("'{family}' is not a kernel family")),
    };
    (!known.contains(&k)).then(|| format!("'{k}' is not a {family} kernel"))
}

/// Adds one family's pick to the cache file (read again just before, so
/// picks another run stored meanwhile stay). A cache that cannot be
/// written only costs a re-measure on later runs, which the note says.
fn store(gpu: &Gpu, family: &str, pick: &str) {
    let Some(p) = cache_path() else { return };
    let mut cache = load(&p);
    cache
        .entry(adapter_key(gpu))
        .or_default()
        .insert(family.to_string(), pick.to_string());
    let written = p
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::write(&p, serde_json::to_string_pretty(&cache).unwrap_or_default()));
    if let Err(e) = written {
        eprintln!(
            "note: cannot write the kernel-choice cache {}: {e}; later runs will measure again \
             (set WGSL_NN_CACHE to a writable folder, or use --tune off)",
            p.display()
        );
    }
}

/// This adapter's cached pick for `family`, if a valid one is stored.
pub fn cached(gpu: &Gpu, family: &str) -> Option<String> {
    let path = cache_path()?;
    let pick = load(&path).get(&adapter_key(gpu))?.get(family)?.clone();
    match invalid_choice(family, &pick) {
        None => Some(pick),
        Some(why) => {
            eprintln!(
                "note: ignoring the cached {family} choice in {}: {why}; using the built-in rules",
                path.display()
            );
            None
        }
    }
}

/// Arms `gpu` for `mode`: nothing is measured here; each family is looked
/// up (and, on GPUs, timed) the first time an op big enough asks for it.
pub fn install(gpu: &Gpu, mode: TuneMode) {
    if mode == TuneMode::Off {
        return;
    }
    gpu.set_tuner(Arc::new(move |gpu: &Gpu, family: &str, may_measure: bool| {
        if mode == TuneMode::Cached {
            if let Some(pick) = cached(gpu, family) {
                return Some(pick);
            }
        }
        // CPU adapters: the built-in rules were measured there, and timing
        // the texture rungs would cost seconds of shader compilation.
        let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
        if !may_measure || (cpu && mode == TuneMode::Cached) {
            return None;
        }
        let start = Instant::now();
        eprintln!(
            "tuning {family} on {} (first use on this adapter; cached afterwards) ...",
            gpu.info.name
        );
        match measure_family(gpu, family, false) {
            Ok(Some(t)) => {
                store(gpu, family, &t.pick);
                eprintln!(
                    "tuned {family}: {} ({} rungs timed in {:.2} s)",
                    t.pick,
                    t.rungs.len(),
                    start.elapsed().as_secs_f64()
                );
                Some(t.pick)
            }
            other => {
                let why = match other {
                    Err(e) => format!("failed: {e}"),
                    _ => "found no passing rung (a --gpu-timeout too short?)".to_string(),
                };
                eprintln!(
                    "note: tuning {family} {why} after {:.2} s; the built-in rules decide and nothing is cached",
                    start.elapsed().as_secs_f64()
                );
                None
            }
        }
    }));
}

/// One timed run of the rung in force: (median ms, passed its check).
type Trial<'a> = Box<dyn Fn(Kernels) -> Result<(f64, bool)> + 'a>;

/// A square product of `n` as a trial, and its size in words.
fn matmul_trial(gpu: &Gpu, n: usize) -> (String, Trial<'_>) {
    let t = MatmulTrial::new(n);
    (format!("{n} x {n} x {n}"), Box::new(move |k| t.run(gpu, k)))
}

/// A 3x3 conv on `shape` into `cout` channels as a trial, and its size.
fn conv_trial(gpu: &Gpu, shape: [usize; 4], cout: usize) -> (String, Trial<'_>) {
    let t = ConvTrial::new(shape, cout);
    (
        format!("3x3 conv {shape:?} -> {cout}"),
        Box::new(move |k| t.run(gpu, k)),
    )
}

/// One ladder's timing: each rung's median ms (None: failed its check or
/// could not run) and the fastest passing one.
#[derive(Debug, Clone)]
pub struct FamilyTiming {
    /// The tuned family ("matmul", "conv2d_large", ...).
    pub family: &'static str,
    /// What was timed, e.g. "2048 x 2048 x 2048".
    pub size: String,
    /// Each rung's median ms (None: failed its check or could not run).
    pub rungs: Vec<(&'static str, Option<f64>)>,
    /// The fastest passing rung.
    pub pick: String,
}

/// Times every rung of `family`'s ladder on its representative size and
/// returns the fastest passing one (None: no rung passed), each rung run
/// through a plan that names it. `progress` prints each rung.
pub fn measure_family(gpu: &Gpu, family: &str, progress: bool) -> Result<Option<FamilyTiming>> {
    let (family, rungs, (size, run)): (&'static str, Vec<&'static str>, _) = match family {
        // Large enough that launch overheads do not decide (at 256 an H200
        // preferred the tiled rung, which loses 5x at 4096).
        "matmul" => ("matmul", MatmulRung::names(), matmul_trial(gpu, 512)),
        "matmul_large" => (
            "matmul_large",
            names(&LARGE_MATMUL_RUNGS),
            matmul_trial(gpu, LARGE_MATMUL_N),
        ),
        "conv2d" => (
            "conv2d",
            names(&CONV_RUNGS),
            conv_trial(gpu, [1, 32, 48, 48], 32),
        ),
        // A GFLOP-scale layer, as in the wide benchmark stack: on the H200
        // the 42 MFLOP probe picked direct, which igemm beat 3.2x on the
        // wide stack (BENCHMARKS.md).
        "conv2d_large" => (
            "conv2d_large",
            names(&CONV_RUNGS),
            conv_trial(gpu, [8, 64, 64, 64], 64),
        ),
        other => {
            return Err(Error::arg(
                "tune",
                format!(
                    "'{other}' is not a tuned family; choose one of {}",
                    FAMILIES.join(", ")
                ),
            ))
        }
    };
    let ladder = if family.starts_with("matmul") {
        "matmul"
    } else {
        "conv2d"
    };
    let mut timed = Vec::new();
    for k in rungs {
        let ms = match run(Kernels::default().with_name(ladder, k)?) {
            Ok((ms, true)) => Some(ms),
            _ => None,
        };
        if progress {
            match ms {
                Some(ms) => eprintln!("  {family:<13} {k:<9} {ms:10.3} ms"),
                None => eprintln!("  {family:<13} {k:<9}  failed its check or could not run"),
            }
        }
        timed.push((k, ms));
    }
    let best = timed
        .iter()
        .filter_map(|&(k, ms)| Some((ms?, k)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    Ok(best.map(|(_, k)| FamilyTiming {
        family,
        size,
        rungs: timed.clone(),
        pick: k.to_string(),
    }))
}

/// `wgsl-nn tune`: times every ladder now (CPU adapters included), stores
/// each pick and applies it to `gpu`.
pub fn tune_all(gpu: &Gpu) -> Result<Vec<FamilyTiming>> {
    let mut out = Vec::new();
    for family in FAMILIES {
        let start = Instant::now();
        eprintln!("tuning {family} on {} ...", gpu.info.name);
        if let Some(t) = measure_family(gpu, family, true)? {
            store(gpu, family, &t.pick);
            gpu.set_tuned(family, Some(&t.pick));
            eprintln!("  -> {} in {:.2} s", t.pick, start.elapsed().as_secs_f64());
            out.push(t);
        } else {
            eprintln!(
                "  no rung passed in {:.2} s; nothing cached",
                start.elapsed().as_secs_f64()
            );
        }
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

    /// (median ms, passed) with the rungs `kernels` names.
    fn run(&self, gpu: &Gpu, kernels: Kernels) -> Result<(f64, bool)> {
        let (n, a, b) = (self.n, &self.a, &self.b);
        let mm = Matmul::square(n);
        let (at, bt) = (
            Tensor::upload(gpu, "A", &[n, n], a)?,
            Tensor::upload(gpu, "B", &[n, n], b)?,
        );
        let c = Tensor::poisoned(gpu, "C", &[n, n])?;
        let mut plan = Plan::with_kernels(kernels);
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
        let conv = Conv2d::new(shape[1], cout, 3).padding(1);
        ConvTrial {
            shape,
            x: random_input(&shape, 13),
            w: random_input(&conv.weight_shape(), 14),
            bias: random_input(&[cout], 15),
            conv,
        }
    }

    /// (median ms, passed) with the rungs `kernels` names.
    fn run(&self, gpu: &Gpu, kernels: Kernels) -> Result<(f64, bool)> {
        let [_, cin, h, w] = self.shape;
        let cout = self.conv.out_channels;
        let mut plan = Plan::with_kernels(kernels);
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

//! Shared by the adapter tests: one device per test binary, opened on the
//! adapter wgsl-nn would choose (lavapipe in CI). No adapter is a failure,
//! never a skip.
#![allow(dead_code)]

pub mod onnx_fixtures;

use rand::{Rng, SeedableRng};
use std::sync::OnceLock;
use wgsl_nn::check::Check;
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
use wgsl_nn::Tensor;

pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(
        || match Gpu::new(&AdapterChoice::from_args_or_env(None, None)) {
            Ok(g) => {
                eprintln!("adapter: {} ({:?})", g.info.name, g.info.backend);
                g
            }
            Err(e) => panic!("these tests need a GPU adapter and none could be opened: {e}"),
        },
    )
}

pub type Rng64 = rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> Rng64 {
    eprintln!("seed: {seed}");
    Rng64::seed_from_u64(seed)
}

pub fn uniform(rng: &mut Rng64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Small integers: products and sums of these are exact in f32, so the GPU
/// must match the reference bit for bit.
pub fn integers(rng: &mut Rng64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-3i32..=3) as f32).collect()
}

pub fn upload(name: &str, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::upload(gpu(), name, shape, data).expect("upload")
}

/// Runs the plan and returns `out` read back.
pub fn run(plan: &Plan, out: &Tensor) -> Vec<f32> {
    gpu().run(plan).expect("plan runs");
    out.download(gpu()).expect("download")
}

/// The reference's clamp (ONNX Clip: NaN stays NaN).
pub fn clamp_ref(t: &mut RefTensor, clamp: Option<(f32, f32)>) {
    if let Some((lo, hi)) = clamp {
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        for v in t.val.iter_mut() {
            *v = if *v < lo {
                lo
            } else if *v > hi {
                hi
            } else {
                *v
            };
        }
    }
}

pub fn assert_passes(what: &str, check: &Check) {
    assert!(
        check.passed,
        "{what}: {}\n  rule: {}",
        check.summary(),
        check.rule
    );
}

pub fn exact(gpu_out: &[f32], reference: &RefTensor) -> bool {
    gpu_out.len() == reference.val.len()
        && gpu_out
            .iter()
            .zip(&reference.val)
            .all(|(&g, &r)| f64::from(g) == r || (g.is_nan() && r.is_nan()))
}

/// Runs the `wgsl-nn` binary: exit code, stdout, stderr.
pub fn wgsl_nn(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wgsl-nn"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

//! Kernel choice without up-front tuning: the tuner is asked once per
//! family and run, may measure only for ops big enough to repay it, and
//! CPU adapters keep rungs that compile fast for small ops.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan, TUNE_MIN_FLOPS};
use wgsl_nn::ops::matmul::{matmul_into, Matmul, View};
use wgsl_nn::rung::{Kernels, MatmulRung};
use wgsl_nn::Tensor;

fn own_gpu() -> Gpu {
    Gpu::new(&AdapterChoice::from_args_or_env(None, None))
        .unwrap_or_else(|e| panic!("these tests need a GPU adapter and none could be opened: {e}"))
}

/// The kernel entry points a square product of `n` puts in a plan.
fn entries_for_square(gpu: &Gpu, kernels: Kernels, n: usize) -> Vec<&'static str> {
    let mm = Matmul::square(n);
    let a = Tensor::upload(gpu, "A", &[n, n], &vec![1.0; n * n]).unwrap();
    let b = Tensor::upload(gpu, "B", &[n, n], &vec![1.0; n * n]).unwrap();
    let c = Tensor::poisoned(gpu, "C", &[n, n]).unwrap();
    let mut plan = Plan::with_kernels(kernels);
    let d = View::dense(n, n, false);
    matmul_into(
        gpu,
        &mut plan,
        "probe",
        &mm,
        (&a, d),
        (&b, d),
        None,
        (&c, d),
    )
    .unwrap();
    plan.steps.iter().map(|s| s.kernel.entry).collect()
}

#[test]
fn the_tuner_is_asked_once_per_family_and_measures_only_for_big_ops() {
    let gpu = own_gpu();
    let calls: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let seen = calls.clone();
    gpu.set_tuner(Arc::new(move |_: &Gpu, family: &str, may_measure: bool| {
        seen.lock().unwrap().push((family.to_string(), may_measure));
        may_measure.then(|| "rb4".to_string())
    }));
    // Small ops only look up the cache, once.
    assert_eq!(gpu.tuned_for("matmul", 1000), None);
    assert_eq!(gpu.tuned_for("matmul", 1000), None);
    // A big one may measure, once; its pick then holds for every size.
    assert_eq!(gpu.tuned_for("matmul", TUNE_MIN_FLOPS), Some("rb4".into()));
    assert_eq!(gpu.tuned_for("matmul", TUNE_MIN_FLOPS), Some("rb4".into()));
    assert_eq!(gpu.tuned_for("matmul", 10), Some("rb4".into()));
    assert_eq!(
        *calls.lock().unwrap(),
        vec![("matmul".to_string(), false), ("matmul".to_string(), true)]
    );
    // A family never dispatched is never asked.
    assert!(!calls.lock().unwrap().iter().any(|(f, _)| f == "conv2d"));
}

#[test]
fn an_op_asks_the_tuner_only_where_nothing_forces_a_rung() {
    let gpu = own_gpu();
    let asked = Arc::new(AtomicUsize::new(0));
    let n = asked.clone();
    gpu.set_tuner(Arc::new(move |_: &Gpu, _: &str, _: bool| {
        n.fetch_add(1, Ordering::SeqCst);
        None
    }));
    // 2.1 GFLOP: big enough for a tuned pick to apply on every adapter.
    let rb4 = Kernels::default().matmul(MatmulRung::Rb4);
    assert!(entries_for_square(&gpu, rb4, 1024).contains(&"matmul_rb4"));
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "a forced rung must not start the tuner"
    );
    entries_for_square(&gpu, Kernels::default(), 1024);
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[test]
fn cpu_adapters_keep_small_products_on_rungs_that_compile_fast() {
    let gpu = common::gpu();
    if gpu.info.device_type != wgpu::DeviceType::Cpu {
        // The rule is for CPU adapters: GPUs never take the naive rung.
        assert_eq!(
            entries_for_square(gpu, Kernels::default(), 64),
            vec!["matmul_rb4_vec4"]
        );
        return;
    }
    // 0.5 MFLOP: the naive kernel (70 ms to compile, not 250-300).
    assert_eq!(
        entries_for_square(gpu, Kernels::default(), 64),
        vec!["matmul_naive"]
    );
    // 34 MFLOP: a register-blocked storage-buffer rung, no texture.
    let mid = entries_for_square(gpu, Kernels::default(), 256);
    assert!(mid.iter().all(|e| !e.contains("tex")), "{mid:?}");
    // 2.1 GFLOP: the texture rung where subgroups allow it.
    if gpu.features.contains(wgpu::Features::SUBGROUP) {
        assert!(entries_for_square(gpu, Kernels::default(), 1024).contains(&"matmul_tex"));
    }
}

#[test]
fn the_installed_tuner_never_measures_on_a_cpu_adapter_by_default() {
    let dir = std::env::temp_dir().join(format!("wgsl-nn-tune-test-{}", std::process::id()));
    // Only this test reads the variable in this binary.
    std::env::set_var("WGSL_NN_CACHE", &dir);
    let gpu = own_gpu();
    wgsl_nn::app::tune::install(&gpu, wgsl_nn::app::tune::TuneMode::Cached);
    let pick = gpu.tuned_for("conv2d_large", 10 * TUNE_MIN_FLOPS);
    if gpu.info.device_type == wgpu::DeviceType::Cpu {
        assert_eq!(pick, None, "CPU adapters keep the built-in rules");
        assert!(
            !dir.join("tune.json").exists(),
            "nothing measured, nothing cached"
        );
    } else {
        assert!(pick.is_some(), "a GPU times the family on first big use");
        assert!(dir.join("tune.json").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_exercise_on_a_fresh_cache_tunes_nothing_and_stays_quiet() {
    let dir = std::env::temp_dir().join(format!("wgsl-nn-tune-cli-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wgsl-nn"))
        .args(["conv", "--json"])
        .env("WGSL_NN_CACHE", &dir)
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "stderr must be clean, got: {stderr}");
    assert!(
        !dir.join("tune.json").exists(),
        "a 0.4 MFLOP stack never repays tuning"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn on_cpu_adapters_a_tuned_pick_speaks_only_for_products_like_those_it_timed() {
    let gpu = own_gpu();
    gpu.set_tuned("matmul", Some("tex"));
    gpu.set_tuned("matmul_large", Some("tex"));
    let tex = gpu.features.contains(wgpu::Features::SUBGROUP);
    if gpu.info.device_type == wgpu::DeviceType::Cpu {
        // After `wgsl-nn tune` picked tex: small products still compile fast.
        assert_eq!(
            entries_for_square(&gpu, Kernels::default(), 64),
            vec!["matmul_naive"]
        );
        if tex {
            assert!(entries_for_square(&gpu, Kernels::default(), 1024).contains(&"matmul_tex"));
        }
    } else if tex {
        // On GPUs the pick holds at every size.
        assert!(entries_for_square(&gpu, Kernels::default(), 64).contains(&"matmul_tex"));
    }
}

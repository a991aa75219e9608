//! `wgsl-nn run --dtype f16` on the committed ONNX models: float16 storage
//! on both float16 paths, every node passing both checks against the f64
//! reference with float16's store charged, and the output as close to
//! PyTorch's float16-input, float64-computed forward pass
//! (NAME.f16in64.npy, made by make_f16_fixtures.py) as PyTorch's own
//! float16 run is (NAME.torch16.npy): within 4x its rel L2, and under 2e-3.

mod common;

use std::path::Path;
use wgsl_nn::dtype::{DType, F16Path};
use wgsl_nn::graph::exec::{self, CheckMode, RunOptions};

use common::onnx_fixtures::{load, program, read_f64, rel_l2, DIR};

fn read_f32(path: &Path) -> Vec<f64> {
    wgsl_nn::app::io::npy::read_npy(path)
        .expect("fixture")
        .data
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

fn paths() -> Vec<F16Path> {
    let gpu = common::gpu();
    let mut p = vec![F16Path::Packed];
    if gpu.device.features().contains(wgpu::Features::SHADER_F16) {
        p.push(F16Path::Native);
    }
    p
}

/// Every node of `r` passed both checks, and none of the `kinds` ran
/// widened; returns how many nodes of those kinds there were.
fn nodes_pass_unwidened(name: &str, path: F16Path, r: &exec::RunReport, kinds: &[&str]) -> usize {
    let mut seen = 0;
    for n in &r.nodes {
        for c in n.check.iter().chain(&n.propagated) {
            assert!(
                c.passed,
                "{name} ({}): node {}: {}",
                path.name(),
                n.name,
                c.summary()
            );
        }
        if kinds.contains(&n.kind.as_str()) {
            assert!(
                !n.kernels.iter().any(|k| k == "widen_f16"),
                "{name}: {} ran widened: {:?}",
                n.name,
                n.kernels
            );
            seen += 1;
        }
    }
    assert!(r.passed, "{name} ({}): the run did not pass", path.name());
    seen
}

fn matches_torch_f16(name: &str, file: &str) {
    let (_, inputs) = load(name);
    let model = wgsl_nn::app::io::onnx::read_model(&Path::new(DIR).join(format!("{file}.onnx")))
        .expect("model loads");
    let p = program(&model, &inputs);
    let want = read_f64(&Path::new(DIR).join(format!("{name}.f16in64.npy")));
    let torch16 = read_f32(&Path::new(DIR).join(format!("{name}.torch16.npy")));
    let peer: f64 = {
        let (mut d, mut n) = (0.0, 0.0);
        for (a, b) in torch16.iter().zip(&want) {
            d += (a - b).powi(2);
            n += b * b;
        }
        (d / n).sqrt()
    };
    for path in paths() {
        let opts = RunOptions {
            check: CheckMode::Full,
            warmup: 0,
            repeats: 1,
            seed: 7,
            dtype: DType::F16,
            f16_path: Some(path),
        };
        let r = exec::run(common::gpu(), &p, &inputs, &opts).expect("model runs");
        assert_eq!(r.dtype, "f16");
        assert_eq!(r.f16_path.as_deref(), Some(path.name()));
        // Float16 storage everywhere a float16 kernel exists: no node of
        // these models widens for conv, matmul, attention, norms,
        // reductions, gathers or the element-wise and copy ops.
        let kinds = [
            "conv",
            "matmul",
            "attention",
            "layernorm",
            "pool",
            "binary",
            "unary",
            "copy",
            "where",
            "concat",
            "reduce",
            "gather",
            "softmax",
        ];
        nodes_pass_unwidened(name, path, &r, &kinds);
        let got = &r.outputs[0].2;
        assert_eq!(got.len(), want.len());
        let e = rel_l2(got, &want);
        eprintln!(
            "{name} ({}): rel L2 {e:.2e} against PyTorch float16-input f64; PyTorch float16 {peer:.2e}",
            path.name()
        );
        assert!(
            e <= 4.0 * peer && e < 2e-3,
            "{name} ({}): rel L2 {e:.2e}, PyTorch float16's own {peer:.2e}",
            path.name()
        );
    }
}

/// The reductions (sum, mean, max, min over inner and outer axes),
/// softmax over any axis and log-softmax, and the gathers (embeddings,
/// negative indices) run their own float16 kernels on both paths, and every
/// node passes both checks.
#[test]
fn reductions_softmax_and_gathers_run_in_f16() {
    for name in ["reduce_split", "softmax_axes", "embedding_causal"] {
        let (model, inputs) = load(name);
        let p = program(&model, &inputs);
        for path in paths() {
            let opts = RunOptions {
                check: CheckMode::Full,
                warmup: 0,
                repeats: 1,
                seed: 3,
                dtype: DType::F16,
                f16_path: Some(path),
            };
            let r = exec::run(common::gpu(), &p, &inputs, &opts).expect("model runs");
            let native = nodes_pass_unwidened(name, path, &r, &["reduce", "softmax", "gather"]);
            assert!(native > 0, "{name}: no reduce, softmax or gather node");
        }
    }
}

#[test]
fn resnet_tiny_in_f16_matches_torch() {
    matches_torch_f16("resnet_tiny", "resnet_tiny");
}

#[test]
fn mobilenet_tiny_in_f16_matches_torch() {
    matches_torch_f16("mobilenet_tiny", "mobilenet_tiny");
}

#[test]
fn transformer_tiny_in_f16_matches_torch() {
    matches_torch_f16("transformer_tiny", "transformer_tiny");
}

#[test]
fn vit_tiny_in_f16_matches_torch() {
    matches_torch_f16("vit_tiny", "vit_tiny");
}

/// A `model.half()` export: float16 initializers and input, read and run
/// in float16 by default.
#[test]
fn half_export_runs_in_f16_by_default() {
    let model =
        wgsl_nn::app::io::onnx::read_model(&Path::new(DIR).join("transformer_tiny_half.onnx"))
            .expect("model loads");
    assert!(model.float16, "the loader did not see the float16 input");
    let input = format!("{DIR}/transformer_tiny.input.npy");
    let (code, out, err) = common::wgsl_nn(&[
        "run",
        &format!("{DIR}/transformer_tiny_half.onnx"),
        "--input-npy",
        &input,
        "--json",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--cpu-repeats",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["report"]["dtype"], "f16");
    assert_eq!(j["passed"], true);
    matches_torch_f16("transformer_tiny", "transformer_tiny_half");
}

/// --f16-path without a float16 run is a mistake the user is told about.
#[test]
fn f16_path_needs_f16() {
    let (code, _, err) = common::wgsl_nn(&[
        "run",
        &format!("{DIR}/resnet_tiny.onnx"),
        "--dtype",
        "f32",
        "--f16-path",
        "packed",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--dtype f16"), "{err}");
}

/// An input past float16's range is refused by name before any work, with
/// the fix, rather than run as infinities.
#[test]
fn input_past_f16_range_is_refused() {
    let dir = std::env::temp_dir().join(format!("wgsl_nn_f16_range_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let x = dir.join("big.npy");
    let mut data = vec![0.5f32; 2 * 3 * 32 * 32];
    data[5] = 1.0e5;
    wgsl_nn::app::io::npy::write_npy(&x, &[2, 3, 32, 32], &data).expect("npy");
    let (code, _, err) = common::wgsl_nn(&[
        "run",
        &format!("{DIR}/resnet_tiny.onnx"),
        "--input-npy",
        x.to_str().expect("path"),
        "--dtype",
        "f16",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("input 'input' holds 100000") && err.contains("--dtype f32"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

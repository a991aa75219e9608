//! Loading the committed ONNX fixtures (tests/data/onnx) and running
//! them through the graph engine, for tests/onnx.rs and onnx_mutants.rs.

use std::collections::BTreeMap;
use std::path::Path;
use wgsl_nn::app::io::{npy, onnx};
use wgsl_nn::graph::exec::{self, CheckMode, RunOptions, RunReport};
use wgsl_nn::graph::program::Program;
use wgsl_nn::graph::{build, HostTensor, Model};

pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/onnx");

pub fn load(name: &str) -> (Model, Vec<HostTensor>) {
    let model =
        onnx::read_model(&Path::new(DIR).join(format!("{name}.onnx"))).expect("model loads");
    let x = npy::read_npy(&Path::new(DIR).join(format!("{name}.input.npy"))).expect("input loads");
    let dtype = model.inputs[0].dtype;
    let t = HostTensor {
        dtype,
        shape: x.shape,
        data: x.data.iter().map(|&v| f64::from(v)).collect(),
    };
    (model, vec![t])
}

pub fn program(model: &Model, inputs: &[HostTensor]) -> Program {
    let shapes: BTreeMap<String, Vec<usize>> = model
        .inputs
        .iter()
        .zip(inputs)
        .map(|(i, t)| (i.name.clone(), t.shape.clone()))
        .collect();
    build(model, &shapes).expect("program builds")
}

pub fn run(model: &Model, inputs: &[HostTensor], check: CheckMode) -> RunReport {
    run_on(super::gpu(), model, inputs, check)
}

pub fn run_on(
    gpu: &wgsl_nn::gpu::Gpu,
    model: &Model,
    inputs: &[HostTensor],
    check: CheckMode,
) -> RunReport {
    run_as(gpu, model, inputs, check, wgsl_nn::dtype::DType::F32)
}

/// As [`run_on`], float tensors stored as `dtype`.
pub fn run_as(
    gpu: &wgsl_nn::gpu::Gpu,
    model: &Model,
    inputs: &[HostTensor],
    check: CheckMode,
    dtype: wgsl_nn::dtype::DType,
) -> RunReport {
    let program = program(model, inputs);
    let opts = RunOptions {
        check,
        warmup: 0,
        repeats: 1,
        seed: 7,
        dtype,
        f16_path: None,
    };
    exec::run(gpu, &program, inputs, &opts).expect("model runs")
}

pub fn rel_l2(a: &[f32], b: &[f64]) -> f64 {
    let (mut d, mut n) = (0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        d += (f64::from(x) - y).powi(2);
        n += y * y;
    }
    (d / n).sqrt()
}

pub fn read_f64(path: &Path) -> Vec<f64> {
    // torch64 files are float64; npy's reader widens through f32, so read
    // the payload directly: a version-1 header, then little-endian f8.
    let bytes = std::fs::read(path).expect("fixture");
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert!(String::from_utf8_lossy(&bytes[10..10 + header]).contains("<f8"));
    bytes[10 + header..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

//! Dispatches larger than max_compute_workgroups_per_dimension are folded
//! into more grid dimensions, not refused: 65535, 65536 and far above, and
//! a device whose per-dimension limit is tiny (so the fold reaches z).

mod common;
use common::*;
use wgsl_nn::gpu::{Gpu, Plan};
use wgsl_nn::ops::elementwise::{map_forward, RELU};
use wgsl_nn::Tensor;

fn relu_everywhere(gpu: &Gpu, n: usize) {
    let x: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { -(i as f32) } else { i as f32 })
        .collect();
    let xt = Tensor::upload(gpu, "x", &[n], &x).unwrap();
    let mut plan = Plan::new();
    let y = map_forward(gpu, &mut plan, "relu", RELU, &xt).unwrap();
    gpu.run(&plan).unwrap();
    let got = y.download(gpu).unwrap();
    let bad = got.iter().zip(&x).position(|(&g, &v)| g != v.max(0.0));
    assert_eq!(
        bad, None,
        "n = {n}: element {bad:?} wrong (NaN = never written)"
    );
}

#[test]
fn workgroup_counts_at_and_beyond_the_limit() {
    let g = gpu();
    let wg = wgsl_nn::ops::workgroup_1d(g) as usize;
    let max = g.limits.max_compute_workgroups_per_dimension as usize;
    for groups in [max, max + 1, 3 * max + 7] {
        relu_everywhere(g, groups * wg);
    }
    relu_everywhere(g, max * wg + 1);
}

#[test]
fn a_tiny_per_dimension_limit_folds_into_three_dimensions() {
    let mut g = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.limits.max_compute_workgroups_per_dimension = 5;
    let wg = wgsl_nn::ops::workgroup_1d(&g) as usize;
    for groups in [1, 5, 6, 25, 26, 124, 125] {
        relu_everywhere(&g, groups * wg - 3);
    }
    // 126 groups do not fit in 5 x 5 x 5: an error, not a wrong answer.
    let xt = Tensor::upload(&g, "x", &[126 * wg], &vec![1.0; 126 * wg]).unwrap();
    let mut plan = Plan::new();
    map_forward(&g, &mut plan, "relu", RELU, &xt).unwrap();
    let e = g.run(&plan).unwrap_err().to_string();
    assert!(e.contains("relu") && e.contains("invocations"), "{e}");
}

#[test]
fn an_unwritten_output_stays_nan_and_fails_the_check() {
    let t = Tensor::poisoned(gpu(), "never written", &[4, 5]).unwrap();
    let got = t.download(gpu()).unwrap();
    assert!(got.iter().all(|v| v.is_nan()));
    let reference = wgsl_nn::cpu::RefTensor::from_f32(&[4, 5], &[0.0; 20]);
    assert!(!wgsl_nn::check::compare(&got, &reference).passed);
}

/// A wgpu validation error becomes an Error value (wgpu's default handler
/// would abort the process).
#[test]
fn a_validation_error_is_an_error_value() {
    let g = gpu();
    let x = Tensor::upload(g, "x", &[8], &[1.0; 8]).unwrap();
    let mut plan = Plan::new();
    map_forward(g, &mut plan, "relu", RELU, &x).unwrap();
    // Drop the output binding: the bind group no longer matches the shader.
    plan.steps[0].bindings.pop();
    match g.run(&plan) {
        Err(wgsl_nn::Error::Validation { message, .. }) => assert!(!message.is_empty()),
        other => panic!("expected a validation error, got {other:?}"),
    }
    // The device is still usable afterwards.
    relu_everywhere(g, 100);
}

/// A lost device makes this and every later call an Error::DeviceLost.
#[test]
fn a_lost_device_is_reported_on_every_later_call() {
    let g = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let x = Tensor::upload(&g, "x", &[8], &[1.0; 8]).unwrap();
    g.device.destroy();
    let _ = g.device.poll(wgpu::PollType::Poll);
    for _ in 0..2 {
        let mut plan = Plan::new();
        let r = map_forward(&g, &mut plan, "relu", RELU, &x).and_then(|_| g.run(&plan).map(|_| ()));
        assert!(
            matches!(r, Err(wgsl_nn::Error::DeviceLost { .. })),
            "got {r:?}"
        );
    }
}

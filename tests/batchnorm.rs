//! BatchNorm2d (eval mode) on the adapter against the f64 reference: odd
//! shapes, NaN and infinities where the reference has them, a hand-computed
//! value, and statistics with no square root refused by name.

mod common;
use common::*;
use rand::Rng;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::{self, RefTensor};
use wgsl_nn::gpu::Plan;
use wgsl_nn::ops::batchnorm::{batchnorm_forward, BatchNorm};

fn random_bn(r: &mut Rng64, c: usize) -> BatchNorm {
    let mut u = |lo: f32, hi: f32| (0..c).map(|_| r.random_range(lo..hi)).collect::<Vec<f32>>();
    BatchNorm {
        eps: 1e-5,
        weight: u(-1.5, 1.5),
        bias: u(-0.5, 0.5),
        mean: u(-0.5, 0.5),
        var: u(0.0, 2.0),
    }
}

fn gpu_bn(bn: &BatchNorm, shape: &[usize], x: &[f32]) -> Vec<f32> {
    let folded = bn.folded_f32();
    let mut plan = Plan::new();
    let y = batchnorm_forward(
        gpu(),
        &mut plan,
        "bn",
        &upload("x", shape, x),
        &upload("folded", &[folded.len()], &folded),
    )
    .unwrap();
    run(&plan, &y)
}

#[test]
fn odd_shapes_match_the_reference() {
    let mut r = rng(4100);
    for shape in [
        [1, 1, 1, 1],
        [2, 3, 5, 7],
        [1, 13, 1, 9],
        [3, 2, 17, 1],
        [1, 64, 8, 8],
    ] {
        let bn = random_bn(&mut r, shape[1]);
        let x = uniform(&mut r, shape.iter().product());
        let got = gpu_bn(&bn, &shape, &x);
        let reference = cpu::batchnorm::batchnorm(&bn, &RefTensor::from_f32(&shape, &x));
        assert_passes(&format!("{shape:?}"), &compare(&got, &reference));
    }
}

#[test]
fn non_finite_inputs_propagate_and_a_hand_value_holds() {
    let bn = BatchNorm {
        eps: 0.25,
        weight: vec![2.0, 1.0],
        bias: vec![1.0, -1.0],
        mean: vec![0.5, 0.0],
        var: vec![0.75, 3.75],
    };
    // Channel 0: (x - 0.5) / 1 * 2 + 1; channel 1: x / 2 - 1.
    let x = [1.5, f32::NAN, f32::INFINITY, -2.0];
    let got = gpu_bn(&bn, &[1, 2, 1, 2], &x);
    assert_eq!(got[0], 3.0);
    assert!(got[1].is_nan());
    assert_eq!(got[2], f32::INFINITY);
    assert_eq!(got[3], -2.0);
    let reference = cpu::batchnorm::batchnorm(&bn, &RefTensor::from_f32(&[1, 2, 1, 2], &x));
    assert_passes("non-finite", &compare(&got, &reference));
}

#[test]
fn statistics_without_a_square_root_are_refused() {
    let mut bn = BatchNorm::identity(3, 1e-5);
    bn.var[2] = -1.0;
    let e = bn.validate("layer 4 batchnorm").unwrap_err().to_string();
    assert!(e.contains("running_var[2]") && e.contains("layer 4"), "{e}");
    bn.var[2] = 1.0;
    bn.mean.pop();
    let e = bn.validate("layer 4 batchnorm").unwrap_err().to_string();
    assert!(e.contains("running_mean"), "{e}");
}

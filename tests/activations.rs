//! The conv stack's activation layers (sigmoid, tanh, SiLU, both GELUs,
//! leaky ReLU) on the adapter against the f64 reference over a wide input
//! range and the special values, and the reference against values computed
//! independently (Python's math module).

mod common;
use common::*;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::activation::Val;
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::gpu::Plan;
use wgsl_nn::ops::elementwise::{pointwise_forward, Pointwise};

const ALL: [Pointwise; 6] = [
    Pointwise::Sigmoid,
    Pointwise::Tanh,
    Pointwise::Silu,
    Pointwise::Gelu { tanh: false },
    Pointwise::Gelu { tanh: true },
    Pointwise::LeakyRelu { slope: 0.2 },
];

fn inputs() -> Vec<f32> {
    let mut x: Vec<f32> = (0..=1200).map(|i| -30.0 + i as f32 * 0.05).collect();
    x.extend([
        0.0,
        -0.0,
        1e-30,
        -1e-30,
        1e-41,
        -1e-41,
        f32::MIN_POSITIVE,
        3e38,
        -3e38,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ]);
    x
}

#[test]
fn every_activation_matches_the_reference_over_a_wide_range() {
    let x = inputs();
    let shape = [1, 1, 1, x.len()];
    for act in ALL {
        let mut plan = Plan::new();
        let y = pointwise_forward(gpu(), &mut plan, "act", act, &upload("x", &shape, &x)).unwrap();
        let got = run(&plan, &y);
        let reference = RefTensor::from_f32(&shape, &x).map_val(|v| act.reference(v));
        assert_passes(&format!("{act:?}"), &compare(&got, &reference));
    }
}

#[test]
fn the_reference_agrees_with_independent_values() {
    let at = |act: Pointwise, x: f64| act.reference(Val { v: x, e: 0.0 }).v;
    for (act, x, want) in [
        (Pointwise::Gelu { tanh: false }, 1.0, 0.8413447460685429),
        (Pointwise::Gelu { tanh: false }, -3.0, -0.004049694094890287),
        (
            Pointwise::Gelu { tanh: false },
            -10.0,
            -7.619853024160593e-23,
        ),
        (Pointwise::Gelu { tanh: false }, 5.5, 5.499999895557407),
        (Pointwise::Gelu { tanh: true }, 1.0, 0.8411919906082768),
        (Pointwise::Silu, 1.0, 0.7310585786300049),
        (Pointwise::Sigmoid, -5.0, 0.0066928509242848554),
        (Pointwise::Tanh, 0.5, 0.46211715726000974),
    ] {
        let got = at(act, x);
        assert!(
            ((got - want) / want).abs() < 1e-13,
            "{act:?}({x}) = {got} vs {want}"
        );
    }
    // The slope reaches the kernel as f32; the reference uses that value.
    let leaky = at(Pointwise::LeakyRelu { slope: 0.2 }, -2.0);
    assert_eq!(leaky, -2.0 * f64::from(0.2f32));
    assert!(
        at(Pointwise::Gelu { tanh: false }, f64::NEG_INFINITY).is_nan(),
        "as PyTorch"
    );
    assert_eq!(at(Pointwise::Silu, f64::INFINITY), f64::INFINITY);
}

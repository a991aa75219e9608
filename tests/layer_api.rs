//! The hand API: `record` (into a plan, label derived), `forward` (one
//! call) and `reference` (the same value's f64 reference), on odd sizes,
//! with NaN-poisoned outputs, and the shape errors a user can make.

mod common;

use common::gpu;
use wgsl_nn::prelude::*;

/// Seeded small integers and halves: exact in float32 products of these sizes.
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 + seed * 13) % 9) as f32 * 0.5 - 2.0)
        .collect()
}

#[test]
fn conv_forward_and_record_match_the_reference_and_name_their_steps() {
    let g = gpu();
    let conv = Conv2d::new(3, 5, 3).stride(2).padding(1).relu(true);
    let shape = [2, 3, 13, 11];
    let x = values(shape.iter().product(), 1);
    let w = values(conv.weight_shape().iter().product(), 2);
    let b = values(5, 3);
    let (xt, wt, bt) = (
        Tensor::upload(g, "x", &shape, &x).unwrap(),
        Tensor::upload(g, "w", &conv.weight_shape(), &w).unwrap(),
        Tensor::upload(g, "b", &[5], &b).unwrap(),
    );
    let xr = RefTensor::from_f32(&shape, &x);
    for bias in [None, Some((&bt, &b[..]))] {
        let y = conv.forward(g, &xt, &wt, bias.map(|b| b.0)).unwrap();
        let r = conv.reference(&xr, &w, bias.map(|b| b.1)).unwrap();
        assert_eq!(y.shape, r.shape);
        let v = compare(&y.download(g).unwrap(), &r);
        assert!(v.passed, "bias {}: {}", bias.is_some(), v.summary());
    }
    let mut plan = Plan::new();
    conv.record(g, &mut plan, &xt, &wt, None).unwrap();
    assert!(
        plan.steps[0]
            .label
            .starts_with("layer 1: conv2d 3->5 3x3 s2+relu"),
        "{}",
        plan.steps[0].label
    );
    // A weight of the wrong shape is an error naming it, not a panic.
    let e = conv
        .record(g, &mut plan, &xt, &bt, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("weight"), "{e}");
    let e = conv.reference(&xr, &b, None).unwrap_err().to_string();
    assert!(e.contains("weight"), "{e}");
}

#[test]
fn matmul_record_and_reference_agree_on_dense_operands() {
    let g = gpu();
    // Odd sizes past a 4x4 block and a 16-row block, B transposed, batched.
    let mm = Matmul {
        m: 19,
        n: 13,
        k: 37,
        batches: [3, 1],
        trans_b: true,
        act: Activation::Relu,
        ..Matmul::square(1)
    };
    let (a, b, bias) = (
        values(3 * 19 * 37, 4),
        values(3 * 13 * 37, 5),
        values(13, 6),
    );
    let at = Tensor::upload(g, "A", &[3, 19, 37], &a).unwrap();
    let bt = Tensor::upload(g, "B", &[3, 13, 37], &b).unwrap();
    let biast = Tensor::upload(g, "bias", &[13], &bias).unwrap();
    let mut plan = Plan::new();
    let c = mm.record(g, &mut plan, &at, &bt, Some(&biast)).unwrap();
    assert_eq!(c.shape, [3, 19, 13]);
    g.run(&plan).unwrap();
    let r = mm
        .reference(
            &RefTensor::from_f32(&[3, 19, 37], &a),
            &RefTensor::from_f32(&[3, 13, 37], &b),
            Some(&bias),
        )
        .unwrap();
    let v = compare(&c.download(g).unwrap(), &r);
    assert!(v.passed, "{}", v.summary());
    // One matrix: 2-D out, as torch.matmul; an eager call on its own.
    let one = Matmul {
        batches: [1, 1],
        ..mm.clone()
    };
    let c1 = one.forward(g, &at, &bt, None).unwrap();
    assert_eq!(c1.shape, [19, 13]);
    let r1 = one
        .reference(
            &RefTensor::from_f32(&[19, 37], &a[..19 * 37]),
            &RefTensor::from_f32(&[13, 37], &b[..13 * 37]),
            None,
        )
        .unwrap();
    let v = compare(&c1.download(g).unwrap(), &r1);
    assert!(v.passed, "{}", v.summary());
}

#[test]
fn matmul_shape_mistakes_are_errors_that_name_the_operand() {
    let g = gpu();
    let mm = Matmul::square(8);
    let small = Tensor::upload(g, "A", &[4, 4], &[1.0; 16]).unwrap();
    let ok = Tensor::upload(g, "B", &[8, 8], &[1.0; 64]).unwrap();
    let e = mm
        .record(g, &mut Plan::new(), &small, &ok, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("A"), "{e}");
    let e = mm
        .reference(&RefTensor::zeros(&[4, 4]), &RefTensor::zeros(&[8, 8]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("A has 16 elements"), "{e}");
    let inner = Matmul {
        batches: [2, 2],
        ..mm
    };
    let e = inner.forward(g, &ok, &ok, None).unwrap_err().to_string();
    assert!(e.contains("matmul_into"), "{e}");
}

//! Transposed convolution against its (scatter-form) reference, and the
//! identity that makes it conv2d's gradient: <conv(x), y> == <x, convT(y)>.

mod common;
use common::*;
use rand::Rng;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::{self, RefTensor};
use wgsl_nn::geometry::Window;
use wgsl_nn::gpu::Plan;
use wgsl_nn::ops::conv2d::{conv2d_forward, Conv2d};
use wgsl_nn::ops::conv_transpose2d::{conv_transpose2d_forward, forward_to, ConvTranspose2d};

// Test-case builders: each argument is one dimension of the case.
#[allow(clippy::too_many_arguments)]
fn ct(
    cin: usize,
    cout: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    op: [usize; 2],
    d: [usize; 2],
    bias: bool,
) -> ConvTranspose2d {
    ConvTranspose2d {
        in_channels: cin,
        out_channels: cout,
        kernel: k,
        stride: s,
        padding: p,
        output_padding: op,
        dilation: d,
        bias,
        relu: false,
    }
}

#[test]
fn matches_the_reference_on_edge_and_random_shapes() {
    let mut cases = vec![
        (
            ct(1, 1, [1, 1], [1, 1], [0, 0], [0, 0], [1, 1], false),
            [1, 1, 1, 1],
        ),
        (
            ct(3, 2, [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], true),
            [2, 3, 5, 7],
        ),
        (
            ct(2, 5, [4, 4], [2, 2], [1, 1], [0, 0], [1, 1], true),
            [1, 2, 8, 8],
        ),
        (
            ct(4, 3, [3, 5], [3, 1], [2, 1], [2, 0], [2, 1], true),
            [1, 4, 6, 9],
        ),
        (
            ct(1, 1, [2, 2], [5, 5], [0, 0], [0, 0], [1, 1], false),
            [1, 1, 4, 4],
        ),
    ];
    let mut r = rng(21);
    for _ in 0..25 {
        let s = [r.random_range(1..=3), r.random_range(1..=3)];
        let d = [r.random_range(1..=2), r.random_range(1..=2)];
        let k = [r.random_range(1..=4), r.random_range(1..=4)];
        let op = [
            r.random_range(0..s[0].max(d[0])),
            r.random_range(0..s[1].max(d[1])),
        ];
        let p = [r.random_range(0..=k[0] / 2), r.random_range(0..=k[1] / 2)];
        let c = ct(
            r.random_range(1..=6),
            r.random_range(1..=6),
            k,
            s,
            p,
            op,
            d,
            r.random_bool(0.5),
        );
        let shape = [
            r.random_range(1..=2),
            c.in_channels,
            r.random_range(2..=9),
            r.random_range(2..=9),
        ];
        if c.output_shape(&shape, "random").is_ok() {
            cases.push((c, shape));
        }
    }
    for (i, (c, shape)) in cases.iter().enumerate() {
        let mut r = rng(400 + i as u64);
        let x = uniform(&mut r, shape.iter().product());
        let w = uniform(&mut r, c.weight_shape().iter().product());
        let b = uniform(&mut r, c.out_channels);
        let out = c.output_shape(shape, "case").unwrap();
        let mut plan = Plan::new();
        let bt = upload("b", &[c.out_channels], &b);
        let y = conv_transpose2d_forward(
            gpu(),
            &mut plan,
            "ct",
            c,
            &upload("x", shape, &x),
            &upload("w", &c.weight_shape(), &w),
            c.bias.then_some(&bt),
        )
        .unwrap();
        let got = run(&plan, &y);
        let reference = cpu::conv_transpose2d::conv_transpose2d(
            c,
            &RefTensor::from_f32(shape, &x),
            &w,
            c.bias.then_some(&b[..]),
            out,
        );
        assert_passes(
            &format!("case {i}: {c:?} on {shape:?}"),
            &compare(&got, &reference),
        );
    }
}

/// <conv(x), y> == <x, conv_transpose(y)> with the same weights: the
/// transposed convolution is the adjoint (gradient) of the convolution.
#[test]
fn is_the_adjoint_of_conv2d() {
    let mut r = rng(31);
    for i in 0..12 {
        let k = [r.random_range(1..=5), r.random_range(1..=5)];
        let s = [r.random_range(1..=3), r.random_range(1..=3)];
        let d = [r.random_range(1..=2), r.random_range(1..=2)];
        let p = [r.random_range(0..=2), r.random_range(0..=2)];
        let (cin, cout) = (r.random_range(1..=5), r.random_range(1..=5));
        let conv = Conv2d {
            window: Window {
                kernel: k,
                stride: s,
                pad_begin: p,
                pad_end: p,
                dilation: d,
                ceil_mode: false,
            },
            in_channels: cin,
            out_channels: cout,
            groups: 1,
            bias: false,
            relu: false,
            relu6: false,
        };
        let xs = [
            r.random_range(1..=2),
            cin,
            r.random_range(12..=20),
            r.random_range(12..=20),
        ];
        let Ok(ys) = conv.output_shape(&xs, "conv") else {
            continue;
        };
        let x = uniform(&mut r, xs.iter().product());
        let y = uniform(&mut r, ys.iter().product());
        let w = uniform(&mut r, conv.weight_shape().iter().product());
        let wt = upload("w", &conv.weight_shape(), &w);
        let mut plan = Plan::new();
        let cx = conv2d_forward(
            gpu(),
            &mut plan,
            "conv",
            &conv,
            &upload("x", &xs, &x),
            &wt,
            None,
        )
        .unwrap();
        // Same weight tensor: [Cout, Cin, kH, kW] read as ConvTranspose2d's [Cin', Cout', kH, kW].
        let adj = ct(cout, cin, k, s, p, [0, 0], d, false);
        let cty = forward_to(
            gpu(),
            &mut plan,
            "adjoint",
            &adj,
            &upload("y", &ys, &y),
            &wt,
            None,
            xs,
        )
        .unwrap();
        gpu().run(&plan).unwrap();
        let (cx, cty) = (cx.download(gpu()).unwrap(), cty.download(gpu()).unwrap());
        let dot = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(&p, &q)| f64::from(p) * f64::from(q))
                .sum::<f64>()
        };
        let rconv = cpu::conv2d::conv2d(&conv, &RefTensor::from_f32(&xs, &x), &w, None, ys);
        let rct = cpu::conv_transpose2d::conv_transpose2d(
            &adj,
            &RefTensor::from_f32(&ys, &y),
            &w,
            None,
            xs,
        );
        let fdot = |a: &[f64], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(&p, &q)| p * f64::from(q))
                .sum::<f64>()
        };
        let fabs = |a: &[f64], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(&p, &q)| (p * f64::from(q)).abs())
                .sum::<f64>()
        };
        // The identity holds exactly for the references (up to f64 rounding) ...
        let (exact, exact_t) = (fdot(&rconv.val, &y), fdot(&rct.val, &x));
        let scale = fabs(&rconv.val, &y) + fabs(&rct.val, &x);
        assert!(
            (exact - exact_t).abs() <= 1e-12 * scale.max(1e-300),
            "case {i}: references disagree: {exact} vs {exact_t}"
        );
        // ... and each GPU side lands within its float32 bound of it: the
        // outputs' own bounds, carried through the host's f64 dot product.
        let eps = f64::from(f32::EPSILON);
        let (lhs, rhs) = (dot(&cx, &y), dot(&x, &cty));
        let lhs_bound = eps * fabs(&rconv.err, &y);
        let rhs_bound = eps * fabs(&rct.err, &x);
        assert!(
            (lhs - exact).abs() <= lhs_bound,
            "case {i}: <conv(x),y> = {lhs}, exact {exact}, bound {lhs_bound}"
        );
        assert!(
            (rhs - exact).abs() <= rhs_bound,
            "case {i}: <x,convT(y)> = {rhs}, exact {exact}, bound {rhs_bound}"
        );
        assert!(
            (lhs - rhs).abs() <= lhs_bound + rhs_bound,
            "case {i}: {lhs} vs {rhs}"
        );
    }
}

//! Max and average pooling against the reference, with PyTorch's padding,
//! dilation, ceil_mode and count_include_pad rules.

mod common;
use common::*;
use rand::Rng;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::{self, RefTensor};
use wgsl_nn::geometry::Window;
use wgsl_nn::gpu::Plan;
use wgsl_nn::ops::pool2d::{pool2d_forward, Pool2d, PoolKind};

fn pool(
    kind: PoolKind,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    ceil: bool,
    include_pad: bool,
) -> Pool2d {
    Pool2d {
        kind,
        window: Window {
            kernel: k,
            stride: s,
            pad_begin: p,
            pad_end: p,
            dilation: d,
            ceil_mode: ceil,
        },
        count_include_pad: include_pad,
    }
}

fn check(pl: &Pool2d, shape: [usize; 4], x: &[f32], what: &str) {
    let out = pl.output_shape(&shape, what).expect("valid");
    let mut plan = Plan::new();
    let y = pool2d_forward(gpu(), &mut plan, what, pl, &upload("x", &shape, x)).expect("plan");
    let got = run(&plan, &y);
    let reference = cpu::pool2d::pool2d(pl, &RefTensor::from_f32(&shape, x), out);
    assert_passes(
        &format!("{what}: {pl:?} on {shape:?}"),
        &compare(&got, &reference),
    );
    if pl.kind == PoolKind::Max {
        assert!(
            exact(&got, &reference),
            "max pooling selects, so it must be exact: {pl:?}"
        );
    }
}

#[test]
fn edge_cases_match_the_reference() {
    use PoolKind::*;
    let cases = [
        (
            pool(Max, [2, 2], [2, 2], [0, 0], [1, 1], false, true),
            [1, 1, 8, 8],
        ),
        (
            pool(Max, [3, 3], [2, 2], [1, 1], [1, 1], false, true),
            [2, 3, 7, 9],
        ),
        (
            pool(Max, [3, 2], [1, 3], [1, 1], [2, 1], false, true),
            [1, 2, 11, 10],
        ),
        (
            pool(Max, [2, 2], [2, 2], [0, 0], [1, 1], true, true),
            [1, 1, 5, 7],
        ),
        (
            pool(Max, [1, 1], [1, 1], [0, 0], [1, 1], false, true),
            [1, 1, 1, 1],
        ),
        (
            pool(Avg, [3, 3], [1, 1], [1, 1], [1, 1], false, true),
            [1, 2, 6, 5],
        ),
        (
            pool(Avg, [3, 3], [1, 1], [1, 1], [1, 1], false, false),
            [1, 2, 6, 5],
        ),
        (
            pool(Avg, [3, 3], [2, 2], [1, 1], [1, 1], true, true),
            [2, 1, 8, 9],
        ),
        (
            pool(Avg, [3, 3], [2, 2], [1, 1], [1, 1], true, false),
            [2, 1, 8, 9],
        ),
        (
            pool(Avg, [2, 5], [3, 2], [1, 2], [1, 1], false, true),
            [1, 3, 13, 17],
        ),
        (
            pool(Max, [5, 5], [7, 7], [0, 0], [1, 1], false, true),
            [1, 1, 19, 19],
        ),
    ];
    for (i, (pl, shape)) in cases.iter().enumerate() {
        let x = uniform(&mut rng(300 + i as u64), shape.iter().product());
        check(pl, *shape, &x, &format!("case {i}"));
    }
}

#[test]
fn random_shapes_match_the_reference() {
    let mut r = rng(11);
    for i in 0..30 {
        let kind = if r.random_bool(0.5) {
            PoolKind::Max
        } else {
            PoolKind::Avg
        };
        let k = [r.random_range(1..=4), r.random_range(1..=4)];
        let p = [r.random_range(0..=k[0] / 2), r.random_range(0..=k[1] / 2)];
        let d = if kind == PoolKind::Max {
            [r.random_range(1..=2), r.random_range(1..=2)]
        } else {
            [1, 1]
        };
        let pl = pool(
            kind,
            k,
            [r.random_range(1..=3), r.random_range(1..=3)],
            p,
            d,
            r.random_bool(0.4),
            r.random_bool(0.5),
        );
        let shape = [
            r.random_range(1..=2),
            r.random_range(1..=5),
            r.random_range(8..=20),
            r.random_range(8..=20),
        ];
        let x = uniform(&mut r, shape.iter().product());
        check(&pl, shape, &x, &format!("random case {i}"));
    }
}

#[test]
fn max_pooling_propagates_nan() {
    let pl = pool(PoolKind::Max, [2, 2], [2, 2], [0, 0], [1, 1], false, true);
    let mut x = uniform(&mut rng(5), 16);
    x[5] = f32::NAN;
    check(&pl, [1, 1, 4, 4], &x, "NaN in a max window");
}

#[test]
fn padding_over_half_the_kernel_is_an_error() {
    let pl = pool(PoolKind::Max, [2, 2], [2, 2], [2, 2], [1, 1], false, true);
    let e = pl
        .output_shape(&[1, 1, 8, 8], "layer 3 maxpool")
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer 3") && e.contains("at most half"), "{e}");
}

/// PyTorch's ceil mode lets a window hang past the padded end: a 2-wide
/// window with stride 3 over 2 pixels gives one output (max 2.0), and a
/// 4-wide average over 3 rows padded by 1 gives two (counting only real
/// pixels). Without ceil mode the same shapes are errors, as in PyTorch.
#[test]
fn ceil_mode_windows_may_hang_past_the_padded_input() {
    use PoolKind::*;
    let pl = pool(Max, [2, 2], [3, 3], [0, 0], [1, 1], true, true);
    assert_eq!(pl.output_shape(&[1, 1, 1, 2], "p").unwrap(), [1, 1, 1, 1]);
    let mut plan = Plan::new();
    let y = pool2d_forward(
        gpu(),
        &mut plan,
        "p",
        &pl,
        &upload("x", &[1, 1, 1, 2], &[-1.0, 2.0]),
    )
    .unwrap();
    assert_eq!(run(&plan, &y), [2.0]);
    let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
    for (kind, include) in [(Avg, false), (Avg, true), (Max, true)] {
        let pl = pool(kind, [4, 4], [3, 3], [1, 1], [1, 1], true, include);
        assert_eq!(pl.output_shape(&[1, 1, 3, 2], "p").unwrap(), [1, 1, 2, 1]);
        check(&pl, [1, 1, 3, 2], &x, "ceil window past the end");
    }
    let strict = pool(Max, [2, 2], [3, 3], [0, 0], [1, 1], false, true);
    assert!(strict.output_shape(&[1, 1, 1, 2], "p").is_err());
}

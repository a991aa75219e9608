//! The CPU baseline's channel-blocked layout (`cpu::baseline::blocked`):
//! its 1x1 conv and the depthwise conv reading and writing it, against
//! the f64 reference by the crate's verdict, on both paths (AVX-512 where
//! the CPU has it, and the portable one), into NaN-filled outputs.
//! Channel counts around the 16-lane block, pixel counts around the
//! 12-pixel tile and its 4-pixel tail, batches, bias, residual and clamp.

mod common;

use common::*;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::baseline::{self, blocked};
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::geometry::Window;
use wgsl_nn::ops::conv2d::Conv2d;

fn blocked_of(x: &[f32], shape: [usize; 4]) -> Vec<f32> {
    let mut b = vec![f32::NAN; blocked::blocked_len(shape)];
    blocked::to_blocked(x, shape, &mut b);
    b
}

#[test]
fn blocked_round_trip_pads_with_zeros() {
    let shape = [2, 19, 3, 5];
    let x: Vec<f32> = (0..2 * 19 * 15).map(|v| v as f32).collect();
    let b = blocked_of(&x, shape);
    // Image 1, block 1 (channels 16..32), pixel 7: channel 18 is real,
    // channel 19 padding.
    let at = ((2 + 1) * 15 + 7) * 16;
    assert_eq!(b[at + 2], x[(19 + 18) * 15 + 7]);
    assert_eq!(b[at + 3], 0.0);
    let mut back = vec![f32::NAN; x.len()];
    blocked::from_blocked(&b, shape, &mut back);
    assert_eq!(back, x);
}

/// (n, cin, cout, pixels, bias, residual, clamp)
type PwCase = (usize, usize, usize, usize, bool, bool, Option<(f32, f32)>);

#[test]
fn pointwise_blocked_cases() {
    let relu6 = Some((0.0, 6.0));
    #[rustfmt::skip]
    let cases: [PwCase; 12] = [
        (1, 16, 96, 196, true, false, relu6),
        (1, 96, 24, 49, true, true, None),
        (2, 24, 144, 13, true, false, relu6),
        (1, 1, 1, 1, false, false, None),
        (3, 17, 15, 12, true, true, Some((0.0, f32::INFINITY))),
        (1, 33, 17, 16, false, true, None),
        (2, 15, 48, 11, true, true, relu6),
        (1, 320, 1280, 49, true, false, relu6),
        (1, 160, 960, 7, true, false, relu6),
        (1, 40, 33, 257, true, true, None),
        (2, 64, 64, 4, false, false, relu6),
        (1, 5, 3, 0, true, false, None),
    ];
    for (i, &(n, cin, cout, px, has_bias, has_res, clamp)) in cases.iter().enumerate() {
        let seed = 1500 + i as u64;
        let mut r = rng(seed);
        let (xs, os) = ([n, cin, 1, px], [n, cout, 1, px]);
        let mut x = uniform(&mut r, n * cin * px);
        x.iter_mut().for_each(|v| *v *= 8.0);
        let w = uniform(&mut r, cout * cin);
        let b = uniform(&mut r, cout);
        let res = uniform(&mut r, n * cout * px);
        let bias = has_bias.then_some(&b[..]);
        let conv = Conv2d::new(cin, cout, 1).bias(has_bias);
        let mut reference =
            wgsl_nn::cpu::conv2d::conv2d(&conv, &RefTensor::from_f32(&xs, &x), &w, bias, os);
        if has_res {
            reference = wgsl_nn::cpu::sequence::add(&reference, &RefTensor::from_f32(&os, &res));
        }
        clamp_ref(&mut reference, clamp);
        let bw = blocked::BlockedWeights::new(&w, cout, cin);
        let (xb, rb) = (blocked_of(&x, xs), blocked_of(&res, os));
        let epi = blocked::BlockedEpilogue {
            bias,
            residual: has_res.then_some(&rb[..]),
            clamp,
        };
        for path in ["avx512 where the CPU has it", "portable"] {
            let mut yb = vec![f32::NAN; blocked::blocked_len(os)];
            if path == "portable" {
                blocked::pointwise_blocked_portable_into(&bw, &xb, n, px, epi, &mut yb);
            } else {
                blocked::pointwise_blocked_into(&bw, &xb, n, px, epi, &mut yb);
            }
            let mut y = vec![f32::NAN; n * cout * px];
            blocked::from_blocked(&yb, os, &mut y);
            let check = compare(&y, &reference);
            let what = format!("1x1 blocked case {i} (seed {seed}, {path}): {xs:?} -> {os:?}");
            eprintln!("{what}: {}", check.summary());
            assert_passes(&what, &check);
        }
    }
}

/// (n, c, [h, w], kernel, stride, pad, clamp)
type DwCase = (
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 2],
    Option<(f32, f32)>,
);

#[test]
fn depthwise_in_every_layout_pair() {
    let relu6 = Some((0.0, 6.0));
    #[rustfmt::skip]
    let cases: [DwCase; 6] = [
        (1, 32, [14, 14], [3, 3], [1, 1], [1, 1], relu6),
        (2, 24, [15, 16], [3, 3], [2, 2], [1, 1], relu6),
        (1, 17, [7, 9], [5, 5], [1, 2], [2, 2], None),
        (3, 15, [1, 1], [3, 3], [1, 1], [1, 1], relu6),
        (1, 48, [40, 41], [3, 3], [1, 1], [1, 1], None),
        (1, 2, [5, 6], [2, 3], [1, 1], [0, 1], None),
    ];
    for (i, &(n, c, hw, kernel, stride, pad, clamp)) in cases.iter().enumerate() {
        let seed = 1600 + i as u64;
        let mut r = rng(seed);
        let mut conv = Conv2d::new(c, c, 1).groups(c);
        conv.window = Window {
            kernel,
            stride,
            pad_begin: pad,
            pad_end: pad,
            dilation: [1, 1],
            ceil_mode: false,
        };
        let xs = [n, c, hw[0], hw[1]];
        let os = conv.output_shape(&xs, "case").expect("valid case");
        let mut x = uniform(&mut r, xs.iter().product());
        x.iter_mut().for_each(|v| *v *= 8.0);
        let w = uniform(&mut r, c * kernel[0] * kernel[1]);
        let b = uniform(&mut r, c);
        let mut reference =
            wgsl_nn::cpu::conv2d::conv2d(&conv, &RefTensor::from_f32(&xs, &x), &w, Some(&b), os);
        clamp_ref(&mut reference, clamp);
        let xb = blocked_of(&x, xs);
        for lay in [[false, true], [true, false], [true, true]] {
            let xin = if lay[0] { &xb } else { &x };
            let mut yo = vec![
                f32::NAN;
                if lay[1] {
                    blocked::blocked_len(os)
                } else {
                    os.iter().product()
                }
            ];
            baseline::depthwise_layout_into(&conv, xin, xs, &w, Some(&b), os, clamp, &mut yo, lay);
            let y = if lay[1] {
                let mut y = vec![f32::NAN; os.iter().product()];
                blocked::from_blocked(&yo, os, &mut y);
                y
            } else {
                yo
            };
            let check = compare(&y, &reference);
            let what =
                format!("depthwise case {i} (seed {seed}), blocked {lay:?}: {xs:?} -> {os:?}");
            eprintln!("{what}: {}", check.summary());
            assert_passes(&what, &check);
        }
    }
}

/// (rows, cin, cout, bias, clamp)
type LinCase = (usize, usize, usize, bool, Option<(f32, f32)>);

/// `linear_into` (row-major x [rows, Cin] and y [rows, Cout], the tiles
/// run 12 rows a task): rows around the tile, channel counts around the
/// block, a fused `finish` (negation, exact) on every task's rows.
#[test]
fn linear_cases() {
    #[rustfmt::skip]
    let cases: [LinCase; 9] = [
        (65, 128, 384, true, None),
        (65, 256, 128, true, Some((0.0, f32::INFINITY))),
        (12, 17, 15, false, None),
        (13, 1, 1, true, None),
        (11, 33, 40, true, Some((-1.0, 1.0))),
        (1, 5, 3, true, None),
        (257, 64, 17, false, None),
        (24, 16, 32, true, None),
        (0, 4, 4, true, None),
    ];
    for (i, &(rows, cin, cout, has_bias, clamp)) in cases.iter().enumerate() {
        let seed = 1700 + i as u64;
        let mut r = rng(seed);
        let x = uniform(&mut r, rows * cin);
        let w = uniform(&mut r, cout * cin);
        let b = uniform(&mut r, cout);
        let bias = has_bias.then_some(&b[..]);
        // The reference: a 1x1 conv over x^T [1, Cin, 1, rows], negated.
        let xt: Vec<f32> = (0..cin * rows)
            .map(|at| x[(at % rows) * cin + at / rows])
            .collect();
        let (xs, os) = ([1, cin, 1, rows], [1, cout, 1, rows]);
        let conv = Conv2d::new(cin, cout, 1).bias(has_bias);
        let mut reference =
            wgsl_nn::cpu::conv2d::conv2d(&conv, &RefTensor::from_f32(&xs, &xt), &w, bias, os);
        clamp_ref(&mut reference, clamp);
        reference.val.iter_mut().for_each(|v| *v = -*v);
        let bw = blocked::BlockedWeights::new(&w, cout, cin);
        let epi = blocked::BlockedEpilogue {
            bias,
            residual: None,
            clamp,
        };
        let negate = |rows: &mut [f32]| rows.iter_mut().for_each(|v| *v = -*v);
        let mut y = vec![f32::NAN; rows * cout];
        blocked::linear_into(&bw, &x, rows, epi, Some(&negate), &mut y);
        let yt: Vec<f32> = (0..cout * rows)
            .map(|at| y[(at % rows) * cout + at / rows])
            .collect();
        let check = compare(&yt, &reference);
        let what = format!("linear case {i} (seed {seed}): [{rows}, {cin}] -> [{rows}, {cout}]");
        eprintln!("{what}: {}", check.summary());
        assert_passes(&what, &check);
    }
}

/// A product with no input channels is its bias, in every row.
#[test]
fn linear_with_no_inputs_is_its_bias() {
    let bw = blocked::BlockedWeights::new(&[], 3, 0);
    let bias = [1.0f32, -2.0, 3.5];
    let epi = blocked::BlockedEpilogue {
        bias: Some(&bias),
        residual: None,
        clamp: None,
    };
    let mut y = vec![f32::NAN; 13 * 3];
    blocked::linear_into(&bw, &[], 13, epi, None, &mut y);
    assert!(y.chunks(3).all(|r| r == bias), "{y:?}");
}

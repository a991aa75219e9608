//! The CPU baseline's direct conv into the channel-blocked layout
//! (`blocked_direct::conv_blocked_into`), against the f64 reference by the
//! crate's verdict, on both paths (AVX-512 where the CPU has it, and the
//! portable one), from NCHW and from blocked input, into NaN-filled
//! outputs. Kernels 1x1 to 7x7, strides 1 and 2 (the 1x1 strided copy
//! keeps one phase), dilation, asymmetric padding; channel counts around
//! the 16-lane block; row widths around the 12-pixel tile (1 to 12 wide
//! tiles); batches, bias, residual and clamp.

mod common;

use common::*;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::baseline::{blocked, blocked_direct, blocked_pool};
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::ops::conv2d::Conv2d;

fn blocked_of(x: &[f32], shape: [usize; 4]) -> Vec<f32> {
    let mut b = vec![f32::NAN; blocked::blocked_len(shape)];
    blocked::to_blocked(x, shape, &mut b);
    b
}

/// One case: the input, the conv's geometry and its epilogue.
struct Case {
    n: usize,
    cin: usize,
    cout: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    dilation: [usize; 2],
    bias: bool,
    residual: bool,
    clamp: Option<(f32, f32)>,
}

#[allow(clippy::too_many_arguments)]
fn case(
    n: usize,
    cin: usize,
    cout: usize,
    hw: [usize; 2],
    k: usize,
    s: usize,
    p: usize,
    bias: bool,
    residual: bool,
    clamp: Option<(f32, f32)>,
) -> Case {
    Case {
        n,
        cin,
        cout,
        hw,
        kernel: [k, k],
        stride: [s, s],
        pads: [p; 4],
        dilation: [1, 1],
        bias,
        residual,
        clamp,
    }
}

fn cases() -> Vec<Case> {
    let relu = Some((0.0, f32::INFINITY));
    let relu6 = Some((0.0, 6.0));
    let mut v = vec![
        // resnet18's stem, narrowed: 3 channels, 7x7, stride 2, pad 3.
        case(1, 3, 64, [40, 37], 7, 2, 3, true, false, relu),
        // Its 3x3 convs at the widths of each stage (56 -> 12 + 4 x 11).
        case(1, 64, 64, [56, 56], 3, 1, 1, true, true, relu),
        case(2, 32, 48, [14, 14], 3, 1, 1, true, true, relu),
        case(1, 48, 32, [7, 7], 3, 1, 1, false, false, None),
        case(1, 16, 32, [15, 16], 3, 2, 1, true, false, relu),
        // The downsample: 1x1, stride 2, one phase copied.
        case(2, 32, 64, [14, 15], 1, 2, 0, true, false, None),
        // Channels around the block, widths 1 to 13.
        case(3, 17, 33, [5, 13], 3, 1, 1, true, true, relu6),
        case(1, 1, 1, [1, 1], 1, 1, 0, false, false, None),
        case(1, 15, 17, [9, 12], 3, 1, 0, true, true, None),
        case(2, 5, 16, [3, 3], 2, 1, 0, true, false, relu),
        case(1, 40, 20, [26, 25], 5, 2, 2, false, true, None),
        case(1, 2, 3, [6, 1], 3, 1, 1, true, false, None),
        case(1, 16, 16, [4, 4], 3, 3, 1, true, false, None),
        // No input channels: bias and residual alone.
        case(2, 0, 17, [3, 5], 3, 1, 1, true, true, relu),
    ];
    // Dilation and asymmetric padding (ONNX's pads), a 1x3 kernel.
    v.push(Case {
        dilation: [2, 3],
        pads: [1, 2, 3, 0],
        ..case(1, 19, 18, [11, 14], 3, 1, 0, true, true, relu)
    });
    v.push(Case {
        kernel: [1, 3],
        stride: [2, 1],
        pads: [0, 1, 1, 1],
        ..case(2, 8, 24, [7, 10], 1, 1, 0, true, false, None)
    });
    v
}

#[test]
fn direct_blocked_cases() {
    for (i, c) in cases().iter().enumerate() {
        let seed = 1700 + i as u64;
        let mut r = rng(seed);
        let [h, w] = c.hw;
        let mut conv = Conv2d::new(c.cin, c.cout, 1).bias(c.bias);
        conv.window.kernel = c.kernel;
        conv.window.stride = c.stride;
        conv.window.pad_begin = [c.pads[0], c.pads[1]];
        conv.window.pad_end = [c.pads[2], c.pads[3]];
        conv.window.dilation = c.dilation;
        let xs = [c.n, c.cin, h, w];
        let os = conv.output_shape(&xs, "case").expect("a valid case");
        let [kh, kw] = c.kernel;
        let mut x = uniform(&mut r, xs.iter().product());
        x.iter_mut().for_each(|v| *v *= 8.0);
        let wt = uniform(&mut r, c.cout * c.cin * kh * kw);
        let b = uniform(&mut r, c.cout);
        let res = uniform(&mut r, os.iter().product());
        let bias = c.bias.then_some(&b[..]);
        let mut reference =
            wgsl_nn::cpu::conv2d::conv2d(&conv, &RefTensor::from_f32(&xs, &x), &wt, bias, os);
        if c.residual {
            reference = wgsl_nn::cpu::sequence::add(&reference, &RefTensor::from_f32(&os, &res));
        }
        clamp_ref(&mut reference, c.clamp);
        let bw = blocked_direct::conv_weights(&wt, c.cout, c.cin, c.kernel);
        let (xb, rb) = (blocked_of(&x, xs), blocked_of(&res, os));
        let epi = blocked::BlockedEpilogue {
            bias,
            residual: c.residual.then_some(&rb[..]),
            clamp: c.clamp,
        };
        for x_blocked in [false, true] {
            let input = if x_blocked { &xb } else { &x };
            for path in ["avx512 where the CPU has it", "portable"] {
                let mut yb = vec![f32::NAN; blocked::blocked_len(os)];
                let run = if path == "portable" {
                    blocked_direct::conv_blocked_portable_into
                } else {
                    blocked_direct::conv_blocked_into
                };
                run(&conv, &bw, input, xs, x_blocked, os, epi, &mut yb);
                let mut y = vec![f32::NAN; os.iter().product()];
                blocked::from_blocked(&yb, os, &mut y);
                let check = compare(&y, &reference);
                let what = format!(
                    "direct blocked case {i} (seed {seed}, {path}, input blocked {x_blocked}): \
                     {xs:?} -> {os:?}, {:?}",
                    conv.window
                );
                eprintln!("{what}: {}", check.summary());
                assert_passes(&what, &check);
                // The padding channels of the output are written, zero
                // (zero weights, bias and residual there).
                let pad = (c.cout..c.cout.div_ceil(16) * 16).all(|co| {
                    let last = (co / 16 * os[2] * os[3] + os[2] * os[3] - 1) * 16;
                    yb[last + co % 16] == 0.0
                });
                assert!(pad, "{what}: a padding channel is not zero");
            }
        }
    }
}

/// (n, c, [h, w], kernel, stride, pad, dilation, ceil_mode)
type PoolCase = (usize, usize, [usize; 2], usize, usize, usize, usize, bool);

#[test]
fn maxpool_blocked_cases() {
    use wgsl_nn::geometry::Window;
    use wgsl_nn::ops::pool2d::{Pool2d, PoolKind};
    #[rustfmt::skip]
    let cases: [PoolCase; 7] = [
        // resnet18's: 3x3, stride 2, pad 1.
        (1, 64, [112, 112], 3, 2, 1, 1, false),
        (2, 17, [9, 10], 3, 2, 1, 1, true),
        (1, 3, [5, 5], 2, 2, 0, 1, false),
        (1, 16, [7, 6], 3, 1, 1, 2, false),
        (3, 33, [1, 1], 1, 1, 0, 1, false),
        (1, 20, [11, 13], 5, 3, 2, 1, true),
        (1, 16, [4, 4], 4, 1, 0, 1, false),
    ];
    for (i, &(n, c, [h, w], k, s, p, d, ceil)) in cases.iter().enumerate() {
        let seed = 1800 + i as u64;
        let mut r = rng(seed);
        let mut win = Window::square(k);
        win.stride = [s, s];
        win.pad_begin = [p, p];
        win.pad_end = [p, p];
        win.dilation = [d, d];
        win.ceil_mode = ceil;
        let pool = Pool2d {
            kind: PoolKind::Max,
            window: win,
            count_include_pad: false,
        };
        let xs = [n, c, h, w];
        let os = pool.output_shape(&xs, "case").expect("a valid case");
        let mut x = uniform(&mut r, xs.iter().product());
        // A NaN must stick in every window that holds it.
        let at = x.len() / 3;
        x[at] = f32::NAN;
        let reference = wgsl_nn::cpu::pool2d::pool2d(&pool, &RefTensor::from_f32(&xs, &x), os);
        let want = reference.to_f32();
        let xb = blocked_of(&x, xs);
        for path in ["avx512 where the CPU has it", "portable"] {
            let mut yb = vec![f32::NAN; blocked::blocked_len(os)];
            let run = if path == "portable" {
                blocked_pool::maxpool_blocked_portable_into
            } else {
                blocked_pool::maxpool_blocked_into
            };
            run(&win, &xb, xs, [os[2], os[3]], &mut yb);
            let mut y = vec![f32::NAN; os.iter().product()];
            blocked::from_blocked(&yb, os, &mut y);
            let same = y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            let what = format!("max pool blocked case {i} (seed {seed}, {path}): {xs:?} -> {os:?}");
            eprintln!("{what}: {} values", y.len());
            assert!(
                same && y.iter().any(|v| v.is_nan()),
                "{what}: differs from the reference"
            );
        }
    }
}

//! The optimised CPU baselines (`cpu::baseline`) against the f64
//! references, judged by the same per-element float32 bound as the GPU
//! (`check::compare`): matmul over strided, transposed and batched views
//! with bias and activations; conv2d with stride, dilation, asymmetric
//! padding, batches and the 1x1 shortcut; attention with L = 1, S != L,
//! causal and key masks (one batch wholly masked), and L = S = 8192 checked
//! on sampled rows. `throughput_report` prints GFLOP/s (no assertion).
//! No adapter is needed.

mod common;
use common::*;
use rand::Rng;
use std::sync::Mutex;
use std::time::Instant;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::attention::{sdpa, sdpa_rows, Masks, Order};
use wgsl_nn::cpu::{baseline, RefTensor};
use wgsl_nn::geometry::Window;
use wgsl_nn::ops::attention::AttentionShape;
use wgsl_nn::ops::conv2d::Conv2d;
use wgsl_nn::ops::matmul::{Activation, Matmul, View};

/// The baselines use every core; one test at a time keeps the timings
/// honest and the machine responsive.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------------ exp

/// The vectorisable exp the softmax and GELU use: within 2 ulp of exp
/// over its range, exactly 1 at 0, 0 below -87.3 and for -inf, NaN kept.
#[test]
fn fast_exp_is_within_two_ulp() {
    let _g = serial();
    let (mut worst, mut at) = (0.0f64, 0.0f32);
    let n = 4_000_000;
    for i in 0..=n {
        let x = -87.3 + (88.3 + 87.3) * i as f32 / n as f32;
        let exact = f64::from(x).exp();
        let got = f64::from(baseline::exp(x));
        // One ulp of an f32 near `exact`.
        let ulp = f64::from((exact as f32).abs()).max(f64::from(f32::MIN_POSITIVE))
            * f64::from(f32::EPSILON);
        let e = (got - exact).abs() / ulp;
        if e > worst {
            (worst, at) = (e, x);
        }
    }
    eprintln!("baseline exp: worst {worst:.3} ulp at x = {at}");
    assert!(worst <= 2.0, "baseline exp is {worst} ulp off at {at}");
    assert_eq!(baseline::exp(0.0), 1.0);
    assert_eq!(baseline::exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(baseline::exp(-100.0), 0.0);
    assert_eq!(baseline::exp(100.0), f32::INFINITY);
    assert!(baseline::exp(f32::NAN).is_nan());
    // GELU through it: the reference's formula to a few eps of |x| (the
    // bound allows 8 |x| eps for GELU's own evaluation).
    let mut gworst = 0.0f64;
    for i in 0..=n {
        let x = -30.0 + 60.0 * i as f32 / n as f32;
        let exact = wgsl_nn::cpu::activation::gelu(f64::from(x));
        let e = (f64::from(baseline::gelu(x)) - exact).abs()
            / (f64::from(x.abs()) * f64::from(f32::EPSILON)).max(1e-45);
        gworst = gworst.max(e);
    }
    eprintln!("baseline gelu: worst {gworst:.3} |x| eps");
    assert!(gworst <= 4.0, "baseline gelu is {gworst} |x| eps off");
    // GELU keeps its limits.
    assert_eq!(baseline::gelu(1e30), 1e30);
    assert_eq!(baseline::gelu(-1e30), 0.0);
    assert!(baseline::gelu(f32::NAN).is_nan());
}

// ---------------------------------------------------------------- matmul

#[derive(Debug, Clone, Copy)]
enum Layout {
    /// [batch, rows, cols], nothing between.
    Dense,
    /// Rows longer than the matrix and gaps between batches.
    Padded,
    /// Inner batches side by side in a row, as heads in [B, L, H*d].
    Interleaved,
    /// One matrix for every batch (strides 0).
    Shared,
}

/// A view of a stored [rows, cols] matrix per batch, and the length of a
/// tensor that holds it (with a little slack past the end).
fn make_view(
    layout: Layout,
    rows: usize,
    cols: usize,
    batches: [usize; 2],
    r: &mut Rng64,
) -> (View, usize) {
    let view = match layout {
        Layout::Dense => View {
            ld: cols,
            inner: rows * cols,
            outer: batches[1] * rows * cols,
        },
        Layout::Padded => {
            let ld = cols + r.random_range(1..4);
            let inner = rows * ld + r.random_range(0..3);
            View {
                ld,
                inner,
                outer: batches[1] * inner + r.random_range(0..3),
            }
        }
        Layout::Interleaved => {
            let ld = batches[1] * cols + r.random_range(0..3);
            View {
                ld,
                inner: cols,
                outer: rows * ld,
            }
        }
        Layout::Shared => View {
            ld: cols,
            inner: 0,
            outer: 0,
        },
    };
    let extent =
        (batches[0] - 1) * view.outer + (batches[1] - 1) * view.inner + (rows - 1) * view.ld + cols;
    (view, extent + 3)
}

#[allow(clippy::too_many_arguments)]
fn mm_case(
    what: &str,
    (m, n, k): (usize, usize, usize),
    batches: [usize; 2],
    (trans_a, trans_b): (bool, bool),
    layouts: [Layout; 3],
    bias: bool,
    act: Activation,
    alpha: f32,
    seed: u64,
) {
    let mut r = rng(seed);
    let (ar, ac) = if trans_a { (k, m) } else { (m, k) };
    let (br, bc) = if trans_b { (n, k) } else { (k, n) };
    let (av, alen) = make_view(layouts[0], ar, ac, batches, &mut r);
    let (bv, blen) = make_view(layouts[1], br, bc, batches, &mut r);
    let (cv, clen) = make_view(layouts[2], m, n, batches, &mut r);
    let a = uniform(&mut r, alen);
    let b = uniform(&mut r, blen);
    let bias_v = uniform(&mut r, n);
    // Elements of C outside the view must survive untouched.
    let c0 = uniform(&mut r, clen);
    let mm = Matmul {
        m,
        n,
        k,
        batches,
        trans_a,
        trans_b,
        bias,
        act,
        alpha,
    };
    let mut c = c0.clone();
    baseline::matmul(&mm, &a, av, &b, bv, bias.then_some(&bias_v[..]), &mut c, cv);
    let mut reference = RefTensor::from_f32(&[clen], &c0);
    wgsl_nn::cpu::matmul::matmul_into(
        &mm,
        (&RefTensor::from_f32(&[alen], &a), av),
        (&RefTensor::from_f32(&[blen], &b), bv),
        bias.then_some(&bias_v[..]),
        (&mut reference, cv),
    );
    let check = compare(&c, &reference);
    eprintln!("{what}: {mm:?} {layouts:?}: {}", check.summary());
    assert_passes(what, &check);
}

#[test]
fn matmul_edge_cases() {
    let _g = serial();
    use Activation::*;
    use Layout::*;
    let d3 = [Dense; 3];
    mm_case(
        "1x1x1",
        (1, 1, 1),
        [1, 1],
        (false, false),
        d3,
        false,
        None,
        1.0,
        1,
    );
    mm_case(
        "257 cube",
        (257, 257, 257),
        [1, 1],
        (false, false),
        d3,
        true,
        Relu,
        1.0,
        2,
    );
    mm_case(
        "257 cube, both transposed",
        (257, 257, 257),
        [1, 1],
        (true, true),
        d3,
        false,
        Gelu,
        0.5,
        3,
    );
    mm_case(
        "row vector",
        (1, 257, 31),
        [1, 1],
        (true, true),
        d3,
        true,
        None,
        1.0,
        4,
    );
    // One row over many columns: the column-split matrix-vector path
    // (a classifier at batch 1), B transposed and not, padded views.
    mm_case(
        "classifier row, B transposed",
        (1, 1000, 1280),
        [1, 1],
        (false, true),
        d3,
        true,
        Relu,
        1.0,
        41,
    );
    mm_case(
        "row over padded B",
        (1, 777, 515),
        [1, 1],
        (false, false),
        [Padded; 3],
        true,
        Gelu,
        0.75,
        42,
    );
    mm_case(
        "column vector",
        (257, 1, 13),
        [1, 1],
        (false, true),
        [Padded; 3],
        true,
        Gelu,
        -0.7,
        5,
    );
    mm_case(
        "k = 1",
        (97, 61, 1),
        [1, 1],
        (true, false),
        d3,
        false,
        Relu,
        2.0,
        6,
    );
    mm_case(
        "primes",
        (31, 37, 41),
        [1, 1],
        (false, false),
        [Padded; 3],
        true,
        Gelu,
        1.0,
        7,
    );
    // One product big enough to split across threads, padded rows.
    mm_case(
        "split product",
        (200, 150, 180),
        [1, 1],
        (false, true),
        [Padded; 3],
        true,
        Relu,
        1.0,
        8,
    );
    // Per-head slices of [B, L, H*d] (Q K^T and P V shapes).
    mm_case(
        "heads QK^T",
        (37, 19, 16),
        [3, 4],
        (false, true),
        [Interleaved, Interleaved, Dense],
        false,
        None,
        0.25,
        9,
    );
    mm_case(
        "heads PV",
        (37, 16, 19),
        [3, 4],
        (false, false),
        [Dense, Interleaved, Interleaved],
        false,
        None,
        1.0,
        10,
    );
    // Many small products, a weight shared by every batch.
    mm_case(
        "shared weight",
        (13, 17, 29),
        [2, 16],
        (false, false),
        [Dense, Shared, Padded],
        true,
        Gelu,
        1.0,
        11,
    );
    // Rows that stack from batch to batch under a shared weight are one
    // product (MultiheadAttention's in_proj: a batch per token, one row
    // each); a padded C does not stack and keeps the batches.
    for (what, m, layouts) in [
        (
            "one row per batch, shared weight",
            1,
            [Dense, Shared, Dense],
        ),
        (
            "four rows per batch, shared weight",
            4,
            [Dense, Shared, Dense],
        ),
        ("stacked A, padded C", 3, [Dense, Shared, Padded]),
    ] {
        mm_case(
            what,
            (m, 37, 29),
            [3, 11],
            (false, true),
            layouts,
            true,
            Relu,
            1.0,
            14,
        );
    }
    // Batches that all write one C (strides 0): the last batch wins, as in
    // the reference, and nothing runs concurrently on it.
    mm_case(
        "overlapping C",
        (20, 30, 40),
        [2, 3],
        (true, false),
        [Padded, Padded, Shared],
        true,
        Relu,
        1.0,
        12,
    );
    // Fewer, bigger batches.
    mm_case(
        "big batches",
        (129, 127, 160),
        [1, 3],
        (true, true),
        [Padded, Dense, Interleaved],
        true,
        None,
        1.0,
        13,
    );
}

#[test]
fn matmul_random_shapes() {
    let _g = serial();
    let sizes = [1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 64, 97, 127, 129];
    let layouts = [
        Layout::Dense,
        Layout::Padded,
        Layout::Interleaved,
        Layout::Shared,
    ];
    let acts = [Activation::None, Activation::Relu, Activation::Gelu];
    let mut r = rng(2024);
    for case in 0..24 {
        let pick = |r: &mut Rng64| sizes[r.random_range(0..sizes.len())];
        let (m, n, k) = (pick(&mut r), pick(&mut r), pick(&mut r));
        let batches = [r.random_range(1..4), r.random_range(1..5)];
        let lay =
            |r: &mut Rng64, shared: bool| layouts[r.random_range(0..if shared { 4 } else { 3 })];
        let ls = [lay(&mut r, true), lay(&mut r, true), lay(&mut r, false)];
        let alpha = [1.0, 0.125, -1.5][r.random_range(0..3)];
        let seed = r.random();
        mm_case(
            &format!("random case {case}"),
            (m, n, k),
            batches,
            (r.random(), r.random()),
            ls,
            r.random(),
            acts[r.random_range(0..3)],
            alpha,
            seed,
        );
    }
}

// ---------------------------------------------------------------- conv2d

struct ConvCase {
    what: &'static str,
    n: usize,
    cin: usize,
    cout: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad_begin: [usize; 2],
    pad_end: [usize; 2],
    dilation: [usize; 2],
    bias: bool,
    relu: bool,
}

fn conv_case(c: &ConvCase, seed: u64) {
    let mut r = rng(seed);
    let conv = Conv2d {
        window: Window {
            kernel: c.kernel,
            stride: c.stride,
            pad_begin: c.pad_begin,
            pad_end: c.pad_end,
            dilation: c.dilation,
            ceil_mode: false,
        },
        in_channels: c.cin,
        out_channels: c.cout,
        groups: 1,
        bias: c.bias,
        relu: c.relu,
        relu6: false,
    };
    let x_shape = [c.n, c.cin, c.hw[0], c.hw[1]];
    let out = conv.output_shape(&x_shape, c.what).expect("valid case");
    let x = uniform(&mut r, x_shape.iter().product());
    let w = uniform(&mut r, conv.weight_shape().iter().product());
    let b = uniform(&mut r, c.cout);
    let bias = c.bias.then_some(&b[..]);
    let y = baseline::conv2d(&conv, &x, x_shape, &w, bias, out);
    let reference =
        wgsl_nn::cpu::conv2d::conv2d(&conv, &RefTensor::from_f32(&x_shape, &x), &w, bias, out);
    let check = compare(&y, &reference);
    eprintln!("{}: {x_shape:?} -> {out:?}: {}", c.what, check.summary());
    assert_passes(c.what, &check);
    // The packed AVX-512 path (the one `run`'s baseline takes where the CPU
    // has it), into a NaN-filled output so an unwritten element fails.
    // Both tiles (8 x 32, and the wide 32 x 14 that `run` picks for
    // stride-1 convs), each alone and with a residual added before the
    // ReLU as a fused Add does.
    let [cout, cin, kh, kw] = conv.weight_shape();
    let residual = uniform(&mut r, y.len());
    let plain = Conv2d {
        relu: false,
        ..conv
    };
    let with_residual = {
        let pre =
            wgsl_nn::cpu::conv2d::conv2d(&plain, &RefTensor::from_f32(&x_shape, &x), &w, bias, out);
        let sum = wgsl_nn::cpu::sequence::add(&pre, &RefTensor::from_f32(&out, &residual));
        if c.relu {
            sum.relu()
        } else {
            sum
        }
    };
    type Pack = fn(&[f32], usize, usize) -> Option<baseline::packed::PackedWeights>;
    let packs: [(&str, Pack); 2] = [
        ("packed", baseline::packed::PackedWeights::new),
        ("packed wide", baseline::packed::PackedWeights::new_wide),
    ];
    for (name, pack) in packs {
        let Some(pw) = pack(&w, cout, cin * kh * kw) else {
            eprintln!("  {name}: not run (this CPU has no AVX-512)");
            continue;
        };
        for (res, expect) in [(None, &reference), (Some(&residual[..]), &with_residual)] {
            let mut yp = vec![f32::NAN; y.len()];
            let clamp = c.relu.then_some((0.0, f32::INFINITY));
            baseline::conv2d_packed_into(&plain, &pw, &x, x_shape, bias, out, clamp, res, &mut yp);
            let check = compare(&yp, expect);
            eprintln!("  {name}, residual {}: {}", res.is_some(), check.summary());
            assert_passes(c.what, &check);
        }
    }
}

#[test]
fn conv2d_cases() {
    let _g = serial();
    let base = ConvCase {
        what: "",
        n: 1,
        cin: 3,
        cout: 4,
        hw: [9, 9],
        kernel: [3, 3],
        stride: [1, 1],
        pad_begin: [0, 0],
        pad_end: [0, 0],
        dilation: [1, 1],
        bias: true,
        relu: false,
    };
    let cases = [
        ConvCase {
            what: "1x1 stride 1 (no im2col), batch 3",
            n: 3,
            cin: 17,
            cout: 5,
            hw: [7, 11],
            kernel: [1, 1],
            relu: true,
            ..base
        },
        ConvCase {
            what: "1x1 stride 2",
            n: 2,
            cin: 8,
            cout: 3,
            hw: [9, 8],
            kernel: [1, 1],
            stride: [2, 2],
            ..base
        },
        ConvCase {
            what: "1x1 strides 2 x 3, padded unevenly (phase (0, 0) alone copied)",
            n: 2,
            cin: 5,
            cout: 9,
            hw: [11, 10],
            kernel: [1, 1],
            stride: [2, 3],
            pad_begin: [1, 2],
            pad_end: [2, 0],
            ..base
        },
        ConvCase {
            what: "3x3 pad 1, 72 channels (two wide panels and a part), batch 3",
            n: 3,
            cin: 7,
            cout: 72,
            hw: [13, 11],
            pad_begin: [1, 1],
            pad_end: [1, 1],
            relu: true,
            ..base
        },
        ConvCase {
            what: "5x3 dilated, 32 channels, rows longer than a column block, batch 2",
            n: 2,
            cin: 4,
            cout: 32,
            hw: [9, 70],
            kernel: [5, 3],
            dilation: [2, 1],
            pad_begin: [2, 0],
            pad_end: [3, 1],
            ..base
        },
        ConvCase {
            what: "1x1 padded",
            cin: 5,
            cout: 2,
            kernel: [1, 1],
            pad_begin: [1, 0],
            pad_end: [0, 2],
            ..base
        },
        ConvCase {
            what: "3x3 pad 1",
            pad_begin: [1, 1],
            pad_end: [1, 1],
            relu: true,
            ..base
        },
        ConvCase {
            what: "stride 3 > kernel 2, batch 2",
            n: 2,
            cin: 4,
            cout: 6,
            hw: [17, 13],
            kernel: [2, 2],
            stride: [3, 3],
            bias: false,
            ..base
        },
        ConvCase {
            what: "dilation, asymmetric padding",
            cin: 2,
            cout: 5,
            hw: [13, 19],
            kernel: [3, 5],
            stride: [2, 1],
            pad_begin: [0, 2],
            pad_end: [3, 1],
            dilation: [2, 3],
            relu: true,
            ..base
        },
        ConvCase {
            what: "7x7 stride 2 stem, batch 5",
            n: 5,
            cin: 3,
            cout: 8,
            hw: [31, 29],
            kernel: [7, 7],
            stride: [2, 2],
            pad_begin: [3, 3],
            pad_end: [3, 3],
            ..base
        },
        ConvCase {
            what: "kernel fills the input",
            n: 2,
            cin: 3,
            cout: 7,
            hw: [5, 4],
            kernel: [5, 4],
            ..base
        },
        ConvCase {
            what: "one-pixel-high input",
            cin: 3,
            cout: 2,
            hw: [1, 23],
            kernel: [1, 3],
            pad_begin: [0, 1],
            pad_end: [0, 1],
            ..base
        },
        ConvCase {
            what: "padding wider than the stride walk",
            cin: 2,
            cout: 3,
            hw: [3, 3],
            kernel: [2, 2],
            stride: [4, 4],
            pad_begin: [3, 3],
            pad_end: [3, 3],
            ..base
        },
        // 144 x 16384 lowered values: more than one band of output pixels.
        ConvCase {
            what: "banded im2col",
            cin: 16,
            cout: 8,
            hw: [128, 128],
            pad_begin: [1, 1],
            pad_end: [1, 1],
            relu: true,
            ..base
        },
        // The packed path's edges: K over one block (1024 rows), channels
        // not a multiple of its 8-row panels, columns crossing images and
        // the padded width, a 1x1 input.
        ConvCase {
            what: "K in three blocks, 13 channels, batch 3",
            n: 3,
            cin: 230,
            cout: 13,
            hw: [5, 4],
            pad_begin: [1, 1],
            pad_end: [1, 1],
            relu: true,
            ..base
        },
        ConvCase {
            what: "stride 2 3x3, K over a block, batch 2",
            n: 2,
            cin: 120,
            cout: 17,
            hw: [15, 14],
            stride: [2, 2],
            pad_begin: [1, 1],
            pad_end: [1, 1],
            ..base
        },
        ConvCase {
            what: "1x1 input, 1x1 kernel, batch 37",
            n: 37,
            cin: 9,
            cout: 11,
            hw: [1, 1],
            kernel: [1, 1],
            ..base
        },
        ConvCase {
            what: "wide output row, 40 channels",
            n: 1,
            cin: 5,
            cout: 40,
            hw: [3, 101],
            pad_begin: [1, 1],
            pad_end: [1, 1],
            relu: true,
            ..base
        },
        // The exercise's stack, first layer.
        ConvCase {
            what: "exercise layer 1, batch 2",
            n: 2,
            cin: 3,
            cout: 16,
            hw: [128, 128],
            stride: [2, 2],
            ..base
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        conv_case(c, 100 + i as u64);
    }
}

/// Depthwise convs (`depthwise_into`, the CPU baseline of MobileNet's
/// grouped layers) against the f64 reference, on both paths (AVX-512
/// where the CPU has it, and the portable one), into NaN-filled outputs:
/// channels around the 16-lane block (2, 15, 16, 17, 40), strides 1-3,
/// dilation, asymmetric padding, 1x1 to 5x7 kernels, batches, a plane
/// taller than one band of rows, the fused clamp (ReLU6) and ReLU, and an
/// input poisoned with NaN at one pixel that must reach its outputs.
#[test]
fn depthwise_cases() {
    let _g = serial();
    // (what, n, c, [h, w], kernel, stride, pad_begin, pad_end, dilation, clamp)
    type Case = (
        &'static str,
        usize,
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 2],
        [usize; 2],
        [usize; 2],
        [usize; 2],
        Option<(f32, f32)>,
    );
    let relu6 = Some((0.0, 6.0));
    #[rustfmt::skip]
    let cases: [Case; 12] = [
        ("mobilenet 3x3 s1", 1, 32, [14, 14], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], relu6),
        ("mobilenet 3x3 s2", 2, 24, [15, 16], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], relu6),
        ("two channels", 1, 2, [5, 6], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], None),
        ("15 channels", 3, 15, [7, 7], [3, 3], [1, 1], [0, 0], [0, 0], [1, 1], None),
        ("16 channels", 1, 16, [9, 4], [3, 3], [2, 1], [1, 0], [0, 2], [1, 1], None),
        ("17 channels, dilated", 2, 17, [11, 13], [3, 3], [1, 1], [2, 2], [2, 2], [2, 2], relu6),
        ("40 channels, 5x7, stride 3", 1, 40, [17, 19], [5, 7], [3, 3], [2, 3], [1, 0], [1, 1], None),
        ("1x1 kernel", 2, 20, [6, 5], [1, 1], [1, 1], [0, 0], [0, 0], [1, 1], None),
        ("1x1 plane", 5, 33, [1, 1], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], relu6),
        ("wide plane, many bands", 1, 18, [130, 131], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], relu6),
        ("ReLU", 1, 19, [8, 8], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], Some((0.0, f32::INFINITY))),
        ("padding only past the end", 1, 16, [4, 4], [2, 2], [2, 2], [0, 0], [3, 3], [1, 1], None),
    ];
    for (i, &(what, n, c, hw, kernel, stride, pad_begin, pad_end, dilation, clamp)) in
        cases.iter().enumerate()
    {
        let mut r = rng(900 + i as u64);
        let mut conv = Conv2d::new(c, c, 1).groups(c);
        conv.window = Window {
            kernel,
            stride,
            pad_begin,
            pad_end,
            dilation,
            ceil_mode: false,
        };
        assert!(baseline::depthwise_applies(&conv));
        let xs = [n, c, hw[0], hw[1]];
        let os = conv.output_shape(&xs, what).expect("valid case");
        let mut x = uniform(&mut r, xs.iter().product());
        // Scaled so a ReLU6 clips some outputs at both ends.
        x.iter_mut().for_each(|v| *v *= 8.0);
        // The first case's NaN pixel must reach exactly the outputs whose
        // windows hold it (`compare` requires non-finite values to match).
        if i == 0 {
            x[3 * hw[1] + 4] = f32::NAN;
        }
        let w = uniform(&mut r, c * kernel[0] * kernel[1]);
        let b = uniform(&mut r, c);
        let mut reference =
            wgsl_nn::cpu::conv2d::conv2d(&conv, &RefTensor::from_f32(&xs, &x), &w, Some(&b), os);
        // As ONNX's Clip: NaN stays NaN; exact, so the bounds carry.
        clamp_ref(&mut reference, clamp);
        let len: usize = os.iter().product();
        for path in ["avx512 where the CPU has it", "portable"] {
            let mut y = vec![f32::NAN; len];
            if path == "portable" {
                baseline::depthwise_portable_into(&conv, &x, xs, &w, Some(&b), os, clamp, &mut y);
            } else {
                baseline::depthwise_into(&conv, &x, xs, &w, Some(&b), os, clamp, &mut y);
            }
            let check = compare(&y, &reference);
            eprintln!(
                "depthwise {what} ({path}): {xs:?} -> {os:?}: {}",
                check.summary()
            );
            assert_passes(what, &check);
        }
    }
}

// ------------------------------------------------------------- attention

/// Which keys a case hides besides the causal mask.
#[derive(Clone, Copy)]
enum KeyMask {
    None,
    /// About a quarter of keys hidden at random.
    Random,
    /// Random, and every key of batch `usize` hidden.
    AllOf(usize),
}

fn key_mask(kind: KeyMask, b: usize, s: usize, r: &mut Rng64) -> Option<Vec<f32>> {
    let all = match kind {
        KeyMask::None => return None,
        KeyMask::Random => usize::MAX,
        KeyMask::AllOf(bb) => bb,
    };
    Some(
        (0..b * s)
            .map(|i| {
                if i / s == all || r.random_range(0..4) == 0 {
                    0.0
                } else {
                    1.0
                }
            })
            .collect(),
    )
}

/// Checks every row, or `sample` rows (first, last and random) when given.
fn attn_case(
    what: &str,
    (b, l, s, heads, d): (usize, usize, usize, usize, usize),
    causal: bool,
    mask: KeyMask,
    sample: Option<usize>,
    seed: u64,
) {
    let mut r = rng(seed);
    let w = heads * d;
    let scaled = |r: &mut Rng64, n: usize| {
        uniform(r, n)
            .into_iter()
            .map(|x| 2.0 * x)
            .collect::<Vec<_>>()
    };
    let q = scaled(&mut r, b * l * w);
    let k = scaled(&mut r, b * s * w);
    let v = uniform(&mut r, b * s * w);
    let keys = key_mask(mask, b, s, &mut r);
    let shape = AttentionShape {
        batch: b,
        queries: l,
        keys: s,
        heads,
        head_dim: d,
    };
    let t = Instant::now();
    let y = baseline::attention(&q, &k, &v, shape, causal, keys.as_deref());
    let took = t.elapsed().as_secs_f64();
    let masks = Masks {
        causal,
        keys: keys.as_deref(),
    };
    let (qr, kr, vr) = (
        RefTensor::from_f32(&[b, l, w], &q),
        RefTensor::from_f32(&[b, s, w], &k),
        RefTensor::from_f32(&[b, s, w], &v),
    );
    let (got, reference) = match sample {
        None => (y, sdpa(&qr, &kr, &vr, heads, &masks, Order::Stored)),
        Some(count) => {
            let mut rows = vec![(0, 0), (b - 1, l - 1)];
            rows.extend((0..count).map(|_| (r.random_range(0..b), r.random_range(0..l))));
            let got = rows
                .iter()
                .flat_map(|&(bb, i)| y[(bb * l + i) * w..(bb * l + i + 1) * w].iter().copied())
                .collect();
            (
                got,
                sdpa_rows(&qr, &kr, &vr, heads, &masks, Order::Stored, &rows),
            )
        }
    };
    let check = compare(&got, &reference);
    eprintln!(
        "{what}: B {b} L {l} S {s} H {heads} d {d} causal {causal}: {:.3} s ({:.1} GFLOP/s counting 4 B H L S d); {}",
        took,
        shape.core_flops() as f64 / took / 1e9,
        check.summary()
    );
    assert_passes(what, &check);
}

#[test]
fn attention_cases() {
    let _g = serial();
    use KeyMask::*;
    attn_case(
        "one query, one key",
        (1, 1, 1, 1, 1),
        false,
        None,
        Option::None,
        300,
    );
    attn_case(
        "L = 1 against 17 keys",
        (2, 1, 17, 3, 8),
        false,
        Random,
        Option::None,
        301,
    );
    attn_case(
        "causal, square",
        (1, 5, 5, 2, 4),
        true,
        None,
        Option::None,
        302,
    );
    attn_case(
        "key mask, batch 1 all hidden",
        (3, 37, 19, 4, 16),
        false,
        AllOf(1),
        Option::None,
        303,
    );
    attn_case(
        "causal, L < S, key mask",
        (2, 257, 300, 2, 32),
        true,
        Random,
        Option::None,
        304,
    );
    attn_case(
        "causal, L > S, batch 0 all hidden",
        (2, 130, 70, 1, 64),
        true,
        AllOf(0),
        Option::None,
        305,
    );
    attn_case(
        "several row blocks",
        (1, 300, 1000, 2, 64),
        false,
        None,
        Option::None,
        306,
    );
    attn_case(
        "odd head size",
        (2, 65, 129, 3, 13),
        true,
        None,
        Option::None,
        307,
    );
}

#[test]
fn attention_long_sequence() {
    let _g = serial();
    // [rows, S] score blocks keep this to a few MiB beyond Q, K, V and the
    // output; the reference checks a sample of rows.
    attn_case(
        "L = S = 8192",
        (1, 8192, 8192, 2, 64),
        false,
        KeyMask::Random,
        Some(14),
        400,
    );
    attn_case(
        "L = S = 8192, causal",
        (1, 8192, 8192, 1, 64),
        true,
        KeyMask::None,
        Some(14),
        401,
    );
}

// ------------------------------------------------------------ throughput

/// The baseline at the sizes the benchmarks time: its output checked on 8
/// rows against the reference (its speed is printed for information; speed
/// targets live in BENCHMARKS.md, not in tests).
#[test]
fn baseline_matmul_at_benchmark_sizes_matches_the_reference() {
    let _g = serial();
    let mut r = rng(7);
    for size in [1024, 2048] {
        let a = uniform(&mut r, size * size);
        let b = uniform(&mut r, size * size);
        let mut c = vec![0.0; size * size];
        let mm = Matmul::square(size);
        let v = View::dense(size, size, false);
        baseline::matmul(&mm, &a, v, &b, v, None, &mut c, v); // warm-up
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                baseline::matmul(&mm, &a, v, &b, v, None, &mut c, v);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let rows: Vec<usize> = (0..8).map(|i| i * (size - 1) / 7).collect();
        let sub_a: Vec<f32> = rows
            .iter()
            .flat_map(|&r| a[r * size..(r + 1) * size].iter().copied())
            .collect();
        let mut reference = RefTensor::zeros(&[8, size]);
        wgsl_nn::cpu::matmul::matmul_into(
            &Matmul { m: 8, ..mm.clone() },
            (
                &RefTensor::from_f32(&[8, size], &sub_a),
                View::dense(8, size, false),
            ),
            (&RefTensor::from_f32(&[size, size], &b), v),
            None,
            (&mut reference, View::dense(8, size, false)),
        );
        let got: Vec<f32> = rows
            .iter()
            .flat_map(|&r| c[r * size..(r + 1) * size].iter().copied())
            .collect();
        let check = compare(&got, &reference);
        assert!(
            check.passed,
            "baseline {size}^3 (8 rows): {}",
            check.summary()
        );
        eprintln!(
            "baseline matmul {size}^3 f32 on {} threads: median {:.2} ms, {:.1} GFLOP/s",
            rayon::current_num_threads(),
            median * 1e3,
            mm.flops() as f64 / median / 1e9
        );
    }
}

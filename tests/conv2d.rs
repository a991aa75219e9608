//! conv2d on the adapter against the f64 reference: seeded random shapes
//! and the edge cases (1x1, odd sizes, stride > kernel, dilation, batch,
//! channel counts that are multiples of nothing, 'same' with even kernels).

mod common;
use common::*;
use rand::Rng;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::{self, RefTensor};
use wgsl_nn::geometry::Window;
use wgsl_nn::gpu::Plan;
use wgsl_nn::ops::conv2d::{conv2d_forward, Conv2d};
use wgsl_nn::rung::{ConvRung, Kernels, Rung};

#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    p_end: [usize; 2],
    d: [usize; 2],
    groups: usize,
    bias: bool,
    relu: bool,
    /// ReLU6 instead (the inputs scaled so that outputs pass 6).
    relu6: bool,
}

impl Case {
    fn conv(&self) -> Conv2d {
        Conv2d {
            window: Window {
                kernel: self.k,
                stride: self.s,
                pad_begin: self.p,
                pad_end: self.p_end,
                dilation: self.d,
                ceil_mode: false,
            },
            in_channels: self.cin,
            out_channels: self.cout,
            groups: self.groups,
            bias: self.bias,
            relu: self.relu || self.relu6,
            relu6: self.relu6,
        }
    }
}

fn run_case(c: Case, seed: u64, integer: bool) {
    let conv = c.conv();
    let shape = [c.n, c.cin, c.h, c.w];
    let out = conv.output_shape(&shape, "case").expect("valid case");
    let mut r = rng(seed);
    let gen = |r: &mut Rng64, n| {
        if integer {
            integers(r, n)
        } else {
            uniform(r, n)
        }
    };
    let x = gen(&mut r, shape.iter().product());
    let w = gen(&mut r, conv.weight_shape().iter().product());
    let b = gen(&mut r, c.cout);
    let (xt, wt, bt) = (
        upload("x", &shape, &x),
        upload("w", &conv.weight_shape(), &w),
        upload("b", &[c.cout], &b),
    );
    let mut plan = Plan::new();
    let y = conv2d_forward(
        gpu(),
        &mut plan,
        "conv",
        &conv,
        &xt,
        &wt,
        c.bias.then_some(&bt),
    )
    .expect("plan");
    let got = run(&plan, &y);
    let reference = cpu::conv2d::conv2d(
        &conv,
        &RefTensor::from_f32(&shape, &x),
        &w,
        c.bias.then_some(&b[..]),
        out,
    );
    assert_passes(&format!("{c:?} seed {seed}"), &compare(&got, &reference));
    if integer {
        assert!(
            exact(&got, &reference),
            "integer inputs must give exact results: {c:?}"
        );
    }
}

// Test-case builders: each argument is one dimension of the case.
#[allow(clippy::too_many_arguments)]
fn case(
    n: usize,
    cin: usize,
    cout: usize,
    hw: [usize; 2],
    k: usize,
    s: usize,
    p: usize,
    d: usize,
) -> Case {
    Case {
        n,
        cin,
        cout,
        h: hw[0],
        w: hw[1],
        k: [k; 2],
        s: [s; 2],
        p: [p; 2],
        p_end: [p; 2],
        d: [d; 2],
        groups: 1,
        bias: true,
        relu: false,
        relu6: false,
    }
}

#[test]
fn edge_cases_match_the_reference() {
    let mut cases = vec![
        case(1, 1, 1, [1, 1], 1, 1, 0, 1),     // 1x1 everything
        case(1, 3, 5, [7, 9], 1, 1, 0, 1),     // 1x1 conv, odd sizes
        case(2, 3, 7, [13, 11], 3, 1, 1, 1),   // batch > 1, primes
        case(1, 2, 3, [17, 17], 2, 5, 0, 1),   // stride > kernel
        case(1, 4, 3, [19, 23], 3, 2, 2, 3),   // dilation 3, padding
        case(3, 1, 1, [128, 128], 3, 2, 0, 1), // the exercise's first layer
        case(1, 17, 19, [9, 9], 5, 1, 2, 1),   // channels multiples of nothing
        case(1, 2, 2, [5, 6], 5, 3, 4, 1),     // padding nearly the kernel
    ];
    // Asymmetric kernel and stride, no bias, fused ReLU.
    let mut c = case(2, 3, 4, [10, 15], 1, 1, 0, 1);
    c.k = [3, 5];
    c.s = [2, 1];
    c.p = [1, 2];
    c.p_end = [1, 2];
    c.bias = false;
    c.relu = true;
    cases.push(c);
    // padding='same' with an even kernel: PyTorch pads one more at the end.
    let mut c = case(1, 2, 3, [8, 7], 4, 1, 0, 1);
    c.p = [1, 1];
    c.p_end = [2, 2];
    cases.push(c);
    for (i, c) in cases.into_iter().enumerate() {
        run_case(c, 100 + i as u64, false);
        run_case(c, 200 + i as u64, true);
    }
}

#[test]
fn random_shapes_match_the_reference() {
    let mut r = rng(7);
    for i in 0..40 {
        let k: usize = r.random_range(1..=5);
        let d: usize = r.random_range(1..=3);
        let eff = d * (k - 1) + 1;
        let p = r.random_range(0..=eff / 2 + 1);
        let h = r.random_range(eff.saturating_sub(2 * p).max(1)..=eff + 20);
        let w = r.random_range(eff.saturating_sub(2 * p).max(1)..=eff + 20);
        let c = Case {
            n: r.random_range(1..=3),
            cin: r.random_range(1..=9),
            cout: r.random_range(1..=9),
            h,
            w,
            k: [k, k],
            s: [r.random_range(1..=4), r.random_range(1..=4)],
            p: [p, p],
            p_end: [p, p],
            d: [d, d],
            groups: 1,
            bias: r.random_bool(0.7),
            relu: r.random_bool(0.3),
            relu6: i % 5 == 2,
        };
        let mut c = c;
        if i % 4 == 1 {
            let g = r.random_range(2..=4);
            (c.groups, c.cin, c.cout) = (g, g * c.cin.div_ceil(3), g * c.cout.div_ceil(3));
        }
        run_case(c, 1000 + i, i % 3 == 0);
    }
}

#[test]
fn nan_and_inf_inputs_propagate_as_in_the_reference() {
    let mut c = case(1, 2, 2, [6, 6], 3, 1, 1, 1);
    c.relu = true;
    let conv = c.conv();
    let shape = [1, 2, 6, 6];
    let mut x = uniform(&mut rng(3), 72);
    x[7] = f32::NAN;
    x[40] = f32::INFINITY;
    let w = vec![0.5; 36];
    let b = vec![0.1, -0.1];
    let mut plan = Plan::new();
    let y = conv2d_forward(
        gpu(),
        &mut plan,
        "conv",
        &conv,
        &upload("x", &shape, &x),
        &upload("w", &[2, 2, 3, 3], &w),
        Some(&upload("b", &[2], &b)),
    )
    .unwrap();
    let got = run(&plan, &y);
    let reference = cpu::conv2d::conv2d(
        &conv,
        &RefTensor::from_f32(&shape, &x),
        &w,
        Some(&b),
        [1, 2, 6, 6],
    );
    assert!(
        reference.val.iter().any(|v| v.is_nan()) && reference.val.iter().any(|v| v.is_infinite())
    );
    assert_passes("NaN/Inf propagation", &compare(&got, &reference));
}

#[test]
fn a_wrong_weight_shape_is_an_error_not_a_panic() {
    let mut c = case(1, 2, 3, [6, 6], 3, 1, 1, 1);
    c.bias = false;
    let conv = c.conv();
    let mut plan = Plan::new();
    let e = conv2d_forward(
        gpu(),
        &mut plan,
        "layer 1",
        &conv,
        &upload("x", &[1, 2, 6, 6], &[0.0; 72]),
        &upload("w", &[3, 2, 3, 2], &[0.0; 36]),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("layer 1") && e.contains("weight") && e.contains("[3, 2, 3, 3]"),
        "{e}"
    );
    let e = conv2d_forward(
        gpu(),
        &mut plan,
        "layer 1",
        &conv,
        &upload("x", &[1, 3, 6, 6], &[0.0; 108]),
        &upload("w", &[3, 2, 3, 3], &[0.0; 54]),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("3 channels"), "{e}");
}

/// Every rung of the conv ladder against the reference (1x1 convs go
/// through the matmul ladder as a plain product).
#[test]
fn every_conv_rung_matches_the_reference() {
    let g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let cases = [
        case(2, 3, 7, [13, 11], 3, 1, 1, 1),
        case(1, 5, 6, [9, 10], 1, 1, 0, 1),
        case(3, 4, 5, [7, 7], 1, 1, 0, 1),
        case(1, 2, 3, [17, 17], 2, 5, 0, 1),
        case(1, 4, 9, [19, 23], 3, 2, 2, 3),
        case(1, 1, 1, [1, 1], 1, 1, 0, 1),
    ];
    for kernel in ConvRung::names() {
        for (i, mut c) in cases.into_iter().enumerate() {
            // ReLU, ReLU6 and none in turn, each case on a different one
            // per rung.
            c.relu = i % 3 == 0;
            c.relu6 = i % 3 == 1;
            let ran = check_on(&g, kernel, c, 1500 + i as u64);
            let want = expected_entry(&g, kernel, c);
            assert!(
                ran.iter().any(|l| l.contains(&format!("[{want}"))),
                "forced {kernel}: expected {want} to run, ran {ran:?}"
            );
        }
    }
}

/// A strided, unpadded 1x1 conv with no conv rung forced reads its pixels
/// out (a strided map) and multiplies them on the matmul rung chosen, the
/// texture rung included (what `run` picks for resnet's downsample and
/// mobilenet_v2's small 1x1 convs on lavapipe); odd sizes and strides 2 x 3
/// leave pixels the copy must skip.
#[test]
fn strided_one_by_one_convs_read_their_pixels_then_multiply() {
    let g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let mut c = case(2, 12, 20, [11, 14], 1, 2, 0, 1);
    c.s = [2, 3];
    // 50 x 45 output pixels: B's rows of 563 texels wrap at the texture
    // rung's 512.
    let wide = case(1, 8, 16, [100, 90], 1, 2, 0, 1);
    let runs = [("naive", c), ("rb4", c), ("tex", c), ("tex", wide)];
    for (i, (matmul, mut c)) in runs.into_iter().enumerate() {
        c.relu = i == 1;
        let kernels = Kernels::default().with_name("matmul", matmul).unwrap();
        let ran = check_with(&g, kernels, matmul, c, 1600 + i as u64);
        assert!(
            ran[0].contains("pixels read") && ran[0].contains("[strided_map]"),
            "{matmul}: {ran:?}"
        );
        assert!(
            !ran.iter().any(|l| l.contains("[conv2d_")),
            "{matmul}: {ran:?}"
        );
    }
}

/// Grouped convs (PyTorch's groups, depthwise included) on every rung: the
/// block rungs hand them to direct/row4, whose group offsets must pick the
/// right input planes and weights; integer inputs make the results exact.
/// A long channel loop split into parts (ci0..ci1) must stay inside a group.
#[test]
fn grouped_and_depthwise_convs_match_the_reference() {
    let g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let grouped = |n, cin, cout, hw, k, s, p, d, groups| Case {
        groups,
        ..case(n, cin, cout, hw, k, s, p, d)
    };
    let cases = [
        grouped(2, 6, 6, [11, 9], 3, 1, 1, 1, 6),  // depthwise
        grouped(1, 4, 12, [13, 7], 3, 2, 1, 1, 4), // depthwise, multiplier 3
        grouped(2, 6, 9, [9, 10], 2, 1, 0, 2, 3),  // 3 groups of 2 -> 3
        grouped(1, 8, 4, [7, 7], 1, 1, 0, 1, 2),   // grouped 1x1 (not a plain gemm)
        grouped(1, 5, 5, [1, 1], 1, 1, 0, 1, 5),
        grouped(1, 64, 64, [5, 6], 3, 1, 1, 1, 2), // 32 channels per group
    ];
    for kernel in ConvRung::names() {
        for (i, mut c) in cases.into_iter().enumerate() {
            c.relu = i % 3 == 1;
            c.relu6 = i % 3 == 2;
            let labels = check_on(&g, kernel, c, 1600 + i as u64);
            assert!(
                labels
                    .iter()
                    .all(|l| l.contains("(direct)") || l.contains("(row4)")),
                "{kernel}: a grouped conv ran on {labels:?}"
            );
        }
    }
    for (i, c) in cases.into_iter().enumerate() {
        run_case(c, 1700 + i as u64, true);
    }
    // Depthwise by hand: channel c's 1x1 filter is c + 1, so y[c] = (c + 1) x[c].
    let conv = grouped(1, 3, 3, [2, 2], 1, 1, 0, 1, 3).conv();
    let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let mut plan = Plan::new();
    let y = conv2d_forward(
        gpu(),
        &mut plan,
        "dw",
        &Conv2d {
            bias: false,
            ..conv
        },
        &upload("x", &[1, 3, 2, 2], &x),
        &upload("w", &[3, 1, 1, 1], &[1.0, 2.0, 3.0]),
        None,
    )
    .unwrap();
    let want: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v * (i / 4 + 1) as f32)
        .collect();
    assert_eq!(run(&plan, &y), want);
    // groups must divide both channel counts.
    let bad = Conv2d {
        groups: 4,
        ..conv2d_of(6, 8)
    };
    let e = bad
        .output_shape(&[1, 6, 5, 5], "layer 3")
        .unwrap_err()
        .to_string();
    assert!(e.contains("groups=4") && e.contains("layer 3"), "{e}");
}

fn conv2d_of(cin: usize, cout: usize) -> Conv2d {
    case(1, cin, cout, [5, 5], 3, 1, 0, 1).conv()
}

/// Runs one case on `g` with its current kernel choice, checks it against
/// the reference, and returns the plan's step labels.
fn check_on(g: &wgsl_nn::gpu::Gpu, kernel: &str, c: Case, seed: u64) -> Vec<String> {
    let kernels = Kernels::default().with_name("conv2d", kernel).unwrap();
    check_with(g, kernels, kernel, c, seed)
}

/// `check_on` under any kernel choice (`what` names it in a failure).
fn check_with(
    g: &wgsl_nn::gpu::Gpu,
    kernels: Kernels,
    what: &str,
    c: Case,
    seed: u64,
) -> Vec<String> {
    let kernel = what;
    let conv = c.conv();
    let shape = [c.n, c.cin, c.h, c.w];
    let out = conv.output_shape(&shape, "case").unwrap();
    let mut r = rng(seed);
    // Under ReLU6, inputs up to 8 put many outputs past the cap.
    let scale = if c.relu6 { 8.0 } else { 1.0 };
    let (x, w, b) = (
        uniform(&mut r, shape.iter().product())
            .into_iter()
            .map(|v| v * scale)
            .collect::<Vec<f32>>(),
        uniform(&mut r, conv.weight_shape().iter().product()),
        uniform(&mut r, c.cout),
    );
    let up = |n: &str, s: &[usize], v: &[f32]| wgsl_nn::Tensor::upload(g, n, s, v).unwrap();
    let mut plan = Plan::with_kernels(kernels);
    let bt = up("b", &[c.cout], &b);
    let y = conv2d_forward(
        g,
        &mut plan,
        "conv",
        &conv,
        &up("x", &shape, &x),
        &up("w", &conv.weight_shape(), &w),
        c.bias.then_some(&bt),
    )
    .unwrap();
    g.run(&plan).unwrap();
    let reference = cpu::conv2d::conv2d(
        &conv,
        &RefTensor::from_f32(&shape, &x),
        &w,
        c.bias.then_some(&b[..]),
        out,
    );
    assert_passes(
        &format!("{kernel}: {c:?} ({})", plan.steps[0].label),
        &compare(&y.download(g).unwrap(), &reference),
    );
    plan.steps
        .iter()
        .map(|s| format!("{} [{}]", s.label, s.kernel.entry))
        .collect()
}

/// The entry point that must run when `kernel` is forced for a conv with
/// groups = 1: the rung's own, or its documented stand-in (gemm takes
/// 1x1 convs only and hands the rest to igemm; tex needs what
/// `conv2d_tex::unsupported` names, subgroups above all; unfold takes
/// groups = 1 within one binding).
fn expected_entry(g: &wgsl_nn::gpu::Gpu, kernel: &str, c: Case) -> &'static str {
    let conv = c.conv();
    let out = conv.output_shape(&[c.n, c.cin, c.h, c.w], "case").unwrap();
    let pointwise = conv.window.kernel == [1, 1]
        && conv.window.stride == [1, 1]
        && conv.window.pad_begin == [0, 0]
        && conv.window.pad_end == [0, 0];
    match kernel {
        "direct" => "conv2d_direct",
        "row4" => "conv2d_row4",
        "gemm" if pointwise => "matmul_",
        "igemm" | "gemm" => "conv2d_igemm",
        "tex" if wgsl_nn::ops::conv2d::tex::unsupported(g, &conv, &out).is_none() => "matmul_tex",
        "tex" => "conv2d_igemm",
        "unfold" if wgsl_nn::ops::conv2d::unfold::unsupported(g, &conv, &out).is_none() => {
            "conv2d_unfold"
        }
        "unfold" => "conv2d_igemm",
        other => panic!("no rung {other}"),
    }
}

/// The texture rung under a small max_texture_dimension_2d (64: textures
/// 64 texels wide, 4096 texels in all): images are unfolded a group at a
/// time into one reused texture, their rows wrapped across the texture's
/// (21 and 85 quads to a row of 64 texels), an image larger than a texture
/// a chunk of pixel quads at a time (the last chunk narrower, its last
/// quad part padding), the input from a texture where an image's channels
/// fit one and from its buffer where they do not.
#[test]
fn texture_rung_groups_images_and_falls_back_to_buffer_reads() {
    let mut g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    if !g.features.contains(wgpu::Features::SUBGROUP) {
        // Without subgroups the rung falls back to igemm; still checked.
        eprintln!("adapter has no subgroups: the tex rung falls back");
    }
    g.limits.max_texture_dimension_2d = 64;
    // 5 x 9 taps pad to Kp = 48, 21 quads an image: four images to a
    // texture (4032 texels), then one.
    let grouped = check_on(&g, "tex", case(5, 5, 6, [9, 9], 3, 1, 1, 1), 1601);
    // 5 channels of 31 x 31 exceed 4096 texels: unfolded from the buffer,
    // 241 quads of 48 rows in chunks of 85.
    let buffered = check_on(&g, "tex", case(2, 5, 7, [31, 31], 3, 1, 1, 1), 1602);
    // 31 x 41 = 1271 pixels, 318 quads of Kp = 20 rows: chunks of 4096 / 20
    // = 204 quads and 114, from the input's texture (2 x 31 rows).
    let chunked = check_on(&g, "tex", case(2, 2, 4, [31, 41], 3, 1, 1, 1), 1603);
    if g.features.contains(wgpu::Features::SUBGROUP) {
        let unfolds = |l: &[String]| l.iter().filter(|s| s.contains("unfold")).count();
        assert_eq!(unfolds(&grouped), 2, "{grouped:?}");
        assert!(grouped.iter().any(|s| s.contains("unfold images 0..4")));
        assert!(grouped.iter().any(|s| s.contains("input texels")));
        assert_eq!(unfolds(&buffered), 6, "{buffered:?}");
        assert!(!buffered.iter().any(|s| s.contains("input texels")));
        let chunks: Vec<&String> = chunked.iter().filter(|s| s.contains("unfold")).collect();
        assert_eq!(chunks.len(), 4, "{chunked:?}");
        assert!(chunks[1].contains("pixels 816..1271"), "{chunks:?}");
        assert!(chunked.iter().any(|s| s.contains("input texels")));
    }
}

/// The unfold rung on an image whose unfolded input passes its 2 MiB cap
/// (64 channels x 3 x 3 taps over 31 x 33 pixels, 2.4 MB): unfolded a
/// chunk of pixel quads at a time, each chunk's product writing its
/// columns of the output, the last chunk part padding.
#[test]
fn unfold_rung_chunks_a_wide_image() {
    let g = common::gpu();
    let steps = check_on(g, "unfold", case(1, 64, 4, [31, 33], 3, 1, 1, 1), 1604);
    let chunks: Vec<&String> = steps.iter().filter(|s| s.contains("(unfold")).collect();
    assert_eq!(chunks.len(), 2, "{steps:?}");
    assert!(chunks[1].contains("pixels 908..1023"), "{chunks:?}");
}

/// On GPUs the tuner's `conv2d_large` pick rules layers of 256 MFLOP and
/// more and its `conv2d` pick the rest (lavapipe presented as a discrete
/// GPU here). Integer inputs: both must be exact.
#[test]
fn large_convs_on_gpus_take_the_large_pick() {
    let mut g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.info.device_type = wgpu::DeviceType::DiscreteGpu;
    g.set_tuned("conv2d", Some("direct"));
    g.set_tuned("conv2d_large", Some("igemm"));
    let mut r = rng(1600);
    let mut ran = |shape: [usize; 4], cout: usize| -> &'static str {
        let c = case(shape[0], shape[1], cout, [shape[2], shape[3]], 3, 1, 1, 1);
        let conv = c.conv();
        let out = conv.output_shape(&shape, "case").unwrap();
        let x = integers(&mut r, shape.iter().product());
        let w = integers(&mut r, conv.weight_shape().iter().product());
        let b = integers(&mut r, cout);
        let up = |n: &str, s: &[usize], v: &[f32]| wgsl_nn::Tensor::upload(&g, n, s, v).unwrap();
        let mut plan = Plan::new();
        let y = conv2d_forward(
            &g,
            &mut plan,
            "conv",
            &conv,
            &up("x", &shape, &x),
            &up("w", &conv.weight_shape(), &w),
            Some(&up("b", &[cout], &b)),
        )
        .unwrap();
        g.run(&plan).unwrap();
        let reference = cpu::conv2d::conv2d(
            &conv,
            &RefTensor::from_f32(&shape, &x),
            &w,
            Some(&b[..]),
            out,
        );
        assert!(exact(&y.download(&g).unwrap(), &reference), "{shape:?}");
        plan.steps
            .iter()
            .map(|s| s.kernel.entry)
            .find(|e| e.starts_with("conv2d_"))
            .unwrap_or("none")
    };
    // 2 x 64 x 64 x 64 outputs x 288 terms x 2: 302 MFLOP.
    assert_eq!(ran([2, 32, 64, 64], 64), "conv2d_igemm");
    assert_eq!(ran([1, 8, 16, 16], 8), "conv2d_direct");
}

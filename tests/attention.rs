//! The attention family on the adapter against the f64 reference: matrix
//! products, softmax (masks, all-masked rows, huge logits), layer norm,
//! residual add, RoPE, both attention paths (self and cross, causal, key
//! padding), a sequence only the fused path can hold, and a transformer
//! stack pre- and post-norm.

mod common;
use common::*;
use rand::Rng;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::attention::{self as cpu_attn, Masks, Order};
use wgsl_nn::cpu::{self, RefTensor};
use wgsl_nn::gpu::Plan;
use wgsl_nn::ops::add::add_forward;
use wgsl_nn::ops::attention::flash as attention_flash;
use wgsl_nn::ops::attention::{sdpa_forward, AttentionPath, AttentionShape};
use wgsl_nn::ops::layernorm::{layernorm_forward, EPS};
use wgsl_nn::ops::matmul::{linear, matmul_into, Activation, Matmul, View};
use wgsl_nn::ops::positional::{rope_forward, rope_tables};
use wgsl_nn::ops::softmax::{softmax_forward, Mask};
use wgsl_nn::rung::{AttentionRung, Kernels, MatmulRung, Rung, SoftmaxRung};
use wgsl_nn::Tensor;

// Test-case builders: each argument is one dimension of the case.
#[allow(clippy::too_many_arguments)]
fn mm_case(
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    ta: bool,
    tb: bool,
    bias: bool,
    act: Activation,
    seed: u64,
    integer: bool,
) {
    let mut r = rng(seed);
    let gen = |r: &mut Rng64, n| {
        if integer {
            integers(r, n)
        } else {
            uniform(r, n)
        }
    };
    let a = gen(&mut r, batch * m * k);
    let b = gen(&mut r, batch * k * n);
    let bv = gen(&mut r, n);
    let (a_shape, b_shape) = (
        if ta { [batch, k, m] } else { [batch, m, k] },
        if tb { [batch, n, k] } else { [batch, k, n] },
    );
    let av = if ta {
        View::dense(k, m, false)
    } else {
        View::dense(m, k, false)
    };
    let bvw = if tb {
        View::dense(n, k, false)
    } else {
        View::dense(k, n, false)
    };
    let mm = Matmul {
        m,
        n,
        k,
        batches: [batch, 1],
        trans_a: ta,
        trans_b: tb,
        bias,
        act,
        alpha: if integer { 1.0 } else { 0.75 },
    };
    let c = Tensor::poisoned(gpu(), "C", &[batch, m, n]).unwrap();
    let bt = upload("bias", &[n], &bv);
    let mut plan = Plan::new();
    matmul_into(
        gpu(),
        &mut plan,
        "mm",
        &mm,
        (&upload("A", &a_shape, &a), av),
        (&upload("B", &b_shape, &b), bvw),
        bias.then_some(&bt),
        (&c, View::dense(m, n, false)),
    )
    .unwrap();
    let got = run(&plan, &c);
    let mut reference = RefTensor::zeros(&[batch, m, n]);
    cpu::matmul::matmul_into(
        &mm,
        (&RefTensor::from_f32(&a_shape, &a), av),
        (&RefTensor::from_f32(&b_shape, &b), bvw),
        bias.then_some(&bv[..]),
        (&mut reference, View::dense(m, n, false)),
    );
    assert_passes(&format!("matmul {mm:?}"), &compare(&got, &reference));
    if integer && act != Activation::Gelu {
        assert!(
            exact(&got, &reference),
            "integer matmul must be exact: {mm:?}"
        );
    }
}

#[test]
fn matmul_edge_sizes_transposes_bias_and_activations() {
    let acts = [Activation::None, Activation::Relu, Activation::Gelu];
    let sizes = [
        (1, 1, 1),
        (1, 7, 3),
        (5, 1, 9),
        (3, 5, 2),
        (13, 17, 19),
        (31, 4, 64),
        (257, 3, 5),
        (4, 257, 33),
    ];
    let mut seed = 500;
    for (i, &(m, n, k)) in sizes.iter().enumerate() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            seed += 1;
            mm_case(
                m,
                n,
                k,
                1 + i % 3,
                ta,
                tb,
                i % 2 == 0,
                acts[i % 3],
                seed,
                false,
            );
            mm_case(
                m,
                n,
                k,
                1,
                ta,
                tb,
                true,
                Activation::None,
                seed + 1000,
                true,
            );
        }
    }
}

#[test]
fn matmul_long_reduction_uses_a_scaled_tolerance() {
    // K = 65536 tests the error bound's growth with the reduction length.
    mm_case(
        2,
        3,
        65536,
        1,
        false,
        false,
        true,
        Activation::None,
        77,
        false,
    );
    mm_case(
        3,
        2,
        4099,
        2,
        true,
        true,
        false,
        Activation::Gelu,
        78,
        false,
    );
}

#[test]
fn linear_layer_matches_the_reference() {
    let mut r = rng(90);
    let (x, w, b) = (
        uniform(&mut r, 2 * 7 * 11),
        uniform(&mut r, 11 * 13),
        uniform(&mut r, 13),
    );
    let mut plan = Plan::new();
    let y = linear(
        gpu(),
        &mut plan,
        "lin",
        &upload("x", &[2, 7, 11], &x),
        &upload("w", &[11, 13], &w),
        Some(&upload("b", &[13], &b)),
        Activation::Gelu,
    )
    .unwrap();
    assert_eq!(y.shape, [2, 7, 13]);
    let got = run(&plan, &y);
    let reference = cpu::matmul::linear(
        &RefTensor::from_f32(&[2, 7, 11], &x),
        &w,
        11,
        13,
        Some(&b),
        Activation::Gelu,
    );
    assert_passes("linear", &compare(&got, &reference));
    let mut plan = Plan::new();
    let e = linear(
        gpu(),
        &mut plan,
        "layer 3",
        &upload("x", &[2, 7, 11], &x),
        &upload("w", &[12, 13], &vec![0.0; 156]),
        None,
        Activation::None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("layer 3") && e.contains("11 features"), "{e}");
}

fn softmax_case(
    k: Kernels,
    shape: [usize; 4],
    causal: bool,
    key_mask: Option<Vec<f32>>,
    x: Vec<f32>,
    what: &str,
) -> Vec<f32> {
    let mt = key_mask
        .as_ref()
        .map(|m| upload("mask", &[shape[0], shape[3]], m));
    let mut plan = Plan::with_kernels(k);
    let y = softmax_forward(
        gpu(),
        &mut plan,
        what,
        &upload("x", &shape, &x),
        &Mask {
            causal,
            keys: mt.as_ref(),
        },
    )
    .unwrap();
    let got = run(&plan, &y);
    let reference = cpu::softmax::softmax(
        &RefTensor::from_f32(&shape, &x),
        causal,
        key_mask.as_deref(),
    );
    assert_passes(what, &compare(&got, &reference));
    got
}

#[test]
fn softmax_masks_all_masked_rows_and_huge_logits() {
    for &rung in SoftmaxRung::ALL {
        softmax_cases(Kernels::default().softmax(rung));
    }
}

fn softmax_cases(k: Kernels) {
    let mut r = rng(600);
    for (i, shape) in [[1, 1, 1, 1], [2, 3, 5, 7], [1, 2, 9, 129], [2, 1, 4, 1000]]
        .into_iter()
        .enumerate()
    {
        let n = shape.iter().product();
        let x: Vec<f32> = uniform(&mut r, n).into_iter().map(|v| v * 8.0).collect();
        softmax_case(k, shape, false, None, x.clone(), &format!("plain {i}"));
        softmax_case(k, shape, true, None, x.clone(), &format!("causal {i}"));
        let mask: Vec<f32> = (0..shape[0] * shape[3])
            .map(|_| f32::from(r.random_bool(0.7)))
            .collect();
        softmax_case(k, shape, true, Some(mask), x, &format!("causal+keys {i}"));
    }
    // Logits of +-1e4: finite, and the largest takes everything.
    let x: Vec<f32> = (0..2 * 6)
        .map(|i| {
            if i % 6 == 2 {
                1e4
            } else if i % 2 == 0 {
                -1e4
            } else {
                9999.0
            }
        })
        .collect();
    let got = softmax_case(k, [1, 1, 2, 6], false, None, x, "huge logits");
    assert!(got.iter().all(|v| v.is_finite()));
    // A batch whose keys are all masked gives rows of zeros, not NaN.
    let mask = vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    let got = softmax_case(
        k,
        [2, 2, 2, 3],
        false,
        Some(mask),
        uniform(&mut r, 24),
        "all masked",
    );
    assert!(got[12..].iter().all(|&v| v == 0.0), "{got:?}");
    // NaN in a row spreads over that row only, as in the reference.
    let mut x = uniform(&mut r, 8);
    x[1] = f32::NAN;
    let got = softmax_case(k, [1, 1, 2, 4], false, None, x, "NaN row");
    assert!(got[..4].iter().all(|v| v.is_nan()) && got[4..].iter().all(|v| v.is_finite()));
}

#[test]
fn layer_norm_add_and_rope_match_the_reference() {
    let mut r = rng(700);
    for (rows, d, offset) in [(1, 1, 0.0), (3, 5, 0.0), (7, 129, 3.0), (2, 768, 1e4)] {
        let x: Vec<f32> = uniform(&mut r, rows * d)
            .into_iter()
            .map(|v| v + offset)
            .collect();
        let (g, b) = (uniform(&mut r, d), uniform(&mut r, d));
        let mut plan = Plan::new();
        let y = layernorm_forward(
            gpu(),
            &mut plan,
            "ln",
            &upload("x", &[rows, d], &x),
            &upload("g", &[d], &g),
            &upload("b", &[d], &b),
        )
        .unwrap();
        let got = run(&plan, &y);
        let reference =
            cpu::layernorm::layernorm(&RefTensor::from_f32(&[rows, d], &x), &g, &b, EPS);
        assert_passes(
            &format!("layer norm {rows}x{d} offset {offset}"),
            &compare(&got, &reference),
        );
    }
    let (x, z) = (uniform(&mut r, 3 * 5 * 7), uniform(&mut r, 5 * 7));
    let mut plan = Plan::new();
    let y = add_forward(
        gpu(),
        &mut plan,
        "add",
        &upload("x", &[3, 5, 7], &x),
        &upload("z", &[5, 7], &z),
    )
    .unwrap();
    let got = run(&plan, &y);
    let reference = cpu::sequence::add(
        &RefTensor::from_f32(&[3, 5, 7], &x),
        &RefTensor::from_f32(&[5, 7], &z),
    );
    assert_passes("broadcast add", &compare(&got, &reference));
    for (b, t, heads, d) in [(1, 1, 1, 2), (2, 9, 3, 6), (1, 33, 4, 64)] {
        let x = uniform(&mut r, b * t * heads * d);
        let (c, s) = rope_tables(t, d);
        let mut plan = Plan::new();
        let y = rope_forward(
            gpu(),
            &mut plan,
            "rope",
            &upload("x", &[b, t, heads * d], &x),
            heads,
            &upload("cos", &[t, d / 2], &c),
            &upload("sin", &[t, d / 2], &s),
        )
        .unwrap();
        let got = run(&plan, &y);
        let reference =
            cpu::sequence::rope(&RefTensor::from_f32(&[b, t, heads * d], &x), heads, &c, &s);
        assert_passes("rope", &compare(&got, &reference));
    }
}

/// Runs one attention on both paths; returns (composed, fused) outputs.
// Test-case builders: each argument is one dimension of the case.
#[allow(clippy::too_many_arguments)]
fn sdpa_case(
    b: usize,
    l: usize,
    s: usize,
    heads: usize,
    d: usize,
    causal: bool,
    key_mask: Option<Vec<f32>>,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut r = rng(seed);
    let w = heads * d;
    let (q, k, v) = (
        uniform(&mut r, b * l * w),
        uniform(&mut r, b * s * w),
        uniform(&mut r, b * s * w),
    );
    let (qt, kt, vt) = (
        upload("q", &[b, l, w], &q),
        upload("k", &[b, s, w], &k),
        upload("v", &[b, s, w], &v),
    );
    let mt = key_mask.as_ref().map(|m| upload("mask", &[b, s], m));
    let mask = Mask {
        causal,
        keys: mt.as_ref(),
    };
    let masks = Masks {
        causal,
        keys: key_mask.as_deref(),
    };
    let (qr, kr, vr) = (
        RefTensor::from_f32(&[b, l, w], &q),
        RefTensor::from_f32(&[b, s, w], &k),
        RefTensor::from_f32(&[b, s, w], &v),
    );
    let mut outs = vec![];
    for (path, order) in [
        (AttentionPath::Composed, Order::Stored),
        (AttentionPath::Fused, Order::Online),
    ] {
        let mut plan = Plan::new();
        let y = sdpa_forward(gpu(), &mut plan, "sdpa", path, heads, &qt, &kt, &vt, &mask).unwrap();
        let got = run(&plan, &y);
        let reference = cpu_attn::sdpa(&qr, &kr, &vr, heads, &masks, order);
        assert_passes(
            &format!("{path:?} b{b} l{l} s{s} h{heads} d{d} causal {causal}"),
            &compare(&got, &reference),
        );
        outs.push(got);
    }
    let fused = outs.pop().unwrap();
    (outs.pop().unwrap(), fused)
}

#[test]
fn attention_paths_agree_with_the_reference_and_each_other() {
    let mut r = rng(800);
    for (i, &(b, l, s, heads, d)) in [
        (1, 1, 1, 1, 1),
        (1, 1, 5, 2, 3),
        (2, 7, 7, 3, 5),
        (1, 13, 29, 2, 16),
        (2, 65, 33, 4, 8),
        (1, 70, 70, 1, 128),
    ]
    .iter()
    .enumerate()
    {
        for causal in [false, true] {
            let (c, f) = sdpa_case(b, l, s, heads, d, causal, None, 900 + i as u64);
            let worst = c
                .iter()
                .zip(&f)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "composed and fused differ by {worst}");
        }
        let mask: Vec<f32> = (0..b * s).map(|_| f32::from(r.random_bool(0.6))).collect();
        sdpa_case(b, l, s, heads, d, i % 2 == 0, Some(mask), 950 + i as u64);
    }
    // A batch whose keys are all hidden: zeros on both paths.
    let (c, f) = sdpa_case(
        2,
        3,
        4,
        2,
        4,
        false,
        Some(vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        990,
    );
    assert!(c[24..].iter().chain(&f[24..]).all(|&v| v == 0.0));
}

#[test]
fn a_sequence_whose_scores_exceed_a_binding_runs_only_fused() {
    let g = gpu();
    // h * L * L * 4 bytes just over the binding limit (128 MiB on lavapipe).
    let heads = 8;
    let limit = g.limits.max_storage_buffer_binding_size as f64;
    let l = ((limit / (4.0 * heads as f64)).sqrt() as usize + 8).min(20_000);
    let d = 8;
    let w = heads * d;
    let mut r = rng(1000);
    let (q, k, v) = (
        uniform(&mut r, l * w),
        uniform(&mut r, l * w),
        uniform(&mut r, l * w),
    );
    let (qt, kt, vt) = (
        upload("q", &[1, l, w], &q),
        upload("k", &[1, l, w], &k),
        upload("v", &[1, l, w], &v),
    );
    let mut plan = Plan::new();
    let e = sdpa_forward(
        g,
        &mut plan,
        "long",
        AttentionPath::Composed,
        heads,
        &qt,
        &kt,
        &vt,
        &Mask::default(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("max_storage_buffer_binding_size") && msg.contains("fused"),
        "{msg}"
    );
    let mut plan = Plan::new();
    let y = sdpa_forward(
        g,
        &mut plan,
        "long",
        AttentionPath::Fused,
        heads,
        &qt,
        &kt,
        &vt,
        &Mask {
            causal: true,
            keys: None,
        },
    )
    .unwrap();
    let got = run(&plan, &y);
    let rows: Vec<(usize, usize)> = [0, 1, l / 3, l / 2, l - 2, l - 1]
        .iter()
        .map(|&i| (0, i))
        .collect();
    let (qr, kr, vr) = (
        RefTensor::from_f32(&[1, l, w], &q),
        RefTensor::from_f32(&[1, l, w], &k),
        RefTensor::from_f32(&[1, l, w], &v),
    );
    let reference = cpu_attn::sdpa_rows(
        &qr,
        &kr,
        &vr,
        heads,
        &Masks {
            causal: true,
            keys: None,
        },
        Order::Online,
        &rows,
    );
    let sampled: Vec<f32> = rows
        .iter()
        .flat_map(|&(_, i)| got[i * w..(i + 1) * w].iter().copied())
        .collect();
    assert_passes(
        &format!("fused L={l}, {} sampled rows", rows.len()),
        &compare(&sampled, &reference),
    );
    assert!(got.iter().all(|v| v.is_finite()), "every row written");
}

/// The same attention and convolutions with a tiny loop budget, so that
/// every split path (keys for the fused kernel, channels for the convs,
/// K for matmul) runs and must agree with the reference.
#[test]
fn split_dispatches_agree_with_the_reference() {
    let mut g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.loop_budget = 400;
    // The fused rung is the one that splits (flash refuses what it cannot
    // do in one dispatch and hands it to fused; on GPUs it is the default).
    let g = g.with_kernels(Kernels::default().attention(AttentionRung::Fused));
    let (b, l, s, heads, d) = (2, 9, 70, 2, 8);
    let w = heads * d;
    let mut r = rng(1200);
    let (q, k, v) = (
        uniform(&mut r, b * l * w),
        uniform(&mut r, b * s * w),
        uniform(&mut r, b * s * w),
    );
    let up = |n: &str, sh: &[usize], x: &[f32]| Tensor::upload(&g, n, sh, x).unwrap();
    for causal in [false, true] {
        let mut plan = Plan::new();
        let y = sdpa_forward(
            &g,
            &mut plan,
            "split",
            AttentionPath::Fused,
            heads,
            &up("q", &[b, l, w], &q),
            &up("k", &[b, s, w], &k),
            &up("v", &[b, s, w], &v),
            &Mask { causal, keys: None },
        )
        .unwrap();
        assert!(plan.steps.len() > 1, "the budget must force a split");
        g.run(&plan).unwrap();
        let got = y.download(&g).unwrap();
        let reference = cpu_attn::sdpa(
            &RefTensor::from_f32(&[b, l, w], &q),
            &RefTensor::from_f32(&[b, s, w], &k),
            &RefTensor::from_f32(&[b, s, w], &v),
            heads,
            &Masks { causal, keys: None },
            Order::Online,
        );
        assert_passes(
            &format!("split fused attention, causal {causal}"),
            &compare(&got, &reference),
        );
    }
    use wgsl_nn::geometry::Window;
    use wgsl_nn::ops::conv2d::{conv2d_forward, Conv2d};
    let conv = Conv2d {
        window: Window {
            kernel: [3, 3],
            stride: [1, 1],
            pad_begin: [1, 1],
            pad_end: [1, 1],
            dilation: [1, 1],
            ceil_mode: false,
        },
        in_channels: 40,
        out_channels: 3,
        groups: 1,
        bias: true,
        relu: true,
        relu6: false,
    };
    let (x, wt, bias) = (
        uniform(&mut r, 40 * 36),
        uniform(&mut r, 3 * 40 * 9),
        uniform(&mut r, 3),
    );
    let mut plan = Plan::new();
    let y = conv2d_forward(
        &g,
        &mut plan,
        "split conv",
        &conv,
        &up("x", &[1, 40, 6, 6], &x),
        &up("w", &[3, 40, 3, 3], &wt),
        Some(&up("b", &[3], &bias)),
    )
    .unwrap();
    assert!(plan.steps.len() > 1);
    g.run(&plan).unwrap();
    let reference = cpu::conv2d::conv2d(
        &conv,
        &RefTensor::from_f32(&[1, 40, 6, 6], &x),
        &wt,
        Some(&bias),
        [1, 3, 6, 6],
    );
    assert_passes(
        "split conv2d",
        &compare(&y.download(&g).unwrap(), &reference),
    );
}

/// Every rung of the matmul ladder (chosen per plan)
/// against the reference, on shapes that do and do not suit the vec4 rung.
#[test]
fn every_matmul_rung_matches_the_reference() {
    let g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let mut r = rng(1300);
    for kernel in MatmulRung::names() {
        let kernels = Kernels::default().with_name("matmul", kernel).unwrap();
        for &(m, n, k, batch, ta, tb, bias) in &[
            (1, 4, 4, 1, false, false, false),
            (17, 20, 36, 2, false, false, true),
            (33, 12, 8, 1, false, false, false),
            (5, 7, 3, 2, true, false, true),
            (16, 16, 16, 1, false, true, false),
            (70, 68, 260, 1, false, false, true),
            // The texture rung: N not a multiple of 4 over several column
            // tiles with B transposed; M past one 16-row block, batched.
            (19, 1030, 12, 1, false, true, true),
            (40, 7, 4, 3, false, false, false),
            // sm128: several 128 x 128 tiles, K not a multiple of its 8.
            (200, 264, 44, 1, false, false, true),
        ] {
            let (a, b, bv) = (
                uniform(&mut r, batch * m * k),
                uniform(&mut r, batch * k * n),
                uniform(&mut r, n),
            );
            let (a_shape, b_shape) = (
                if ta { [batch, k, m] } else { [batch, m, k] },
                if tb { [batch, n, k] } else { [batch, k, n] },
            );
            let av = if ta {
                View::dense(k, m, false)
            } else {
                View::dense(m, k, false)
            };
            let bvw = if tb {
                View::dense(n, k, false)
            } else {
                View::dense(k, n, false)
            };
            let mm = Matmul {
                m,
                n,
                k,
                batches: [batch, 1],
                trans_a: ta,
                trans_b: tb,
                bias,
                act: Activation::Relu,
                alpha: 1.0,
            };
            let up = |name: &str, sh: &[usize], x: &[f32]| Tensor::upload(&g, name, sh, x).unwrap();
            let c = Tensor::poisoned(&g, "C", &[batch, m, n]).unwrap();
            let bt = up("bias", &[n], &bv);
            let mut plan = Plan::with_kernels(kernels);
            matmul_into(
                &g,
                &mut plan,
                "mm",
                &mm,
                (&up("A", &a_shape, &a), av),
                (&up("B", &b_shape, &b), bvw),
                bias.then_some(&bt),
                (&c, View::dense(m, n, false)),
            )
            .unwrap();
            g.run(&plan).unwrap();
            let mut reference = RefTensor::zeros(&[batch, m, n]);
            cpu::matmul::matmul_into(
                &mm,
                (&RefTensor::from_f32(&a_shape, &a), av),
                (&RefTensor::from_f32(&b_shape, &b), bvw),
                bias.then_some(&bv[..]),
                (&mut reference, View::dense(m, n, false)),
            );
            assert_passes(
                &format!("{kernel} {mm:?} ({})", plan.steps[0].label),
                &compare(&c.download(&g).unwrap(), &reference),
            );
            // The forced rung ran, or the documented fallback: the vec4
            // rungs need untransposed operands and K, N multiples of 4
            // (else rb4); tex needs what `tex::unsupported` allows (else
            // the vec4 rung where it can run, else rb4).
            let rung = MatmulRung::parse(kernel).unwrap();
            let vec4_ok = !ta && !tb && k % 4 == 0 && n % 4 == 0;
            let vec4 = matches!(
                rung,
                MatmulRung::Rb4Vec4 | MatmulRung::Rb8Vec4 | MatmulRung::Sm128 | MatmulRung::Sm128p
            );
            let tex_ok = wgsl_nn::ops::matmul::tex::unsupported(&g, &mm).is_none();
            let want = match rung {
                _ if vec4 && !vec4_ok => MatmulRung::Rb4,
                MatmulRung::Tex if !tex_ok && vec4_ok => MatmulRung::Rb4Vec4,
                MatmulRung::Tex if !tex_ok => MatmulRung::Rb4,
                r => r,
            };
            let entries: Vec<&str> = plan.steps.iter().map(|s| s.kernel.entry).collect();
            assert!(
                plan.runs(want.entry()),
                "forced {kernel} on {mm:?}: expected {} to run, ran {entries:?}",
                want.entry()
            );
        }
    }
    let e = Kernels::parse("matmul=nonsense").unwrap_err();
    assert!(e.to_string().contains("rb4_vec4"), "{e}");
}

/// Every rung of the attention ladder against the reference, with masks,
/// several key blocks, ragged ends, and a NaN query that must poison its
/// own row of its own head only.
#[test]
fn every_attention_rung_matches_the_reference() {
    let g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let mut r = rng(1400);
    let mut flash_runs = 0;
    for kernel in AttentionRung::names() {
        let kernels = Kernels::default().with_name("attention", kernel).unwrap();
        let path = AttentionRung::parse(kernel).unwrap().path();
        let order = if kernel == "composed" {
            Order::Stored
        } else {
            Order::Online
        };
        for &(b, l, s, heads, d, causal, masked, nan) in &[
            (2, 37, 45, 2, 16, true, true, false),
            (1, 9, 70, 4, 64, false, false, true),
            (1, 17, 3, 1, 12, false, true, false),
            // Head sizes for fused_tex's wide variant (up to 16 x subgroup).
            (1, 11, 37, 2, 128, true, true, true),
            (2, 9, 70, 1, 96, false, false, false),
            // flash: several 32-row blocks and 64-key tiles with ragged
            // ends, causal; the smallest head size; a head size that is
            // not a power of two.
            (2, 70, 150, 2, 60, true, true, false),
            (1, 33, 129, 3, 4, false, true, true),
            (1, 100, 100, 1, 64, true, false, false),
        ] {
            let w = heads * d;
            let mut q = uniform(&mut r, b * l * w);
            let (k, v) = (uniform(&mut r, b * s * w), uniform(&mut r, b * s * w));
            if nan {
                q[w + 3] = f32::NAN; // query 1, head 0
            }
            let key_mask: Option<Vec<f32>> =
                masked.then(|| (0..b * s).map(|_| f32::from(r.random_bool(0.7))).collect());
            let up = |n: &str, sh: &[usize], x: &[f32]| Tensor::upload(&g, n, sh, x).unwrap();
            let mt = key_mask.as_ref().map(|m| up("mask", &[b, s], m));
            let mut plan = Plan::with_kernels(kernels);
            let y = sdpa_forward(
                &g,
                &mut plan,
                "sdpa",
                path,
                heads,
                &up("q", &[b, l, w], &q),
                &up("k", &[b, s, w], &k),
                &up("v", &[b, s, w], &v),
                &Mask {
                    causal,
                    keys: mt.as_ref(),
                },
            )
            .unwrap();
            g.run(&plan).unwrap();
            let got = y.download(&g).unwrap();
            let reference = cpu_attn::sdpa(
                &RefTensor::from_f32(&[b, l, w], &q),
                &RefTensor::from_f32(&[b, s, w], &k),
                &RefTensor::from_f32(&[b, s, w], &v),
                heads,
                &Masks {
                    causal,
                    keys: key_mask.as_deref(),
                },
                order,
            );
            let labels: Vec<&str> = plan.steps.iter().map(|s| s.label.as_str()).collect();
            // The forced rung is what ran (flash and fused_tex may refuse a
            // shape or an adapter, and say so: checked below and in their
            // own tests).
            let entries: Vec<&str> = plan.steps.iter().map(|s| s.kernel.entry).collect();
            let own = match kernel {
                "composed" => Some("softmax"),
                "fused_scalar" => Some("attention_fused"),
                "fused" => Some("attention_fused_vec4"),
                _ => None,
            };
            if kernel == "fused_tex" {
                let sh = AttentionShape {
                    batch: b,
                    queries: l,
                    keys: s,
                    heads,
                    head_dim: d,
                };
                let ran = entries.iter().any(|x| x.starts_with("attention_tex"));
                let why = wgsl_nn::ops::attention::tex::unsupported(&g, &sh);
                assert_eq!(
                    ran,
                    why.is_none(),
                    "fused_tex ran: {ran}, refused: {why:?}, {entries:?}"
                );
            }
            if let Some(e) = own {
                assert!(
                    entries.iter().any(|x| x.starts_with(e)),
                    "forced {kernel}: expected {e} to run, ran {entries:?}"
                );
            }
            if kernel == "flash" {
                let sh = AttentionShape {
                    batch: b,
                    queries: l,
                    keys: s,
                    heads,
                    head_dim: d,
                };
                let ran = plan
                    .steps
                    .iter()
                    .any(|s| s.kernel.entry == "attention_flash");
                let why = attention_flash::unsupported(&g, &sh);
                assert_eq!(
                    ran,
                    why.is_none(),
                    "flash ran: {ran}, refused: {why:?}, {labels:?}"
                );
                flash_runs += usize::from(ran);
            }
            assert_passes(
                &format!("{kernel} b{b} l{l} s{s} h{heads} d{d} {labels:?}"),
                &compare(&got, &reference),
            );
            if nan {
                assert!(got[w..w + d].iter().all(|x| x.is_nan()));
                assert!(got[w + d..].iter().chain(&got[..w]).all(|x| x.is_finite()));
            }
        }
    }
    // The flash rung needs 32 KiB of workgroup memory (lavapipe and
    // NVIDIA have it); where it can run, it must have run.
    if g.limits.max_compute_workgroup_storage_size >= 32 * 1024 {
        assert_eq!(
            flash_runs, 6,
            "the flash rung ran on {flash_runs} of 6 shapes"
        );
    }
}

/// On GPUs that are not CPU adapters a large product (2M outputs or more)
/// defaults to sm128p and a small one to rb4_vec4, and the tuner's
/// `matmul_large` pick rules large products only; lavapipe stands in for a
/// discrete GPU here. Integer inputs: the results must be exact.
#[test]
fn large_products_on_gpus_take_the_large_pick() {
    let mut g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.info.device_type = wgpu::DeviceType::DiscreteGpu;
    let mut r = rng(1500);
    let k = 8;
    let entry_for = |g: &wgsl_nn::gpu::Gpu, r: &mut Rng64, m: usize, n: usize| -> &'static str {
        let (a, b) = (integers(r, m * k), integers(r, k * n));
        let mm = Matmul {
            m,
            n,
            k,
            batches: [1, 1],
            trans_a: false,
            trans_b: false,
            bias: false,
            act: Activation::None,
            alpha: 1.0,
        };
        let c = Tensor::poisoned(g, "C", &[m, n]).unwrap();
        let mut plan = Plan::new();
        matmul_into(
            g,
            &mut plan,
            "mm",
            &mm,
            (
                &Tensor::upload(g, "A", &[m, k], &a).unwrap(),
                View::dense(m, k, false),
            ),
            (
                &Tensor::upload(g, "B", &[k, n], &b).unwrap(),
                View::dense(k, n, false),
            ),
            None,
            (&c, View::dense(m, n, false)),
        )
        .unwrap();
        g.run(&plan).unwrap();
        let mut reference = RefTensor::zeros(&[m, n]);
        cpu::matmul::matmul_into(
            &mm,
            (&RefTensor::from_f32(&[m, k], &a), View::dense(m, k, false)),
            (&RefTensor::from_f32(&[k, n], &b), View::dense(k, n, false)),
            None,
            (&mut reference, View::dense(m, n, false)),
        );
        assert!(exact(&c.download(g).unwrap(), &reference), "{m}x{n}");
        plan.steps[0].kernel.entry
    };
    assert_eq!(entry_for(&g, &mut r, 1024, 2048), "matmul_sm128p");
    assert_eq!(entry_for(&g, &mut r, 1023, 2048), "matmul_rb4_vec4");
    g.set_tuned("matmul_large", Some("rb8_vec4"));
    g.set_tuned("matmul", Some("rb4"));
    assert_eq!(entry_for(&g, &mut r, 1024, 2048), "matmul_rb8_vec4");
    assert_eq!(entry_for(&g, &mut r, 64, 64), "matmul_rb4");
}

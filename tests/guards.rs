//! Out-of-bounds safety: with guard regions after every output (NaN that
//! no kernel may touch) and NaN-prefilled outputs, every kernel family on
//! odd sizes writes every element of its output and nothing past it.

mod common;
use common::*;
use wgsl_nn::geometry::Window;
use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
use wgsl_nn::ops::attention::{sdpa_forward, AttentionPath};
use wgsl_nn::ops::conv2d::{conv2d_forward, Conv2d};
use wgsl_nn::ops::conv_transpose2d::{conv_transpose2d_forward, ConvTranspose2d};
use wgsl_nn::ops::elementwise::{map_forward, POSITIVE_MASK, RELU};
use wgsl_nn::ops::layernorm::layernorm_forward;
use wgsl_nn::ops::matmul::{linear, Activation};
use wgsl_nn::ops::pool2d::{pool2d_forward, Pool2d, PoolKind};
use wgsl_nn::ops::positional::{rope_forward, rope_tables};
use wgsl_nn::ops::rnn::{rnn_forward, Rnn, RnnKind};
use wgsl_nn::ops::softmax::{softmax_forward, Mask};
use wgsl_nn::rung::{ConvRung, MatmulRung, Rung};
use wgsl_nn::Tensor;

const GUARD: usize = 257;

fn check(g: &Gpu, what: &str, t: &Tensor) {
    let out = t.download(g).unwrap();
    assert!(
        out.iter().all(|v| v.is_finite()),
        "{what}: an output element was never written (NaN) or is not finite"
    );
    let guard = t.guard(g).unwrap();
    assert_eq!(guard.len(), GUARD, "{what}: guard region missing");
    assert!(
        guard.iter().all(|v| v.is_nan()),
        "{what}: a kernel wrote past the end of its output"
    );
}

#[test]
fn no_kernel_writes_outside_its_output() {
    let mut g = Gpu::new(&AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.guard_elements = GUARD;
    let mut r = rng(77);
    let mut up = |shape: &[usize]| {
        let n = shape.iter().product();
        Tensor::upload(&g, "in", shape, &uniform(&mut r, n)).unwrap()
    };
    let x = up(&[2, 3, 11, 13]);
    let mut outputs: Vec<(String, Tensor)> = vec![];
    let mut plan = Plan::new();
    let win = |k: usize, s: usize, p: usize| Window {
        kernel: [k, k],
        stride: [s, s],
        pad_begin: [p, p],
        pad_end: [p, p],
        dilation: [1, 1],
        ceil_mode: false,
    };
    for kernel in ConvRung::names() {
        plan.kernels = plan.kernels.with_name("conv2d", kernel).unwrap();
        for (k, p) in [(3, 1), (1, 0)] {
            let conv = Conv2d {
                window: win(k, 1, p),
                in_channels: 3,
                out_channels: 5,
                groups: 1,
                bias: true,
                relu: true,
                relu6: false,
            };
            let y = conv2d_forward(
                &g,
                &mut plan,
                "conv",
                &conv,
                &x,
                &up(&conv.weight_shape()),
                Some(&up(&[5])),
            )
            .unwrap();
            outputs.push((format!("conv2d {kernel} k{k}"), y));
        }
    }
    let ct = ConvTranspose2d {
        in_channels: 3,
        out_channels: 4,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [1, 1],
        output_padding: [1, 1],
        dilation: [1, 1],
        bias: true,
        relu: false,
    };
    outputs.push((
        "conv_transpose2d".into(),
        conv_transpose2d_forward(
            &g,
            &mut plan,
            "ct",
            &ct,
            &x,
            &up(&ct.weight_shape()),
            Some(&up(&[4])),
        )
        .unwrap(),
    ));
    for kind in [PoolKind::Max, PoolKind::Avg] {
        let pool = Pool2d {
            kind,
            window: Window {
                ceil_mode: true,
                ..win(3, 2, 1)
            },
            count_include_pad: false,
        };
        outputs.push((
            format!("{kind:?} pool"),
            pool2d_forward(&g, &mut plan, "pool", &pool, &x).unwrap(),
        ));
    }
    outputs.push((
        "relu".into(),
        map_forward(&g, &mut plan, "relu", RELU, &x).unwrap(),
    ));
    outputs.push((
        "mask".into(),
        map_forward(&g, &mut plan, "mask", POSITIVE_MASK, &x).unwrap(),
    ));
    let seq = up(&[2, 7, 12]);
    for kernel in MatmulRung::names() {
        plan.kernels = plan.kernels.with_name("matmul", kernel).unwrap();
        outputs.push((
            format!("linear {kernel}"),
            linear(
                &g,
                &mut plan,
                "lin",
                &seq,
                &up(&[12, 9]),
                Some(&up(&[9])),
                Activation::Gelu,
            )
            .unwrap(),
        ));
        outputs.push((
            format!("linear {kernel} (vec4 shapes)"),
            linear(
                &g,
                &mut plan,
                "lin4",
                &seq,
                &up(&[12, 8]),
                None,
                Activation::None,
            )
            .unwrap(),
        ));
    }
    outputs.push((
        "layernorm".into(),
        layernorm_forward(&g, &mut plan, "ln", &seq, &up(&[12]), &up(&[12])).unwrap(),
    ));
    outputs.push((
        "add".into(),
        wgsl_nn::ops::add::add_forward(&g, &mut plan, "add", &seq, &up(&[7, 12])).unwrap(),
    ));
    let (c, s) = rope_tables(7, 4);
    outputs.push((
        "rope".into(),
        rope_forward(
            &g,
            &mut plan,
            "rope",
            &seq,
            3,
            &Tensor::upload(&g, "c", &[7, 2], &c).unwrap(),
            &Tensor::upload(&g, "s", &[7, 2], &s).unwrap(),
        )
        .unwrap(),
    ));
    outputs.push((
        "softmax".into(),
        softmax_forward(
            &g,
            &mut plan,
            "sm",
            &up(&[2, 3, 5, 67]),
            &Mask {
                causal: true,
                keys: None,
            },
        )
        .unwrap(),
    ));
    let (q, k, v) = (up(&[2, 5, 12]), up(&[2, 9, 12]), up(&[2, 9, 12]));
    for (kernel, path) in [
        ("composed", AttentionPath::Composed),
        ("fused_scalar", AttentionPath::Fused),
        ("fused", AttentionPath::Fused),
    ] {
        plan.kernels = plan.kernels.with_name("attention", kernel).unwrap();
        outputs.push((
            format!("attention {kernel}"),
            sdpa_forward(&g, &mut plan, "att", path, 3, &q, &k, &v, &Mask::default()).unwrap(),
        ));
    }
    for kind in [RnnKind::Elman, RnnKind::Gru, RnnKind::Lstm] {
        let rnn = Rnn {
            kind,
            input_size: 12,
            hidden_size: 5,
        };
        outputs.push((
            format!("{kind:?}"),
            rnn_forward(
                &g,
                &mut plan,
                "rnn",
                &rnn,
                &seq,
                &up(&rnn.w_ih_shape()),
                &up(&rnn.w_hh_shape()),
                &up(&rnn.bias_shape()),
                &up(&rnn.bias_shape()),
                None,
            )
            .unwrap(),
        ));
    }
    outputs.push((
        "quadrants".into(),
        wgsl_nn::ops::quadrants::assemble_quadrants(&g, &mut plan, "q", &up(&[4, 3, 5, 6]))
            .unwrap(),
    ));
    g.run(&plan).unwrap();
    for (what, t) in &outputs {
        check(&g, what, t);
    }
    assert!(outputs.len() >= 25);
}

/// The float16 kernels on both paths: odd element counts (the last word
/// half past the tensor, which the packed path must keep), the
/// register-blocked matmul with rows past M, and a conv; every output
/// written, the guard (whole words of NaN) untouched.
#[test]
fn no_float16_kernel_writes_outside_its_output() {
    use wgsl_nn::dtype::F16Path;
    use wgsl_nn::ops::conv2d::half::conv2d_f16_forward;
    use wgsl_nn::ops::matmul::half::{matmul_f16_forward, Accumulate};
    use wgsl_nn::ops::matmul::{Matmul, View};
    let mut g = Gpu::new(&AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.guard_elements = GUARD;
    let mut r = rng(78);
    let mut up = |shape: &[usize]| {
        let n = shape.iter().product();
        Tensor::upload_f16(&g, "in", shape, &uniform(&mut r, n)).unwrap()
    };
    let mut outputs: Vec<(String, Tensor)> = vec![];
    let mut plan = Plan::new();
    let paths: &[F16Path] = if g.device.features().contains(wgpu::Features::SHADER_F16) {
        &[F16Path::Native, F16Path::Packed]
    } else {
        &[F16Path::Packed]
    };
    for &path in paths {
        // 13 x 17 (pair kernel, 221 outputs) and 13 x 6 (rb, M not a
        // multiple of 4).
        for n in [17, 6] {
            let mm = Matmul {
                m: 13,
                n,
                k: 9,
                ..Matmul::square(1)
            };
            let (a, b) = (up(&[13, 9]), up(&[9, n]));
            let c = matmul_f16_forward(
                &g,
                &mut plan,
                "mm",
                &mm,
                (&a, View::dense(13, 9, false)),
                (&b, View::dense(9, n, false)),
                None,
                &[13, n],
                path,
                Accumulate::F32,
            )
            .unwrap();
            outputs.push((format!("matmul f16 13x{n} {path:?}"), c));
        }
        let conv = Conv2d::new(3, 5, 3).padding(1);
        let y = conv2d_f16_forward(
            &g,
            &mut plan,
            "conv",
            &conv,
            &up(&[1, 3, 7, 5]),
            &up(&conv.weight_shape()),
            Some(&up(&[5])),
            path,
        )
        .unwrap();
        outputs.push((format!("conv f16 {path:?}"), y));
    }
    g.run(&plan).unwrap();
    for (what, t) in &outputs {
        let out = t.download(&g).unwrap();
        assert!(
            out.iter().all(|v| v.is_finite()),
            "{what}: an output element was never written"
        );
        let guard = t.guard(&g).unwrap();
        assert!(guard.len() >= GUARD, "{what}: guard region missing");
        assert!(
            guard.iter().all(|v| v.is_nan()),
            "{what}: a kernel wrote past the end of its output"
        );
    }
}

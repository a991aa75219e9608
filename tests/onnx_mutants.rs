//! Planted faults in the kernels a model runs must fail `wgsl-nn run`'s
//! check at a node of the family that runs them, judged from that node's
//! own inputs: the per-node rule is sharp, not only the end-to-end one.
//! Alone in its test binary: a planted patch applies to the whole device.

mod common;

use common::onnx_fixtures::{load, run_as};
use std::sync::OnceLock;
use wgsl_nn::dtype::DType;
use wgsl_nn::gpu::{AdapterChoice, Gpu, Patch};
use wgsl_nn::graph::exec::CheckMode;
use wgsl_nn::rung::{AttentionRung, Kernels};

/// A planted fault in one kernel family fails the model's check at a node
/// of that family, from that node's own inputs.
fn caught(
    model: &str,
    family: &'static str,
    find: &'static str,
    replace: &'static str,
    kind: &str,
) {
    caught_on(common::gpu(), model, family, find, replace, kind)
}

/// A second device whose attention runs the fused kernel (CPU adapters
/// get the composed path by default), for the fused path's faults.
fn fused_gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new(&AdapterChoice::from_args_or_env(None, None))
            .expect("an adapter")
            .with_kernels(Kernels {
                attention: Some(AttentionRung::Fused),
                ..Kernels::default()
            })
    })
}

fn caught_on(
    gpu: &Gpu,
    model: &str,
    family: &'static str,
    find: &'static str,
    replace: &'static str,
    kind: &str,
) {
    caught_as(gpu, DType::F32, model, family, find, replace, kind)
}

fn caught_as(
    gpu: &Gpu,
    dtype: DType,
    model: &str,
    family: &'static str,
    find: &'static str,
    replace: &'static str,
    kind: &str,
) {
    let (m, inputs) = load(model);
    // One planted patch at a time: it applies to the whole device.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    gpu.plant(
        &format!("{family}: {find} -> {replace}"),
        &[Patch {
            family,
            find,
            replace,
        }],
    );
    let r = run_as(gpu, &m, &inputs, CheckMode::Full, dtype);
    let hits = gpu.planted_hits();
    gpu.plant("", &[]);
    assert!(hits > 0, "{family}: the patch '{find}' reached no kernel");
    let failed: Vec<&str> = r
        .nodes
        .iter()
        .filter(|n| n.check.as_ref().is_some_and(|c| !c.passed))
        .map(|n| n.kind.as_str())
        .collect();
    assert!(!r.passed, "{model}: planted '{replace}' in {family} passed");
    assert!(
        failed.contains(&kind),
        "{model}: planted fault in {family} should fail a {kind} node; failed: {failed:?}"
    );
}

#[test]
fn planted_faults_fail_at_their_node() {
    // One ulp-scale slip in an addition: a bias or residual add off by 1e-6.
    caught(
        "resnet_tiny",
        "strided",
        "case 40u: { return x + z; }",
        "case 40u: { return x + z * 1.000001; }",
        "binary",
    );
    // A reduction that skips its last element.
    caught("resnet_tiny", "reduce", "for (var k = 1u; k < p.n; k++) {\n        let v = ld_x(base + k * p.inner);\n        nan", "for (var k = 1u; k + 1u < p.n; k++) {\n        let v = ld_x(base + k * p.inner);\n        nan", "reduce");
    // Layer norm with the unbiased variance (n - 1).
    caught(
        "transformer_tiny",
        "reduce",
        "q / f32(p.n) + p.eps",
        "q / f32(p.n - 1u) + p.eps",
        "layernorm",
    );
    // Softmax that forgets one key (the transformers' softmax runs inside
    // the fused attention op now; softmax_axes keeps standalone ones).
    caught(
        "softmax_axes",
        "reduce",
        "for (var k = 0u; k < p.n; k++) {\n        s += exp",
        "for (var k = 1u; k < p.n; k++) {\n        s += exp",
        "softmax",
    );
    // MatMul + Softmax + MatMul as one attention op. Composed (the CPU
    // adapter's default): its softmax leaving the first key out of the
    // sum; fused (forced): the online normaliser doing the same.
    caught(
        "transformer_tiny",
        "softmax",
        "total += e;",
        "total += select(e, 0.0, j == 0u);",
        "attention",
    );
    for model in ["transformer_tiny", "vit_tiny"] {
        caught_on(
            fused_gpu(),
            model,
            "attention_vec4",
            "l = l * correction + w;",
            "l = l * correction + select(w, 0.0, j == 0u);",
            "attention",
        );
    }
    // An embedding lookup off by one row.
    caught(
        "embedding_causal",
        "gather",
        "ld_data((o * p.dim + u32(t)) * p.inner + k)",
        "ld_data((o * p.dim + min(u32(t) + 1u, p.dim - 1u)) * p.inner + k)",
        "gather",
    );
    // A transpose or slice reading one element over.
    caught(
        "vit_tiny",
        "strided",
        "let va = a[ia];",
        "let va = a[ia + select(0, 1, p.op == 0u && ia == 7)];",
        "copy",
    );
    // The exact GELU off by 1e-5 relative (vit_tiny's five exported GELU
    // nodes run as one Gelu node, erf inside).
    caught(
        "vit_tiny",
        "strided",
        "case 20u: { return gelu_erf(x); }",
        "case 20u: { return gelu_erf(x) * 1.00001; }",
        "unary",
    );
}

/// The float16 run (`--dtype f16`) is as sharp: faults in the conversions
/// that carry float16 tensors into float32 kernels and back, and in the
/// float16 kernels a model runs, fail at their node.
#[test]
fn planted_float16_faults_fail_at_their_node() {
    let gpu = common::gpu();
    let f16 = |model, family, find, replace, kind| {
        caught_as(gpu, DType::F16, model, family, find, replace, kind)
    };
    // Widening that reads the other half of each word (a transposed conv
    // runs widened), and narrowing that stores the even element in both
    // halves (so does a standalone batch norm).
    f16(
        "conv_transpose",
        "convert_f16",
        "select(v.x, v.y, (i & 1u) != 0u)",
        "select(v.y, v.x, (i & 1u) != 0u)",
        "conv_transpose",
    );
    f16(
        "batchnorm_raw",
        "convert_f16",
        "to_f16_range(vec2<f32>(lo, hi))",
        "to_f16_range(vec2<f32>(lo, lo))",
        "batchnorm",
    );
    // The float16 reduction summing in float16 (the global average pool),
    // and the float16 gather reading the other half of each pair (the
    // embedding and the q/k/v gathers).
    f16(
        "resnet_tiny",
        "reduce_f16_native",
        "default: { acc += v; }",
        "default: { acc = f32(f16(acc + v)); }",
        "reduce",
    );
    f16(
        "embedding_causal",
        "gather_f16_native",
        "return f32(data16[i]);",
        "return f32(data16[i ^ 1u]);",
        "gather",
    );
    // The float16 strided map reading float16 operands from the wrong
    // half (the residual adds), and writing the wrong half (transposes).
    f16(
        "resnet_tiny",
        "strided_f16",
        "return select(v.x, v.y, (i & 1) != 0);",
        "return select(v.y, v.x, (i & 1) != 0);",
        "binary",
    );
    f16(
        "transformer_tiny",
        "strided_f16",
        "if (at.w & 1) != 0 {",
        "if (at.w & 1) == 0 {",
        "copy",
    );
    let native = gpu.device.features().contains(wgpu::Features::SHADER_F16);
    let path = if native { "native" } else { "packed" };
    let family =
        |rung: &str| -> &'static str { Box::leak(format!("{rung}_{path}").into_boxed_str()) };
    // A float16 conv whose bias is added 0.1% too large: resnet_tiny's
    // convs take the implicit GEMM, mobilenet_tiny's depthwise (grouped)
    // convs the direct kernel.
    for (model, rung) in [
        ("resnet_tiny", "conv2d_f16_igemm"),
        ("mobilenet_tiny", "conv2d_f16"),
    ] {
        f16(
            model,
            family(rung),
            "acc += ld_bias(co);",
            "acc += ld_bias(co) * 1.001;",
            "conv",
        );
    }
    let matmul = family("matmul_f16");
    // A float16 product (the pair rung: the out-projection Gemm) that
    // drops its last term.
    f16(
        "transformer_tiny",
        matmul,
        "for (var kk = 0u; kk < p.k; kk++) {\n        s = fma",
        "for (var kk = 0u; kk + 1u < p.k; kk++) {\n        s = fma",
        "matmul",
    );
}

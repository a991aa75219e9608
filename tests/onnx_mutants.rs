//! Planted faults in the kernels a model runs must fail `wgsl-nn run`'s
//! check at a node of the family that runs them, judged from that node's
//! own inputs: the per-node rule is sharp, not only the end-to-end one.
//! Alone in its test binary: a planted patch applies to the whole device.

mod common;

use common::onnx_fixtures::{load, run_on};
use std::sync::OnceLock;
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
    let (m, inputs) = load(model);
    gpu.plant(
        &format!("{family}: {find} -> {replace}"),
        &[Patch {
            family,
            find,
            replace,
        }],
    );
    let r = run_on(gpu, &m, &inputs, CheckMode::Full);
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
    caught("resnet_tiny", "reduce", "for (var k = 1u; k < p.n; k++) {\n        let v = x[base + k * p.inner];\n        nan", "for (var k = 1u; k + 1u < p.n; k++) {\n        let v = x[base + k * p.inner];\n        nan", "reduce");
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
        "data[(o * p.dim + u32(t)) * p.inner + k]",
        "data[(o * p.dim + min(u32(t) + 1u, p.dim - 1u)) * p.inner + k]",
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
    // Erf's polynomial with one coefficient's last digit changed.
    caught(
        "vit_tiny",
        "strided",
        "let r = 1.0 - erfc_c(abs(x));",
        "let r = 1.0 - erfc_c(abs(x)) * 1.00001;",
        "unary",
    );
}

//! Planted faults in the kernels a model runs must fail `wgsl-nn run`'s
//! check at a node of the family that runs them, judged from that node's
//! own inputs: the per-node rule is sharp, not only the end-to-end one.
//! Alone in its test binary: a planted patch applies to the whole device.

mod common;

use common::onnx_fixtures::{load, run};
use wgsl_nn::gpu::Patch;
use wgsl_nn::graph::exec::CheckMode;

/// A planted fault in one kernel family fails the model's check at a node
/// of that family, from that node's own inputs.
fn caught(
    model: &str,
    family: &'static str,
    find: &'static str,
    replace: &'static str,
    kind: &str,
) {
    let (m, inputs) = load(model);
    let gpu = common::gpu();
    gpu.plant(
        &format!("{family}: {find} -> {replace}"),
        &[Patch {
            family,
            find,
            replace,
        }],
    );
    let r = run(&m, &inputs, CheckMode::Full);
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
    // Softmax that forgets one key.
    caught(
        "transformer_tiny",
        "reduce",
        "for (var k = 0u; k < p.n; k++) {\n        s += exp",
        "for (var k = 1u; k < p.n; k++) {\n        s += exp",
        "softmax",
    );
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

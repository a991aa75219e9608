//! The digits example as a test: the trained model classifies its held-out
//! set on the GPU as PyTorch does (same top class on every image, so the
//! same accuracy), and every node's check passes.

mod common;

use std::path::Path;
use wgsl_nn::app::jobs::classify::{classify, read_f64_npy};

#[test]
fn the_trained_digits_model_classifies_as_pytorch_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits");
    let torch = read_f64_npy(&dir.join("torch_logits.npy")).unwrap();
    let c = classify(
        common::gpu(),
        &dir.join("digits.onnx"),
        &dir.join("test_x.npy"),
        &dir.join("test_y.npy"),
        &torch,
    )
    .unwrap();
    assert_eq!(c.examples, 540);
    assert_eq!(
        c.disagreements, 0,
        "GPU and PyTorch disagree on {} images",
        c.disagreements
    );
    assert!((c.accuracy - c.reference_accuracy).abs() < 1e-12);
    assert!(c.accuracy > 0.95, "accuracy {}", c.accuracy);
    assert_eq!(c.confusion.iter().flatten().sum::<usize>(), 540);
    assert!(c.report.passed, "a node check failed");
    assert!(c
        .report
        .nodes
        .iter()
        .all(|n| n.kind == "view" || n.check.as_ref().is_some_and(|c| c.passed)));
}

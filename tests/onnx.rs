//! `wgsl-nn run`'s engine on the committed ONNX models (tests/data/onnx,
//! made by make_onnx_fixtures.py with PyTorch): every node must pass both
//! checks, the output must come as close to PyTorch's float64 forward
//! pass as onnxruntime's float32 output does (within 10x, rel L2 < 1e-4),
//! and hostile files must be refused with their culprit named (planted
//! kernel faults: tests/onnx_mutants.rs, alone in its binary because a
//! planted patch applies to the whole device).

mod common;

use std::path::Path;
use wgsl_nn::app::io::{npy, onnx};
use wgsl_nn::graph::exec::CheckMode;
use wgsl_nn::graph::{build, DType};

use common::onnx_fixtures::{load, program, read_f64, rel_l2, run, DIR};
use wgsl_nn::graph::baseline::run_baseline;

fn model_matches_torch(name: &str) {
    let (model, inputs) = load(name);
    let r = run(&model, &inputs, CheckMode::Full);
    // The CPU baseline: float32 CPU code for every node a CPU library
    // would run natively, judged against the same reference by the same
    // rule.
    let p = program(&model, &inputs);
    let mut cpu = run_baseline(&p, &inputs, 1);
    cpu.check(&r.output_refs);
    assert_eq!(
        cpu.passed(),
        Some(true),
        "{name}: CPU baseline {:?}",
        cpu.checks
    );
    assert_eq!(
        cpu.optimised_nodes,
        p.nodes.len(),
        "{name}: nodes left to the reference's loops in the CPU baseline"
    );
    // Where the CPU has AVX-512, MobileNet's chains of 1x1 and depthwise
    // convs and ResNet's of convs and its max pool run channel-blocked,
    // so the check above covers those paths.
    let chains = matches!(name, "mobilenet_tiny" | "resnet_tiny");
    if chains && wgsl_nn::cpu::baseline::packed::available() {
        assert!(cpu.blocked_nodes > 0, "{name}: no node ran channel-blocked");
    }
    // And the transformers' linear layers (16 and 10 rows; the ViT's GELU
    // fused into its MLP's first) run on the blocked tiles.
    if matches!(name, "transformer_tiny" | "vit_tiny")
        && wgsl_nn::cpu::baseline::packed::available()
    {
        assert!(
            cpu.linear_nodes > 0,
            "{name}: no product ran on the blocked tiles"
        );
    }
    for n in &r.nodes {
        for c in n.check.iter().chain(&n.propagated) {
            assert!(c.passed, "{name}: node {} failed: {}", n.name, c.summary());
        }
    }
    assert!(r.passed, "{name}: report not passed");
    assert!(
        r.nodes.iter().any(|n| n.check.is_some()),
        "{name}: nothing was checked"
    );
    let torch = read_f64(&Path::new(DIR).join(format!("{name}.torch64.npy")));
    let ort = npy::read_npy(&Path::new(DIR).join(format!("{name}.ort.npy"))).expect("ort output");
    let ours = &r.outputs[0].2;
    assert_eq!(ours.len(), torch.len(), "{name}: output size");
    let (e_ours, e_ort) = (rel_l2(ours, &torch), rel_l2(&ort.data, &torch));
    eprintln!("{name}: rel L2 vs torch float64 {e_ours:.3e} (onnxruntime {e_ort:.3e})");
    assert!(
        e_ours < 1e-4,
        "{name}: rel L2 {e_ours:.3e} against PyTorch float64"
    );
    assert!(
        e_ours <= 10.0 * e_ort.max(1e-8),
        "{name}: rel L2 {e_ours:.3e} is more than 10x onnxruntime's {e_ort:.3e}"
    );
}

macro_rules! models {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            model_matches_torch(stringify!($name));
        }
    )*};
}

models!(
    resnet_tiny,
    mobilenet_tiny,
    transformer_tiny,
    vit_tiny,
    conv1d,
    conv_transpose,
    pool_pad,
    elementwise,
    reduce_split,
    embedding_causal,
    softmax_axes,
    batchnorm_raw,
    shape_ops
);

#[test]
fn fusions_and_folding_happen() {
    let (model, inputs) = load("resnet_tiny");
    let shapes = [("input".to_string(), inputs[0].shape.clone())]
        .into_iter()
        .collect();
    let p = build(&model, &shapes).unwrap();
    assert!(p.fused.iter().any(|f| f.contains("Relu")), "{:?}", p.fused);
    assert!(p.nodes.len() < model.nodes.len());
    let (model, inputs) = load("transformer_tiny");
    let shapes = [("input".to_string(), inputs[0].shape.clone())]
        .into_iter()
        .collect();
    let p = build(&model, &shapes).unwrap();
    assert!(p.folded > 10, "shape arithmetic folded: {}", p.folded);
    assert!(
        p.fused.iter().any(|f| f.contains("Add")),
        "bias fused: {:?}",
        p.fused
    );
    // Each layer's MatMul + Softmax + MatMul (scales and the key
    // transpose included) is one attention op; no softmax is left.
    let attention: Vec<_> = p
        .nodes
        .iter()
        .filter(|n| matches!(n.op, wgsl_nn::graph::Op::Attention { .. }))
        .collect();
    assert_eq!(attention.len(), 2, "{:?}", p.fused);
    for n in &attention {
        for t in ["Transpose", "Mul", "MatMul", "Softmax"] {
            assert!(
                n.op_types.iter().any(|o| o == t),
                "{}: {:?}",
                n.name,
                n.op_types
            );
        }
    }
    assert!(!p
        .nodes
        .iter()
        .any(|n| matches!(n.op, wgsl_nn::graph::Op::Softmax { .. })));
    // MobileNet's Conv + BatchNorm + Clip(0, 6): one conv with a fused
    // ReLU6, no Clip left to run (or to hold a second buffer).
    let (model, inputs) = load("mobilenet_tiny");
    let shapes = [("input".to_string(), inputs[0].shape.clone())]
        .into_iter()
        .collect();
    let p = build(&model, &shapes).unwrap();
    let relu6: Vec<_> = p
        .nodes
        .iter()
        .filter(|n| matches!(&n.op, wgsl_nn::graph::Op::Conv { conv, .. } if conv.relu6))
        .collect();
    assert!(!relu6.is_empty(), "{:?}", p.fused);
    assert!(relu6.iter().all(|n| n.op_types.iter().any(|o| o == "Clip")));
    assert!(!p.nodes.iter().any(|n| n.op_types == ["Clip"]));
    // The ViT's exact GELU, five exported nodes per MLP, is one Gelu node.
    let (model, inputs) = load("vit_tiny");
    let shapes = [("input".to_string(), inputs[0].shape.clone())]
        .into_iter()
        .collect();
    let p = build(&model, &shapes).unwrap();
    let gelu = |n: &&wgsl_nn::graph::program::ProgramNode| {
        matches!(
            n.op,
            wgsl_nn::graph::Op::Unary(wgsl_nn::graph::op::Unary::Gelu, _)
        )
    };
    assert!(p.nodes.iter().filter(gelu).count() >= 1, "{:?}", p.fused);
    assert!(p.nodes.iter().filter(gelu).all(|n| n.op_types.len() == 5));
    assert!(!p.nodes.iter().any(|n| n.op_types == ["Erf"]));
}

#[test]
fn a_sampled_check_says_how_many_it_compared() {
    let (model, inputs) = load("resnet_tiny");
    let r = run(&model, &inputs, CheckMode::Sample(50));
    assert!(r.passed && r.lean_outputs_match);
    assert!(
        r.lean_plan_bytes < r.plan_bytes,
        "buffers shared by lifetime: {} vs {}",
        r.lean_plan_bytes,
        r.plan_bytes
    );
    assert!(r
        .nodes
        .iter()
        .filter(|n| n.check.is_some())
        .all(|n| n.compared <= 50 && n.compared > 0));
    assert_eq!(r.check_mode, "sampled 50 per node");
    let off = run(&model, &inputs, CheckMode::Off);
    assert!(off.nodes.iter().all(|n| n.check.is_none()) && off.reference.is_none());
    assert_eq!(off.outputs[0].2.len(), 20);
}

/// The conv rungs with scratch (the texture rung's textures, the unfold
/// rung's unfolded input and padded weights) share it by lifetime in the
/// timed plan, and the timed plan's outputs still match bit for bit.
#[test]
fn conv_scratch_is_shared_by_lifetime() {
    use wgsl_nn::rung::{ConvRung, Kernels};
    let (model, inputs) = load("resnet_tiny");
    for rung in [ConvRung::Tex, ConvRung::Unfold] {
        let g = wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None))
            .unwrap()
            .with_kernels(Kernels::default().conv2d(rung));
        let r = common::onnx_fixtures::run_on(&g, &model, &inputs, CheckMode::Full);
        assert!(r.passed && r.lean_outputs_match, "{rung}: {}", r.passed);
        assert!(
            r.lean_plan_bytes < r.plan_bytes,
            "{rung}: {} vs {}",
            r.lean_plan_bytes,
            r.plan_bytes
        );
    }
}

fn hostile(file: &str) -> String {
    let path = Path::new(DIR).join("hostile").join(file);
    match onnx::read_model(&path) {
        Err(e) => e.to_string(),
        Ok(m) => match build(&m, &m.declared_shapes(|_| 1)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{file} was accepted"),
        },
    }
}

#[test]
fn hostile_files_are_refused_with_the_culprit_named() {
    for (file, want) in [
        ("truncated.onnx", "not an ONNX model"),
        ("wrong_magic.onnx", "not an ONNX model"),
        ("huge_initializer.onnx", "claims shape [1000000, 1000000]"),
        ("cycle.onnx", "cycle"),
        ("missing_input.onnx", "'ghost'"),
        ("unknown_domain.onnx", "com.example"),
        ("huge_reshape.onnx", "cannot reshape [2, 3]"),
        ("unsupported_op.onnx", "operator Einsum is not supported"),
        ("bad_attribute.onnx", "auto_pad"),
        ("bad_storage_order.onnx", "storage_order"),
    ] {
        let e = hostile(file);
        assert!(e.contains(want), "{file}: {e}");
    }
}

#[test]
fn dtype_of_an_int_model_input_is_kept() {
    let (model, _) = load("embedding_causal");
    assert_eq!(model.inputs[0].dtype, DType::I64);
}

/// A model written in the test itself (prost encodes the same messages
/// the loader decodes): two inputs whose batch dims broadcast to 10^10
/// matrices must be refused by the output-size guard, not allocated.
#[test]
fn a_broadcast_that_would_explode_is_refused() {
    use prost::Message;
    use wgsl_nn::app::io::onnx::proto::*;
    let input = |name: &str, dims: &[i64]| ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: Some(d),
                            dim_param: None,
                        })
                        .collect(),
                }),
            }),
            sequence_type: None,
            map_type: None,
        }),
    };
    let node = NodeProto {
        input: vec!["a".into(), "b".into()],
        output: vec!["y".into()],
        name: Some("mm".into()),
        op_type: Some("MatMul".into()),
        domain: None,
        attribute: vec![],
    };
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: None,
            version: Some(17),
        }],
        producer_name: None,
        producer_version: None,
        graph: Some(GraphProto {
            node: vec![node],
            name: None,
            initializer: vec![],
            sparse_initializer: vec![],
            input: vec![
                input("a", &[100_000, 1, 4, 4]),
                input("b", &[1, 100_000, 4, 4]),
            ],
            output: vec![input("y", &[])],
        }),
    };
    let m = onnx::parse_model(&model.encode_to_vec(), "explode.onnx").unwrap();
    let shapes = [
        ("a".to_string(), vec![100_000, 1, 4, 4]),
        ("b".to_string(), vec![1, 100_000, 4, 4]),
    ]
    .into_iter()
    .collect();
    let e = build(&m, &shapes).unwrap_err().to_string();
    assert!(
        e.contains("node 'mm' (MatMul)") && e.contains("would hold more than"),
        "{e}"
    );
}

#[test]
fn a_wrong_cpu_baseline_output_fails_its_check() {
    // The baseline's verdict is the GPU's rule on the same reference: one
    // output element off by a part in 1e4 must fail it.
    let (model, inputs) = load("resnet_tiny");
    let r = run(&model, &inputs, CheckMode::Full);
    let mut cpu = run_baseline(&program(&model, &inputs), &inputs, 1);
    cpu.check(&r.output_refs);
    assert_eq!(cpu.passed(), Some(true));
    let v = &mut cpu.outputs[0][3];
    *v += v.abs().max(1e-3) * 1e-4;
    cpu.check(&r.output_refs);
    assert_eq!(cpu.passed(), Some(false), "{:?}", cpu.checks);
}

#[test]
fn attention_with_another_scale_is_not_fused() {
    // Layer 0's K^T scaled by 2 instead of d^-1/4: softmax(c q k^T) with
    // c != 1/sqrt(d) is not what the attention kernels compute, so that
    // layer keeps its three ops (and still passes); layer 1 still fuses.
    let (mut model, inputs) = load("transformer_tiny");
    model.initializers.insert(
        "two".into(),
        wgsl_nn::graph::HostTensor {
            dtype: DType::F32,
            shape: vec![],
            data: vec![2.0],
        },
    );
    let mul = model
        .nodes
        .iter_mut()
        .find(|n| n.name == "/layers.0/self_attn/Mul_1")
        .expect("the K^T scale node");
    mul.inputs[1] = "two".into();
    let p = program(&model, &inputs);
    let attention = p
        .nodes
        .iter()
        .filter(|n| matches!(n.op, wgsl_nn::graph::Op::Attention { .. }))
        .count();
    assert_eq!(attention, 1, "{:?}", p.fused);
    assert!(p
        .nodes
        .iter()
        .any(|n| matches!(n.op, wgsl_nn::graph::Op::Softmax { .. })));
    let r = run(&model, &inputs, CheckMode::Full);
    assert!(r.passed);
}

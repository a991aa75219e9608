//! Fallback notes name the rung that ran.

use super::*;
use crate::gpu::Step;

/// Steps of the given entry points, each in its kernel family as the ops
/// name them.
fn plan_of(entries: &[&'static str]) -> Plan {
    let mut plan = Plan::new();
    for &entry in entries {
        let family = match entry {
            e if e.starts_with("softmax") => "softmax",
            e if e.ends_with("_vec4") => "matmul_vec4",
            _ => "matmul_tex",
        };
        plan.push(Step {
            label: entry.into(),
            kernel: crate::gpu::Kernel {
                family,
                source: "",
                entry,
                dtype: crate::dtype::DType::F32,
            },
            overrides: vec![],
            params: vec![],
            bindings: vec![],
            invocations: 1,
            workgroup_size: 1,
            flops: 0,
            bytes_moved: 0,
        });
    }
    plan
}

#[test]
fn a_rung_that_fell_back_is_named_and_one_that_ran_is_not() {
    let ran = plan_of(&["pack_a", "pack_b", "matmul_tex"]);
    assert_eq!(fallback_note(OpKind::Matmul, "tex", &ran), None);
    let fell = plan_of(&["matmul_rb4_vec4"]);
    let note = fallback_note(OpKind::Matmul, "tex", &fell).unwrap();
    assert!(note.contains("fell back to matmul_rb4_vec4"), "{note}");
    // rb4 must not be satisfied by rb4_vec4.
    assert!(fallback_note(OpKind::Matmul, "rb4", &fell).is_some());
    assert_eq!(
        fallback_note(OpKind::Attention, "composed", &plan_of(&["softmax_lanes"])),
        None
    );
}

//! Fallback notes name the rung that ran.

use super::*;
use crate::gpu::Step;

fn plan_of(entries: &[&'static str]) -> Plan {
    let mut plan = Plan::new();
    for &entry in entries {
        plan.push(Step {
            label: entry.into(),
            kernel: crate::gpu::Kernel {
                family: "f",
                source: "",
                entry,
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

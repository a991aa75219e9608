//! Which rung a float16 case or bench row runs: the texture rung forced,
//! or kept off it, and the check that it ran.

use crate::error::Result;
use crate::gpu::Plan;
use crate::rung::{ConvRung, Kernels, MatmulRung};

/// The plan a case (or bench row) runs in: the texture rung forced, or
/// kept off it (the buffer rungs, the direct conv).
pub fn plan_for(tex: bool) -> Plan {
    Plan::with_kernels(if tex {
        Kernels::NONE.matmul(MatmulRung::Tex).conv2d(ConvRung::Tex)
    } else {
        Kernels::NONE
            .matmul(MatmulRung::Rb4)
            .conv2d(ConvRung::Direct)
    })
}

/// An error unless the plan of a `tex` case runs the texture rung (a case
/// labelled tex that ran another kernel would prove nothing about it).
///
/// # Errors
///
/// [`crate::Error::Argument`] naming the case, when the plan disagrees.
pub fn expect_rung(plan: &Plan, tex: bool, label: &str) -> Result<()> {
    if plan.runs("matmul_tex") == tex {
        return Ok(());
    }
    Err(crate::Error::arg(
        "selftest --dtype f16",
        format!(
            "case '{label}' was to run {} the texture rung but did not; this is a bug in wgsl-nn",
            if tex { "on" } else { "off" }
        ),
    ))
}

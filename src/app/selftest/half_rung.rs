//! Which rung a float16 case or bench row runs: the texture rung forced,
//! or kept off it, and the check that it ran.

use crate::error::Result;
use crate::gpu::Plan;
use crate::rung::{ConvRung, Kernels, MatmulRung};

/// Appends a case label's flags (each `(on, text)` shown when on), its
/// value scale when not 1 and " tex" on the texture rung.
///
/// ```
/// let mut s = String::from("conv 3->5");
/// wgsl_nn::app::selftest::half_rung::label_tail(&mut s, &[(true, " relu"), (false, " +bias")], 1e-3, true);
/// assert_eq!(s, "conv 3->5 relu x0.001 tex");
/// ```
pub fn label_tail(s: &mut String, flags: &[(bool, &str)], scale: f32, tex: bool) {
    for &(on, what) in flags {
        if on {
            s.push_str(what);
        }
    }
    if scale != 1.0 {
        s.push_str(&format!(" x{scale}"));
    }
    if tex {
        s.push_str(" tex");
    }
}

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

//! Which rung a float16 case or bench row runs (the buffer kernels, the
//! conv's implicit GEMM, or the texture rung, forced) and the check that
//! it ran.

use crate::error::Result;
use crate::gpu::Plan;
use crate::rung::{ConvRung, Kernels, MatmulRung};

/// The rung a float16 case runs on.
///
/// ```
/// use wgsl_nn::app::selftest::half_rung::HalfRung;
/// assert_eq!(HalfRung::of_tex(true), HalfRung::Tex);
/// assert_eq!(HalfRung::Igemm.suffix(), " igemm");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfRung {
    /// The buffer kernels: the register-blocked product, the direct conv.
    Buffer,
    /// The conv's implicit GEMM on float16 storage (products: as Buffer).
    Igemm,
    /// The products' vec4 rung (8 x 4 blocks, four values per load).
    Vec4,
    /// The texture rung (float16 storage, float32 textures).
    Tex,
}

impl HalfRung {
    /// Tex when `tex`, else Buffer.
    pub fn of_tex(tex: bool) -> HalfRung {
        if tex {
            HalfRung::Tex
        } else {
            HalfRung::Buffer
        }
    }

    /// What a label says of the rung: nothing for the buffer kernels.
    pub fn suffix(self) -> &'static str {
        match self {
            HalfRung::Buffer => "",
            HalfRung::Igemm => " igemm",
            HalfRung::Vec4 => " vec4",
            HalfRung::Tex => " tex",
        }
    }
}

/// Appends a case label's flags (each `(on, text)` shown when on), its
/// value scale when not 1 and the rung's suffix.
///
/// ```
/// use wgsl_nn::app::selftest::half_rung::{label_tail, HalfRung};
/// let mut s = String::from("conv 3->5");
/// label_tail(&mut s, &[(true, " relu"), (false, " +bias")], 1e-3, HalfRung::Tex);
/// assert_eq!(s, "conv 3->5 relu x0.001 tex");
/// ```
pub fn label_tail(s: &mut String, flags: &[(bool, &str)], scale: f32, rung: HalfRung) {
    for &(on, what) in flags {
        if on {
            s.push_str(what);
        }
    }
    if scale != 1.0 {
        s.push_str(&format!(" x{scale}"));
    }
    s.push_str(rung.suffix());
}

/// The plan a case (or bench row) runs in, its rung forced.
pub fn plan_for(rung: HalfRung) -> Plan {
    let (matmul, conv) = match rung {
        // Float16 has no tiled rung: forcing it keeps the word rungs.
        HalfRung::Buffer => (MatmulRung::Tiled, ConvRung::Direct),
        HalfRung::Igemm => (MatmulRung::Tiled, ConvRung::Igemm),
        HalfRung::Vec4 => (MatmulRung::Rb8Vec4, ConvRung::Direct),
        HalfRung::Tex => (MatmulRung::Tex, ConvRung::Tex),
    };
    Plan::with_kernels(Kernels::NONE.matmul(matmul).conv2d(conv))
}

/// An error unless the plan of a case runs the rung it names (a case
/// labelled tex that ran another kernel would prove nothing about it).
///
/// # Errors
///
/// [`crate::Error::Argument`] naming the case, when the plan disagrees.
pub fn expect_rung(plan: &Plan, rung: HalfRung, label: &str) -> Result<()> {
    let ran = if plan.runs("matmul_tex") {
        HalfRung::Tex
    } else if plan.runs("conv2d_f16_igemm") {
        HalfRung::Igemm
    } else if plan.runs("matmul_f16_rb8_vec4") {
        HalfRung::Vec4
    } else {
        HalfRung::Buffer
    };
    if ran == rung {
        return Ok(());
    }
    Err(crate::Error::arg(
        "selftest --dtype f16",
        format!("case '{label}' was to run on {rung:?} but ran {ran:?}; this is a bug in wgsl-nn"),
    ))
}

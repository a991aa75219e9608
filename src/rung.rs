//! The kernel ladders, defined once: for each op family an enum of its
//! rungs (kernel designs, slowest idea first), each with its name (what
//! `--kernel family=name` and the tuner's cache say) and the entry point
//! that carries its work, and [`Kernels`], the choice a [`Plan`] or a
//! device carries as a value. Ops, the tuner, the bench, the self-test and
//! the mutant sweep all read these tables; nothing else lists rungs.
//!
//! ```
//! use wgsl_nn::rung::{Kernels, MatmulRung, Rung};
//! let k = Kernels::parse("matmul=tex,conv2d=row4")?;
//! assert_eq!(k.matmul, Some(MatmulRung::Tex));
//! assert_eq!(MatmulRung::Tex.entry(), "matmul_tex");
//! assert!(Kernels::parse("matmul=fast").is_err());
//! # Ok::<(), wgsl_nn::Error>(())
//! ```
//!
//! [`Plan`]: crate::gpu::Plan

use crate::error::{Error, Result};

/// One op family's ladder of kernels.
pub trait Rung: Copy + PartialEq + std::fmt::Debug + 'static {
    /// The family's name in `--kernel family=rung` and the tuner's cache.
    const FAMILY: &'static str;
    /// Every rung, in ladder order.
    const ALL: &'static [Self];
    /// The rung's name, as the user writes it.
    fn name(self) -> &'static str;
    /// The WGSL entry point that does the rung's main work; a plan that ran
    /// the rung has a step with this entry (how tests assert what ran).
    fn entry(self) -> &'static str;

    /// The rung called `name`, or an error listing the family's rungs.
    fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                Error::arg(
                    "--kernel",
                    format!(
                        "'{name}' is not a {} kernel; choose one of {}",
                        Self::FAMILY,
                        Self::names().join(", ")
                    ),
                )
            })
    }

    /// Every rung's name, in ladder order.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|r| r.name()).collect()
    }
}

macro_rules! ladder {
    ($(#[$doc:meta])* $ty:ident, $family:literal, { $($(#[$vdoc:meta])* $v:ident = $name:literal => $entry:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$vdoc])* $v),+
        }

        impl Rung for $ty {
            const FAMILY: &'static str = $family;
            const ALL: &'static [Self] = &[$($ty::$v),+];
            fn name(self) -> &'static str {
                match self { $($ty::$v => $name),+ }
            }
            fn entry(self) -> &'static str {
                match self { $($ty::$v => $entry),+ }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

ladder!(
    /// The matrix-product ladder (shaders/matmul*.wgsl).
    MatmulRung, "matmul", {
    /// One output per invocation.
    Naive = "naive" => "matmul_naive",
    /// 16x16 tiles through workgroup memory.
    Tiled = "tiled" => "matmul_tiled",
    /// 4x4 register blocks read from storage.
    Rb4 = "rb4" => "matmul_rb4",
    /// 4x4 blocks with vec4 loads (needs multiples of 4; else rb4).
    Rb4Vec4 = "rb4_vec4" => "matmul_rb4_vec4",
    /// 8x4 blocks with vec4 loads.
    Rb8Vec4 = "rb8_vec4" => "matmul_rb8_vec4",
    /// B packed into a texture, A shared by subgroup shuffles (falls back
    /// to the vec4 rungs where it cannot run).
    Tex = "tex" => "matmul_tex",
    /// 128 x 128 tiles through workgroup memory, 8 x 8 outputs per thread.
    Sm128 = "sm128" => "matmul_sm128",
    /// sm128 with K 16 at a time and the next operands prefetched.
    Sm128p = "sm128p" => "matmul_sm128p",
});

ladder!(
    /// The 2-D convolution ladder (shaders/conv2d.wgsl, and the matmul
    /// ladder for `gemm` and `tex`).
    ConvRung, "conv2d", {
    /// One output per invocation.
    Direct = "direct" => "conv2d_direct",
    /// Four neighbouring outputs of a row per invocation.
    Row4 = "row4" => "conv2d_row4",
    /// Implicit GEMM with 4x4 register blocks.
    Igemm = "igemm" => "conv2d_igemm",
    /// A 1x1, stride-1, unpadded conv as a plain matrix product (other
    /// convs take igemm); the product's own rung follows the matmul choice.
    Gemm = "gemm" => "matmul",
    /// The input unfolded into a texture and multiplied by matmul's tex.
    Tex = "tex" => "matmul_tex",
    /// The input unfolded into a storage buffer and multiplied by the
    /// register-blocked products (adapters without subgroups: GL).
    Unfold = "unfold" => "conv2d_unfold",
});

ladder!(
    /// The attention ladder: the composed path, then the fused kernels.
    AttentionRung, "attention", {
    /// Scores stored, softmax, then PV (the composed path).
    Composed = "composed" => "softmax",
    /// Fused online softmax, scalar rows.
    FusedScalar = "fused_scalar" => "attention_fused",
    /// Fused with vec4 rows and the head size a pipeline constant (head
    /// sizes divisible by 4; else scalar).
    Fused = "fused" => "attention_fused_vec4",
    /// K and V packed into textures, a subgroup per 8 query rows (falls
    /// back to fused where it cannot run).
    FusedTex = "fused_tex" => "attention_tex",
    /// FlashAttention-2 blocking through workgroup memory (head sizes up
    /// to 64, else fused).
    Flash = "flash" => "attention_flash",
});

ladder!(
    /// Softmax over the last axis.
    SoftmaxRung, "softmax", {
    /// A row per workgroup, reduced through workgroup memory.
    Rows = "rows" => "softmax_rows",
    /// A row per invocation (CPU adapters: no barriers).
    Lanes = "lanes" => "softmax_lanes",
});

/// How attention's result is computed: the two GPU paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionPath {
    /// QK^T into an [B, H, L, S] score buffer, softmax, times V.
    Composed,
    /// Online softmax over K/V tiles; the scores are never stored.
    Fused,
}

/// The order in which the reference accumulates softmax: each GPU path
/// has its own, so the reference's rounding follows the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Scores stored, softmax, then a product (the composed path).
    Stored,
    /// Online softmax: running output rescaled as the max grows (fused).
    Online,
}

impl AttentionPath {
    /// The reference order that follows this path's arithmetic.
    pub fn order(self) -> Order {
        match self {
            AttentionPath::Composed => Order::Stored,
            AttentionPath::Fused => Order::Online,
        }
    }
}

impl AttentionRung {
    /// The path this rung runs: `composed` is its own path, every other
    /// rung a kernel of the fused one.
    pub fn path(self) -> AttentionPath {
        match self {
            AttentionRung::Composed => AttentionPath::Composed,
            _ => AttentionPath::Fused,
        }
    }

    /// The reference order for this rung's path.
    pub fn order(self) -> Order {
        self.path().order()
    }
}

/// A kernel choice per op family: `None` leaves the family to the op's
/// rules for the adapter (and the tuner's pick, where one was measured).
/// A [`Plan`](crate::gpu::Plan) carries one (it wins), and so may a device
/// (`Gpu::with_kernels`, what `--kernel` sets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kernels {
    /// The matrix-product rung.
    pub matmul: Option<MatmulRung>,
    /// The convolution rung.
    pub conv2d: Option<ConvRung>,
    /// The attention rung (composed or a fused kernel).
    pub attention: Option<AttentionRung>,
    /// The softmax rung.
    pub softmax: Option<SoftmaxRung>,
}

impl Kernels {
    /// No family chosen (`Kernels::default()`, usable in a const).
    pub const NONE: Kernels = Kernels {
        matmul: None,
        conv2d: None,
        attention: None,
        softmax: None,
    };

    /// Every family's name and rung names, for help texts and `info`.
    pub fn families() -> [(&'static str, Vec<&'static str>); 4] {
        [
            (MatmulRung::FAMILY, MatmulRung::names()),
            (ConvRung::FAMILY, ConvRung::names()),
            (AttentionRung::FAMILY, AttentionRung::names()),
            (SoftmaxRung::FAMILY, SoftmaxRung::names()),
        ]
    }

    /// Reads `family=rung[,family=rung...]` (what `--kernel` takes).
    pub fn parse(list: &str) -> Result<Kernels> {
        let mut k = Kernels::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            k.set(item)?;
        }
        Ok(k)
    }

    /// Sets one `family=rung`; an unknown family or rung is an error
    /// naming the choices.
    pub fn set(&mut self, item: &str) -> Result<()> {
        let Some((family, rung)) = item.split_once('=') else {
            return Err(Error::arg(
                "--kernel",
                format!("'{item}' is not family=rung, e.g. matmul=tex"),
            ));
        };
        *self = self.with_name(family.trim(), rung.trim())?;
        Ok(())
    }

    /// The choice with `matmul` set.
    pub const fn matmul(mut self, r: MatmulRung) -> Self {
        self.matmul = Some(r);
        self
    }

    /// The choice with `conv2d` set.
    pub const fn conv2d(mut self, r: ConvRung) -> Self {
        self.conv2d = Some(r);
        self
    }

    /// The choice with `attention` set.
    pub const fn attention(mut self, r: AttentionRung) -> Self {
        self.attention = Some(r);
        self
    }

    /// The choice with `softmax` set.
    pub const fn softmax(mut self, r: SoftmaxRung) -> Self {
        self.softmax = Some(r);
        self
    }

    /// Per family, this choice where it has one, else `fallback`'s.
    pub fn or(self, fallback: Kernels) -> Kernels {
        Kernels {
            matmul: self.matmul.or(fallback.matmul),
            conv2d: self.conv2d.or(fallback.conv2d),
            attention: self.attention.or(fallback.attention),
            softmax: self.softmax.or(fallback.softmax),
        }
    }

    /// The rung chosen for `family` by name, if any (bench and report rows).
    pub fn name_for(&self, family: &str) -> Option<&'static str> {
        match family {
            MatmulRung::FAMILY => self.matmul.map(Rung::name),
            ConvRung::FAMILY => self.conv2d.map(Rung::name),
            AttentionRung::FAMILY => self.attention.map(Rung::name),
            SoftmaxRung::FAMILY => self.softmax.map(Rung::name),
            _ => None,
        }
    }

    /// Sets `family` to its rung called `rung` (the tuner and the bench
    /// walk ladders by name).
    pub fn with_name(mut self, family: &str, rung: &str) -> Result<Self> {
        match family {
            MatmulRung::FAMILY => self.matmul = Some(MatmulRung::parse(rung)?),
            ConvRung::FAMILY => self.conv2d = Some(ConvRung::parse(rung)?),
            AttentionRung::FAMILY => self.attention = Some(AttentionRung::parse(rung)?),
            SoftmaxRung::FAMILY => self.softmax = Some(SoftmaxRung::parse(rung)?),
            other => {
                let names: Vec<&str> = Kernels::families().iter().map(|f| f.0).collect();
                return Err(Error::arg(
                    "--kernel",
                    format!(
                        "unknown kernel family '{other}'; choose one of {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(self)
    }
}

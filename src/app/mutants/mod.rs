//! Planted faults: the proof that the verdict is sharp. Each mutant makes
//! exactly what a kernel with that bug would return: most are planted in
//! the real GPU kernel (a patched WGSL source compiled for the mutant run
//! only, on the rung named, so the real kernel path is what gets judged),
//! a few touch the GPU's output as a store bug would, and the reduction
//! faults of `cpu::float32` run as float32 products on the CPU. Every one
//! must fail the check, at a small size and at the largest the tool runs.

pub mod cases;
pub mod products;
pub mod sweep;

use crate::cpu::float32::Fault;
use crate::gpu::{Gpu, Patch};
use crate::ops::rnn::RnnKind;
use crate::rung::{AttentionRung, ConvRung, Kernels, MatmulRung, SoftmaxRung};
use cases::Case;
use serde::Serialize;

/// Where a mutant is planted.
#[derive(Debug, Clone, Copy)]
pub enum Planted {
    /// Patches of a kernel family's source, run with the rung `rung`
    /// names (`Kernels::NONE`: the op has one kernel).
    Kernel {
        /// The rung whose kernel is patched, forced while it runs.
        rung: Kernels,
        /// The source edits that plant the bug.
        patches: &'static [Patch],
    },
    /// The GPU's output touched as a kernel with the bug would leave it.
    Output(fn(&mut Vec<f32>)),
    /// A float32 product with the fault, computed on the CPU.
    Product(Fault),
}

/// One planted fault.
#[derive(Debug, Clone, Copy)]
pub struct Mutant {
    /// What the fault is, in a few words.
    pub name: &'static str,
    /// The workload it is caught on.
    pub case: Case,
    /// Where and how it is planted.
    pub planted: Planted,
}

const fn patch(family: &'static str, find: &'static str, replace: &'static str) -> Patch {
    Patch {
        family,
        find,
        replace,
    }
}

const MM_LOAD_A: &str = "return a[base + r * p.lda + kk];";
const MM_LOAD_B: &str = "return b[base + kk * p.ldb + c];";

/// The catalogue.
pub const CATALOGUE: &[Mutant] = &[
    Mutant {
        name: "matmul: last K term dropped (kk + 1 < k1)",
        case: Case::Matmul,
        planted: Planted::Kernel {
            rung: Kernels::NONE.matmul(MatmulRung::Rb4),
            patches: &[patch(
                "matmul",
                "for (var kk = p.k0; kk < p.k1; kk++)",
                "for (var kk = p.k0; kk + 1u < p.k1; kk++)",
            )],
        },
    },
    Mutant {
        name: "matmul: last K tile dropped",
        case: Case::Matmul,
        planted: Planted::Kernel {
            rung: Kernels::NONE.matmul(MatmulRung::Tiled),
            patches: &[patch("matmul", "k0 < p.k1; k0 += T", "k0 + T < p.k1; k0 += T")],
        },
    },
    Mutant {
        name: "matmul: operands rounded to bfloat16",
        case: Case::Matmul,
        planted: Planted::Kernel {
            rung: Kernels::NONE.matmul(MatmulRung::Rb4),
            patches: &[
                patch(
                    "matmul",
                    MM_LOAD_A,
                    "return bitcast<f32>(bitcast<u32>(a[base + r * p.lda + kk]) & 0xffff0000u);",
                ),
                patch(
                    "matmul",
                    MM_LOAD_B,
                    "return bitcast<f32>(bitcast<u32>(b[base + kk * p.ldb + c]) & 0xffff0000u);",
                ),
            ],
        },
    },
    Mutant {
        name: "matmul: operands rounded to float16",
        case: Case::Matmul,
        planted: Planted::Kernel {
            rung: Kernels::NONE.matmul(MatmulRung::Rb4),
            patches: &[
                patch(
                    "matmul",
                    MM_LOAD_A,
                    "return unpack2x16float(pack2x16float(vec2<f32>(a[base + r * p.lda + kk], 0.0))).x;",
                ),
                patch(
                    "matmul",
                    MM_LOAD_B,
                    "return unpack2x16float(pack2x16float(vec2<f32>(b[base + kk * p.ldb + c], 0.0))).x;",
                ),
            ],
        },
    },
    Mutant {
        name: "matmul: accumulator kept in float16",
        case: Case::Matmul,
        planted: Planted::Kernel {
            rung: Kernels::NONE.matmul(MatmulRung::Naive),
            patches: &[patch(
                "matmul",
                "acc += load_a(abase, i, kk) * load_b(bbase, kk, j);",
                "acc = unpack2x16float(pack2x16float(vec2<f32>(acc + load_a(abase, i, kk) * load_b(bbase, kk, j), 0.0))).x;",
            )],
        },
    },
    Mutant {
        name: "matmul: B read transposed (square product)",
        case: Case::Square,
        planted: Planted::Kernel {
            rung: Kernels::NONE.matmul(MatmulRung::Naive),
            patches: &[patch("matmul", MM_LOAD_B, "return b[base + c * p.ldb + kk];")],
        },
    },
    Mutant {
        name: "matmul: bias skipped",
        case: Case::Matmul,
        planted: Planted::Kernel {
            rung: Kernels::NONE.matmul(MatmulRung::Rb4),
            patches: &[patch(
                "matmul",
                "r += bias[select(j, i, (p.flags & BIAS_ROWS) != 0u)];",
                // Still bound (the layout must not change), never added.
                "r += 0.0 * bias[select(j, i, (p.flags & BIAS_ROWS) != 0u)];",
            )],
        },
    },
    Mutant {
        name: "matmul: two neighbouring outputs swapped",
        case: Case::Matmul,
        planted: Planted::Output(|y| y.swap(0, 1)),
    },
    Mutant {
        name: "conv2d: stride off by one",
        case: Case::Conv { groups: 1 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.conv2d(ConvRung::Direct),
            patches: &[patch(
                "conv2d",
                "let iy0 = i32(oy * p.sh) - i32(p.ph);",
                "let iy0 = i32(oy * (p.sh + 1u)) - i32(p.ph);",
            )],
        },
    },
    Mutant {
        name: "conv2d: padding off by one",
        case: Case::Conv { groups: 1 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.conv2d(ConvRung::Direct),
            patches: &[patch(
                "conv2d",
                "let ix0 = i32(ox * p.sw) - i32(p.pw);",
                "let ix0 = i32(ox * p.sw) - i32(p.pw + 1u);",
            )],
        },
    },
    Mutant {
        name: "conv2d: dilation off by one",
        case: Case::Conv { groups: 1 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.conv2d(ConvRung::Direct),
            patches: &[patch(
                "conv2d",
                "let iy = iy0 + i32(ky * p.dh);",
                "let iy = iy0 + i32(ky * (p.dh + 1u));",
            )],
        },
    },
    Mutant {
        name: "conv2d (unfold): padding off by one in the unfolded rows",
        case: Case::Conv { groups: 1 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.conv2d(ConvRung::Unfold),
            patches: &[patch(
                "conv2d_unfold",
                "let ix = i32((pix % p.ow) * p.sw + s * p.dw) - i32(p.pw);",
                "let ix = i32((pix % p.ow) * p.sw + s * p.dw) - i32(p.pw + 1u);",
            )],
        },
    },
    Mutant {
        name: "conv2d (unfold): K's padding rows left unwritten",
        case: Case::Conv { groups: 1 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.conv2d(ConvRung::Unfold),
            patches: &[patch(
                "conv2d_unfold",
                "unfolded[t] = vec4<f32>(0.0);",
                "",
            )],
        },
    },
    Mutant {
        name: "conv2d: the neighbouring group's input channels (grouped conv)",
        case: Case::Conv { groups: 2 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.conv2d(ConvRung::Direct),
            patches: &[patch(
                "conv2d",
                "return (co / (p.cout / p.groups)) * (p.cin / p.groups);",
                "return ((co / (p.cout / p.groups) + 1u) % p.groups) * (p.cin / p.groups);",
            )],
        },
    },
    Mutant {
        name: "conv2d: bias skipped",
        case: Case::Conv { groups: 1 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.conv2d(ConvRung::Direct),
            patches: &[patch("conv2d", "acc += bias[co];", "acc += 0.0 * bias[co];")],
        },
    },
    Mutant {
        name: "conv2d: an output left unwritten (NaN poison stays)",
        case: Case::Conv { groups: 1 },
        planted: Planted::Output(|y| {
            if let Some(v) = y.last_mut() {
                *v = f32::NAN;
            }
        }),
    },
    Mutant {
        name: "attention: 1/sqrt(d) scale missing",
        case: Case::Attention {
            causal: false,
            key_mask: false,
        },
        planted: Planted::Kernel {
            rung: Kernels::NONE.attention(AttentionRung::Fused),
            patches: &[patch("attention_vec4", "qv[t] = q4[ob + t] * p.scale;", "qv[t] = q4[ob + t];")],
        },
    },
    Mutant {
        name: "attention: last key tile dropped (fused)",
        case: Case::Attention {
            causal: false,
            key_mask: false,
        },
        planted: Planted::Kernel {
            rung: Kernels::NONE.attention(AttentionRung::Fused),
            patches: &[patch(
                "attention_vec4",
                "for (var j0 = p.k0; j0 < key_end; j0 += TK)",
                "for (var j0 = p.k0; j0 + TK < key_end; j0 += TK)",
            )],
        },
    },
    Mutant {
        name: "attention: causal mask off by one (diagonal hidden)",
        case: Case::Attention {
            causal: true,
            key_mask: false,
        },
        planted: Planted::Kernel {
            rung: Kernels::NONE.attention(AttentionRung::Fused),
            patches: &[patch(
                "attention_vec4",
                "(p.flags & CAUSAL) != 0u && j > i {",
                "(p.flags & CAUSAL) != 0u && j >= i {",
            )],
        },
    },
    Mutant {
        name: "attention: key mask read one key off",
        case: Case::Attention {
            causal: false,
            key_mask: true,
        },
        planted: Planted::Kernel {
            rung: Kernels::NONE.attention(AttentionRung::Fused),
            patches: &[patch(
                "attention_vec4",
                "key_mask[b * p.keys + j] == 0.0",
                "key_mask[b * p.keys + j + 1u] == 0.0",
            )],
        },
    },
    Mutant {
        name: "attention: stale online-softmax rescale (output not rescaled)",
        case: Case::Attention {
            causal: false,
            key_mask: false,
        },
        planted: Planted::Kernel {
            rung: Kernels::NONE.attention(AttentionRung::Fused),
            patches: &[patch(
                "attention_vec4",
                "acc[t] = acc[t] * correction + w * v_tile4[jj * d4 + t];",
                "acc[t] = acc[t] + w * v_tile4[jj * d4 + t];",
            )],
        },
    },
    Mutant {
        name: "softmax: max not subtracted (logits up to 100)",
        case: Case::Softmax { scale: 100.0 },
        planted: Planted::Kernel {
            rung: Kernels::NONE.softmax(SoftmaxRung::Rows),
            patches: &[
                patch("softmax", "exp(x[base + j] - row_max)", "exp(x[base + j])"),
                patch("softmax", "exp(x[base + j] - m)", "exp(x[base + j])"),
            ],
        },
    },
    Mutant {
        name: "layer norm: eps ignored (rows of small variance)",
        case: Case::LayerNorm { spread: 1e-3 },
        planted: Planted::Kernel {
            rung: Kernels::NONE,
            patches: &[patch("layernorm", " + p.eps", "")],
        },
    },
    Mutant {
        name: "avg pool: the edge window (last column) never written",
        case: Case::AvgPool,
        planted: Planted::Kernel {
            rung: Kernels::NONE,
            patches: &[patch(
                "pool2d",
                "    let i = flat_id(wid, nwg, lid);\n    if i >= p.total {",
                "    let i = flat_id(wid, nwg, lid);\n    if i >= p.total || i % p.ow == p.ow - 1u {",
            )],
        },
    },
    Mutant {
        name: "gru: reset and update gates swapped",
        case: Case::Rnn(RnnKind::Gru),
        planted: Planted::Kernel {
            rung: Kernels::NONE,
            patches: &[patch(
                "rnn",
                "let r = sigmoid(ld_xp(x) + a.x + ld_bh(j));\n    let z = sigmoid(ld_xp(x + hn) + a.y + ld_bh(j + hn));",
                "let z = sigmoid(ld_xp(x) + a.x + ld_bh(j));\n    let r = sigmoid(ld_xp(x + hn) + a.y + ld_bh(j + hn));",
            )],
        },
    },
    Mutant {
        name: "lstm: input and forget gates swapped",
        case: Case::Rnn(RnnKind::Lstm),
        planted: Planted::Kernel {
            rung: Kernels::NONE,
            patches: &[patch(
                "rnn",
                "let ig = sigmoid(ld_xp(x) + a.x + ld_bh(j));\n    let fg = sigmoid(ld_xp(x + hn) + a.y + ld_bh(j + hn));",
                "let fg = sigmoid(ld_xp(x) + a.x + ld_bh(j));\n    let ig = sigmoid(ld_xp(x + hn) + a.y + ld_bh(j + hn));",
            )],
        },
    },
    Mutant {
        name: "product: operands rounded to bfloat16",
        case: Case::Matmul,
        planted: Planted::Product(Fault::Bf16Operands),
    },
    Mutant {
        name: "product: operands rounded to float16",
        case: Case::Matmul,
        planted: Planted::Product(Fault::F16Operands),
    },
    Mutant {
        name: "product: float16 accumulation",
        case: Case::Matmul,
        planted: Planted::Product(Fault::F16Accumulate),
    },
    Mutant {
        name: "product: the middle K term dropped",
        case: Case::Matmul,
        planted: Planted::Product(Fault::DropTerm),
    },
    Mutant {
        name: "product: the last K term dropped",
        case: Case::Matmul,
        planted: Planted::Product(Fault::DropLast),
    },
    Mutant {
        name: "product: the last 64-wide K tile dropped",
        case: Case::Matmul,
        planted: Planted::Product(Fault::DropTile),
    },
    Mutant {
        name: "product: a quarter of K dropped (a split-K slice lost)",
        case: Case::Matmul,
        planted: Planted::Product(Fault::DropQuarter),
    },
];

/// One mutant at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The mutant's name.
    pub mutant: String,
    /// The op it was planted in.
    pub op: String,
    /// The size it ran at.
    pub size: String,
    /// "kernel" (patched WGSL), "output" or "cpu".
    pub planted: String,
    /// Whether the check failed, as it must.
    pub caught: bool,
    /// The worst |gpu - ref| / bound (above 1 is caught).
    pub err_over_bound: f64,
    /// Why the mutant could not be judged (it then counts as missed).
    pub error: Option<String>,
}

impl Mutant {
    /// Where it is planted, in one word.
    pub fn planted_word(&self) -> &'static str {
        match self.planted {
            Planted::Kernel { .. } => "kernel",
            Planted::Output(_) => "output",
            Planted::Product(_) => "cpu",
        }
    }

    /// Runs the mutant at the small (`big` false) or the largest size.
    pub fn run(&self, gpu: &Gpu, big: bool) -> Outcome {
        let check = match self.planted {
            Planted::Product(fault) => {
                let k = if big { 65536 } else { 19 };
                Ok(products::faulty(
                    products::Data::Random,
                    fault,
                    [4, 4, k],
                    50,
                ))
            }
            Planted::Output(touch) => self
                .case
                .run(gpu, Kernels::default(), big, &touch)
                .map_err(|e| e.to_string()),
            Planted::Kernel { rung, patches } => {
                gpu.plant(self.name, patches);
                let check = self.case.run(gpu, rung, big, &|_| {});
                let hits = gpu.planted_hits();
                gpu.plant(self.name, &[]);
                match check {
                    Ok(_) if hits == 0 => Err(format!(
                        "the patch never reached a kernel ({} did not run it)",
                        patches[0].family
                    )),
                    other => other.map_err(|e| e.to_string()),
                }
            }
        };
        let size = match self.planted {
            Planted::Product(_) => format!("4x4x{}", if big { 65536 } else { 19 }),
            _ => self.case.size(big),
        };
        Outcome {
            mutant: self.name.to_string(),
            op: self.case.op().to_string(),
            size,
            planted: self.planted_word().to_string(),
            caught: check.as_ref().is_ok_and(|c| !c.passed),
            err_over_bound: check.as_ref().map_or(f64::NAN, |c| c.worst_ratio),
            error: check.err(),
        }
    }
}

/// Every mutant of the catalogue at the small size and, when `large`, at
/// the largest too.
pub fn run_all(gpu: &Gpu, large: bool) -> Vec<Outcome> {
    let sizes: &[bool] = if large { &[false, true] } else { &[false] };
    CATALOGUE
        .iter()
        .flat_map(|m| sizes.iter().map(move |&big| m.run(gpu, big)))
        .collect()
}

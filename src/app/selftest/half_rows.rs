//! `selftest --dtype f16`: softmax and layer norm (`ops::rows_f16`),
//! pooling (`ops::pool2d_f16`) and activations (`ops::elementwise`) on
//! float16 storage against the f64
//! reference with float16's store charged, and their float16 faults, each
//! planted and required to fail.

use crate::check::{compare_f16, Check};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::Result;
use crate::geometry::Window;
use crate::gpu::{Gpu, Patch, Plan};
use crate::ops::elementwise::{pointwise_f16_forward, Pointwise};
use crate::ops::layernorm::EPS;
use crate::ops::pool2d::{Pool2d, PoolKind};
use crate::ops::pool2d_f16::pool2d_f16_forward;
use crate::ops::rows_f16::{layernorm_f16_forward, softmax_f16_forward};
use crate::ops::softmax::Mask;
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// Which row op a case runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowsOp {
    /// Softmax over the last axis of [B, H, L, S].
    Softmax {
        /// Key j hidden from query i when j > i.
        causal: bool,
        /// A [B, S] key-padding mask (every third key hidden).
        key_mask: bool,
    },
    /// `nn.LayerNorm(D)` over the last axis.
    LayerNorm,
    /// `nn.MaxPool2d` / `nn.AvgPool2d` on [N, C, H, W].
    Pool {
        /// Average (else max).
        avg: bool,
        /// Square kernel size.
        k: usize,
        /// Stride.
        stride: usize,
        /// Padding on every side.
        pad: usize,
        /// Dilation (max only).
        dilation: usize,
        /// PyTorch's ceil_mode.
        ceil: bool,
        /// PyTorch's count_include_pad (average only).
        include_pad: bool,
    },
    /// An element-wise activation (any shape).
    Act(Pointwise),
}

impl RowsOp {
    const fn max(k: usize, stride: usize, pad: usize, dilation: usize) -> RowsOp {
        RowsOp::Pool {
            avg: false,
            k,
            stride,
            pad,
            dilation,
            ceil: false,
            include_pad: false,
        }
    }

    const fn avg(k: usize, stride: usize, pad: usize, ceil: bool, include_pad: bool) -> RowsOp {
        RowsOp::Pool {
            avg: true,
            k,
            stride,
            pad,
            dilation: 1,
            ceil,
            include_pad,
        }
    }
}

/// One float16 row op to check.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsCase {
    /// The op.
    pub op: RowsOp,
    /// The input shape (4-D for softmax).
    pub shape: Vec<usize>,
    /// Inputs uniform in [offset - scale, offset + scale) before rounding.
    pub scale: f32,
    /// Added to every input (a layer norm's large mean).
    pub offset: f32,
}

impl RowsCase {
    fn new(op: RowsOp, shape: &[usize], scale: f32, offset: f32) -> RowsCase {
        RowsCase {
            op,
            shape: shape.to_vec(),
            scale,
            offset,
        }
    }

    /// The op and shape in words, for tables.
    pub fn label(&self) -> String {
        let mut s = match self.op {
            RowsOp::Softmax { causal, key_mask } => format!(
                "softmax {:?}{}{}",
                self.shape,
                if causal { " causal" } else { "" },
                if key_mask { " key mask" } else { "" }
            ),
            RowsOp::LayerNorm => format!("layer norm {:?}", self.shape),
            RowsOp::Pool {
                avg,
                k,
                stride,
                pad,
                dilation,
                ceil,
                include_pad,
            } => format!(
                "{} pool {:?} k{k} s{stride} p{pad}{}{}{}",
                if avg { "avg" } else { "max" },
                self.shape,
                if dilation > 1 {
                    format!(" d{dilation}")
                } else {
                    String::new()
                },
                if ceil { " ceil" } else { "" },
                if include_pad { " count pad" } else { "" }
            ),
            RowsOp::Act(a) => format!("{a:?} {:?}", self.shape).to_lowercase(),
        };
        if self.scale != 1.0 {
            s.push_str(&format!(" x{}", self.scale));
        }
        if self.offset != 0.0 {
            s.push_str(&format!(" {:+}", self.offset));
        }
        s
    }
}

const PLAIN: RowsOp = RowsOp::Softmax {
    causal: false,
    key_mask: false,
};

/// Single elements, odd rows (two rows share an output word), both masks,
/// logits near float16's large values, rows of 257 and 2048, layer norms
/// with a mean of 100 over a spread of 1, pooling windows, activations.
pub fn rows_cases() -> Vec<RowsCase> {
    vec![
        RowsCase::new(PLAIN, &[1, 1, 1, 1], 1.0, 0.0),
        RowsCase::new(
            RowsOp::Softmax {
                causal: true,
                key_mask: false,
            },
            &[2, 3, 5, 7],
            4.0,
            0.0,
        ),
        RowsCase::new(
            RowsOp::Softmax {
                causal: true,
                key_mask: true,
            },
            &[2, 2, 9, 33],
            4.0,
            0.0,
        ),
        RowsCase::new(PLAIN, &[1, 2, 3, 257], 1.0, 0.0),
        // exp of unsubtracted logits overflows float32 here.
        RowsCase::new(PLAIN, &[1, 1, 3, 31], 1000.0, 0.0),
        RowsCase::new(PLAIN, &[1, 1, 2, 2048], 1.0, 0.0),
        RowsCase::new(RowsOp::LayerNorm, &[1], 1.0, 0.0),
        RowsCase::new(RowsOp::LayerNorm, &[3, 5], 1.0, 0.0),
        RowsCase::new(RowsOp::LayerNorm, &[2, 7, 33], 1.0, 100.0),
        RowsCase::new(RowsOp::LayerNorm, &[4, 257], 3.0, 0.0),
        // Odd output counts: two planes share an output word.
        RowsCase::new(RowsOp::max(2, 2, 0, 1), &[2, 3, 9, 11], 1.0, 0.0),
        RowsCase::new(RowsOp::max(3, 2, 1, 2), &[1, 2, 13, 11], 1.0, 0.0),
        RowsCase::new(RowsOp::avg(3, 2, 1, true, false), &[2, 3, 9, 11], 1.0, 0.0),
        RowsCase::new(RowsOp::avg(2, 2, 1, false, true), &[1, 1, 5, 5], 1.0, 0.0),
        // resnet's global average pool, and a 256-term window near 1.
        RowsCase::new(RowsOp::avg(7, 1, 0, false, false), &[1, 5, 7, 7], 1.0, 0.0),
        RowsCase::new(
            RowsOp::avg(16, 16, 0, false, false),
            &[1, 3, 16, 16],
            0.5,
            1.0,
        ),
        // Every activation over +-8 (sigmoid's and GELU's tails), odd counts.
        RowsCase::new(RowsOp::Act(Pointwise::Sigmoid), &[3, 333], 8.0, 0.0),
        RowsCase::new(RowsOp::Act(Pointwise::Tanh), &[999], 8.0, 0.0),
        RowsCase::new(RowsOp::Act(Pointwise::Silu), &[2, 5, 7], 8.0, 0.0),
        RowsCase::new(
            RowsOp::Act(Pointwise::Gelu { tanh: false }),
            &[999],
            8.0,
            0.0,
        ),
        RowsCase::new(
            RowsOp::Act(Pointwise::Gelu { tanh: true }),
            &[999],
            8.0,
            0.0,
        ),
        RowsCase::new(
            RowsOp::Act(Pointwise::LeakyRelu { slope: 0.01 }),
            &[1],
            8.0,
            0.0,
        ),
        RowsCase::new(
            RowsOp::Act(Pointwise::LeakyRelu { slope: 0.2 }),
            &[4, 257],
            8.0,
            0.0,
        ),
    ]
}

/// Runs one case on `path`, checked against the reference, seeded.
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_rows_case(gpu: &Gpu, case: &RowsCase, path: F16Path, seed: u64) -> Result<Check> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = case.shape.iter().product();
    let (lo, hi) = (case.offset - case.scale, case.offset + case.scale);
    let x = as_f16(
        &(0..n)
            .map(|_| rng.random_range(lo..hi))
            .collect::<Vec<f32>>(),
    );
    let tx = Tensor::upload_f16(gpu, "x", &case.shape, &x)?;
    let rx = RefTensor::from_f32(&case.shape, &x);
    let mut plan = Plan::new();
    let (y, reference) = match case.op {
        RowsOp::Softmax { causal, key_mask } => {
            let (b, s) = (case.shape[0], case.shape[3]);
            let keys: Vec<f32> = (0..b * s)
                .map(|i| if i % 3 == 2 { 0.0 } else { 1.0 })
                .collect();
            let tk = Tensor::upload_f16(gpu, "key mask", &[b, s], &keys)?;
            let mask = Mask {
                causal,
                keys: key_mask.then_some(&tk),
            };
            let y = softmax_f16_forward(gpu, &mut plan, "f16 softmax", &tx, &mask, path)?;
            let r = crate::cpu::softmax::softmax(&rx, causal, key_mask.then_some(&keys[..]));
            (y, r)
        }
        RowsOp::LayerNorm => {
            let d = *case.shape.last().unwrap_or(&1);
            let gamma = as_f16(
                &(0..d)
                    .map(|_| rng.random_range(0.5..1.5))
                    .collect::<Vec<f32>>(),
            );
            let beta = as_f16(
                &(0..d)
                    .map(|_| rng.random_range(-0.5..0.5))
                    .collect::<Vec<f32>>(),
            );
            let tg = Tensor::upload_f16(gpu, "gamma", &[d], &gamma)?;
            let tb = Tensor::upload_f16(gpu, "beta", &[d], &beta)?;
            let y =
                layernorm_f16_forward(gpu, &mut plan, "f16 layer norm", &tx, &tg, &tb, EPS, path)?;
            (y, crate::cpu::layernorm::layernorm(&rx, &gamma, &beta, EPS))
        }
        RowsOp::Pool {
            avg,
            k,
            stride,
            pad,
            dilation,
            ceil,
            include_pad,
        } => {
            let pool = Pool2d {
                kind: if avg { PoolKind::Avg } else { PoolKind::Max },
                window: Window {
                    kernel: [k, k],
                    stride: [stride, stride],
                    pad_begin: [pad, pad],
                    pad_end: [pad, pad],
                    dilation: [dilation, dilation],
                    ceil_mode: ceil,
                },
                count_include_pad: include_pad,
            };
            let out = pool.output_shape(&case.shape, "f16 pool")?;
            let y = pool2d_f16_forward(gpu, &mut plan, "f16 pool", &pool, &tx, path)?;
            (y, crate::cpu::pool2d::pool2d(&pool, &rx, out))
        }
        RowsOp::Act(a) => {
            let y = pointwise_f16_forward(gpu, &mut plan, "f16 activation", a, &tx, path)?;
            (y, rx.map_val(|v| a.reference(v)))
        }
    };
    gpu.run(&plan)?;
    Ok(compare_f16(&y.download(gpu)?, &stored_f16(reference)))
}

/// A fault a float16 row kernel makes, planted in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsFault {
    /// The softmax's running sum rounded to float16 at every step.
    SumInF16,
    /// The row maximum not subtracted before exp (overflows float32).
    MaxNotSubtracted,
    /// The layer norm's mean and 1/std stored as float16 between steps.
    StatsInF16,
    /// Outputs below 2^-14 stored as zero (float16 subnormals flushed).
    FlushSubnormals,
    /// The average pool's window sum rounded to float16 at every tap.
    PoolSumInF16,
    /// The max pool starting from 0, so padding (or 0) beats negatives.
    PoolMaxFromZero,
    /// Pooled outputs below 2^-14 stored as zero.
    PoolFlushSubnormals,
    /// Exact GELU computed by the tanh approximation.
    GeluApproximated,
}

impl RowsFault {
    /// Every fault, for `--mutants`.
    pub const ALL: [RowsFault; 8] = [
        RowsFault::SumInF16,
        RowsFault::MaxNotSubtracted,
        RowsFault::StatsInF16,
        RowsFault::FlushSubnormals,
        RowsFault::PoolSumInF16,
        RowsFault::PoolMaxFromZero,
        RowsFault::PoolFlushSubnormals,
        RowsFault::GeluApproximated,
    ];

    /// What the fault is, for tables.
    pub fn name(self) -> &'static str {
        match self {
            RowsFault::SumInF16 => "f16 softmax: row sum kept in float16",
            RowsFault::MaxNotSubtracted => "f16 softmax: max not subtracted",
            RowsFault::StatsInF16 => "f16 layer norm: mean and 1/std rounded to float16",
            RowsFault::FlushSubnormals => "f16 softmax: subnormal outputs flushed to zero",
            RowsFault::PoolSumInF16 => "f16 avg pool: window sum kept in float16",
            RowsFault::PoolMaxFromZero => "f16 max pool: the max starts at 0, not -inf",
            RowsFault::PoolFlushSubnormals => "f16 pool: subnormal outputs flushed to zero",
            RowsFault::GeluApproximated => {
                "f16 GELU: exact form computed by the tanh approximation"
            }
        }
    }

    /// The case that exposes it: a row of 2048, logits of +-1000, a mean of
    /// 100, or probabilities below 2^-14 (a spread of 16 over 2048 keys).
    pub fn case(self) -> RowsCase {
        match self {
            RowsFault::SumInF16 => RowsCase::new(PLAIN, &[1, 1, 2, 2048], 1.0, 0.0),
            RowsFault::MaxNotSubtracted => RowsCase::new(PLAIN, &[1, 1, 3, 31], 1000.0, 0.0),
            RowsFault::StatsInF16 => RowsCase::new(RowsOp::LayerNorm, &[2, 7, 33], 1.0, 100.0),
            RowsFault::FlushSubnormals => RowsCase::new(PLAIN, &[1, 1, 2, 2048], 8.0, 0.0),
            RowsFault::PoolSumInF16 => RowsCase::new(
                RowsOp::avg(16, 16, 0, false, false),
                &[1, 3, 16, 16],
                0.5,
                1.0,
            ),
            RowsFault::PoolMaxFromZero => {
                RowsCase::new(RowsOp::max(3, 2, 1, 1), &[1, 2, 9, 9], 0.5, -1.0)
            }
            RowsFault::PoolFlushSubnormals => {
                RowsCase::new(RowsOp::avg(2, 2, 0, false, false), &[1, 2, 8, 8], 1e-4, 0.0)
            }
            RowsFault::GeluApproximated => RowsCase::new(
                RowsOp::Act(Pointwise::Gelu { tanh: false }),
                &[999],
                8.0,
                0.0,
            ),
        }
    }

    fn patches(self) -> Vec<Patch> {
        let edits: &[(&'static str, &'static str)] = match self {
            RowsFault::SumInF16 => &[(
                "s += exp(ld_a(base + j) - m);",
                "s = unpack2x16float(pack2x16float(vec2<f32>(s + exp(ld_a(base + j) - m), 0.0))).x;",
            )],
            RowsFault::MaxNotSubtracted => &[
                ("s += exp(ld_a(base + j) - m);", "s += exp(ld_a(base + j));"),
                (
                    "return exp(ld_a(e) - st.x) / st.y;",
                    "return exp(ld_a(e)) / st.y;",
                ),
            ],
            RowsFault::StatsInF16 => &[(
                "stats[row] = vec2<f32>(mean, 1.0 / sqrt(q / f32(p.cols) + p.eps));",
                "stats[row] = unpack2x16float(pack2x16float(vec2<f32>(mean, 1.0 / sqrt(q / f32(p.cols) + p.eps))));",
            )],
            RowsFault::FlushSubnormals | RowsFault::PoolFlushSubnormals => &[(
                "let s = to_f16_range(v);",
                "let s = select(to_f16_range(v), vec2<f32>(0.0), abs(v) < vec2<f32>(6.1035156e-5));",
            )],
            RowsFault::PoolSumInF16 => &[(
                "acc += ld_x(base + u32(iy) * p.w + u32(ix));",
                "acc = unpack2x16float(pack2x16float(vec2<f32>(acc + ld_x(base + u32(iy) * p.w + u32(ix)), 0.0))).x;",
            )],
            RowsFault::GeluApproximated => &[(
                "case 3u: { r = gelu_erf(v); }",
                "case 3u: { r = gelu(v); }",
            )],
            RowsFault::PoolMaxFromZero => &[(
                "var m = -bitcast<f32>(0x7f800000u);\n    for (var ky",
                "var m = 0.0;\n    for (var ky",
            )],
        };
        let families: [&'static str; 2] = match self {
            RowsFault::PoolSumInF16
            | RowsFault::PoolMaxFromZero
            | RowsFault::PoolFlushSubnormals => ["pool2d_f16_packed", "pool2d_f16_native"],
            RowsFault::GeluApproximated => ["activation_f16_packed", "activation_f16_native"],
            _ => ["rows_f16_packed", "rows_f16_native"],
        };
        families
            .into_iter()
            .flat_map(|family| {
                edits.iter().map(move |&(find, replace)| Patch {
                    family,
                    find,
                    replace,
                })
            })
            .collect()
    }
}

/// Runs `fault`'s case with the fault planted (on `path`) and returns the
/// check, which must fail, and how many pipelines the patch reached (0:
/// the mutant proved nothing).
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_rows_fault(
    gpu: &Gpu,
    fault: RowsFault,
    path: F16Path,
    seed: u64,
) -> Result<(Check, usize)> {
    gpu.plant(fault.name(), &fault.patches());
    let run = run_rows_case(gpu, &fault.case(), path, seed);
    let hits = gpu.planted_hits();
    gpu.plant("", &[]);
    Ok((run?, hits))
}

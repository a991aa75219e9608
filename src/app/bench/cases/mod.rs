//! The benchmark cases: the exercise conv stack (batch 1) and its wide
//! variant (batch 16, channels 1-32-64-64-32), square matmuls, and
//! attention cores with 8 heads of 64. Each case builds its data once; every
//! adapter and the CPU baseline run on the same numbers.

use super::{time_cpu, Row};
use crate::check::compare;
use crate::cpu::attention::{sdpa_rows, Masks};
use crate::cpu::{self, baseline, RefTensor};
use crate::error::Result;
use crate::gpu::timer::time_plans;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::{random_input, ConvStack, Layer};
use crate::ops::attention::{sdpa_forward, AttentionShape};
use crate::ops::matmul::{matmul_into, Matmul, View};
use crate::ops::softmax::Mask;
use crate::rung::{AttentionRung, ConvRung, Kernels, MatmulRung, Rung};
use crate::spec;
use crate::tensor::Tensor;
use rand::seq::index::sample;
use rand::SeedableRng;

/// The op a bench row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A conv stack (the exercise's at batch 1, the wide stack above).
    Conv,
    /// A square matrix product of the row's size.
    Matmul,
    /// Scaled dot-product attention over the row's sequence length.
    Attention,
}

impl OpKind {
    /// The op's name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Conv => "conv",
            OpKind::Matmul => "matmul",
            OpKind::Attention => "attention",
        }
    }

    /// The default sweep's sizes: conv variants by batch (1 = exercise
    /// stack, 16 = the wide stack), matmul N, attention L.
    pub fn default_sizes(self, quick: bool) -> Vec<usize> {
        match (self, quick) {
            (OpKind::Conv, false) => vec![1, 16],
            (OpKind::Conv, true) => vec![1],
            (OpKind::Matmul, false) => vec![256, 512, 1024, 2048],
            (OpKind::Matmul, true) => vec![256],
            (OpKind::Attention, false) => vec![128, 256, 512, 1024, 2048],
            (OpKind::Attention, true) => vec![128],
        }
    }
}

pub use crate::models::conv_stack::WIDE_STACK;
const HEADS: usize = 8;
const HEAD_DIM: usize = 64;
/// What a row says when its check did not run in the bench.
pub const NOT_CHECKED: &str = "not checked in the bench (tests/baseline.rs checks it)";

/// Outputs with more rows than this are checked on a seeded sample.
const FULL_CHECK_ROWS: usize = 256;
const SAMPLE_ROWS: usize = 48;

/// One case's inputs (two sets, for rotation) and its CPU results.
pub struct Case {
    /// What is measured.
    pub op: OpKind,
    /// The swept size (N, L, or the conv batch).
    pub size: usize,
    /// The shape in words, for the table.
    pub shape: String,
    /// Floating-point operations of one run.
    pub flops: u64,
    /// Bytes one run must move at least (inputs and outputs once).
    pub bytes: u64,
    data: Data,
    /// CPU baseline row, filled by `cpu_row`.
    pub cpu_ms: Option<f64>,
    /// The conv stack's f64 reference and its time, computed once and
    /// shared by every rung and adapter.
    conv_reference: std::sync::OnceLock<(RefTensor, f64)>,
}

enum Data {
    Conv {
        stack: ConvStack,
        inputs: [Vec<f32>; 2],
    },
    Matmul {
        n: usize,
        a: [Vec<f32>; 2],
        b: [Vec<f32>; 2],
    },
    Attention {
        shape: AttentionShape,
        qkv: [[Vec<f32>; 3]; 2],
    },
}

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    random_input(&[n], seed)
}

fn sample_rows(total: usize, seed: u64) -> Vec<usize> {
    if total <= FULL_CHECK_ROWS {
        return (0..total).collect();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = sample(&mut rng, total, SAMPLE_ROWS).into_vec();
    v.sort_unstable();
    v
}

fn checked(rows: usize, total: usize, what: &str) -> String {
    if rows == total {
        format!("all {total} {what}")
    } else {
        format!("{rows} of {total} {what}, seeded sample")
    }
}

impl Case {
    /// The attention core (batch 1, self-attention) at L = `size` with
    /// `heads` heads of `head_dim`; `new` takes the bench's 8 heads of 64.
    pub fn attention(size: usize, heads: usize, head_dim: usize, seed: u64) -> Result<Case> {
        let shape = AttentionShape {
            batch: 1,
            queries: size,
            keys: size,
            heads,
            head_dim,
        };
        let len = size * heads * head_dim;
        let set = |s: u64| [rand_vec(len, s), rand_vec(len, s + 1), rand_vec(len, s + 2)];
        Ok(Case {
            op: OpKind::Attention,
            size,
            shape: format!("h={heads} d={head_dim} L={size}"),
            flops: shape.core_flops(),
            bytes: 16 * len as u64,
            data: Data::Attention {
                shape,
                qkv: [set(seed + 7), set(seed + 17)],
            },
            cpu_ms: None,
            conv_reference: Default::default(),
        })
    }

    /// The case of `op` at `size`, with seeded inputs and its CPU results.
    pub fn new(op: OpKind, size: usize, seed: u64) -> Result<Case> {
        let (shape, flops, bytes, data) = match op {
            OpKind::Conv => {
                let (layers, batch) = if size <= 1 {
                    (spec::EXERCISE_STACK, 1)
                } else {
                    (WIDE_STACK, size)
                };
                let mut stack = ConvStack::new(&spec::parse_stack(layers)?, [batch, 1, 128, 128])?;
                stack.randomize(seed);
                let n: usize = stack.input_shape.iter().product();
                let inputs = [rand_vec(n, seed + 1), rand_vec(n, seed + 2)];
                let bytes = stack
                    .layers
                    .iter()
                    .map(|l| {
                        4 * (l.in_shape.iter().product::<usize>()
                            + l.out_shape.iter().product::<usize>())
                            as u64
                    })
                    .sum();
                let name = if batch == 1 {
                    "exercise stack 1x1x128x128".to_string()
                } else {
                    format!("wide stack {batch}x1x128x128, 1-32-64-64-32")
                };
                (name, stack.flops(), bytes, Data::Conv { stack, inputs })
            }
            OpKind::Matmul => {
                let n = size;
                let a = [rand_vec(n * n, seed + 3), rand_vec(n * n, seed + 4)];
                let b = [rand_vec(n * n, seed + 5), rand_vec(n * n, seed + 6)];
                (
                    format!("{n}x{n}x{n}"),
                    2 * (n as u64).pow(3),
                    12 * (n * n) as u64,
                    Data::Matmul { n, a, b },
                )
            }
            OpKind::Attention => return Case::attention(size, HEADS, HEAD_DIM, seed),
        };
        Ok(Case {
            op,
            size,
            shape,
            flops,
            bytes,
            data,
            cpu_ms: None,
            conv_reference: Default::default(),
        })
    }

    /// The optimised CPU baseline, timed, and its output checked against
    /// the reference as a GPU row's is (attention: in tests/baseline.rs).
    pub fn cpu_row(&mut self, reps: usize) -> Row {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (imp, (med, lo, hi, _)) = match &self.data {
            Data::Conv { stack, inputs } => (
                "im2col + gemm",
                time_cpu(reps, || {
                    std::hint::black_box(conv_stack_baseline(stack, &inputs[0]));
                }),
            ),
            Data::Matmul { n, a, b } => {
                let n = *n;
                let mut c = vec![0.0f32; n * n];
                let mm = Matmul::square(n);
                (
                    "gemm",
                    time_cpu(reps, || {
                        baseline::matmul(
                            &mm,
                            &a[0],
                            View::dense(n, n, false),
                            &b[0],
                            View::dense(n, n, false),
                            None,
                            &mut c,
                            View::dense(n, n, false),
                        );
                        std::hint::black_box(&c);
                    }),
                )
            }
            Data::Attention { shape, qkv } => (
                "gemm + softmax",
                time_cpu(reps, || {
                    std::hint::black_box(baseline::attention(
                        &qkv[0][0], &qkv[0][1], &qkv[0][2], *shape, false, None,
                    ));
                }),
            ),
        };
        self.cpu_ms = Some(med);
        let (passed, checked) = self.check_cpu_baseline();
        Row {
            op: self.op.name().into(),
            shape: self.shape.clone(),
            implementation: format!("cpu baseline ({imp})"),
            adapter: format!("cpu ({threads} threads)"),
            size: self.size,
            median_ms: Some(med),
            min_ms: Some(lo),
            max_ms: Some(hi),
            gflops: Some(self.flops as f64 / (med * 1e6)),
            gbps: Some(self.bytes as f64 / (med * 1e6)),
            speedup_vs_cpu: Some(1.0),
            reference_ms: None,
            passed,
            checked,
            clock: "wall-clock".into(),
            compile_ms: None,
            note: None,
        }
    }

    /// The op family whose kernel ladder this case walks.
    pub fn family(&self) -> &'static str {
        match self.op {
            OpKind::Conv => "conv2d",
            OpKind::Matmul => "matmul",
            OpKind::Attention => "attention",
        }
    }

    /// The row's speed-up over this case's CPU baseline, where both ran.
    fn set_speedup(&self, row: &mut Row) {
        row.speedup_vs_cpu = match (row.median_ms, self.cpu_ms) {
            (Some(g), Some(c)) => Some(c / g),
            _ => None,
        };
    }

    /// Every rung of the op's ladder, slowest idea first.
    pub fn ladder(&self) -> Vec<&'static str> {
        match self.op {
            // gemm only differs from igemm on 1x1 convs, which no case has.
            OpKind::Conv => ConvRung::names()
                .into_iter()
                .filter(|&n| n != ConvRung::Gemm.name())
                .collect(),
            OpKind::Matmul => MatmulRung::names(),
            OpKind::Attention => AttentionRung::names(),
        }
    }

    /// GPU rows for the given rungs (every rung when None), on one adapter.
    pub fn gpu_rows(
        &self,
        gpu: &Gpu,
        reps: usize,
        seed: u64,
        rungs: Option<&[String]>,
    ) -> Vec<Row> {
        let adapter = format!(
            "{} ({})",
            gpu.info.name,
            format!("{:?}", gpu.info.backend).to_lowercase()
        );
        let family = self.family();
        let kernels: Vec<String> = match rungs {
            Some(r) => r.to_vec(),
            None => self.ladder().into_iter().map(String::from).collect(),
        };
        let rows = kernels
            .iter()
            .map(|k| {
                let kernels = Kernels::default().with_name(family, k);
                match kernels
                    .and_then(|kernels| self.gpu_row(gpu, kernels, k, reps, seed, &adapter))
                {
                    Ok(mut row) => {
                        self.set_speedup(&mut row);
                        row
                    }
                    Err(e) => Row::refused(
                        self.op.name(),
                        &self.shape,
                        &format!("gpu {k}"),
                        &adapter,
                        self.size,
                        e.to_string(),
                    ),
                }
            })
            .collect();
        rows
    }

    fn gpu_row(
        &self,
        gpu: &Gpu,
        kernels: Kernels,
        kernel: &str,
        reps: usize,
        seed: u64,
        adapter: &str,
    ) -> Result<Row> {
        let op = self.op.name();
        match &self.data {
            Data::Conv { stack, inputs } => {
                let weights = stack.upload(gpu)?;
                let mut outs = vec![];
                let plans: Vec<Plan> = inputs
                    .iter()
                    .map(|x| {
                        let mut plan = Plan::with_kernels(kernels);
                        let xt = Tensor::upload(gpu, "input", &stack.input_shape, x)?;
                        outs.push(stack.forward_gpu(gpu, &weights, &xt, &mut plan)?);
                        Ok(plan)
                    })
                    .collect::<Result<_>>()?;
                let t = time_plans(gpu, &plans, 1, reps)?;
                let fell_back = fallback_note(self.op, kernel, &plans[0]);
                let got = outs[0].download(gpu)?;
                let (reference, ref_ms) = self.conv_reference(stack, &inputs[0]);
                let (reference, ref_ms) = (reference, *ref_ms);
                let c = compare(&got, reference);
                let mut row = Row::gpu(
                    op,
                    &self.shape,
                    kernel,
                    adapter,
                    self.size,
                    self.flops,
                    self.bytes,
                    &t,
                    c.passed,
                    checked(c.elements, c.elements, "elements"),
                );
                row.reference_ms = Some(ref_ms);
                row.note = fell_back.or(row.note);
                Ok(row)
            }
            Data::Matmul { n, a, b } => {
                let n = *n;
                let mm = Matmul::square(n);
                let mut outs = vec![];
                let plans: Vec<Plan> = (0..2)
                    .map(|i| {
                        let mut plan = Plan::with_kernels(kernels);
                        let (at, bt) = (
                            Tensor::upload(gpu, "A", &[n, n], &a[i])?,
                            Tensor::upload(gpu, "B", &[n, n], &b[i])?,
                        );
                        let c = Tensor::poisoned(gpu, "C", &[n, n])?;
                        matmul_into(
                            gpu,
                            &mut plan,
                            "matmul",
                            &mm,
                            (&at, View::dense(n, n, false)),
                            (&bt, View::dense(n, n, false)),
                            None,
                            (&c, View::dense(n, n, false)),
                        )?;
                        outs.push(c);
                        Ok(plan)
                    })
                    .collect::<Result<_>>()?;
                let t = time_plans(gpu, &plans, 1, reps)?;
                let fell_back = fallback_note(self.op, kernel, &plans[0]);
                let got = outs[0].download(gpu)?;
                let rows = sample_rows(n, seed);
                let start = std::time::Instant::now();
                let reference = matmul_rows_reference(n, &a[0], &b[0], &rows);
                let ref_ms = start.elapsed().as_secs_f64() * 1e3;
                Ok(with_note(
                    fell_back,
                    self.sampled_row(
                        kernel, adapter, &t, &got, &rows, n, n, "rows", &reference, ref_ms,
                    ),
                ))
            }
            Data::Attention { shape, qkv } => {
                let path = AttentionRung::parse(kernel)?.path();
                let dims = [shape.batch, shape.queries, shape.width()];
                let mut outs = vec![];
                let plans: Vec<Plan> = qkv
                    .iter()
                    .map(|set| {
                        let mut plan = Plan::with_kernels(kernels);
                        let [q, k, v] =
                            [0, 1, 2].map(|i| Tensor::upload(gpu, "qkv", &dims, &set[i]));
                        outs.push(sdpa_forward(
                            gpu,
                            &mut plan,
                            "attention",
                            path,
                            shape.heads,
                            &q?,
                            &k?,
                            &v?,
                            &Mask::default(),
                        )?);
                        Ok(plan)
                    })
                    .collect::<Result<_>>()?;
                let t = time_plans(gpu, &plans, 1, reps)?;
                let fell_back = fallback_note(self.op, kernel, &plans[0]);
                let got = outs[0].download(gpu)?;
                let rows = sample_rows(shape.queries, seed);
                let start = std::time::Instant::now();
                let r = |i: usize| RefTensor::from_f32(&dims, &qkv[0][i]);
                let order = path.order();
                let pairs: Vec<(usize, usize)> = rows.iter().map(|&i| (0, i)).collect();
                let reference = sdpa_rows(
                    &r(0),
                    &r(1),
                    &r(2),
                    shape.heads,
                    &Masks {
                        causal: false,
                        keys: None,
                    },
                    order,
                    &pairs,
                );
                let ref_ms = start.elapsed().as_secs_f64() * 1e3;
                Ok(with_note(
                    fell_back,
                    self.sampled_row(
                        kernel,
                        adapter,
                        &t,
                        &got,
                        &rows,
                        shape.width(),
                        shape.queries,
                        "query rows",
                        &reference,
                        ref_ms,
                    ),
                ))
            }
        }
    }
}

mod half;
mod reference;
pub use reference::conv_stack_baseline;
use reference::{fallback_note, matmul_rows_reference, with_note};

#[cfg(test)]
mod tests;

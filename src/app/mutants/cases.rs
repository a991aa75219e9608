//! The cases a mutant runs on: one op at a small and at the largest size
//! the tool runs, on seeded uniform inputs, judged by the verdict. `after`
//! touches the GPU's output as a host-planted fault would (identity for a
//! fault planted in the kernel).

use crate::app::selftest::seeded_input as random_input;
use crate::check::{compare, Check};
use crate::cpu::{self, attention as cpu_attn, RefTensor};
use crate::error::Result;
use crate::geometry::Window;
use crate::gpu::{Gpu, Plan};
use crate::ops::attention::{sdpa_forward, AttentionPath};
use crate::ops::conv2d::{conv2d_forward, Conv2d};
use crate::ops::layernorm::{layernorm_forward, EPS};
use crate::ops::matmul::Matmul;
use crate::ops::pool2d::{pool2d_forward, Pool2d, PoolKind};
use crate::ops::rnn::{rnn_forward, Rnn, RnnKind};
use crate::ops::softmax::{softmax_forward, Mask};
use crate::rung::Kernels;
use crate::tensor::Tensor;

/// What a mutant runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Case {
    /// C = A B + bias: (13 x 17 x 19) small, (4 x 4 x 65536) large.
    Matmul,
    /// A square product (17, or 257 large): a transposed operand shows.
    Square,
    /// conv2d 3x3, padding 1, dilation 1: `[1,3g,13,11]` -> 5g, or
    /// `[1,15g,64,64]` -> 32 for g groups. Both K (27, 135 per group) are
    /// not multiples of 4, so the unfold rung's padding rows exist at
    /// either size.
    Conv {
        /// PyTorch's groups.
        groups: usize,
    },
    /// Attention, one or two heads of 64: L = S = 70, or 8192 (rows sampled).
    Attention {
        /// A causal mask.
        causal: bool,
        /// A key-padding mask.
        key_mask: bool,
    },
    /// Row softmax of logits scaled by `scale`.
    Softmax {
        /// The logits' scale.
        scale: f32,
    },
    /// Layer norm of rows 1 + `spread` * uniform (small spread: eps matters).
    LayerNorm {
        /// The spread of the rows around 1.
        spread: f32,
    },
    /// Average pooling 3x3, stride 2, padding 1, ceil mode.
    AvgPool,
    /// A recurrent layer.
    Rnn(RnnKind),
}

impl Case {
    /// The op's name in tables.
    pub fn op(&self) -> &'static str {
        match self {
            Case::Matmul | Case::Square => "matmul",
            Case::Conv { .. } => "conv2d",
            Case::Attention { .. } => "attention",
            Case::Softmax { .. } => "softmax",
            Case::LayerNorm { .. } => "layer norm",
            Case::AvgPool => "avg pool",
            Case::Rnn(_) => "rnn",
        }
    }

    /// The size run, in words.
    pub fn size(&self, big: bool) -> String {
        match (self, big) {
            (Case::Matmul, false) => "13x17x19".into(),
            (Case::Matmul, true) => "4x4x65536".into(),
            (Case::Square, b) => format!("{0}x{0}x{0}", if b { 257 } else { 17 }),
            (Case::Conv { groups }, false) => format!("1x{}x13x11 -> {}", 3 * groups, 5 * groups),
            (Case::Conv { groups }, true) => format!("1x{}x64x64 -> 32", 15 * groups),
            (Case::Attention { .. }, false) => "L=S=70, 2 heads of 64".into(),
            (Case::Attention { .. }, true) => "L=S=8192, 1 head of 64".into(),
            (Case::Softmax { .. }, b) => format!("rows of {}", if b { 8192 } else { 67 }),
            (Case::LayerNorm { .. }, b) => format!("rows of {}", if b { 8192 } else { 129 }),
            (Case::AvgPool, b) => if b { "1x8x128x128" } else { "2x3x9x11" }.into(),
            (Case::Rnn(_), b) => if b {
                "hidden 128, 64 steps"
            } else {
                "hidden 7, 5 steps"
            }
            .into(),
        }
    }

    /// Runs the case and judges the (possibly touched) GPU output.
    pub fn run(
        &self,
        gpu: &Gpu,
        kernels: Kernels,
        big: bool,
        after: &dyn Fn(&mut Vec<f32>),
    ) -> Result<Check> {
        let judge = |plan: &Plan, y: &Tensor, reference: &RefTensor| -> Result<Check> {
            gpu.run(plan)?;
            let mut out = y.download(gpu)?;
            after(&mut out);
            Ok(compare(&out, reference))
        };
        match *self {
            Case::Matmul | Case::Square => {
                let (m, n, k) = match (self, big) {
                    (Case::Matmul, false) => (13, 17, 19),
                    (Case::Matmul, true) => (4, 4, 65536),
                    (_, false) => (17, 17, 17),
                    _ => (257, 257, 257),
                };
                let (av, bv, biasv) = (
                    random_input(&[m, k], 31),
                    random_input(&[k, n], 32),
                    random_input(&[n], 33),
                );
                let mm = Matmul {
                    m,
                    n,
                    k,
                    bias: true,
                    ..Matmul::square(1)
                };
                let (plan, c, reference) = crate::app::selftest::dense_matmul(
                    gpu,
                    kernels,
                    "mutant matmul",
                    &mm,
                    &av,
                    &bv,
                    Some(&biasv),
                )?;
                judge(&plan, &c, &reference)
            }
            Case::Conv { groups } => {
                let (shape, cout) = if big {
                    ([1, 15 * groups, 64, 64], 32)
                } else {
                    ([1, 3 * groups, 13, 11], 5 * groups)
                };
                let conv = Conv2d {
                    window: Window {
                        kernel: [3, 3],
                        stride: [1, 1],
                        pad_begin: [1, 1],
                        pad_end: [1, 1],
                        dilation: [1, 1],
                        ceil_mode: false,
                    },
                    in_channels: shape[1],
                    out_channels: cout,
                    groups,
                    bias: true,
                    relu: false,
                    relu6: false,
                };
                let out = conv.output_shape(&shape, "mutant conv")?;
                let (xv, wv, bv) = (
                    random_input(&shape, 34),
                    random_input(&conv.weight_shape(), 35),
                    random_input(&[cout], 36),
                );
                let mut plan = Plan::with_kernels(kernels);
                let y = conv2d_forward(
                    gpu,
                    &mut plan,
                    "mutant conv",
                    &conv,
                    &Tensor::upload(gpu, "x", &shape, &xv)?,
                    &Tensor::upload(gpu, "w", &conv.weight_shape(), &wv)?,
                    Some(&Tensor::upload(gpu, "b", &[cout], &bv)?),
                )?;
                let reference = cpu::conv2d::conv2d(
                    &conv,
                    &RefTensor::from_f32(&shape, &xv),
                    &wv,
                    Some(&bv),
                    out,
                );
                judge(&plan, &y, &reference)
            }
            Case::Attention { causal, key_mask } => {
                let (l, h, d) = if big { (8192, 1, 64) } else { (70, 2, 64) };
                let w = h * d;
                let (qv, kv, vv) = (
                    random_input(&[1, l, w], 37),
                    random_input(&[1, l, w], 38),
                    random_input(&[1, l, w], 39),
                );
                // Every third key hidden when masked (the first kept).
                let mask: Vec<f32> = (0..l).map(|j| f32::from(j % 3 != 1)).collect();
                let mt = Tensor::upload(gpu, "mask", &[1, l], &mask)?;
                let mut plan = Plan::with_kernels(kernels);
                let y = sdpa_forward(
                    gpu,
                    &mut plan,
                    "mutant attention",
                    AttentionPath::Fused,
                    h,
                    &Tensor::upload(gpu, "q", &[1, l, w], &qv)?,
                    &Tensor::upload(gpu, "k", &[1, l, w], &kv)?,
                    &Tensor::upload(gpu, "v", &[1, l, w], &vv)?,
                    &Mask {
                        causal,
                        keys: key_mask.then_some(&mt),
                    },
                )?;
                // Long sequences: the reference on 24 rows spread over L,
                // the first and last among them.
                let rows: Vec<(usize, usize)> = if big {
                    (0..24).map(|r| (0, r * (l - 1) / 23)).collect()
                } else {
                    (0..l).map(|i| (0, i)).collect()
                };
                let reference = cpu_attn::sdpa_rows(
                    &RefTensor::from_f32(&[1, l, w], &qv),
                    &RefTensor::from_f32(&[1, l, w], &kv),
                    &RefTensor::from_f32(&[1, l, w], &vv),
                    h,
                    &cpu_attn::Masks {
                        causal,
                        keys: key_mask.then_some(&mask[..]),
                    },
                    cpu_attn::Order::Online,
                    &rows,
                );
                gpu.run(&plan)?;
                let all = y.download(gpu)?;
                let mut out: Vec<f32> = rows
                    .iter()
                    .flat_map(|&(_, i)| all[i * w..(i + 1) * w].iter().copied())
                    .collect();
                after(&mut out);
                Ok(compare(&out, &reference))
            }
            Case::Softmax { scale } => {
                let shape = if big { [1, 1, 4, 8192] } else { [2, 3, 5, 67] };
                let xv: Vec<f32> = random_input(&shape, 40).iter().map(|v| v * scale).collect();
                let mut plan = Plan::with_kernels(kernels);
                let y = softmax_forward(
                    gpu,
                    &mut plan,
                    "mutant softmax",
                    &Tensor::upload(gpu, "x", &shape, &xv)?,
                    &Mask {
                        causal: false,
                        keys: None,
                    },
                )?;
                let reference =
                    cpu::softmax::softmax(&RefTensor::from_f32(&shape, &xv), false, None);
                judge(&plan, &y, &reference)
            }
            Case::LayerNorm { spread } => {
                let shape = if big { [4, 8192] } else { [7, 129] };
                let xv: Vec<f32> = random_input(&shape, 41)
                    .iter()
                    .map(|v| 1.0 + v * spread)
                    .collect();
                let (gv, bv) = (random_input(&shape[1..], 42), random_input(&shape[1..], 43));
                let mut plan = Plan::with_kernels(kernels);
                let y = layernorm_forward(
                    gpu,
                    &mut plan,
                    "mutant layer norm",
                    &Tensor::upload(gpu, "x", &shape, &xv)?,
                    &Tensor::upload(gpu, "gamma", &shape[1..], &gv)?,
                    &Tensor::upload(gpu, "beta", &shape[1..], &bv)?,
                )?;
                let reference =
                    cpu::layernorm::layernorm(&RefTensor::from_f32(&shape, &xv), &gv, &bv, EPS);
                judge(&plan, &y, &reference)
            }
            Case::AvgPool => {
                let shape = if big { [1, 8, 128, 128] } else { [2, 3, 9, 11] };
                let pool = Pool2d {
                    kind: PoolKind::Avg,
                    window: Window {
                        kernel: [3, 3],
                        stride: [2, 2],
                        pad_begin: [1, 1],
                        pad_end: [1, 1],
                        dilation: [1, 1],
                        ceil_mode: true,
                    },
                    count_include_pad: false,
                };
                let out = pool.output_shape(&shape, "mutant pool")?;
                let xv = random_input(&shape, 44);
                let mut plan = Plan::with_kernels(kernels);
                let y = pool2d_forward(
                    gpu,
                    &mut plan,
                    "mutant pool",
                    &pool,
                    &Tensor::upload(gpu, "x", &shape, &xv)?,
                )?;
                let reference = cpu::pool2d::pool2d(&pool, &RefTensor::from_f32(&shape, &xv), out);
                judge(&plan, &y, &reference)
            }
            Case::Rnn(kind) => {
                let (batch, steps, inputs, hidden) =
                    if big { (2, 64, 32, 128) } else { (3, 5, 9, 7) };
                let rnn = Rnn {
                    kind,
                    input_size: inputs,
                    hidden_size: hidden,
                };
                // Weights scaled as PyTorch initialises them, 1/sqrt(hidden).
                let scale = 1.0 / (hidden as f32).sqrt();
                let shapes = [
                    rnn.w_ih_shape().to_vec(),
                    rnn.w_hh_shape().to_vec(),
                    rnn.bias_shape().to_vec(),
                    rnn.bias_shape().to_vec(),
                ];
                let ws: Vec<Vec<f32>> = shapes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        random_input(s, 45 + i as u64)
                            .iter()
                            .map(|v| v * scale)
                            .collect()
                    })
                    .collect();
                let ts: Vec<Tensor> = shapes
                    .iter()
                    .zip(&ws)
                    .map(|(s, w)| Tensor::upload(gpu, "rnn weight", s, w))
                    .collect::<Result<_>>()?;
                let xshape = [batch, steps, inputs];
                let xv = random_input(&xshape, 49);
                let mut plan = Plan::with_kernels(kernels);
                let y = rnn_forward(
                    gpu,
                    &mut plan,
                    "mutant rnn",
                    &rnn,
                    &Tensor::upload(gpu, "x", &xshape, &xv)?,
                    &ts[0],
                    &ts[1],
                    &ts[2],
                    &ts[3],
                    None,
                )?;
                let reference = cpu::rnn::rnn(
                    &rnn,
                    &RefTensor::from_f32(&xshape, &xv),
                    &ws[0],
                    &ws[1],
                    &ws[2],
                    &ws[3],
                    None,
                );
                judge(&plan, &y, &reference)
            }
        }
    }
}

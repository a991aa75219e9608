//! A program in float16 (`wgsl-nn run --dtype f16`): every float tensor
//! held as float16 on the GPU, arithmetic in float32. Constants and inputs
//! are rounded to float16 once, at load, so the GPU and the f64 reference
//! start from the same values; each node's float output is rounded once
//! when stored, which the reference charges (`cpu::half::stored_f16`).
//! Nodes run their own float16 kernel where the crate has one for their
//! shape (conv, matmul, attention, layer norm, softmax, pooling); the rest
//! run their float32 kernel on widened copies (exact), the result narrowed
//! to float16 (`ops::convert_f16`): the node's kernel list shows which.
//! Integer and bool tensors stay float32-held, exact as before.

use super::gpu::{lower_node, nchw, reshaped};
use super::op::Op;
use super::program::{Program, Source};
use super::{DType, HostTensor};
use crate::dtype::{round_f16, DType as Storage, F16Path};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan};
use crate::ops::{
    attention, conv2d, convert_f16, matmul, pool2d_f16, reduce, rows_f16, softmax, strided,
};
use crate::tensor::Tensor;

fn round_tensor(t: &HostTensor) -> HostTensor {
    if t.dtype != DType::F32 {
        return t.clone();
    }
    HostTensor {
        data: t
            .data
            .iter()
            .map(|&v| f64::from(round_f16(v as f32)))
            .collect(),
        ..t.clone()
    }
}

/// `p` with every float constant rounded to float16, as the GPU holds it
/// (idempotent).
pub fn rounded(p: &Program) -> Program {
    let mut p = p.clone();
    for v in &mut p.values {
        if let Source::Const(t) = &v.source {
            v.source = Source::Const(round_tensor(t));
        }
    }
    p
}

/// Refuses a float16 run whose float constants or inputs hold finite
/// values past float16's range (they would become infinity at load),
/// naming the first such tensor.
///
/// # Errors
///
/// [`Error::Argument`] naming the tensor, the value and the fix.
pub fn check_range(p: &Program, inputs: &[HostTensor]) -> Result<()> {
    let consts = p.values.iter().filter_map(|v| match &v.source {
        Source::Const(t) => Some((v.name.as_str(), "constant", t)),
        _ => None,
    });
    let ins = p
        .inputs
        .iter()
        .zip(inputs)
        .map(|(&v, t)| (p.values[v].name.as_str(), "input", t));
    for (name, what, t) in consts.chain(ins) {
        if t.dtype != DType::F32 {
            continue;
        }
        if let Some(v) = t.data.iter().find(|v| v.is_finite() && v.abs() >= 65520.0) {
            return Err(Error::arg(
                "--dtype f16",
                format!("{what} '{name}' holds {v}, past float16's largest value 65504: in float16 it would become infinity; run this model with --dtype f32"),
            ));
        }
    }
    Ok(())
}

/// The float inputs rounded to float16 (integers unchanged; idempotent).
pub fn rounded_inputs(inputs: &[HostTensor]) -> Vec<HostTensor> {
    inputs.iter().map(round_tensor).collect()
}

pub use super::gpu::CPU_WIDE_CONV_FLOPS;

/// Whether `op`'s float output is a new value rounded when stored as
/// float16 (not a copy of values already float16).
pub fn rounds(op: &Op) -> bool {
    !matches!(
        op,
        Op::View
            | Op::Unary(super::op::Unary::Copy, _)
            | Op::Concat { .. }
            | Op::Pad { .. }
            | Op::Gather { .. }
            | Op::Where(..)
    )
}

/// Whether `op` (of output `out`) runs a float16 kernel here, so its float
/// constants are uploaded as float16; otherwise they go up float32 (the
/// rounded values), saving the widening on every run.
///
/// On CPU adapters an ungrouped conv from [`CPU_WIDE_CONV_FLOPS`] takes
/// the texture rung on float16 storage (`conv2d::half::takes_tex`: the
/// model's plan forces `conv2d=tex` there) where the adapter has
/// subgroups; without them (GL) it runs its float32 rung (unfold or gemm,
/// as float32 would choose) on a widened input instead: the float16 direct
/// kernel (one output word per invocation) ran resnet18's 3x3 convs at
/// ~0.5 GFLOP/s on lavapipe, 13.2 s a batch-2 run against 0.5 s in float32
/// (docs/host-a/run-f16-vs-f32.md). A forced conv rung (`--kernel
/// conv2d=...`) keeps the float16 kernels.
pub fn native(gpu: &Gpu, op: &Op, out: &[usize]) -> bool {
    match op {
        Op::Conv { conv, one_d } => {
            let taps = (conv.group_in() * conv.window.kernel[0] * conv.window.kernel[1]) as u64;
            let wide = gpu.info.device_type == wgpu::DeviceType::Cpu
                && gpu.kernels().conv2d.is_none()
                && conv.groups == 1
                && !one_d
                && out.len() == 4
                && conv.flops(&[out[0], out[1], out[2], out[3]]) >= CPU_WIDE_CONV_FLOPS
                && conv2d::tex::unsupported(gpu, conv, &[out[0], out[1], out[2], out[3]]).is_some();
            !wide && 2 * taps + 16 <= gpu.loop_budget
        }
        Op::Matmul { shape, .. } => 2 * shape.k as u64 + 16 <= gpu.loop_budget,
        Op::LayerNorm { .. } => true,
        Op::Softmax { .. } | Op::Reduce { .. } | Op::Gather { .. } => true,
        Op::Attention { head_dim, .. } => {
            head_dim % 2 == 0 && *head_dim <= attention::half::MAX_HEAD_DIM
        }
        Op::Pool { .. } => true,
        _ => false,
    }
}

/// Appends node `name`'s steps: in float16 with `half` (`ins` then float16
/// for float values, float32 for integers and for constants of non-native
/// ops), else its float32 ones.
///
/// # Errors
///
/// As [`super::lower::lower`].
#[allow(clippy::too_many_arguments)]
pub fn lower_node_as(
    gpu: &Gpu,
    plan: &mut Plan,
    name: &str,
    op: &Op,
    dtype: DType,
    ins: &[Tensor],
    shape: &[usize],
    half: Option<F16Path>,
) -> Result<Tensor> {
    let Some(path) = half else {
        return lower_node(gpu, plan, name, op, dtype, ins, shape, Storage::F32);
    };
    if matches!(op, Op::View) {
        return Ok(reshaped(&ins[0], shape));
    }
    let all_f16 = ins
        .iter()
        .take(float_inputs(op).unwrap_or(ins.len()))
        .all(|t| t.dtype == Storage::F16);
    if all_f16 && native(gpu, op, shape) {
        let before = plan.steps.len();
        match native_step(gpu, plan, name, op, ins, shape, path) {
            Ok(y) => return Ok(reshaped(&y, shape)),
            // A shape this kernel refuses before appending anything (a
            // loop budget, a head size): the float32 kernel instead.
            Err(Error::Shape { .. }) if plan.steps.len() == before => {}
            Err(e) => return Err(e),
        }
    }
    // The strided kernels read and write float16 themselves.
    if matches!(
        op,
        Op::Unary(..) | Op::Binary(..) | Op::Where(..) | Op::Concat { .. } | Op::Pad { .. }
    ) {
        let storage = if dtype == DType::F32 {
            Storage::F16
        } else {
            Storage::F32
        };
        return lower_node(gpu, plan, name, op, dtype, ins, shape, storage);
    }
    let mut wide = vec![];
    for (k, t) in ins.iter().enumerate() {
        wide.push(if t.dtype == Storage::F16 {
            let w = convert_f16::widen_f16_forward(
                gpu,
                plan,
                &format!("{name} [input {}]", k + 1),
                &flat(t),
            )?;
            plan.scratch.push(w.buffer.clone());
            reshaped(&w, &t.shape)
        } else {
            t.clone()
        });
    }
    let y = lower_node(gpu, plan, name, op, dtype, &wide, shape, Storage::F32)?;
    if dtype != DType::F32 {
        return Ok(y);
    }
    plan.scratch.push(y.buffer.clone());
    let n = convert_f16::narrow_f16_forward(gpu, plan, name, &flat(&y))?;
    Ok(reshaped(&n, shape))
}

/// How many leading inputs of `op` are float data a float16 kernel reads
/// as float16, where not all are: a gather's indices stay float-held
/// integers.
pub fn float_inputs(op: &Op) -> Option<usize> {
    matches!(op, Op::Gather { .. }).then_some(1)
}

fn flat(t: &Tensor) -> Tensor {
    reshaped(t, &[t.numel().max(1)])
}

fn native_step(
    gpu: &Gpu,
    plan: &mut Plan,
    name: &str,
    op: &Op,
    ins: &[Tensor],
    shape: &[usize],
    path: F16Path,
) -> Result<Tensor> {
    match op {
        Op::Conv { conv, one_d } => {
            let w = reshaped(&ins[1], &conv.weight_shape());
            conv2d::half::conv2d_f16_forward(
                gpu,
                plan,
                name,
                conv,
                &nchw(&ins[0], *one_d),
                &w,
                ins.get(2),
                path,
            )
        }
        Op::Matmul {
            shape: s,
            alpha,
            relu,
        } => {
            let (mm, av, bv, _) = super::reference::matmul_views(s, *alpha, *relu, ins.len() > 2);
            let dims = if shape.is_empty() {
                vec![1]
            } else {
                shape.to_vec()
            };
            matmul::half::matmul_f16_forward(
                gpu,
                plan,
                name,
                &mm,
                (&ins[0], av),
                (&ins[1], bv),
                ins.get(2),
                &dims,
                path,
                matmul::half::Accumulate::F32,
            )
        }
        Op::LayerNorm { rows, n, eps } => rows_f16::layernorm_f16_forward(
            gpu,
            plan,
            name,
            &reshaped(&ins[0], &[*rows, *n]),
            &reshaped(&ins[1], &[*n]),
            &reshaped(&ins[2], &[*n]),
            *eps,
            path,
        ),
        Op::Softmax {
            log: false,
            outer,
            n,
            inner: 1,
        } => rows_f16::softmax_f16_forward(
            gpu,
            plan,
            name,
            &reshaped(&ins[0], &[1, 1, *outer, *n]),
            &softmax::Mask {
                causal: false,
                keys: None,
            },
            path,
        ),
        // Log-softmax, or softmax over an inner axis.
        Op::Softmax {
            log,
            outer,
            n,
            inner,
        } => reduce::rows_forward(
            gpu,
            plan,
            name,
            reduce::RowOp::Softmax(*log),
            &ins[0],
            [*outer, *n, *inner],
            None,
            None,
            shape,
            Some(path),
        ),
        Op::Reduce { f, outer, n, inner } => {
            let dims = if shape.is_empty() {
                vec![1]
            } else {
                shape.to_vec()
            };
            reduce::rows_forward(
                gpu,
                plan,
                name,
                reduce::RowOp::Reduce(f.mode()),
                &ins[0],
                [*outer, *n, *inner],
                None,
                None,
                &dims,
                Some(path),
            )
        }
        Op::Gather { axis } => {
            strided::gather_forward(gpu, plan, name, &ins[0], &ins[1], *axis, shape, Some(path))
        }
        Op::Attention {
            batch,
            queries,
            keys,
            head_dim,
            ..
        } => {
            let d = *head_dim;
            attention::half::sdpa_f16_forward(
                gpu,
                plan,
                name,
                1,
                &reshaped(&ins[0], &[*batch, *queries, d]),
                &reshaped(&ins[1], &[*batch, *keys, d]),
                &reshaped(&ins[2], &[*batch, *keys, d]),
                &softmax::Mask {
                    causal: false,
                    keys: None,
                },
                path,
            )
        }
        Op::Pool { pool, one_d } => {
            pool2d_f16::pool2d_f16_forward(gpu, plan, name, pool, &nchw(&ins[0], *one_d), path)
        }
        _ => Err(Error::shape(name, "no float16 kernel for this op")),
    }
}

//! A program's lowering: every node appends its steps to one plan, float32
//! (`gpu`) or float16 (`half`), constants uploaded once, views sharing
//! their input's buffer.

use super::gpu::{graph_rungs, reshaped};
use super::half;
use super::op::Op;
use super::program::{Program, ProgramNode, Source};
use super::DType;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan};
use crate::tensor::Tensor;

/// A lowered program: its plan, the tensor of every value it touches, and
/// which node each step belongs to.
pub struct Lowered {
    /// One plan for the whole model.
    pub plan: Plan,
    /// Per value of the program: its GPU tensor, where one exists.
    pub tensors: Vec<Option<Tensor>>,
    /// Per plan step: the program node that appended it.
    pub step_node: Vec<usize>,
    /// Bytes of constants uploaded.
    pub const_bytes: u64,
    /// Bytes of node outputs allocated (views excluded).
    pub activation_bytes: u64,
    /// The largest activation pair: over the nodes, the largest input
    /// that is not a constant plus the output.
    pub largest_pair_bytes: u64,
}

/// Lowers `p` with its inputs' tensors (in `p.inputs` order); with `half`,
/// in float16 (see [`super::half`]; `p` rounded by [`super::half::rounded`]).
///
/// # Errors
///
/// Shape and limit errors of the ops (named by node), allocation errors.
pub fn lower(
    gpu: &Gpu,
    p: &Program,
    inputs: &[Tensor],
    half: Option<crate::dtype::F16Path>,
) -> Result<Lowered> {
    // Float constants go up as float16 where a float16 kernel reads them.
    let mut f16_const = vec![false; p.values.len()];
    if half.is_some() {
        let native = |n: &&ProgramNode| half::native(gpu, &n.op, &p.values[n.output].shape);
        for n in p.nodes.iter().filter(native) {
            let floats = half::float_inputs(&n.op).unwrap_or(n.inputs.len());
            n.inputs
                .iter()
                .take(floats)
                .for_each(|&v| f16_const[v] = true);
        }
    }
    let mut l = Lowered {
        plan: Plan::new(),
        tensors: vec![None; p.values.len()],
        step_node: vec![],
        const_bytes: 0,
        activation_bytes: 0,
        largest_pair_bytes: 0,
    };
    for (k, &v) in p.inputs.iter().enumerate() {
        l.tensors[v] = inputs.get(k).cloned();
    }
    for (ni, node) in p.nodes.iter().enumerate() {
        let mut ins = vec![];
        for &v in &node.inputs {
            if l.tensors[v].is_none() {
                if let Source::Const(t) = &p.values[v].source {
                    let shape = if t.shape.is_empty() {
                        vec![1]
                    } else {
                        t.shape.clone()
                    };
                    let name = &p.values[v].name;
                    let up = if f16_const[v] && t.dtype == DType::F32 {
                        Tensor::upload_f16(gpu, name, &shape, &t.to_f32())?
                    } else {
                        Tensor::upload(gpu, name, &shape, &t.to_f32())?
                    };
                    l.const_bytes += up.buffer.size();
                    l.tensors[v] = Some(reshaped(&up, &t.shape));
                }
            }
            ins.push(l.tensors[v].clone().ok_or_else(|| {
                Error::shape(
                    &node.name,
                    format!("input '{}' has no GPU tensor", p.values[v].name),
                )
            })?);
        }
        let out = &p.values[node.output];
        let before = l.plan.steps.len();
        l.plan.kernels = graph_rungs(gpu, &node.op, &out.shape);
        let y = half::lower_node_as(
            gpu,
            &mut l.plan,
            &node.name,
            &node.op,
            out.dtype,
            &ins,
            &out.shape,
            half,
        )?;
        if !matches!(node.op, Op::View) {
            l.activation_bytes += y.buffer.size();
            let input = node
                .inputs
                .iter()
                .zip(&ins)
                .filter(|(&v, _)| !matches!(p.values[v].source, Source::Const(_)))
                .map(|(_, t)| t.dtype.bytes(t.numel()))
                .max()
                .unwrap_or(0);
            let pair = input + y.dtype.bytes(y.numel());
            l.largest_pair_bytes = l.largest_pair_bytes.max(pair);
        }
        l.step_node
            .extend(std::iter::repeat_n(ni, l.plan.steps.len() - before));
        l.tensors[node.output] = Some(y);
    }
    Ok(l)
}

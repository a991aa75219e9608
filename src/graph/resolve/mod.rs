//! ONNX nodes into resolved ops: attributes read with ONNX's defaults,
//! shape inputs read from constants, output shapes computed, anything
//! unsupported refused with the node, the operator and the attribute
//! named. Ops of neural-network layers (conv, pooling, products, norms)
//! are in `resolve_nn`.

mod common;
mod nn;
mod shape;

pub use common::{Meta, Out, Resolved, Src};

use crate::error::Result;
use crate::graph::op::{broadcast, broadcast_strides, contiguous, Op, Reduce, Strides, Unary};
use crate::graph::{Attr, DType, HostTensor, Node, MAX_ELEMENTS};
use common::{
    axis, err, input, int, ints, konst, numel_checked, op, unary, unsupported_attr, view,
};
use shape::{axes_arg, constant, elementwise, pad, reduce, reshape, shape_from, slice, split};

fn dtype_of_onnx(code: i64) -> Option<DType> {
    match code {
        1 | 10 | 11 | 16 => Some(DType::F32),
        2..=7 | 12 | 13 => Some(DType::I64),
        9 => Some(DType::Bool),
        _ => None,
    }
}

/// The ops of every operator this runner supports (`--list-ops`).
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mod",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Size",
    "Slice",
    "Softmax",
    "Softplus",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Where",
];

/// Resolves one node given what is known of its inputs (None for an
/// omitted optional input).
pub fn resolve(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return Err(err(
            node,
            format!("operator domain '{}' is not supported: only the standard ONNX operators (domain \"\" or ai.onnx) run here; export without custom operators", node.domain),
        ));
    }
    let x = || input(node, ins, 0);
    Ok(match node.op.as_str() {
        "Constant" => Resolved::one(Out::Const(constant(node)?)),
        "Shape" => {
            let s = &x()?.shape;
            let r = s.len() as i64;
            let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let (a, b) = (clampi(int(node, "start", 0)?), clampi(int(node, "end", r)?));
            let v: Vec<i64> = s[a..b.max(a)].iter().map(|&d| d as i64).collect();
            Resolved::one(Out::Const(HostTensor::i64(&[v.len()], &v)))
        }
        "Size" => {
            let n: usize = x()?.shape.iter().product();
            Resolved::one(Out::Const(HostTensor::i64(&[], &[n as i64])))
        }
        "ConstantOfShape" => {
            let dims = shape_from(node, konst(node, ins, 0, "shape")?)?;
            let n = numel_checked(node, &dims)?;
            let (dtype, v) = match node.attrs.get("value") {
                Some(Attr::Tensor(t)) if t.data.len() == 1 => (t.dtype, t.data[0]),
                None => (DType::F32, 0.0),
                Some(a) => {
                    return Err(err(
                        node,
                        format!("attribute value should be a one-element tensor, got {a:?}"),
                    ))
                }
            };
            Resolved::one(Out::Const(HostTensor {
                dtype,
                shape: dims,
                data: vec![v; n],
            }))
        }
        "Range" => {
            let get = |i, w| konst(node, ins, i, w).map(|t| t.data.first().copied().unwrap_or(0.0));
            let (start, limit, delta) = (get(0, "start")?, get(1, "limit")?, get(2, "delta")?);
            if delta == 0.0 || !delta.is_finite() {
                return Err(err(node, "delta must be a finite non-zero number"));
            }
            let n = ((limit - start) / delta).ceil().max(0.0);
            if n > MAX_ELEMENTS as f64 {
                return Err(err(
                    node,
                    format!("it would make {n} elements; at most {MAX_ELEMENTS} are allowed"),
                ));
            }
            let data: Vec<f64> = (0..n as usize).map(|i| start + i as f64 * delta).collect();
            let dtype = input(node, ins, 0)?.dtype;
            Resolved::one(Out::Const(HostTensor {
                dtype,
                shape: vec![data.len()],
                data,
            }))
        }
        "Identity" => view(x()?, x()?.shape.clone()),
        "Dropout" => {
            if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
                return Err(err(
                    node,
                    "its mask output is not supported (inference only); export in eval mode",
                ));
            }
            if let Some(Some(m)) = ins.get(2) {
                if m.konst
                    .as_ref()
                    .is_none_or(|t| t.data.iter().any(|&v| v != 0.0))
                {
                    return Err(err(
                        node,
                        "training_mode must be a constant false; export the model in eval mode",
                    ));
                }
            }
            view(x()?, x()?.shape.clone())
        }
        "Cast" => {
            let to = int(node, "to", 1)?;
            let Some(dt) = dtype_of_onnx(to) else {
                return Err(unsupported_attr(
                    node,
                    "to",
                    &to.to_string(),
                    " (float, integer and bool casts run; strings and complex numbers do not)",
                ));
            };
            let xm = x()?;
            match (xm.dtype, dt) {
                (a, b) if a == b => view(xm, xm.shape.clone()),
                (DType::F32, DType::I64) => unary(xm, Unary::Trunc, dt),
                (_, DType::Bool) => unary(xm, Unary::NonZero, dt),
                _ => Resolved::one(op(Op::View, vec![Src::In(0)], xm.shape.clone(), dt)),
            }
        }
        "Reshape" => {
            let xm = x()?;
            let spec = konst(node, ins, 1, "target shape")?.ints();
            let allowzero = int(node, "allowzero", 0)? != 0;
            let shape = reshape(node, &xm.shape, &spec, allowzero)?;
            view(xm, shape)
        }
        "Flatten" => {
            let xm = x()?;
            let a = int(node, "axis", 1)?;
            let a = if a == xm.shape.len() as i64 {
                xm.shape.len()
            } else {
                axis(node, a, xm.shape.len())?
            };
            let (o, i): (usize, usize) = (
                xm.shape[..a].iter().product(),
                xm.shape[a..].iter().product(),
            );
            view(xm, vec![o, i])
        }
        "Squeeze" => {
            let xm = x()?;
            let axes = axes_arg(node, ins, opset >= 13, 1)?;
            let rank = xm.shape.len();
            let drop: Vec<usize> = match axes {
                Some(a) => a
                    .iter()
                    .map(|&v| axis(node, v, rank))
                    .collect::<Result<_>>()?,
                None => (0..rank).filter(|&d| xm.shape[d] == 1).collect(),
            };
            if let Some(&d) = drop.iter().find(|&&d| xm.shape[d] != 1) {
                return Err(err(
                    node,
                    format!(
                        "cannot squeeze axis {d} of size {} (shape {:?})",
                        xm.shape[d], xm.shape
                    ),
                ));
            }
            let shape = (0..rank)
                .filter(|d| !drop.contains(d))
                .map(|d| xm.shape[d])
                .collect();
            view(xm, shape)
        }
        "Unsqueeze" => {
            let xm = x()?;
            let axes =
                axes_arg(node, ins, opset >= 13, 1)?.ok_or_else(|| err(node, "needs axes"))?;
            let rank = xm.shape.len() + axes.len();
            let mut add: Vec<usize> = axes
                .iter()
                .map(|&a| axis(node, a, rank))
                .collect::<Result<_>>()?;
            add.sort_unstable();
            add.dedup();
            if add.len() != axes.len() {
                return Err(err(node, format!("axes {axes:?} repeat an axis")));
            }
            let mut rest = xm.shape.iter();
            let shape = (0..rank)
                .map(|d| {
                    if add.contains(&d) {
                        1
                    } else {
                        *rest.next().unwrap_or(&1)
                    }
                })
                .collect();
            view(xm, shape)
        }
        "Transpose" => {
            let xm = x()?;
            let rank = xm.shape.len();
            let perm: Vec<usize> = match ints(node, "perm")? {
                Some(p) => p
                    .iter()
                    .map(|&a| axis(node, a, rank))
                    .collect::<Result<_>>()?,
                None => (0..rank).rev().collect(),
            };
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..rank).collect::<Vec<_>>() {
                return Err(unsupported_attr(
                    node,
                    "perm",
                    &format!("{perm:?}"),
                    &format!(": it must be a permutation of 0..{rank}"),
                ));
            }
            let own = contiguous(&xm.shape);
            let shape: Vec<usize> = perm.iter().map(|&p| xm.shape[p]).collect();
            let strides = Strides {
                offset: 0,
                strides: perm.iter().map(|&p| own[p] as i64).collect(),
            };
            Resolved::one(op(
                Op::Unary(Unary::Copy, strides),
                vec![Src::In(0)],
                shape,
                xm.dtype,
            ))
        }
        "Slice" => slice(node, ins, opset)?,
        "Expand" => {
            let xm = x()?;
            let spec = shape_from(node, konst(node, ins, 1, "shape")?)?;
            let shape = broadcast(&xm.shape, &spec)
                .ok_or_else(|| err(node, format!("cannot broadcast {:?} to {spec:?}", xm.shape)))?;
            numel_checked(node, &shape)?;
            let s = broadcast_strides(&xm.shape, &shape);
            Resolved::one(op(
                Op::Unary(Unary::Copy, s),
                vec![Src::In(0)],
                shape,
                xm.dtype,
            ))
        }
        "Concat" => {
            let metas: Vec<&Meta> = (0..ins.len())
                .map(|i| input(node, ins, i))
                .collect::<Result<_>>()?;
            let first = metas
                .first()
                .ok_or_else(|| err(node, "needs at least one input"))?;
            let rank = first.shape.len();
            let a = axis(node, int(node, "axis", 0)?, rank)?;
            let mut shape = first.shape.clone();
            shape[a] = 0;
            for m in &metas {
                let ok = m.shape.len() == rank
                    && (0..rank).all(|d| d == a || m.shape[d] == first.shape[d]);
                if !ok {
                    return Err(err(
                        node,
                        format!(
                            "inputs {:?} and {:?} differ outside axis {a}",
                            first.shape, m.shape
                        ),
                    ));
                }
                shape[a] += m.shape[a];
            }
            let inputs = (0..metas.len()).map(Src::In).collect();
            Resolved::one(op(Op::Concat { axis: a }, inputs, shape, first.dtype))
        }
        "Split" => split(node, ins, opset)?,
        "Gather" => {
            let (data, idx) = (x()?, input(node, ins, 1)?);
            let rank = data.shape.len();
            let a = axis(node, int(node, "axis", 0)?, rank)?;
            let mut shape = data.shape[..a].to_vec();
            shape.extend(&idx.shape);
            shape.extend(&data.shape[a + 1..]);
            let indices = match &idx.konst {
                Some(t) => {
                    let dim = data.shape[a] as i64;
                    let mut norm = t.clone();
                    for v in norm.data.iter_mut() {
                        let i = *v as i64;
                        if i < -dim || i >= dim {
                            return Err(err(
                                node,
                                format!("index {i} is out of range for axis {a} of size {dim}"),
                            ));
                        }
                        *v = if i < 0 { (i + dim) as f64 } else { i as f64 };
                    }
                    Src::Const(norm)
                }
                None => Src::In(1),
            };
            Resolved::one(op(
                Op::Gather { axis: a },
                vec![Src::In(0), indices],
                shape,
                data.dtype,
            ))
        }
        "Pad" => pad(node, ins, opset)?,
        "Where" => {
            let (c, a, b) = (x()?, input(node, ins, 1)?, input(node, ins, 2)?);
            let shape = broadcast(&c.shape, &a.shape)
                .and_then(|s| broadcast(&s, &b.shape))
                .ok_or_else(|| {
                    err(
                        node,
                        format!(
                            "cannot broadcast {:?}, {:?} and {:?}",
                            c.shape, a.shape, b.shape
                        ),
                    )
                })?;
            let (sc, sa, sb) = (
                broadcast_strides(&c.shape, &shape),
                broadcast_strides(&a.shape, &shape),
                broadcast_strides(&b.shape, &shape),
            );
            Resolved::one(op(
                Op::Where(sc, sa, sb),
                vec![Src::In(0), Src::In(1), Src::In(2)],
                shape,
                a.dtype,
            ))
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" => reduce(node, ins, opset)?,
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let xm = x()?;
            if xm.shape.len() < 3 {
                return Err(err(
                    node,
                    format!("needs [N, C, ...] input, got {:?}", xm.shape),
                ));
            }
            let n: usize = xm.shape[2..].iter().product();
            let f = if node.op == "GlobalMaxPool" {
                Reduce::Max
            } else {
                Reduce::Mean
            };
            let mut shape = xm.shape.clone();
            shape[2..].fill(1);
            let outer = xm.shape[0] * xm.shape[1];
            Resolved::one(op(
                Op::Reduce {
                    f,
                    outer,
                    n,
                    inner: 1,
                },
                vec![Src::In(0)],
                shape,
                xm.dtype,
            ))
        }
        "Softmax" | "LogSoftmax" => {
            let xm = x()?;
            let rank = xm.shape.len();
            let a = axis(
                node,
                int(node, "axis", if opset >= 13 { -1 } else { 1 })?,
                rank,
            )?;
            if opset < 13 && a + 1 != rank {
                return Err(unsupported_attr(node, "axis", &a.to_string(), " before opset 13 (it flattens the trailing axes); re-export with opset_version >= 13"));
            }
            let (outer, n, inner) = (
                xm.shape[..a].iter().product(),
                xm.shape[a],
                xm.shape[a + 1..].iter().product(),
            );
            Resolved::one(op(
                Op::Softmax {
                    log: node.op == "LogSoftmax",
                    outer,
                    n,
                    inner,
                },
                vec![Src::In(0)],
                xm.shape.clone(),
                xm.dtype,
            ))
        }
        name => {
            if let Some(r) = elementwise(node, ins, name)? {
                r
            } else if let Some(r) = nn::resolve_nn(node, ins)? {
                r
            } else {
                return Err(err(
                    node,
                    format!("operator {name} is not supported; `wgsl-nn run --list-ops` lists those that are"),
                ));
            }
        }
    })
}

//! ONNX nodes into resolved ops: attributes read with ONNX's defaults,
//! shape inputs read from constants, output shapes computed, anything
//! unsupported refused with the node, the operator and the attribute
//! named. Ops of neural-network layers (conv, pooling, products, norms)
//! are in `resolve_nn`.

use super::op::{broadcast, broadcast_strides, contiguous, Binary, Op, Reduce, Strides, Unary};
use super::{Attr, DType, HostTensor, Node, MAX_ELEMENTS};
use crate::error::{Error, Result};

/// What is known of a tensor while the graph is resolved.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Element type.
    pub dtype: DType,
    /// Concrete shape.
    pub shape: Vec<usize>,
    /// Its value, when it is a constant (or folded from constants).
    pub konst: Option<HostTensor>,
}

/// Where a resolved op's input comes from.
#[derive(Debug, Clone)]
pub enum Src {
    /// The node's input at this position.
    In(usize),
    /// A constant made while resolving (normalised indices, a scaled bias).
    Const(HostTensor),
    /// The output of an earlier op of the same node.
    Prev(usize),
}

/// One op a node resolves to.
#[derive(Debug, Clone)]
pub enum Out {
    /// A value known on the host (Shape, Constant, ConstantOfShape...).
    Const(HostTensor),
    /// An op to run (folded on the host if all its inputs are constant).
    Op {
        /// The op.
        op: Op,
        /// Its inputs.
        inputs: Vec<Src>,
        /// Its output's shape.
        shape: Vec<usize>,
        /// Its output's type.
        dtype: DType,
    },
}

/// A node's ops, and which of them are its outputs (in output order).
pub struct Resolved {
    /// The ops, in order.
    pub steps: Vec<Out>,
    /// Index into `steps` per node output.
    pub outputs: Vec<usize>,
}

impl Resolved {
    fn one(out: Out) -> Resolved {
        Resolved {
            steps: vec![out],
            outputs: vec![0],
        }
    }
}

pub(crate) fn err(node: &Node, msg: impl Into<String>) -> Error {
    Error::shape(node.label(), msg)
}

pub(crate) fn unsupported_attr(node: &Node, attr: &str, value: &str, hint: &str) -> Error {
    err(
        node,
        format!("attribute {attr} = {value} is not supported{hint}"),
    )
}

/// Integer attribute with a default.
pub(crate) fn int(node: &Node, name: &str, default: i64) -> Result<i64> {
    match node.attrs.get(name) {
        None => Ok(default),
        Some(Attr::Int(v)) => Ok(*v),
        Some(a) => Err(err(
            node,
            format!("attribute {name} should be an integer, got {a:?}"),
        )),
    }
}

/// Float attribute with a default.
pub(crate) fn float(node: &Node, name: &str, default: f32) -> Result<f32> {
    match node.attrs.get(name) {
        None => Ok(default),
        Some(Attr::Float(v)) => Ok(*v),
        Some(Attr::Int(v)) => Ok(*v as f32),
        Some(a) => Err(err(
            node,
            format!("attribute {name} should be a float, got {a:?}"),
        )),
    }
}

/// Integer-list attribute, if present.
pub(crate) fn ints(node: &Node, name: &str) -> Result<Option<Vec<i64>>> {
    match node.attrs.get(name) {
        None => Ok(None),
        Some(Attr::Ints(v)) => Ok(Some(v.clone())),
        Some(Attr::Int(v)) => Ok(Some(vec![*v])),
        Some(a) => Err(err(
            node,
            format!("attribute {name} should be a list of integers, got {a:?}"),
        )),
    }
}

/// String attribute with a default.
pub(crate) fn string(node: &Node, name: &str, default: &str) -> Result<String> {
    match node.attrs.get(name) {
        None => Ok(default.to_string()),
        Some(Attr::Str(v)) => Ok(v.clone()),
        Some(a) => Err(err(
            node,
            format!("attribute {name} should be a string, got {a:?}"),
        )),
    }
}

/// Input `i`, which must be present.
pub(crate) fn input<'a>(node: &Node, ins: &[Option<&'a Meta>], i: usize) -> Result<&'a Meta> {
    ins.get(i)
        .copied()
        .flatten()
        .ok_or_else(|| err(node, format!("needs input {} but it is missing", i + 1)))
}

/// Input `i` as a constant, or an error saying it must be one.
pub(crate) fn konst<'a>(
    node: &Node,
    ins: &[Option<&'a Meta>],
    i: usize,
    what: &str,
) -> Result<&'a HostTensor> {
    input(node, ins, i)?.konst.as_ref().ok_or_else(|| {
        err(
            node,
            format!("its {what} (input {}) must be a constant or computable from shapes; it depends on the model's input here, which wgsl-nn cannot run", i + 1),
        )
    })
}

/// An axis in `-rank..rank`, normalised.
pub(crate) fn axis(node: &Node, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if a < -r || a >= r.max(1) {
        return Err(err(
            node,
            format!("axis {a} is out of range for rank {rank}"),
        ));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

fn numel_checked(node: &Node, shape: &[usize]) -> Result<usize> {
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| {
            err(
                node,
                format!("its output {shape:?} would hold more than {MAX_ELEMENTS} elements; this runner refuses tensors that large (check the model's shape arithmetic or use a smaller input)"),
            )
        })?;
    Ok(n)
}

fn op(op: Op, inputs: Vec<Src>, shape: Vec<usize>, dtype: DType) -> Out {
    Out::Op {
        op,
        inputs,
        shape,
        dtype,
    }
}

fn view(x: &Meta, shape: Vec<usize>) -> Resolved {
    Resolved::one(op(Op::View, vec![Src::In(0)], shape, x.dtype))
}

fn unary(x: &Meta, f: Unary, dtype: DType) -> Resolved {
    Resolved::one(op(
        Op::Unary(f, Strides::identity(&x.shape)),
        vec![Src::In(0)],
        x.shape.clone(),
        dtype,
    ))
}

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
            } else if let Some(r) = super::resolve_nn::resolve_nn(node, ins)? {
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

fn constant(node: &Node) -> Result<HostTensor> {
    let one = |(name, a): (&String, &Attr)| -> Result<HostTensor> {
        Ok(match a {
            Attr::Tensor(t) => t.clone(),
            Attr::Float(v) => HostTensor::f32(&[], &[*v]),
            Attr::Floats(v) => HostTensor::f32(&[v.len()], v),
            Attr::Int(v) => HostTensor::i64(&[], &[*v]),
            Attr::Ints(v) => HostTensor::i64(&[v.len()], v),
            _ => {
                return Err(unsupported_attr(
                    node,
                    name,
                    "(a string or sparse tensor)",
                    "",
                ))
            }
        })
    };
    node.attrs
        .iter()
        .next()
        .map(one)
        .unwrap_or_else(|| Err(err(node, "has no value attribute")))
}

/// A shape given as a tensor of non-negative integers.
fn shape_from(node: &Node, t: &HostTensor) -> Result<Vec<usize>> {
    t.ints()
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                err(
                    node,
                    format!("shape {:?} has a negative dimension", t.ints()),
                )
            })
        })
        .collect()
}

fn reshape(node: &Node, from: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let total: usize = from.iter().product();
    let mut infer = None;
    let mut shape = Vec::with_capacity(spec.len());
    for (i, &d) in spec.iter().enumerate() {
        shape.push(match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            0 if !allowzero => *from.get(i).ok_or_else(|| err(node, format!("shape {spec:?} copies dimension {i}, which the input {from:?} does not have")))?,
            d if d >= 0 => d as usize,
            _ => return Err(err(node, format!("target shape {spec:?} is invalid (one -1 at most, no other negative sizes)"))),
        });
    }
    let known = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match (infer, known) {
        (Some(i), Some(k)) if k > 0 && total.is_multiple_of(k) => shape[i] = total / k,
        (None, Some(k)) if k == total => {}
        _ => {
            return Err(err(
                node,
                format!("cannot reshape {from:?} ({total} elements) to {spec:?}"),
            ))
        }
    }
    Ok(shape)
}

/// Axes from input `i` (newer opsets) or the `axes` attribute.
fn axes_arg(
    node: &Node,
    ins: &[Option<&Meta>],
    as_input: bool,
    i: usize,
) -> Result<Option<Vec<i64>>> {
    if as_input {
        match ins.get(i).copied().flatten() {
            Some(_) => Ok(Some(konst(node, ins, i, "axes")?.ints())),
            None => Ok(None),
        }
    } else {
        ints(node, "axes")
    }
}

fn slice(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
    let xm = input(node, ins, 0)?;
    let rank = xm.shape.len();
    let (starts, ends, axes, steps) = if opset >= 10 {
        let starts = konst(node, ins, 1, "starts")?.ints();
        let ends = konst(node, ins, 2, "ends")?.ints();
        let axes = match ins.get(3).copied().flatten() {
            Some(_) => konst(node, ins, 3, "axes")?.ints(),
            None => (0..starts.len() as i64).collect(),
        };
        let steps = match ins.get(4).copied().flatten() {
            Some(_) => konst(node, ins, 4, "steps")?.ints(),
            None => vec![1; starts.len()],
        };
        (starts, ends, axes, steps)
    } else {
        let starts = ints(node, "starts")?.unwrap_or_default();
        let ends = ints(node, "ends")?.unwrap_or_default();
        let axes = ints(node, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let n = starts.len();
        (starts, ends, axes, vec![1; n])
    };
    if [ends.len(), axes.len(), steps.len()]
        .iter()
        .any(|&l| l != starts.len())
    {
        return Err(err(
            node,
            "starts, ends, axes and steps must have the same length",
        ));
    }
    let own = contiguous(&xm.shape);
    let mut shape = xm.shape.clone();
    let mut strides: Vec<i64> = own.iter().map(|&s| s as i64).collect();
    let mut offset = 0i64;
    for j in 0..starts.len() {
        let a = axis(node, axes[j], rank)?;
        let (dim, step) = (xm.shape[a] as i64, steps[j]);
        if step == 0 {
            return Err(err(node, "a step of 0 is invalid"));
        }
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (s, e) = if step > 0 {
            (norm(starts[j]).clamp(0, dim), norm(ends[j]).clamp(0, dim))
        } else {
            (
                norm(starts[j]).clamp(0, dim - 1),
                norm(ends[j]).clamp(-1, dim - 1),
            )
        };
        let len = if step > 0 {
            (e - s + step - 1).max(0) / step
        } else {
            (s - e - step - 1).max(0) / -step
        };
        shape[a] = len as usize;
        offset += s.max(0) * own[a] as i64;
        strides[a] = step * own[a] as i64;
    }
    let s = Strides {
        offset: offset as usize,
        strides,
    };
    Ok(Resolved::one(op(
        Op::Unary(Unary::Copy, s),
        vec![Src::In(0)],
        shape,
        xm.dtype,
    )))
}

fn split(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
    let xm = input(node, ins, 0)?;
    let a = axis(node, int(node, "axis", 0)?, xm.shape.len())?;
    let dim = xm.shape[a];
    let parts = node.outputs.len().max(1);
    let sizes: Vec<usize> = match (opset >= 13, ins.get(1).copied().flatten()) {
        (true, Some(_)) => shape_from(node, konst(node, ins, 1, "split")?)?,
        (false, _) if node.attrs.contains_key("split") => ints(node, "split")?
            .unwrap_or_default()
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect(),
        _ => {
            let each = dim.div_ceil(parts);
            (0..parts)
                .map(|i| each.min(dim.saturating_sub(i * each)))
                .collect()
        }
    };
    if sizes.len() != parts || sizes.iter().sum::<usize>() != dim || sizes.contains(&0) {
        return Err(err(node, format!("split sizes {sizes:?} do not divide axis {a} of size {dim} into {parts} non-empty outputs")));
    }
    let own = contiguous(&xm.shape);
    let mut start = 0;
    let steps = sizes
        .iter()
        .map(|&len| {
            let mut shape = xm.shape.clone();
            shape[a] = len;
            let s = Strides {
                offset: start * own[a],
                strides: own.iter().map(|&v| v as i64).collect(),
            };
            start += len;
            op(Op::Unary(Unary::Copy, s), vec![Src::In(0)], shape, xm.dtype)
        })
        .collect();
    Ok(Resolved {
        steps,
        outputs: (0..parts).collect(),
    })
}

fn pad(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
    let xm = input(node, ins, 0)?;
    let mode = string(node, "mode", "constant")?;
    if mode != "constant" {
        return Err(unsupported_attr(
            node,
            "mode",
            &mode,
            " (only constant padding runs)",
        ));
    }
    let rank = xm.shape.len();
    let (pads, value) = if opset >= 11 {
        let pads = konst(node, ins, 1, "pads")?.ints();
        let value = match ins.get(2).copied().flatten() {
            Some(_) => konst(node, ins, 2, "constant_value")?
                .data
                .first()
                .copied()
                .unwrap_or(0.0) as f32,
            None => 0.0,
        };
        (pads, value)
    } else {
        (
            ints(node, "pads")?.unwrap_or_default(),
            float(node, "value", 0.0)?,
        )
    };
    let axes: Vec<usize> = match ins.get(3).copied().flatten() {
        Some(_) => konst(node, ins, 3, "axes")?
            .ints()
            .iter()
            .map(|&a| axis(node, a, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(err(
            node,
            format!("pads {pads:?} should hold 2 x {} values", axes.len()),
        ));
    }
    if pads.iter().any(|&p| p < 0) {
        return Err(unsupported_attr(
            node,
            "pads",
            &format!("{pads:?}"),
            " (negative pads crop; use Slice)",
        ));
    }
    let (mut begin, mut end) = (vec![0; rank], vec![0; rank]);
    for (j, &a) in axes.iter().enumerate() {
        begin[a] = pads[j] as usize;
        end[a] = pads[j + axes.len()] as usize;
    }
    let shape: Vec<usize> = (0..rank).map(|d| xm.shape[d] + begin[d] + end[d]).collect();
    numel_checked(node, &shape)?;
    Ok(Resolved::one(op(
        Op::Pad { begin, end, value },
        vec![Src::In(0)],
        shape,
        xm.dtype,
    )))
}

fn reduce(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
    let xm = input(node, ins, 0)?;
    let rank = xm.shape.len();
    let as_input = node.op == "ReduceSum" && opset >= 13 || opset >= 18;
    let axes = axes_arg(node, ins, as_input, 1)?;
    let keep = int(node, "keepdims", 1)? != 0;
    let mut axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&v| axis(node, v, rank))
            .collect::<Result<_>>()?,
        _ if int(node, "noop_with_empty_axes", 0)? != 0 => return Ok(view(xm, xm.shape.clone())),
        _ => (0..rank).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    let f = match node.op.as_str() {
        "ReduceSum" => Reduce::Sum,
        "ReduceMax" => Reduce::Max,
        "ReduceMin" => Reduce::Min,
        _ => Reduce::Mean,
    };
    let mut shape = xm.shape.clone();
    for &a in &axes {
        shape[a] = 1;
    }
    let out: Vec<usize> = if keep {
        shape
    } else {
        (0..rank)
            .filter(|d| !axes.contains(d))
            .map(|d| xm.shape[d])
            .collect()
    };
    let contiguous_axes = axes.windows(2).all(|w| w[1] == w[0] + 1);
    let mut steps = vec![];
    let (src, view_shape) = if contiguous_axes || rank == 0 {
        (Src::In(0), xm.shape.clone())
    } else {
        // Move the reduced axes to the end (a copy), then reduce them there.
        let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
        let perm: Vec<usize> = kept.iter().chain(&axes).copied().collect();
        let own = contiguous(&xm.shape);
        let pshape: Vec<usize> = perm.iter().map(|&p| xm.shape[p]).collect();
        let s = Strides {
            offset: 0,
            strides: perm.iter().map(|&p| own[p] as i64).collect(),
        };
        steps.push(op(
            Op::Unary(Unary::Copy, s),
            vec![Src::In(0)],
            pshape.clone(),
            xm.dtype,
        ));
        axes = (kept.len()..rank).collect();
        (Src::Prev(0), pshape)
    };
    let (first, last) = (
        axes.first().copied().unwrap_or(0),
        axes.last().copied().unwrap_or(0),
    );
    let outer = view_shape[..first].iter().product();
    let n = view_shape[first..=last.min(rank.saturating_sub(1))]
        .iter()
        .product();
    let inner = view_shape.get(last + 1..).map_or(1, |s| s.iter().product());
    steps.push(op(
        Op::Reduce { f, outer, n, inner },
        vec![src],
        out,
        xm.dtype,
    ));
    let last_step = steps.len() - 1;
    Ok(Resolved {
        steps,
        outputs: vec![last_step],
    })
}

fn elementwise(node: &Node, ins: &[Option<&Meta>], name: &str) -> Result<Option<Resolved>> {
    let u = match name {
        "Relu" => Some(Unary::Relu),
        "Sigmoid" => Some(Unary::Sigmoid),
        "Tanh" => Some(Unary::Tanh),
        "Erf" => Some(Unary::Erf),
        "Sqrt" => Some(Unary::Sqrt),
        "Exp" => Some(Unary::Exp),
        "Log" => Some(Unary::Log),
        "Neg" => Some(Unary::Neg),
        "Abs" => Some(Unary::Abs),
        "Reciprocal" => Some(Unary::Reciprocal),
        "Floor" => Some(Unary::Floor),
        "Ceil" => Some(Unary::Ceil),
        "Not" => Some(Unary::Not),
        "Softplus" => Some(Unary::Softplus),
        "HardSwish" => Some(Unary::HardSwish),
        "HardSigmoid" => Some(Unary::HardSigmoid(
            float(node, "alpha", 0.2)?,
            float(node, "beta", 0.5)?,
        )),
        "LeakyRelu" => Some(Unary::LeakyRelu(float(node, "alpha", 0.01)?)),
        "Gelu" => {
            let a = string(node, "approximate", "none")?;
            if a != "none" {
                return Err(unsupported_attr(
                    node,
                    "approximate",
                    &a,
                    " (the exact erf form runs)",
                ));
            }
            Some(Unary::Gelu)
        }
        "Clip" => {
            let bound = |i: usize, attr: &str, d: f32| -> Result<f32> {
                match ins.get(i).copied().flatten() {
                    Some(_) => Ok(konst(node, ins, i, attr)?
                        .data
                        .first()
                        .copied()
                        .unwrap_or(f64::from(d)) as f32),
                    None => float(node, attr, d),
                }
            };
            Some(Unary::Clip(
                bound(1, "min", f32::NEG_INFINITY)?,
                bound(2, "max", f32::INFINITY)?,
            ))
        }
        _ => None,
    };
    if let Some(f) = u {
        let xm = input(node, ins, 0)?;
        let dtype = if f == Unary::Not {
            DType::Bool
        } else {
            xm.dtype
        };
        return Ok(Some(unary(xm, f, dtype)));
    }
    let b = match name {
        "Add" => Binary::Add,
        "Sub" => Binary::Sub,
        "Mul" => Binary::Mul,
        "Div" => Binary::Div,
        "Pow" => Binary::Pow,
        "Max" => Binary::Max,
        "Min" => Binary::Min,
        "Equal" => Binary::Equal,
        "Less" => Binary::Less,
        "Greater" => Binary::Greater,
        "Mod" => Binary::Mod {
            fmod: int(node, "fmod", 0)? != 0,
        },
        "And" => Binary::And,
        "Or" => Binary::Or,
        _ => return Ok(None),
    };
    if ins.len() != 2 {
        return Err(err(
            node,
            format!("takes two inputs here, got {}", ins.len()),
        ));
    }
    let (a, bm) = (input(node, ins, 0)?, input(node, ins, 1)?);
    let shape = broadcast(&a.shape, &bm.shape).ok_or_else(|| {
        err(
            node,
            format!("cannot broadcast {:?} with {:?}", a.shape, bm.shape),
        )
    })?;
    let dtype = match b {
        Binary::Equal | Binary::Less | Binary::Greater | Binary::And | Binary::Or => DType::Bool,
        _ => a.dtype,
    };
    let (sa, sb) = (
        broadcast_strides(&a.shape, &shape),
        broadcast_strides(&bm.shape, &shape),
    );
    Ok(Some(Resolved::one(op(
        Op::Binary(b, sa, sb),
        vec![Src::In(0), Src::In(1)],
        shape,
        dtype,
    ))))
}

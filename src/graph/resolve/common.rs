//! What resolving a node works with: the tensors' known facts, the ops a
//! node turns into, and ONNX's attribute accessors with their defaults.

use crate::error::{Error, Result};
use crate::graph::op::{Op, Strides, Unary};
use crate::graph::{Attr, DType, HostTensor, Node, MAX_ELEMENTS};

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
    /// A node with a single op, its only output.
    pub fn one(out: Out) -> Resolved {
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

pub(crate) fn numel_checked(node: &Node, shape: &[usize]) -> Result<usize> {
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

pub(crate) fn op(op: Op, inputs: Vec<Src>, shape: Vec<usize>, dtype: DType) -> Out {
    Out::Op {
        op,
        inputs,
        shape,
        dtype,
    }
}

pub(crate) fn view(x: &Meta, shape: Vec<usize>) -> Resolved {
    Resolved::one(op(Op::View, vec![Src::In(0)], shape, x.dtype))
}

pub(crate) fn unary(x: &Meta, f: Unary, dtype: DType) -> Resolved {
    Resolved::one(op(
        Op::Unary(f, Strides::identity(&x.shape)),
        vec![Src::In(0)],
        x.shape.clone(),
        dtype,
    ))
}

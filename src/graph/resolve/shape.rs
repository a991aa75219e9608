//! Shape, data-movement, reduction and element-wise operators: Constant,
//! Reshape, Slice, Split, Pad, the Reduce family and the unary and binary
//! maps, each with ONNX's opset-dependent forms (inputs or attributes).

use super::common::{
    axis, err, float, input, int, ints, konst, numel_checked, op, string, unary, unsupported_attr,
    view, Meta, Resolved, Src,
};
use crate::error::Result;
use crate::graph::op::{
    broadcast, broadcast_strides, contiguous, Binary, Op, Reduce, Strides, Unary,
};
use crate::graph::{Attr, DType, HostTensor, Node};

pub(super) fn constant(node: &Node) -> Result<HostTensor> {
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
pub(super) fn shape_from(node: &Node, t: &HostTensor) -> Result<Vec<usize>> {
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

pub(super) fn reshape(
    node: &Node,
    from: &[usize],
    spec: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>> {
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
pub(super) fn axes_arg(
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

pub(super) fn slice(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
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

pub(super) fn split(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
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

pub(super) fn pad(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
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

pub(super) fn reduce(node: &Node, ins: &[Option<&Meta>], opset: i64) -> Result<Resolved> {
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

pub(super) fn elementwise(
    node: &Node,
    ins: &[Option<&Meta>],
    name: &str,
) -> Result<Option<Resolved>> {
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

//! The layer operators of ONNX (Conv, ConvTranspose, pooling, batch and
//! layer norm, MatMul, Gemm) resolved onto the crate's layer parameters,
//! with ONNX's attribute rules: `auto_pad`, asymmetric `pads`, `group`,
//! `dilations`, `ceil_mode`, `count_include_pad`, Gemm's transposes and
//! scales, numpy-style batch broadcasting of MatMul.

use super::common::{
    axis, err, float, input, int, ints, konst, string, unsupported_attr, Meta, Out, Resolved, Src,
};
use crate::error::Result;
use crate::geometry::Window;
use crate::graph::op::{MatmulShape, Op};
use crate::graph::{DType, HostTensor, Node};
use crate::ops::batchnorm::BatchNorm;
use crate::ops::conv2d::Conv2d;
use crate::ops::conv_transpose2d::ConvTranspose2d;
use crate::ops::pool2d::{Pool2d, PoolKind};

fn one(op: Op, inputs: Vec<Src>, shape: Vec<usize>) -> Resolved {
    Resolved {
        steps: vec![Out::Op {
            op,
            inputs,
            shape,
            dtype: DType::F32,
        }],
        outputs: vec![0],
    }
}

/// Spatial dims of x [N, C, ...]: 1 or 2 of them.
fn spatial(node: &Node, x: &Meta) -> Result<(Vec<usize>, bool)> {
    match x.shape.len() {
        3 => Ok((vec![1, x.shape[2]], true)),
        4 => Ok((x.shape[2..].to_vec(), false)),
        r => Err(err(node, format!("needs [N, C, L] or [N, C, H, W] input, got rank {r} {:?}; 3-D convolutions and pooling are not supported", x.shape))),
    }
}

/// A per-axis list attribute for 1 or 2 spatial axes, as [h, w].
fn pair(node: &Node, name: &str, one_d: bool, default: usize) -> Result<[usize; 2]> {
    let want = if one_d { 1 } else { 2 };
    match ints(node, name)? {
        None => Ok([if one_d { 1 } else { default }, default]),
        Some(v) if v.len() == want && v.iter().all(|&x| x >= 0) => Ok(if one_d {
            [1, v[0] as usize]
        } else {
            [v[0] as usize, v[1] as usize]
        }),
        Some(v) => Err(unsupported_attr(
            node,
            name,
            &format!("{v:?}"),
            &format!(" (expected {want} non-negative values)"),
        )),
    }
}

/// Padding from `pads` or `auto_pad`, as ([top, left], [bottom, right]).
fn padding(
    node: &Node,
    one_d: bool,
    input: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> Result<([usize; 2], [usize; 2])> {
    let auto = string(node, "auto_pad", "NOTSET")?;
    let pads = ints(node, "pads")?;
    if auto != "NOTSET" && pads.as_ref().is_some_and(|p| p.iter().any(|&v| v != 0)) {
        return Err(unsupported_attr(
            node,
            "auto_pad",
            &auto,
            " together with explicit pads (ONNX allows one or the other); drop one of them",
        ));
    }
    match auto.as_str() {
        "NOTSET" => {
            let want = if one_d { 2 } else { 4 };
            match pads {
                None => Ok(([0, 0], [0, 0])),
                Some(p) if p.len() == want && p.iter().all(|&v| v >= 0) => {
                    let p: Vec<usize> = p.iter().map(|&v| v as usize).collect();
                    Ok(if one_d {
                        ([0, p[0]], [0, p[1]])
                    } else {
                        ([p[0], p[1]], [p[2], p[3]])
                    })
                }
                Some(p) => Err(unsupported_attr(
                    node,
                    "pads",
                    &format!("{p:?}"),
                    &format!(" (expected {want} non-negative values)"),
                )),
            }
        }
        "VALID" => Ok(([0, 0], [0, 0])),
        "SAME_UPPER" | "SAME_LOWER" => {
            let (mut b, mut e) = ([0; 2], [0; 2]);
            for a in 0..2 {
                let out = input[a].div_ceil(stride[a]);
                let eff = dilation[a] * (kernel[a] - 1) + 1;
                let total = ((out - 1) * stride[a] + eff).saturating_sub(input[a]);
                let small = total / 2;
                (b[a], e[a]) = if auto == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            }
            Ok((b, e))
        }
        other => Err(unsupported_attr(
            node,
            "auto_pad",
            other,
            " (NOTSET, VALID, SAME_UPPER, SAME_LOWER)",
        )),
    }
}

fn window(
    node: &Node,
    x: &Meta,
    kernel: [usize; 2],
    with_dilation: bool,
) -> Result<(Window, bool)> {
    let (hw, one_d) = spatial(node, x)?;
    let stride = pair(node, "strides", one_d, 1)?;
    let dilation = if with_dilation {
        pair(node, "dilations", one_d, 1)?
    } else {
        [1, 1]
    };
    let (pad_begin, pad_end) = padding(node, one_d, &hw, kernel, stride, dilation)?;
    Ok((
        Window {
            kernel,
            stride,
            pad_begin,
            pad_end,
            dilation,
            ceil_mode: int(node, "ceil_mode", 0)? != 0,
        },
        one_d,
    ))
}

/// Constant f32 data of input `i`, or the error that it must be constant.
fn weights(node: &Node, ins: &[Option<&Meta>], i: usize, what: &str) -> Result<HostTensor> {
    konst(node, ins, i, what).cloned()
}

fn out_shape(x: &Meta, c: usize, hw: [usize; 2], one_d: bool) -> Vec<usize> {
    if one_d {
        vec![x.shape[0], c, hw[1]]
    } else {
        vec![x.shape[0], c, hw[0], hw[1]]
    }
}

/// Resolves a layer operator, or None when `node.op` is not one.
pub fn resolve_nn(node: &Node, ins: &[Option<&Meta>]) -> Result<Option<Resolved>> {
    let x = || input(node, ins, 0);
    Ok(Some(match node.op.as_str() {
        "Conv" => {
            let xm = x()?;
            let w = weights(node, ins, 1, "weight")?;
            let (hw, one_d) = spatial(node, xm)?;
            if w.shape.len() != xm.shape.len() {
                return Err(err(
                    node,
                    format!(
                        "weight {:?} does not match input rank {}",
                        w.shape,
                        xm.shape.len()
                    ),
                ));
            }
            let kernel = if one_d {
                [1, w.shape[2]]
            } else {
                [w.shape[2], w.shape[3]]
            };
            if let Some(k) = ints(node, "kernel_shape")? {
                let given: Vec<usize> = k.iter().map(|&v| v.max(0) as usize).collect();
                if given != w.shape[2..] {
                    return Err(unsupported_attr(
                        node,
                        "kernel_shape",
                        &format!("{k:?}"),
                        &format!(": the weight is {:?}", w.shape),
                    ));
                }
            }
            let groups = int(node, "group", 1)?;
            let (win, _) = window(node, xm, kernel, true)?;
            let cin = xm.shape[1];
            if groups < 1
                || cin % groups as usize != 0
                || w.shape[0] % groups as usize != 0
                || w.shape[1] * groups as usize != cin
            {
                return Err(unsupported_attr(
                    node,
                    "group",
                    &groups.to_string(),
                    &format!(": input has {cin} channels and the weight is {:?}", w.shape),
                ));
            }
            let has_bias = ins.get(2).copied().flatten().is_some();
            let conv = Conv2d {
                window: win,
                in_channels: cin,
                out_channels: w.shape[0],
                groups: groups as usize,
                bias: has_bias,
                relu: false,
                relu6: false,
            };
            let [n, c, h, wd] =
                conv.output_shape(&[xm.shape[0], cin, hw[0], hw[1]], &node.label())?;
            let _ = (n, h);
            let mut inputs = vec![Src::In(0), Src::In(1)];
            if has_bias {
                weights(node, ins, 2, "bias")?;
                inputs.push(Src::In(2));
            }
            one(
                Op::Conv { conv, one_d },
                inputs,
                out_shape(xm, c, [h, wd], one_d),
            )
        }
        "ConvTranspose" => {
            let xm = x()?;
            let w = weights(node, ins, 1, "weight")?;
            let (hw, one_d) = spatial(node, xm)?;
            if int(node, "group", 1)? != 1 {
                return Err(unsupported_attr(
                    node,
                    "group",
                    &int(node, "group", 1)?.to_string(),
                    " (grouped transposed convolutions are not supported)",
                ));
            }
            if w.shape.len() != xm.shape.len() || w.shape[0] != xm.shape[1] {
                return Err(err(
                    node,
                    format!("weight {:?} does not match input {:?}", w.shape, xm.shape),
                ));
            }
            let kernel = if one_d {
                [1, w.shape[2]]
            } else {
                [w.shape[2], w.shape[3]]
            };
            let stride = pair(node, "strides", one_d, 1)?;
            let dilation = pair(node, "dilations", one_d, 1)?;
            let output_padding = pair(node, "output_padding", one_d, 0)?;
            let output_padding = if one_d {
                [0, output_padding[1]]
            } else {
                output_padding
            };
            if string(node, "auto_pad", "NOTSET")? != "NOTSET"
                || ints(node, "output_shape")?.is_some()
            {
                return Err(unsupported_attr(
                    node,
                    "auto_pad/output_shape",
                    "set",
                    " (give explicit pads instead)",
                ));
            }
            let (pb, pe) = padding(node, one_d, &hw, kernel, stride, dilation)?;
            let mut out_hw = [0; 2];
            for a in 0..2 {
                let full =
                    (hw[a] - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1 + output_padding[a];
                out_hw[a] = full
                    .checked_sub(pb[a] + pe[a])
                    .filter(|&o| o > 0)
                    .ok_or_else(|| err(node, "its pads crop the whole output"))?;
            }
            let has_bias = ins.get(2).copied().flatten().is_some();
            let ct = ConvTranspose2d {
                in_channels: xm.shape[1],
                out_channels: w.shape[1],
                kernel,
                stride,
                padding: pb,
                output_padding,
                dilation,
                bias: has_bias,
                relu: false,
            };
            let mut inputs = vec![Src::In(0), Src::In(1)];
            if has_bias {
                weights(node, ins, 2, "bias")?;
                inputs.push(Src::In(2));
            }
            one(
                Op::ConvTranspose { ct, out_hw, one_d },
                inputs,
                out_shape(xm, w.shape[1], out_hw, one_d),
            )
        }
        "MaxPool" | "AveragePool" => {
            let xm = x()?;
            if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
                return Err(err(node, "its Indices output is not supported"));
            }
            if int(node, "storage_order", 0)? != 0 {
                return Err(unsupported_attr(
                    node,
                    "storage_order",
                    "1",
                    " (column-major indices)",
                ));
            }
            let (_, one_d) = spatial(node, xm)?;
            let kernel = pair(node, "kernel_shape", one_d, 0)?;
            if ints(node, "kernel_shape")?.is_none() {
                return Err(err(node, "needs kernel_shape"));
            }
            let max = node.op == "MaxPool";
            let (win, one_d) = window(node, xm, kernel, max)?;
            let pool = Pool2d {
                kind: if max { PoolKind::Max } else { PoolKind::Avg },
                window: win,
                count_include_pad: int(node, "count_include_pad", 0)? != 0,
            };
            let (hw, _) = spatial(node, xm)?;
            let [_, c, oh, ow] =
                pool.output_shape(&[xm.shape[0], xm.shape[1], hw[0], hw[1]], &node.label())?;
            one(
                Op::Pool { pool, one_d },
                vec![Src::In(0)],
                out_shape(xm, c, [oh, ow], one_d),
            )
        }
        "BatchNormalization" => {
            let xm = x()?;
            if int(node, "training_mode", 0)? != 0
                || node.outputs.iter().skip(1).any(|o| !o.is_empty())
            {
                return Err(unsupported_attr(
                    node,
                    "training_mode",
                    "1",
                    " (inference only; export in eval mode)",
                ));
            }
            let get = |i, w| weights(node, ins, i, w).map(|t| t.to_f32());
            let bn = BatchNorm {
                eps: f64::from(float(node, "epsilon", 1e-5)?),
                weight: get(1, "scale")?,
                bias: get(2, "bias")?,
                mean: get(3, "mean")?,
                var: get(4, "var")?,
            };
            let c = *xm.shape.get(1).unwrap_or(&0);
            bn.validate(&node.label())?;
            if bn.channels() != c {
                return Err(err(
                    node,
                    format!(
                        "has {} channels of statistics but the input {:?} has {c}",
                        bn.channels(),
                        xm.shape
                    ),
                ));
            }
            one(Op::BatchNorm(bn), vec![Src::In(0)], xm.shape.clone())
        }
        "LayerNormalization" => {
            let xm = x()?;
            if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                return Err(err(
                    node,
                    "its Mean and InvStdDev outputs are not supported",
                ));
            }
            let rank = xm.shape.len();
            let a = axis(node, int(node, "axis", -1)?, rank)?;
            let n: usize = xm.shape[a..].iter().product();
            let rows = xm.shape[..a].iter().product();
            let scale = weights(node, ins, 1, "scale")?;
            let mut inputs = vec![Src::In(0), Src::In(1)];
            if scale.data.len() != n {
                return Err(err(
                    node,
                    format!(
                        "scale {:?} must hold the {n} elements it normalises",
                        scale.shape
                    ),
                ));
            }
            match ins.get(2).copied().flatten() {
                Some(_) => {
                    if weights(node, ins, 2, "bias")?.data.len() != n {
                        return Err(err(
                            node,
                            format!("bias must hold the {n} elements it normalises"),
                        ));
                    }
                    inputs.push(Src::In(2));
                }
                None => inputs.push(Src::Const(HostTensor::f32(&[n], &vec![0.0; n]))),
            }
            one(
                Op::LayerNorm {
                    rows,
                    n,
                    eps: float(node, "epsilon", 1e-5)?,
                },
                inputs,
                xm.shape.clone(),
            )
        }
        "MatMul" => {
            let (a, b) = (x()?, input(node, ins, 1)?);
            let (shape, out) = matmul_shape(node, &a.shape, &b.shape)?;
            one(
                Op::Matmul {
                    shape,
                    alpha: 1.0,
                    relu: false,
                },
                vec![Src::In(0), Src::In(1)],
                out,
            )
        }
        "Gemm" => {
            let (a, b) = (x()?, input(node, ins, 1)?);
            let (ta, tb) = (int(node, "transA", 0)? != 0, int(node, "transB", 0)? != 0);
            if a.shape.len() != 2 || b.shape.len() != 2 {
                return Err(err(
                    node,
                    format!("needs 2-D A and B, got {:?} and {:?}", a.shape, b.shape),
                ));
            }
            let (m, k) = if ta {
                (a.shape[1], a.shape[0])
            } else {
                (a.shape[0], a.shape[1])
            };
            let (kb, n) = if tb {
                (b.shape[1], b.shape[0])
            } else {
                (b.shape[0], b.shape[1])
            };
            if k != kb {
                return Err(err(
                    node,
                    format!(
                        "A {:?} and B {:?} do not multiply (transA {ta}, transB {tb})",
                        a.shape, b.shape
                    ),
                ));
            }
            let shape = MatmulShape {
                m,
                n,
                k,
                batches: [1, 1],
                a_batch: [0, 0],
                b_batch: [0, 0],
                trans_a: ta,
                trans_b: tb,
            };
            let (alpha, beta) = (float(node, "alpha", 1.0)?, float(node, "beta", 1.0)?);
            let mut inputs = vec![Src::In(0), Src::In(1)];
            let mut steps = vec![];
            if let Some(c) = ins.get(2).copied().flatten() {
                let per_column = c.shape.iter().product::<usize>() == n
                    && c.shape.last() == Some(&n)
                    || c.shape == [n];
                match (&c.konst, per_column) {
                    (Some(t), true) if beta != 0.0 => {
                        let mut t = t.clone();
                        t.shape = vec![n];
                        t.data.iter_mut().for_each(|v| *v = f64::from((*v * f64::from(beta)) as f32));
                        inputs.push(Src::Const(t));
                    }
                    (_, _) if beta == 0.0 => {}
                    _ => return Err(err(node, format!("C {:?} must be a constant of [N] = [{n}] (a bias); a full [M, N] C is not supported", c.shape))),
                }
            }
            steps.push(Out::Op {
                op: Op::Matmul {
                    shape,
                    alpha,
                    relu: false,
                },
                inputs,
                shape: vec![m, n],
                dtype: DType::F32,
            });
            Resolved {
                steps,
                outputs: vec![0],
            }
        }
        _ => return Ok(None),
    }))
}

/// numpy matmul: 1-D operands promoted and their axis dropped again,
/// batch dims broadcast and folded into at most two levels.
fn matmul_shape(node: &Node, a: &[usize], b: &[usize]) -> Result<(MatmulShape, Vec<usize>)> {
    if a.is_empty() || b.is_empty() {
        return Err(err(node, "MatMul of a scalar is not defined"));
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(err(
            node,
            format!("A {a:?} and B {b:?} do not multiply ({k} != {kb})"),
        ));
    }
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = crate::graph::op::broadcast(ab, bb).ok_or_else(|| {
        err(
            node,
            format!("batch dims of {a:?} and {b:?} do not broadcast"),
        )
    })?;
    let sa = crate::graph::op::broadcast_strides(ab, &batch).strides;
    let sb = crate::graph::op::broadcast_strides(bb, &batch).strides;
    // Batch strides in units of whole matrices.
    let (ma, mb) = ((m * k) as i64, (k * n) as i64);
    let mut levels: Vec<(usize, i64, i64)> = vec![];
    for d in 0..batch.len() {
        if batch[d] == 1 {
            continue;
        }
        let (x, y) = (sa[d] * ma, sb[d] * mb);
        if let Some(last) = levels.last_mut() {
            // Merge with the previous level when both strides continue it.
            let (cnt, px, py) = *last;
            if px == x * batch[d] as i64 && py == y * batch[d] as i64 {
                *last = (cnt * batch[d], x, y);
                continue;
            }
        }
        levels.push((batch[d], x, y));
    }
    if levels.len() > 2 {
        return Err(err(node, format!("the batch dims of {a:?} and {b:?} broadcast in a pattern this runner cannot fold into two levels; reshape the operands first")));
    }
    while levels.len() < 2 {
        levels.insert(0, (1, 0, 0));
    }
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    let shape = MatmulShape {
        m,
        n,
        k,
        batches: [levels[0].0, levels[1].0],
        a_batch: [levels[0].1 as usize, levels[1].1 as usize],
        b_batch: [levels[0].2 as usize, levels[1].2 as usize],
        trans_a: false,
        trans_b: false,
    };
    Ok((shape, out))
}

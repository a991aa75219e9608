//! The f64 reference of every resolved op, with the float32 error bound
//! the verdict allows the GPU (units of eps_f32, as in `cpu`): layer ops
//! reuse the crate's references (`cpu::conv2d`, `cpu::matmul`, ...);
//! element-wise ops charge what shaders/strided.wgsl's formulas may lose,
//! one unit per correctly rounded operation and the WGSL accuracy of the
//! built-ins (division 2.5 ulp, exp 3 + 2|x| ulp, log 3 ulp or 2^-21
//! absolute near 1, sqrt 2.5 ulp).

use super::op::{contiguous, strided_index, Op, Reduce};
use super::pointwise::{binary, unary, Integer};
use super::DType;
use crate::cpu::activation::Val;
use crate::cpu::sum::Acc;
use crate::cpu::{self, RefTensor};
use crate::ops::matmul::{Activation, Matmul, View};

fn f32s(t: &RefTensor) -> Vec<f32> {
    t.val.iter().map(|&v| v as f32).collect()
}

fn with_shape(t: &RefTensor, shape: &[usize]) -> RefTensor {
    RefTensor {
        shape: shape.to_vec(),
        val: t.val.clone(),
        err: t.err.clone(),
    }
}

/// Evaluates `op` on `inputs` (in the op's order), giving a tensor of
/// `shape` and type `dtype`.
pub fn eval(op: &Op, dtype: DType, inputs: &[&RefTensor], shape: &[usize]) -> RefTensor {
    let integer = dtype != DType::F32;
    let n: usize = shape.iter().product();
    let get = |t: &RefTensor, i: usize| Val {
        v: t.val[i],
        e: t.err[i],
    };
    let mut y = RefTensor::zeros(shape);
    let set = |y: &mut RefTensor, i: usize, v: Val| {
        y.val[i] = v.v;
        y.err[i] = v.e;
    };
    match op {
        Op::View => return with_shape(inputs[0], shape),
        Op::Unary(f, s) => {
            for i in 0..n {
                set(
                    &mut y,
                    i,
                    unary(*f, get(inputs[0], strided_index(i, shape, s)), integer),
                );
            }
        }
        Op::Binary(f, sa, sb) => {
            // Integer inputs of a comparison stay exact.
            for i in 0..n {
                let (a, b) = (
                    get(inputs[0], strided_index(i, shape, sa)),
                    get(inputs[1], strided_index(i, shape, sb)),
                );
                set(&mut y, i, binary(*f, a, b, integer));
            }
        }
        Op::Where(sc, sa, sb) => {
            for i in 0..n {
                let c = inputs[0].val[strided_index(i, shape, sc)];
                let (t, s) = if c != 0.0 {
                    (inputs[1], sa)
                } else {
                    (inputs[2], sb)
                };
                set(&mut y, i, get(t, strided_index(i, shape, s)));
            }
        }
        Op::Concat { axis } => {
            let inner: usize = shape[axis + 1..].iter().product();
            let outer: usize = shape[..*axis].iter().product();
            let mut at = 0;
            for t in inputs {
                let len = t.shape[*axis] * inner;
                for o in 0..outer {
                    for k in 0..len {
                        let dst = o * shape[*axis] * inner + at + k;
                        set(&mut y, dst, get(t, o * len + k));
                    }
                }
                at += len;
            }
        }
        Op::Pad { begin, value, .. } => {
            y.val.fill(f64::from(*value));
            let x = inputs[0];
            let ys = contiguous(shape);
            for i in 0..x.val.len() {
                let (mut rem, mut dst) = (i, 0);
                for d in (0..x.shape.len()).rev() {
                    dst += (rem % x.shape[d] + begin[d]) * ys[d];
                    rem /= x.shape[d];
                }
                set(&mut y, dst, get(x, i));
            }
        }
        Op::Gather { axis } => {
            let (data, idx) = (inputs[0], inputs[1]);
            let dim = data.shape[*axis];
            let inner: usize = data.shape[axis + 1..].iter().product();
            let count = idx.val.len();
            for o in 0..n / (count * inner).max(1) {
                for (j, &iv) in idx.val.iter().enumerate() {
                    let i = iv as i64;
                    let i = if i < 0 { i + dim as i64 } else { i };
                    for k in 0..inner {
                        let dst = (o * count + j) * inner + k;
                        if i < 0 || i >= dim as i64 {
                            set(
                                &mut y,
                                dst,
                                Val {
                                    v: f64::NAN,
                                    e: 0.0,
                                },
                            );
                        } else {
                            set(&mut y, dst, get(data, (o * dim + i as usize) * inner + k));
                        }
                    }
                }
            }
        }
        Op::Reduce {
            f,
            outer,
            n: len,
            inner,
        } => {
            let x = inputs[0];
            for o in 0..*outer {
                for i in 0..*inner {
                    let at = |k: usize| (o * len + k) * inner + i;
                    let v = match f {
                        Reduce::Sum | Reduce::Mean => {
                            let mut acc = Acc::new();
                            for k in 0..*len {
                                acc.add_carrying(x.val[at(k)], 1.0, x.err[at(k)]);
                            }
                            if *f == Reduce::Sum {
                                Val {
                                    v: acc.sum,
                                    e: acc.bound() + acc.sum.abs(),
                                }
                            } else {
                                let m = acc.sum / *len as f64;
                                Val {
                                    v: m,
                                    e: acc.bound() / *len as f64 + 2.0 * m.abs(),
                                }
                            }
                        }
                        Reduce::Max | Reduce::Min => {
                            let mut best = Val {
                                v: if *f == Reduce::Max {
                                    f64::NEG_INFINITY
                                } else {
                                    f64::INFINITY
                                },
                                e: 0.0,
                            };
                            for k in 0..*len {
                                let c = get(x, at(k));
                                let better = if *f == Reduce::Max {
                                    c.v > best.v
                                } else {
                                    c.v < best.v
                                };
                                if better || c.v.is_nan() {
                                    best.v = c.v;
                                }
                                best.e = best.e.max(c.e);
                            }
                            best
                        }
                    };
                    set(&mut y, o * inner + i, v.integer(integer));
                }
            }
        }
        Op::Softmax {
            log,
            outer,
            n: len,
            inner,
        } => {
            let x = inputs[0];
            // Move the axis last: [outer * inner, n] rows.
            let rows = outer * inner;
            let mut t = RefTensor::zeros(&[1, 1, rows, *len]);
            for o in 0..*outer {
                for i in 0..*inner {
                    for k in 0..*len {
                        let (src, dst) = ((o * len + k) * inner + i, (o * inner + i) * len + k);
                        t.val[dst] = x.val[src];
                        t.err[dst] = x.err[src];
                    }
                }
            }
            let s = if *log {
                log_softmax(&t)
            } else {
                softmax_rows(&t)
            };
            for o in 0..*outer {
                for i in 0..*inner {
                    for k in 0..*len {
                        let (dst, src) = ((o * len + k) * inner + i, (o * inner + i) * len + k);
                        y.val[dst] = s.val[src];
                        y.err[dst] = s.err[src];
                    }
                }
            }
        }
        Op::LayerNorm { rows, n: len, eps } => {
            let x = with_shape(inputs[0], &[*rows, *len]);
            let r = cpu::layernorm::layernorm(&x, &f32s(inputs[1]), &f32s(inputs[2]), *eps);
            return with_shape(&r, shape);
        }
        Op::Conv { conv, .. } => {
            let x = as_4d(inputs[0]);
            let bias = inputs.get(2).map(|b| f32s(b));
            let out = nchw_out(shape);
            let r = cpu::conv2d::conv2d(conv, &x, &f32s(inputs[1]), bias.as_deref(), out);
            return with_shape(&r, shape);
        }
        Op::ConvTranspose { ct, .. } => {
            let x = as_4d(inputs[0]);
            let bias = inputs.get(2).map(|b| f32s(b));
            let out = nchw_out(shape);
            let r = cpu::conv_transpose2d::conv_transpose2d(
                ct,
                &x,
                &f32s(inputs[1]),
                bias.as_deref(),
                out,
            );
            return with_shape(&r, shape);
        }
        Op::Pool { pool, .. } => {
            let x = as_4d(inputs[0]);
            let out = nchw_out(shape);
            return with_shape(&cpu::pool2d::pool2d(pool, &x, out), shape);
        }
        Op::BatchNorm(bn) => return cpu::batchnorm::batchnorm(bn, inputs[0]),
        Op::Matmul {
            shape: s,
            alpha,
            relu,
        } => {
            let (mm, av, bv, cv) = matmul_views(s, *alpha, *relu, inputs.len() > 2);
            let bias = inputs.get(2).map(|b| f32s(b));
            cpu::matmul::matmul_into(
                &mm,
                (inputs[0], av),
                (inputs[1], bv),
                bias.as_deref(),
                (&mut y, cv),
            );
        }
        Op::Attention {
            batch,
            queries,
            keys,
            head_dim,
            path,
        } => {
            // One head per problem: [batch, T, d] is [B, T, H*d] with H = 1.
            let d = *head_dim;
            let q = with_shape(inputs[0], &[*batch, *queries, d]);
            let k = with_shape(inputs[1], &[*batch, *keys, d]);
            let v = with_shape(inputs[2], &[*batch, *keys, d]);
            let masks = cpu::attention::Masks {
                causal: false,
                keys: None,
            };
            let order = path.order();
            return with_shape(&cpu::attention::sdpa(&q, &k, &v, 1, &masks, order), shape);
        }
    }
    y
}

/// An output shape [N, C, L] or [N, C, H, W] as [N, C, H, W].
pub(crate) fn nchw_out(shape: &[usize]) -> [usize; 4] {
    let h = if shape.len() == 4 { shape[2] } else { 1 };
    [shape[0], shape[1], h, shape[shape.len() - 1]]
}

/// A [N, C, L] tensor seen as [N, C, 1, L].
fn as_4d(t: &RefTensor) -> RefTensor {
    if t.shape.len() == 3 {
        with_shape(t, &[t.shape[0], t.shape[1], 1, t.shape[2]])
    } else {
        t.clone()
    }
}

/// The crate's matrix-product parameters and views for a resolved MatMul.
pub fn matmul_views(
    s: &super::op::MatmulShape,
    alpha: f32,
    relu: bool,
    bias: bool,
) -> (Matmul, View, View, View) {
    let mm = Matmul {
        m: s.m,
        n: s.n,
        k: s.k,
        batches: s.batches,
        trans_a: s.trans_a,
        trans_b: s.trans_b,
        bias,
        act: if relu {
            Activation::Relu
        } else {
            Activation::None
        },
        alpha,
    };
    let av = View {
        ld: if s.trans_a { s.m } else { s.k },
        outer: s.a_batch[0],
        inner: s.a_batch[1],
    };
    let bv = View {
        ld: if s.trans_b { s.k } else { s.n },
        outer: s.b_batch[0],
        inner: s.b_batch[1],
    };
    let cv = View {
        ld: s.n,
        outer: s.batches[1] * s.m * s.n,
        inner: s.m * s.n,
    };
    (mm, av, bv, cv)
}

/// Softmax over the last axis of [1, 1, rows, n]: `cpu::softmax`, which
/// takes -inf logits as exact zeros, except that a row of nothing but -inf
/// (or with +inf) is NaN, as the kernel and PyTorch give.
fn softmax_rows(x: &RefTensor) -> RefTensor {
    let n = *x.shape.last().unwrap_or(&1);
    let mut y = cpu::softmax::softmax(x, false, None);
    for (row, xs) in x.val.chunks(n.max(1)).enumerate() {
        let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m.is_infinite() {
            y.val[row * n..(row + 1) * n].fill(f64::NAN);
        }
    }
    y
}

/// log-softmax over the last axis of [1, 1, rows, n]: (x - max) - ln(sum
/// exp(x - max)), as shaders/reduce.wgsl computes it.
fn log_softmax(x: &RefTensor) -> RefTensor {
    let s = *x.shape.last().unwrap_or(&1);
    let mut y = RefTensor::zeros(&x.shape);
    for row in 0..x.val.len() / s.max(1) {
        let (xs, es) = (
            &x.val[row * s..(row + 1) * s],
            &x.err[row * s..(row + 1) * s],
        );
        let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let m_err = es.iter().copied().fold(0.0, f64::max);
        let mut sum = Acc::new();
        for &v in xs {
            sum.add((v - m).exp());
        }
        let ln = sum.sum.ln();
        // exp's error on each term, relative; the sum's walk; log's own.
        let exp_rel: f64 = xs
            .iter()
            .zip(es)
            .map(|(&v, &e)| ((v - m).exp() / sum.sum) * (e + m_err + 3.0 + 2.0 * (v - m).abs()))
            .sum();
        let ln_err = exp_rel + sum.rounding() / sum.sum + 3.0 * ln.abs() + 4.0;
        for j in 0..s {
            let v = (xs[j] - m) - ln;
            y.val[row * s + j] = v;
            y.err[row * s + j] = es[j] + m_err + (xs[j] - m).abs() + ln_err + v.abs();
        }
    }
    y
}

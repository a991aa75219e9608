//! One node onto the GPU in float32 (`lower` drives the whole program):
//! conv, transposed conv, pooling, matmul through the crate's layer ops
//! and their rungs; glue through the strided, gather and reduce kernels;
//! views share their input's buffer.

use super::op::{contiguous, Binary, Op, Strides, Unary};
use super::program::Program;
use super::DType;
use crate::dtype::DType as Storage;
use crate::error::Result;
use crate::gpu::{Gpu, Plan};
use crate::ops::reduce::{rows_forward, RowOp};
use crate::ops::strided::{gather_forward, strided_forward, StridedIn};
use crate::ops::{batchnorm, conv2d, conv_transpose2d, matmul, pool2d};
use crate::rung::AttentionPath;
use crate::tensor::Tensor;

/// The shader's code for a unary function.
pub fn unary_code(f: Unary) -> (u32, [f32; 2]) {
    match f {
        Unary::Copy => (0, [0.0; 2]),
        Unary::Relu => (1, [0.0; 2]),
        Unary::Sigmoid => (2, [0.0; 2]),
        Unary::Tanh => (3, [0.0; 2]),
        Unary::Erf => (4, [0.0; 2]),
        Unary::Sqrt => (5, [0.0; 2]),
        Unary::Exp => (6, [0.0; 2]),
        Unary::Log => (7, [0.0; 2]),
        Unary::Neg => (8, [0.0; 2]),
        Unary::Abs => (9, [0.0; 2]),
        Unary::Reciprocal => (10, [0.0; 2]),
        Unary::Clip(lo, hi) => (11, [lo, hi]),
        Unary::HardSigmoid(a, b) => (12, [a, b]),
        Unary::HardSwish => (13, [0.0; 2]),
        Unary::LeakyRelu(a) => (14, [a, 0.0]),
        Unary::Floor => (15, [0.0; 2]),
        Unary::Ceil => (16, [0.0; 2]),
        Unary::Not => (17, [0.0; 2]),
        Unary::Trunc => (18, [0.0; 2]),
        Unary::NonZero => (19, [0.0; 2]),
        Unary::Gelu => (20, [0.0; 2]),
        Unary::Softplus => (21, [0.0; 2]),
    }
}

/// The shader's code for a binary function, and its flags.
pub fn binary_code(f: Binary, integer: bool) -> (u32, u32) {
    let code = match f {
        Binary::Add => 40,
        Binary::Sub => 41,
        Binary::Mul => 42,
        Binary::Div => 43,
        Binary::Pow => 44,
        Binary::Max => 45,
        Binary::Min => 46,
        Binary::Equal => 47,
        Binary::Less => 48,
        Binary::Greater => 49,
        Binary::Mod { .. } => 50,
        Binary::And => 51,
        Binary::Or => 52,
    };
    let fmod = matches!(f, Binary::Mod { fmod: true });
    (code, u32::from(integer) | (u32::from(fmod) << 1))
}

fn istrides(shape: &[usize]) -> Vec<i64> {
    contiguous(shape).into_iter().map(|v| v as i64).collect()
}

pub(crate) fn reshaped(t: &Tensor, shape: &[usize]) -> Tensor {
    Tensor {
        buffer: t.buffer.clone(),
        shape: shape.to_vec(),
        dtype: t.dtype,
    }
}

pub(crate) fn nchw(t: &Tensor, one_d: bool) -> Tensor {
    if one_d {
        reshaped(t, &[t.shape[0], t.shape[1], 1, t.shape[2]])
    } else {
        t.clone()
    }
}

/// From this many FLOPs a conv on a CPU adapter takes the texture rung
/// (and, in a float16 run, runs it widened: `half::native`).
pub const CPU_WIDE_CONV_FLOPS: u64 = 16_000_000;

/// On CPU adapters the ops' size rules were tuned for the exercise's
/// first run (tiny layers, where compiling a faster rung costs more than
/// it saves). A model runs many such layers, repeatedly: from 1 MFLOP its
/// products take the register-blocked rung (ViT-style 130x128x384 Linear:
/// 25 against 55 ms naive on lavapipe) and from 16 MFLOP its convs the
/// texture rung (resnet18's stride-2 3x3: 60-80 against 640-780 ms for
/// row4). A rung the user forced (`--kernel`) wins over these. A float16
/// run follows the same rules: its products of 1 to 256 MFLOP keep the
/// float16 buffer rungs, `rb4` there meaning float16's vec4 rung where it
/// can run (the TransformerEncoder in float16, batch 2: 16.1 against 24.0
/// ms on GL, ~17 against 20.8 on lavapipe, for the word rung; on
/// lavapipe 35 ms with its products on the float16 texture rung).
pub(crate) fn graph_rungs(gpu: &Gpu, op: &Op, out: &[usize]) -> crate::rung::Kernels {
    use crate::rung::{ConvRung, MatmulRung};
    let mut k = gpu.kernels();
    if gpu.info.device_type != wgpu::DeviceType::Cpu {
        return k;
    }
    match op {
        Op::Matmul { shape, .. } if k.matmul.is_none() => {
            let flops =
                2 * (shape.m * shape.n * shape.k * shape.batches[0] * shape.batches[1]) as u64;
            if (1_000_000..crate::ops::CPU_TEX_MIN_FLOPS).contains(&flops) {
                k.matmul = Some(MatmulRung::Rb4);
            }
        }
        // The composed path's two products follow the same rule.
        Op::Attention {
            batch,
            queries,
            keys,
            head_dim,
            path: AttentionPath::Composed,
        } if k.matmul.is_none() => {
            let flops = 2 * (batch * queries * keys * head_dim) as u64;
            if (1_000_000..crate::ops::CPU_TEX_MIN_FLOPS).contains(&flops) {
                k.matmul = Some(MatmulRung::Rb4);
            }
        }
        Op::Conv { conv, one_d: false } if k.conv2d.is_none() && out.len() == 4 => {
            let o = [out[0], out[1], out[2], out[3]];
            let flops = conv.flops(&o);
            if flops >= CPU_WIDE_CONV_FLOPS && conv2d::tex::unsupported(gpu, conv, &o).is_none() {
                k.conv2d = Some(ConvRung::Tex);
            } else if conv2d::is_one_by_one(conv)
                && flops >= 1_000_000
                && k.matmul.is_none()
                && matmul::tex::unsupported(gpu, &conv2d::pointwise_product(conv, &o)).is_none()
            {
                // Smaller 1x1 convs' products on the texture rung too: the
                // naive rung ran mobilenet_v2's 10-15 MFLOP ones at ~18 ms
                // each and the whole model at 408 against 156-172 ms on
                // lavapipe (batch 1); rb4 had been slower still (1570 ms).
                k.matmul = Some(MatmulRung::Tex);
            }
        }
        _ => {}
    }
    k
}

fn alloc(gpu: &Gpu, layer: &str, shape: &[usize], storage: Storage) -> Result<Tensor> {
    let name = format!("{layer} output");
    let dims = if shape.is_empty() { &[1][..] } else { shape };
    let t = Tensor::poisoned_as(gpu, &name, dims, storage)?;
    Ok(reshaped(&t, shape))
}

fn dims_of(shape: &[usize]) -> Vec<usize> {
    if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    }
}

fn strides_of(s: &Strides, rank: usize) -> Vec<i64> {
    if rank == 0 {
        vec![0]
    } else {
        s.strides.clone()
    }
}

/// Node `name`'s steps; the strided ops (element-wise, where, concat, pad)
/// write `storage` (float16 in a float16 run; their kernel takes float16
/// operands too), every other op float32.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lower_node(
    gpu: &Gpu,
    plan: &mut Plan,
    name: &str,
    op: &Op,
    dtype: DType,
    ins: &[Tensor],
    shape: &[usize],
    storage: Storage,
) -> Result<Tensor> {
    let dims = dims_of(shape);
    let ys = istrides(&dims);
    let integer = dtype != DType::F32;
    Ok(match op {
        Op::View => reshaped(&ins[0], shape),
        Op::Unary(f, s) => {
            let y = alloc(gpu, name, shape, storage)?;
            let (code, sc) = unary_code(*f);
            let st = strides_of(s, shape.len());
            strided_forward(
                gpu,
                plan,
                name,
                code,
                0,
                sc,
                &dims,
                &[StridedIn {
                    tensor: &ins[0],
                    offset: s.offset,
                    strides: &st,
                }],
                &y,
                0,
                &ys,
            )?;
            y
        }
        Op::Binary(f, sa, sb) => {
            let y = alloc(gpu, name, shape, storage)?;
            let (code, flags) = binary_code(*f, integer);
            let (a, b) = (strides_of(sa, shape.len()), strides_of(sb, shape.len()));
            let operands = [
                StridedIn {
                    tensor: &ins[0],
                    offset: sa.offset,
                    strides: &a,
                },
                StridedIn {
                    tensor: &ins[1],
                    offset: sb.offset,
                    strides: &b,
                },
            ];
            strided_forward(
                gpu, plan, name, code, flags, [0.0; 2], &dims, &operands, &y, 0, &ys,
            )?;
            y
        }
        Op::Where(sc, sa, sb) => {
            let y = alloc(gpu, name, shape, storage)?;
            let (c, a, b) = (
                strides_of(sc, shape.len()),
                strides_of(sa, shape.len()),
                strides_of(sb, shape.len()),
            );
            let operands = [
                StridedIn {
                    tensor: &ins[0],
                    offset: sc.offset,
                    strides: &c,
                },
                StridedIn {
                    tensor: &ins[1],
                    offset: sa.offset,
                    strides: &a,
                },
                StridedIn {
                    tensor: &ins[2],
                    offset: sb.offset,
                    strides: &b,
                },
            ];
            strided_forward(
                gpu, plan, name, 80, 0, [0.0; 2], &dims, &operands, &y, 0, &ys,
            )?;
            y
        }
        Op::Concat { axis } => {
            let y = alloc(gpu, name, shape, storage)?;
            let inner: usize = shape[axis + 1..].iter().product();
            let mut at = 0;
            for (k, t) in ins.iter().enumerate() {
                let st = istrides(&t.shape);
                let label = format!("{name} [input {}]", k + 1);
                strided_forward(
                    gpu,
                    plan,
                    &label,
                    0,
                    0,
                    [0.0; 2],
                    &t.shape,
                    &[StridedIn {
                        tensor: t,
                        offset: 0,
                        strides: &st,
                    }],
                    &y,
                    at * inner,
                    &ys,
                )?;
                at += t.shape[*axis];
            }
            y
        }
        Op::Pad { begin, value, .. } => {
            let y = alloc(gpu, name, shape, storage)?;
            strided_forward(
                gpu,
                plan,
                &format!("{name} [fill]"),
                90,
                0,
                [*value, 0.0],
                &dims,
                &[],
                &y,
                0,
                &ys,
            )?;
            let x = &ins[0];
            let st = istrides(&x.shape);
            let offset: usize = begin
                .iter()
                .zip(contiguous(shape))
                .map(|(b, s)| b * s)
                .sum();
            strided_forward(
                gpu,
                plan,
                name,
                0,
                0,
                [0.0; 2],
                &x.shape,
                &[StridedIn {
                    tensor: x,
                    offset: 0,
                    strides: &st,
                }],
                &y,
                offset,
                &ys,
            )?;
            y
        }
        Op::Gather { axis } => {
            gather_forward(gpu, plan, name, &ins[0], &ins[1], *axis, shape, None)
                .map(|y| reshaped(&y, shape))?
        }
        Op::Reduce { f, outer, n, inner } => {
            let y = rows_forward(
                gpu,
                plan,
                name,
                RowOp::Reduce(f.mode()),
                &ins[0],
                [*outer, *n, *inner],
                None,
                None,
                &dims,
                None,
            )?;
            reshaped(&y, shape)
        }
        Op::Softmax {
            log,
            outer,
            n,
            inner,
        } => rows_forward(
            gpu,
            plan,
            name,
            RowOp::Softmax(*log),
            &ins[0],
            [*outer, *n, *inner],
            None,
            None,
            shape,
            None,
        )?,
        Op::LayerNorm { rows, n, eps } => rows_forward(
            gpu,
            plan,
            name,
            RowOp::LayerNorm(*eps),
            &ins[0],
            [*rows, *n, 1],
            Some(&ins[1]),
            Some(&ins[2]),
            shape,
            None,
        )?,
        Op::Conv { conv, one_d } => {
            let x = nchw(&ins[0], *one_d);
            let w = reshaped(&ins[1], &conv.weight_shape());
            let y = conv2d::conv2d_forward(gpu, plan, name, conv, &x, &w, ins.get(2))?;
            reshaped(&y, shape)
        }
        Op::ConvTranspose { ct, out_hw, one_d } => {
            let x = nchw(&ins[0], *one_d);
            let w = reshaped(&ins[1], &ct.weight_shape());
            let out = [x.shape[0], ct.out_channels, out_hw[0], out_hw[1]];
            let y = conv_transpose2d::forward_to(gpu, plan, name, ct, &x, &w, ins.get(2), out)?;
            reshaped(&y, shape)
        }
        Op::Pool { pool, one_d } => {
            let y = pool2d::pool2d_forward(gpu, plan, name, pool, &nchw(&ins[0], *one_d))?;
            reshaped(&y, shape)
        }
        Op::BatchNorm(bn) => {
            let folded = Tensor::upload(
                gpu,
                &format!("{name} scale/shift"),
                &[2 * bn.channels()],
                &bn.folded_f32(),
            )?;
            batchnorm::batchnorm_forward(gpu, plan, name, &ins[0], &folded)?
        }
        Op::Matmul {
            shape: s,
            alpha,
            relu,
        } => {
            let (mm, av, bv, cv) = super::reference::matmul_views(s, *alpha, *relu, ins.len() > 2);
            let y = alloc(gpu, name, shape, Storage::F32)?;
            matmul::matmul_into(
                gpu,
                plan,
                name,
                &mm,
                (&ins[0], av),
                (&ins[1], bv),
                ins.get(2),
                (&y, cv),
            )?;
            y
        }
        Op::Attention {
            batch,
            queries,
            keys,
            head_dim,
            path,
        } => {
            let d = *head_dim;
            let q = reshaped(&ins[0], &[*batch, *queries, d]);
            let k = reshaped(&ins[1], &[*batch, *keys, d]);
            let v = reshaped(&ins[2], &[*batch, *keys, d]);
            let mask = crate::ops::softmax::Mask {
                causal: false,
                keys: None,
            };
            let y =
                crate::ops::attention::sdpa_forward(gpu, plan, name, *path, 1, &q, &k, &v, &mask)?;
            reshaped(&y, shape)
        }
    })
}

/// `p` with each attention op's path chosen for this adapter: on CPU
/// adapters the composed path (two products and a softmax, which the
/// register-blocked products run faster there than the online softmax:
/// 2 x 9.2 against 2 x ~5 ms per layer on the transformer encoder at
/// batch 8, lavapipe), elsewhere the fused one; a forced attention rung
/// (`--kernel attention=...`) decides instead. The f64 reference then
/// follows the chosen path's order.
pub fn for_adapter<'a>(p: &'a Program, gpu: &Gpu) -> std::borrow::Cow<'a, Program> {
    let path = match gpu.kernels().attention {
        Some(rung) => rung.path(),
        None if gpu.info.device_type == wgpu::DeviceType::Cpu => AttentionPath::Composed,
        None => AttentionPath::Fused,
    };
    // Programs carry their weights: copy one only when there is a choice.
    if !p.nodes.iter().any(|n| matches!(n.op, Op::Attention { .. })) {
        return std::borrow::Cow::Borrowed(p);
    }
    let mut p = p.clone();
    for n in &mut p.nodes {
        if let Op::Attention {
            path: chosen,
            batch,
            queries,
            keys,
            ..
        } = &mut n.op
        {
            // The composed path stores the scores: only where they fit.
            let scores = 4 * (*batch as u64) * (*queries as u64) * (*keys as u64);
            *chosen = if path == AttentionPath::Composed
                && scores > gpu.limits.max_storage_buffer_binding_size
            {
                AttentionPath::Fused
            } else {
                path
            };
        }
    }
    std::borrow::Cow::Owned(p)
}

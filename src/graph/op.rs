//! The resolved ops a [`super::Program`] runs: ONNX nodes with their
//! attributes read, defaults applied and shapes made concrete, so the GPU
//! lowering and the f64 reference read the same plain values.

use crate::ops::batchnorm::BatchNorm;
use crate::ops::conv2d::Conv2d;
use crate::ops::conv_transpose2d::ConvTranspose2d;
use crate::ops::pool2d::Pool2d;

/// An element-wise function of one value (shaders/strided.wgsl's codes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// y = x (a copy: transpose, slice, expand, concat pieces).
    Copy,
    /// max(x, 0), NaN kept.
    Relu,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// tanh(x).
    Tanh,
    /// erf(x).
    Erf,
    /// sqrt(x).
    Sqrt,
    /// e^x.
    Exp,
    /// ln x.
    Log,
    /// -x.
    Neg,
    /// |x|.
    Abs,
    /// 1 / x.
    Reciprocal,
    /// min(max(x, lo), hi).
    Clip(f32, f32),
    /// max(0, min(1, alpha x + beta)).
    HardSigmoid(f32, f32),
    /// x * HardSigmoid(x; 1/6, 1/2).
    HardSwish,
    /// x for x >= 0, alpha x below.
    LeakyRelu(f32),
    /// floor(x).
    Floor,
    /// ceil(x).
    Ceil,
    /// 1 where x == 0, else 0 (Not).
    Not,
    /// trunc(x): a float cast to an integer type.
    Trunc,
    /// 1 where x != 0 (a cast to bool).
    NonZero,
    /// x * sigmoid(x) would be SiLU; ONNX exports it unfused. Here: the
    /// exact GELU (opset 20's Gelu).
    Gelu,
    /// ln(1 + e^x).
    Softplus,
}

/// An element-wise function of two broadcast values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b (integer division truncates for integer tensors).
    Div,
    /// a^b.
    Pow,
    /// max(a, b).
    Max,
    /// min(a, b).
    Min,
    /// 1 where a == b.
    Equal,
    /// 1 where a < b.
    Less,
    /// 1 where a > b.
    Greater,
    /// a mod b with the divisor's sign (Mod with fmod = 0) or C's fmod.
    Mod {
        /// ONNX's `fmod` attribute: the dividend's sign instead.
        fmod: bool,
    },
    /// logical and.
    And,
    /// logical or.
    Or,
}

/// What a reduction computes over its axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
}

impl Reduce {
    /// The `mode` shaders/reduce.wgsl takes.
    pub fn mode(self) -> u32 {
        match self {
            Reduce::Sum => 0,
            Reduce::Mean => 1,
            Reduce::Max => 2,
            Reduce::Min => 3,
        }
    }
}

/// A strided read of one input: element `idx` of the output reads
/// `offset + sum_d idx[d] * strides[d]` of the (contiguous) input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strides {
    /// Element offset of the output's first element in the input.
    pub offset: usize,
    /// Per output dimension (0 where the input is broadcast; negative for
    /// a Slice with a negative step).
    pub strides: Vec<i64>,
}

/// How a matrix product's operands are laid out and broadcast: the
/// batch dims of the output, folded into at most two levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatmulShape {
    /// Rows of the output.
    pub m: usize,
    /// Columns of the output.
    pub n: usize,
    /// The summed length.
    pub k: usize,
    /// Output batches (outer, inner).
    pub batches: [usize; 2],
    /// Element strides of A's batches (0: broadcast).
    pub a_batch: [usize; 2],
    /// Element strides of B's batches.
    pub b_batch: [usize; 2],
    /// A is stored [K, M] (Gemm's transA).
    pub trans_a: bool,
    /// B is stored [N, K] (Gemm's transB).
    pub trans_b: bool,
}

/// One resolved op. Inputs are the program node's `inputs`, in the order
/// each variant names.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The input's data under another shape (Reshape, Flatten, Squeeze,
    /// Unsqueeze, Identity, Dropout, a float-to-float Cast): no work.
    View,
    /// An element-wise function of (x) read through `read`.
    Unary(Unary, Strides),
    /// An element-wise function of (a, b), each read through its strides.
    Binary(Binary, Strides, Strides),
    /// (cond, x, y) -> cond ? x : y, each read through its strides.
    Where(Strides, Strides, Strides),
    /// Inputs (several) copied side by side along `axis` (Concat).
    Concat {
        /// The axis they are joined along.
        axis: usize,
    },
    /// (x) padded with a constant (Pad, mode constant): `begin` and `end`
    /// per axis.
    Pad {
        /// Elements added before each axis.
        begin: Vec<usize>,
        /// Elements added after each axis.
        end: Vec<usize>,
        /// The fill value.
        value: f32,
    },
    /// (data, indices) -> data taken along `axis` at the indices.
    Gather {
        /// The axis indexed.
        axis: usize,
    },
    /// (x) reduced over the contiguous axes `[outer, n, inner]` view.
    Reduce {
        /// What it computes.
        f: Reduce,
        /// Product of the dims before the reduced ones.
        outer: usize,
        /// Product of the reduced dims.
        n: usize,
        /// Product of the dims after them.
        inner: usize,
    },
    /// (x) softmax (or log-softmax) over the middle of `[outer, n, inner]`.
    Softmax {
        /// log-softmax.
        log: bool,
        /// Product of the dims before the axis.
        outer: usize,
        /// The axis' size.
        n: usize,
        /// Product of the dims after it.
        inner: usize,
    },
    /// (x, gamma, beta?) normalised over the trailing `n` elements of
    /// each of `rows` rows.
    LayerNorm {
        /// Rows normalised separately.
        rows: usize,
        /// Elements per row.
        n: usize,
        /// Added to the variance.
        eps: f32,
    },
    /// (x [N, C, H, W] or [N, C, L], weight, bias?) a convolution, with
    /// any folded batch norm already in the weights and a fused ReLU in
    /// `conv.relu`.
    Conv {
        /// Its parameters (2-D; a 1-D conv has kernel [1, k]).
        conv: Conv2d,
        /// Input and output are [N, C, L]: seen as [N, C, 1, L].
        one_d: bool,
    },
    /// (x, weight, bias?) a transposed convolution.
    ConvTranspose {
        /// Its parameters (2-D).
        ct: ConvTranspose2d,
        /// Output size (ONNX may give output_shape or asymmetric pads).
        out_hw: [usize; 2],
        /// Input and output are [N, C, L].
        one_d: bool,
    },
    /// (x) max or average pooling.
    Pool {
        /// Its parameters (2-D).
        pool: Pool2d,
        /// Input and output are [N, C, L].
        one_d: bool,
    },
    /// (x) a batch norm left standalone (no conv to fold it into).
    BatchNorm(BatchNorm),
    /// (q, k, v) scaled dot-product attention, softmax(q k^T / sqrt(d)) v,
    /// over `batch` independent problems (batch x heads, flattened): q
    /// [batch, queries, d], k and v [batch, keys, d], all contiguous. What
    /// MatMul + Softmax + MatMul (with the scale as Mul nodes) becomes
    /// where the pattern matches, so the fused attention kernels run it
    /// and the scores are never stored.
    Attention {
        /// Independent problems (batch x heads).
        batch: usize,
        /// Query rows per problem.
        queries: usize,
        /// Key (and value) rows per problem.
        keys: usize,
        /// Features per head, d.
        head_dim: usize,
        /// Fused (online softmax, scores never stored) or composed (the
        /// three steps): fused where built, then chosen per adapter
        /// (`gpu::for_adapter`), and the reference follows its order.
        path: crate::rung::AttentionPath,
    },
    /// (a, b, bias?) alpha * op(A) op(B) + bias, ReLU when `relu`: MatMul
    /// and Gemm.
    Matmul {
        /// Sizes, batches, transposes.
        shape: MatmulShape,
        /// The scale of the product.
        alpha: f32,
        /// Apply ReLU (a fused Relu node).
        relu: bool,
    },
}

impl Op {
    /// A short name for reports ("Conv", "MatMul", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::View => "view",
            Op::Unary(Unary::Copy, _) => "copy",
            Op::Unary(..) => "unary",
            Op::Binary(..) => "binary",
            Op::Where(..) => "where",
            Op::Concat { .. } => "concat",
            Op::Pad { .. } => "pad",
            Op::Gather { .. } => "gather",
            Op::Reduce { .. } => "reduce",
            Op::Softmax { .. } => "softmax",
            Op::LayerNorm { .. } => "layernorm",
            Op::Conv { .. } => "conv",
            Op::ConvTranspose { .. } => "conv_transpose",
            Op::Pool { .. } => "pool",
            Op::BatchNorm(_) => "batchnorm",
            Op::Matmul { .. } => "matmul",
            Op::Attention { .. } => "attention",
        }
    }
}

/// Row-major strides of `shape`.
///
/// ```
/// assert_eq!(wgsl_nn::graph::op::contiguous(&[2, 3, 4]), [12, 4, 1]);
/// ```
pub fn contiguous(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// ONNX (numpy) broadcasting of two shapes, or None when they clash.
///
/// ```
/// use wgsl_nn::graph::op::broadcast;
/// assert_eq!(broadcast(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
/// assert_eq!(broadcast(&[2], &[3]), None);
/// ```
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank {
                a[i + a.len() - rank]
            } else {
                1
            };
            let db = if i + b.len() >= rank {
                b[i + b.len() - rank]
            } else {
                1
            };
            match (da, db) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// The strides that read a contiguous tensor of `shape` broadcast to
/// `out` (0 along broadcast and missing leading axes).
///
/// ```
/// use wgsl_nn::graph::op::broadcast_strides;
/// assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]).strides, [0, 1, 0]);
/// ```
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Strides {
    let own = contiguous(shape);
    let lead = out.len() - shape.len();
    Strides {
        offset: 0,
        strides: (0..out.len())
            .map(|d| {
                if d < lead || shape[d - lead] == 1 {
                    0
                } else {
                    own[d - lead] as i64
                }
            })
            .collect(),
    }
}

/// The input element that output element `flat` of `out` reads through
/// `s`.
pub fn strided_index(flat: usize, out: &[usize], s: &Strides) -> usize {
    let (mut rem, mut at) = (flat, s.offset as i64);
    for d in (0..out.len()).rev() {
        let i = rem % out[d].max(1);
        rem /= out[d].max(1);
        at += i as i64 * s.strides[d];
    }
    at.max(0) as usize
}

impl Strides {
    /// Reads a contiguous tensor of `shape` element by element.
    pub fn identity(shape: &[usize]) -> Strides {
        Strides {
            offset: 0,
            strides: contiguous(shape).into_iter().map(|v| v as i64).collect(),
        }
    }

    /// Whether this read is the plain contiguous one for `shape`.
    pub fn is_identity(&self, shape: &[usize]) -> bool {
        self.offset == 0
            && shape
                .iter()
                .zip(&self.strides)
                .zip(contiguous(shape))
                .all(|((&d, &s), c)| d == 1 || s == c as i64)
    }
}

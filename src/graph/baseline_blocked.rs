//! Which of the CPU baseline's values live in the channel-blocked layout
//! (`cpu::baseline::blocked`), and the convs that read and write them.
//!
//! A chain of convs and max pools (MobileNet's and ResNet's blocks, with
//! their residual Adds, ReLUs and Clips fused) passes its values
//! blocked, as onnxruntime's NCHWc does: a value is stored so where the
//! node that makes it can write it blocked and every node that reads it
//! takes it blocked (a conv's or pool's input, or a fused residual).
//! Everything else, graph outputs included, stays NCHW, so no other op
//! sees the layout.

use super::op::Op;
use super::program::{Program, ProgramNode, Source};
use super::reference::nchw_out;
use crate::cpu::baseline::blocked::{self, BlockedEpilogue, BlockedWeights};
use crate::cpu::baseline::packed::PackedWeights;
use crate::cpu::baseline::{self as base};
use crate::cpu::baseline::{blocked_direct, blocked_pool};

/// How a conv node runs blocked.
pub(super) enum Blocked {
    /// A 1x1, stride-1, unpadded conv with its weights packed so.
    Pointwise(BlockedWeights),
    /// A depthwise conv.
    Depthwise,
    /// Any other conv of one group with constant weights, as a
    /// [Cout, Cin * kh * kw] matrix (`blocked::conv_weights`).
    Direct(BlockedWeights),
    /// Max pooling.
    MaxPool,
}

/// Per node, its blocked kernel (None: the NCHW path); per value, whether
/// it is stored blocked.
pub(super) struct Layouts {
    pub node: Vec<Option<Blocked>>,
    pub value: Vec<bool>,
}

impl Layouts {
    /// `absorbed[i]`, `residual[i]`: the nodes conv i does the work of
    /// and the residual it adds (its fusion); `packed[i]`: its NCHW
    /// packed weights, where the packed AVX-512 path runs it.
    pub fn plan(
        p: &Program,
        absorbed: &[usize],
        residual: &[Option<usize>],
        packed: &[Option<PackedWeights>],
    ) -> Self {
        let nodes = p.nodes.len();
        let mut kind: Vec<Option<Blocked>> =
            (0..nodes).map(|i| capable(p, i, &packed[i])).collect();
        // The conv whose store does node k's work, where one does.
        let mut absorbed_by = vec![None; nodes];
        for (i, &a) in absorbed.iter().enumerate() {
            for slot in absorbed_by.iter_mut().skip(i + 1).take(a) {
                *slot = Some(i);
            }
        }
        let mut value = vec![false; p.values.len()];
        for i in 0..nodes {
            if kind[i].is_none() {
                continue;
            }
            let v = p.nodes[i + absorbed[i]].output;
            let reads_blocked = |k: usize, pos: usize| {
                let as_input = kind[k].is_some() && pos == 0;
                let as_residual =
                    absorbed_by[k].is_some_and(|c| kind[c].is_some() && residual[c] == Some(v));
                as_input || as_residual
            };
            let readers_ok = p.nodes.iter().enumerate().all(|(k, n)| {
                n.inputs
                    .iter()
                    .enumerate()
                    .all(|(pos, &u)| u != v || reads_blocked(k, pos))
            });
            value[v] = readers_ok && !p.outputs.contains(&v) && p.consumers(v) > 0;
        }
        // A conv with no operand blocked keeps its NCHW path (one whose
        // residual is blocked must stay: that value was laid out for it).
        for (i, k) in kind.iter_mut().enumerate() {
            let n = &p.nodes[i];
            let out = p.nodes[i + absorbed[i]].output;
            let res = residual[i].is_some_and(|r| value[r]);
            if !value[n.inputs[0]] && !value[out] && !res {
                *k = None;
            }
        }
        Self { node: kind, value }
    }

    /// Floats of value `v`'s buffer.
    pub fn len(&self, p: &Program, v: usize) -> usize {
        let shape = &p.values[v].shape;
        if self.value[v] {
            blocked::blocked_len(nchw_out(shape))
        } else {
            shape.iter().product()
        }
    }
}

/// The blocked kernel node i can run, if any: convs of one group where
/// the packed path runs them (AVX-512, constant weights; 1x1 ones by
/// their own tiles), depthwise ones and max pooling where the CPU has
/// AVX-512.
fn capable(p: &Program, i: usize, packed: &Option<PackedWeights>) -> Option<Blocked> {
    let n = &p.nodes[i];
    let conv = match &n.op {
        Op::Conv { conv, .. } => conv,
        Op::Pool { pool, .. } => {
            let max = pool.kind == crate::ops::pool2d::PoolKind::Max;
            return (max && base::packed::available()).then_some(Blocked::MaxPool);
        }
        _ => return None,
    };
    if conv.groups == 1 && packed.is_some() {
        let Source::Const(t) = &p.values[n.inputs[1]].source else {
            return None;
        };
        let (w, win) = (t.to_f32(), &conv.window);
        let (cout, cin) = (conv.out_channels, conv.in_channels);
        // A 1x1, stride-1, unpadded conv needs no padded copy: its pixels
        // are the 1x1 tiles' columns as they lie.
        let pointwise = win.kernel == [1, 1]
            && win.stride == [1, 1]
            && win.pad_begin == [0, 0]
            && win.pad_end == [0, 0];
        return Some(if pointwise {
            Blocked::Pointwise(BlockedWeights::new(&w, cout, cin))
        } else {
            Blocked::Direct(blocked_direct::conv_weights(&w, cout, cin, win.kernel))
        });
    }
    (base::depthwise_applies(conv) && base::packed::available()).then_some(Blocked::Depthwise)
}

/// Fewest rows a product takes the blocked tiles with: two 4-row tiles
/// keep the FMA units busy; a ViT's one-row head (a dot product per
/// output) stays with the baseline's GEMV, which ran it 1.6x faster.
const LINEAR_MIN_ROWS: usize = 8;

/// The weights of a matrix product the 1x1 conv's tiles run row by row
/// (`blocked::linear_into`): B a constant shared by every batch, A's rows
/// stacked densely over the batches (at least `LINEAR_MIN_ROWS`), no
/// transposed A, no scale.
pub(super) fn linear_weights(p: &Program, n: &ProgramNode) -> Option<BlockedWeights> {
    let Op::Matmul {
        shape: s, alpha, ..
    } = &n.op
    else {
        return None;
    };
    let Source::Const(t) = &p.values[*n.inputs.get(1)?].source else {
        return None;
    };
    let [b0, b1] = s.batches;
    let dense_a =
        (b1 <= 1 || s.a_batch[1] == s.m * s.k) && (b0 <= 1 || s.a_batch[0] == b1 * s.m * s.k);
    let usable = base::packed::available()
        && *alpha == 1.0
        && !s.trans_a
        && s.b_batch == [0, 0]
        && dense_a
        && b0 * b1 * s.m >= LINEAR_MIN_ROWS
        && s.n * s.k > 0;
    if !usable {
        return None;
    }
    let b = t.to_f32();
    // W [N, K]: B itself where it is stored transposed, else B^T.
    let w: Vec<f32> = if s.trans_b {
        b
    } else {
        (0..s.n * s.k)
            .map(|at| b[(at % s.k) * s.n + at / s.k])
            .collect()
    };
    Some(BlockedWeights::new(&w, s.n, s.k))
}

/// A matrix product whose weights `linear_weights` packed, into `y`,
/// `finish` (a fused activation) applied to each task's rows.
pub(super) fn run_linear(
    op: &Op,
    lw: &BlockedWeights,
    ins: &[&[f32]],
    finish: Option<&blocked::RowsFn>,
    y: &mut [f32],
) {
    let Op::Matmul { relu, .. } = op else {
        unreachable!("only matrix products are packed as linear layers")
    };
    let epi = BlockedEpilogue {
        bias: ins.get(2).copied(),
        residual: None,
        clamp: relu.then_some((0.0, f32::INFINITY)),
    };
    blocked::linear_into(lw, ins[0], y.len() / lw.rows(), epi, finish, y);
}

/// Scratch for layout changes at a chain's ends.
#[derive(Default)]
pub(super) struct Scratch {
    x: Vec<f32>,
    r: Vec<f32>,
    y: Vec<f32>,
}

/// A conv node's operands as the blocked kernels take them.
pub(super) struct ConvArgs<'a> {
    pub x: &'a [f32],
    pub x_shape: &'a [usize],
    pub w: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub out_shape: &'a [usize],
    pub clamp: Option<(f32, f32)>,
    /// The residual and whether it is stored blocked.
    pub residual: Option<(&'a [f32], bool)>,
    /// Whether x and y are stored blocked.
    pub blocked: [bool; 2],
}

/// Runs conv or pool `op` by its blocked kernel `how` into `y`.
pub(super) fn run(op: &Op, how: &Blocked, a: ConvArgs<'_>, y: &mut [f32], s: &mut Scratch) {
    let (xs, os) = (nchw_out(a.x_shape), nchw_out(a.out_shape));
    let conv = match op {
        Op::Conv { conv, .. } => conv,
        Op::Pool { pool, .. } => {
            let x = into_blocked(a.x, a.blocked[0], xs, &mut s.x);
            let pool_into = |y: &mut [f32]| {
                blocked_pool::maxpool_blocked_into(&pool.window, x, xs, [os[2], os[3]], y)
            };
            return to_layout(pool_into, a.blocked[1], os, y, &mut s.y);
        }
        _ => unreachable!("only conv and pool nodes are planned blocked"),
    };
    let clamp = a.clamp.or(conv.clamp());
    match how {
        Blocked::Depthwise => {
            base::depthwise_layout_into(conv, a.x, xs, a.w, a.bias, os, clamp, y, a.blocked)
        }
        Blocked::Pointwise(bw) => {
            let x = into_blocked(a.x, a.blocked[0], xs, &mut s.x);
            let residual = a.residual.map(|(r, b)| into_blocked(r, b, os, &mut s.r));
            let epi = BlockedEpilogue {
                bias: a.bias,
                residual,
                clamp,
            };
            let px = os[2] * os[3];
            let conv_into =
                |y: &mut [f32]| blocked::pointwise_blocked_into(bw, x, os[0], px, epi, y);
            to_layout(conv_into, a.blocked[1], os, y, &mut s.y);
        }
        Blocked::Direct(bw) => {
            let residual = a.residual.map(|(r, b)| into_blocked(r, b, os, &mut s.r));
            let epi = BlockedEpilogue {
                bias: a.bias,
                residual,
                clamp,
            };
            let conv_into = |y: &mut [f32]| {
                blocked_direct::conv_blocked_into(conv, bw, a.x, xs, a.blocked[0], os, epi, y)
            };
            to_layout(conv_into, a.blocked[1], os, y, &mut s.y);
        }
        Blocked::MaxPool => unreachable!("a pool node is run above"),
    }
}

/// Runs `f`, which writes a blocked value of `shape`, into `y`: in place
/// where y is stored blocked, else through `buf` and back to NCHW.
fn to_layout(
    f: impl FnOnce(&mut [f32]),
    blocked: bool,
    shape: [usize; 4],
    y: &mut [f32],
    buf: &mut Vec<f32>,
) {
    if blocked {
        return f(y);
    }
    grow(buf, blocked::blocked_len(shape));
    f(buf);
    blocked::from_blocked(buf, shape, y);
}

/// `v` blocked: itself where it is stored so, else a copy in `buf`.
fn into_blocked<'a>(v: &'a [f32], is: bool, shape: [usize; 4], buf: &'a mut Vec<f32>) -> &'a [f32] {
    if is {
        return v;
    }
    grow(buf, blocked::blocked_len(shape));
    blocked::to_blocked(v, shape, buf);
    buf
}

/// Grows `buf` to at least `len` floats (never shrinks: kept between runs).
fn grow(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

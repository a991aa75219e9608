//! The CPU side of `wgsl-nn run`: the same program in float32 on every
//! core, so a user's own model shows GPU against CPU. Convolutions (the
//! packed AVX-512 GEMM, or im2col + the gemm crate; depthwise ones
//! sixteen channels to a vector) and matrix products go through the
//! crate's optimised baseline (`cpu::baseline`), the other ops through
//! `baseline_ops`' float32 kernels; what none of them covers (integer
//! division on int64 tensors) runs the reference's loops (f64 values
//! rounded back to f32), which the report counts. Node outputs share a
//! pool of buffers by lifetime, kept between runs as a CPU library's
//! arena keeps them, and the outputs of the first run (into NaN-filled
//! buffers) are judged against the reference.

use super::baseline_blocked::{
    linear_weights, run_linear, ConvArgs, Layouts, Scratch as BlockedScratch,
};
use super::op::{Binary, Op, Unary};
use super::program::{Program, Source};
use super::{reference, HostTensor};
use crate::check::{compare, Check};
use crate::cpu::baseline::packed::PackedWeights;
use crate::cpu::{baseline, RefTensor};
use std::time::Instant;

/// What the CPU baseline measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaselineReport {
    /// Median whole-model time over the runs, ms.
    pub median_ms: f64,
    /// Per program node: median ms.
    pub node_ms: Vec<f64>,
    /// rayon's threads.
    pub threads: usize,
    /// Nodes run by float32 CPU code (gemm for convs and products,
    /// `baseline_ops` for the rest); the others run the reference's loops.
    pub optimised_nodes: usize,
    /// Conv and max pool nodes run in the channel-blocked layout (chains
    /// of them, `cpu::baseline::blocked`).
    pub blocked_nodes: usize,
    /// Matrix products with constant weights run by the blocked 1x1
    /// conv's tiles, row by row (`blocked::linear_into`).
    pub linear_nodes: usize,
    /// The outputs, for comparison with the GPU's.
    #[serde(skip)]
    pub outputs: Vec<Vec<f32>>,
    /// Each output against the f64 reference by the crate's verdict, as
    /// the GPU's are (empty until [`BaselineReport::check`] ran).
    pub checks: Vec<Option<Check>>,
}

impl BaselineReport {
    /// Judges the baseline's outputs against the reference's propagated
    /// values (`RunReport::output_refs`); None where there is none.
    pub fn check(&mut self, refs: &[Option<RefTensor>]) {
        self.checks = self
            .outputs
            .iter()
            .zip(refs)
            .map(|(y, r)| r.as_ref().map(|r| compare(y, r)))
            .collect();
    }

    /// Whether every output checked passed (None: none was checked).
    pub fn passed(&self) -> Option<bool> {
        let checked: Vec<&Check> = self.checks.iter().flatten().collect();
        (!checked.is_empty()).then(|| checked.iter().all(|c| c.passed))
    }
}

/// One node in f32 into `y` (the output's size, from the last round when
/// there was one); true when float32 CPU code ran it.
fn node(
    op: &Op,
    dtype: super::DType,
    ins: &[&[f32]],
    shapes: &[&[usize]],
    out: &[usize],
    clamp: Option<(f32, f32)>,
    residual: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
    packed: Option<&PackedWeights>,
) -> bool {
    match op {
        Op::Conv { conv, .. } if conv.groups == 1 => {
            let (xs, os) = (reference::nchw_out(shapes[0]), reference::nchw_out(out));
            let clamp = clamp.or(conv.clamp());
            if let Some(pw) = packed {
                baseline::conv2d_packed_into(
                    conv,
                    pw,
                    ins[0],
                    xs,
                    ins.get(2).copied(),
                    os,
                    clamp,
                    residual,
                    y,
                );
                return true;
            }
            baseline::conv2d_into(
                conv,
                ins[0],
                xs,
                ins[1],
                ins.get(2).copied(),
                os,
                clamp,
                y,
                scratch,
            );
            true
        }
        Op::Conv { conv, .. } if baseline::depthwise_applies(conv) => {
            // A residual is only fused where the packed path runs the conv.
            debug_assert!(residual.is_none(), "a residual fused into a depthwise conv");
            let (xs, os) = (reference::nchw_out(shapes[0]), reference::nchw_out(out));
            baseline::depthwise_into(conv, ins[0], xs, ins[1], ins.get(2).copied(), os, clamp, y);
            true
        }
        Op::Matmul { shape, alpha, relu } => {
            let (mm, av, bv, cv) = reference::matmul_views(shape, *alpha, *relu, ins.len() > 2);
            baseline::matmul(&mm, ins[0], av, ins[1], bv, ins.get(2).copied(), y, cv);
            true
        }
        Op::View => {
            y.copy_from_slice(ins[0]);
            true
        }
        &Op::Attention {
            batch,
            queries,
            keys,
            head_dim,
            ..
        } => {
            let shape = crate::ops::attention::AttentionShape {
                batch,
                queries,
                keys,
                heads: 1,
                head_dim,
            };
            y.copy_from_slice(&baseline::attention(
                ins[0], ins[1], ins[2], shape, false, None,
            ));
            true
        }
        _ => {
            if super::baseline_ops::eval_into(op, dtype, ins, shapes, out, y) {
                if let Some((lo, hi)) = clamp {
                    super::baseline_ops::clamp_in_place(y, lo, hi);
                }
                return true;
            }
            let args: Vec<RefTensor> = ins
                .iter()
                .zip(shapes)
                .map(|(d, s)| RefTensor::from_f32(s, d))
                .collect();
            let refs: Vec<&RefTensor> = args.iter().collect();
            y.copy_from_slice(&reference::eval(op, dtype, &refs, out).to_f32());
            false
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `p` on the CPU `repeats` times (after two untimed runs: the checked
/// one and one that lets the buffer pool settle).
///
/// The rounds run on one of rayon's own threads, so each node's parallel
/// work is shared with the other workers by work stealing; from outside
/// the pool every node would hand its work over and sleep until it is
/// done, a wake-up per node that on a VM costs more than a small node.
pub fn run_baseline(p: &Program, inputs: &[HostTensor], repeats: usize) -> BaselineReport {
    rayon::scope(|_| run_rounds(p, inputs, repeats))
}

fn run_rounds(p: &Program, inputs: &[HostTensor], repeats: usize) -> BaselineReport {
    let mut totals = vec![];
    let mut per_node: Vec<Vec<f64>> = vec![vec![]; p.nodes.len()];
    let mut outputs = vec![];
    let mut optimised = 0;
    // Node outputs take their buffers from a pool (the latest freed that
    // fits, likely still in cache; `BufferPool::take`) and give them back
    // after their last reader, as onnxruntime's arena does. One buffer per
    // value left every output cold (mobilenet_v2's 4.8 MB expansion conv
    // ran 2.6x slower in the model than alone). The untimed rounds
    // allocate the pool, so timed rounds touch no fresh pages.
    let mut pool = BufferPool::default();
    let free_after = last_reads(p);
    let mut scratch = vec![];
    // Constant conv weights are packed once, as a CPU library packs them
    // when it loads the model (untimed, like that).
    let mut packed: Vec<Option<PackedWeights>> =
        p.nodes.iter().map(|n| pack_weights(p, n)).collect();
    // Matrix products with constant weights: packed once, run by the
    // 1x1 conv's tiles, a GELU right after them fused into their tasks.
    let linears: Vec<Option<_>> = p.nodes.iter().map(|n| linear_weights(p, n)).collect();
    // A residual Add and a ReLU or Clip right after a conv run in the
    // conv's own store (as onnxruntime fuses them); their nodes then only
    // hand the buffer on, and their time is part of the conv's.
    let fusions: Vec<Fusion> = (0..p.nodes.len())
        .map(|i| fusion(p, i, packed[i].is_some(), linears[i].is_some()))
        .collect();
    // Chains of convs and max pools pass their values channel-blocked.
    let absorbed: Vec<usize> = fusions.iter().map(|f| f.absorbed).collect();
    let residuals: Vec<Option<usize>> = fusions.iter().map(|f| f.residual).collect();
    let layouts = Layouts::plan(p, &absorbed, &residuals, &packed);
    // A conv that runs blocked keeps its weights packed that way alone.
    for (slot, how) in packed.iter_mut().zip(&layouts.node) {
        if how.is_some() {
            *slot = None;
        }
    }
    let mut blocked_scratch = BlockedScratch::default();
    // Nodes that only hand a buffer on: those a conv absorbed, and views
    // whose input nothing else reads (a copy would cost what a reshape
    // never should). `from` is the value each takes; `owner`, the value
    // whose slot keeps the buffer between rounds.
    let mut from: Vec<Option<usize>> = vec![None; p.nodes.len()];
    for (i, f) in fusions.iter().enumerate() {
        for (k, f) in from.iter_mut().enumerate().skip(i + 1).take(f.absorbed) {
            *f = Some(p.nodes[k - 1].output);
        }
    }
    for (i, n) in p.nodes.iter().enumerate() {
        let v = n.inputs.first().copied();
        if let (Op::View, Some(v)) = (&n.op, v) {
            let made = matches!(p.values[v].source, Source::Node(_));
            if made && p.consumers(v) == 1 && from[i].is_none() {
                from[i] = Some(v);
            }
        }
    }
    // Inputs and constants in float32 once: converting them every round
    // wrote megabytes of fresh copies (mobilenet_v2's 14 MB of weights)
    // just before the timed run, leaving its activations out of cache.
    let fixed: Vec<Option<Vec<f32>>> = p
        .values
        .iter()
        .map(|v| match &v.source {
            Source::Input(i) => inputs.get(*i).map(|t| t.to_f32()),
            Source::Const(t) => Some(t.to_f32()),
            _ => None,
        })
        .collect();
    // Round 0 is checked (its outputs NaN-poisoned first), round 1 lets
    // the pool settle (it starts full, so a buffer may go to a different
    // value than in round 0, and a value left without one allocates);
    // the rest are timed.
    const UNTIMED: usize = 2;
    for round in 0..repeats.max(1) + UNTIMED {
        let timed = round >= UNTIMED;
        let mut vals: Vec<Option<Vec<f32>>> = vec![None; p.values.len()];
        let start = Instant::now();
        optimised = 0;
        for (ni, n) in p.nodes.iter().enumerate() {
            let t = Instant::now();
            if let Some(v) = from[ni] {
                vals[n.output] = vals[v].take();
                for &v in &free_after[ni] {
                    if let Some(b) = vals[v].take() {
                        pool.give(b);
                    }
                }
                optimised += 1;
                if timed {
                    per_node[ni].push(t.elapsed().as_secs_f64() * 1e3);
                }
                continue;
            }
            let out = &p.values[n.output];
            // The buffer's layout is that of the value it ends as (after
            // the nodes this one's store does the work of).
            let fin = p.nodes[ni + fusions[ni].absorbed].output;
            // NaN in the checked round: an element no kernel writes fails
            // the check (made on this first round's outputs).
            let mut y = pool.take(layouts.len(p, fin), round == 0);
            let ins: Vec<&[f32]> = n
                .inputs
                .iter()
                .map(|&v| vals[v].as_deref().or(fixed[v].as_deref()).unwrap_or(&[]))
                .collect();
            let shapes: Vec<&[usize]> = n
                .inputs
                .iter()
                .map(|&v| p.values[v].shape.as_slice())
                .collect();
            let residual = fusions[ni]
                .residual
                .map(|v| vals[v].as_deref().or(fixed[v].as_deref()).unwrap_or(&[]));
            let fast = if let Some(how) = &layouts.node[ni] {
                let args = ConvArgs {
                    x: ins[0],
                    x_shape: shapes[0],
                    w: ins.get(1).copied().unwrap_or(&[]),
                    bias: ins.get(2).copied(),
                    out_shape: &out.shape,
                    clamp: fusions[ni].clamp,
                    residual: residual.zip(fusions[ni].residual.map(|r| layouts.value[r])),
                    blocked: [layouts.value[n.inputs[0]], layouts.value[fin]],
                };
                super::baseline_blocked::run(&n.op, how, args, &mut y, &mut blocked_scratch);
                true
            } else if let Some(lw) = &linears[ni] {
                let gelu: &crate::cpu::baseline::blocked::RowsFn =
                    &super::baseline_ops::gelu_in_place;
                run_linear(&n.op, lw, &ins, fusions[ni].gelu.then_some(gelu), &mut y);
                true
            } else {
                node(
                    &n.op,
                    out.dtype,
                    &ins,
                    &shapes,
                    &out.shape,
                    fusions[ni].clamp,
                    residual,
                    &mut y,
                    &mut scratch,
                    packed[ni].as_ref(),
                )
            };
            optimised += usize::from(fast);
            vals[n.output] = Some(y);
            for &v in &free_after[ni] {
                if let Some(b) = vals[v].take() {
                    pool.give(b);
                }
            }
            if timed {
                per_node[ni].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        if timed {
            totals.push(start.elapsed().as_secs_f64() * 1e3);
        }
        if round == 0 {
            outputs = p
                .outputs
                .iter()
                .map(|&v| vals[v].clone().or(fixed[v].clone()).unwrap_or_default())
                .collect();
        }
        for n in &p.nodes {
            if let Some(v) = vals[n.output].take() {
                pool.give(v);
            }
        }
    }
    BaselineReport {
        median_ms: median(totals),
        node_ms: per_node.into_iter().map(median).collect(),
        threads: rayon::current_num_threads(),
        optimised_nodes: optimised,
        blocked_nodes: layouts.node.iter().flatten().count(),
        linear_nodes: linears.iter().flatten().count(),
        outputs,
        checks: vec![],
    }
}

/// The packed weights of a conv node (groups = 1) whose weights are a
/// constant, where the CPU runs the packed kernels.
fn pack_weights(p: &Program, n: &super::program::ProgramNode) -> Option<PackedWeights> {
    let Op::Conv { conv, .. } = &n.op else {
        return None;
    };
    let w = &p.values[*n.inputs.get(1)?];
    let (Source::Const(t), 1) = (&w.source, conv.groups) else {
        return None;
    };
    let [cout, cin, kh, kw] = conv.weight_shape();
    // The wide tile where its input is read in place (stride 1, so the
    // padded copy's rows are the pixels) and its 32 rows are all output
    // channels; a lone tap (1x1) reads whole planes, packed better. Its
    // K is one block, so a weight panel of 32 rows by K stays in L2 for
    // the tiles that pass: at K = 4608 (resnet18's layer4, 590 KB a
    // panel) the 8 x 32 tile's 1024-row blocks ran 1.2-1.5x faster.
    let k = cin * kh * kw;
    let wide = conv.window.stride == [1, 1]
        && kh * kw > 1
        && cout.is_multiple_of(32)
        && k <= crate::cpu::baseline::packed::WIDE_MAX_K;
    if wide {
        PackedWeights::new_wide(&t.to_f32(), cout, k)
    } else {
        PackedWeights::new(&t.to_f32(), cout, k)
    }
}

/// What a conv node does of the nodes right after it.
#[derive(Clone, Copy, Default)]
struct Fusion {
    /// A ReLU or Clip, applied in the conv's store.
    clamp: Option<(f32, f32)>,
    /// The other branch of a residual Add, added before the clamp.
    residual: Option<usize>,
    /// The nodes after it whose work it does (0 to 2).
    absorbed: usize,
    /// An exact GELU after a linear layer, applied by its tasks.
    gelu: bool,
}

/// For conv node `i` (one without a ReLU of its own): an Add of its
/// output and another value of the same shape, both read densely (where
/// the packed path runs it, which takes the residual), then a ReLU or Clip
/// over the result, each fused when it is the only reader of what it
/// reads.
fn fusion(p: &Program, i: usize, packed: bool, linear: bool) -> Fusion {
    let mut f = Fusion::default();
    let n = &p.nodes[i];
    if linear {
        // A linear layer's exact GELU (a ViT's MLP), its only reader.
        let shape = &p.values[n.output].shape;
        if let Some(next) = p.nodes.get(i + 1) {
            let gelu = matches!(&next.op, Op::Unary(Unary::Gelu, s) if s.is_identity(shape));
            if gelu && p.consumers(n.output) == 1 && next.inputs == [n.output] {
                f.gelu = true;
                f.absorbed = 1;
            }
        }
        return f;
    }
    let Op::Conv { conv, .. } = &n.op else {
        return f;
    };
    if conv.relu || conv.relu6 {
        return f;
    }
    let shape = &p.values[n.output].shape;
    let mut at = n.output;
    let sole = |v: usize, next: &super::program::ProgramNode| {
        p.consumers(v) == 1 && next.inputs.contains(&v) && p.values[next.output].shape == *shape
    };
    if let Some(next) = p.nodes.get(i + 1).filter(|_| packed) {
        if let Op::Binary(Binary::Add, sa, sb) = &next.op {
            let other = next.inputs.iter().copied().find(|&v| v != at);
            let dense = sa.is_identity(shape) && sb.is_identity(shape);
            if let (Some(other), true, true) = (other, dense, sole(at, next)) {
                if p.values[other].shape == *shape && next.inputs.len() == 2 {
                    f.residual = Some(other);
                    f.absorbed = 1;
                    at = next.output;
                }
            }
        }
    }
    if let Some(next) = p.nodes.get(i + 1 + f.absorbed) {
        let clamp = match &next.op {
            Op::Unary(Unary::Relu, s) if s.is_identity(shape) => Some((0.0, f32::INFINITY)),
            Op::Unary(Unary::Clip(lo, hi), s) if s.is_identity(shape) => Some((*lo, *hi)),
            _ => None,
        };
        if let (Some(c), true) = (clamp, sole(at, next)) {
            f.clamp = Some(c);
            f.absorbed += 1;
        }
    }
    f
}

/// For each node, the node outputs it is the last to read (graph outputs
/// never: they are read after the round).
fn last_reads(p: &Program) -> Vec<Vec<usize>> {
    let mut last: Vec<Option<usize>> = vec![None; p.values.len()];
    for (i, n) in p.nodes.iter().enumerate() {
        for &v in &n.inputs {
            last[v] = Some(i);
        }
    }
    let mut free = vec![vec![]; p.nodes.len()];
    for (v, at) in last.into_iter().enumerate() {
        let made = matches!(p.values[v].source, Source::Node(_));
        if let (Some(i), true, false) = (at, made, p.outputs.contains(&v)) {
            free[i].push(v);
        }
    }
    free
}

/// Free float buffers, most recently freed last. Every buffer's whole
/// capacity was written when it was made, so handing one out at any
/// length up to its capacity writes nothing (a timed round pays no fill).
#[derive(Default)]
struct BufferPool {
    free: Vec<Vec<f32>>,
}

impl BufferPool {
    /// A buffer of `len` elements: the latest freed that holds them and
    /// is at most four times their size (likely still in cache), else the
    /// smallest that holds them, else a new one. Its contents are
    /// whatever it held, or all NaN where `poison`.
    fn take(&mut self, len: usize, poison: bool) -> Vec<f32> {
        let fits = |b: &Vec<f32>| b.capacity() >= len;
        let hot = self
            .free
            .iter()
            .rposition(|b| fits(b) && b.capacity() <= len.saturating_mul(4));
        let best = hot.or_else(|| {
            self.free
                .iter()
                .enumerate()
                .filter(|(_, b)| fits(b))
                .min_by_key(|&(i, b)| (b.capacity(), std::cmp::Reverse(i)))
                .map(|(i, _)| i)
        });
        let Some(i) = best else {
            let mut y = Vec::with_capacity(len);
            y.resize(y.capacity(), f32::NAN);
            y.truncate(len);
            return y;
        };
        let mut y = self.free.remove(i);
        debug_assert!(len <= y.capacity());
        // SAFETY: len is within the capacity, all of which was initialised
        // when the buffer was made (above); f32 has no invalid values.
        unsafe { y.set_len(len) };
        if poison {
            y.fill(f32::NAN);
        }
        y
    }

    /// Takes back a buffer that `take` handed out.
    fn give(&mut self, b: Vec<f32>) {
        self.free.push(b);
    }
}

//! The CPU side of `wgsl-nn run`: the same program in float32 on every
//! core, so a user's own model shows GPU against CPU. Convolutions
//! (groups = 1) and matrix products go through the crate's optimised
//! baseline (`cpu::baseline`, im2col + the gemm crate); every other node
//! runs the reference's loops (f64 values rounded back to f32), which
//! the report names.

use super::op::Op;
use super::program::{Program, Source};
use super::{reference, HostTensor};
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
    /// Nodes of the gemm-backed baseline (conv, matmul), the rest run the
    /// reference's loops.
    pub optimised_nodes: usize,
    /// The outputs, for comparison with the GPU's.
    #[serde(skip)]
    pub outputs: Vec<Vec<f32>>,
}

/// One node in f32; true when the optimised baseline ran it.
fn node(
    op: &Op,
    dtype: super::DType,
    ins: &[&[f32]],
    shapes: &[&[usize]],
    out: &[usize],
) -> (Vec<f32>, bool) {
    match op {
        Op::Conv { conv, .. } if conv.groups == 1 => {
            let o = reference::nchw_out(out);
            (
                baseline::conv2d(
                    conv,
                    ins[0],
                    reference::nchw_out(shapes[0]),
                    ins[1],
                    ins.get(2).copied(),
                    o,
                ),
                true,
            )
        }
        Op::Matmul { shape, alpha, relu } => {
            let (mm, av, bv, cv) = reference::matmul_views(shape, *alpha, *relu, ins.len() > 2);
            let mut c = vec![0.0; out.iter().product()];
            baseline::matmul(&mm, ins[0], av, ins[1], bv, ins.get(2).copied(), &mut c, cv);
            (c, true)
        }
        Op::View => (ins[0].to_vec(), false),
        _ => {
            let args: Vec<RefTensor> = ins
                .iter()
                .zip(shapes)
                .map(|(d, s)| RefTensor::from_f32(s, d))
                .collect();
            let refs: Vec<&RefTensor> = args.iter().collect();
            (reference::eval(op, dtype, &refs, out).to_f32(), false)
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `p` on the CPU `repeats` times (after one warm-up run).
pub fn run_baseline(p: &Program, inputs: &[HostTensor], repeats: usize) -> BaselineReport {
    let mut totals = vec![];
    let mut per_node: Vec<Vec<f64>> = vec![vec![]; p.nodes.len()];
    let mut outputs = vec![];
    let mut optimised = 0;
    for round in 0..=repeats.max(1) {
        let mut vals: Vec<Option<Vec<f32>>> = p
            .values
            .iter()
            .map(|v| match &v.source {
                Source::Input(i) => inputs.get(*i).map(|t| t.to_f32()),
                Source::Const(t) => Some(t.to_f32()),
                _ => None,
            })
            .collect();
        let start = Instant::now();
        optimised = 0;
        for (ni, n) in p.nodes.iter().enumerate() {
            let t = Instant::now();
            let ins: Vec<&[f32]> = n
                .inputs
                .iter()
                .map(|&v| vals[v].as_deref().unwrap_or(&[]))
                .collect();
            let shapes: Vec<&[usize]> = n
                .inputs
                .iter()
                .map(|&v| p.values[v].shape.as_slice())
                .collect();
            let out = &p.values[n.output];
            let (y, fast) = node(&n.op, out.dtype, &ins, &shapes, &out.shape);
            optimised += usize::from(fast);
            vals[n.output] = Some(y);
            if round > 0 {
                per_node[ni].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        if round > 0 {
            totals.push(start.elapsed().as_secs_f64() * 1e3);
        }
        outputs = p
            .outputs
            .iter()
            .map(|&v| vals[v].clone().unwrap_or_default())
            .collect();
    }
    BaselineReport {
        median_ms: median(totals),
        node_ms: per_node.into_iter().map(median).collect(),
        threads: rayon::current_num_threads(),
        optimised_nodes: optimised,
        outputs,
    }
}

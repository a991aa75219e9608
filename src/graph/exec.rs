//! Running a program: the GPU plan once (first run, compile included)
//! and checked node by node against the f64 reference over the
//! reference's own propagated values, then timed over repeated runs with
//! a per-node profile.

use super::lower::{lower, Lowered};
use super::program::{Program, Source};
use super::{reference, DType, HostTensor};
use crate::check::{compare, Check};
use crate::cpu::{RefTensor, RefTime};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

/// How much of each node's output the check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// Every element of every node.
    Full,
    /// This many elements per node, drawn with the run's seed (all of a
    /// node with fewer).
    Sample(usize),
    /// No reference, no check.
    Off,
}

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// The check's extent.
    pub check: CheckMode,
    /// Untimed runs before the timed ones.
    pub warmup: usize,
    /// Timed runs (the profile quotes their median).
    pub repeats: usize,
    /// Seed of the sampled check.
    pub seed: u64,
    /// Float tensors' storage: float32, or float16 ([`super::half`]).
    pub dtype: crate::dtype::DType,
    /// How float16 is read (None: the adapter's own,
    /// [`crate::dtype::F16Path::for_features`]); float16 runs only.
    pub f16_path: Option<crate::dtype::F16Path>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: CheckMode::Full,
            warmup: 2,
            repeats: 5,
            seed: 0,
            dtype: crate::dtype::DType::F32,
            f16_path: None,
        }
    }
}

/// One node's line in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeReport {
    /// The ONNX node(s), fused ones joined by " + ".
    pub name: String,
    /// Their operators.
    pub op_types: Vec<String>,
    /// The resolved op's kind ("conv", "matmul", "view", ...).
    pub kind: String,
    /// Output shape.
    pub shape: Vec<usize>,
    /// The WGSL entry points its steps ran (the rungs chosen).
    pub kernels: Vec<String>,
    /// Steps it appended.
    pub steps: usize,
    /// Median GPU time of its steps over the timed runs (None when the
    /// adapter gives no per-step times).
    pub gpu_ms: Option<f64>,
    /// FLOPs of its steps.
    pub flops: u64,
    /// Bytes its steps move (each operand once).
    pub bytes: u64,
    /// The verdict on its output from its own inputs: the f64 reference of
    /// this node run on the very values the GPU read (its inputs as the GPU
    /// computed them), so the bound holds this node's roundings only and
    /// a fault here cannot hide behind upstream error (None for views and
    /// when unchecked).
    pub check: Option<Check>,
    /// Its output against the reference's own propagated values (the whole
    /// model in f64 up to here), with the upstream error bounds carried
    /// through: how far the GPU's model has drifted by this node.
    pub propagated: Option<Check>,
    /// Elements compared (all of them unless the check was sampled).
    pub compared: usize,
}

/// Everything one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// Per node, in program order.
    pub nodes: Vec<NodeReport>,
    /// The graph outputs: name, shape, values.
    #[serde(skip)]
    pub outputs: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// The outputs' checks (the nodes that compute them, again, by name).
    pub output_checks: Vec<(String, Option<Check>)>,
    /// The reference's propagated value of each output (None unchecked),
    /// for judging other implementations (the CPU baseline) by the same
    /// rule.
    #[serde(skip)]
    pub output_refs: Vec<Option<RefTensor>>,
    /// Lowering, first submission (pipeline compilation included) and
    /// read-back of the first run, in ms.
    pub first_run_ms: f64,
    /// Of that, pipeline creation.
    pub compile_ms: f64,
    /// Median whole-model time over the timed runs: GPU timestamps where
    /// the adapter has them, else wall clock.
    pub median_ms: f64,
    /// Median wall clock (submit to done) over the timed runs.
    pub median_wall_ms: f64,
    /// What the median clock is.
    pub clock: String,
    /// What the per-node times are.
    pub profile_clock: String,
    /// The reference's time and threads (None when unchecked).
    pub reference: Option<RefTime>,
    /// Bytes of constants on the GPU.
    pub const_bytes: u64,
    /// Bytes of node outputs on the GPU.
    pub activation_bytes: u64,
    /// The largest activation pair: over the nodes, the largest input that
    /// is not a constant plus the output (the timed plan's target is
    /// `const_bytes` plus twice this).
    pub largest_pair_bytes: u64,
    /// Bytes of every buffer the checked plan binds (each node output its
    /// own, as the check reads them all back).
    pub plan_bytes: u64,
    /// Bytes the timed plan binds, node outputs and kernels' scratch
    /// buffers sharing storage by lifetime (inputs, constants and graph
    /// outputs kept), textures (the texture rungs') included.
    pub lean_plan_bytes: u64,
    /// The timed (buffer-sharing) plan gave the first run's outputs bit
    /// for bit.
    pub lean_outputs_match: bool,
    /// Every check passed (false when any failed; true when none ran).
    pub passed: bool,
    /// The node whose check came nearest its bound (or failed worst).
    pub worst_node: Option<String>,
    /// How the check compared: "full", "sampled N per node", "off".
    pub check_mode: String,
    /// Float tensors' storage: "f32" or "f16".
    pub dtype: String,
    /// How float16 was read (float16 runs only): native or packed.
    pub f16_path: Option<String>,
}

/// Uploads one input: integers as exact floats (refused from 2^24 on),
/// floats as float16 with `half`.
fn upload_input(gpu: &Gpu, name: &str, t: &HostTensor, half: bool) -> Result<Tensor> {
    if t.dtype != DType::F32 {
        if let Some(v) = t.data.iter().find(|v| v.abs() >= 16_777_216.0) {
            return Err(Error::arg("--input", format!("integer input '{name}' holds {v}; integers travel on the GPU as float32 and are exact only below 2^24")));
        }
    }
    let shape = if t.shape.is_empty() {
        vec![1]
    } else {
        t.shape.clone()
    };
    let up = if half && t.dtype == DType::F32 {
        Tensor::upload_f16(gpu, name, &shape, &t.to_f32())?
    } else {
        Tensor::upload(gpu, name, &shape, &t.to_f32())?
    };
    Ok(Tensor {
        buffer: up.buffer,
        shape: t.shape.clone(),
        dtype: up.dtype,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The f64 reference of every value of `p` (None where nothing computes
/// one: fused intermediates).
pub fn reference_values(p: &Program, inputs: &[HostTensor]) -> Vec<Option<RefTensor>> {
    reference_values_as(p, inputs, false)
}

/// Node `node`'s reference on `args`, its float16 store charged with
/// `half` where it makes new values (or copies integers into floats).
fn eval_as(
    p: &Program,
    node: &super::program::ProgramNode,
    args: &[&RefTensor],
    half: bool,
) -> RefTensor {
    let (op, out) = (&node.op, &p.values[node.output]);
    let r = reference::eval(op, out.dtype, args, &out.shape);
    let from_int = node.inputs.iter().any(|&v| p.values[v].dtype != DType::F32);
    if half && out.dtype == DType::F32 && (from_int || super::half::rounds(op)) {
        crate::cpu::half::stored_f16(r)
    } else {
        r
    }
}

/// As [`reference_values`], for a float16 run with `half` (`p` and the
/// inputs rounded by [`super::half`]): each float node's store charged.
pub fn reference_values_as(
    p: &Program,
    inputs: &[HostTensor],
    half: bool,
) -> Vec<Option<RefTensor>> {
    let to_ref = |t: &HostTensor| RefTensor {
        shape: t.shape.clone(),
        val: t.data.clone(),
        err: vec![0.0; t.data.len()],
    };
    let mut vals: Vec<Option<RefTensor>> = p
        .values
        .iter()
        .map(|v| match &v.source {
            Source::Input(i) => inputs.get(*i).map(to_ref),
            Source::Const(t) => Some(to_ref(t)),
            _ => None,
        })
        .collect();
    for node in &p.nodes {
        let args: Vec<&RefTensor> = node
            .inputs
            .iter()
            .filter_map(|&v| vals[v].as_ref())
            .collect();
        vals[node.output] = Some(eval_as(p, node, &args, half));
    }
    vals
}

fn sample(gpu: &[f32], r: &RefTensor, n: usize, seed: u64) -> (Vec<f32>, RefTensor) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let len = r.val.len();
    let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..len)).collect();
    let sub = RefTensor {
        shape: vec![n],
        val: idx.iter().map(|&i| r.val[i]).collect(),
        err: idx.iter().map(|&i| r.err[i]).collect(),
    };
    (
        idx.iter()
            .map(|&i| gpu.get(i).copied().unwrap_or(f32::NAN))
            .collect(),
        sub,
    )
}

/// Runs `p` on `inputs` (one per `p.inputs`): first run, check, timed runs.
///
/// # Errors
///
/// Device, shape and limit errors of the lowering and the runs.
pub fn run(gpu: &Gpu, p: &Program, inputs: &[HostTensor], opts: &RunOptions) -> Result<RunReport> {
    let half = opts.dtype == crate::dtype::DType::F16;
    let path = opts
        .f16_path
        .unwrap_or_else(|| crate::dtype::F16Path::for_features(gpu.device.features()));
    let (rounded, rounded_inputs);
    let (p, inputs) = if half {
        super::half::check_range(p, inputs)?;
        rounded = super::half::rounded(p);
        rounded_inputs = super::half::rounded_inputs(inputs);
        (&rounded, &rounded_inputs[..])
    } else {
        (p, inputs)
    };
    let compare = if half {
        crate::check::compare_f16
    } else {
        compare
    };
    let adapted = super::gpu::for_adapter(p, gpu);
    let p: &Program = &adapted;
    let compile0 = gpu.compile_ms();
    let start = Instant::now();
    let tensors: Vec<Tensor> = p
        .inputs
        .iter()
        .zip(inputs)
        .map(|(&v, t)| upload_input(gpu, &p.values[v].name, t, half))
        .collect::<Result<_>>()?;
    let l: Lowered = lower(gpu, p, &tensors, half.then_some(path))?;
    gpu.run(&l.plan)?;
    let mut downloads: Vec<Option<Vec<f32>>> = vec![None; p.values.len()];
    let want = |v: usize| opts.check != CheckMode::Off || p.outputs.contains(&v);
    for node in &p.nodes {
        if want(node.output) {
            if let Some(t) = &l.tensors[node.output] {
                downloads[node.output] = Some(t.download(gpu)?);
            }
        }
    }
    let first_run_ms = start.elapsed().as_secs_f64() * 1e3;
    let compile_ms = gpu.compile_ms() - compile0;

    let (refs, ref_time) = if opts.check == CheckMode::Off {
        (vec![], None)
    } else {
        let (r, t) = RefTime::of(|| reference_values_as(p, inputs, half));
        (r, Some(t))
    };
    let judge = |g: &[f32], r: &RefTensor, k: u64| -> (Check, usize) {
        match opts.check {
            CheckMode::Sample(n) if n < r.val.len() => {
                let (gs, rs) = sample(g, r, n, opts.seed ^ k);
                (compare(&gs, &rs), n)
            }
            _ => (compare(g, r), r.val.len()),
        }
    };
    let check_of = |v: usize, k: u64| -> Option<(Check, usize)> {
        let (g, r) = (downloads[v].as_ref()?, refs.get(v)?.as_ref()?);
        Some(judge(g, r, k))
    };
    // Each node again, from the inputs the GPU actually read.
    let local_of = |ni: usize| -> Option<(Check, usize)> {
        let node = &p.nodes[ni];
        let g = downloads[node.output].as_ref()?;
        let mut args = vec![];
        for &v in &node.inputs {
            args.push(match (&p.values[v].source, &downloads[v]) {
                (Source::Node(_), Some(d)) => RefTensor::from_f32(&p.values[v].shape, d),
                _ => refs.get(v)?.as_ref()?.clone(),
            });
        }
        let arg_refs: Vec<&RefTensor> = args.iter().collect();
        let r = eval_as(p, node, &arg_refs, half);
        Some(judge(g, &r, ni as u64))
    };
    let local_start = Instant::now();
    let locals: Vec<Option<(Check, usize)>> = if refs.is_empty() {
        vec![None; p.nodes.len()]
    } else {
        use rayon::prelude::*;
        (0..p.nodes.len())
            .into_par_iter()
            .map(|ni| {
                if matches!(p.nodes[ni].op, super::Op::View) {
                    None
                } else {
                    local_of(ni)
                }
            })
            .collect()
    };
    // The reference's time covers both passes: propagated and per node.
    let ref_time = ref_time.map(|t| RefTime {
        ms: t.ms + local_start.elapsed().as_secs_f64() * 1e3,
        ..t
    });

    // The timed runs share buffers between outputs whose lives do not
    // overlap; the graph outputs keep theirs, and must come out the same.
    let keep: Vec<usize> = p
        .outputs
        .iter()
        .filter_map(|&v| {
            l.tensors[v]
                .as_ref()
                .map(|t| Arc::as_ptr(&t.buffer) as usize)
        })
        .collect();
    let candidates: Vec<Arc<wgpu::Buffer>> = p
        .nodes
        .iter()
        .filter_map(|n| l.tensors[n.output].as_ref().map(|t| t.buffer.clone()))
        .filter(|b| !keep.contains(&(Arc::as_ptr(b) as usize)))
        .chain(l.plan.scratch.iter().cloned())
        .collect();
    let lean = super::memory::reuse(gpu, &l.plan, &candidates)?;
    let l = Lowered {
        plan: lean.plan,
        ..l
    };
    let runs = gpu.run_queued(&l.plan, opts.warmup, opts.repeats.max(1))?;
    let mut lean_outputs_match = true;
    for &v in &p.outputs {
        if let (Some(t), Some(first)) = (&l.tensors[v], &downloads[v]) {
            let again = t.download(gpu)?;
            lean_outputs_match &= again
                .iter()
                .zip(first)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
    }
    let steps = l.plan.steps.len();
    let mut per_step: Vec<Vec<f64>> = vec![vec![]; steps];
    let mut have_steps = true;
    for r in &runs {
        match &r.gpu {
            Some(g) if g.steps.len() == steps => g
                .steps
                .iter()
                .enumerate()
                .for_each(|(i, (_, ms))| per_step[i].push(*ms)),
            _ => have_steps = false,
        }
    }
    // Without per-step timestamps, each node's steps run alone, timed by
    // the wall clock (submit to done), so the profile still exists.
    let mut node_ms: Vec<Option<f64>> = vec![None; p.nodes.len()];
    let profile_clock = if have_steps {
        for (s, &ni) in l.step_node.iter().enumerate() {
            *node_ms[ni].get_or_insert(0.0) += median(per_step[s].clone());
        }
        "GPU timestamps per step".to_string()
    } else {
        for (ni, slot) in node_ms.iter_mut().enumerate() {
            let steps: Vec<_> = (0..steps)
                .filter(|&s| l.step_node[s] == ni)
                .map(|s| l.plan.steps[s].clone())
                .collect();
            if steps.is_empty() {
                continue;
            }
            let sub = crate::gpu::Plan {
                steps,
                kernels: l.plan.kernels,
                scratch: vec![],
            };
            let t = gpu.run_queued(&sub, 1, opts.repeats.clamp(1, 3))?;
            *slot = Some(median(t.iter().map(|r| r.wall_ms).collect()));
        }
        "wall clock of each node's steps submitted alone (no usable per-step timestamps here)"
            .to_string()
    };
    let median_ms = median(runs.iter().map(|r| r.best_ms()).collect());
    let median_wall_ms = median(runs.iter().map(|r| r.wall_ms).collect());
    let clock = match runs.first().and_then(|r| r.gpu_note.clone()) {
        None => "GPU timestamps".to_string(),
        Some(note) => note,
    };

    let mut nodes = vec![];
    for (ni, node) in p.nodes.iter().enumerate() {
        let idx: Vec<usize> = (0..steps).filter(|&s| l.step_node[s] == ni).collect();
        let mut kernels: Vec<String> = idx
            .iter()
            .map(|&s| l.plan.steps[s].kernel.entry.to_string())
            .collect();
        kernels.dedup();
        let checked = locals[ni].clone();
        let propagated = if matches!(node.op, super::Op::View) {
            None
        } else {
            check_of(node.output, ni as u64).map(|c| c.0)
        };
        nodes.push(NodeReport {
            name: node.name.clone(),
            op_types: node.op_types.clone(),
            kind: node.op.kind().to_string(),
            shape: p.values[node.output].shape.clone(),
            kernels,
            steps: idx.len(),
            gpu_ms: node_ms[ni],
            flops: idx.iter().map(|&s| l.plan.steps[s].flops).sum(),
            bytes: idx.iter().map(|&s| l.plan.steps[s].bytes_moved).sum(),
            compared: checked.as_ref().map_or(0, |c| c.1),
            check: checked.map(|c| c.0),
            propagated,
        });
    }
    let mut outputs = vec![];
    let mut output_checks = vec![];
    let mut output_refs = vec![];
    for &v in &p.outputs {
        let val = &p.values[v];
        let data = match (&val.source, &downloads[v]) {
            (_, Some(d)) => d.clone(),
            (Source::Const(t), _) => t.to_f32(),
            (Source::Input(i), _) => inputs[*i].to_f32(),
            _ => vec![],
        };
        let c = if matches!(val.source, Source::Node(_)) {
            check_of(v, u64::MAX).map(|c| c.0)
        } else {
            None
        };
        output_checks.push((val.name.clone(), c));
        output_refs.push(refs.get(v).cloned().flatten());
        outputs.push((val.name.clone(), val.shape.clone(), data));
    }
    let checks = nodes
        .iter()
        .flat_map(|n| n.check.iter().chain(&n.propagated).map(move |c| (n, c)));
    let worst = nodes
        .iter()
        .filter_map(|n| n.check.as_ref().map(|c| (n, c)))
        .max_by(|a, b| a.1.worst_ratio.total_cmp(&b.1.worst_ratio))
        .map(|(n, _)| n.name.clone());
    let passed = lean_outputs_match
        && checks.clone().all(|(_, c)| c.passed)
        && output_checks
            .iter()
            .all(|(_, c)| c.as_ref().is_none_or(|c| c.passed));
    Ok(RunReport {
        nodes,
        outputs,
        output_checks,
        output_refs,
        first_run_ms,
        compile_ms,
        median_ms,
        median_wall_ms,
        clock,
        profile_clock,
        reference: ref_time,
        const_bytes: l.const_bytes,
        plan_bytes: lean.bytes_before,
        lean_plan_bytes: lean.bytes_after,
        lean_outputs_match,
        activation_bytes: l.activation_bytes,
        largest_pair_bytes: l.largest_pair_bytes,
        passed,
        worst_node: worst,
        check_mode: match opts.check {
            CheckMode::Full => "full".into(),
            CheckMode::Sample(n) => format!("sampled {n} per node"),
            CheckMode::Off => "off".into(),
        },
        dtype: opts.dtype.name().to_string(),
        f16_path: half.then(|| path.name().to_string()),
    })
}

//! The job behind `wgsl-nn rnn`: a stack of recurrent layers
//! (`rnn_stack`), batch-first, on the GPU in one plan, checked against the
//! f64 reference and timed.

use crate::check::{compare, compare_f16, Check};
use crate::cpu::half::{as_f16, past_f16};
use crate::cpu::{self, RefTensor};
use crate::dtype::{DType, F16Path};
use crate::error::{Error, Result};
use crate::gpu::timer::{time_plan, PlanTiming};
use crate::gpu::{AdapterSummary, Gpu, Plan};
use crate::models::rnn_stack::RnnStack;
use crate::ops::rnn::{rnn_forward_as, RnnKind};
use crate::tensor::Tensor;

/// What `wgsl-nn rnn` runs: a stack of recurrent layers, as PyTorch's
/// `nn.RNN`/`nn.GRU`/`nn.LSTM(batch_first=True, num_layers=...)`, on one
/// batch of sequences.
#[derive(Debug, Clone)]
pub struct RnnJob {
    /// The layers' kind, sizes and weights (loaded or seeded).
    pub stack: RnnStack,
    /// [B, T, I], batch-first.
    pub x: Vec<f32>,
    /// x's shape (B, T, I); I must be the stack's input size.
    pub shape: [usize; 3],
    /// [num_layers, B, H] each, as PyTorch takes them; zeros when None.
    pub h0: Option<Vec<f32>>,
    /// The LSTM's initial cell states, [num_layers, B, H] (LSTM only);
    /// zeros when None.
    pub c0: Option<Vec<f32>>,
    /// Timed repetitions (1 to 10000), after one warm-up run.
    pub reps: usize,
    /// Element type: f32, or f16 (inputs, weights, states, the input
    /// projection and every output stored as float16, rounded to nearest
    /// once at upload; float32 sums and gates).
    pub dtype: DType,
    /// With f16: how the kernels read float16 (None: native where the
    /// adapter has `SHADER_F16`, else packed). Refused with f32.
    pub f16_path: Option<F16Path>,
}

/// Everything `wgsl-nn rnn` prints or writes as JSON about a run.
pub struct RnnReport {
    /// The adapter the job ran on.
    pub adapter: AdapterSummary,
    /// The last layer's output [B, T, H].
    pub output: Vec<f32>,
    /// h_n and (LSTM) c_n, [num_layers, B, H] each.
    pub h_n: Vec<f32>,
    /// The LSTM's final cell states, [num_layers, B, H]; None for Elman
    /// and GRU stacks.
    pub c_n: Option<Vec<f32>>,
    /// The last layer's output against the f64 reference.
    pub check_output: Check,
    /// h_n (and c_n) of every layer against the reference.
    pub check_states: Check,
    /// The whole stack's plan, timed.
    pub timing: PlanTiming,
    /// FLOPs of all layers (see `Rnn::flops`).
    pub flops: u64,
    /// All layers' f64 references together.
    pub reference: cpu::RefTime,
    /// The storage the run used.
    pub dtype: DType,
    /// With f16: the float16 path that ran.
    pub f16_path: Option<F16Path>,
}

impl RnnReport {
    /// Both the output and the final states passed their checks.
    pub fn passed(&self) -> bool {
        self.check_output.passed && self.check_states.passed
    }
}

/// The most step dispatches (layers x time steps) one run may take.
pub const MAX_DISPATCHES: u64 = 1 << 16;

/// Checks shapes before any GPU work.
///
/// # Errors
///
/// `Error::Argument` naming the flag for an empty stack, an input whose
/// length is not B * T * I, an `h0`/`c0` that is not [num_layers, B, H],
/// a `c0` for a stack that is not an LSTM, more than [`MAX_DISPATCHES`]
/// layer-steps, or `reps` outside 1..=10000; `Error::Shape` for an input
/// the first layer refuses or one over 2^28 elements.
pub fn validate(job: &RnnJob) -> Result<()> {
    let s = &job.stack;
    let [b, t, i] = job.shape;
    if s.layers.is_empty() {
        return Err(Error::arg(
            "--num-layers",
            "a stack needs at least one layer",
        ));
    }
    s.layer(0).output_shape(&job.shape, "--input-npy")?;
    if job.x.len() != b * t * i {
        return Err(Error::arg(
            "--input-npy",
            format!("{} values for shape {:?}", job.x.len(), job.shape),
        ));
    }
    let state = [s.layers.len(), b, s.hidden];
    for (name, v) in [("--h0-npy", &job.h0), ("--c0-npy", &job.c0)] {
        if v.as_ref()
            .is_some_and(|v| v.len() != state.iter().product::<usize>())
        {
            return Err(Error::arg(
                name,
                format!("the state must be [num_layers, B, H] = {state:?}"),
            ));
        }
    }
    if job.c0.is_some() && s.kind != RnnKind::Lstm {
        return Err(Error::arg(
            "--c0-npy",
            "only an LSTM has a cell state; drop --c0-npy",
        ));
    }
    // One dispatch per time step and layer, each with its own timestamps:
    // past this the plan alone takes gigabytes and minutes.
    let dispatches = s.layers.len() as u64 * t as u64;
    if dispatches > MAX_DISPATCHES {
        return Err(Error::arg(
            "--steps/--num-layers",
            format!(
                "{} layer(s) x {t} steps is {dispatches} step dispatches; wgsl-nn runs at most {MAX_DISPATCHES}; \
                 use fewer steps or layers (split a long sequence and carry h0/c0 across the parts)",
                s.layers.len()
            ),
        ));
    }
    if job.reps == 0 || job.reps > 10_000 {
        return Err(Error::arg(
            "--reps",
            format!("{} is not between 1 and 10000", job.reps),
        ));
    }
    crate::models::conv_stack::check_size("rnn", "input", &job.shape)?;
    if job.f16_path.is_some() && job.dtype != DType::F16 {
        return Err(Error::arg(
            "--f16-path",
            "a float16 path needs --dtype f16; drop --f16-path or add --dtype f16",
        ));
    }
    if job.dtype == DType::F16 {
        let w = s.layers.iter().flat_map(|w| {
            [
                ("W_ih", &w.w_ih),
                ("W_hh", &w.w_hh),
                ("b_ih", &w.b_ih),
                ("b_hh", &w.b_hh),
            ]
        });
        let given = [
            ("input", Some(&job.x)),
            ("h0", job.h0.as_ref()),
            ("c0", job.c0.as_ref()),
        ];
        let all = given
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v)))
            .chain(w);
        for (name, v) in all {
            if let Some(v) = past_f16(v) {
                return Err(Error::arg(
                    "--dtype f16",
                    format!("{name} holds {v}, past float16's largest value 65504: in float16 it would become infinity; run with --dtype f32, or scale it down"),
                ));
            }
        }
    }
    Ok(())
}

/// Runs the job: validates it, plans every layer (`rnn_forward_states`,
/// each reading the one below) into one plan, computes the f64
/// reference layer by layer, times the plan (`time_plan`, one warm-up,
/// `reps` timed), then downloads the output and the final states and
/// checks both.
///
/// # Errors
///
/// Those of [`validate`] and of the layers' forwards, and device errors
/// (allocation, running, reading back).
pub fn run(gpu: &Gpu, job: &RnnJob) -> Result<RnnReport> {
    validate(job)?;
    let half = (job.dtype == DType::F16).then(|| {
        job.f16_path
            .unwrap_or_else(|| F16Path::for_features(gpu.device.features()))
    });
    // Float16 runs start from the values float16 holds: the GPU, and the
    // reference, read the same rounded numbers.
    let held = |v: &[f32]| {
        if half.is_some() {
            as_f16(v)
        } else {
            v.to_vec()
        }
    };
    let s = &job.stack;
    let [b, t, _] = job.shape;
    let h = s.hidden;
    let n = s.layers.len();
    let slice =
        |v: &Option<Vec<f32>>, l: usize| v.as_ref().map(|v| held(&v[l * b * h..(l + 1) * b * h]));
    let up = |name: &str, shape: &[usize], v: &[f32]| match half {
        None => Tensor::upload(gpu, name, shape, v),
        Some(_) => Tensor::upload_f16(gpu, name, shape, v),
    };
    let mut plan = Plan::new();
    let x0 = held(&job.x);
    let mut x = up("x", &job.shape, &x0)?;
    let mut x_ref = RefTensor::from_f32(&job.shape, &x0);
    let (mut ys, mut cells, mut flops) = (vec![], vec![], 0);
    let mut reference = cpu::RefTime::of(|| ()).1;
    let (mut h_ref, mut c_ref) = (vec![], vec![]);
    for (l, w) in s.layers.iter().enumerate() {
        let r = s.layer(l);
        let label = format!("{:?} layer {l}", s.kind);
        let (h0, c0) = (slice(&job.h0, l), slice(&job.c0, l));
        let h0t = h0.as_deref().map(|v| up("h0", &[b, h], v)).transpose()?;
        let c0t = c0.as_deref().map(|v| up("c0", &[b, h], v)).transpose()?;
        let refw = [held(&w.w_ih), held(&w.w_hh), held(&w.b_ih), held(&w.b_hh)];
        let ws = [
            up("W_ih", &r.w_ih_shape(), &refw[0])?,
            up("W_hh", &r.w_hh_shape(), &refw[1])?,
            up("b_ih", &r.bias_shape(), &refw[2])?,
            up("b_hh", &r.bias_shape(), &refw[3])?,
        ];
        let (h0r, c0r) = (
            h0.map(|v| RefTensor::from_f32(&[b, h], &v)),
            c0.map(|v| RefTensor::from_f32(&[b, h], &v)),
        );
        let states = (h0t.as_ref(), c0t.as_ref());
        let (y, c) = rnn_forward_as(gpu, &mut plan, &label, &r, &x, ws.each_ref(), states, half)?;
        let refw = refw.each_ref().map(|v| &v[..]);
        let ((y_ref, cr), t_ref) = cpu::RefTime::of(|| {
            cpu::rnn::rnn_states_as(
                &r,
                &x_ref,
                refw,
                (h0r.as_ref(), c0r.as_ref()),
                half.is_some(),
            )
        });
        reference.ms += t_ref.ms;
        if let Some(c) = c {
            cells.push(c);
            c_ref.push(cr);
        }
        x = y;
        h_ref.push(last_step(&y_ref, b, t, h));
        ys.push(x.clone());
        flops += r.flops(b, t);
        x_ref = y_ref;
    }
    let timing = time_plan(gpu, &plan, 1, job.reps)?;
    let mut h_n = vec![];
    for y in &ys {
        let y = y.download(gpu)?;
        h_n.extend((0..b).flat_map(|bb| y[((bb * t) + t - 1) * h..(bb * t + t) * h].to_vec()));
    }
    let output = ys[n - 1].download(gpu)?;
    let mut c_n = None;
    if !cells.is_empty() {
        let mut all = vec![];
        for c in &cells {
            all.extend(c.download(gpu)?);
        }
        c_n = Some(all);
    }
    let states_gpu: Vec<f32> = h_n.iter().chain(c_n.iter().flatten()).copied().collect();
    let states_ref = concat(h_ref.iter().chain(c_ref.iter()));
    let check = |g: &[f32], r: &RefTensor| {
        if half.is_some() {
            compare_f16(g, r)
        } else {
            compare(g, r)
        }
    };
    Ok(RnnReport {
        adapter: gpu.summary(),
        check_output: check(&output, &x_ref),
        check_states: check(&states_gpu, &states_ref),
        output,
        h_n,
        c_n,
        timing,
        flops,
        reference,
        dtype: job.dtype,
        f16_path: half,
    })
}

/// y[:, T-1] of a [B, T, H] reference: the layer's final hidden state.
fn last_step(y: &RefTensor, b: usize, t: usize, h: usize) -> RefTensor {
    let rows = (0..b).flat_map(|bb| (bb * t + t - 1) * h..(bb * t + t) * h);
    let (val, err) = rows.map(|i| (y.val[i], y.err[i])).unzip();
    RefTensor {
        shape: vec![b, h],
        val,
        err,
    }
}

fn concat<'a>(parts: impl Iterator<Item = &'a RefTensor>) -> RefTensor {
    let (mut val, mut err) = (vec![], vec![]);
    for p in parts {
        val.extend(&p.val);
        err.extend(&p.err);
    }
    RefTensor {
        shape: vec![val.len()],
        val,
        err,
    }
}

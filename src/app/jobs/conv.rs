//! The conv job behind `wgsl-nn conv` and the default report: build the
//! stack, run it on the GPU in one plan, run the reference, check, time,
//! and measure the receptive field on the GPU.

use crate::app::io::npy;
use crate::check::{compare, Check};
use crate::cpu::{RefTensor, RefTime};
use crate::error::{Error, Result};
use crate::geometry::LayerGeometry;
use crate::gpu::timer::{time_plan, time_plans_beside, PlanTiming};
use crate::gpu::{AdapterSummary, Gpu, Plan};
use crate::models::conv_stack::{random_input, ConvStack};
use crate::receptive::{measure, MeasuredField};
use crate::spec;
use crate::tensor::Tensor;
use std::path::PathBuf;

/// What `wgsl-nn conv` (and the default report) runs: a layer stack on
/// one NCHW input, checked against the f64 reference and timed. The
/// default is the exercise: its four convolutions on a seeded
/// 1x1x128x128 input, 5 repetitions.
#[derive(Debug, Clone)]
pub struct ConvJob {
    /// The stack in the layer-spec language `spec::parse_stack` reads
    /// (`--layers`), e.g. `spec::EXERCISE_STACK`.
    pub layers: String,
    /// NCHW; None means the exercise's 1x1x128x128 (or the --input-npy's).
    pub input_shape: Option<[usize; 4]>,
    /// Seeds the weights (`seed`) and the input (`seed + 1`) that no file
    /// provides.
    pub seed: u64,
    /// An `nn.Sequential` state_dict saved with `np.savez` (`--params`):
    /// keys `0.weight`, `0.bias`, ... as Sequential counts its layers.
    pub params: Option<PathBuf>,
    /// The input tensor, CxHxW or NxCxHxW, from a .npy file
    /// (`--input-npy`).
    pub input_npy: Option<PathBuf>,
    /// Timed repetitions after warm-up.
    pub reps: usize,
}

impl Default for ConvJob {
    fn default() -> Self {
        ConvJob {
            layers: spec::EXERCISE_STACK.to_string(),
            input_shape: None,
            seed: 0,
            params: None,
            input_npy: None,
            reps: 5,
        }
    }
}

/// The exercise's input shape, NCHW: one 128x128 single-channel image.
pub const EXERCISE_INPUT: [usize; 4] = [1, 1, 128, 128];

/// Everything `wgsl-nn conv` prints or writes as JSON about a run.
pub struct ConvReport {
    /// The adapter the job ran on.
    pub adapter: AdapterSummary,
    /// The job's seed.
    pub seed: u64,
    /// The stack run, with its weights.
    pub stack: ConvStack,
    /// The formulas' output size, receptive field, jump and start for
    /// every layer.
    pub geometry: Vec<LayerGeometry>,
    /// The receptive field of the centre output neuron as the GPU probe
    /// measured it, beside the formulas'.
    pub field: MeasuredField,
    /// The GPU output against the f64 reference, every element.
    pub check: Check,
    /// The plan's timing; for a batch run in chunks (activations larger
    /// than one storage binding), the chunks' times summed.
    pub timing: PlanTiming,
    /// How long the f64 reference took on the host.
    pub reference: RefTime,
    /// The GPU's output, NCHW row-major (all chunks).
    pub output: Vec<f32>,
    /// The plan run (the last chunk's when the batch was split), for
    /// `--explain`.
    pub plan: Plan,
    /// Where the weights and the input came from, in words.
    pub weights_from: String,
    /// Where the input came from: the .npy path or "seeded uniform
    /// [-1, 1), seed N".
    pub input_from: String,
}

/// Builds and validates everything that needs no GPU, so bad input fails
/// before a device is opened: parses the stack, reads or seeds the input,
/// builds the stack for its shape, and loads or seeds the weights
/// (PyTorch's default uniform init).
///
/// # Errors
///
/// Spec errors for a stack that does not parse; npy errors for files that
/// cannot be read; `Error::Argument` for an input file that is not CxHxW
/// or NxCxHxW or disagrees with `input_shape`; `Error::Shape` for an
/// input over 2^28 elements, a stack that does not fit its input, or a
/// state_dict whose keys or shapes do not match the stack.
pub fn prepare(job: &ConvJob) -> Result<Prepared> {
    let specs = spec::parse_stack(&job.layers)?;
    let (shape, input, input_from) = match &job.input_npy {
        Some(path) => {
            let a = npy::read_npy(path)?;
            let shape: [usize; 4] = match a.shape[..] {
                [c, h, w] => [1, c, h, w],
                [n, c, h, w] => [n, c, h, w],
                _ => {
                    return Err(Error::arg(
                        "--input-npy",
                        format!(
                            "{} has shape {:?}; expected CxHxW or NxCxHxW",
                            path.display(),
                            a.shape
                        ),
                    ))
                }
            };
            if let Some(want) = job.input_shape {
                if want != shape {
                    return Err(Error::arg(
                        "--input",
                        format!(
                            "{want:?} disagrees with {} of shape {shape:?}; drop --input or fix it",
                            path.display()
                        ),
                    ));
                }
            }
            crate::tensor::numel("--input-npy", &shape)?;
            crate::models::conv_stack::check_size("--input-npy", "input", &shape)?;
            (shape, a.data, format!("{}", path.display()))
        }
        None => {
            let shape = job.input_shape.unwrap_or(EXERCISE_INPUT);
            crate::tensor::numel("--input", &shape)?;
            crate::models::conv_stack::check_size("--input", "input", &shape)?;
            let input = random_input(&shape, job.seed.wrapping_add(1));
            (
                shape,
                input,
                format!("seeded uniform [-1, 1), seed {}", job.seed.wrapping_add(1)),
            )
        }
    };
    let mut stack = ConvStack::new(&specs, shape)?;
    let weights_from = match &job.params {
        Some(path) => {
            let params = npy::read_npz(path)?;
            stack.load_params(&params, &path.display().to_string())?;
            path.display().to_string()
        }
        None => {
            stack.randomize(job.seed);
            format!("seeded PyTorch-default uniform init, seed {}", job.seed)
        }
    };
    Ok((stack, input, weights_from, input_from))
}

/// The stack with its weights, the input, and where each came from.
pub type Prepared = (ConvStack, Vec<f32>, String, String);

/// Prepares the job ([`prepare`]) and runs it ([`run_prepared`]).
///
/// # Errors
///
/// Those of both.
pub fn run(gpu: &Gpu, job: &ConvJob) -> Result<ConvReport> {
    run_prepared(gpu, job, prepare(job)?)
}

/// `run` for a job already prepared (the CLI prepares before opening a
/// device, and a state_dict is read once).
///
/// Uploads the weights, runs the stack in one plan per chunk of the batch
/// that fits a storage binding (each timed by `time_plan`, one warm-up,
/// `job.reps` timed), downloads the output, compares it with the f64
/// reference, and measures the receptive field on the GPU.
///
/// # Errors
///
/// Device errors (allocation, validation, timeout, a lost device) and
/// limit errors of the plan; `Error::TooLarge` when a single image's
/// activations exceed a storage binding.
pub fn run_prepared(gpu: &Gpu, job: &ConvJob, prepared: Prepared) -> Result<ConvReport> {
    let (stack, input, weights_from, input_from) = prepared;
    let geometry = stack.geometry()?;
    let weights = stack.upload(gpu)?;
    // A batch whose activations exceed one storage binding is run in
    // chunks of images that fit, one submission each.
    let chunk = stack.batch_chunk(gpu.limits.max_storage_buffer_binding_size)?;
    let per_image: usize = stack.input_shape[1..].iter().product();
    let (mut output, mut timings, mut plan) = (Vec::new(), Vec::new(), Plan::new());
    // The reference runs beside the first chunk's first (untimed) run.
    let reference_work =
        || RefTime::of(|| stack.forward_ref(&RefTensor::from_f32(&stack.input_shape, &input)));
    let mut reference = None;
    for b0 in (0..stack.input_shape[0]).step_by(chunk) {
        let n = chunk.min(stack.input_shape[0] - b0);
        let part = stack.rebatch(n);
        let x = Tensor::upload(
            gpu,
            "input",
            &part.input_shape,
            &input[b0 * per_image..(b0 + n) * per_image],
        )?;
        plan = Plan::new();
        // Every intermediate and the output are created NaN-poisoned here;
        // repeated runs overwrite the same elements, so an element no run
        // writes is still NaN when the check reads it.
        let y = part.forward_gpu(gpu, &weights, &x, &mut plan)?;
        let plans = std::slice::from_ref(&plan);
        timings.push(if reference.is_none() {
            let (t, r) = time_plans_beside(gpu, plans, 1, job.reps, reference_work)?;
            reference = Some((r.0, r.1.beside()));
            t
        } else {
            time_plan(gpu, &plan, 1, job.reps)?
        });
        output.extend(y.download(gpu)?);
    }
    let timing = crate::gpu::timer::sum_timings(&timings);
    // An empty batch has no chunk to run beside.
    let (reference, ref_time) = reference.unwrap_or_else(reference_work);
    let check = compare(&output, &reference);
    let field = measure(gpu, &stack)?;
    Ok(ConvReport {
        adapter: gpu.summary(),
        seed: job.seed,
        stack,
        geometry,
        field,
        check,
        timing,
        reference: ref_time,
        output,
        plan,
        weights_from,
        input_from,
    })
}

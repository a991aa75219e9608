//! `wgsl-nn selftest`: every kernel on the chosen adapter over a fixed,
//! seeded set of shapes and edge cases, each against the f64 reference, so
//! a user can ask "does my GPU and driver compute these layers correctly?".

use crate::check::{compare, Check};
use crate::cpu::{self, attention as cpu_attn, RefTensor};
use crate::error::Result;
use crate::geometry::Window;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::random_input as unseeded_input;
use crate::ops::attention::sdpa_forward;
use crate::ops::batchnorm::{batchnorm_forward, BatchNorm};
use crate::ops::conv2d::{conv2d_forward, Conv2d};
use crate::ops::conv_transpose2d::{conv_transpose2d_forward, ConvTranspose2d};
use crate::ops::elementwise::{map_forward, RELU};
use crate::ops::elementwise::{pointwise_forward, Pointwise};
use crate::ops::layernorm::{layernorm_forward, EPS};
use crate::ops::matmul::{matmul_into, Activation, Matmul, View};
use crate::ops::pool2d::{pool2d_forward, Pool2d, PoolKind};
use crate::ops::positional::{rope_forward, rope_tables};
use crate::ops::rnn::{rnn_forward, Rnn, RnnKind};
use crate::ops::softmax::{softmax_forward, Mask};
use crate::tensor::Tensor;
use serde::Serialize;

/// One kernel's (or rung's) cases on this adapter.
#[derive(Debug, Clone, Serialize)]
pub struct KernelResult {
    /// The kernel, with its rung: "matmul (tex)".
    pub kernel: String,
    /// Cases run.
    pub cases: usize,
    /// Cases that failed their check or could not run.
    pub failed: usize,
    /// Largest |gpu - ref| over all cases.
    pub max_abs_err: f64,
    /// Largest |gpu - ref| / bound over all cases (below 1 passes).
    pub worst_of_bound: f64,
    /// The first failure, in words.
    pub failure: Option<String>,
    /// The kernel entry points that actually ran: a rung the device cannot
    /// run falls back (e.g. `tex` without subgroups), and this shows it.
    pub ran: std::collections::BTreeSet<String>,
    /// Cases that hit --gpu-timeout: the user's limit, not the kernel, failed.
    pub timed_out: usize,
}

thread_local! {
    /// Entry points run since the last `record` (filled by run_and_compare).
    static RAN: std::cell::RefCell<std::collections::BTreeSet<String>> = Default::default();
}

struct Tally {
    results: Vec<KernelResult>,
}

impl Tally {
    fn record(&mut self, kernel: &str, case: &str, outcome: Result<Check>) {
        let idx = match self.results.iter().position(|r| r.kernel == kernel) {
            Some(i) => i,
            None => {
                self.results.push(KernelResult {
                    kernel: kernel.into(),
                    cases: 0,
                    failed: 0,
                    max_abs_err: 0.0,
                    worst_of_bound: 0.0,
                    failure: None,
                    ran: Default::default(),
                    timed_out: 0,
                });
                self.results.len() - 1
            }
        };
        let r = &mut self.results[idx];
        r.cases += 1;
        RAN.with(|ran| r.ran.append(&mut ran.borrow_mut()));
        match outcome {
            Ok(c) => {
                r.max_abs_err = r.max_abs_err.max(c.max_abs_err);
                if let Some(w) = &c.worst {
                    let ratio = if w.bound > 0.0 {
                        (w.gpu - w.reference).abs() / w.bound
                    } else {
                        0.0
                    };
                    r.worst_of_bound =
                        r.worst_of_bound
                            .max(if ratio.is_nan() { f64::INFINITY } else { ratio });
                }
                if !c.passed {
                    r.failed += 1;
                    r.failure.get_or_insert(format!("{case}: {}", c.summary()));
                }
            }
            Err(e) => {
                r.failed += 1;
                r.timed_out += usize::from(matches!(e, crate::Error::Timeout { .. }));
                r.failure.get_or_insert(format!("{case}: {e}"));
            }
        }
    }
}

// Added to every seed of the selftest and the mutants' cases:
// `selftest --seeds N` walks it over 0..N to sweep for false alarms. Per
// thread, so that tests running side by side do not shift each other.
thread_local! {
    static SEED_OFFSET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Shifts every seed the selftest and the mutant cases use on this thread
/// (0: the documented ones).
pub fn set_seed_offset(offset: u64) {
    SEED_OFFSET.with(|o| o.set(offset));
}

/// Uniform [-1, 1) inputs from `seed` plus the current offset, which is
/// 10^6 apart per step so that no two sweeps' seeds meet.
pub fn seeded_input(shape: &[usize], seed: u64) -> Vec<f32> {
    let offset = SEED_OFFSET.with(|o| o.get());
    unseeded_input(shape, seed + 1_000_000 * offset)
}
use seeded_input as random_input;

/// A dense product C = act(op(A) op(B) + bias) as a plan writing a
/// poisoned C, with its f64 reference: the selftest's and the mutants'.
pub fn dense_matmul(
    gpu: &Gpu,
    kernels: crate::rung::Kernels,
    label: &str,
    mm: &Matmul,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
) -> Result<(Plan, Tensor, RefTensor)> {
    let (m, n, k) = (mm.m, mm.n, mm.k);
    let a_shape = if mm.trans_a { [k, m] } else { [m, k] };
    let b_shape = if mm.trans_b { [n, k] } else { [k, n] };
    let views = (
        View::dense(a_shape[0], a_shape[1], false),
        View::dense(b_shape[0], b_shape[1], false),
        View::dense(m, n, false),
    );
    let c = Tensor::poisoned(gpu, "C", &[m, n])?;
    let bias_t = bias
        .map(|v| Tensor::upload(gpu, "bias", &[n], v))
        .transpose()?;
    let mut plan = Plan::with_kernels(kernels);
    matmul_into(
        gpu,
        &mut plan,
        label,
        mm,
        (&Tensor::upload(gpu, "A", &a_shape, a)?, views.0),
        (&Tensor::upload(gpu, "B", &b_shape, b)?, views.1),
        bias_t.as_ref(),
        (&c, views.2),
    )?;
    let mut reference = RefTensor::zeros(&[m, n]);
    cpu::matmul::matmul_into(
        mm,
        (&RefTensor::from_f32(&a_shape, a), views.0),
        (&RefTensor::from_f32(&b_shape, b), views.1),
        bias,
        (&mut reference, views.2),
    );
    Ok((plan, c, reference))
}

/// Integers in -3..=3, seeded: exact in float32 products and sums.
fn integers(shape: &[usize], seed: u64) -> Vec<f32> {
    random_input(shape, seed)
        .iter()
        .map(|v| (v * 3.5).round().clamp(-3.0, 3.0))
        .collect()
}

fn up(gpu: &Gpu, shape: &[usize], seed: u64) -> Result<(Tensor, Vec<f32>)> {
    let v = random_input(shape, seed);
    Ok((Tensor::upload(gpu, "selftest input", shape, &v)?, v))
}

fn run_and_compare(gpu: &Gpu, plan: &Plan, y: &Tensor, reference: &RefTensor) -> Result<Check> {
    RAN.with(|ran| {
        ran.borrow_mut()
            .extend(plan.steps.iter().map(|s| s.kernel.entry.to_string()))
    });
    gpu.run(plan)?;
    Ok(compare(&y.download(gpu)?, reference))
}

fn win(k: [usize; 2], s: [usize; 2], p: [usize; 2], d: [usize; 2]) -> Window {
    Window {
        kernel: k,
        stride: s,
        pad_begin: p,
        pad_end: p,
        dilation: d,
        ceil_mode: false,
    }
}

pub mod half;
pub mod half_attention;
pub mod half_conv;
pub mod half_rnn;
pub mod half_rows;
pub mod half_rung;
mod ladders;
mod single;

/// Runs every case on `gpu`: each ladder's rungs through plans that name
/// them, so the device's own kernel choice is never touched.
pub fn run(gpu: &Gpu) -> Vec<KernelResult> {
    let mut t = Tally { results: vec![] };
    ladders::conv2d_ladder(gpu, &mut t);
    single::conv_transpose_and_pool(gpu, &mut t);
    single::activations(gpu, &mut t);
    ladders::matmul_ladder(gpu, &mut t);
    single::softmax_norms(gpu, &mut t);
    ladders::attention_ladder(gpu, &mut t);
    single::recurrent_and_grid(gpu, &mut t);
    t.results
}

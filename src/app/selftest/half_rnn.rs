//! `selftest --dtype f16`: recurrent layers on float16 storage
//! (`ops::rnn::rnn_f16_forward_states`) against the f64 reference with
//! each float16 store charged where the kernels make it (the projection,
//! every hidden state, the LSTM's cell state), and their float16 faults,
//! each planted and required to fail.

use crate::check::{compare_f16, Check};
use crate::cpu::half::as_f16;
use crate::cpu::rnn::rnn_states_as;
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::{Gpu, Patch, Plan};
use crate::models::rnn_stack::RnnStack;
use crate::ops::rnn::{rnn_f16_forward_states, RnnKind};
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// One float16 recurrent layer to check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RnnCase {
    /// Elman, GRU or LSTM.
    pub kind: RnnKind,
    /// Sequences B.
    pub batch: usize,
    /// Time steps T.
    pub steps: usize,
    /// Input features I.
    pub input: usize,
    /// Hidden units H.
    pub hidden: usize,
    /// h0 (and, for an LSTM, c0) given, uniform in [-1, 1).
    pub states: bool,
    /// Inputs and weights (PyTorch's init) scaled by this before rounding.
    pub scale: f32,
}

impl RnnCase {
    const fn new(kind: RnnKind, batch: usize, steps: usize, input: usize, hidden: usize) -> Self {
        RnnCase {
            kind,
            batch,
            steps,
            input,
            hidden,
            states: false,
            scale: 1.0,
        }
    }

    /// The layer and sizes in words, for tables.
    pub fn label(&self) -> String {
        let mut s = format!(
            "{:?} B={} T={} I={} H={}",
            self.kind, self.batch, self.steps, self.input, self.hidden
        )
        .to_lowercase();
        if self.states {
            s.push_str(" +states");
        }
        if self.scale != 1.0 {
            s.push_str(&format!(" x{}", self.scale));
        }
        s
    }
}

/// Each kind; one unit, odd hidden sizes (two units of one step share a
/// word, across rows too when T = 1), initial states, 40 steps (the
/// state's error compounds), a hidden size of 512, and tiny values (hidden
/// states below float16's smallest normal).
pub fn rnn_cases() -> Vec<RnnCase> {
    let mut v = vec![
        RnnCase::new(RnnKind::Elman, 1, 1, 1, 1),
        RnnCase::new(RnnKind::Gru, 3, 1, 4, 5),
        RnnCase::new(RnnKind::Lstm, 2, 7, 3, 9),
        RnnCase::new(RnnKind::Gru, 2, 40, 6, 16),
        RnnCase::new(RnnKind::Lstm, 3, 5, 17, 33),
        RnnCase::new(RnnKind::Elman, 2, 4, 8, 512),
        RnnCase::new(RnnKind::Elman, 2, 6, 8, 7),
    ];
    v[2].states = true;
    v[4].states = true;
    v[6].scale = 1.0 / 16384.0;
    v
}

/// Runs one case on `path`, checked against the reference (y, then an
/// LSTM's c_T), seeded by `seed`.
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_rnn_case(gpu: &Gpu, case: &RnnCase, path: F16Path, seed: u64) -> Result<Check> {
    let c = case;
    let stack = RnnStack::random(c.kind, c.input, c.hidden, 1, seed);
    let r = stack.layer(0);
    let w = &stack.layers[0];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut draw = |n: usize, s: f32| -> Vec<f32> {
        as_f16(
            &(0..n)
                .map(|_| rng.random_range(-s..s))
                .collect::<Vec<f32>>(),
        )
    };
    let scaled = |v: &[f32]| as_f16(&v.iter().map(|x| x * c.scale).collect::<Vec<f32>>());
    let xs = [c.batch, c.steps, c.input];
    let x = draw(xs.iter().product(), c.scale);
    let state = [c.batch, c.hidden];
    let (h0, c0) = (draw(c.batch * c.hidden, 1.0), draw(c.batch * c.hidden, 1.0));
    let lstm = c.kind == RnnKind::Lstm;
    let weights = [
        scaled(&w.w_ih),
        scaled(&w.w_hh),
        scaled(&w.b_ih),
        scaled(&w.b_hh),
    ];
    let shapes = [
        r.w_ih_shape().to_vec(),
        r.w_hh_shape().to_vec(),
        r.bias_shape().to_vec(),
        r.bias_shape().to_vec(),
    ];
    let up = |name: &str, shape: &[usize], v: &[f32]| Tensor::upload_f16(gpu, name, shape, v);
    let mut ts = vec![];
    for (v, s) in weights.iter().zip(&shapes) {
        ts.push(up("rnn weight", s, v)?);
    }
    let tx = up("x", &xs, &x)?;
    let th0 = up("h0", &state, &h0)?;
    let tc0 = up("c0", &state, &c0)?;
    let mut plan = Plan::new();
    let (y, cell) = rnn_f16_forward_states(
        gpu,
        &mut plan,
        "f16 rnn",
        &r,
        &tx,
        [&ts[0], &ts[1], &ts[2], &ts[3]],
        c.states.then_some(&th0),
        (c.states && lstm).then_some(&tc0),
        path,
    )?;
    gpu.run(&plan)?;
    let mut out = y.download(gpu)?;
    let (h0r, c0r) = (
        RefTensor::from_f32(&state, &h0),
        RefTensor::from_f32(&state, &c0),
    );
    let (yr, cr) = rnn_states_as(
        &r,
        &RefTensor::from_f32(&xs, &x),
        weights.each_ref().map(|v| &v[..]),
        (c.states.then_some(&h0r), (c.states && lstm).then_some(&c0r)),
        true,
    );
    let mut reference = yr;
    if let Some(cell) = cell {
        out.extend(cell.download(gpu)?);
        reference.val.extend(&cr.val);
        reference.err.extend(&cr.err);
    }
    Ok(compare_f16(&out, &reference))
}

/// A fault a float16 recurrent kernel makes, planted in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RnnFault {
    /// The hidden product h W_hh summed in float16 while the kernel claims
    /// float32 sums.
    SumInF16,
    /// Hidden states below 2^-14 stored as zero (subnormals flushed).
    FlushSubnormals,
}

impl RnnFault {
    /// Every fault, for `--mutants`.
    pub const ALL: [RnnFault; 2] = [RnnFault::SumInF16, RnnFault::FlushSubnormals];

    /// What the fault is, for tables.
    pub fn name(self) -> &'static str {
        match self {
            RnnFault::SumInF16 => "f16 rnn: hidden product summed in float16",
            RnnFault::FlushSubnormals => "f16 rnn: subnormal hidden states flushed to zero",
        }
    }

    /// The case that exposes it: 512 hidden units, or tiny values.
    pub fn case(self) -> RnnCase {
        let cases = rnn_cases();
        match self {
            RnnFault::SumInF16 => cases[5],
            RnnFault::FlushSubnormals => cases[6],
        }
    }

    fn patches(self) -> Vec<Patch> {
        const STORE: &str = "to_f16_range(vec2<f32>(v, 0.0))";
        let (find, replace) = match self {
            RnnFault::SumInF16 => (
                "acc.x += hk * ld_w(w);",
                "acc.x = unpack2x16float(pack2x16float(vec2<f32>(acc.x + hk * ld_w(w), 0.0))).x;",
            ),
            RnnFault::FlushSubnormals => (
                STORE,
                "select(to_f16_range(vec2<f32>(v, 0.0)), vec2<f32>(0.0), vec2<bool>(abs(v) < 6.1035156e-5))",
            ),
        };
        ["rnn_f16_packed", "rnn_f16_native"]
            .map(|family| Patch {
                family,
                find,
                replace,
            })
            .to_vec()
    }
}

/// Runs `fault`'s case with the fault planted (on `path`) and returns the
/// check, which must fail, and how many pipelines the patch reached.
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_rnn_fault(
    gpu: &Gpu,
    fault: RnnFault,
    path: F16Path,
    seed: u64,
) -> Result<(Check, usize)> {
    gpu.plant(fault.name(), &fault.patches());
    let run = run_rnn_case(gpu, &fault.case(), path, seed);
    let hits = gpu.planted_hits();
    gpu.plant("", &[]);
    Ok((run?, hits))
}

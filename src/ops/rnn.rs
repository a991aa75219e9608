//! Recurrent layers (Elman RNN, GRU, LSTM) over a sequence, many to many:
//! parameters and GPU forward. Reference: `cpu::rnn`.
//!
//! PyTorch's equations and gate orders (GRU r, z, n; LSTM i, f, g, o),
//! batch-first, with the weights stored input-major like `linear`
//! (PyTorch's weight_ih_l0 and weight_hh_l0 transposed): W_ih `[I, G*H]`,
//! W_hh `[H, G*H]`, b_ih and b_hh `[G*H]`, G = 1 (Elman), 3 (GRU) or 4
//! (LSTM).
//!
//! The plan: one matrix product projects the inputs of every step at once
//! (xp = x W_ih + b_ih, [B, T, G*H]), then one dispatch per time step adds
//! h_{t-1} W_hh + b_hh and applies the gates, reading h_{t-1} from the
//! previous row of the output. T + 1 steps (more if the projection is
//! split), one submission, no read-back.

use super::matmul::{linear, Activation};
use super::{
    check_u32, expect_f16, expect_shape, kernel, kernel_f16, read, u, within_loop_budget,
    workgroup_1d, write,
};
use crate::dtype::{DType, F16Path};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = shaders!("rnn_f32.wgsl", "rnn.wgsl");
const PACKED: &str = shaders!("f16_words_common.wgsl", "rnn_f16_packed.wgsl", "rnn.wgsl");
const NATIVE: &str = concat!("enable f16;\n", shaders!("rnn_f16_native.wgsl", "rnn.wgsl"));
/// One Elman time step: one invocation per hidden unit (b, j).
pub const ELMAN_STEP: Kernel = kernel("rnn", SOURCE, "rnn_elman_step");
/// One GRU time step: one invocation per hidden unit (b, j).
pub const GRU_STEP: Kernel = kernel("rnn", SOURCE, "rnn_gru_step");
/// One LSTM time step: one invocation per hidden unit (b, j), which also
/// updates its cell state in place.
pub const LSTM_STEP: Kernel = kernel("rnn", SOURCE, "rnn_lstm_step");
/// The three steps on float16 storage read as u32 words (every adapter;
/// y and the cell state set half a word at a time with atomics).
pub const F16_PACKED_STEPS: [Kernel; 3] = [
    kernel_f16("rnn_f16_packed", PACKED, "rnn_elman_step"),
    kernel_f16("rnn_f16_packed", PACKED, "rnn_gru_step"),
    kernel_f16("rnn_f16_packed", PACKED, "rnn_lstm_step"),
];
/// The three steps on float16 storage read as WGSL `f16` (SHADER_F16).
pub const F16_NATIVE_STEPS: [Kernel; 3] = [
    kernel_f16("rnn_f16_native", NATIVE, "rnn_elman_step"),
    kernel_f16("rnn_f16_native", NATIVE, "rnn_gru_step"),
    kernel_f16("rnn_f16_native", NATIVE, "rnn_lstm_step"),
];

/// Which recurrence a layer runs; decides the number of gate blocks in
/// the weights ([`RnnKind::gates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RnnKind {
    /// h' = tanh(x W_ih + b_ih + h W_hh + b_hh) (PyTorch's nn.RNN, tanh).
    Elman,
    /// PyTorch's nn.GRU: gates r, z, n in that order.
    Gru,
    /// PyTorch's nn.LSTM (no projection): gates i, f, g, o in that order,
    /// with a cell state.
    Lstm,
}

/// One recurrent layer (one direction, one stack level), mirroring one
/// layer of PyTorch's `nn.RNN` (tanh), `nn.GRU` or `nn.LSTM` with
/// `batch_first=True` and both biases: input `[batch, steps, input_size]`,
/// output `[batch, steps, hidden_size]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rnn {
    /// Elman, GRU or LSTM.
    pub kind: RnnKind,
    /// Features per time step of the input (PyTorch's `input_size`), I.
    pub input_size: usize,
    /// Units of the hidden state (PyTorch's `hidden_size`), H.
    pub hidden_size: usize,
}

/// The uniform params of one time-step dispatch: twin of `RnnParams` in
/// shaders/rnn.wgsl (binding 0). Only `t` changes from step to step.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RnnParams {
    /// Sequences in the batch, B.
    pub batch: u32,
    /// Time steps of the sequence, T: the row stride of `xp` and `y`.
    pub steps: u32,
    /// Hidden units, H.
    pub hidden: u32,
    /// The time step this dispatch computes (0-based); it reads
    /// h_{t-1} from row `t - 1` of `y` (h0 or zeros at 0).
    pub t: u32,
    /// Invocations that do work, B * H: one per hidden unit.
    pub total: u32,
    /// Bit 0: h0 given (else the state starts at zero); bit 1: c0 given.
    pub flags: u32,
    /// Padding to 32 bytes; always 0.
    pub _pad: [u32; 2],
}

impl RnnKind {
    /// Gate blocks in the weights: 1 for Elman, 3 for GRU (r, z, n), 4 for
    /// LSTM (i, f, g, o).
    pub fn gates(self) -> usize {
        match self {
            RnnKind::Elman => 1,
            RnnKind::Gru => 3,
            RnnKind::Lstm => 4,
        }
    }
}

impl Rnn {
    /// Gate blocks G of this layer's kind (see [`RnnKind::gates`]).
    pub fn gates(&self) -> usize {
        self.kind.gates()
    }

    /// W_ih's shape, `[I, G*H]`: PyTorch's `weight_ih_l0` transposed,
    /// input-major, gate blocks side by side.
    pub fn w_ih_shape(&self) -> [usize; 2] {
        [self.input_size, self.gates() * self.hidden_size]
    }

    /// W_hh's shape, `[H, G*H]`: PyTorch's `weight_hh_l0` transposed.
    pub fn w_hh_shape(&self) -> [usize; 2] {
        [self.hidden_size, self.gates() * self.hidden_size]
    }

    /// The shape of each of b_ih and b_hh, `[G*H]` (PyTorch's
    /// `bias_ih_l0`, `bias_hh_l0`).
    pub fn bias_shape(&self) -> [usize; 1] {
        [self.gates() * self.hidden_size]
    }

    /// Validates the input [B, T, I] and returns the output [B, T, H].
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming `layer` when the input or hidden size is 0,
    /// or when the input is not 3-D, has B or T of 0, or its last
    /// dimension is not `input_size`.
    pub fn output_shape(&self, input: &[usize], layer: &str) -> Result<[usize; 3]> {
        if self.input_size == 0 || self.hidden_size == 0 {
            return Err(Error::shape(
                layer,
                format!(
                    "input size {} and hidden size {} must both be at least 1",
                    self.input_size, self.hidden_size
                ),
            ));
        }
        let &[b, t, i] = input else {
            return Err(Error::shape(
                layer,
                format!(
                    "input has shape {input:?} but [batch, steps, {}] was expected",
                    self.input_size
                ),
            ));
        };
        if b == 0 || t == 0 || i != self.input_size {
            return Err(Error::shape(
                layer,
                format!(
                    "input has shape {input:?} but [batch, steps, {}] with batch and steps at least 1 was expected",
                    self.input_size
                ),
            ));
        }
        Ok([b, t, self.hidden_size])
    }

    /// Multiply-adds count 2: both projections, the two bias adds per gate,
    /// and the gates' elementwise work (Elman: tanh; GRU: two sigmoids,
    /// tanh, the reset product and the blend, about 8; LSTM: three
    /// sigmoids, two tanh, the cell update and the output product, about 8).
    pub fn flops(&self, batch: usize, steps: usize) -> u64 {
        let (i, h, g) = (
            self.input_size as u64,
            self.hidden_size as u64,
            self.gates() as u64,
        );
        let per_unit = 2 * g * (i + h + 1) + if g == 1 { 1 } else { 8 };
        batch as u64 * steps as u64 * h * per_unit
    }

    /// FLOPs of one time-step dispatch (everything but the input projection).
    fn step_flops(&self, batch: usize) -> u64 {
        let i_part = 2 * self.gates() as u64 * self.input_size as u64;
        self.flops(batch, 1) - batch as u64 * self.hidden_size as u64 * i_part
    }
}

/// Appends the layer to `plan` and returns y [B, T, H], every hidden state
/// (y[:, T-1] is the final state). `h0` [B, H] is the initial state, zeros
/// when None; an LSTM's cell state starts at zero (`lstm_forward` takes c0
/// and returns c_T).
///
/// `x` is [B, T, I]; the weights have [`Rnn::w_ih_shape`],
/// [`Rnn::w_hh_shape`] and [`Rnn::bias_shape`]. The plan gains the input
/// projection (a `linear`, possibly several steps) and one step per time
/// step; y is NaN-poisoned until the plan runs.
///
/// # Errors
///
/// As [`rnn_forward_states`].
#[allow(clippy::too_many_arguments)]
pub fn rnn_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    rnn: &Rnn,
    x: &Tensor,
    w_ih: &Tensor,
    w_hh: &Tensor,
    b_ih: &Tensor,
    b_hh: &Tensor,
    h0: Option<&Tensor>,
) -> Result<Tensor> {
    let w = [w_ih, w_hh, b_ih, b_hh];
    rnn_forward_states(gpu, plan, layer, rnn, x, w, h0, None).map(|(y, _)| y)
}

/// An LSTM layer (`rnn.kind` must be `Lstm`): y [B, T, H] and the final
/// cell state c_T [B, H], from the initial states `h0` and `c0` [B, H]
/// (zeros when None), as PyTorch's nn.LSTM returns output, (h_n, c_n).
/// h_n is y[:, T-1]. Both outputs are NaN-poisoned until the plan runs.
///
/// # Errors
///
/// [`Error::Shape`] when `rnn.kind` is not `Lstm`; otherwise as
/// [`rnn_forward_states`].
#[allow(clippy::too_many_arguments)]
pub fn lstm_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    rnn: &Rnn,
    x: &Tensor,
    w_ih: &Tensor,
    w_hh: &Tensor,
    b_ih: &Tensor,
    b_hh: &Tensor,
    h0: Option<&Tensor>,
    c0: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    if rnn.kind != RnnKind::Lstm {
        return Err(Error::shape(
            layer,
            format!(
                "lstm_forward needs an LSTM layer, not {:?}; use rnn_forward",
                rnn.kind
            ),
        ));
    }
    let w = [w_ih, w_hh, b_ih, b_hh];
    let (y, c) = rnn_forward_states(gpu, plan, layer, rnn, x, w, h0, c0)?;
    let c = c.ok_or_else(|| Error::shape(layer, "the LSTM kept no cell state"))?;
    Ok((y, c))
}

/// Either kind in one call: y [B, T, H] and, for an LSTM, the final cell
/// state c_T (from `c0`, which only an LSTM may be given).
///
/// Appends the input projection xp = x W_ih + b_ih ([B, T, G*H], through
/// `linear`) and then T time-step dispatches, labelled `"{layer} t={t}"`.
/// Outputs are NaN-poisoned until the plan runs; None for the cell state
/// of an Elman or GRU layer.
///
/// # Errors
///
/// [`Error::Shape`] for an input [`Rnn::output_shape`] refuses, weights,
/// biases, `h0` or `c0` of the wrong shape, a `c0` given to a layer that
/// is not an LSTM, a tensor of more than 2^32 elements, or a hidden size
/// whose recurrent loop (G * H iterations) exceeds the adapter's loop
/// budget (llvmpipe); any error of the input projection; and
/// [`Error::TooLarge`] or a device error when an output cannot be
/// allocated.
#[allow(clippy::too_many_arguments)]
pub fn rnn_forward_states(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    rnn: &Rnn,
    x: &Tensor,
    w: [&Tensor; 4],
    h0: Option<&Tensor>,
    c0: Option<&Tensor>,
) -> Result<(Tensor, Option<Tensor>)> {
    rnn_forward_as(gpu, plan, layer, rnn, x, w, (h0, c0), None)
}

/// [`rnn_forward_states`] on float16 storage (`--dtype f16`): x, the
/// weights, biases, `h0` and `c0` float16 tensors; the input projection a
/// float16 product with float32 sums (`linear_f16`), stored float16; each
/// step widens what it reads, computes in float32 and rounds y (and the
/// LSTM's cell state) once to float16 as it stores them, so the next step
/// reads the rounded state. `path` says how the kernels read float16.
///
/// ```no_run
/// use wgsl_nn::dtype::F16Path;
/// use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
/// use wgsl_nn::ops::rnn::{rnn_f16_forward_states, Rnn, RnnKind};
/// use wgsl_nn::Tensor;
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let rnn = Rnn { kind: RnnKind::Gru, input_size: 2, hidden_size: 3 };
/// let up = |n: &str, s: &[usize]| {
///     Tensor::upload_f16(&gpu, n, s, &vec![0.25; s.iter().product()])
/// };
/// let x = up("x", &[1, 4, 2])?;
/// let w = [up("W_ih", &rnn.w_ih_shape())?, up("W_hh", &rnn.w_hh_shape())?,
///     up("b_ih", &rnn.bias_shape())?, up("b_hh", &rnn.bias_shape())?];
/// let mut plan = Plan::new();
/// let path = F16Path::for_features(gpu.device.features());
/// let (y, _) = rnn_f16_forward_states(&gpu, &mut plan, "gru", &rnn, &x, w.each_ref(),
///     None, None, path)?;
/// gpu.run(&plan)?;
/// assert_eq!(y.download(&gpu)?.len(), 12);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
///
/// # Errors
///
/// As [`rnn_forward_states`], and for a tensor that is not float16;
/// [`Error::Argument`] for the native path without `SHADER_F16`.
#[allow(clippy::too_many_arguments)]
pub fn rnn_f16_forward_states(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    rnn: &Rnn,
    x: &Tensor,
    w: [&Tensor; 4],
    h0: Option<&Tensor>,
    c0: Option<&Tensor>,
    path: F16Path,
) -> Result<(Tensor, Option<Tensor>)> {
    rnn_forward_as(gpu, plan, layer, rnn, x, w, (h0, c0), Some(path))
}

/// [`rnn_forward_states`] (`half` None) or [`rnn_f16_forward_states`]
/// (`half` the float16 path) with the states as a pair: for callers that
/// choose the precision at run time.
///
/// ```no_run
/// use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
/// use wgsl_nn::ops::rnn::{rnn_forward_as, Rnn, RnnKind};
/// use wgsl_nn::Tensor;
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let rnn = Rnn { kind: RnnKind::Elman, input_size: 1, hidden_size: 1 };
/// let up = |n: &str, s: &[usize]| Tensor::upload(&gpu, n, s, &vec![0.5; s.iter().product()]);
/// let x = up("x", &[1, 2, 1])?;
/// let w = [up("W_ih", &rnn.w_ih_shape())?, up("W_hh", &rnn.w_hh_shape())?,
///     up("b_ih", &rnn.bias_shape())?, up("b_hh", &rnn.bias_shape())?];
/// let mut plan = Plan::new();
/// let (y, _) = rnn_forward_as(&gpu, &mut plan, "rnn", &rnn, &x, w.each_ref(), (None, None), None)?;
/// gpu.run(&plan)?;
/// assert_eq!(y.download(&gpu)?.len(), 2);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
///
/// # Errors
///
/// As the function it stands for.
#[allow(clippy::too_many_arguments)]
pub fn rnn_forward_as(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    rnn: &Rnn,
    x: &Tensor,
    w: [&Tensor; 4],
    (h0, c0): (Option<&Tensor>, Option<&Tensor>),
    half: Option<F16Path>,
) -> Result<(Tensor, Option<Tensor>)> {
    if let Some(path) = half {
        let named = [
            ("input", x),
            ("W_ih", w[0]),
            ("W_hh", w[1]),
            ("b_ih", w[2]),
            ("b_hh", w[3]),
        ];
        let states = [("h0", h0), ("c0", c0)];
        let states: Vec<(&str, &Tensor)> = states
            .iter()
            .filter_map(|(n, t)| t.map(|t| (*n, t)))
            .collect();
        let all: Vec<(&str, &Tensor)> = named.into_iter().chain(states).collect();
        expect_f16(gpu, layer, "a recurrent layer", path, &all)?;
    }
    plan_layer(gpu, plan, layer, rnn, x, w, (h0, c0), half)
}

/// Either storage: `half` None for float32, else float16 read along it.
#[allow(clippy::too_many_arguments)]
fn plan_layer(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    rnn: &Rnn,
    x: &Tensor,
    [w_ih, w_hh, b_ih, b_hh]: [&Tensor; 4],
    (h0, c0): (Option<&Tensor>, Option<&Tensor>),
    half: Option<F16Path>,
) -> Result<(Tensor, Option<Tensor>)> {
    let out = rnn.output_shape(&x.shape, layer)?;
    let [b, t, h] = out;
    let g = rnn.gates();
    expect_shape(layer, "W_ih", &w_ih.shape, &rnn.w_ih_shape())?;
    expect_shape(layer, "W_hh", &w_hh.shape, &rnn.w_hh_shape())?;
    expect_shape(layer, "b_ih", &b_ih.shape, &rnn.bias_shape())?;
    expect_shape(layer, "b_hh", &b_hh.shape, &rnn.bias_shape())?;
    if let Some(h0) = h0 {
        expect_shape(layer, "h0", &h0.shape, &[b, h])?;
    }
    if let Some(c0) = c0 {
        if rnn.kind != RnnKind::Lstm {
            return Err(Error::shape(
                layer,
                format!("a {:?} layer has no cell state; drop c0", rnn.kind),
            ));
        }
        expect_shape(layer, "c0", &c0.shape, &[b, h])?;
    }
    let projected = [b, t, g * h];
    for (name, shape) in [
        ("input", &x.shape[..]),
        ("W_hh", &w_hh.shape),
        ("input projection", &projected),
        ("output", &out),
    ] {
        check_u32(&format!("{layer} {name}"), shape)?;
    }
    // Each invocation runs one loop of H iterations doing G products each;
    // counted as G * H, conservatively.
    within_loop_budget(
        gpu,
        layer,
        (g * h) as u64,
        &format!("a recurrent step over hidden size {h} with {g} gate(s)"),
    )?;
    let proj = format!("{layer} input projection");
    let xp = match half {
        None => linear(gpu, plan, &proj, x, w_ih, Some(b_ih), Activation::None)?,
        Some(path) => super::matmul::half::linear_f16(gpu, plan, &proj, x, w_ih, Some(b_ih), path)?,
    };
    // An absent state binds a placeholder of the kernel's storage type.
    let dtype = DType::stored_for(half);
    let or_placeholder = |t: Option<&Tensor>| match t {
        Some(t) => Ok(t.clone()),
        None => Tensor::placeholder_as(gpu, dtype),
    };
    let poisoned = |name: String, shape: &[usize]| Tensor::poisoned_as(gpu, &name, shape, dtype);
    let has_h0 = h0.is_some();
    let h0 = or_placeholder(h0)?;
    let y = poisoned(format!("{layer} output"), &out)?;
    let gate = match rnn.kind {
        RnnKind::Elman => 0,
        RnnKind::Gru => 1,
        RnnKind::Lstm => 2,
    };
    let kernel = match half {
        None => [ELMAN_STEP, GRU_STEP, LSTM_STEP][gate],
        Some(F16Path::Packed) => F16_PACKED_STEPS[gate],
        Some(F16Path::Native) => F16_NATIVE_STEPS[gate],
    };
    // The LSTM's cell state, updated in place; poisoned, so a unit no step
    // wrote shows as NaN in c_T.
    let cell = match rnn.kind {
        RnnKind::Lstm => Some((
            poisoned(format!("{layer} cell state"), &[b, h])?,
            or_placeholder(c0)?,
        )),
        _ => None,
    };
    let params = RnnParams {
        batch: u(b),
        steps: u(t),
        hidden: u(h),
        t: 0,
        total: u(b * h),
        flags: u32::from(has_h0) | (u32::from(c0.is_some()) << 1),
        _pad: [0; 2],
    };
    // Per step: xp's row, W_hh, b_hh, the previous state and the new one
    // (and the LSTM's cell state, read and written).
    let cell_bytes = if cell.is_some() { 2 * b * h } else { 0 };
    let width = dtype.bytes(1);
    let bytes = width * (b * g * h + w_hh.numel() + g * h + 2 * b * h + cell_bytes) as u64;
    for step in 0..t {
        let params = RnnParams {
            t: u(step),
            ..params
        };
        plan.push(Step {
            label: match half {
                None => format!("{layer} t={step}"),
                Some(F16Path::Native) => format!("{layer} t={step} (f16 native)"),
                Some(F16Path::Packed) => format!("{layer} t={step} (f16 packed)"),
            },
            kernel,
            overrides: vec![],
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: [
                read("xp", &xp),
                read("W_hh", w_hh),
                read("b_hh", b_hh),
                read("h0", &h0),
                write("y", &y),
            ]
            .into_iter()
            .chain(
                cell.iter()
                    .flat_map(|(c, c0)| [write("c", c), read("c0", c0)]),
            )
            .collect(),
            invocations: (b * h) as u64,
            workgroup_size: workgroup_1d(gpu),
            flops: rnn.step_flops(b),
            bytes_moved: bytes,
        });
    }
    Ok((y, cell.map(|(c, _)| c)))
}

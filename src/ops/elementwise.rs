//! Element-wise maps (ReLU, positive mask). Reference: `cpu::elementwise`.

use super::{check_u32, kernel, read, workgroup_1d, write};
use crate::dtype::DType;
use crate::error::Result;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/elementwise.wgsl");
/// y = max(x, 0), keeping NaN as PyTorch does (nn.ReLU); for
/// [`map_forward`].
pub const RELU: Kernel = kernel("elementwise", SOURCE, "relu");
/// y = 1 where x > 0, else 0 (NaN gives 0): an exact support mask, where
/// repeated averaging would underflow; for [`map_forward`].
pub const POSITIVE_MASK: Kernel = kernel("elementwise", SOURCE, "positive_mask");
/// In place on y: `+= bias[channel]`, then ReLU; the epilogue of a
/// convolution computed as a plain matrix product
/// ([`channel_bias_forward`]).
pub const CHANNEL_BIAS: Kernel = kernel("elementwise", SOURCE, "channel_bias");

/// The activation layers besides ReLU, as PyTorch names and computes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pointwise {
    /// 1 / (1 + e^-x) (nn.Sigmoid).
    Sigmoid,
    /// tanh(x) (nn.Tanh).
    Tanh,
    /// x sigmoid(x) (nn.SiLU, swish).
    Silu,
    /// nn.GELU: exact (erf) unless `tanh` (approximate='tanh').
    Gelu {
        /// Use the tanh approximation instead of the exact erf form.
        tanh: bool,
    },
    /// nn.LeakyReLU(negative_slope).
    LeakyRelu {
        /// The factor applied to negative inputs (PyTorch's
        /// `negative_slope`, default 0.01); rounded to f32 for the shader.
        slope: f64,
    },
}

/// Every [`Pointwise`] activation in one entry point of
/// shaders/activation.wgsl, selected by [`ActivationParams::mode`].
pub const ACTIVATION: Kernel = kernel(
    "activation",
    shaders!("activation_common.wgsl", "activation.wgsl"),
    "activation",
);
/// The same on float16 storage read as u32 words (every adapter), one
/// output word per invocation.
pub const ACTIVATION_F16_PACKED: Kernel = crate::ops::kernel_f16(
    "activation_f16_packed",
    shaders!(
        "activation_common.wgsl",
        "f16_io_packed.wgsl",
        "activation_f16.wgsl"
    ),
    "activation_f16",
);
/// The same on float16 storage read as WGSL `f16` (SHADER_F16).
pub const ACTIVATION_F16_NATIVE: Kernel = crate::ops::kernel_f16(
    "activation_f16_native",
    concat!(
        "enable f16;\n",
        shaders!(
            "activation_common.wgsl",
            "f16_io_native.wgsl",
            "activation_f16.wgsl"
        )
    ),
    "activation_f16",
);

/// The uniform params of an activation step: twin of `ActivationParams`
/// in shaders/activation.wgsl (binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ActivationParams {
    /// Elements of x (and y); invocations at or past it return.
    pub total: u32,
    /// 0 sigmoid, 1 tanh, 2 SiLU, 3 exact (erf) GELU, 4 tanh GELU,
    /// 5 leaky ReLU.
    pub mode: u32,
    /// Leaky ReLU's negative slope (mode 5 only; 0 otherwise).
    pub slope: f32,
    /// Padding to 16 bytes; always 0.
    pub _pad: u32,
}

impl Pointwise {
    /// The shader's `mode`.
    fn mode(self) -> u32 {
        match self {
            Pointwise::Sigmoid => 0,
            Pointwise::Tanh => 1,
            Pointwise::Silu => 2,
            Pointwise::Gelu { tanh: false } => 3,
            Pointwise::Gelu { tanh: true } => 4,
            Pointwise::LeakyRelu { .. } => 5,
        }
    }

    /// Rough FLOPs per element, for the plan's totals.
    pub fn flops_per_element(self) -> u64 {
        match self {
            Pointwise::LeakyRelu { .. } => 1,
            Pointwise::Sigmoid | Pointwise::Tanh => 4,
            Pointwise::Silu => 5,
            Pointwise::Gelu { .. } => 20,
        }
    }
}

/// Appends y = act(x) for an activation layer: one step, one invocation
/// per element of `x` (any shape). Returns y, of `x`'s shape,
/// NaN-poisoned until the plan runs. Reference: `cpu::activation`.
///
/// # Errors
///
/// `Error::Shape` when `x` has more than 2^32 elements; `Error::TooLarge`
/// or a device error when y cannot be allocated.
pub fn pointwise_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    act: Pointwise,
    x: &Tensor,
) -> Result<Tensor> {
    pointwise_step(gpu, plan, layer, act, x, None)
}

/// [`pointwise_forward`] on a float16 `x` (float32 arithmetic, one output
/// word per invocation); returns a new float16 tensor. Reference:
/// `cpu::activation` on the float16 input, then `cpu::half::stored_f16`.
///
/// # Errors
///
/// As [`pointwise_forward`], and for an `x` that is not float16;
/// `Error::Argument` for the native path without `SHADER_F16`.
pub fn pointwise_f16_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    act: Pointwise,
    x: &Tensor,
    path: crate::dtype::F16Path,
) -> Result<Tensor> {
    crate::ops::expect_f16(gpu, layer, "activation", path, &[("input", x)])?;
    pointwise_step(gpu, plan, layer, act, x, Some(path))
}

/// The activation step on float32 (`half` None) or float16 storage.
fn pointwise_step(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    act: Pointwise,
    x: &Tensor,
    half: Option<crate::dtype::F16Path>,
) -> Result<Tensor> {
    let total = check_u32(layer, &x.shape)?;
    let name = format!("{layer} output");
    let y = Tensor::poisoned_as(gpu, &name, &x.shape, DType::stored_for(half))?;
    let params = ActivationParams {
        total,
        mode: act.mode(),
        slope: match act {
            Pointwise::LeakyRelu { slope } => slope as f32,
            _ => 0.0,
        },
        _pad: 0,
    };
    let (kernel, label, invocations, bytes) = match half {
        None => (ACTIVATION, layer.to_string(), u64::from(total), 8),
        Some(crate::dtype::F16Path::Native) => (
            ACTIVATION_F16_NATIVE,
            format!("{layer} (f16 native)"),
            u64::from(total).div_ceil(2),
            4,
        ),
        Some(crate::dtype::F16Path::Packed) => (
            ACTIVATION_F16_PACKED,
            format!("{layer} (f16 packed)"),
            u64::from(total).div_ceil(2),
            4,
        ),
    };
    plan.push(Step {
        label,
        kernel,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), write("y", &y)],
        invocations,
        workgroup_size: workgroup_1d(gpu),
        flops: act.flops_per_element() * u64::from(total),
        bytes_moved: bytes * u64::from(total),
    });
    Ok(y)
}

/// The uniform params of an element-wise step: twin of
/// `ElementwiseParams` in shaders/elementwise.wgsl (binding 0), shared by
/// its `relu`, `positive_mask`, `channel_bias` and `channel_affine`
/// entry points.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ElementwiseParams {
    /// Elements of the tensor; invocations at or past it return.
    pub total: u32,
    /// Elements per channel plane (H * W for NCHW): element i is in
    /// channel `(i / plane) % channels`. 1 for plain maps.
    pub plane: u32,
    /// Channels C of the tensor (1 for plain maps).
    pub channels: u32,
    /// `channel_bias` only: bit 0 adds the bias, bit 1 applies ReLU.
    pub flags: u32,
}

/// Appends `y = f(x)` for one of this family's kernels taking x and
/// writing y: [`RELU`] or [`POSITIVE_MASK`]. One step, one invocation per
/// element of `x` (any shape); returns y, of `x`'s shape, NaN-poisoned
/// until the plan runs.
///
/// # Errors
///
/// `Error::Shape` when `x` has more than 2^32 elements; `Error::TooLarge`
/// or a device error when y cannot be allocated.
pub fn map_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    k: Kernel,
    x: &Tensor,
) -> Result<Tensor> {
    let total = check_u32(layer, &x.shape)?;
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &x.shape)?;
    let params = ElementwiseParams {
        total,
        plane: 1,
        channels: 1,
        flags: 0,
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: k,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), write("y", &y)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: u64::from(total),
        bytes_moved: 8 * u64::from(total),
    });
    Ok(y)
}

/// In place on y [N, C, ...]: `y += bias[c]` (if `with_bias`), then the
/// activation `act` names ([`crate::ops::conv2d::Conv2d::act_flags`]: 2
/// ReLU, 4 capped at 6 as well, 0 none). Appends one step labelled `"{layer} bias/ReLU"`. `bias` holds
/// C values and is bound even when `with_bias` is false (pass a
/// placeholder then); its length is not checked here.
///
/// # Errors
///
/// `Error::Shape` when `y` has more than 2^32 elements.
pub fn channel_bias_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    y: &Tensor,
    bias: &Tensor,
    with_bias: bool,
    act: u32,
) -> Result<()> {
    let total = check_u32(layer, &y.shape)?;
    let channels = *y.shape.get(1).unwrap_or(&1);
    let plane: usize = y.shape.iter().skip(2).product();
    let params = ElementwiseParams {
        total,
        plane: plane.max(1) as u32,
        channels: channels.max(1) as u32,
        flags: u32::from(with_bias) | (act & 6),
    };
    plan.push(Step {
        label: format!("{layer} bias/ReLU"),
        kernel: CHANNEL_BIAS,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("bias", bias), write("y", y)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: u64::from(total),
        bytes_moved: 8 * u64::from(total),
    });
    Ok(())
}

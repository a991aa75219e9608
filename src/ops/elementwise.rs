//! Element-wise maps (ReLU, positive mask). Reference: `cpu::elementwise`.

use super::{check_u32, kernel, read, workgroup_1d, write};
use crate::error::Result;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/elementwise.wgsl");
pub const RELU: Kernel = kernel("elementwise", SOURCE, "relu");
pub const POSITIVE_MASK: Kernel = kernel("elementwise", SOURCE, "positive_mask");
pub const CHANNEL_BIAS: Kernel = kernel("elementwise", SOURCE, "channel_bias");

/// The activation layers besides ReLU, as PyTorch names and computes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pointwise {
    Sigmoid,
    Tanh,
    /// x sigmoid(x) (nn.SiLU, swish).
    Silu,
    /// nn.GELU: exact (erf) unless `tanh` (approximate='tanh').
    Gelu {
        tanh: bool,
    },
    /// nn.LeakyReLU(negative_slope).
    LeakyRelu {
        slope: f64,
    },
}

pub const ACTIVATION: Kernel = kernel(
    "activation",
    include_str!("../../shaders/activation.wgsl"),
    "activation",
);

/// Twin of `ActivationParams` in shaders/activation.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ActivationParams {
    pub total: u32,
    pub mode: u32,
    pub slope: f32,
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

/// Appends y = act(x) for an activation layer.
pub fn pointwise_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    act: Pointwise,
    x: &Tensor,
) -> Result<Tensor> {
    let total = check_u32(layer, &x.shape)?;
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &x.shape)?;
    let params = ActivationParams {
        total,
        mode: act.mode(),
        slope: match act {
            Pointwise::LeakyRelu { slope } => slope as f32,
            _ => 0.0,
        },
        _pad: 0,
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: ACTIVATION,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), write("y", &y)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: act.flops_per_element() * u64::from(total),
        bytes_moved: 8 * u64::from(total),
    });
    Ok(y)
}

/// Twin of `ElementwiseParams` in shaders/elementwise.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ElementwiseParams {
    pub total: u32,
    pub plane: u32,
    pub channels: u32,
    pub flags: u32,
}

/// Appends `y = f(x)` for one of this family's kernels.
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

/// In place on y [N, C, ...]: y += bias[c] (if `bias`), then ReLU (if `relu`).
pub fn channel_bias_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    y: &Tensor,
    bias: &Tensor,
    with_bias: bool,
    relu: bool,
) -> Result<()> {
    let total = check_u32(layer, &y.shape)?;
    let channels = *y.shape.get(1).unwrap_or(&1);
    let plane: usize = y.shape.iter().skip(2).product();
    let params = ElementwiseParams {
        total,
        plane: plane.max(1) as u32,
        channels: channels.max(1) as u32,
        flags: u32::from(with_bias) | (u32::from(relu) << 1),
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

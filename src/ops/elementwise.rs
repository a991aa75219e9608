//! Element-wise maps (ReLU, positive mask). Reference: `cpu::elementwise`.

use super::{check_u32, kernel, read, workgroup_1d, write};
use crate::error::Result;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/elementwise.wgsl");
pub const RELU: Kernel = kernel("elementwise", SOURCE, "relu");
pub const POSITIVE_MASK: Kernel = kernel("elementwise", SOURCE, "positive_mask");

/// Twin of `ElementwiseParams` in shaders/elementwise.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ElementwiseParams {
    pub total: u32,
    pub _pad: [u32; 3],
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
        _pad: [0; 3],
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

//! Lays four quadrant images [4, C, h, w] (top-left, top-right,
//! bottom-left, bottom-right) out as one image [1, C, 2h, 2w]. Reference:
//! `cpu::sequence::assemble_quadrants`.

use super::{check_u32, kernel, read, u, workgroup_1d, write};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/quadrants.wgsl");
/// One invocation per pixel of the assembled image, copying it from its
/// quadrant.
pub const ASSEMBLE: Kernel = kernel("quadrants", SOURCE, "assemble_quadrants");

/// The uniform params of the assembly step: twin of `QuadrantsParams` in
/// shaders/quadrants.wgsl (binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct QuadrantsParams {
    /// Channels C of every quadrant and of the image.
    pub channels: u32,
    /// Height h of one quadrant (the image is 2h high).
    pub h: u32,
    /// Width w of one quadrant (the image is 2w wide).
    pub w: u32,
    /// Elements of the image, C * 2h * 2w; invocations at or past it
    /// return.
    pub total: u32,
}

/// Appends one [`ASSEMBLE`] step laying the quadrants `parts`
/// [4, C, h, w] (top-left, top-right, bottom-left, bottom-right) out as
/// one image, and returns it: [1, C, 2h, 2w], NaN-poisoned until the plan
/// runs.
///
/// # Errors
///
/// [`Error::Shape`] when `parts` is not [4, C, h, w] or the image has more
/// than 2^32 elements; [`Error::TooLarge`] or a device error when it
/// cannot be allocated.
pub fn assemble_quadrants(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    parts: &Tensor,
) -> Result<Tensor> {
    let [4, c, h, w] = parts.shape[..] else {
        return Err(Error::shape(
            layer,
            format!(
                "expected four quadrant images [4, C, h, w], got {:?}",
                parts.shape
            ),
        ));
    };
    let out = [1, c, 2 * h, 2 * w];
    let total = check_u32(layer, &out)?;
    let image = Tensor::poisoned(gpu, &format!("{layer} output"), &out)?;
    let params = QuadrantsParams {
        channels: u(c),
        h: u(h),
        w: u(w),
        total,
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: ASSEMBLE,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("parts", parts), write("image", &image)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: 0,
        bytes_moved: 8 * u64::from(total),
    });
    Ok(image)
}

//! y = x + z with z repeated over leading axes: the residual add, and a
//! positional table [L, D] added to a batch [B, L, D]. Reference: `cpu::add`.

use super::{check_u32, kernel, read, workgroup_1d, write};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/add.wgsl");
/// `y[i] = x[i] + z[i % z_len]`, one invocation per element of x.
pub const ADD: Kernel = kernel("add", SOURCE, "add_broadcast");

/// The uniform params of an add step: twin of `AddParams` in
/// shaders/add.wgsl (binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AddParams {
    /// Elements of x (and y); invocations at or past it return.
    pub total: u32,
    /// Elements of z, which repeats every `z_len` elements of x.
    pub z_len: u32,
    /// Padding to 16 bytes; always 0.
    pub _pad: [u32; 2],
}

/// Appends y = x + z, where z's shape equals x's trailing axes and z is
/// repeated over x's leading ones (PyTorch broadcasting restricted to
/// that case): a residual add when the shapes are equal, a table [L, D]
/// added to every sequence of [B, L, D]. One step; returns y, of `x`'s
/// shape, NaN-poisoned until the plan runs.
///
/// # Errors
///
/// [`Error::Shape`] when x has more than 2^32 elements or z's shape is not
/// x's trailing axes; [`Error::TooLarge`] or a device error when y cannot
/// be allocated.
pub fn add_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    z: &Tensor,
) -> Result<Tensor> {
    let total = check_u32(layer, &x.shape)?;
    let zl = z.numel();
    let trailing =
        x.shape.len() >= z.shape.len() && x.shape[x.shape.len() - z.shape.len()..] == z.shape[..];
    if !trailing {
        return Err(Error::shape(
            layer,
            format!(
                "cannot add {:?} to {:?}: the second shape must equal the first's trailing axes",
                z.shape, x.shape
            ),
        ));
    }
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &x.shape)?;
    let params = AddParams {
        total,
        z_len: zl as u32,
        _pad: [0; 2],
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: ADD,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), read("z", z), write("y", &y)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: u64::from(total),
        bytes_moved: 12 * u64::from(total),
    });
    Ok(y)
}

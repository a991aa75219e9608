//! Layer normalisation over the last axis. Reference: `cpu::layernorm`.

use super::softmax::workgroup_pow2;
use super::{check_u32, expect_shape, kernel, read, u, write};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/layernorm.wgsl");
/// One workgroup per row, two passes (mean, then the mean of squared
/// deviations, so a large mean does not cancel the variance away).
pub const LAYER_NORM: Kernel = kernel("layernorm", SOURCE, "layer_norm");

/// PyTorch's default epsilon.
pub const EPS: f32 = 1e-5;

/// The uniform params of a layer-norm step: twin of `LayerNormParams` in
/// shaders/layernorm.wgsl (binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LayerNormParams {
    /// Rows normalised, the product of every axis but the last; workgroups
    /// at or past it write nothing.
    pub rows: u32,
    /// Length D of the last axis: the row normalised, and the length of
    /// gamma and beta.
    pub cols: u32,
    /// Added to the variance before the square root ([`EPS`]).
    pub eps: f32,
    /// Padding to 16 bytes; always 0.
    pub _pad: u32,
}

/// D, the length of `x`'s last axis, when `gamma` and `beta` are [D] and
/// `x` has at most 2^32 elements; else an error naming the layer.
pub(crate) fn layernorm_dims(
    layer: &str,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
) -> Result<usize> {
    let Some(&d) = x.shape.last() else {
        return Err(Error::shape(layer, "layer norm needs at least one axis"));
    };
    expect_shape(layer, "gamma", &gamma.shape, &[d])?;
    expect_shape(layer, "beta", &beta.shape, &[d])?;
    check_u32(layer, &x.shape)?;
    Ok(d)
}

/// Appends y = (x - mean) / sqrt(var + eps) * gamma + beta over the last
/// axis of `x` (any rank, e.g. [batch, tokens, features]), as PyTorch's
/// `nn.LayerNorm(D)` with eps [`EPS`] and the biased variance. `gamma` and
/// `beta` are `[D]`. One step, one workgroup per row; returns y, of `x`'s
/// shape, NaN-poisoned until the plan runs.
///
/// # Errors
///
/// [`Error::Shape`] when `x` has no axis, `gamma` or `beta` is not `[D]`, `x`
/// has more than 2^32 elements, or a row is too long for the adapter's
/// loop budget (llvmpipe); [`Error::TooLarge`] or a device error when y
/// cannot be allocated.
pub fn layernorm_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
) -> Result<Tensor> {
    let d = layernorm_dims(layer, x, gamma, beta)?;
    let rows = x.numel() / d;
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &x.shape)?;
    let wg = workgroup_pow2(gpu, 64);
    let per_lane = 3 * d.div_ceil(wg as usize) as u64 + 2 * u64::from(wg.ilog2());
    super::within_loop_budget(gpu, layer, per_lane, &format!("a layer-norm row of {d}"))?;
    let params = LayerNormParams {
        rows: u(rows),
        cols: u(d),
        eps: EPS,
        _pad: 0,
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: LAYER_NORM,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("x", x),
            read("gamma", gamma),
            read("beta", beta),
            write("y", &y),
        ],
        invocations: rows as u64 * u64::from(wg),
        workgroup_size: wg,
        flops: 8 * x.numel() as u64,
        bytes_moved: 12 * x.numel() as u64,
    });
    Ok(y)
}

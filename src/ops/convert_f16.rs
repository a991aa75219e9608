//! Float16 storage to float32 and back (shaders/convert_f16.wgsl): how a
//! float16 model run (`wgsl-nn run --dtype f16`) gives an op with no
//! float16 kernel of its own float32 inputs (exact: every float16 value is
//! a float32 one) and rounds its float32 result once into float16. Both
//! read and write u32 words, so one module serves both float16 paths.
//! Reference: the value itself, then `cpu::half::stored_f16` on narrowing.

use super::{as_words, check_u32, kernel, read, workgroup_1d, write};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = shaders!("convert_f16.wgsl");
/// Float16 words to float32, one element per invocation.
pub const WIDEN: Kernel = kernel("convert_f16", SOURCE, "widen_f16");
/// Float32 to float16 words, one word per invocation.
pub const NARROW: Kernel = kernel("convert_f16", SOURCE, "narrow_f16");

/// Twin of `ConvertParams` in shaders/convert_f16.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvertParams {
    /// Elements converted.
    pub total: u32,
    /// Padding; always 0.
    pub _pad: [u32; 3],
}

fn convert(gpu: &Gpu, plan: &mut Plan, layer: &str, x: &Tensor, to: DType) -> Result<Tensor> {
    let from = if to == DType::F32 {
        DType::F16
    } else {
        DType::F32
    };
    if x.dtype != from {
        return Err(Error::shape(
            layer,
            format!(
                "converting to {} needs a {} tensor, not {}",
                to.name(),
                from.name(),
                x.dtype.name()
            ),
        ));
    }
    let total = check_u32(layer, &x.shape)?;
    let (y, kernel, invocations, what) = if to == DType::F32 {
        let y = Tensor::poisoned(gpu, &format!("{layer} (widened)"), &x.shape)?;
        (y, WIDEN, u64::from(total), "widen")
    } else {
        let y = Tensor::poisoned_f16(gpu, &format!("{layer} (narrowed)"), &x.shape)?;
        (y, NARROW, u64::from(total).div_ceil(2), "narrow")
    };
    let params = ConvertParams {
        total,
        _pad: [0; 3],
    };
    plan.push(Step {
        label: format!("{layer} [{what} f16]"),
        kernel,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("src", &as_words(x)), write("dst", &as_words(&y))],
        invocations,
        workgroup_size: workgroup_1d(gpu),
        flops: 0,
        bytes_moved: 6 * u64::from(total),
    });
    Ok(y)
}

/// Appends a float32 copy of the float16 tensor `x` (exact) and returns it,
/// NaN-poisoned until the plan runs.
///
/// ```no_run
/// use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
/// use wgsl_nn::ops::convert_f16::widen_f16_forward;
/// use wgsl_nn::Tensor;
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let x = Tensor::upload_f16(&gpu, "x", &[3], &[1.0, 0.5, -2.0])?;
/// let mut plan = Plan::new();
/// let y = widen_f16_forward(&gpu, &mut plan, "x", &x)?;
/// gpu.run(&plan)?;
/// assert_eq!(y.download(&gpu)?, [1.0, 0.5, -2.0]);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Shape`] when `x` is not float16 or holds more than 2^32
/// elements; allocation errors.
pub fn widen_f16_forward(gpu: &Gpu, plan: &mut Plan, layer: &str, x: &Tensor) -> Result<Tensor> {
    convert(gpu, plan, layer, x, DType::F32)
}

/// Appends `x` rounded to float16 (past 65504: infinity) and returns it, a
/// new float16 tensor, NaN-poisoned until the plan runs.
///
/// ```no_run
/// use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
/// use wgsl_nn::ops::convert_f16::narrow_f16_forward;
/// use wgsl_nn::Tensor;
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let x = Tensor::upload(&gpu, "x", &[2], &[1.0, 1e6])?;
/// let mut plan = Plan::new();
/// let y = narrow_f16_forward(&gpu, &mut plan, "x", &x)?;
/// gpu.run(&plan)?;
/// assert_eq!(y.download(&gpu)?, [1.0, f32::INFINITY]);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Shape`] when `x` is not float32 or holds more than 2^32
/// elements; allocation errors.
pub fn narrow_f16_forward(gpu: &Gpu, plan: &mut Plan, layer: &str, x: &Tensor) -> Result<Tensor> {
    convert(gpu, plan, layer, x, DType::F16)
}

//! Max and average pooling on float16 storage (`--dtype f16`): the f32
//! kernels' windows (shaders/pool2d_common.wgsl) read through float16, sums
//! in float32, one output word per invocation. Reference: `cpu::pool2d`
//! on the float16 input, then `cpu::half::stored_f16`.

use super::pool2d::Pool2d;
use super::{check_u32, expect_f16, kernel_f16, read, workgroup_1d, write};
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

/// Float16 read as u32 words (every adapter); the params' flags choose
/// max or average.
pub const POOL_PACKED: Kernel = kernel_f16(
    "pool2d_f16_packed",
    shaders!(
        "pool2d_common.wgsl",
        "f16_io_packed.wgsl",
        "pool2d_f16.wgsl"
    ),
    "pool2d_f16",
);
/// Float16 read as WGSL `f16` (SHADER_F16).
pub const POOL_NATIVE: Kernel = kernel_f16(
    "pool2d_f16_native",
    concat!(
        "enable f16;\n",
        shaders!(
            "pool2d_common.wgsl",
            "f16_io_native.wgsl",
            "pool2d_f16.wgsl"
        )
    ),
    "pool2d_f16",
);

/// Appends y = pool(x) on a float16 x [N, C, H, W]; returns y, a new
/// float16 tensor, NaN-poisoned until the plan runs.
///
/// # Errors
///
/// As `pool2d_forward`, and for an x that is not float16;
/// [`crate::Error::Argument`] for the native path without `SHADER_F16`.
pub fn pool2d_f16_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    pool: &Pool2d,
    x: &Tensor,
    path: F16Path,
) -> Result<Tensor> {
    let out = pool.output_shape(&x.shape, layer)?;
    expect_f16(gpu, layer, "pooling", path, &[("input", x)])?;
    check_u32(&format!("{layer} input"), &x.shape)?;
    let total = check_u32(&format!("{layer} output"), &out)?;
    pool.check_budget(gpu, layer)?;
    let y = Tensor::poisoned_f16(gpu, &format!("{layer} output"), &out)?;
    let params = pool.params(&x.shape, &out, total);
    let native = path == F16Path::Native;
    plan.push(Step {
        label: format!("{layer} (f16 {})", if native { "native" } else { "packed" }),
        kernel: if native { POOL_NATIVE } else { POOL_PACKED },
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), write("y", &y)],
        invocations: u64::from(total).div_ceil(2),
        workgroup_size: workgroup_1d(gpu),
        flops: pool.flops(&out),
        bytes_moved: 2 * (x.numel() + y.numel()) as u64,
    });
    Ok(y)
}

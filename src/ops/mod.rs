//! One file per layer family: its parameters (validated, with output shape
//! and FLOPs) and its GPU forward, which appends steps to a plan.

pub mod add;
pub mod attention;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod elementwise;
pub mod layernorm;
pub mod matmul;
pub mod pool2d;
pub mod positional;
pub mod softmax;

use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel};
use crate::tensor::Tensor;

/// Kernels index with u32; refuse any tensor whose elements do not fit.
pub fn check_u32(name: &str, shape: &[usize]) -> Result<u32> {
    let n = crate::tensor::numel(name, shape)?;
    u32::try_from(n).map_err(|_| {
        Error::shape(
            name,
            format!("{n} elements ({shape:?}) exceed the 2^32 that a kernel can index; use a smaller batch"),
        )
    })
}

/// The 1-D workgroup size every element-per-invocation kernel uses, lowered
/// on devices that allow fewer invocations.
pub fn workgroup_1d(gpu: &Gpu) -> u32 {
    64u32
        .min(gpu.limits.max_compute_invocations_per_workgroup)
        .min(gpu.limits.max_compute_workgroup_size_x)
        .max(1)
}

pub fn read(name: &str, t: &Tensor) -> Binding {
    Binding {
        name: name.to_string(),
        buffer: t.buffer.clone(),
        writes: false,
    }
}

pub fn write(name: &str, t: &Tensor) -> Binding {
    Binding {
        name: name.to_string(),
        buffer: t.buffer.clone(),
        writes: true,
    }
}

/// Converts a validated size to the u32 a params struct carries.
pub fn u(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

pub(crate) const fn kernel(
    family: &'static str,
    source: &'static str,
    entry: &'static str,
) -> Kernel {
    Kernel {
        family,
        source,
        entry,
    }
}

/// Expects `shape` to equal `want`, naming the tensor and layer otherwise.
pub fn expect_shape(layer: &str, tensor: &str, shape: &[usize], want: &[usize]) -> Result<()> {
    if shape == want {
        Ok(())
    } else {
        Err(Error::shape(
            layer,
            format!("{tensor} has shape {shape:?} but {want:?} was expected"),
        ))
    }
}

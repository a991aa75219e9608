//! One file per layer family: its parameters (validated, with output shape
//! and FLOPs) and its GPU forward, which appends steps to a plan.

/// The files of shaders/ named, concatenated in order into one module's
/// source (a float16 kernel: its storage file, then the kernel).
macro_rules! shaders {
    ($($file:literal),+) => {
        concat!($(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file))),+)
    };
}

pub mod add;
pub mod attention;
pub mod batchnorm;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod convert_f16;
pub mod elementwise;
pub mod layer;
pub mod layernorm;
pub mod matmul;
pub mod pool2d;
pub mod pool2d_f16;
pub mod positional;
pub mod quadrants;
pub mod reduce;
pub mod rnn;
pub mod rows_f16;
pub mod softmax;
pub mod strided;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel};
use crate::tensor::Tensor;

/// `Error::Argument` for the native path without SHADER_F16, `Error::Shape`
/// for a tensor that is not float16.
pub(crate) fn expect_f16(
    gpu: &Gpu,
    layer: &str,
    op: &str,
    path: crate::dtype::F16Path,
    tensors: &[(&str, &Tensor)],
) -> Result<()> {
    if path == crate::dtype::F16Path::Native
        && !gpu.device.features().contains(wgpu::Features::SHADER_F16)
    {
        return Err(Error::arg(
            "--f16-path native",
            format!("{} has no SHADER_F16; use the packed path", gpu.info.name),
        ));
    }
    for (name, t) in tensors {
        if t.dtype != DType::F16 {
            return Err(Error::shape(
                layer,
                format!(
                    "{name} is {} but this {op} reads float16; upload it with Tensor::upload_f16",
                    t.dtype.name()
                ),
            ));
        }
    }
    Ok(())
}

/// On CPU adapters (llvmpipe, lavapipe) the texture rungs (matmul `tex`,
/// conv2d `tex`, attention `fused_tex`) are the default only for ops of at
/// least this many FLOPs. LLVM compiles each of them in ~0.7-4 s the first
/// time (once more for each new texture shape class; Mesa caches the
/// result on disk), against 20-150 ms for the storage-buffer rungs, and
/// below ~256 MFLOP the ~3x faster run saves only milliseconds: the first
/// run of the exercise report went from 18 s to about 1 s with this rule.
/// A `--kernel` still selects them at any size; a tuned pick (timed at
/// 0.27 GFLOP and more) applies to ops from this size on.
pub const CPU_TEX_MIN_FLOPS: u64 = 256_000_000;

/// On CPU adapters products below this many FLOPs take the naive rung:
/// it compiles in ~70 ms against ~250-300 ms for each variant of the
/// register-blocked ones (lavapipe, first run), and runs such a product in
/// well under a millisecond.
pub const CPU_NAIVE_MAX_FLOPS: u64 = 16_000_000;

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

/// `t` as the u32 words a kernel binding both element types reads (the
/// float16 conversions, the float16 strided maps): the plan's dtype check
/// compares each binding with the kernel's, so a float16 operand is bound
/// under the kernel's float32 name, and the shader reads both as words.
pub(crate) fn as_words(t: &Tensor) -> Tensor {
    Tensor {
        dtype: DType::F32,
        ..t.clone()
    }
}

/// A read-only storage binding named `name` for the whole of `t`.
pub fn read(name: &str, t: &Tensor) -> Binding {
    Binding {
        name: name.to_string(),
        buffer: t.buffer.clone(),
        writes: false,
        range: None,
        texture: None,
        dtype: t.dtype,
    }
}

/// A read-write storage binding named `name` for the whole of `t`.
pub fn write(name: &str, t: &Tensor) -> Binding {
    Binding {
        name: name.to_string(),
        buffer: t.buffer.clone(),
        writes: true,
        range: None,
        texture: None,
        dtype: t.dtype,
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
    kernel_as(family, source, entry, DType::F32)
}

/// A kernel whose storage bindings hold float16 (see [`crate::dtype`]).
pub(crate) const fn kernel_f16(
    family: &'static str,
    source: &'static str,
    entry: &'static str,
) -> Kernel {
    kernel_as(family, source, entry, DType::F16)
}

const fn kernel_as(
    family: &'static str,
    source: &'static str,
    entry: &'static str,
    dtype: DType,
) -> Kernel {
    Kernel {
        family,
        source,
        entry,
        dtype,
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

/// Splits a reduction of `len` items into ranges that fit both the device's
/// loop budget (an invocation runs `per_item` iterations per item plus
/// `fixed` around them) and its per-dispatch work budget (`invocations`
/// such invocations in one dispatch), so that no dispatch runs into
/// llvmpipe's loop cap or an OS watchdog. An error names the layer when
/// even one item is too much.
pub fn split_range(
    gpu: &Gpu,
    layer: &str,
    len: usize,
    per_item: u64,
    fixed: u64,
    invocations: u64,
) -> Result<Vec<(usize, usize)>> {
    let per_item = per_item.max(1);
    let by_loops = gpu.loop_budget.saturating_sub(fixed) / per_item;
    let by_work = gpu.dispatch_work_budget / invocations.max(1).saturating_mul(per_item);
    if by_loops == 0 {
        return Err(Error::shape(
            layer,
            format!(
                "one reduction step needs {} loop iterations but this adapter stops loops after {} (llvmpipe's limit); use a smaller kernel or row",
                per_item + fixed,
                gpu.loop_budget
            ),
        ));
    }
    let room = by_loops.min(by_work.max(1));
    let chunk = usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(1, len.max(1));
    Ok((0..len.div_ceil(chunk).max(1))
        .map(|i| (i * chunk, ((i + 1) * chunk).min(len)))
        .collect())
}

/// Shader flags of part `n` of `parts`: 32 = first (start from zero),
/// 64 = last (finish: bias, activation, normalisation).
pub fn part_flags(n: usize, parts: usize) -> u32 {
    (if n == 0 { 32 } else { 0 }) | (if n + 1 == parts { 64 } else { 0 })
}

/// A step's label: `layer` alone when there is one part, else
/// `layer [axis a..b]`.
pub fn part_label(layer: &str, axis: &str, a: usize, b: usize, parts: usize) -> String {
    if parts == 1 {
        layer.to_string()
    } else {
        format!("{layer} [{axis} {a}..{b}]")
    }
}

/// Refuses a kernel whose invocations would loop more than the device
/// allows (llvmpipe would silently stop them and leave wrong results).
pub fn within_loop_budget(gpu: &Gpu, layer: &str, iterations: u64, what: &str) -> Result<()> {
    if iterations > gpu.loop_budget {
        return Err(Error::shape(
            layer,
            format!("{what} needs {iterations} loop iterations per invocation but this adapter stops loops after {} (llvmpipe's limit); use smaller sizes", gpu.loop_budget),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_u32;

    #[test]
    fn tensors_a_kernel_cannot_index_are_refused() {
        assert_eq!(check_u32("x", &[4, 5]).unwrap(), 20);
        let e = check_u32("layer 2 output", &[70_000, 70_000])
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 2 output") && e.contains("2^32"), "{e}");
        assert!(check_u32("x", &[3, 0])
            .unwrap_err()
            .to_string()
            .contains("zero-sized"));
        assert!(check_u32("x", &[usize::MAX, 2])
            .unwrap_err()
            .to_string()
            .contains("more elements"));
    }
}

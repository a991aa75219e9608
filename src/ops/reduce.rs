//! Reductions, softmax and layer norm over any axis of a contiguous
//! tensor (shaders/reduce.wgsl), as whole models need them.
//! Reference: `graph::reference`.

use super::{check_u32, kernel, kernel_f16, read, workgroup_1d, write};
use crate::dtype::{DType, F16Path};
use crate::error::Result;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = shaders!("reduce_f32.wgsl", "reduce.wgsl");
const F16_PACKED: &str = shaders!(
    "f16_words_common.wgsl",
    "reduce_f16_packed.wgsl",
    "reduce.wgsl"
);
const F16_NATIVE: &str = concat!(
    "enable f16;\n",
    shaders!("reduce_f16_native.wgsl", "reduce.wgsl")
);
/// Sum, mean, max or min over the middle of [outer, n, inner].
pub const REDUCE: Kernel = kernel("reduce", SOURCE, "reduce");
/// Softmax or log-softmax over the middle of [outer, n, inner].
pub const SOFTMAX_AXIS: Kernel = kernel("reduce", SOURCE, "softmax_axis");
/// Layer norm of contiguous rows.
pub const LAYERNORM_ROWS: Kernel = kernel("reduce", SOURCE, "layernorm_rows");
/// The three entries on float16 storage read as u32 words (every
/// adapter): reduce, softmax_axis, layernorm_rows; float32 arithmetic,
/// each output rounded once.
pub const F16_PACKED_ENTRIES: [Kernel; 3] = [
    kernel_f16("reduce_f16_packed", F16_PACKED, "reduce"),
    kernel_f16("reduce_f16_packed", F16_PACKED, "softmax_axis"),
    kernel_f16("reduce_f16_packed", F16_PACKED, "layernorm_rows"),
];
/// The three entries on float16 storage read as WGSL `f16` (SHADER_F16).
pub const F16_NATIVE_ENTRIES: [Kernel; 3] = [
    kernel_f16("reduce_f16_native", F16_NATIVE, "reduce"),
    kernel_f16("reduce_f16_native", F16_NATIVE, "softmax_axis"),
    kernel_f16("reduce_f16_native", F16_NATIVE, "layernorm_rows"),
];

/// Twin of `ReduceParams` in shaders/reduce.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReduceParams {
    /// Invocations: outer * inner (rows for layer norm).
    pub total: u32,
    /// Elements reduced per invocation.
    pub n: u32,
    /// Stride between them (1 for layer norm).
    pub inner: u32,
    /// reduce: 0 sum, 1 mean, 2 max, 3 min; softmax: 1 for log-softmax.
    pub mode: u32,
    /// Layer norm's epsilon.
    pub eps: f32,
    /// Padding; always 0.
    pub _pad: [u32; 3],
}

/// The kinds of step this family appends.
#[derive(Debug, Clone, Copy)]
pub enum RowOp {
    /// `reduce` with its mode.
    Reduce(u32),
    /// `softmax_axis`, log-softmax when true.
    Softmax(bool),
    /// `layernorm_rows` with its epsilon.
    LayerNorm(f32),
}

/// Appends one step over x viewed as [outer, n, inner], writing a fresh
/// y of `out` shape (NaN-poisoned until the plan runs). `gamma` and `beta`
/// are layer norm's (placeholders otherwise). With `half`, x, gamma, beta
/// and y are float16 read along that path, arithmetic float32 and each
/// output rounded once.
///
/// # Errors
///
/// [`Error::Shape`](crate::Error::Shape) when a tensor has more than
/// 2^32 elements or a row is longer than the adapter's loop budget;
/// allocation errors for y.
#[allow(clippy::too_many_arguments)]
pub fn rows_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    op: RowOp,
    x: &Tensor,
    dims: [usize; 3],
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    out: &[usize],
    half: Option<F16Path>,
) -> Result<Tensor> {
    let [outer, n, inner] = dims;
    check_u32(layer, &x.shape)?;
    check_u32(layer, out)?;
    super::within_loop_budget(gpu, layer, 3 * n as u64, &format!("a row of {n}"))?;
    let dtype = DType::stored_for(half);
    let y = Tensor::poisoned_as(gpu, &format!("{layer} output"), out, dtype)?;
    let placeholder = Tensor::placeholder_as(gpu, dtype)?;
    let entries = match half {
        None => [REDUCE, SOFTMAX_AXIS, LAYERNORM_ROWS],
        Some(F16Path::Packed) => F16_PACKED_ENTRIES,
        Some(F16Path::Native) => F16_NATIVE_ENTRIES,
    };
    let (kernel, mode, eps, total) = match op {
        RowOp::Reduce(m) => (entries[0], m, 0.0, outer * inner),
        RowOp::Softmax(log) => (entries[1], u32::from(log), 0.0, outer * inner),
        RowOp::LayerNorm(e) => (entries[2], 0, e, outer),
    };
    let params = ReduceParams {
        total: super::u(total),
        n: super::u(n),
        inner: super::u(inner),
        mode,
        eps,
        _pad: [0; 3],
    };
    let bindings = match op {
        RowOp::LayerNorm(_) => vec![
            read("x", x),
            read("gamma", gamma.unwrap_or(&placeholder)),
            read("beta", beta.unwrap_or(&placeholder)),
            write("y", &y),
        ],
        _ => vec![
            read("x", x),
            read("-", &placeholder),
            read("-", &placeholder),
            write("y", &y),
        ],
    };
    let elements = (outer * n * inner) as u64;
    plan.push(Step {
        label: layer.to_string(),
        kernel,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings,
        invocations: total as u64,
        workgroup_size: workgroup_1d(gpu),
        flops: match op {
            RowOp::Reduce(_) => elements,
            RowOp::Softmax(_) => 5 * elements,
            RowOp::LayerNorm(_) => 8 * elements,
        },
        bytes_moved: dtype.bytes(elements as usize + y.numel()),
    });
    Ok(y)
}

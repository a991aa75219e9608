//! Softmax and layer norm over the last axis on float16 storage
//! (`--dtype f16`), float32 arithmetic, float32 statistics between the two
//! steps (shaders/rows_f16.wgsl). References: `cpu::softmax` and
//! `cpu::layernorm` on the float16 inputs, then `cpu::half::stored_f16`.

pub use super::layernorm::EPS;
use super::softmax::Mask;
use super::{expect_f16, expect_shape, kernel_f16, read, u, workgroup_1d, write};
use crate::dtype::{DType, F16Path};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const PACKED: &str = shaders!("f16_packed.wgsl", "rows_f16.wgsl");
const NATIVE: &str = concat!(
    "enable f16;\n",
    shaders!("f16_native.wgsl", "rows_f16.wgsl")
);

/// Float16 read as u32 words (every adapter); override `PHASE` 0 finds
/// each row's statistics, 1 applies them, one output word per invocation.
pub const ROWS_PACKED: Kernel = kernel_f16("rows_f16_packed", PACKED, "rows_f16");
/// Float16 read as WGSL `f16` (SHADER_F16), phases as [`ROWS_PACKED`].
pub const ROWS_NATIVE: Kernel = kernel_f16("rows_f16_native", NATIVE, "rows_f16");

/// Twin of `RowsParams` in shaders/rows_f16.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RowsParams {
    rows: u32,
    cols: u32,
    queries: u32,
    heads: u32,
    flags: u32,
    eps: f32,
    words: u32,
    _pad: u32,
}

const LAYER_NORM: u32 = 4;

/// Softmax over the last axis of float16 scores [B, H, L, S], with
/// [`Mask`]'s causal and key-padding masks (the key mask float16 too, 0 =
/// hidden); a row with every entry masked becomes zeros. Returns the
/// probabilities, a new float16 tensor, NaN-poisoned until the plan runs.
///
/// # Errors
///
/// [`Error::Shape`] for scores that are not 4-D or not float16, a mask of
/// the wrong shape, or a row longer than one invocation may loop here
/// (llvmpipe's loop budget); [`Error::Argument`] for the native path on an
/// adapter without `SHADER_F16`.
pub fn softmax_f16_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    mask: &Mask,
    path: F16Path,
) -> Result<Tensor> {
    let [b, h, l, s] = super::softmax::scores_dims(layer, x)?;
    let mut tensors = vec![("scores", x)];
    if let Some(k) = mask.keys {
        expect_shape(layer, "key-padding mask", &k.shape, &[b, s])?;
        tensors.push(("key-padding mask", k));
    }
    expect_f16(gpu, layer, "softmax", path, &tensors)?;
    let flags = u32::from(mask.causal) | (u32::from(mask.keys.is_some()) << 1);
    let params = RowsParams {
        queries: u(l),
        heads: u(h),
        flags,
        ..params_of(layer, x, s)?
    };
    rows_steps(gpu, plan, layer, x, [mask.keys, None], params, path)
}

/// `nn.LayerNorm(D, eps)` (biased variance; PyTorch's default eps is
/// [`EPS`], 1e-5; torchvision's ViT uses 1e-6) over the last axis of a
/// float16 `x` of any rank, `gamma` and `beta` float16 `[D]`. Returns y, a
/// new float16 tensor of `x`'s shape, NaN-poisoned until the plan runs.
///
/// # Errors
///
/// As [`softmax_f16_forward`], for `x`, `gamma` and `beta`.
pub fn layernorm_f16_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    path: F16Path,
) -> Result<Tensor> {
    let d = super::layernorm::layernorm_dims(layer, x, gamma, beta)?;
    let tensors = [("x", x), ("gamma", gamma), ("beta", beta)];
    expect_f16(gpu, layer, "layer norm", path, &tensors)?;
    let params = RowsParams {
        flags: LAYER_NORM,
        eps,
        ..params_of(layer, x, d)?
    };
    rows_steps(gpu, plan, layer, x, [Some(gamma), Some(beta)], params, path)
}

/// Rows and words of `x` with rows of `cols`; the rest zero.
fn params_of(layer: &str, x: &Tensor, cols: usize) -> Result<RowsParams> {
    if cols == 0 {
        return Err(Error::shape(layer, "the last axis is empty"));
    }
    Ok(RowsParams {
        rows: u(x.numel() / cols),
        cols: u(cols),
        queries: 1,
        heads: 1,
        flags: 0,
        eps: 0.0,
        words: u(x.numel().div_ceil(2)),
        _pad: 0,
    })
}

/// The two steps: statistics per row, then the output per word.
fn rows_steps(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    operands: [Option<&Tensor>; 2],
    params: RowsParams,
    path: F16Path,
) -> Result<Tensor> {
    let cols = params.cols as usize;
    // Two or three passes over the row in one invocation.
    if 3 * cols as u64 + 16 > gpu.loop_budget {
        return Err(Error::shape(
            layer,
            format!(
                "a row of {cols} is longer than one float16 invocation may loop here ({} iterations); use --dtype f32",
                gpu.loop_budget
            ),
        ));
    }
    let placeholder = Tensor {
        dtype: DType::F16,
        ..Tensor::placeholder(gpu)?
    };
    let [b16, bias16] = operands.map(|t| t.cloned().unwrap_or_else(|| placeholder.clone()));
    let rows = params.rows as usize;
    // Two float32s per row, held as four float16s (the kernel's dtype).
    let stats = Tensor::poisoned_f16(gpu, &format!("{layer} row statistics"), &[rows, 4])?;
    plan.scratch.push(stats.buffer.clone());
    let y = Tensor::poisoned_f16(gpu, &format!("{layer} output"), &x.shape)?;
    let native = path == F16Path::Native;
    let kernel = if native { ROWS_NATIVE } else { ROWS_PACKED };
    let tag = if native { "native" } else { "packed" };
    let bindings = || {
        vec![
            read("x", x),
            read("mask or gamma", &b16),
            read("beta", &bias16),
            write("y", &y),
            write("row statistics", &stats),
        ]
    };
    let n = x.numel() as u64;
    plan.push(Step {
        label: format!("{layer} (f16 {tag}: row statistics)"),
        kernel,
        overrides: vec![("PHASE", 0.0)],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: bindings(),
        invocations: rows as u64,
        workgroup_size: workgroup_1d(gpu),
        flops: 3 * n,
        bytes_moved: 4 * n + 8 * rows as u64,
    });
    plan.push(Step {
        label: format!("{layer} (f16 {tag})"),
        kernel,
        overrides: vec![("PHASE", 1.0)],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: bindings(),
        invocations: u64::from(params.words),
        workgroup_size: workgroup_1d(gpu),
        flops: 3 * n,
        bytes_moved: 4 * n + 8 * rows as u64,
    });
    Ok(y)
}

//! Fused scaled dot-product attention on float16 storage (`--dtype f16`):
//! Q, K, V (and the key mask) float16, the online softmax's state and the
//! output's sums in float32, the output rounded to float16 once
//! (shaders/attention_f16.wgsl). Reference: `cpu::attention::sdpa` on the
//! float16 inputs, then `cpu::half::stored_f16`.

use super::sdpa_shape;
use crate::dtype::{DType, F16Path};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::ops::softmax::Mask;
use crate::ops::{expect_f16, expect_shape, kernel_f16, read, u, workgroup_1d, write};
use crate::tensor::Tensor;

/// Float16 read as u32 words (every adapter).
pub const ATTENTION_PACKED: Kernel = kernel_f16(
    "attention_f16_packed",
    shaders!("attention_f16_packed.wgsl", "attention_f16.wgsl"),
    "attention_f16",
);
/// Float16 read as WGSL `f16` (SHADER_F16).
pub const ATTENTION_NATIVE: Kernel = kernel_f16(
    "attention_f16_native",
    concat!(
        "enable f16;\n",
        shaders!("attention_f16_native.wgsl", "attention_f16.wgsl")
    ),
    "attention_f16",
);

/// The largest head the kernel holds in registers (DMAX in the shader).
pub const MAX_HEAD_DIM: usize = 128;

/// From this many FLOPs of its core (QK^T and PV) float16 attention on a
/// CPU adapter takes the texture rung: far below float32's
/// `CPU_TEX_MIN_FLOPS`, as the float16 storage kernel is the slow one
/// there (lavapipe, h=8 d=64 L=128: 24.8 ms against fused_tex's 2.3 in
/// float32).
pub const CPU_F16_TEX_MIN_FLOPS: u64 = 1_000_000;

/// Whether float16 attention takes the texture rung (`fused_tex` on
/// float16 storage): where the plan or device forces it, or untold on a
/// CPU adapter from [`CPU_F16_TEX_MIN_FLOPS`], and where the adapter can
/// run it (subgroups of one size, a head size that is a multiple of 4).
pub fn takes_tex(gpu: &Gpu, plan: &Plan, sh: &super::AttentionShape) -> bool {
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let wanted = match gpu.choice(plan).attention {
        Some(r) => r == crate::rung::AttentionRung::FusedTex,
        None => cpu && sh.core_flops() >= CPU_F16_TEX_MIN_FLOPS,
    };
    wanted && super::tex::unsupported(gpu, sh).is_none()
}

/// Twin of `AttentionF16Params` in shaders/attention_f16.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AttentionF16Params {
    batch: u32,
    heads: u32,
    queries: u32,
    keys: u32,
    head_dim: u32,
    flags: u32,
    scale: f32,
    _pad: u32,
}

/// softmax(Q K^T / sqrt(d) + mask) V per head on float16 Q [B, L, H*d], K
/// and V [B, S, H*d] (the key-padding mask float16 [B, S], 0 = hidden);
/// returns O [B, L, H*d], a new float16 tensor, NaN-poisoned until the
/// plan runs.
///
/// # Errors
///
/// [`Error::Shape`] for shapes that disagree, a tensor that is not
/// float16, an odd head size or one above [`MAX_HEAD_DIM`], or more keys
/// than one invocation may loop over here (llvmpipe's loop budget);
/// [`Error::Argument`] for the native path on an adapter without
/// `SHADER_F16`.
#[allow(clippy::too_many_arguments)]
pub fn sdpa_f16_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    heads: usize,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Mask,
    path: F16Path,
) -> Result<Tensor> {
    let sh = sdpa_shape(layer, q, k, v, heads)?;
    let mut tensors = vec![("Q", q), ("K", k), ("V", v)];
    if let Some(m) = mask.keys {
        expect_shape(layer, "key-padding mask", &m.shape, &[sh.batch, sh.keys])?;
        tensors.push(("key-padding mask", m));
    }
    expect_f16(gpu, layer, "attention", path, &tensors)?;
    // The texture rung has its own limits (`tex::unsupported`).
    if takes_tex(gpu, plan, &sh) {
        let o = Tensor::poisoned_f16(gpu, &format!("{layer} output"), &q.shape)?;
        super::tex::attention_tex(gpu, plan, layer, &sh, q, k, v, mask, &o, Some(path))?;
        return Ok(o);
    }
    let d = sh.head_dim;
    if d % 2 == 1 || d > MAX_HEAD_DIM {
        return Err(Error::shape(
            layer,
            format!("float16 attention takes an even head size up to {MAX_HEAD_DIM}, got {d}; use --dtype f32"),
        ));
    }
    let per_lane = (sh.keys * (2 * d + 2) + 2 * d + 16) as u64;
    if per_lane > gpu.loop_budget {
        return Err(Error::shape(
            layer,
            format!(
                "{} keys of {d} features are more than one float16 invocation may loop over here ({} iterations); use --dtype f32",
                sh.keys, gpu.loop_budget
            ),
        ));
    }
    for t in [q, k, v] {
        crate::ops::check_u32(layer, &t.shape)?;
    }
    let key_mask = match mask.keys {
        Some(m) => m.clone(),
        None => Tensor::placeholder_as(gpu, DType::F16)?,
    };
    let o = Tensor::poisoned_f16(gpu, &format!("{layer} output"), &q.shape)?;
    let rows = sh.batch * sh.heads * sh.queries;
    let params = AttentionF16Params {
        batch: u(sh.batch),
        heads: u(sh.heads),
        queries: u(sh.queries),
        keys: u(sh.keys),
        head_dim: u(d),
        flags: u32::from(mask.causal) | (u32::from(mask.keys.is_some()) << 1),
        scale: 1.0 / (d as f32).sqrt(),
        _pad: 0,
    };
    let native = path == F16Path::Native;
    plan.push(Step {
        label: format!("{layer} (f16 {})", if native { "native" } else { "packed" }),
        kernel: if native {
            ATTENTION_NATIVE
        } else {
            ATTENTION_PACKED
        },
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("Q", q),
            read("K", k),
            read("V", v),
            read("key mask", &key_mask),
            write("O", &o),
        ],
        invocations: rows as u64,
        workgroup_size: workgroup_1d(gpu),
        flops: (4 * rows * sh.keys * d) as u64,
        bytes_moved: 2 * (q.numel() + rows * sh.keys * 2 * d + o.numel()) as u64,
    });
    Ok(o)
}

//! The attention ladder's shared-memory rung (`flash`): FlashAttention-2's
//! blocking in f32 (shaders/attention_flash.wgsl). A workgroup of 128 owns
//! 32 query rows of one head, K and V pass through workgroup memory 64 keys
//! at a time, and every product is a 4 x 4 register block. Built for GPUs
//! whose workgroup memory is fast (NVIDIA, AMD, Apple); on CPU adapters the
//! barriers are coroutine switches and `fused_tex` is the better rung.

use super::params::{AttentionParams, AttentionShape};
use crate::error::Result;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::ops::softmax::Mask;
use crate::ops::{check_u32, kernel, read, write};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/shaders/attention_flash.wgsl"
));
/// Entry point `attention_flash` of attention_flash.wgsl: FlashAttention-2
/// blocking (32 query rows per workgroup of 128, key tiles of 64).
pub const FLASH: Kernel = kernel("attention_flash", SOURCE, "attention_flash");

/// Query rows per workgroup, keys per tile, threads (BR, BC in the shader).
const ROWS: usize = 32;
const KEYS: usize = 64;
const THREADS: u32 = 128;
/// Workgroup memory the kernel declares: Q^T, the K/V tile, P^T.
const SHARED_BYTES: u32 = 32 * 1024;
/// Largest head size the flash kernel takes (it also needs a multiple of 4).
pub const MAX_HEAD_DIM: usize = 64;

/// Loop iterations per invocation: per tile the QK^T features, the row
/// partials (twice) and the PV keys; a few stores around them.
fn loop_iterations(sh: &AttentionShape) -> u64 {
    let tiles = sh.keys.div_ceil(KEYS) as u64;
    tiles * (sh.head_dim + 2 * 16 + KEYS + 8) as u64 + 32
}

/// Why this rung cannot run `sh` on this device, if it cannot (the caller
/// then falls back to `fused`, which also splits long key ranges).
pub fn unsupported(gpu: &Gpu, sh: &AttentionShape) -> Option<String> {
    let groups = (sh.batch * sh.heads * sh.queries.div_ceil(ROWS)) as u64;
    if !sh.head_dim.is_multiple_of(4) || sh.head_dim > MAX_HEAD_DIM {
        Some(format!(
            "head size {} is not a multiple of 4 up to {MAX_HEAD_DIM}",
            sh.head_dim
        ))
    } else if gpu.limits.max_compute_workgroup_storage_size < SHARED_BYTES {
        Some(format!(
            "it needs {SHARED_BYTES} bytes of workgroup memory and the device allows {}",
            gpu.limits.max_compute_workgroup_storage_size
        ))
    } else if gpu.limits.max_compute_invocations_per_workgroup < THREADS {
        Some(format!("it needs workgroups of {THREADS} invocations"))
    } else if loop_iterations(sh) > gpu.loop_budget
        || loop_iterations(sh).saturating_mul(groups * u64::from(THREADS))
            > gpu.dispatch_work_budget
    {
        Some(format!(
            "{} keys are too many for one dispatch on this device",
            sh.keys
        ))
    } else {
        None
    }
}

/// Appends fused attention of Q [B, L, H*d] against K, V [B, S, H*d] into
/// the (poisoned) `out`; the caller has checked `unsupported`.
#[allow(clippy::too_many_arguments)]
pub fn attention_flash(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    sh: &AttentionShape,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Mask,
    out: &Tensor,
) -> Result<()> {
    check_u32(layer, &q.shape)?;
    check_u32(layer, &k.shape)?;
    if sh.queries == 0 || sh.batch * sh.heads == 0 {
        return Ok(());
    }
    let key_mask = match mask.keys {
        Some(m) => m.clone(),
        None => Tensor::placeholder(gpu)?,
    };
    let q_blocks = sh.queries.div_ceil(ROWS);
    let groups = (sh.batch * sh.heads * q_blocks) as u64;
    let params = AttentionParams::new(sh, mask, q_blocks);
    plan.push(Step {
        label: format!("{layer} fused (flash)"),
        kernel: FLASH,
        overrides: vec![("HD", sh.head_dim as f64)],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("Q", q),
            read("K", k),
            read("V", v),
            read("key mask", &key_mask),
            write("O", out),
        ],
        invocations: groups * u64::from(THREADS),
        workgroup_size: THREADS,
        flops: sh.core_flops(),
        bytes_moved: 4 * (q.numel() + k.numel() + v.numel() + out.numel()) as u64,
    });
    Ok(())
}

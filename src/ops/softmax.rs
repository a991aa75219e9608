//! Row softmax with causal and key-padding masks. Reference: `cpu::softmax`.
//! A row whose every entry is masked becomes all zeros (PyTorch gives NaN):
//! attention to nothing contributes nothing.

use super::{check_u32, kernel, read, u, write};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::rung::SoftmaxRung;
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/softmax.wgsl");
/// Entry point `softmax_rows`: one row per workgroup, max and sum reduced
/// in workgroup memory.
pub const ROWS: Kernel = kernel("softmax", SOURCE, "softmax_rows");
/// Entry point `softmax_lanes`: one row per invocation, no workgroup memory
/// or barriers (faster on CPU adapters).
pub const LANES: Kernel = kernel("softmax", SOURCE, "softmax_lanes");

/// Twin of the `SoftmaxParams` uniform in shaders/softmax.wgsl (same field
/// order).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxParams {
    /// Rows to normalise (B x H x L for attention scores).
    pub rows: u32,
    /// Entries per row (keys S); the softmax runs along this axis (`dim=-1`).
    pub cols: u32,
    /// Queries L: row r is query r % L, for the causal mask.
    pub queries: u32,
    /// Heads H: row r belongs to batch r / (L H), for the key-padding mask.
    pub heads: u32,
    /// Bit flags: 1 causal, 2 key-padding mask.
    pub flags: u32,
    /// Padding to a 16-byte multiple (`_p0`.. `_p2` in the shader).
    pub _pad: [u32; 3],
}

/// Which scores a softmax hides (like `F.scaled_dot_product_attention`'s
/// `is_causal` and `attn_mask`); hidden entries get probability 0.
#[derive(Debug, Clone, Default)]
pub struct Mask<'a> {
    /// Key j is hidden from query i when j > i.
    pub causal: bool,
    /// [B, S]: 0 hides key j of batch b from every query.
    pub keys: Option<&'a Tensor>,
}

/// A power-of-two workgroup size (the reductions halve it) that the device allows.
pub fn workgroup_pow2(gpu: &Gpu, want: u32) -> u32 {
    let max = gpu
        .limits
        .max_compute_invocations_per_workgroup
        .min(gpu.limits.max_compute_workgroup_size_x)
        .max(1);
    let mut wg = 1;
    while wg * 2 <= want.min(max) {
        wg *= 2;
    }
    wg
}

/// [B, H, L, S] of 4-D scores of at most 2^32 elements, or an error
/// naming the layer.
pub(crate) fn scores_dims(layer: &str, x: &Tensor) -> Result<[usize; 4]> {
    check_u32(layer, &x.shape)?;
    <[usize; 4]>::try_from(&x.shape[..]).map_err(|_| {
        Error::shape(
            layer,
            format!("softmax expects scores [B, H, L, S], got {:?}", x.shape),
        )
    })
}

/// Softmax over the last axis of scores [B, H, L, S].
pub fn softmax_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    mask: &Mask,
) -> Result<Tensor> {
    let [b, h, l, s] = scores_dims(layer, x)?;
    let key_mask = match mask.keys {
        Some(k) => {
            super::expect_shape(layer, "key-padding mask", &k.shape, &[b, s])?;
            k.clone()
        }
        None => Tensor::placeholder(gpu)?,
    };
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &x.shape)?;
    let rows = b * h * l;
    // CPU adapters: a row per invocation (barriers are coroutine switches
    // there) when its three passes fit the loop budget; else a row per
    // workgroup with tree reductions.
    let fits = 3 * s as u64 <= gpu.loop_budget;
    let lanes = fits
        && match gpu.choice(plan).softmax {
            Some(SoftmaxRung::Lanes) => true,
            Some(SoftmaxRung::Rows) => false,
            _ => gpu.info.device_type == wgpu::DeviceType::Cpu,
        };
    let wg = if lanes {
        super::workgroup_1d(gpu)
    } else {
        workgroup_pow2(gpu, 64)
    };
    let per_lane = 3 * s.div_ceil(wg as usize) as u64 + 2 * u64::from(wg.ilog2());
    if !lanes {
        super::within_loop_budget(gpu, layer, per_lane, &format!("a softmax row of {s}"))?;
    }
    let params = SoftmaxParams {
        rows: u(rows),
        cols: u(s),
        queries: u(l),
        heads: u(h),
        flags: u32::from(mask.causal) | (u32::from(mask.keys.is_some()) << 1),
        _pad: [0; 3],
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: if lanes { LANES } else { ROWS },
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("scores", x),
            read("key mask", &key_mask),
            write("probs", &y),
        ],
        invocations: if lanes {
            rows as u64
        } else {
            rows as u64 * u64::from(wg)
        },
        workgroup_size: wg,
        flops: 4 * x.numel() as u64,
        bytes_moved: 8 * x.numel() as u64,
    });
    Ok(y)
}

//! Scaled dot-product attention's shape and paths, and the uniform struct
//! its kernels read.

use crate::ops::softmax::Mask;
use crate::ops::u;

pub use crate::rung::AttentionPath;

impl AttentionPath {
    /// The path's name as the CLI and reports spell it (`composed`, `fused`).
    pub fn name(self) -> &'static str {
        match self {
            AttentionPath::Composed => "composed",
            AttentionPath::Fused => "fused",
        }
    }
}

/// Shapes of one attention call: B sequences of L queries against S keys,
/// H heads of `head_dim` features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Sequences B (PyTorch's batch dimension, `N`).
    pub batch: usize,
    /// Queries per sequence L (target length; `L` in
    /// `F.scaled_dot_product_attention`).
    pub queries: usize,
    /// Keys (and values) per sequence S (source length; `S` in
    /// `F.scaled_dot_product_attention`).
    pub keys: usize,
    /// Attention heads H (`nn.MultiheadAttention`'s `num_heads`).
    pub heads: usize,
    /// Features per head d (`embed_dim / num_heads`; `E` in
    /// `F.scaled_dot_product_attention`).
    pub head_dim: usize,
}

impl AttentionShape {
    /// Features per token across all heads, H * d (`embed_dim`).
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// QK^T and PV: 4 B H L S d.
    pub fn core_flops(&self) -> u64 {
        4 * (self.batch * self.heads) as u64 * (self.queries * self.keys * self.head_dim) as u64
    }

    /// Bytes of the B x H x L x S f32 score matrix the composed path stores.
    pub fn scores_bytes(&self) -> u64 {
        4 * (self.batch * self.heads) as u64 * self.queries as u64 * self.keys as u64
    }
}

/// Twin of the `AttentionParams` uniform in shaders/attention.wgsl (same
/// field order), shared by the fused attention kernels.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionParams {
    /// Sequences B.
    pub batch: u32,
    /// Heads H.
    pub heads: u32,
    /// Queries per sequence L.
    pub queries: u32,
    /// Keys per sequence S.
    pub keys: u32,
    /// Features per head d.
    pub head_dim: u32,
    /// Bit flags: 1 causal, 2 key-padding mask, 32 first key part, 64 last.
    /// Bits 24 and up stay zero: attention_tex.wgsl hides a loop bound there.
    pub flags: u32,
    /// Query blocks per (batch, head): workgroup w takes block w % q_blocks
    /// of (batch, head) w / q_blocks.
    pub q_blocks: u32,
    /// Score scale, 1/sqrt(d).
    pub scale: f32,
    /// First key this dispatch folds in.
    pub k0: u32,
    /// One past the last key this dispatch folds in.
    pub k1: u32,
    /// Padding to a 16-byte multiple (`_p0`, `_p1` in the shader).
    pub _pad: [u32; 2],
}

impl AttentionParams {
    /// The params every fused rung shares: shape, mask flags (1 causal, 2
    /// key padding), scale 1/sqrt(d), all keys (k0 = 0, k1 = S).
    pub fn new(sh: &AttentionShape, mask: &Mask, q_blocks: usize) -> AttentionParams {
        AttentionParams {
            batch: u(sh.batch),
            heads: u(sh.heads),
            queries: u(sh.queries),
            keys: u(sh.keys),
            head_dim: u(sh.head_dim),
            flags: u32::from(mask.causal) | (u32::from(mask.keys.is_some()) << 1),
            q_blocks: u(q_blocks),
            scale: 1.0 / (sh.head_dim as f32).sqrt(),
            k0: 0,
            k1: u(sh.keys),
            _pad: [0; 2],
        }
    }
}

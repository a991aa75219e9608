//! Scaled dot-product attention's shape and paths, and the uniform struct
//! its kernels read.

use crate::ops::softmax::Mask;
use crate::ops::u;

pub use crate::rung::AttentionPath;

impl AttentionPath {
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
    pub batch: usize,
    pub queries: usize,
    pub keys: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl AttentionShape {
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// QK^T and PV: 4 B H L S d.
    pub fn core_flops(&self) -> u64 {
        4 * (self.batch * self.heads) as u64 * (self.queries * self.keys * self.head_dim) as u64
    }

    pub fn scores_bytes(&self) -> u64 {
        4 * (self.batch * self.heads) as u64 * self.queries as u64 * self.keys as u64
    }
}

/// Twin of `AttentionParams` in shaders/attention.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionParams {
    pub batch: u32,
    pub heads: u32,
    pub queries: u32,
    pub keys: u32,
    pub head_dim: u32,
    pub flags: u32,
    pub q_blocks: u32,
    pub scale: f32,
    pub k0: u32,
    pub k1: u32,
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

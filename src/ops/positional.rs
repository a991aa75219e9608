//! Positional encodings: the sinusoidal table of "Attention Is All You
//! Need", a learned table, and rotary embeddings (RoPE). Tables are made on
//! the host in f64 and rounded once to f32, so the GPU and the reference use
//! the very same numbers; the GPU work is the add (`ops::add`) or the
//! rotation (`rope_forward`). Reference: `cpu::positional`.

use super::{check_u32, kernel, read, u, workgroup_1d, write};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/rope.wgsl");
/// One invocation per rotated pair of features ([`rope_forward`]).
pub const ROPE: Kernel = kernel("rope", SOURCE, "rope");

/// PE(t, 2i) = sin(t / 10000^(2i/D)), PE(t, 2i+1) = cos(t / 10000^(2i/D)).
///
/// The table is [tokens, dim], row-major (token t's encoding is
/// `t * dim .. (t + 1) * dim`), ready to upload and add to a batch
/// [B, tokens, dim] with `ops::add::add_forward`.
///
/// ```
/// let pe = wgsl_nn::ops::positional::sinusoidal_table(2, 4);
/// assert_eq!(pe.len(), 8);
/// assert_eq!(pe[..4], [0.0, 1.0, 0.0, 1.0]); // position 0: sin 0, cos 0
/// ```
pub fn sinusoidal_table(tokens: usize, dim: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; tokens * dim];
    for pos in 0..tokens {
        for j in 0..dim {
            let i2 = (j / 2 * 2) as f64;
            let angle = pos as f64 / 10000f64.powf(i2 / dim as f64);
            t[pos * dim + j] = if j % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    t
}

/// RoPE's cos and sin tables [tokens, head_dim/2], base 10000: entry
/// (t, q) is the cos (sin) of t / 10000^(2q/head_dim), the angle by which
/// [`rope_forward`] turns the pair (q, q + head_dim/2) at position t.
pub fn rope_tables(tokens: usize, head_dim: usize) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let (mut c, mut s) = (vec![0.0f32; tokens * half], vec![0.0f32; tokens * half]);
    for pos in 0..tokens {
        for q in 0..half {
            let angle = pos as f64 / 10000f64.powf(2.0 * q as f64 / head_dim as f64);
            c[pos * half + q] = angle.cos() as f32;
            s[pos * half + q] = angle.sin() as f32;
        }
    }
    (c, s)
}

/// The uniform params of a RoPE step: twin of `RopeParams` in
/// shaders/rope.wgsl (binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RopeParams {
    /// Feature pairs rotated, half of x's elements (B * T * H * d/2);
    /// invocations at or past it return.
    pub pairs_total: u32,
    /// Sequence length T: a row's position is its row index modulo T.
    pub tokens: u32,
    /// Heads H the features of a token are split into.
    pub heads: u32,
    /// Features per head d (even); feature q pairs with q + d/2.
    pub head_dim: u32,
}

/// Rotates every head of x [B, T, H*d] by position; tables cover >= T tokens.
///
/// The "rotate half" convention (GPT-NeoX, LLaMA): in each head, features
/// q and q + d/2 turn together by the angle of position t, read from `cos`
/// and `sin` ([`rope_tables`] for d, uploaded; [T', d/2] with T' >= T, any
/// shape of that many elements). One step; returns y, of `x`'s shape,
/// NaN-poisoned until the plan runs.
///
/// # Errors
///
/// [`Error::Shape`] when `x` is not 3-D, `heads` is 0 or does not divide
/// the width into even head sizes, the tables are shorter than T * d/2 or
/// differ in length, or `x` has more than 2^32 elements; [`Error::TooLarge`]
/// or a device error when y cannot be allocated.
pub fn rope_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    heads: usize,
    cos: &Tensor,
    sin: &Tensor,
) -> Result<Tensor> {
    let [_, t, width] = <[usize; 3]>::try_from(&x.shape[..]).map_err(|_| {
        Error::shape(
            layer,
            format!("RoPE expects [B, T, H*d], got {:?}", x.shape),
        )
    })?;
    if heads == 0 || width % heads != 0 || !(width / heads).is_multiple_of(2) {
        return Err(Error::shape(
            layer,
            format!("RoPE needs an even head size; width {width} over {heads} heads is not"),
        ));
    }
    let half = width / heads / 2;
    if cos.numel() < t * half || sin.numel() != cos.numel() {
        return Err(Error::shape(
            layer,
            format!(
                "RoPE tables cover {} positions but the sequence has {t}",
                cos.numel() / half.max(1)
            ),
        ));
    }
    let pairs = check_u32(layer, &x.shape)? / 2;
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &x.shape)?;
    let params = RopeParams {
        pairs_total: pairs,
        tokens: u(t),
        heads: u(heads),
        head_dim: u(2 * half),
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: ROPE,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("x", x),
            read("cos", cos),
            read("sin", sin),
            write("y", &y),
        ],
        invocations: u64::from(pairs),
        workgroup_size: workgroup_1d(gpu),
        flops: 6 * u64::from(pairs),
        bytes_moved: 16 * u64::from(pairs),
    });
    Ok(y)
}

//! Scaled dot-product attention, multi-head, with Q/K/V/output projections;
//! self- or cross-attention, optional causal and key-padding masks, optional
//! RoPE. Two GPU paths: `Composed` (QK^T into an [B, H, L, S] score buffer,
//! softmax, times V) and `Fused` (online softmax over K/V tiles; the scores
//! are never stored). Reference: `cpu::attention`.

pub mod flash;
pub mod half;
mod params;
pub mod tex;

pub use params::*;

use super::matmul::{linear, matmul_into, Activation, Matmul, View};
use super::positional::rope_forward;
use super::softmax::{softmax_forward, Mask};
use super::{check_u32, kernel, part_flags, part_label, read, split_range, u, write};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::rung::{AttentionRung, Rung};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/shaders/attention.wgsl"
));
/// The scalar fused path: entry point `attention_fused` of attention.wgsl
/// (online softmax over key tiles, any head size).
pub const FUSED: Kernel = kernel("attention", SOURCE, "attention_fused");
const SOURCE_VEC4: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/shaders/attention_vec4.wgsl"
));
/// For head sizes that are multiples of 4: the head size is a pipeline
/// constant and rows are vec4s (several times faster where it applies).
pub const FUSED_VEC4: Kernel = kernel("attention_vec4", SOURCE_VEC4, "attention_fused_vec4");
/// The fused kernel keeps a query row and its output in registers.
pub const FUSED_MAX_HEAD_DIM: usize = 128;
// The ladder itself (names, entry points, paths) is `rung::AttentionRung`.

/// Keys per tile staged in workgroup memory (TK in attention.wgsl).
const TILE_KEYS: u64 = 16;

fn sdpa_shape(
    layer: &str,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
) -> Result<AttentionShape> {
    let three = |t: &Tensor, name: &str| {
        <[usize; 3]>::try_from(&t.shape[..]).map_err(|_| {
            Error::shape(
                layer,
                format!("{name} must be [B, T, H*d], got {:?}", t.shape),
            )
        })
    };
    let ([b, l, w], [bk, s, wk], vs) = (three(q, "Q")?, three(k, "K")?, three(v, "V")?);
    if bk != b || wk != w || vs != [b, s, w] {
        return Err(Error::shape(
            layer,
            format!(
                "Q {:?}, K {:?} and V {:?} disagree",
                q.shape, k.shape, v.shape
            ),
        ));
    }
    if heads == 0 || w % heads != 0 {
        return Err(Error::shape(
            layer,
            format!("width {w} is not divisible by {heads} heads"),
        ));
    }
    Ok(AttentionShape {
        batch: b,
        queries: l,
        keys: s,
        heads,
        head_dim: w / heads,
    })
}

/// softmax(Q K^T / sqrt(d) + mask) V per head, on already-projected
/// Q [B, L, H*d], K and V [B, S, H*d]; returns [B, L, H*d].
pub fn sdpa_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    path: AttentionPath,
    heads: usize,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Mask,
) -> Result<Tensor> {
    let (out, probs) = sdpa_forward_probs(gpu, plan, layer, path, heads, q, k, v, mask)?;
    // Nothing reads the probabilities after the plan: scratch, which a
    // lean plan shares by lifetime like the scores.
    plan.scratch.extend(probs.map(|p| p.buffer));
    Ok(out)
}

/// As `sdpa_forward`; the composed path also returns its attention
/// probabilities [B, H, L, S] (the fused path never forms them: None).
#[allow(clippy::too_many_arguments)]
pub fn sdpa_forward_probs(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    path: AttentionPath,
    heads: usize,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Mask,
) -> Result<(Tensor, Option<Tensor>)> {
    let mut kept_probs = None;
    let sh = sdpa_shape(layer, q, k, v, heads)?;
    if let Some(m) = mask.keys {
        super::expect_shape(layer, "key-padding mask", &m.shape, &[sh.batch, sh.keys])?;
    }
    let scale = 1.0 / (sh.head_dim as f32).sqrt();
    let out = Tensor::poisoned(gpu, &format!("{layer} output"), &q.shape)?;
    match path {
        AttentionPath::Composed => {
            let limit = gpu.limits.max_storage_buffer_binding_size;
            if sh.scores_bytes() > limit {
                return Err(Error::TooLarge {
                    tensor: format!(
                        "{layer}: the composed path's score matrix ({} x {} heads x {} x {} floats; use the fused path, which never stores it)",
                        sh.batch, sh.heads, sh.queries, sh.keys
                    ),
                    bytes: sh.scores_bytes(),
                    limit,
                    limit_name: "max_storage_buffer_binding_size",
                });
            }
            let (b, h, l, s, d) = (sh.batch, sh.heads, sh.queries, sh.keys, sh.head_dim);
            let w = sh.width();
            let scores = Tensor::poisoned(gpu, &format!("{layer} scores"), &[b, h, l, s])?;
            plan.scratch.push(scores.buffer.clone());
            let qk = Matmul {
                m: l,
                n: s,
                k: d,
                batches: [b, h],
                trans_a: false,
                trans_b: true,
                bias: false,
                act: Activation::None,
                alpha: scale,
            };
            let per_head = |rows: usize| View {
                ld: w,
                outer: rows * w,
                inner: d,
            };
            matmul_into(
                gpu,
                plan,
                &format!("{layer} QK^T"),
                &qk,
                (q, per_head(l)),
                (k, per_head(s)),
                None,
                (
                    &scores,
                    View {
                        ld: s,
                        outer: h * l * s,
                        inner: l * s,
                    },
                ),
            )?;
            let probs = softmax_forward(gpu, plan, &format!("{layer} softmax"), &scores, mask)?;
            kept_probs = Some(probs.clone());
            let pv = Matmul {
                m: l,
                n: d,
                k: s,
                batches: [b, h],
                trans_a: false,
                trans_b: false,
                bias: false,
                act: Activation::None,
                alpha: 1.0,
            };
            matmul_into(
                gpu,
                plan,
                &format!("{layer} PV"),
                &pv,
                (
                    &probs,
                    View {
                        ld: s,
                        outer: h * l * s,
                        inner: l * s,
                    },
                ),
                (v, per_head(s)),
                None,
                (&out, per_head(l)),
            )?;
        }
        AttentionPath::Fused => {
            let pick = gpu.choice(plan).attention.or_else(|| {
                gpu.tuned_for("attention", 0)
                    .and_then(|k| AttentionRung::parse(&k).ok())
            });
            let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
            let flash = flash::unsupported(gpu, &sh).is_none()
                && match pick {
                    Some(AttentionRung::Flash) => true,
                    None => !cpu,
                    _ => false,
                };
            if flash {
                flash::attention_flash(gpu, plan, layer, &sh, q, k, v, mask, &out)?;
                return Ok((out, kept_probs));
            }
            let tex_ok = tex::unsupported(gpu, &sh).is_none();
            let tex = tex_ok
                && match pick {
                    Some(AttentionRung::FusedTex) => true,
                    // On CPU adapters it beat the other fused kernels by
                    // ~10x (llvmpipe, L=1024: BENCHMARKS.md), where it
                    // repays its compilation (`CPU_TEX_MIN_FLOPS`).
                    None => cpu && sh.core_flops() >= super::CPU_TEX_MIN_FLOPS,
                    _ => false,
                };
            if tex {
                tex::attention_tex(gpu, plan, layer, &sh, q, k, v, mask, &out, None)?;
                return Ok((out, kept_probs));
            }
            if sh.head_dim > FUSED_MAX_HEAD_DIM {
                return Err(Error::shape(layer, format!("head size {} exceeds the fused kernel's {FUSED_MAX_HEAD_DIM}; use the composed path or more heads", sh.head_dim)));
            }
            check_u32(layer, &q.shape)?;
            check_u32(layer, &k.shape)?;
            let key_mask = match mask.keys {
                Some(m) => m.clone(),
                None => Tensor::placeholder(gpu)?,
            };
            let wg = super::softmax::workgroup_pow2(gpu, 64);
            let q_blocks = sh.queries.div_ceil(wg as usize);
            let params = AttentionParams::new(&sh, mask, q_blocks);
            // Per key: a dot product and an update over d; around them the
            // query load, the tile loads and the final division.
            let d = sh.head_dim as u64;
            let parts = split_range(
                gpu,
                layer,
                sh.keys,
                2 * d + 4 + d.div_ceil(u64::from(wg)),
                3 * d + 2 * TILE_KEYS,
                (sh.batch * sh.heads * q_blocks) as u64 * u64::from(wg),
            )?;
            // Running max and sum per query row between the parts.
            let state_len = if parts.len() > 1 {
                2 * sh.batch * sh.heads * sh.queries
            } else {
                2
            };
            let vec4 = sh.head_dim % 4 == 0 && pick != Some(AttentionRung::FusedScalar);
            let state = Tensor::upload(
                gpu,
                &format!("{layer} softmax state"),
                &[state_len],
                &vec![0.0; state_len],
            )?;
            for (n, &(k0, k1)) in parts.iter().enumerate() {
                let params = AttentionParams {
                    k0: u(k0),
                    k1: u(k1),
                    flags: params.flags | part_flags(n, parts.len()),
                    ..params
                };
                plan.push(Step {
                    label: part_label(&format!("{layer} fused"), "keys", k0, k1, parts.len()),
                    kernel: if vec4 { FUSED_VEC4 } else { FUSED },
                    overrides: if vec4 {
                        vec![("HD", sh.head_dim as f64)]
                    } else {
                        vec![]
                    },
                    params: bytemuck::bytes_of(&params).to_vec(),
                    bindings: vec![
                        read("Q", q),
                        read("K", k),
                        read("V", v),
                        read("key mask", &key_mask),
                        write("O", &out),
                        write("state", &state),
                    ],
                    invocations: (sh.batch * sh.heads * q_blocks) as u64 * u64::from(wg),
                    workgroup_size: wg,
                    flops: sh.core_flops() * (k1 - k0) as u64 / sh.keys as u64,
                    bytes_moved: 4
                        * (q.numel() + (k.numel() + v.numel()) * (k1 - k0) / sh.keys + out.numel())
                            as u64,
                });
            }
        }
    }
    Ok((out, kept_probs))
}

/// Projection weights of one multi-head attention layer, on the GPU.
/// W* are `[D, D]` (input-major), b* are `[D]`.
#[derive(Debug, Clone)]
pub struct MhaTensors {
    /// Query projection weight `[D, D]` (input-major, the transpose of
    /// PyTorch's `q_proj.weight`).
    pub wq: Tensor,
    /// Query projection bias `[D]`.
    pub bq: Tensor,
    /// Key projection weight `[D, D]` (input-major).
    pub wk: Tensor,
    /// Key projection bias `[D]`.
    pub bk: Tensor,
    /// Value projection weight `[D, D]` (input-major).
    pub wv: Tensor,
    /// Value projection bias `[D]`.
    pub bv: Tensor,
    /// Output projection weight `[D, D]` (input-major, the transpose of
    /// `out_proj.weight`).
    pub wo: Tensor,
    /// Output projection bias `[D]`.
    pub bo: Tensor,
}

/// RoPE tables on the GPU, [T, d/2] each.
#[derive(Debug, Clone)]
pub struct RopeTensors {
    /// cos of each position's rotation angles, [T, d/2].
    pub cos: Tensor,
    /// sin of each position's rotation angles, [T, d/2].
    pub sin: Tensor,
}

/// Multi-head attention: queries from `xq` [B, L, D], keys and values from
/// `xkv` [B, S, D] (the same tensor for self-attention).
#[allow(clippy::too_many_arguments)]
pub fn mha_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    path: AttentionPath,
    heads: usize,
    w: &MhaTensors,
    xq: &Tensor,
    xkv: &Tensor,
    mask: &Mask,
    rope: Option<&RopeTensors>,
) -> Result<Tensor> {
    let q = linear(
        gpu,
        plan,
        &format!("{layer} Q proj"),
        xq,
        &w.wq,
        Some(&w.bq),
        Activation::None,
    )?;
    let k = linear(
        gpu,
        plan,
        &format!("{layer} K proj"),
        xkv,
        &w.wk,
        Some(&w.bk),
        Activation::None,
    )?;
    let v = linear(
        gpu,
        plan,
        &format!("{layer} V proj"),
        xkv,
        &w.wv,
        Some(&w.bv),
        Activation::None,
    )?;
    let (q, k) = match rope {
        Some(r) => (
            rope_forward(
                gpu,
                plan,
                &format!("{layer} RoPE(Q)"),
                &q,
                heads,
                &r.cos,
                &r.sin,
            )?,
            rope_forward(
                gpu,
                plan,
                &format!("{layer} RoPE(K)"),
                &k,
                heads,
                &r.cos,
                &r.sin,
            )?,
        ),
        None => (q, k),
    };
    let o = sdpa_forward(
        gpu,
        plan,
        &format!("{layer} attention"),
        path,
        heads,
        &q,
        &k,
        &v,
        mask,
    )?;
    linear(
        gpu,
        plan,
        &format!("{layer} out proj"),
        &o,
        &w.wo,
        Some(&w.bo),
        Activation::None,
    )
}

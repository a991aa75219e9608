//! A stack of transformer encoder blocks (multi-head self-attention and a
//! feed-forward network, each with a residual and a layer norm, pre- or
//! post-norm), with optional positional encodings. Weights are seeded
//! random (untrained). Runs on the GPU in one plan and on the reference.

use crate::cpu::attention::{self as cpu_attn, Masks, MhaWeights, RopeTables};
use crate::cpu::{layernorm::layernorm, matmul::linear as cpu_linear, sequence, RefTensor};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan};
use crate::ops::add::add_forward;
use crate::ops::attention::{mha_forward, AttentionPath, MhaTensors, RopeTensors};
use crate::ops::layernorm::{layernorm_forward, EPS};
use crate::ops::matmul::{linear, Activation};
use crate::ops::positional::{rope_tables, sinusoidal_table};
use crate::ops::softmax::Mask;
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// The positional encoding a [`Transformer`] runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positional {
    /// No position information: without a causal mask the stack is then
    /// permutation-equivariant.
    None,
    /// Added to the input: sin/cos of "Attention Is All You Need".
    Sinusoidal,
    /// Added to the input: a (random, untrained) table, one row per position.
    Learned,
    /// Rotary: queries and keys turned by position inside every attention.
    Rope,
}

impl Positional {
    /// Reads a name as `--positional` takes it, case-insensitive: none,
    /// sinusoidal (sin), learned, rope (rotary).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for any other name.
    ///
    /// ```
    /// use wgsl_nn::models::transformer::Positional;
    /// assert_eq!(Positional::parse("RoPE")?, Positional::Rope);
    /// assert_eq!(Positional::parse("sin")?.name(), "sinusoidal");
    /// # Ok::<(), wgsl_nn::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Positional> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Positional::None),
            "sinusoidal" | "sin" => Ok(Positional::Sinusoidal),
            "learned" => Ok(Positional::Learned),
            "rope" | "rotary" => Ok(Positional::Rope),
            _ => Err(Error::arg(
                "--positional",
                format!("'{s}' is not one of sinusoidal, learned, rope, none"),
            )),
        }
    }

    /// The canonical name, as [`Positional::parse`] reads it back.
    pub fn name(self) -> &'static str {
        match self {
            Positional::None => "none",
            Positional::Sinusoidal => "sinusoidal",
            Positional::Learned => "learned",
            Positional::Rope => "rope",
        }
    }
}

/// The shape of a [`Transformer`].
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerConfig {
    /// D, the model width.
    pub d_model: usize,
    /// Attention heads; must divide D.
    pub heads: usize,
    /// F, the feed-forward network's hidden width (GELU between its two
    /// linear layers).
    pub ffn_hidden: usize,
    /// Encoder blocks.
    pub layers: usize,
    /// Layer norm before each sublayer (inside the residual) rather than
    /// after the residual add (the original post-norm).
    pub pre_norm: bool,
    /// Query i sees only keys j <= i.
    pub causal: bool,
    /// Which attention kernels run on the GPU, composed or fused; the
    /// reference charges the error of that path's summation order.
    pub path: AttentionPath,
}

impl TransformerConfig {
    /// Checks the shape before any weight is drawn.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when D, the heads or F is 0 or the heads do not
    /// divide D; [`Error::Shape`] when the weights of all blocks would
    /// exceed the size limit (`conv_stack::MAX_ELEMENTS`).
    pub fn validate(&self) -> Result<()> {
        if self.d_model == 0 || self.heads == 0 || self.ffn_hidden == 0 {
            return Err(Error::arg(
                "--dim/--heads",
                "model width, heads and feed-forward width must be at least 1",
            ));
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(Error::arg(
                "--dim",
                format!(
                    "model width {} is not divisible by {} heads; each head needs D/H features",
                    self.d_model, self.heads
                ),
            ));
        }
        // Every block's weights are drawn on the host before anything runs:
        // 4 D x D projections and the two D x F feed-forward matrices.
        let per_block = 4 * self.d_model * self.d_model + 2 * self.d_model * self.ffn_hidden;
        crate::models::conv_stack::check_size(
            "--dim/--layers",
            "transformer weights (layers x per-block parameters)",
            &[self.layers, per_block],
        )?;
        Ok(())
    }
}

/// One encoder block's weights on the host (matrices input-major).
#[derive(Debug, Clone)]
pub struct Block {
    /// Multi-head self-attention.
    pub attn: MhaWeights,
    /// The layer norm of the attention sublayer: gamma `[D]` and beta `[D]`.
    pub ln1: (Vec<f32>, Vec<f32>),
    /// The layer norm of the feed-forward sublayer: gamma `[D]` and beta `[D]`.
    pub ln2: (Vec<f32>, Vec<f32>),
    /// Feed-forward up projection `[D, F]` (GELU after it).
    pub w1: Vec<f32>,
    /// Its bias `[F]`.
    pub b1: Vec<f32>,
    /// Feed-forward down projection `[F, D]`.
    pub w2: Vec<f32>,
    /// Its bias `[D]`.
    pub b2: Vec<f32>,
}

/// A stack of transformer encoder blocks with host weights; inputs are
/// [batch, tokens, D].
#[derive(Debug, Clone)]
pub struct Transformer {
    /// Its shape.
    pub cfg: TransformerConfig,
    /// The blocks' weights, in order.
    pub blocks: Vec<Block>,
    /// [max_tokens, D], for `Positional::Learned`.
    pub learned: Vec<f32>,
    /// The longest sequence the learned table covers.
    pub max_tokens: usize,
}

fn uniform(rng: &mut rand_chacha::ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

impl Transformer {
    /// PyTorch-style init (U(+-1/sqrt(fan_in))), layer norms near identity.
    ///
    /// Seeded ChaCha8; the learned positional table (U(-1, 1)) gets
    /// `max_tokens` rows.
    ///
    /// # Errors
    ///
    /// Whatever [`TransformerConfig::validate`] refuses.
    ///
    /// ```
    /// use wgsl_nn::cpu::RefTensor;
    /// use wgsl_nn::models::transformer::{Positional, Transformer, TransformerConfig};
    /// use wgsl_nn::ops::attention::AttentionPath;
    /// let cfg = TransformerConfig {
    ///     d_model: 8,
    ///     heads: 2,
    ///     ffn_hidden: 16,
    ///     layers: 1,
    ///     pre_norm: true,
    ///     causal: false,
    ///     path: AttentionPath::Fused,
    /// };
    /// let model = Transformer::random(&cfg, 4, 0)?;
    /// let x = RefTensor::from_f32(&[1, 4, 8], &[0.5; 32]);
    /// let y = model.forward_ref(&x, Positional::Sinusoidal)?;
    /// assert_eq!(y.shape, [1, 4, 8]);
    /// # Ok::<(), wgsl_nn::Error>(())
    /// ```
    pub fn random(cfg: &TransformerConfig, max_tokens: usize, seed: u64) -> Result<Transformer> {
        cfg.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (d, f) = (cfg.d_model, cfg.ffn_hidden);
        let bd = 1.0 / (d as f32).sqrt();
        let bf = 1.0 / (f as f32).sqrt();
        let blocks = (0..cfg.layers)
            .map(|_| {
                let mut lin = |n| uniform(&mut rng, n, bd);
                let attn = MhaWeights {
                    d_model: d,
                    wq: lin(d * d),
                    bq: lin(d),
                    wk: lin(d * d),
                    bk: lin(d),
                    wv: lin(d * d),
                    bv: lin(d),
                    wo: lin(d * d),
                    bo: lin(d),
                };
                let mut ln = || {
                    let g = uniform(&mut rng, d, 0.1)
                        .into_iter()
                        .map(|v| 1.0 + v)
                        .collect();
                    (g, uniform(&mut rng, d, 0.1))
                };
                let (ln1, ln2) = (ln(), ln());
                Block {
                    attn,
                    ln1,
                    ln2,
                    w1: uniform(&mut rng, d * f, bd),
                    b1: uniform(&mut rng, f, bd),
                    w2: uniform(&mut rng, f * d, bf),
                    b2: uniform(&mut rng, d, bf),
                }
            })
            .collect();
        let learned = uniform(&mut rng, max_tokens * d, 1.0);
        Ok(Transformer {
            cfg: cfg.clone(),
            blocks,
            learned,
            max_tokens,
        })
    }

    /// Uploads every block's weights, for [`Transformer::forward_gpu`].
    pub fn upload(&self, gpu: &Gpu) -> Result<Vec<BlockTensors>> {
        let d = self.cfg.d_model;
        let f = self.cfg.ffn_hidden;
        let t = |name: &str, shape: &[usize], v: &[f32]| Tensor::upload(gpu, name, shape, v);
        self.blocks
            .iter()
            .map(|b| {
                Ok(BlockTensors {
                    attn: super::upload_mha(gpu, &b.attn)?,
                    ln1: (t("ln1.g", &[d], &b.ln1.0)?, t("ln1.b", &[d], &b.ln1.1)?),
                    ln2: (t("ln2.g", &[d], &b.ln2.0)?, t("ln2.b", &[d], &b.ln2.1)?),
                    w1: t("W1", &[d, f], &b.w1)?,
                    b1: t("b1", &[f], &b.b1)?,
                    w2: t("W2", &[f, d], &b.w2)?,
                    b2: t("b2", &[d], &b.b2)?,
                })
            })
            .collect()
    }

    /// The table added to the input ([tokens, D]) for additive encodings;
    /// `None` for none and RoPE. Panics for a learned table shorter than
    /// `tokens` (the forward passes check that first).
    pub fn additive_table(&self, pe: Positional, tokens: usize) -> Option<Vec<f32>> {
        let d = self.cfg.d_model;
        match pe {
            Positional::Sinusoidal => Some(sinusoidal_table(tokens, d)),
            Positional::Learned => Some(self.learned[..tokens * d].to_vec()),
            Positional::None | Positional::Rope => None,
        }
    }

    fn check_tokens(&self, tokens: usize, pe: Positional) -> Result<()> {
        if pe == Positional::Learned && tokens > self.max_tokens {
            return Err(Error::arg(
                "--tokens",
                format!(
                    "the learned table has {} positions but the sequence has {tokens}",
                    self.max_tokens
                ),
            ));
        }
        if pe == Positional::Rope && !(self.cfg.d_model / self.cfg.heads).is_multiple_of(2) {
            return Err(Error::arg(
                "--positional rope",
                format!(
                    "RoPE needs an even head size; {} / {} heads is odd",
                    self.cfg.d_model, self.cfg.heads
                ),
            ));
        }
        Ok(())
    }

    /// Appends the whole stack for x [B, L, D] to `plan`, with the
    /// weights from [`Transformer::upload`]; returns the output [B, L, D],
    /// valid once the plan has run.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when x has no token axis; [`Error::Argument`] when
    /// the learned table is shorter than L or RoPE meets an odd head size;
    /// any error of the ops appended.
    pub fn forward_gpu(
        &self,
        gpu: &Gpu,
        w: &[BlockTensors],
        plan: &mut Plan,
        x: &Tensor,
        pe: Positional,
    ) -> Result<Tensor> {
        let tokens = *x
            .shape
            .get(1)
            .ok_or_else(|| Error::shape("transformer input", "expected [B, L, D]"))?;
        self.check_tokens(tokens, pe)?;
        let d = self.cfg.d_model;
        let mut h = x.clone();
        if let Some(table) = self.additive_table(pe, tokens) {
            let e = Tensor::upload(gpu, "positional table", &[tokens, d], &table)?;
            h = add_forward(gpu, plan, &format!("+ {} positions", pe.name()), &h, &e)?;
        }
        let rope = match pe {
            Positional::Rope => {
                let (c, s) = rope_tables(tokens, d / self.cfg.heads);
                let half = d / self.cfg.heads / 2;
                Some(RopeTensors {
                    cos: Tensor::upload(gpu, "rope cos", &[tokens, half], &c)?,
                    sin: Tensor::upload(gpu, "rope sin", &[tokens, half], &s)?,
                })
            }
            _ => None,
        };
        let mask = Mask {
            causal: self.cfg.causal,
            keys: None,
        };
        for (i, bw) in w.iter().enumerate() {
            let n = |s: &str| format!("block {} {s}", i + 1);
            let attn = |h: &Tensor, plan: &mut Plan| {
                mha_forward(
                    gpu,
                    plan,
                    &n("attention"),
                    self.cfg.path,
                    self.cfg.heads,
                    &bw.attn,
                    h,
                    h,
                    &mask,
                    rope.as_ref(),
                )
            };
            let ffn = |h: &Tensor, plan: &mut Plan| -> Result<Tensor> {
                let u = linear(
                    gpu,
                    plan,
                    &n("ffn up"),
                    h,
                    &bw.w1,
                    Some(&bw.b1),
                    Activation::Gelu,
                )?;
                linear(
                    gpu,
                    plan,
                    &n("ffn down"),
                    &u,
                    &bw.w2,
                    Some(&bw.b2),
                    Activation::None,
                )
            };
            let ln = |h: &Tensor, p: &(Tensor, Tensor), name: &str, plan: &mut Plan| {
                layernorm_forward(gpu, plan, &n(name), h, &p.0, &p.1)
            };
            if self.cfg.pre_norm {
                let a = attn(&ln(&h, &bw.ln1, "norm 1", plan)?, plan)?;
                h = add_forward(gpu, plan, &n("residual 1"), &h, &a)?;
                let f = ffn(&ln(&h, &bw.ln2, "norm 2", plan)?, plan)?;
                h = add_forward(gpu, plan, &n("residual 2"), &h, &f)?;
            } else {
                let a = attn(&h, plan)?;
                h = ln(
                    &add_forward(gpu, plan, &n("residual 1"), &h, &a)?,
                    &bw.ln1,
                    "norm 1",
                    plan,
                )?;
                let f = ffn(&h, plan)?;
                h = ln(
                    &add_forward(gpu, plan, &n("residual 2"), &h, &f)?,
                    &bw.ln2,
                    "norm 2",
                    plan,
                )?;
            }
        }
        Ok(h)
    }

    /// The f64 reference of the whole stack on x [B, L, D], with error
    /// bounds for the configured attention path.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when the learned table is shorter than L or
    /// RoPE meets an odd head size.
    pub fn forward_ref(&self, x: &RefTensor, pe: Positional) -> Result<RefTensor> {
        let tokens = x.shape[1];
        self.check_tokens(tokens, pe)?;
        let d = self.cfg.d_model;
        let f = self.cfg.ffn_hidden;
        let mut h = x.clone();
        if let Some(table) = self.additive_table(pe, tokens) {
            h = sequence::add(&h, &RefTensor::from_f32(&[tokens, d], &table));
        }
        let tables = (pe == Positional::Rope).then(|| rope_tables(tokens, d / self.cfg.heads));
        let rope = tables.as_ref().map(|(c, s)| RopeTables { cos: c, sin: s });
        let masks = Masks {
            causal: self.cfg.causal,
            keys: None,
        };
        let order = self.cfg.path.order();
        for b in &self.blocks {
            let attn = |h: &RefTensor| {
                cpu_attn::mha(&b.attn, h, h, self.cfg.heads, &masks, rope.as_ref(), order)
            };
            let ffn = |h: &RefTensor| {
                let u = cpu_linear(h, &b.w1, d, f, Some(&b.b1), Activation::Gelu);
                cpu_linear(&u, &b.w2, f, d, Some(&b.b2), Activation::None)
            };
            if self.cfg.pre_norm {
                h = sequence::add(&h, &attn(&layernorm(&h, &b.ln1.0, &b.ln1.1, EPS)));
                h = sequence::add(&h, &ffn(&layernorm(&h, &b.ln2.0, &b.ln2.1, EPS)));
            } else {
                h = layernorm(&sequence::add(&h, &attn(&h)), &b.ln1.0, &b.ln1.1, EPS);
                h = layernorm(&sequence::add(&h, &ffn(&h)), &b.ln2.0, &b.ln2.1, EPS);
            }
        }
        Ok(h)
    }
}

/// One block's weights on the GPU.
#[derive(Debug, Clone)]
pub struct BlockTensors {
    /// Multi-head self-attention's projections.
    pub attn: MhaTensors,
    /// First layer norm: gamma `[D]` and beta `[D]`.
    pub ln1: (Tensor, Tensor),
    /// Second layer norm: gamma `[D]` and beta `[D]`.
    pub ln2: (Tensor, Tensor),
    /// Feed-forward up projection `[D, F]`.
    pub w1: Tensor,
    /// Its bias `[F]`.
    pub b1: Tensor,
    /// Feed-forward down projection `[F, D]`.
    pub w2: Tensor,
    /// Its bias `[D]`.
    pub b2: Tensor,
}

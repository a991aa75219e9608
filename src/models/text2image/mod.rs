//! The exercise's text-to-image network (question 2 of the first part):
//! token ids -> embedding -> GRU encoder -> self-attention over the encoded
//! words -> cross-attention in which four quadrant queries attend to the
//! words -> four latent codes -> a transposed-conv decoder per quadrant ->
//! one image. Every stage is a GPU op of the crate, run in one plan, each
//! checked against the f64 reference and timed by its steps.
//!
//! The weights are not trained. `demo` weights are hand-built so that 2b's
//! idea is visible: embeddings carry a vertical (top +, bottom -) and a
//! horizontal (left -, right +) feature and a colour; the quadrant queries
//! are those location directions, the keys read only the location features,
//! so each location phrase routes to its quadrant; the values carry colour,
//! which the decoder paints into that quadrant. `random` weights have the
//! same shapes, seeded, with no such alignment.

use super::upload_mha;
use crate::cpu::attention::MhaWeights;
use crate::cpu::{self, RefTensor};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan};
use crate::ops::add::add_forward;
use crate::ops::attention::{mha_forward, sdpa_forward_probs, AttentionPath};
use crate::ops::conv_transpose2d::{conv_transpose2d_forward, ConvTranspose2d};
use crate::ops::matmul::{linear, Activation};
use crate::ops::quadrants::assemble_quadrants;
use crate::ops::rnn::{rnn_forward, Rnn, RnnKind};
use crate::ops::softmax::Mask;
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// Model width (embedding, GRU state, attention), heads, decoder channels.
pub const D: usize = 16;
/// Attention heads, of D / HEADS = 8 features each.
pub const HEADS: usize = 2;
const C0: usize = 3;
/// The image's quadrants in the order of the queries, the latents and the
/// decoder's batch.
pub const QUADRANTS: [&str; 4] = ["top_left", "top_right", "bottom_left", "bottom_right"];
/// The token that every word outside the vocabulary becomes (id 0).
pub const UNK: &str = "<unk>";

/// The vocabulary and, for the demo weights, each word's features:
/// (vertical, horizontal, red, green, blue).
const WORDS: &[(&str, [f32; 5])] = &[
    (UNK, [0.0; 5]),
    ("top", [1.0, 0.0, 0.0, 0.0, 0.0]),
    ("upper", [1.0, 0.0, 0.0, 0.0, 0.0]),
    ("above", [1.0, 0.0, 0.0, 0.0, 0.0]),
    ("up", [1.0, 0.0, 0.0, 0.0, 0.0]),
    ("bottom", [-1.0, 0.0, 0.0, 0.0, 0.0]),
    ("lower", [-1.0, 0.0, 0.0, 0.0, 0.0]),
    ("below", [-1.0, 0.0, 0.0, 0.0, 0.0]),
    ("down", [-1.0, 0.0, 0.0, 0.0, 0.0]),
    ("left", [0.0, -1.0, 0.0, 0.0, 0.0]),
    ("right", [0.0, 1.0, 0.0, 0.0, 0.0]),
    ("sky", [0.8, 0.0, 0.3, 0.6, 1.0]),
    ("sun", [0.5, 0.0, 1.0, 0.8, 0.1]),
    ("moon", [0.5, 0.0, 0.9, 0.9, 0.8]),
    ("cloud", [0.6, 0.0, 0.9, 0.9, 0.9]),
    ("clouds", [0.6, 0.0, 0.9, 0.9, 0.9]),
    ("bird", [0.4, 0.0, 0.2, 0.2, 0.2]),
    ("ground", [-0.8, 0.0, 0.5, 0.3, 0.1]),
    ("grass", [-0.8, 0.0, 0.1, 1.0, 0.1]),
    ("floor", [-0.8, 0.0, 0.5, 0.4, 0.3]),
    ("sea", [-0.6, 0.0, 0.0, 0.3, 1.0]),
    ("water", [-0.6, 0.0, 0.0, 0.4, 1.0]),
    ("road", [-0.6, 0.0, 0.4, 0.4, 0.4]),
    ("house", [0.0, 0.0, 0.8, 0.2, 0.1]),
    ("tree", [0.0, 0.0, 0.1, 0.6, 0.1]),
    ("car", [0.0, 0.0, 1.0, 0.1, 0.1]),
    ("flower", [0.0, 0.0, 1.0, 0.3, 0.6]),
    ("flowers", [0.0, 0.0, 1.0, 0.3, 0.6]),
    ("boat", [0.0, 0.0, 0.9, 0.9, 0.9]),
    ("red", [0.0, 0.0, 1.0, 0.0, 0.0]),
    ("green", [0.0, 0.0, 0.0, 1.0, 0.0]),
    ("blue", [0.0, 0.0, 0.0, 0.0, 1.0]),
    ("yellow", [0.0, 0.0, 1.0, 1.0, 0.0]),
    ("orange", [0.0, 0.0, 1.0, 0.5, 0.0]),
    ("purple", [0.0, 0.0, 0.6, 0.0, 0.8]),
    ("white", [0.0, 0.0, 1.0, 1.0, 1.0]),
    ("black", [0.0, 0.0, -0.5, -0.5, -0.5]),
    ("brown", [0.0, 0.0, 0.5, 0.3, 0.1]),
    ("a", [0.0; 5]),
    ("an", [0.0; 5]),
    ("the", [0.0; 5]),
    ("in", [0.0; 5]),
    ("on", [0.0; 5]),
    ("at", [0.0; 5]),
    ("of", [0.0; 5]),
    ("and", [0.0; 5]),
    ("with", [0.0; 5]),
    ("is", [0.0; 5]),
    ("are", [0.0; 5]),
    ("there", [0.0; 5]),
    ("corner", [0.0; 5]),
    ("side", [0.0; 5]),
    ("half", [0.0; 5]),
    ("big", [0.0; 5]),
    ("small", [0.0; 5]),
];

/// Every word the network knows, in token-id order (`<unk>` is id 0).
pub fn vocabulary() -> impl Iterator<Item = &'static str> {
    WORDS.iter().map(|(w, _)| *w)
}

/// Lower-case words of letters and digits; everything else separates.
///
/// # Errors
///
/// [`Error::Argument`] when the sentence has no word or more than 512.
///
/// ```
/// use wgsl_nn::models::text2image::{token_ids, tokenize};
/// let words = tokenize("A red sun, top-left!")?;
/// assert_eq!(words, ["a", "red", "sun", "top", "left"]);
/// assert_eq!(token_ids(&["zebra".to_string()]), [0]); // <unk>
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
pub fn tokenize(sentence: &str) -> Result<Vec<String>> {
    let words: Vec<String> = sentence
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Err(Error::arg(
            "sentence",
            "the sentence has no words; try \"a red sun in the top left, grass at the bottom\"",
        ));
    }
    if words.len() > 512 {
        return Err(Error::arg(
            "sentence",
            format!("{} words; at most 512", words.len()),
        ));
    }
    Ok(words)
}

/// Token ids; unknown words map to 0 (`<unk>`).
pub fn token_ids(words: &[String]) -> Vec<usize> {
    words
        .iter()
        .map(|w| WORDS.iter().position(|(v, _)| v == w).unwrap_or(0))
        .collect()
}

/// The network's weights on the host, f32, matrices input-major (as
/// `linear` takes them). V is the vocabulary's size, D = [`D`]; the image
/// has 3 channels.
#[derive(Debug, Clone)]
pub struct Weights {
    /// How reports name them: `demo` or `random (seed N)`.
    pub name: String,
    /// The embedding table [V, D], one row per token id.
    pub embedding: Vec<f32>,
    /// The GRU encoder's W_ih `[D, 3D]`, W_hh `[D, 3D]`, b_ih `[3D]` and
    /// b_hh `[3D]`, in that order (gates r, z, n).
    pub gru: [Vec<f32>; 4],
    /// Self-attention over the encoded words (added back as a residual).
    pub self_attn: MhaWeights,
    /// Cross-attention of the quadrant queries to the words.
    pub cross_attn: MhaWeights,
    /// The four quadrant queries [4, D], in [`QUADRANTS`] order.
    pub queries: Vec<f32>,
    /// The decoder's linear layer [D, 3 * 16]: each latent code to a
    /// 3 x 4 x 4 seed image (ReLU after the bias).
    pub dec_w: Vec<f32>,
    /// Its bias [3 * 16].
    pub dec_b: Vec<f32>,
    /// The three 2x upsamplings, transposed convs (k=4, s=2, p=1, 3 to 3
    /// channels): weight `[3, 3, 4, 4]` and bias `[3]` each; the first two are
    /// followed by a ReLU.
    pub up: [(Vec<f32>, Vec<f32>); 3],
}

fn zeros(n: usize) -> Vec<f32> {
    vec![0.0; n]
}

/// Both heads see the same 8 features: dims f and 8 + f.
fn dup(f: &[f32; 5]) -> [f32; D] {
    let mut v = [0.0; D];
    for h in 0..HEADS {
        v[h * 8..h * 8 + 5].copy_from_slice(f);
    }
    v
}

/// A [D, D] matrix with `gain` on the diagonal of the listed features.
fn diag(features: &[usize], gain: f32) -> Vec<f32> {
    let mut w = zeros(D * D);
    for h in 0..HEADS {
        for &f in features {
            w[(h * 8 + f) * D + h * 8 + f] = gain;
        }
    }
    w
}

/// Bilinear 2x upsampling as a transposed conv (k=4, s=2, p=1), channel by channel.
fn upsample_kernel(c: usize) -> Vec<f32> {
    let t = [0.25f32, 0.75, 0.75, 0.25];
    let mut w = zeros(c * c * 16);
    for ch in 0..c {
        for ky in 0..4 {
            for kx in 0..4 {
                w[((ch * c + ch) * 4 + ky) * 4 + kx] = t[ky] * t[kx];
            }
        }
    }
    w
}

impl Weights {
    /// Hand-built weights that make the routing visible (see the module
    /// docs): each location phrase's colour is painted into its quadrant.
    pub fn demo() -> Weights {
        let mut embedding = zeros(WORDS.len() * D);
        for (i, (_, f)) in WORDS.iter().enumerate() {
            embedding[i * D..(i + 1) * D].copy_from_slice(&dup(f));
        }
        // GRU: update gate shut (z ~ 0.02), reset open (r ~ 0.98), so
        // h_t ~ tanh(x_t + 0.8 h_{t-1}): each word keeps its own features and
        // carries a fading memory of the words before it ("grass at the
        // bottom": "bottom" remembers green).
        let g = 3 * D;
        let (mut w_ih, mut w_hh, mut b_ih, b_hh) = (zeros(D * g), zeros(D * g), zeros(g), zeros(g));
        for j in 0..D {
            w_ih[j * g + 2 * D + j] = 1.0;
            w_hh[j * g + 2 * D + j] = 0.8;
            b_ih[j] = 4.0;
            b_ih[D + j] = -4.0;
        }
        // Self-attention: a light uniform mixing (zero queries and keys,
        // small values) on top of the residual.
        let self_attn = MhaWeights {
            d_model: D,
            wq: zeros(D * D),
            bq: zeros(D),
            wk: zeros(D * D),
            bk: zeros(D),
            wv: diag(&[2, 3, 4], 0.1),
            bv: zeros(D),
            wo: diag(&[0, 1, 2, 3, 4], 1.0),
            bo: zeros(D),
        };
        // Cross-attention: queries and keys meet on the location features
        // only (scaled so a location phrase dominates), values carry colour.
        let cross_attn = MhaWeights {
            d_model: D,
            wq: diag(&[0, 1], 10.0),
            bq: zeros(D),
            wk: diag(&[0, 1], 1.0),
            bk: zeros(D),
            wv: diag(&[2, 3, 4], 1.0),
            bv: zeros(D),
            wo: diag(&[2, 3, 4], 1.0),
            bo: zeros(D),
        };
        let mut queries = zeros(4 * D);
        for (q, (v, h)) in [(1.0, -1.0), (1.0, 1.0), (-1.0, -1.0), (-1.0, 1.0)]
            .iter()
            .enumerate()
        {
            queries[q * D..(q + 1) * D].copy_from_slice(&dup(&[*v, *h, 0.0, 0.0, 0.0]));
        }
        // Decoder: each colour feature fills its channel's 4x4 seed, on a
        // dim grey base; three bilinear upsamplings make it 32x32.
        let mut dec_w = zeros(D * C0 * 16);
        for c in 0..C0 {
            for px in 0..16 {
                dec_w[(2 + c) * (C0 * 16) + c * 16 + px] = 1.0;
            }
        }
        let up = |c| (upsample_kernel(c), zeros(c));
        Weights {
            name: "demo".into(),
            embedding,
            gru: [w_ih, w_hh, b_ih, b_hh],
            self_attn,
            cross_attn,
            queries,
            dec_w,
            dec_b: vec![0.1; C0 * 16],
            up: [up(C0), up(C0), up(C0)],
        }
    }

    /// The same shapes, PyTorch-style seeded uniform init, no alignment.
    pub fn random(seed: u64) -> Weights {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut u = |n: usize, fan_in: usize| -> Vec<f32> {
            let b = 1.0 / (fan_in as f32).sqrt();
            (0..n).map(|_| rng.random_range(-b..b)).collect()
        };
        let mha = |u: &mut dyn FnMut(usize, usize) -> Vec<f32>| MhaWeights {
            d_model: D,
            wq: u(D * D, D),
            bq: u(D, D),
            wk: u(D * D, D),
            bk: u(D, D),
            wv: u(D * D, D),
            bv: u(D, D),
            wo: u(D * D, D),
            bo: u(D, D),
        };
        let embedding = u(WORDS.len() * D, 1);
        let gru = [u(D * 3 * D, D), u(D * 3 * D, D), u(3 * D, D), u(3 * D, D)];
        let self_attn = mha(&mut u);
        let cross_attn = mha(&mut u);
        let queries = u(4 * D, 1);
        let dec_w = u(D * C0 * 16, D);
        let dec_b = u(C0 * 16, D);
        let up = [
            (u(C0 * C0 * 16, C0 * 16), u(C0, C0 * 16)),
            (u(C0 * C0 * 16, C0 * 16), u(C0, C0 * 16)),
            (u(C0 * C0 * 16, C0 * 16), u(C0, C0 * 16)),
        ];
        Weights {
            name: format!("random (seed {seed})"),
            embedding,
            gru,
            self_attn,
            cross_attn,
            queries,
            dec_w,
            dec_b,
            up,
        }
    }
}

/// One stage's GPU output beside the stage's name; checked later.
pub struct Stage {
    /// The stage's name, one of [`STAGES`].
    pub name: &'static str,
    /// Its output on the GPU (valid once the plan has run).
    pub tensor: Tensor,
}

/// The stages [`forward_gpu`] returns and [`forward_ref`] computes, in
/// order, for T words: embedding, GRU encoder and self-attention (with its
/// residual) [1, T, D]; cross-attention latents [1, 4, D]; attention
/// weights [1, HEADS, 4, T]; decoder linear [4, 48]; the three upsamplings
/// [4, 3, 8, 8], [4, 3, 16, 16], [4, 3, 32, 32]; the image [1, 3, 64, 64].
pub const STAGES: [&str; 10] = [
    "embedding",
    "gru encoder",
    "self-attention",
    "cross-attention",
    "attention weights",
    "decoder linear",
    "upsample 1",
    "upsample 2",
    "upsample 3",
    "image",
];

fn one_hot(ids: &[usize]) -> Vec<f32> {
    let mut v = zeros(ids.len() * WORDS.len());
    for (t, &id) in ids.iter().enumerate() {
        v[t * WORDS.len() + id] = 1.0;
    }
    v
}

fn upconv(cin: usize, cout: usize, relu: bool) -> ConvTranspose2d {
    ConvTranspose2d {
        in_channels: cin,
        out_channels: cout,
        kernel: [4, 4],
        stride: [2, 2],
        padding: [1, 1],
        output_padding: [0, 0],
        dilation: [1, 1],
        bias: true,
        relu,
    }
}

const GRU: Rnn = Rnn {
    kind: RnnKind::Gru,
    input_size: D,
    hidden_size: D,
};

/// Appends the whole network to `plan`; returns every stage's output.
pub fn forward_gpu(gpu: &Gpu, plan: &mut Plan, w: &Weights, ids: &[usize]) -> Result<Vec<Stage>> {
    let t = ids.len();
    let v = WORDS.len();
    let up = |n: &str, s: &[usize], x: &[f32]| Tensor::upload(gpu, n, s, x);
    let x = up("one-hot tokens", &[1, t, v], &one_hot(ids))?;
    let e = linear(
        gpu,
        plan,
        "embedding",
        &x,
        &up("embedding table", &[v, D], &w.embedding)?,
        None,
        Activation::None,
    )?;
    let [w_ih, w_hh, b_ih, b_hh] = &w.gru;
    let enc = rnn_forward(
        gpu,
        plan,
        "gru encoder",
        &GRU,
        &e,
        &up("W_ih", &[D, 3 * D], w_ih)?,
        &up("W_hh", &[D, 3 * D], w_hh)?,
        &up("b_ih", &[3 * D], b_ih)?,
        &up("b_hh", &[3 * D], b_hh)?,
        None,
    )?;
    let sa = mha_forward(
        gpu,
        plan,
        "self-attention",
        AttentionPath::Composed,
        HEADS,
        &upload_mha(gpu, &w.self_attn)?,
        &enc,
        &enc,
        &Mask::default(),
        None,
    )?;
    let mixed = add_forward(gpu, plan, "self-attention residual", &enc, &sa)?;
    // Cross-attention: four quadrant queries against the words.
    let ca = upload_mha(gpu, &w.cross_attn)?;
    let queries = up("quadrant queries", &[1, 4, D], &w.queries)?;
    let q = linear(
        gpu,
        plan,
        "cross Q proj",
        &queries,
        &ca.wq,
        Some(&ca.bq),
        Activation::None,
    )?;
    let k = linear(
        gpu,
        plan,
        "cross K proj",
        &mixed,
        &ca.wk,
        Some(&ca.bk),
        Activation::None,
    )?;
    let vv = linear(
        gpu,
        plan,
        "cross V proj",
        &mixed,
        &ca.wv,
        Some(&ca.bv),
        Activation::None,
    )?;
    let (o, probs) = sdpa_forward_probs(
        gpu,
        plan,
        "cross-attention",
        AttentionPath::Composed,
        HEADS,
        &q,
        &k,
        &vv,
        &Mask::default(),
    )?;
    let latents = linear(
        gpu,
        plan,
        "cross out proj",
        &o,
        &ca.wo,
        Some(&ca.bo),
        Activation::None,
    )?;
    let probs = probs.ok_or_else(|| {
        Error::shape("cross-attention", "the composed path kept no probabilities")
    })?;
    // Decoder: each latent to a C0 x 4 x 4 seed, then three 2x upsamplings.
    let lat4 = Tensor {
        buffer: latents.buffer.clone(),
        shape: vec![4, D],
        dtype: latents.dtype,
    };
    let seed = linear(
        gpu,
        plan,
        "decoder linear",
        &lat4,
        &up("decoder W", &[D, C0 * 16], &w.dec_w)?,
        Some(&up("decoder b", &[C0 * 16], &w.dec_b)?),
        Activation::Relu,
    )?;
    let mut img = Tensor {
        buffer: seed.buffer.clone(),
        shape: vec![4, C0, 4, 4],
        dtype: seed.dtype,
    };
    let mut ups = vec![];
    for (i, (wt, b)) in w.up.iter().enumerate() {
        let ct = upconv(C0, C0, i < 2);
        img = conv_transpose2d_forward(
            gpu,
            plan,
            &format!("upsample {}", i + 1),
            &ct,
            &img,
            &up("up W", &ct.weight_shape(), wt)?,
            Some(&up("up b", &[C0], b)?),
        )?;
        ups.push(img.clone());
    }
    let image = assemble_quadrants(gpu, plan, "image", &img)?;
    let mut stages = vec![
        Stage {
            name: STAGES[0],
            tensor: e,
        },
        Stage {
            name: STAGES[1],
            tensor: enc,
        },
        Stage {
            name: STAGES[2],
            tensor: mixed,
        },
        Stage {
            name: STAGES[3],
            tensor: latents,
        },
        Stage {
            name: STAGES[4],
            tensor: probs,
        },
        Stage {
            name: STAGES[5],
            tensor: seed,
        },
    ];
    for (i, u) in ups.into_iter().enumerate() {
        stages.push(Stage {
            name: STAGES[6 + i],
            tensor: u,
        });
    }
    stages.push(Stage {
        name: STAGES[9],
        tensor: image,
    });
    Ok(stages)
}

/// Cross-attention weights as words x quadrants, averaged over heads, from
/// probabilities [1, H, 4, T].
pub fn words_by_quadrant(probs: &[f32], words: usize) -> Vec<[f32; 4]> {
    (0..words)
        .map(|t| {
            let mut row = [0.0f32; 4];
            for (q, cell) in row.iter_mut().enumerate() {
                *cell = (0..HEADS)
                    .map(|h| probs[(h * 4 + q) * words + t])
                    .sum::<f32>()
                    / HEADS as f32;
            }
            row
        })
        .collect()
}

mod reference;
pub use reference::forward_ref;

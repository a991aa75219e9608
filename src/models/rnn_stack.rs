//! A stack of recurrent layers' weights as PyTorch's nn.RNN (tanh) /
//! nn.GRU / nn.LSTM hold them with `num_layers`: seeded (PyTorch's
//! U(-1/sqrt(H), 1/sqrt(H))) or read from the module's state_dict, stored
//! input-major (PyTorch's matrices transposed).

use crate::ops::rnn::{Rnn, RnnKind};
use rand::{Rng, SeedableRng};

/// One layer's weights, input-major (PyTorch's transposed). G is the
/// kind's gate count (1 Elman, 3 GRU, 4 LSTM), H the hidden size and I the
/// layer's input size (the stack's for layer 0, H above it).
#[derive(Debug, Clone)]
pub struct LayerWeights {
    /// Input weights `[I, G*H]` (PyTorch's `weight_ih_lK` transposed).
    pub w_ih: Vec<f32>,
    /// Hidden weights `[H, G*H]` (PyTorch's `weight_hh_lK` transposed).
    pub w_hh: Vec<f32>,
    /// Input bias `[G*H]` (`bias_ih_lK`).
    pub b_ih: Vec<f32>,
    /// Hidden bias `[G*H]` (`bias_hh_lK`).
    pub b_hh: Vec<f32>,
}

/// A stack of recurrent layers of one kind, as a PyTorch module with
/// `num_layers` holds it: each layer's output sequence [B, T, H] is the
/// next one's input.
#[derive(Debug, Clone)]
pub struct RnnStack {
    /// Elman RNN (tanh), GRU or LSTM.
    pub kind: RnnKind,
    /// I, the features of each input step.
    pub input_size: usize,
    /// H, every layer's hidden size.
    pub hidden: usize,
    /// Each layer's weights, bottom (input) layer first.
    pub layers: Vec<LayerWeights>,
}

impl RnnStack {
    /// Layer `k`'s shape: the first reads the input, the others the layer below.
    pub fn layer(&self, k: usize) -> Rnn {
        Rnn {
            kind: self.kind,
            input_size: if k == 0 { self.input_size } else { self.hidden },
            hidden_size: self.hidden,
        }
    }

    /// `n` layers with PyTorch's default init, U(-1/sqrt(H), 1/sqrt(H)) for
    /// every weight and bias, from a ChaCha8 stream seeded with `seed`.
    ///
    /// ```
    /// use wgsl_nn::models::rnn_stack::RnnStack;
    /// use wgsl_nn::ops::rnn::RnnKind;
    /// let s = RnnStack::random(RnnKind::Gru, 8, 16, 2, 0);
    /// assert_eq!(s.layers.len(), 2);
    /// assert_eq!(s.layers[0].w_ih.len(), 8 * 3 * 16);
    /// assert_eq!(s.layers[1].w_ih.len(), 16 * 3 * 16);
    /// ```
    pub fn random(kind: RnnKind, input_size: usize, hidden: usize, n: usize, seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let k = 1.0 / (hidden as f32).sqrt();
        let mut stack = RnnStack {
            kind,
            input_size,
            hidden,
            layers: vec![],
        };
        for l in 0..n {
            let r = stack.layer(l);
            let mut u = |len: usize| {
                (0..len)
                    .map(|_| rng.random_range(-k..k))
                    .collect::<Vec<f32>>()
            };
            let (w_ih, w_hh) = (
                u(r.w_ih_shape().iter().product()),
                u(r.w_hh_shape().iter().product()),
            );
            let (b_ih, b_hh) = (u(r.bias_shape()[0]), u(r.bias_shape()[0]));
            stack.layers.push(LayerWeights {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
            });
        }
        stack
    }
}

/// The PyTorch module of a kind.
pub fn torch_name(kind: RnnKind) -> &'static str {
    match kind {
        RnnKind::Elman => "nn.RNN",
        RnnKind::Gru => "nn.GRU",
        RnnKind::Lstm => "nn.LSTM",
    }
}

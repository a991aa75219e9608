//! A stack of recurrent layers' weights as PyTorch's nn.RNN (tanh) /
//! nn.GRU / nn.LSTM hold them with `num_layers`: seeded (PyTorch's
//! U(-1/sqrt(H), 1/sqrt(H))) or read from the module's state_dict, stored
//! input-major (PyTorch's matrices transposed).

use crate::ops::rnn::{Rnn, RnnKind};
use rand::{Rng, SeedableRng};

/// One layer's weights, input-major (PyTorch's transposed).
#[derive(Debug, Clone)]
pub struct LayerWeights {
    pub w_ih: Vec<f32>,
    pub w_hh: Vec<f32>,
    pub b_ih: Vec<f32>,
    pub b_hh: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct RnnStack {
    pub kind: RnnKind,
    pub input_size: usize,
    pub hidden: usize,
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

//! A conv stack's weights from PyTorch's default init and a seed.

use super::conv_stack::{ConvStack, Layer};
use rand::{Rng, SeedableRng};

impl ConvStack {
    /// PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
    /// weights and biases, from a seeded ChaCha8 stream. Batch norm gets
    /// seeded statistics (a fresh module's would make it nearly the
    /// identity): weight and var in [0.5, 1.5), bias and mean in [-0.5, 0.5).
    pub fn randomize(&mut self, seed: u64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for l in &mut self.layers {
            if let Layer::BatchNorm { bn, affine } = &mut l.layer {
                let mut draw = |v: &mut Vec<f32>, lo: f32| {
                    v.iter_mut()
                        .for_each(|x| *x = rng.random_range(lo..lo + 1.0))
                };
                if *affine {
                    draw(&mut bn.weight, 0.5);
                    draw(&mut bn.bias, -0.5);
                }
                draw(&mut bn.mean, -0.5);
                draw(&mut bn.var, 0.5);
            }
            if let Layer::Conv { op, weight, bias } = &mut l.layer {
                let fan_in = (op.group_in() * op.window.kernel[0] * op.window.kernel[1]) as f32;
                let bound = 1.0 / fan_in.sqrt();
                weight
                    .iter_mut()
                    .for_each(|w| *w = rng.random_range(-bound..bound));
                if let Some(b) = bias {
                    b.iter_mut()
                        .for_each(|v| *v = rng.random_range(-bound..bound));
                }
            }
        }
    }
}

//! BatchNorm2d in inference form (PyTorch's eval mode: running statistics,
//! no batch statistics): y = (x - mean) / sqrt(var + eps) * weight + bias,
//! per channel of an NCHW tensor. Reference: `cpu::batchnorm`.
//!
//! The host folds the four vectors into one scale and one shift per channel
//! (in f64, each rounded once to f32), so the kernel is one multiply-add.

use super::elementwise::ElementwiseParams;
use super::{check_u32, expect_shape, kernel, read, workgroup_1d, write};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/elementwise.wgsl");
/// `y = x * scale[c] + shift[c]`, one invocation per element; its params
/// are [`ElementwiseParams`] and the folded scale/shift is binding 3.
pub const CHANNEL_AFFINE: Kernel = kernel("elementwise", SOURCE, "channel_affine");

/// One layer's parameters, as a state_dict holds them (weight 1 and bias 0
/// when the module was built with affine=False): PyTorch's `BatchNorm2d`
/// in eval mode. Every vector has one value per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    /// Added to the variance before the square root (PyTorch's `eps`,
    /// default 1e-5).
    pub eps: f64,
    /// The learned per-channel scale, gamma (`weight`).
    pub weight: Vec<f32>,
    /// The learned per-channel shift, beta (`bias`).
    pub bias: Vec<f32>,
    /// The running mean the normalisation subtracts (`running_mean`).
    pub mean: Vec<f32>,
    /// The running variance it divides by, under the square root
    /// (`running_var`).
    pub var: Vec<f32>,
}

impl BatchNorm {
    /// PyTorch's fresh module: weight 1, bias 0, mean 0, var 1.
    pub fn identity(channels: usize, eps: f64) -> BatchNorm {
        BatchNorm {
            eps,
            weight: vec![1.0; channels],
            bias: vec![0.0; channels],
            mean: vec![0.0; channels],
            var: vec![1.0; channels],
        }
    }

    /// Channels C, the length of `weight` (see [`BatchNorm::validate`] for
    /// the other vectors).
    pub fn channels(&self) -> usize {
        self.weight.len()
    }

    /// Per channel (scale, shift) in f64: y = x * scale + shift.
    pub fn fold(&self) -> Vec<(f64, f64)> {
        (0..self.channels())
            .map(|c| {
                let s = f64::from(self.weight[c]) / (f64::from(self.var[c]) + self.eps).sqrt();
                (s, f64::from(self.bias[c]) - f64::from(self.mean[c]) * s)
            })
            .collect()
    }

    /// A negative running variance (below -eps) has no square root: an
    /// error naming the layer and channel, not NaN outputs.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming `layer` when `bias`, `mean` or `var` does not
    /// have one value per channel, when `var + eps` is not positive (NaN
    /// included), or when a folded scale or shift is not finite in f32.
    pub fn validate(&self, layer: &str) -> Result<()> {
        let n = self.channels();
        for (name, v) in [
            ("bias", &self.bias),
            ("running_mean", &self.mean),
            ("running_var", &self.var),
        ] {
            if v.len() != n {
                return Err(Error::shape(
                    layer,
                    format!("{name} has {} values for {n} channels", v.len()),
                ));
            }
        }
        // Written to catch NaN statistics too.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if let Some(c) = (0..n).find(|&c| !(f64::from(self.var[c]) + self.eps > 0.0)) {
            return Err(Error::shape(
                layer,
                format!(
                    "running_var[{c}] = {} with eps {} has no positive square root; check the saved statistics",
                    self.var[c], self.eps
                ),
            ));
        }
        if let Some(c) = self.folded_f32().iter().position(|v| !v.is_finite()) {
            return Err(Error::shape(
                layer,
                format!(
                    "channel {}'s folded scale or shift overflows float32 (weight {}, running_var {}, eps {}); \
                     check the statistics or use a larger eps",
                    c % n.max(1),
                    self.weight[c % n.max(1)],
                    self.var[c % n.max(1)],
                    self.eps
                ),
            ));
        }
        Ok(())
    }

    /// scale for every channel, then shift, rounded to f32: the kernel's operand.
    pub fn folded_f32(&self) -> Vec<f32> {
        let f = self.fold();
        f.iter()
            .map(|&(s, _)| s as f32)
            .chain(f.iter().map(|&(_, t)| t as f32))
            .collect()
    }
}

/// Appends y = batchnorm(x) for x [N, C, ...]; `folded` is `folded_f32`
/// uploaded (`[2C]`). One [`CHANNEL_AFFINE`] step; returns y, of `x`'s
/// shape, NaN-poisoned until the plan runs. The statistics are not checked
/// here: call [`BatchNorm::validate`] before folding them.
///
/// # Errors
///
/// [`Error::Shape`] when `x` has more than 2^32 elements or `folded` is
/// not `[2C]`; [`Error::TooLarge`] or a device error when y cannot be
/// allocated.
pub fn batchnorm_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    folded: &Tensor,
) -> Result<Tensor> {
    let total = check_u32(layer, &x.shape)?;
    let channels = *x.shape.get(1).unwrap_or(&1);
    expect_shape(layer, "folded batch norm", &folded.shape, &[2 * channels])?;
    let plane: usize = x.shape.iter().skip(2).product();
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &x.shape)?;
    let params = ElementwiseParams {
        total,
        plane: plane.max(1) as u32,
        channels: channels.max(1) as u32,
        flags: 0,
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: CHANNEL_AFFINE,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), write("y", &y), read("scale/shift", folded)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: 2 * u64::from(total),
        bytes_moved: 8 * u64::from(total),
    });
    Ok(y)
}

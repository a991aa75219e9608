//! A [`ConvStack`] on float16 storage (`conv --dtype f16`): every conv
//! layer through `conv2d_f16_forward`, its weights and input rounded to
//! float16 once; the reference takes the same rounded values and charges
//! each layer's float16 store (`cpu::half::stored_f16`), which the next
//! layer carries as an input error.

use super::conv_stack::{ConvStack, Layer};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan};
use crate::ops::conv2d::half::conv2d_f16_forward;
use crate::tensor::Tensor;

/// A conv layer's float16 weight and optional bias on the device.
pub type UploadedConv16 = (Tensor, Option<Tensor>);

impl ConvStack {
    /// The first layer that has no float16 kernel yet, as an error naming
    /// it and the way out; Ok when every layer is a conv (ReLU fused in
    /// the conv counts: `conv(..., relu)`).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming the layer.
    pub fn check_f16(&self) -> Result<()> {
        match self.layers.iter().find(|l| !matches!(l.layer, Layer::Conv { .. })) {
            Some(l) => Err(Error::shape(
                &l.name,
                "has no float16 kernel yet (float16 runs convolutions only); run the stack with --dtype f32",
            )),
            None => Ok(()),
        }
    }

    /// Uploads every conv layer's weight and bias once, rounded to float16.
    ///
    /// # Errors
    ///
    /// [`ConvStack::check_f16`]'s, and allocation errors.
    pub fn upload_f16(&self, gpu: &Gpu) -> Result<Vec<UploadedConv16>> {
        self.check_f16()?;
        self.layers
            .iter()
            .filter_map(|l| match &l.layer {
                Layer::Conv { op, weight, bias } => Some((l, op, weight, bias)),
                _ => None,
            })
            .map(|(l, op, weight, bias)| {
                let w = Tensor::upload_f16(
                    gpu,
                    &format!("{} weight", l.name),
                    &op.weight_shape(),
                    weight,
                )?;
                let b = bias
                    .as_ref()
                    .map(|b| Tensor::upload_f16(gpu, &format!("{} bias", l.name), &[b.len()], b))
                    .transpose()?;
                Ok((w, b))
            })
            .collect()
    }

    /// Appends the whole stack on float16 storage to `plan`; `x` must be a
    /// float16 tensor of `input_shape`, the weights from `upload_f16`.
    ///
    /// # Errors
    ///
    /// Shape and device errors of the layers.
    pub fn forward_gpu_f16(
        &self,
        gpu: &Gpu,
        weights: &[UploadedConv16],
        x: &Tensor,
        plan: &mut Plan,
        path: F16Path,
    ) -> Result<Tensor> {
        self.check_f16()?;
        self.check_input(x)?;
        let mut cur = x.clone();
        for (l, (w, b)) in self.layers.iter().zip(weights) {
            if let Layer::Conv { op, .. } = &l.layer {
                cur = conv2d_f16_forward(gpu, plan, &l.name, op, &cur, w, b.as_ref(), path)?;
            }
        }
        Ok(cur)
    }

    /// The f64 reference of the stack on float16 storage: `x` as the GPU
    /// reads it (already rounded), the weights rounded to float16, each
    /// layer's output charged its float16 store.
    pub fn forward_ref_f16(&self, x: &RefTensor) -> RefTensor {
        let mut cur = x.clone();
        for l in &self.layers {
            if let Layer::Conv { op, weight, bias } = &l.layer {
                let w = as_f16(weight);
                let b = bias.as_deref().map(as_f16);
                cur = stored_f16(crate::cpu::conv2d::conv2d(
                    op,
                    &cur,
                    &w,
                    b.as_deref(),
                    l.out_shape,
                ));
            }
        }
        cur
    }
}

//! The f64 reference of a layer, reachable from the same parameter value
//! the GPU side records (`ops::layer`): `conv.reference(&x, &w, bias)`.
//! The bias rule is the GPU side's: given, or `None` for none.
//!
//! ```
//! use wgsl_nn::prelude::*;
//! let conv = Conv2d::new(1, 1, 3).padding(1);
//! let x = RefTensor::from_f32(&[1, 1, 3, 3], &[1.0; 9]);
//! let y = conv.reference(&x, &[1.0; 9], None)?;
//! // A 3x3 box sum over zero padding: 4 at the corners, 9 in the middle.
//! assert_eq!((y.val[0], y.val[4]), (4.0, 9.0));
//! # Ok::<(), wgsl_nn::Error>(())
//! ```

use super::RefTensor;
use crate::error::{Error, Result};
use crate::ops::conv2d::Conv2d;
use crate::ops::matmul::Matmul;
use crate::ops::pool2d::Pool2d;

impl Conv2d {
    /// The reference output for NCHW `x`, `weight` [out, in / groups, kh,
    /// kw] and `bias` `[out]` (or none); errors name a shape that does not fit.
    pub fn reference(
        &self,
        x: &RefTensor,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<RefTensor> {
        let conv = self.clone().bias(bias.is_some());
        let out = conv.output_shape(&x.shape, &conv.describe())?;
        crate::ops::expect_shape(
            &conv.describe(),
            "weight",
            &[weight.len()],
            &[conv.weight_shape().iter().product()],
        )?;
        Ok(super::conv2d::conv2d(&conv, x, weight, bias, out))
    }
}

impl Pool2d {
    /// The reference output for NCHW `x`.
    pub fn reference(&self, x: &RefTensor) -> Result<RefTensor> {
        let out = self.output_shape(&x.shape, &self.describe())?;
        Ok(super::pool2d::pool2d(self, x, out))
    }
}

impl Matmul {
    /// The reference C for dense operands laid out as `dense_views` says;
    /// an operand with the wrong number of elements is an error naming it.
    pub fn reference(
        &self,
        a: &RefTensor,
        b: &RefTensor,
        bias: Option<&[f32]>,
    ) -> Result<RefTensor> {
        let mm = Matmul {
            bias: bias.is_some(),
            ..self.clone()
        };
        let ([av, bv, cv], out) = mm.dense_views()?;
        let batch = mm.batches[0];
        for (name, t, want) in [("A", a, batch * mm.m * mm.k), ("B", b, batch * mm.k * mm.n)] {
            if t.val.len() != want {
                return Err(Error::shape(
                    mm.describe(),
                    format!(
                        "{name} has {} elements ({:?}) but {want} were expected",
                        t.val.len(),
                        t.shape
                    ),
                ));
            }
        }
        if let Some(bias) = bias {
            crate::ops::expect_shape(&mm.describe(), "bias", &[bias.len()], &[mm.n])?;
        }
        let mut c = RefTensor::zeros(&out);
        super::matmul::matmul_into(&mm, (a, av), (b, bv), bias, (&mut c, cv));
        Ok(c)
    }
}

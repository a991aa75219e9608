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
use crate::error::Result;
use crate::ops::conv2d::Conv2d;
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

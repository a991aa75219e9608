//! wgsl-nn: neural-network layers as WGSL compute shaders, run through wgpu
//! on any adapter, each checked against an f64 CPU reference and timed.
//!
//! Every layer exists three times: its parameters (`ops::*`, which know
//! their output shape and FLOPs, with PyTorch's defaults), its GPU forward
//! (a kernel in `shaders/` that `ops` appends to a [`gpu::Plan`]), and its
//! f64 reference (`cpu::*`). [`check::compare`] turns the two sides into a
//! verdict; [`gpu::timer::time_plan`] times a whole plan. docs/ARCHITECTURE.md
//! in the repository is the map.
//!
//! One conv on your own tensor, checked and timed (it needs an adapter:
//! on Linux without a GPU, Mesa's lavapipe):
//!
//! ```
//! use wgsl_nn::prelude::*;
//! let gpu = Gpu::new(&AdapterChoice::default())?;
//! let conv = Conv2d::new(2, 4, 3).padding(1); // nn.Conv2d(2, 4, 3, padding=1)
//! let x: Vec<f32> = (0..2 * 8 * 8).map(|i| (i % 5) as f32 - 2.0).collect();
//! let w = vec![0.25f32; 4 * 2 * 3 * 3];
//! let xt = Tensor::upload(&gpu, "x", &[1, 2, 8, 8], &x)?;
//! let wt = Tensor::upload(&gpu, "w", &conv.weight_shape(), &w)?;
//! let mut plan = Plan::new();
//! let y = conv.record(&gpu, &mut plan, &xt, &wt, None)?; // no bias
//! gpu.run(&plan)?;
//! let reference = conv.reference(&RefTensor::from_f32(&[1, 2, 8, 8], &x), &w, None)?;
//! let verdict = compare(&y.download(&gpu)?, &reference);
//! assert!(verdict.passed, "{}", verdict.summary());
//! let timing = time_plan(&gpu, &plan, 1, 5)?;
//! assert!(timing.median_ms > 0.0);
//! # Ok::<(), wgsl_nn::Error>(())
//! ```

// Ops take the device, the plan, a label, their parameters and several
// tensors; bundling those into structs would only hide what each binds.
#![allow(clippy::too_many_arguments)]
#![warn(missing_docs)]

#[cfg(feature = "app")]
pub mod app;
pub mod check;
pub mod cpu;
pub mod dtype;
pub mod error;
pub mod geometry;
pub mod gpu;
pub mod graph;
pub mod models;
pub mod ops;
pub mod receptive;
pub mod rung;
pub mod spec;
pub mod tensor;

pub use error::{Error, Result};
pub use tensor::Tensor;

/// The names most programs need, in one `use`:
///
/// ```
/// use wgsl_nn::prelude::*;
/// let conv = Conv2d::new(1, 8, 3).padding(1);
/// assert_eq!(conv.weight_shape(), [8, 1, 3, 3]);
/// ```
pub mod prelude {
    pub use crate::check::{compare, Check};
    pub use crate::cpu::{RefTensor, RefTime};
    pub use crate::geometry::Window;
    pub use crate::gpu::timer::{time_plan, PlanTiming};
    pub use crate::gpu::{AdapterChoice, Gpu, Plan};
    pub use crate::ops::conv2d::Conv2d;
    pub use crate::ops::matmul::{Activation, Matmul, View};
    pub use crate::ops::pool2d::{Pool2d, PoolKind};
    pub use crate::rung::{AttentionRung, ConvRung, Kernels, MatmulRung, Rung, SoftmaxRung};
    pub use crate::{Error, Result, Tensor};
}

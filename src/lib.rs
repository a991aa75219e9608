//! wgsl-nn: neural-network layers as WGSL compute shaders, run through wgpu
//! on any adapter, each checked against an f64 CPU reference and timed.
//!
//! Every layer exists three times: its parameters (`ops::*`, which know
//! their output shape and FLOPs), its GPU forward (a kernel in `shaders/`
//! that `ops` appends to a [`gpu::Plan`]), and its CPU reference (`cpu::*`).
//! [`check`] compares the two; [`gpu::Gpu::run`] times a whole plan.
//!
//! ```no_run
//! use wgsl_nn::{gpu::{AdapterChoice, Gpu}, spec, models::conv_stack::ConvStack};
//! let gpu = Gpu::new(&AdapterChoice::default())?;
//! let layers = spec::parse_stack(spec::EXERCISE_STACK)?;
//! let stack = ConvStack::new(&layers, [1, 1, 128, 128])?;
//! assert_eq!(stack.output_shape(), [1, 1, 30, 30]);
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
pub mod error;
pub mod geometry;
pub mod gpu;
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

//! The layer API a user writes by hand: `record` appends a layer to a
//! plan (labelled from its parameters, so no label is needed), `forward`
//! runs it alone at once, and the f64 reference of the same value is
//! `reference` (in `cpu::layer`). A bias is given one way: pass the
//! tensor, or `None` for no bias (the parameters' `bias` flag follows).
//!
//! ```no_run
//! use wgsl_nn::prelude::*;
//! let gpu = Gpu::new(&AdapterChoice::default())?;
//! let conv = Conv2d::new(3, 8, 3).padding(1);
//! let x = Tensor::upload(&gpu, "x", &[1, 3, 16, 16], &[0.5; 768])?;
//! let w = Tensor::upload(&gpu, "w", &conv.weight_shape(), &vec![0.1; 216])?;
//! let y = conv.forward(&gpu, &x, &w, None)?; // one submission, run now
//! assert_eq!(y.shape, [1, 8, 16, 16]);
//! # Ok::<(), wgsl_nn::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan};
use crate::ops::conv2d::{conv2d_forward, Conv2d};
use crate::ops::matmul::{matmul_into, Matmul, View};
use crate::ops::pool2d::{pool2d_forward, Pool2d, PoolKind};
use crate::tensor::Tensor;

/// "layer N: what": steps are named by their place in the plan.
fn label(plan: &Plan, what: String) -> String {
    format!("layer {}: {what}", plan.steps.len() + 1)
}

impl Conv2d {
    /// A short description: "conv2d 3->8 3x3 s1" (plus "+relu").
    pub fn describe(&self) -> String {
        let w = &self.window;
        format!(
            "conv2d {}->{} {}x{} s{}{}",
            self.in_channels,
            self.out_channels,
            w.kernel[0],
            w.kernel[1],
            w.stride[0],
            if self.relu { "+relu" } else { "" }
        )
    }

    /// Appends this conv to `plan` and returns its output (NaN until the
    /// plan runs). `x` is NCHW, `weight` `[out, in / groups, kh, kw]`,
    /// `bias` `[out]` or `None`. Errors name the layer and the bad shape.
    pub fn record(
        &self,
        gpu: &Gpu,
        plan: &mut Plan,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let conv = self.clone().bias(bias.is_some());
        let name = label(plan, conv.describe());
        conv2d_forward(gpu, plan, &name, &conv, x, weight, bias)
    }

    /// Runs this conv alone, now, in one submission; returns the output.
    pub fn forward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mut plan = Plan::new();
        let y = self.record(gpu, &mut plan, x, weight, bias)?;
        gpu.run(&plan)?;
        Ok(y)
    }
}

impl Pool2d {
    /// Max pooling over `window` (PyTorch's nn.MaxPool2d).
    pub fn max(window: crate::geometry::Window) -> Pool2d {
        Pool2d {
            kind: PoolKind::Max,
            window,
            count_include_pad: true,
        }
    }

    /// A short description: "maxpool 2x2 s2".
    pub fn describe(&self) -> String {
        let w = &self.window;
        let kind = match self.kind {
            PoolKind::Max => "maxpool",
            PoolKind::Avg => "avgpool",
        };
        format!("{kind} {}x{} s{}", w.kernel[0], w.kernel[1], w.stride[0])
    }

    /// Appends this pooling to `plan`; returns its output (NaN until run).
    pub fn record(&self, gpu: &Gpu, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        let name = label(plan, self.describe());
        pool2d_forward(gpu, plan, &name, self, x)
    }

    /// Runs this pooling alone, now; returns the output.
    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
        let mut plan = Plan::new();
        let y = self.record(gpu, &mut plan, x)?;
        gpu.run(&plan)?;
        Ok(y)
    }
}

impl Matmul {
    /// A short description: "matmul 64x32x128" (M x N x K, batches first
    /// when there are several).
    pub fn describe(&self) -> String {
        let b = self.batches[0] * self.batches[1];
        let batch = if b > 1 {
            format!("{b} x ")
        } else {
            String::new()
        };
        format!("matmul {batch}{}x{}x{}", self.m, self.n, self.k)
    }

    /// The dense layouts `record` and `reference` take: A [batch, m, k]
    /// ([batch, k, m] when `trans_a`), B [batch, k, n] ([batch, n, k] when
    /// `trans_b`), C [batch, m, n] (the batch axis left out when it is 1,
    /// as `torch.matmul` does for 2-D operands). Inner batches need views:
    /// use `matmul_into` for those.
    pub fn dense_views(&self) -> Result<([View; 3], Vec<usize>)> {
        if self.batches[1] != 1 {
            return Err(Error::shape(
                self.describe(),
                format!(
                    "dense operands take batches [b, 1], not {:?}; use ops::matmul::matmul_into with views for inner batches",
                    self.batches
                ),
            ));
        }
        let (m, n, k) = (self.m, self.n, self.k);
        let a = if self.trans_a {
            View::dense(k, m, false)
        } else {
            View::dense(m, k, false)
        };
        let b = if self.trans_b {
            View::dense(n, k, false)
        } else {
            View::dense(k, n, false)
        };
        let out = match self.batches[0] {
            1 => vec![m, n],
            b => vec![b, m, n],
        };
        Ok(([a, b, View::dense(m, n, false)], out))
    }

    /// Appends C = act(alpha op(A) op(B) + bias) to `plan` for dense
    /// row-major operands (see `dense_views`) and returns C (NaN until the
    /// plan runs). `bias` `[n]` or `None`; a tensor too small for its view
    /// is an error naming it.
    pub fn record(
        &self,
        gpu: &Gpu,
        plan: &mut Plan,
        a: &Tensor,
        b: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mm = Matmul {
            bias: bias.is_some(),
            ..self.clone()
        };
        let ([av, bv, cv], out) = mm.dense_views()?;
        let name = label(plan, mm.describe());
        let c = Tensor::poisoned(gpu, &format!("{name} output"), &out)?;
        matmul_into(gpu, plan, &name, &mm, (a, av), (b, bv), bias, (&c, cv))?;
        Ok(c)
    }

    /// Runs this product alone, now, in one submission; returns C.
    pub fn forward(
        &self,
        gpu: &Gpu,
        a: &Tensor,
        b: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mut plan = Plan::new();
        let c = self.record(gpu, &mut plan, a, b, bias)?;
        gpu.run(&plan)?;
        Ok(c)
    }
}

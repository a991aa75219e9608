//! A matrix product's parameters: the views of its operands, its epilogue,
//! and the uniform struct its kernels read (matmul_common.wgsl).

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The matmul families share their params and epilogue (matmul_common.wgsl).
macro_rules! matmul_source {
    ($file:literal) => {
        concat!(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/matmul_common.wgsl"
            )),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file))
        )
    };
}
pub(crate) use matmul_source;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    /// tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Gelu,
}

/// A matrix inside a tensor: element (r, c) of batch (o, i) sits at
/// `o * outer + i * inner + r * ld + c` (or `c * ld + r` when transposed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub ld: usize,
    pub outer: usize,
    pub inner: usize,
}

impl View {
    /// A dense [batch, rows, cols] tensor (or one matrix shared by every
    /// batch when `shared`).
    pub fn dense(rows: usize, cols: usize, shared: bool) -> View {
        View {
            ld: cols,
            outer: if shared { 0 } else { rows * cols },
            inner: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matmul {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// (outer, inner) batch counts.
    pub batches: [usize; 2],
    pub trans_a: bool,
    pub trans_b: bool,
    pub bias: bool,
    pub act: Activation,
    pub alpha: f32,
}

impl Matmul {
    /// C = A B for n x n A and B, nothing else.
    pub fn square(n: usize) -> Matmul {
        Matmul {
            m: n,
            n,
            k: n,
            batches: [1, 1],
            trans_a: false,
            trans_b: false,
            bias: false,
            act: Activation::None,
            alpha: 1.0,
        }
    }
}

/// Twin of `MatmulParams` in shaders/matmul.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub batch_inner: u32,
    pub batches: u32,
    pub flags: u32,
    pub lda: u32,
    pub ldb: u32,
    pub ldc: u32,
    pub a_so: u32,
    pub a_si: u32,
    pub b_so: u32,
    pub b_si: u32,
    pub c_so: u32,
    pub c_si: u32,
    pub tiles_n: u32,
    pub tiles_m: u32,
    pub total: u32,
    pub alpha: f32,
    pub k0: u32,
    pub k1: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub c_off: u32,
}

impl Matmul {
    pub fn flops(&self) -> u64 {
        2 * (self.batches[0] * self.batches[1]) as u64 * (self.m * self.n * self.k) as u64
    }

    /// The largest element index a view touches, +1; must fit the tensor.
    fn extent(&self, v: &View, rows: usize, cols: usize, trans: bool) -> usize {
        let (r, c) = if trans { (cols, rows) } else { (rows, cols) };
        (self.batches[0] - 1) * v.outer + (self.batches[1] - 1) * v.inner + (r - 1) * v.ld + c
    }

    pub(crate) fn check_view(
        &self,
        layer: &str,
        name: &str,
        t: &Tensor,
        v: &View,
        rows: usize,
        cols: usize,
        trans: bool,
    ) -> Result<()> {
        let (r, c) = if trans { (cols, rows) } else { (rows, cols) };
        if v.ld < c {
            return Err(Error::shape(
                layer,
                format!(
                    "{name}: leading dimension {} is smaller than its {c} columns",
                    v.ld
                ),
            ));
        }
        let need = self.extent(v, rows, cols, trans);
        if need > t.numel() {
            return Err(Error::shape(
                layer,
                format!("{name} needs {need} elements ({} x {r} x {c} with strides) but the tensor {:?} has {}", self.batches[0] * self.batches[1], t.shape, t.numel()),
            ));
        }
        Ok(())
    }
}

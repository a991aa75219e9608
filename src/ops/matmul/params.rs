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
/// The activation applied to C after the bias (the last k part only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Identity: C is left as it is.
    None,
    /// max(x, 0), like `torch.relu`; a NaN stays NaN.
    Relu,
    /// tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Gelu,
}

/// A matrix inside a tensor: element (r, c) of batch (o, i) sits at
/// `o * outer + i * inner + r * ld + c` (or `c * ld + r` when transposed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Leading dimension: elements between consecutive rows of the stored
    /// matrix (between columns of the logical one when transposed).
    pub ld: usize,
    /// Element stride between outer batches (0: shared by all of them).
    pub outer: usize,
    /// Element stride between inner batches (0: shared by all of them).
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

/// A batched matrix product C = act(alpha * op(A) op(B) + bias), like
/// `torch.matmul` (with `torch.addmm`'s alpha and bias, `F.linear`'s
/// transposed weight) over `batches` outer x inner matrices.
#[derive(Debug, Clone, PartialEq)]
pub struct Matmul {
    /// Rows of C and of op(A) (`A.shape[-2]` in PyTorch).
    pub m: usize,
    /// Columns of C and of op(B) (`B.shape[-1]` in PyTorch).
    pub n: usize,
    /// Reduction length: columns of op(A), rows of op(B).
    pub k: usize,
    /// (outer, inner) batch counts.
    pub batches: [usize; 2],
    /// A is stored transposed (k x m): op(A) = A^T, like passing `A.mT`.
    pub trans_a: bool,
    /// B is stored transposed (n x k): op(B) = B^T, like `F.linear`'s
    /// [out, in] weight.
    pub trans_b: bool,
    /// Add a bias vector of length n to every row of C, like `F.linear`'s
    /// or `torch.addmm`'s bias.
    pub bias: bool,
    /// Activation applied after the bias.
    pub act: Activation,
    /// Scale of the product, like `torch.addmm`'s `alpha`.
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

/// Twin of the `MatmulParams` uniform in shaders/matmul_common.wgsl (same
/// field order), read by every matmul kernel.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    /// Rows of C (and of op(A)).
    pub m: u32,
    /// Columns of C (and of op(B)).
    pub n: u32,
    /// Reduction length (the texture rung reads Kp, K padded to 4).
    pub k: u32,
    /// Inner batch count: flat batch z is (z / batch_inner, z % batch_inner).
    pub batch_inner: u32,
    /// Total batch count (outer x inner).
    pub batches: u32,
    /// Bit flags: 4 bias, 8 ReLU, 16 GELU, 32 first k part, 64 last k part,
    /// 256 bias per row of C (the texture rung adds 128 trans B, 512 trans A).
    /// Bits 24 and up stay zero: matmul_tex.wgsl hides a loop bound there.
    pub flags: u32,
    /// Leading dimension of A.
    pub lda: u32,
    /// Leading dimension of B.
    pub ldb: u32,
    /// Leading dimension of C.
    pub ldc: u32,
    /// A's outer batch stride (elements).
    pub a_so: u32,
    /// A's inner batch stride (elements).
    pub a_si: u32,
    /// B's outer batch stride (elements).
    pub b_so: u32,
    /// B's inner batch stride (elements).
    pub b_si: u32,
    /// C's outer batch stride (elements).
    pub c_so: u32,
    /// C's inner batch stride (elements).
    pub c_si: u32,
    /// Column blocks of C per batch (`block_of`).
    pub tiles_n: u32,
    /// Row blocks of C per batch (`block_of`).
    pub tiles_m: u32,
    /// Invocations (workgroups for sm128) that own a block; later ones return.
    pub total: u32,
    /// Scale applied to the product in the epilogue.
    pub alpha: f32,
    /// First k this dispatch reduces over.
    pub k0: u32,
    /// One past the last k this dispatch reduces over.
    pub k1: u32,
    /// Shift mapping A's absolute indices into its bound range (may wrap).
    pub a_off: u32,
    /// Shift mapping B's absolute indices into its bound range (may wrap).
    pub b_off: u32,
    /// Shift mapping C's absolute indices into its bound range (may wrap).
    pub c_off: u32,
}

impl Matmul {
    /// Floating-point operations of the product: 2 m n k per batch.
    pub fn flops(&self) -> u64 {
        2 * (self.batches[0] * self.batches[1]) as u64 * (self.m * self.n * self.k) as u64
    }

    /// The largest element index a view touches, +1; must fit the tensor.
    pub(crate) fn extent(&self, v: &View, rows: usize, cols: usize, trans: bool) -> usize {
        let (r, c) = if trans { (cols, rows) } else { (rows, cols) };
        (self.batches[0] - 1) * v.outer + (self.batches[1] - 1) * v.inner + (r - 1) * v.ld + c
    }

    /// Every size at least 1, or an error naming the layer.
    pub(crate) fn check_sizes(&self, layer: &str) -> Result<()> {
        if self.m == 0 || self.n == 0 || self.k == 0 || self.batches.contains(&0) {
            return Err(Error::shape(
                layer,
                format!(
                    "matrix product of size {}x{}x{} (batches {:?}): every size must be at least 1",
                    self.m, self.k, self.n, self.batches
                ),
            ));
        }
        Ok(())
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

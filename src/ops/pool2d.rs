//! Max and average pooling: parameters and GPU forward.
//! Reference: `cpu::pool2d`.

use super::conv2d::nchw;
use super::{check_u32, kernel, read, u, workgroup_1d, write};
use crate::error::{Error, Result};
use crate::geometry::Window;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = shaders!("pool2d_common.wgsl", "pool2d.wgsl");
/// Max pooling, one invocation per output element (`max_pool2d`).
pub const MAX: Kernel = kernel("pool2d", SOURCE, "max_pool2d");
/// Average pooling, one invocation per output element (`avg_pool2d`).
pub const AVG: Kernel = kernel("pool2d", SOURCE, "avg_pool2d");

/// Which reduction a pooling window applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value in the window (PyTorch's `MaxPool2d`); padding
    /// never wins, and a NaN in the window makes the output NaN.
    Max,
    /// The mean of the window (PyTorch's `AvgPool2d`), divided by the
    /// in-bounds tap count unless `count_include_pad` is set.
    Avg,
}

/// A 2-D pooling layer over NCHW input, mirroring PyTorch's `MaxPool2d`
/// and `AvgPool2d` (padding, dilation for max, `ceil_mode`,
/// `count_include_pad`). Each (batch, channel) plane is pooled on its own,
/// so the output keeps N and C: `[n, c, oh, ow]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool2d {
    /// Max or average.
    pub kind: PoolKind,
    /// Kernel size, stride, padding (in pixels, top/left and bottom/right),
    /// dilation and `ceil_mode`, as PyTorch's `kernel_size`, `stride`,
    /// `padding`, `dilation` and `ceil_mode` arguments.
    pub window: Window,
    /// Average pooling only: divide by the window including padding.
    pub count_include_pad: bool,
}

/// The uniform params of one pooling step: twin of `Pool2dParams` in
/// shaders/pool2d.wgsl (binding 0), field for field. Sizes are in elements.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Pool2dParams {
    /// Planes pooled: batch x channels (N * C).
    pub planes: u32,
    /// Input height.
    pub h: u32,
    /// Input width.
    pub w: u32,
    /// Output height.
    pub oh: u32,
    /// Output width.
    pub ow: u32,
    /// Window height (taps).
    pub kh: u32,
    /// Window width (taps).
    pub kw: u32,
    /// Vertical stride.
    pub sh: u32,
    /// Horizontal stride.
    pub sw: u32,
    /// Padding rows above the input. The average's padded count also
    /// takes it as the padding below (PyTorch pads both sides alike).
    pub ph: u32,
    /// Padding columns left of the input (and, for the average's padded
    /// count, right of it).
    pub pw: u32,
    /// Vertical dilation (max pooling only; 1 for average).
    pub dh: u32,
    /// Horizontal dilation (max pooling only; 1 for average).
    pub dw: u32,
    /// Bit 0: average (else max); bit 1: `count_include_pad`.
    pub flags: u32,
    /// Output elements, N * C * oh * ow: invocations at or past it return.
    pub total: u32,
    /// Padding to 16 bytes; always 0.
    pub _pad: u32,
}

impl Pool2d {
    /// The output shape `[n, c, oh, ow]` for an NCHW `input`, with
    /// PyTorch's output-size formula (floor, or ceil with `ceil_mode`).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming `layer` when the input is not 4-D, when
    /// padding exceeds half the kernel on either side, when average pooling
    /// is given a dilation other than 1 (PyTorch refuses both), when the
    /// kernel, stride or dilation is 0, or when the window does not fit the
    /// padded input.
    pub fn output_shape(&self, input: &[usize], layer: &str) -> Result<[usize; 4]> {
        let [n, c, h, w] = nchw(input, layer)?;
        let wd = &self.window;
        for a in 0..2 {
            // PyTorch refuses this too: a window could then lie entirely in
            // the padding and have nothing to pool.
            if wd.pad_begin[a] > wd.kernel[a] / 2 || wd.pad_end[a] > wd.kernel[a] / 2 {
                return Err(Error::shape(
                    layer,
                    format!(
                        "pooling padding {} must be at most half the kernel size {} (as in PyTorch)",
                        wd.pad_begin[a].max(wd.pad_end[a]),
                        wd.kernel[a]
                    ),
                ));
            }
        }
        if self.kind == PoolKind::Avg && wd.dilation != [1, 1] {
            return Err(Error::shape(
                layer,
                "average pooling has no dilation (as in PyTorch)",
            ));
        }
        let [oh, ow] = wd.output_size([h, w], layer)?;
        Ok([n, c, oh, ow])
    }

    /// One operation per window tap per output element of shape `out`
    /// (a compare for max, an add for average).
    pub fn flops(&self, out: &[usize; 4]) -> u64 {
        out.iter().map(|&d| d as u64).product::<u64>()
            * (self.window.kernel[0] * self.window.kernel[1]) as u64
    }
}

impl Pool2d {
    /// The kernel's params for input `x` [N, C, H, W], output `out` and
    /// `total` outputs.
    pub(crate) fn params(&self, x: &[usize], out: &[usize], total: u32) -> Pool2dParams {
        let wd = &self.window;
        Pool2dParams {
            planes: u(out[0] * out[1]),
            h: u(x[2]),
            w: u(x[3]),
            oh: u(out[2]),
            ow: u(out[3]),
            kh: u(wd.kernel[0]),
            kw: u(wd.kernel[1]),
            sh: u(wd.stride[0]),
            sw: u(wd.stride[1]),
            ph: u(wd.pad_begin[0]),
            pw: u(wd.pad_begin[1]),
            dh: u(wd.dilation[0]),
            dw: u(wd.dilation[1]),
            flags: u32::from(self.kind == PoolKind::Avg) | (u32::from(self.count_include_pad) << 1),
            total,
            _pad: 0,
        }
    }

    /// Refuses a window longer than one invocation may loop here.
    pub(crate) fn check_budget(&self, gpu: &Gpu, layer: &str) -> Result<()> {
        let k = self.window.kernel;
        super::within_loop_budget(
            gpu,
            layer,
            (k[0] * (k[1] + 1)) as u64,
            &format!("a {}x{} pooling window", k[0], k[1]),
        )
    }
}

/// Appends one pooling step over the NCHW tensor `x` to `plan` and
/// returns its output, `[n, c, oh, ow]` (see [`Pool2d::output_shape`]),
/// NaN-poisoned until the plan runs. Checked against `cpu::pool2d`.
///
/// # Errors
///
/// [`Error::Shape`] for the shapes [`Pool2d::output_shape`] refuses, for an
/// input or output of more than 2^32 elements (kernels index with u32), or
/// for a window with more taps than the adapter's loop budget allows
/// (llvmpipe); [`Error::TooLarge`] or a device error when the output
/// cannot be allocated.
pub fn pool2d_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    pool: &Pool2d,
    x: &Tensor,
) -> Result<Tensor> {
    let out = pool.output_shape(&x.shape, layer)?;
    check_u32(&format!("{layer} input"), &x.shape)?;
    let total = check_u32(&format!("{layer} output"), &out)?;
    pool.check_budget(gpu, layer)?;
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &out)?;
    let params = pool.params(&x.shape, &out, total);
    plan.push(Step {
        label: layer.to_string(),
        kernel: if pool.kind == PoolKind::Max { MAX } else { AVG },
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), write("y", &y)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: pool.flops(&out),
        bytes_moved: 4 * (x.numel() + y.numel()) as u64,
    });
    Ok(y)
}

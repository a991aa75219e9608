//! Transposed conv2d (conv2d's gradient with respect to its input):
//! parameters and GPU forward. Reference: `cpu::conv_transpose2d`.

use super::conv2d::{bias_or_dummy, nchw, Conv2dParams};
use super::{
    check_u32, expect_shape, kernel, part_flags, part_label, read, split_range, u, workgroup_1d,
    write,
};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/conv_transpose2d.wgsl");
/// The gather form: one invocation per output element, summing the input
/// pixels whose scattered taps land on it (no two invocations write the
/// same element). Its params are [`Conv2dParams`].
pub const GATHER: Kernel = kernel("conv_transpose2d", SOURCE, "conv_transpose2d_gather");

/// PyTorch's ConvTranspose2d (groups = 1): weight [Cin, Cout, kH, kW].
/// Pairs of `[usize; 2]` are (height, width), as PyTorch's tuples.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTranspose2d {
    /// Channels of the input, Cin (PyTorch's `in_channels`).
    pub in_channels: usize,
    /// Channels of the output, Cout (PyTorch's `out_channels`).
    pub out_channels: usize,
    /// Kernel size in taps (`kernel_size`).
    pub kernel: [usize; 2],
    /// How far apart consecutive input pixels land in the output
    /// (`stride`).
    pub stride: [usize; 2],
    /// Rows/columns cropped from each side of the full output
    /// (`padding`: `dilation * (kernel - 1) - padding` of zero padding
    /// in the equivalent convolution).
    pub padding: [usize; 2],
    /// Extra rows/columns added to one side of the output
    /// (`output_padding`); must be smaller than stride or dilation.
    pub output_padding: [usize; 2],
    /// Spacing between kernel taps (`dilation`).
    pub dilation: [usize; 2],
    /// Adds a learned bias of `out_channels` values (`bias`).
    pub bias: bool,
    /// Applies ReLU after the bias, fused into the same kernel (a
    /// following `nn.ReLU` folded in; not a ConvTranspose2d argument).
    pub relu: bool,
}

impl ConvTranspose2d {
    /// The weight's shape, `[Cin, Cout, kH, kW]`, as PyTorch stores it.
    pub fn weight_shape(&self) -> [usize; 4] {
        [
            self.in_channels,
            self.out_channels,
            self.kernel[0],
            self.kernel[1],
        ]
    }

    /// PyTorch's rule: out = (in - 1) * stride - 2 * padding
    ///                       + dilation * (kernel - 1) + output_padding + 1.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming `layer` when a kernel size, stride or
    /// dilation is 0, when `output_padding` is not smaller than both stride
    /// and dilation (PyTorch's rule), or when the padding crops the whole
    /// output.
    pub fn output_hw(&self, input_hw: [usize; 2], layer: &str) -> Result<[usize; 2]> {
        let mut out = [0; 2];
        for a in 0..2 {
            let (k, s, d, p, op) = (
                self.kernel[a],
                self.stride[a],
                self.dilation[a],
                self.padding[a],
                self.output_padding[a],
            );
            if k == 0 || s == 0 || d == 0 {
                return Err(Error::shape(
                    layer,
                    "kernel, stride and dilation must be at least 1",
                ));
            }
            if op >= s.max(d) {
                return Err(Error::shape(
                    layer,
                    format!("output_padding {op} must be smaller than stride or dilation (as in PyTorch)"),
                ));
            }
            let full = (input_hw[a].max(1) - 1) * s + d * (k - 1) + op + 1;
            out[a] = full.checked_sub(2 * p).filter(|&o| o >= 1).ok_or_else(|| {
                Error::shape(
                    layer,
                    format!("padding {p} removes the whole output ({full} before cropping); use less padding"),
                )
            })?;
        }
        Ok(out)
    }

    /// The output shape `[n, Cout, oh, ow]` for an NCHW `input`, with the
    /// height and width from [`ConvTranspose2d::output_hw`].
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when the input is not 4-D or does not have
    /// `in_channels` channels, and the errors of `output_hw`.
    pub fn output_shape(&self, input: &[usize], layer: &str) -> Result<[usize; 4]> {
        let [n, c, h, w] = nchw(input, layer)?;
        if c != self.in_channels {
            return Err(Error::shape(
                layer,
                format!(
                    "input has {c} channels but the layer expects {}",
                    self.in_channels
                ),
            ));
        }
        let [oh, ow] = self.output_hw([h, w], layer)?;
        Ok([n, self.out_channels, oh, ow])
    }

    /// FLOPs for an input of shape `input`, a multiply-add counted as two:
    /// every input element meets every output channel through every tap
    /// (taps cropped by the padding included).
    pub fn flops(&self, input: &[usize]) -> u64 {
        2 * input.iter().map(|&d| d as u64).product::<u64>()
            * (self.out_channels * self.kernel[0] * self.kernel[1]) as u64
    }
}

/// Appends the transposed convolution to `plan`, its output size from
/// PyTorch's rule ([`ConvTranspose2d::output_shape`]). `x` is NCHW,
/// `weight` `[Cin, Cout, kH, kW]`, `bias` `[Cout]` exactly when `ct.bias`.
/// Returns y, NaN-poisoned until the plan runs.
///
/// # Errors
///
/// Those of `output_shape`, and those of [`forward_to`].
pub fn conv_transpose2d_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    ct: &ConvTranspose2d,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let out = ct.output_shape(&x.shape, layer)?;
    forward_to(gpu, plan, layer, ct, x, weight, bias, out)
}

/// As `conv_transpose2d_forward`, with the output size given: the adjoint of
/// a conv whose trailing padding differs from its leading one (padding
/// 'same' with an even kernel) needs a size PyTorch's rule cannot express.
///
/// Appends one [`GATHER`] step, or several when the input channels must be
/// split to stay within the adapter's loop and per-dispatch work budgets
/// (labelled `"{layer} [channels a..b]"`; the first starts from zero, the
/// last adds bias and ReLU). Returns y of shape `out`, NaN-poisoned until
/// the plan runs.
///
/// # Errors
///
/// [`Error::Shape`] when `x` is not NCHW with `in_channels` channels, when
/// `out` does not keep the batch and have `out_channels` channels, when
/// the weight's shape is not [`ConvTranspose2d::weight_shape`], when a bias
/// is given without `ct.bias` (or missing with it) or is not `[Cout]`, when
/// a tensor has more than 2^32 elements, or when one kernel window alone
/// exceeds the adapter's loop budget; [`Error::TooLarge`] or a device
/// error when y cannot be allocated.
#[allow(clippy::too_many_arguments)]
pub fn forward_to(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    ct: &ConvTranspose2d,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out: [usize; 4],
) -> Result<Tensor> {
    let [n, cin, h, w] = nchw(&x.shape, layer)?;
    if cin != ct.in_channels || out[0] != n || out[1] != ct.out_channels {
        return Err(Error::shape(
            layer,
            format!(
                "input {:?} / output {out:?} do not match the layer's channels {} -> {}",
                x.shape, ct.in_channels, ct.out_channels
            ),
        ));
    }
    expect_shape(layer, "weight", &weight.shape, &ct.weight_shape())?;
    let bias = bias_or_dummy(gpu, layer, ct.bias, ct.out_channels, bias)?;
    for (name, shape) in [
        ("input", &x.shape[..]),
        ("weight", &weight.shape),
        ("output", &out),
    ] {
        check_u32(&format!("{layer} {name}"), shape)?;
    }
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &out)?;
    let params = Conv2dParams {
        n: u(n),
        cin: u(cin),
        h: u(h),
        w: u(w),
        cout: u(out[1]),
        oh: u(out[2]),
        ow: u(out[3]),
        kh: u(ct.kernel[0]),
        kw: u(ct.kernel[1]),
        sh: u(ct.stride[0]),
        sw: u(ct.stride[1]),
        ph: u(ct.padding[0]),
        pw: u(ct.padding[1]),
        dh: u(ct.dilation[0]),
        dw: u(ct.dilation[1]),
        flags: u32::from(ct.bias) | (u32::from(ct.relu) << 1),
        total: u(out.iter().product()),
        ci0: 0,
        ci1: u(cin),
        groups: 1,
    };
    let [kh, kw] = ct.kernel;
    // Loops: kh rows, kw taps each, and the channels innermost.
    let parts = split_range(
        gpu,
        layer,
        cin,
        (kh * kw) as u64,
        (kh + kh * kw) as u64,
        u64::from(params.total),
    )?;
    for (n, &(c0, c1)) in parts.iter().enumerate() {
        let params = Conv2dParams {
            ci0: u(c0),
            ci1: u(c1),
            flags: params.flags | part_flags(n, parts.len()),
            ..params
        };
        plan.push(Step {
            label: part_label(layer, "channels", c0, c1, parts.len()),
            kernel: GATHER,
            overrides: vec![],
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                read("x", x),
                read("weight", weight),
                read("bias", &bias),
                write("y", &y),
            ],
            invocations: u64::from(params.total),
            workgroup_size: workgroup_1d(gpu),
            flops: ct.flops(&x.shape) * (c1 - c0) as u64 / cin as u64,
            bytes_moved: 4 * (x.numel() + weight.numel() + y.numel()) as u64,
        });
    }
    Ok(y)
}

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
pub const GATHER: Kernel = kernel("conv_transpose2d", SOURCE, "conv_transpose2d_gather");

/// PyTorch's ConvTranspose2d (groups = 1): weight [Cin, Cout, kH, kW].
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTranspose2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub bias: bool,
    pub relu: bool,
}

impl ConvTranspose2d {
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

    pub fn flops(&self, input: &[usize]) -> u64 {
        2 * input.iter().map(|&d| d as u64).product::<u64>()
            * (self.out_channels * self.kernel[0] * self.kernel[1]) as u64
    }
}

/// Appends the transposed convolution to `plan`, its output size from
/// PyTorch's rule.
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

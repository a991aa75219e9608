//! conv2d: parameters and GPU forward. Reference: `cpu::conv2d`.

use super::{
    check_u32, expect_shape, kernel, part_flags, part_label, read, split_range, u, workgroup_1d,
    write,
};
use crate::error::{Error, Result};
use crate::geometry::Window;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/conv2d.wgsl");
pub const DIRECT: Kernel = kernel("conv2d", SOURCE, "conv2d_direct");

#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    pub window: Window,
    pub in_channels: usize,
    pub out_channels: usize,
    pub bias: bool,
    pub relu: bool,
}

/// Twin of `Conv2dParams` in shaders/conv2d.wgsl (and of the transposed
/// kernel's struct, which has the same fields).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Conv2dParams {
    pub n: u32,
    pub cin: u32,
    pub h: u32,
    pub w: u32,
    pub cout: u32,
    pub oh: u32,
    pub ow: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub dh: u32,
    pub dw: u32,
    pub flags: u32,
    pub total: u32,
    pub ci0: u32,
    pub ci1: u32,
    pub _pad: u32,
}

impl Conv2d {
    pub fn weight_shape(&self) -> [usize; 4] {
        let k = self.window.kernel;
        [self.out_channels, self.in_channels, k[0], k[1]]
    }

    /// [N, Cout, OH, OW] for an [N, Cin, H, W] input.
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
        if self.out_channels == 0 {
            return Err(Error::shape(layer, "out_channels must be at least 1"));
        }
        let [oh, ow] = self.window.output_size([h, w], layer)?;
        Ok([n, self.out_channels, oh, ow])
    }

    /// Multiply-adds count two FLOPs each.
    pub fn flops(&self, out: &[usize; 4]) -> u64 {
        let k = self.window.kernel;
        2 * out.iter().map(|&d| d as u64).product::<u64>() * (self.in_channels * k[0] * k[1]) as u64
    }

    pub fn params(&self, input: &[usize], out: &[usize; 4]) -> Conv2dParams {
        let wd = &self.window;
        Conv2dParams {
            n: u(input[0]),
            cin: u(input[1]),
            h: u(input[2]),
            w: u(input[3]),
            cout: u(out[1]),
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
            flags: u32::from(self.bias) | (u32::from(self.relu) << 1),
            total: u(out.iter().product()),
            ci0: 0,
            ci1: u(input[1]),
            _pad: 0,
        }
    }
}

pub fn nchw(shape: &[usize], layer: &str) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(shape).map_err(|_| {
        Error::shape(
            layer,
            format!("expected an NCHW tensor (4 dimensions), got shape {shape:?}"),
        )
    })
}

/// Appends the convolution to `plan`; returns the (NaN-poisoned) output.
pub fn conv2d_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    conv: &Conv2d,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let out = conv.output_shape(&x.shape, layer)?;
    expect_shape(layer, "weight", &weight.shape, &conv.weight_shape())?;
    let bias = bias_or_dummy(gpu, layer, conv.bias, conv.out_channels, bias)?;
    for (name, shape) in [
        ("input", &x.shape[..]),
        ("weight", &weight.shape),
        ("output", &out),
    ] {
        check_u32(&format!("{layer} {name}"), shape)?;
    }
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &out)?;
    let params = conv.params(&x.shape, &out);
    let [kh, kw] = conv.window.kernel;
    // Per input channel an invocation loops kh rows of kw taps.
    let parts = split_range(gpu, layer, conv.in_channels, (kh * (kw + 1) + 1) as u64, 0)?;
    for (n, &(c0, c1)) in parts.iter().enumerate() {
        let params = Conv2dParams {
            ci0: u(c0),
            ci1: u(c1),
            flags: params.flags | part_flags(n, parts.len()),
            ..params
        };
        plan.push(Step {
            label: part_label(layer, "channels", c0, c1, parts.len()),
            kernel: DIRECT,
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
            flops: conv.flops(&out) * (c1 - c0) as u64 / conv.in_channels as u64,
            bytes_moved: 4 * (x.numel() + weight.numel() + y.numel()) as u64,
        });
    }
    Ok(y)
}

/// The bias binding: the given tensor, checked, or a one-element stand-in
/// when the layer has none (a binding may not be left empty).
pub fn bias_or_dummy(
    gpu: &Gpu,
    layer: &str,
    wanted: bool,
    channels: usize,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    match (wanted, bias) {
        (true, Some(b)) => {
            expect_shape(layer, "bias", &b.shape, &[channels])?;
            Ok(b.clone())
        }
        (true, None) => Err(Error::shape(
            layer,
            "the layer has a bias but none was given",
        )),
        (false, Some(_)) => Err(Error::shape(
            layer,
            "a bias was given but the layer has bias=false",
        )),
        (false, None) => Tensor::upload(gpu, "no bias", &[1], &[0.0]),
    }
}

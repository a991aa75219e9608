//! A 2-D convolution's parameters, with PyTorch's defaults, and the
//! uniform struct its kernels read (conv2d.wgsl).

use crate::error::{Error, Result};
use crate::geometry::Window;
use crate::ops::u;

#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    pub window: Window,
    pub in_channels: usize,
    pub out_channels: usize,
    /// PyTorch's groups: output channel co sees only the input channels of
    /// its group, (co / (out/groups)) * (in/groups) onwards. 1 is a plain
    /// conv; groups = in channels is depthwise.
    pub groups: usize,
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
    pub groups: u32,
}

impl Conv2d {
    /// `nn.Conv2d(in_channels, out_channels, kernel_size)` with PyTorch's
    /// defaults (stride 1, padding 0, dilation 1, groups 1, a bias, no
    /// fused ReLU); the builder methods below change one each.
    ///
    /// ```
    /// use wgsl_nn::ops::conv2d::Conv2d;
    /// let conv = Conv2d::new(3, 16, 3).stride(2).padding(1);
    /// assert_eq!(conv.weight_shape(), [16, 3, 3, 3]);
    /// assert_eq!(conv.window.output_size([224, 224], "conv").unwrap(), [112, 112]);
    /// ```
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Conv2d {
        Conv2d {
            window: Window::square(kernel_size),
            in_channels,
            out_channels,
            groups: 1,
            bias: true,
            relu: false,
        }
    }

    /// The same stride on both axes (PyTorch's `stride=s`).
    pub fn stride(mut self, s: usize) -> Conv2d {
        self.window.stride = [s, s];
        self
    }

    /// The same zero padding on every side (PyTorch's `padding=p`).
    pub fn padding(mut self, p: usize) -> Conv2d {
        self.window.pad_begin = [p, p];
        self.window.pad_end = [p, p];
        self
    }

    /// The same dilation on both axes (PyTorch's `dilation=d`).
    pub fn dilation(mut self, d: usize) -> Conv2d {
        self.window.dilation = [d, d];
        self
    }

    /// PyTorch's `groups=g` (in and out channels must divide by it;
    /// `groups = in_channels` is depthwise).
    pub fn groups(mut self, g: usize) -> Conv2d {
        self.groups = g;
        self
    }

    /// PyTorch's `bias=`: whether a bias tensor is added.
    pub fn bias(mut self, bias: bool) -> Conv2d {
        self.bias = bias;
        self
    }

    /// A ReLU applied in the same kernel, after the bias.
    pub fn relu(mut self, relu: bool) -> Conv2d {
        self.relu = relu;
        self
    }

    pub fn weight_shape(&self) -> [usize; 4] {
        let k = self.window.kernel;
        [self.out_channels, self.group_in(), k[0], k[1]]
    }

    /// Input channels each output channel reads.
    pub fn group_in(&self) -> usize {
        self.in_channels / self.groups.max(1)
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
        let g = self.groups;
        if g == 0 || !self.in_channels.is_multiple_of(g) || !self.out_channels.is_multiple_of(g) {
            return Err(Error::shape(
                layer,
                format!(
                    "groups={g} must divide both the input channels ({}) and the output channels ({}), as in PyTorch; \
                     change groups or out",
                    self.in_channels, self.out_channels
                ),
            ));
        }
        let [oh, ow] = self.window.output_size([h, w], layer)?;
        Ok([n, self.out_channels, oh, ow])
    }

    /// Multiply-adds count two FLOPs each.
    pub fn flops(&self, out: &[usize; 4]) -> u64 {
        let k = self.window.kernel;
        2 * out.iter().map(|&d| d as u64).product::<u64>() * (self.group_in() * k[0] * k[1]) as u64
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
            ci1: u(self.group_in()),
            groups: u(self.groups.max(1)),
        }
    }
}

/// The four dimensions of an NCHW shape, or an error naming the layer.
pub fn nchw(shape: &[usize], layer: &str) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(shape).map_err(|_| {
        Error::shape(
            layer,
            format!("expected an NCHW tensor (4 dimensions), got shape {shape:?}"),
        )
    })
}

//! A 2-D convolution's parameters, with PyTorch's defaults, and the
//! uniform struct its kernels read (conv2d.wgsl).

use crate::error::{Error, Result};
use crate::geometry::Window;
use crate::ops::u;

/// A 2-D convolution over NCHW input, like PyTorch's `nn.Conv2d`, with an
/// optional fused ReLU.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    /// Kernel size, stride, padding and dilation (`nn.Conv2d`'s
    /// `kernel_size`, `stride`, `padding`, `dilation`).
    pub window: Window,
    /// Channels of the input, `nn.Conv2d`'s `in_channels`.
    pub in_channels: usize,
    /// Channels of the output (filters), `nn.Conv2d`'s `out_channels`.
    pub out_channels: usize,
    /// PyTorch's groups: output channel co sees only the input channels of
    /// its group, (co / (out/groups)) * (in/groups) onwards. 1 is a plain
    /// conv; groups = in channels is depthwise.
    pub groups: usize,
    /// Add a per-output-channel bias, `nn.Conv2d`'s `bias=True`.
    pub bias: bool,
    /// Apply ReLU after the bias in the same kernel (`nn.ReLU` fused).
    pub relu: bool,
    /// With `relu`: cap the output at 6 as well (`nn.ReLU6`, ONNX's
    /// Clip(0, 6), fused); NaN stays NaN.
    pub relu6: bool,
}

/// Twin of `Conv2dParams` in shaders/conv2d.wgsl (and of the transposed
/// kernel's struct, which has the same fields).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Conv2dParams {
    /// Batch size N of the input.
    pub n: u32,
    /// Input channels Cin.
    pub cin: u32,
    /// Input height H.
    pub h: u32,
    /// Input width W.
    pub w: u32,
    /// Output channels Cout.
    pub cout: u32,
    /// Output height OH.
    pub oh: u32,
    /// Output width OW.
    pub ow: u32,
    /// Kernel height kH (taps per column).
    pub kh: u32,
    /// Kernel width kW (taps per row).
    pub kw: u32,
    /// Vertical stride.
    pub sh: u32,
    /// Horizontal stride.
    pub sw: u32,
    /// Zero padding above the input (rows).
    pub ph: u32,
    /// Zero padding left of the input (columns).
    pub pw: u32,
    /// Vertical dilation (rows between taps).
    pub dh: u32,
    /// Horizontal dilation (columns between taps).
    pub dw: u32,
    /// Bit flags: 1 bias, 2 ReLU, 4 ReLU's output capped at 6 (ReLU6), 32
    /// first channel part, 64 last part.
    pub flags: u32,
    /// Invocations that own work (outputs, or blocks for row4/igemm); later
    /// ones return.
    pub total: u32,
    /// First input channel (within the group) this dispatch reduces over.
    pub ci0: u32,
    /// One past the last input channel this dispatch reduces over.
    pub ci1: u32,
    /// Channel groups (`nn.Conv2d`'s `groups`).
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
            relu6: false,
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

    /// A ReLU6 (`nn.ReLU6`: min(max(x, 0), 6)) applied in the same kernel,
    /// after the bias, as MobileNet's blocks end. `true` turns the ReLU on
    /// too (the cap applies to its output); `false` leaves it as it was.
    ///
    /// ```
    /// use wgsl_nn::ops::conv2d::Conv2d;
    /// let conv = Conv2d::new(16, 96, 1).relu6(true);
    /// assert!(conv.relu && conv.relu6);
    /// ```
    pub fn relu6(mut self, relu6: bool) -> Conv2d {
        self.relu |= relu6;
        self.relu6 = relu6;
        self
    }

    /// The fused activation as a clamp (lo, hi): ReLU (0, inf), ReLU6 (0,
    /// 6), None without one.
    ///
    /// ```
    /// use wgsl_nn::ops::conv2d::Conv2d;
    /// assert_eq!(Conv2d::new(1, 1, 1).relu6(true).clamp(), Some((0.0, 6.0)));
    /// assert_eq!(Conv2d::new(1, 1, 1).clamp(), None);
    /// ```
    pub fn clamp(&self) -> Option<(f32, f32)> {
        if self.relu6 {
            Some((0.0, 6.0))
        } else {
            self.relu.then_some((0.0, f32::INFINITY))
        }
    }

    /// The fused activation's bits as the conv kernels read them: 2 ReLU,
    /// 4 its output capped at 6.
    pub fn act_flags(&self) -> u32 {
        (u32::from(self.relu || self.relu6) << 1) | (u32::from(self.relu6) << 2)
    }

    /// The weight tensor's shape, [Cout, Cin/groups, kH, kW] as in PyTorch.
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

    /// The uniform for an `input` shape and its `out` shape: the whole
    /// channel range, `total` one invocation per output (callers adjust).
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
            flags: u32::from(self.bias) | self.act_flags(),
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

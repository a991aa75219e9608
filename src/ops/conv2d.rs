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
pub const IGEMM: Kernel = kernel("conv2d", SOURCE, "conv2d_igemm");
pub const ROW4: Kernel = kernel("conv2d", SOURCE, "conv2d_row4");

/// The conv ladder: one output per invocation; four neighbouring outputs of
/// a row per invocation (`row4`: weights read once for four, the input row
/// sliding through a vec4); implicit GEMM with 4x4
/// register blocks; the input unfolded into a texture and multiplied by the
/// matmul `tex` rung (`conv2d_tex`). A 1x1, stride-1, unpadded conv is a
/// plain matrix product and goes through the matmul ladder ("gemm").
pub const KERNELS: [&str; 5] = ["direct", "row4", "igemm", "gemm", "tex"];

/// Below this a conv's packing steps cost more than the texture rung saves.
const TEX_MIN_FLOPS: u64 = 16_000_000;
/// Layers from here on count as large for the tuner's picks (between its
/// 42 MFLOP and 2.4 GFLOP probes, nearer the large one: the wide stack's
/// big layers are 1.5-6.5 GFLOP).
const LARGE_FLOPS: u64 = 256_000_000;

fn is_pointwise(conv: &Conv2d) -> bool {
    let w = &conv.window;
    w.kernel == [1, 1] && w.stride == [1, 1] && w.pad_begin == [0, 0] && w.pad_end == [0, 0]
}

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
    let tex_ok = super::conv2d_tex::unsupported(gpu, conv, &out).is_none();
    // On CPU adapters the texture rung won from tens of MFLOP up (llvmpipe:
    // a 37 MFLOP layer 13.6 vs 20 ms, the wide stack ~450 vs 2205 ms); its
    // packing steps lose on the exercise stack's ~1 MFLOP layers (1.4 vs
    // 0.6 ms for the stack), so below TEX_MIN_FLOPS neither the default
    // nor the tuner's pick puts a conv there; `--kernel conv2d=tex` does.
    // (The tuner measures a 42 MFLOP conv, so its pick speaks for big ones.)
    let flops = conv.flops(&out);
    let big = flops >= TEX_MIN_FLOPS;
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    // GFLOP-scale layers take the tuner's pick for such a layer where it
    // timed one (GPUs: `conv2d_large`, a 2.4 GFLOP conv).
    // Asked only when nothing forces a rung: asking may start the tuner.
    let tuned = || {
        (flops >= LARGE_FLOPS)
            .then(|| gpu.tuned_for("conv2d_large", flops))
            .flatten()
            .or_else(|| gpu.tuned_for("conv2d", flops))
    };
    let grouped = conv.groups > 1;
    let forced = gpu.kernel_for("conv2d");
    let name = match forced.as_deref() {
        // Only the one-output rungs index channels per group; the block
        // rungs share an input tile across output channels of one group.
        Some(k @ ("direct" | "row4")) if grouped => k,
        _ if grouped && cpu => "row4",
        _ if grouped => "direct",
        None | Some("gemm") if is_pointwise(conv) => "gemm",
        Some("gemm") => "igemm",
        Some("tex") if !tex_ok => "igemm",
        Some(k) => KERNELS.iter().find(|&&n| n == k).copied().ok_or_else(|| {
            Error::arg(
                "--kernel",
                format!(
                    "'{k}' is not a conv kernel; choose one of {}",
                    KERNELS.join(", ")
                ),
            )
        })?,
        None => match tuned().as_deref() {
            // CPU adapters follow their measured rules whatever was tuned:
            // tex from CPU_TEX_MIN_FLOPS (its compilation repays there),
            // row4 below (llvmpipe, exercise stack: 0.41-0.68 ms against
            // igemm's 0.64-1.01 in the same runs).
            _ if cpu && tex_ok && flops >= super::CPU_TEX_MIN_FLOPS => "tex",
            _ if cpu => "row4",
            Some("tex") if big && tex_ok => "tex",
            Some("direct") => "direct",
            Some("row4") => "row4",
            _ => "igemm",
        },
    };
    if name == "gemm" {
        // y[n] = W [Cout, Cin] x x[n] [Cin, H*W], the weights shared by every image.
        use super::matmul::{matmul_into, Activation, Matmul, View};
        let (n, cin, hw) = (x.shape[0], conv.in_channels, out[2] * out[3]);
        let mm = Matmul {
            m: conv.out_channels,
            n: hw,
            k: cin,
            batches: [n, 1],
            trans_a: false,
            trans_b: false,
            bias: false,
            act: Activation::None,
            alpha: 1.0,
        };
        matmul_into(
            gpu,
            plan,
            &format!("{layer} (1x1 as gemm)"),
            &mm,
            (
                weight,
                View {
                    ld: cin,
                    outer: 0,
                    inner: 0,
                },
            ),
            (
                x,
                View {
                    ld: hw,
                    outer: cin * hw,
                    inner: 0,
                },
            ),
            None,
            (
                &y,
                View {
                    ld: hw,
                    outer: conv.out_channels * hw,
                    inner: 0,
                },
            ),
        )?;
        if conv.bias || conv.relu {
            // Bias per output channel (rows of C), then ReLU: a second pass.
            super::elementwise::channel_bias_forward(
                gpu, plan, layer, &y, &bias, conv.bias, conv.relu,
            )?;
        }
        return Ok(y);
    }
    if name == "tex" {
        super::conv2d_tex::conv2d_tex(gpu, plan, layer, conv, x, weight, &bias, &y)?;
        return Ok(y);
    }
    let [kh, kw] = conv.window.kernel;
    let (kernel, invocations) = if name == "row4" {
        (ROW4, (out[0] * out[1] * out[2] * out[3].div_ceil(4)) as u64)
    } else if name == "igemm" {
        let blocks =
            out[0] as u64 * out[1].div_ceil(4) as u64 * (out[2] * out[3]).div_ceil(4) as u64;
        (IGEMM, blocks)
    } else {
        (DIRECT, u64::from(params.total))
    };
    let params = Conv2dParams {
        total: u32::try_from(invocations).map_err(|_| {
            Error::shape(layer, "too many invocations for u32; use a smaller batch")
        })?,
        ..params
    };
    // Per input channel an invocation loops kh rows of kw taps.
    let parts = split_range(
        gpu,
        layer,
        conv.group_in(),
        (kh * (kw + 1) + 1) as u64,
        8,
        invocations,
    )?;
    for (n, &(c0, c1)) in parts.iter().enumerate() {
        let params = Conv2dParams {
            ci0: u(c0),
            ci1: u(c1),
            flags: params.flags | part_flags(n, parts.len()),
            ..params
        };
        plan.push(Step {
            label: part_label(
                &format!("{layer} ({name})"),
                "channels",
                c0,
                c1,
                parts.len(),
            ),
            kernel,
            overrides: vec![],
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                read("x", x),
                read("weight", weight),
                read("bias", &bias),
                write("y", &y),
            ],
            invocations,
            workgroup_size: workgroup_1d(gpu),
            flops: conv.flops(&out) * (c1 - c0) as u64 / conv.group_in() as u64,
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
        (false, None) => Tensor::placeholder(gpu),
    }
}

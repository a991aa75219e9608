//! Parser for the textual layer-stack notation, e.g. `conv(k=3,s=2) -> relu; maxpool(k=2)`.
//!
//! Only shape-independent checks happen here; checks that need the input size
//! (kernel larger than the padded input, empty output) belong to the caller.

mod names;
mod parse;

pub use crate::error::SpecError;
pub use parse::parse_stack;
use std::fmt;

/// The stack exactly as the exercise states it.
pub const EXERCISE_STACK: &str = "conv(kernel_size=3,stride=2,padding=0) conv(kernel_size=5,stride=1,padding=2) conv(kernel_size=3,stride=1,padding=1) conv(kernel_size=5,stride=2,padding=0)";

/// Largest accepted number; keeps later size arithmetic far from overflow.
pub const MAX_SIZE: usize = 1_048_576;

/// A conv layer's padding as written (`padding`, `pad` or `p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Padding {
    /// `[pad_h, pad_w]`, applied on both sides of each axis.
    Explicit([usize; 2]),
    /// `padding=valid`: no padding, as PyTorch's `'valid'`.
    Valid,
    /// `padding=same`: the output keeps the input's size. Resolved against
    /// the kernel and dilation by the caller (an even kernel's odd pixel
    /// goes at the end, as in PyTorch); only legal with stride 1.
    Same,
}

/// A conv layer as written: PyTorch's `nn.Conv2d` arguments, before the
/// input shape resolves the channel count and `same` padding. Sizes are
/// `[height, width]` in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    /// `kernel_size` (`kernel`, `k`); required.
    pub kernel: [usize; 2],
    /// `stride` (`s`); default `[1, 1]`.
    pub stride: [usize; 2],
    /// `padding` (`pad`, `p`); default `Explicit([0, 0])`.
    pub padding: Padding,
    /// `dilation` (`d`): the step between kernel taps; default `[1, 1]`.
    pub dilation: [usize; 2],
    /// `None` keeps the input's channel count.
    pub out_channels: Option<usize>,
    /// PyTorch's groups: in and out channels split into this many groups,
    /// each convolved with its own filters (in channels = groups: depthwise).
    pub groups: usize,
    /// `bias`: whether a per-channel bias is added; default true.
    pub bias: bool,
    /// `relu` or `act=relu`: a ReLU fused after the bias; default false.
    pub relu: bool,
}

/// Shared with the op, so a parsed layer and a built one agree by type.
pub use crate::ops::elementwise::Pointwise;
pub use crate::ops::pool2d::PoolKind;

/// A pooling layer as written: PyTorch's `nn.MaxPool2d` or `nn.AvgPool2d`
/// arguments. Sizes are `[height, width]` in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// Max (`maxpool`) or average (`avgpool`) pooling.
    pub kind: PoolKind,
    /// `kernel_size` (`kernel`, `k`); required.
    pub kernel: [usize; 2],
    /// `stride` (`s`); default the kernel size, as in PyTorch.
    pub stride: [usize; 2],
    /// `padding` (`pad`, `p`), on both sides of each axis; at most half
    /// the kernel size; default `[0, 0]`.
    pub padding: [usize; 2],
    /// Always `[1, 1]` for avgpool.
    pub dilation: [usize; 2],
    /// `ceil_mode`: the output size is rounded up instead of down (a last
    /// window may hang past the end); default false.
    pub ceil_mode: bool,
    /// Only meaningful for avgpool; always `true` for maxpool.
    pub count_include_pad: bool,
}

/// PyTorch's BatchNorm2d in eval mode (running statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormSpec {
    /// Added to the running variance before the square root; above 0 and
    /// below 1, default `1e-5`.
    pub eps: f64,
    /// False: no weight and bias (as `affine=False`).
    pub affine: bool,
    /// PyTorch's num_features, when written: must equal the input channels.
    pub num_features: Option<usize>,
}

/// What one layer is, with its parameters (defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    /// `conv` / `conv2d`: a 2-D convolution.
    Conv(ConvSpec),
    /// `maxpool` / `avgpool`: max or average pooling.
    Pool(PoolSpec),
    /// `relu`: an element-wise ReLU layer.
    Relu,
    /// `batchnorm` / `bn`: eval-mode batch norm.
    BatchNorm(BatchNormSpec),
    /// sigmoid, tanh, silu, gelu, leaky_relu.
    Act(Pointwise),
}

/// One parsed layer: its place in the stack, its text and what it is.
/// `Display` prints the canonical short form of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// 0-based position in the stack.
    pub index: usize,
    /// The layer's own source text, trimmed.
    pub text: String,
    /// What the layer is, with its parameters.
    pub kind: LayerKind,
}

/// A `[h, w]` pair as the layer language writes it: `3` when square,
/// `3x5` otherwise.
struct Pair([usize; 2]);

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [h, w] if h == w => write!(f, "{h}"),
            [h, w] => write!(f, "{h}x{w}"),
        }
    }
}

/// Canonical short form; `parse_stack` reads it back to an equal value.
impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerKind::Relu => f.write_str("relu"),
            LayerKind::Act(a) => match a {
                Pointwise::Sigmoid => f.write_str("sigmoid"),
                Pointwise::Tanh => f.write_str("tanh"),
                Pointwise::Silu => f.write_str("silu"),
                Pointwise::Gelu { tanh: false } => f.write_str("gelu"),
                Pointwise::Gelu { tanh: true } => f.write_str("gelu(approximate=tanh)"),
                Pointwise::LeakyRelu { slope } => write!(f, "leaky_relu(negative_slope={slope:e})"),
            },
            LayerKind::BatchNorm(b) => {
                write!(f, "batchnorm(eps={:e}", b.eps)?;
                if !b.affine {
                    f.write_str(",affine=false")?;
                }
                if let Some(n) = b.num_features {
                    write!(f, ",num_features={n}")?;
                }
                f.write_str(")")
            }
            LayerKind::Conv(c) => {
                write!(f, "conv(k={},s={},p=", Pair(c.kernel), Pair(c.stride))?;
                match c.padding {
                    Padding::Explicit(p) => write!(f, "{}", Pair(p))?,
                    Padding::Valid => f.write_str("valid")?,
                    Padding::Same => f.write_str("same")?,
                }
                if c.dilation != [1, 1] {
                    write!(f, ",d={}", Pair(c.dilation))?;
                }
                if let Some(o) = c.out_channels {
                    write!(f, ",out={o}")?;
                }
                if c.groups != 1 {
                    write!(f, ",groups={}", c.groups)?;
                }
                if !c.bias {
                    f.write_str(",bias=false")?;
                }
                if c.relu {
                    f.write_str(",relu")?;
                }
                f.write_str(")")
            }
            LayerKind::Pool(p) => {
                let name = if p.kind == PoolKind::Max {
                    "maxpool"
                } else {
                    "avgpool"
                };
                write!(f, "{name}(k={},s={}", Pair(p.kernel), Pair(p.stride))?;
                if p.padding != [0, 0] {
                    write!(f, ",p={}", Pair(p.padding))?;
                }
                if p.kind == PoolKind::Max && p.dilation != [1, 1] {
                    write!(f, ",d={}", Pair(p.dilation))?;
                }
                if p.ceil_mode {
                    f.write_str(",ceil_mode=true")?;
                }
                if p.kind == PoolKind::Avg && !p.count_include_pad {
                    f.write_str(",count_include_pad=false")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

#[cfg(test)]
mod tests;

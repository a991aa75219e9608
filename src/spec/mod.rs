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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Padding {
    /// `[pad_h, pad_w]`, applied on both sides of each axis.
    Explicit([usize; 2]),
    Valid,
    /// Resolved against the input shape by the caller; only legal with stride 1.
    Same,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: Padding,
    pub dilation: [usize; 2],
    /// `None` keeps the input's channel count.
    pub out_channels: Option<usize>,
    /// PyTorch's groups: in and out channels split into this many groups,
    /// each convolved with its own filters (in channels = groups: depthwise).
    pub groups: usize,
    pub bias: bool,
    pub relu: bool,
}

/// Shared with the op, so a parsed layer and a built one agree by type.
pub use crate::ops::elementwise::Pointwise;
pub use crate::ops::pool2d::PoolKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub kind: PoolKind,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    /// Always `[1, 1]` for avgpool.
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
    /// Only meaningful for avgpool; always `true` for maxpool.
    pub count_include_pad: bool,
}

/// PyTorch's BatchNorm2d in eval mode (running statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormSpec {
    pub eps: f64,
    /// False: no weight and bias (as `affine=False`).
    pub affine: bool,
    /// PyTorch's num_features, when written: must equal the input channels.
    pub num_features: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    Conv(ConvSpec),
    Pool(PoolSpec),
    Relu,
    BatchNorm(BatchNormSpec),
    /// sigmoid, tanh, silu, gelu, leaky_relu.
    Act(Pointwise),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// 0-based position in the stack.
    pub index: usize,
    /// The layer's own source text, trimmed.
    pub text: String,
    pub kind: LayerKind,
}

/// `layer` is always 1-based, as a person counts.

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

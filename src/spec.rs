//! Parser for the textual layer-stack notation, e.g. `conv(k=3,s=2) -> relu; maxpool(k=2)`.
//!
//! Only shape-independent checks happen here; checks that need the input size
//! (kernel larger than the padded input, empty output) belong to the caller.

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
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum SpecError {
    #[error("the layer stack is empty; example: conv(k=3,s=2) conv(k=5,p=2)")]
    Empty,
    #[error("unexpected '{found}' in layer {layer} '{text}'; expected {expected}")]
    UnexpectedChar {
        layer: usize,
        found: char,
        text: String,
        expected: &'static str,
    },
    #[error("missing ')' in layer {layer} '{text}'; close its parameter list")]
    MissingParen { layer: usize, text: String },
    #[error("unknown layer '{name}' at layer {layer}; expected one of conv, maxpool, avgpool, relu{}", did_you_mean(*.suggestion))]
    UnknownLayer {
        layer: usize,
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("empty parameter in layer {layer} '{text}'; remove the extra ','")]
    EmptyParam { layer: usize, text: String },
    #[error("missing parameter name in '{param}' in layer {layer}; write key=value, e.g. k=3")]
    MissingKey { layer: usize, param: String },
    #[error("missing value for '{key}' in layer {layer}; write {key}=<value>")]
    MissingValue { layer: usize, key: String },
    #[error("unknown parameter '{key}' in layer {layer}{}", unknown_hint(*.suggestion, .accepted, .layer_name))]
    UnknownParam {
        layer: usize,
        layer_name: &'static str,
        key: String,
        suggestion: Option<&'static str>,
        accepted: &'static str,
    },
    #[error("parameter '{param}' does not apply to {layer_name} in layer {layer}: {reason}")]
    NotApplicable {
        layer: usize,
        layer_name: &'static str,
        param: String,
        reason: &'static str,
    },
    #[error("duplicate parameter {key} in layer {layer}: '{first}' and '{second}' both set it; keep one")]
    Duplicate {
        layer: usize,
        key: &'static str,
        first: String,
        second: String,
    },
    #[error(
        "missing kernel_size in layer {layer} ({layer_name}); add one, e.g. {layer_name}(k=3)"
    )]
    MissingKernel {
        layer: usize,
        layer_name: &'static str,
    },
    #[error("invalid number '{value}' for '{key}' in layer {layer}; expected {expected}")]
    InvalidNumber {
        layer: usize,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid value '{value}' for '{key}' in layer {layer}; expected {expected}")]
    InvalidValue {
        layer: usize,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{key} must be at least 1 in layer {layer} (got '{param}')")]
    Zero {
        layer: usize,
        key: &'static str,
        param: String,
    },
    #[error("{key} is too large in layer {layer} (got '{param}'); the maximum is {max}")]
    TooLarge {
        layer: usize,
        key: &'static str,
        param: String,
        max: usize,
    },
    #[error("padding='same' needs stride 1, as in PyTorch; use an explicit padding (layer {layer} has '{stride}')")]
    SameNeedsStride1 { layer: usize, stride: String },
    #[error("padding '{param}' exceeds half the kernel size in layer {layer} ({layer_name}); as in PyTorch, pooling padding must be at most kernel_size/2")]
    PoolPadTooLarge {
        layer: usize,
        layer_name: &'static str,
        param: String,
    },
}

fn did_you_mean(s: Option<&str>) -> String {
    s.map(|s| format!("; did you mean '{s}'?"))
        .unwrap_or_default()
}

fn unknown_hint(s: Option<&str>, accepted: &str, layer_name: &str) -> String {
    match s {
        Some(s) => format!("; did you mean '{s}'?"),
        None => format!("; {layer_name} accepts: {accepted}"),
    }
}

const SIZE: &str = "a positive integer or a pair like 3x5";
const COUNT: &str = "a positive integer";
const CONV_PAD: &str = "a non-negative integer, a pair like 1x2, 'valid' or 'same'";
const POOL_PAD: &str = "a non-negative integer, a pair like 1x2, or 'valid'";
const BOOL: &str = "true/false, 1/0 or yes/no";
const EXPECT_NAME: &str =
    "a layer name such as conv, maxpool, avgpool, batchnorm, relu, sigmoid, tanh, silu, gelu or leaky_relu";
const EXPECT_SEP: &str = "a separator (space, ',', ';' or '->') after the layer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Kernel,
    Stride,
    Padding,
    Dilation,
    Out,
    Bias,
    Act,
    CeilMode,
    CountIncludePad,
    Groups,
    Eps,
    Affine,
    Momentum,
    NumFeatures,
    Approximate,
    NegativeSlope,
    Inplace,
}

impl Key {
    /// The first alias of each key in `ALIASES` is its canonical name.
    fn name(self) -> &'static str {
        ALIASES
            .iter()
            .find(|&&(_, k)| k == self)
            .map_or("", |&(a, _)| a)
    }
}

const ALIASES: &[(&str, Key)] = &[
    ("kernel_size", Key::Kernel),
    ("kernel", Key::Kernel),
    ("k", Key::Kernel),
    ("stride", Key::Stride),
    ("s", Key::Stride),
    ("padding", Key::Padding),
    ("pad", Key::Padding),
    ("p", Key::Padding),
    ("dilation", Key::Dilation),
    ("d", Key::Dilation),
    ("out_channels", Key::Out),
    ("out", Key::Out),
    ("c", Key::Out),
    ("bias", Key::Bias),
    ("relu", Key::Act),
    ("act", Key::Act),
    ("ceil_mode", Key::CeilMode),
    ("count_include_pad", Key::CountIncludePad),
    ("groups", Key::Groups),
    ("g", Key::Groups),
    ("eps", Key::Eps),
    ("affine", Key::Affine),
    ("momentum", Key::Momentum),
    ("num_features", Key::NumFeatures),
    ("approximate", Key::Approximate),
    ("negative_slope", Key::NegativeSlope),
    ("slope", Key::NegativeSlope),
    ("inplace", Key::Inplace),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Conv,
    Max,
    Avg,
    Relu,
    BatchNorm,
    Sigmoid,
    Tanh,
    Silu,
    Gelu,
    LeakyRelu,
}

const LAYER_NAMES: &[(&str, Name)] = &[
    ("conv", Name::Conv),
    ("conv2d", Name::Conv),
    ("maxpool", Name::Max),
    ("max_pool", Name::Max),
    ("maxpool2d", Name::Max),
    ("avgpool", Name::Avg),
    ("avg_pool", Name::Avg),
    ("avgpool2d", Name::Avg),
    ("relu", Name::Relu),
    ("batchnorm", Name::BatchNorm),
    ("batchnorm2d", Name::BatchNorm),
    ("batch_norm", Name::BatchNorm),
    ("bn", Name::BatchNorm),
    ("sigmoid", Name::Sigmoid),
    ("tanh", Name::Tanh),
    ("silu", Name::Silu),
    ("swish", Name::Silu),
    ("gelu", Name::Gelu),
    ("leaky_relu", Name::LeakyRelu),
    ("leakyrelu", Name::LeakyRelu),
];

impl Name {
    fn label(self) -> &'static str {
        LAYER_NAMES
            .iter()
            .find(|&&(_, n)| n == self)
            .map_or("", |&(a, _)| a)
    }

    /// `Some(reason)` for keys that exist but make no sense on this layer.
    fn rejects(self, key: Key) -> Option<&'static str> {
        use Key::*;
        let pool = matches!(self, Name::Max | Name::Avg);
        let bn_key = matches!(key, Eps | Affine | Momentum | NumFeatures);
        let act = matches!(
            self,
            Name::Relu | Name::Sigmoid | Name::Tanh | Name::Silu | Name::Gelu | Name::LeakyRelu
        );
        match (self, key) {
            // PyTorch's inplace changes memory use, not values: accepted, ignored.
            (_, Inplace) if act => None,
            (_, Inplace) => Some("only activations take it; remove it"),
            (Name::Gelu, Approximate) | (Name::LeakyRelu, NegativeSlope) => None,
            (_, Approximate) => Some("only gelu has it; remove it"),
            (_, NegativeSlope) => Some("only leaky_relu has it; remove it"),
            (Name::Relu | Name::Sigmoid | Name::Tanh | Name::Silu, _) => {
                Some("this activation takes no parameters but inplace; remove it")
            }
            (Name::Gelu | Name::LeakyRelu, _) => {
                Some("an activation has no such parameter; remove it")
            }
            (Name::BatchNorm, _) if !bn_key => {
                Some("batch norm takes eps, affine, momentum and num_features only; remove it")
            }
            (Name::BatchNorm, _) => None,
            _ if bn_key => Some("only batchnorm has it; remove it"),
            (Name::Conv, CeilMode | CountIncludePad) => Some("only pooling has it; remove it"),
            (Name::Max, CountIncludePad) => Some("only avgpool has it; remove it"),
            (Name::Avg, Dilation) => Some("PyTorch's AvgPool2d has no dilation; remove it"),
            (_, Out) if pool => Some("pooling keeps the channel count; remove it"),
            (_, Bias) if pool => Some("pooling has no weights; remove it"),
            (_, Act) if pool => Some("add a separate relu layer after it"),
            (_, Groups) if pool => Some("pooling works per channel already; remove it"),
            _ => None,
        }
    }

    fn accepted(self) -> &'static str {
        match self {
            Name::Conv => "kernel_size/k, stride/s, padding/p, dilation/d, out_channels/out/c, groups/g, bias, relu, act",
            Name::Max => "kernel_size/k, stride/s, padding/p, dilation/d, ceil_mode",
            Name::Avg => "kernel_size/k, stride/s, padding/p, ceil_mode, count_include_pad",
            Name::Relu | Name::Sigmoid | Name::Tanh | Name::Silu => "inplace (ignored)",
            Name::Gelu => "approximate ('none' or 'tanh'), inplace",
            Name::LeakyRelu => "negative_slope/slope, inplace",
            Name::BatchNorm => "eps, affine, momentum (ignored: eval mode), num_features",
        }
    }
}

/// Edit distance; inputs are capped by the caller, so no overflow.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (&cb, (&diag, &up)) in b.iter().zip(prev.iter().zip(prev.iter().skip(1))) {
            let left = cur.last().copied().unwrap_or(i + 1);
            cur.push((diag + usize::from(ca != cb)).min(up + 1).min(left + 1));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

fn closest<'c>(word: &str, cands: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    if word.chars().count() > 40 {
        return None;
    }
    cands
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= 2 && 2 * d <= c.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Cuts the source into layer texts. Parentheses are matched here so that
/// commas inside `(...)` never act as layer separators.
fn split_layers(src: &str) -> Result<Vec<&str>, SpecError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let byte = |i: usize| chars.get(i).map_or(src.len(), |&(b, _)| b);
    let is_sep = |i: usize| match at(i) {
        Some(c) => {
            c.is_whitespace() || c == ',' || c == ';' || (c == '-' && at(i + 1) == Some('>'))
        }
        None => false,
    };
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while is_sep(i) {
            i += if at(i) == Some('-') { 2 } else { 1 };
        }
        let Some(c) = at(i) else { break };
        let layer = out.len() + 1;
        let start = byte(i);
        let unexpected = |found: char, upto: usize, expected| SpecError::UnexpectedChar {
            layer,
            found,
            text: src
                .get(start..byte(upto + 1))
                .unwrap_or("")
                .trim()
                .to_string(),
            expected,
        };
        if !is_name_char(c) {
            return Err(unexpected(c, i, EXPECT_NAME));
        }
        while at(i).is_some_and(is_name_char) {
            i += 1;
        }
        let mut j = i;
        while at(j).is_some_and(char::is_whitespace) {
            j += 1;
        }
        if at(j) == Some('(') {
            let mut depth = 0usize;
            loop {
                match at(j) {
                    None => {
                        let text = src.get(start..).unwrap_or("").trim().to_string();
                        return Err(SpecError::MissingParen { layer, text });
                    }
                    Some('(') => depth += 1,
                    Some(')') => depth = depth.saturating_sub(1),
                    _ => {}
                }
                j += 1;
                if depth == 0 {
                    break;
                }
            }
            i = j;
        }
        if let Some(c) = at(i).filter(|_| !is_sep(i)) {
            return Err(unexpected(c, i, EXPECT_SEP));
        }
        out.push(src.get(start..byte(i)).unwrap_or("").trim());
    }
    Ok(out)
}

/// Splits on commas outside brackets, so `k=(3,5)` stays one parameter.
fn split_params(inner: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (b, c) in inner.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(inner.get(start..b).unwrap_or(""));
                start = b + 1;
            }
            _ => {}
        }
    }
    out.push(inner.get(start..).unwrap_or(""));
    out
}

enum NumErr {
    Invalid,
    TooLarge,
}

fn parse_int(s: &str) -> Result<usize, NumErr> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumErr::Invalid);
    }
    let n = s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_SIZE)
        .ok_or(NumErr::TooLarge)
}

fn parse_pair(v: &str, pair_ok: bool) -> Result<[usize; 2], NumErr> {
    let bracketed = [('(', ')'), ('[', ']')]
        .iter()
        .find_map(|&(o, c)| v.strip_prefix(o)?.strip_suffix(c));
    let parts: Vec<&str> = match bracketed {
        Some(inner) => inner.split(',').collect(),
        None => v.split(['x', 'X']).collect(),
    };
    match parts.as_slice() {
        [n] => parse_int(n).map(|n| [n, n]),
        [h, w] if pair_ok => Ok([parse_int(h)?, parse_int(w)?]),
        _ => Err(NumErr::Invalid),
    }
}

/// Keyword values may be quoted PyTorch-style: `padding='same'`.
fn keyword(v: &str) -> String {
    v.trim_matches(['\'', '"']).to_lowercase()
}

#[derive(Clone, Copy)]
struct Param<'a> {
    text: &'a str,
    key: &'a str,
    alias: &'static str,
    value: Option<&'a str>,
}

struct Params<'a> {
    layer: usize,
    name: Name,
    slots: [Option<Param<'a>>; 17],
}

impl<'a> Params<'a> {
    fn collect(layer: usize, name: Name, text: &'a str) -> Result<Self, SpecError> {
        let mut slots = [None; 17];
        let inner = match (text.find('('), text.rfind(')')) {
            (Some(o), Some(c)) if o < c => text.get(o + 1..c).unwrap_or(""),
            _ => "",
        };
        let items = if inner.trim().is_empty() {
            Vec::new()
        } else {
            split_params(inner)
        };
        for item in items.into_iter().map(str::trim) {
            if item.is_empty() {
                return Err(SpecError::EmptyParam {
                    layer,
                    text: text.into(),
                });
            }
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            if key.is_empty() {
                return Err(SpecError::MissingKey {
                    layer,
                    param: item.into(),
                });
            }
            let lower = key.to_lowercase();
            let Some(&(alias, k)) = ALIASES.iter().find(|(a, _)| *a == lower) else {
                // Short and typo aliases are never suggested: one letter is "close" to anything.
                let cands = ALIASES
                    .iter()
                    .filter(|&&(a, k)| a.len() > 2 && name.rejects(k).is_none())
                    .map(|&(a, _)| a);
                let (layer_name, accepted) = (name.label(), name.accepted());
                let suggestion = closest(&lower, cands);
                return Err(SpecError::UnknownParam {
                    layer,
                    layer_name,
                    key: key.into(),
                    suggestion,
                    accepted,
                });
            };
            if let Some(reason) = name.rejects(k) {
                let (layer_name, param) = (name.label(), item.into());
                return Err(SpecError::NotApplicable {
                    layer,
                    layer_name,
                    param,
                    reason,
                });
            }
            if let Some(slot) = slots.get_mut(k as usize) {
                if let Some(first) = slot.replace(Param {
                    text: item,
                    key,
                    alias,
                    value,
                }) {
                    let (first, second) = (first.text.into(), item.into());
                    return Err(SpecError::Duplicate {
                        layer,
                        key: k.name(),
                        first,
                        second,
                    });
                }
            }
        }
        Ok(Params { layer, name, slots })
    }

    fn param(&self, key: Key) -> Option<Param<'a>> {
        self.slots.get(key as usize).copied().flatten()
    }

    fn value(&self, key: Key) -> Result<Option<(Param<'a>, &'a str)>, SpecError> {
        let Some(p) = self.param(key) else {
            return Ok(None);
        };
        let is_flag = matches!(
            key,
            Key::Bias
                | Key::Act
                | Key::CeilMode
                | Key::CountIncludePad
                | Key::Affine
                | Key::Inplace
        );
        match p.value {
            Some(v) if !v.is_empty() => Ok(Some((p, v))),
            // A bare boolean key is a flag, as in the canonical `conv(k=3,relu)`.
            None if is_flag && p.alias != "act" => Ok(Some((p, "true"))),
            _ => Err(SpecError::MissingValue {
                layer: self.layer,
                key: p.key.into(),
            }),
        }
    }

    fn size(
        &self,
        key: Key,
        min: usize,
        expected: &'static str,
    ) -> Result<Option<[usize; 2]>, SpecError> {
        let Some((p, v)) = self.value(key)? else {
            return Ok(None);
        };
        let (layer, name) = (self.layer, key.name());
        let n = parse_pair(v, !matches!(key, Key::Out | Key::Groups | Key::NumFeatures)).map_err(
            |e| match e {
                NumErr::Invalid => SpecError::InvalidNumber {
                    layer,
                    key: name,
                    value: v.into(),
                    expected,
                },
                NumErr::TooLarge => SpecError::TooLarge {
                    layer,
                    key: name,
                    param: p.text.into(),
                    max: MAX_SIZE,
                },
            },
        )?;
        if n.iter().any(|&x| x < min) {
            return Err(SpecError::Zero {
                layer,
                key: name,
                param: p.text.into(),
            });
        }
        Ok(Some(n))
    }

    fn flag(&self, key: Key) -> Result<Option<bool>, SpecError> {
        let Some((p, v)) = self.value(key)? else {
            return Ok(None);
        };
        let layer = self.layer;
        let err = |expected| SpecError::InvalidValue {
            layer,
            key: p.alias,
            value: v.into(),
            expected,
        };
        match (p.alias, keyword(v).as_str()) {
            ("act", "relu") => Ok(Some(true)),
            ("act", "none") => Ok(Some(false)),
            ("act", _) => Err(err("relu or none")),
            (_, "true" | "1" | "yes") => Ok(Some(true)),
            (_, "false" | "0" | "no") => Ok(Some(false)),
            _ => Err(err(BOOL)),
        }
    }

    fn kernel(&self) -> Result<[usize; 2], SpecError> {
        let missing = SpecError::MissingKernel {
            layer: self.layer,
            layer_name: self.name.label(),
        };
        self.size(Key::Kernel, 1, SIZE)?.ok_or(missing)
    }

    fn conv(&self) -> Result<ConvSpec, SpecError> {
        let kernel = self.kernel()?;
        let stride = self.size(Key::Stride, 1, SIZE)?.unwrap_or([1, 1]);
        let padding = match self
            .value(Key::Padding)?
            .map(|(_, v)| keyword(v))
            .as_deref()
        {
            Some("valid") => Padding::Valid,
            Some("same") => Padding::Same,
            _ => Padding::Explicit(self.size(Key::Padding, 0, CONV_PAD)?.unwrap_or([0, 0])),
        };
        if padding == Padding::Same && stride != [1, 1] {
            let stride = self.param(Key::Stride).map_or("", |p| p.text).into();
            return Err(SpecError::SameNeedsStride1 {
                layer: self.layer,
                stride,
            });
        }
        Ok(ConvSpec {
            kernel,
            stride,
            padding,
            dilation: self.size(Key::Dilation, 1, SIZE)?.unwrap_or([1, 1]),
            out_channels: self.size(Key::Out, 1, COUNT)?.map(|[c, _]| c),
            groups: self.size(Key::Groups, 1, COUNT)?.map_or(1, |[g, _]| g),
            bias: self.flag(Key::Bias)?.unwrap_or(true),
            relu: self.flag(Key::Act)?.unwrap_or(false),
        })
    }

    fn activation(&self, name: Name) -> Result<Pointwise, SpecError> {
        self.flag(Key::Inplace)?;
        Ok(match name {
            Name::Sigmoid => Pointwise::Sigmoid,
            Name::Tanh => Pointwise::Tanh,
            Name::Silu => Pointwise::Silu,
            Name::Gelu => Pointwise::Gelu {
                tanh: match self.value(Key::Approximate)? {
                    None => false,
                    Some((p, v)) => match keyword(v).as_str() {
                        "none" => false,
                        "tanh" => true,
                        _ => {
                            return Err(SpecError::InvalidValue {
                                layer: self.layer,
                                key: p.alias,
                                value: v.into(),
                                expected: "'none' or 'tanh', as PyTorch's nn.GELU",
                            })
                        }
                    },
                },
            },
            _ => Pointwise::LeakyRelu {
                slope: match self.value(Key::NegativeSlope)? {
                    None => 0.01,
                    Some((p, v)) => {
                        v.parse::<f64>()
                            .ok()
                            .filter(|s| s.is_finite())
                            .ok_or_else(|| SpecError::InvalidValue {
                                layer: self.layer,
                                key: p.alias,
                                value: v.into(),
                                expected: "a finite number, e.g. 0.01",
                            })?
                    }
                },
            },
        })
    }

    fn batchnorm(&self) -> Result<BatchNormSpec, SpecError> {
        let eps = match self.value(Key::Eps)? {
            None => 1e-5,
            Some((p, v)) => v
                .parse::<f64>()
                .ok()
                .filter(|e| e.is_finite() && *e > 0.0 && *e < 1.0)
                .ok_or_else(|| SpecError::InvalidValue {
                    layer: self.layer,
                    key: p.alias,
                    value: v.into(),
                    expected: "a number above 0 and below 1, e.g. 1e-5",
                })?,
        };
        if let Some((p, v)) = self.value(Key::Momentum)? {
            // Only training uses it; accepted so PyTorch's arguments paste in.
            if !v.parse::<f64>().is_ok_and(|m| m.is_finite()) && keyword(v) != "none" {
                return Err(SpecError::InvalidValue {
                    layer: self.layer,
                    key: p.alias,
                    value: v.into(),
                    expected: "a number or None",
                });
            }
        }
        Ok(BatchNormSpec {
            eps,
            affine: self.flag(Key::Affine)?.unwrap_or(true),
            num_features: self.size(Key::NumFeatures, 1, COUNT)?.map(|[c, _]| c),
        })
    }

    fn pool(&self, kind: PoolKind) -> Result<PoolSpec, SpecError> {
        let (layer, layer_name) = (self.layer, self.name.label());
        let kernel = self.kernel()?;
        let padding = match self.value(Key::Padding)? {
            Some((_, v)) if keyword(v) == "valid" => [0, 0],
            Some((p, v)) if keyword(v) == "same" => {
                let reason = "pooling takes only explicit padding, as in PyTorch; use e.g. p=1";
                return Err(SpecError::NotApplicable {
                    layer,
                    layer_name,
                    param: p.text.into(),
                    reason,
                });
            }
            _ => self.size(Key::Padding, 0, POOL_PAD)?.unwrap_or([0, 0]),
        };
        // PyTorch rejects this too; it would allow windows lying wholly in the padding.
        if padding.iter().zip(kernel).any(|(&p, k)| p > k / 2) {
            let param = self.param(Key::Padding).map_or("", |p| p.text).into();
            return Err(SpecError::PoolPadTooLarge {
                layer,
                layer_name,
                param,
            });
        }
        Ok(PoolSpec {
            kind,
            kernel,
            stride: self.size(Key::Stride, 1, SIZE)?.unwrap_or(kernel),
            padding,
            dilation: self.size(Key::Dilation, 1, SIZE)?.unwrap_or([1, 1]),
            ceil_mode: self.flag(Key::CeilMode)?.unwrap_or(false),
            count_include_pad: self.flag(Key::CountIncludePad)?.unwrap_or(true),
        })
    }
}

fn parse_layer(index: usize, text: &str) -> Result<LayerSpec, SpecError> {
    let layer = index + 1;
    let raw = text.split(|c| !is_name_char(c)).next().unwrap_or("");
    let lower = raw.to_lowercase();
    let Some(&(_, name)) = LAYER_NAMES.iter().find(|(a, _)| *a == lower) else {
        let suggestion = closest(&lower, LAYER_NAMES.iter().map(|&(a, _)| a));
        return Err(SpecError::UnknownLayer {
            layer,
            name: raw.into(),
            suggestion,
        });
    };
    let p = Params::collect(layer, name, text)?;
    let kind = match name {
        Name::Conv => LayerKind::Conv(p.conv()?),
        Name::Max => LayerKind::Pool(p.pool(PoolKind::Max)?),
        Name::Avg => LayerKind::Pool(p.pool(PoolKind::Avg)?),
        Name::Relu => LayerKind::Relu,
        Name::BatchNorm => LayerKind::BatchNorm(p.batchnorm()?),
        Name::Sigmoid | Name::Tanh | Name::Silu | Name::Gelu | Name::LeakyRelu => {
            LayerKind::Act(p.activation(name)?)
        }
    };
    Ok(LayerSpec {
        index,
        text: text.into(),
        kind,
    })
}

/// Parses a whole stack; layers are separated by whitespace, `,`, `;` or `->`.
pub fn parse_stack(src: &str) -> Result<Vec<LayerSpec>, SpecError> {
    let texts = split_layers(src)?;
    if texts.is_empty() {
        return Err(SpecError::Empty);
    }
    texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| parse_layer(i, t))
        .collect()
}

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
mod tests {
    /// CI runs a short fuzz; WGSL_NN_FUZZ_CASES=N runs N cases per target
    /// (millions were run once; see README's reliability section).
    fn fuzz_cases(default: u32) -> u32 {
        std::env::var("WGSL_NN_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    use super::*;
    use proptest::prelude::*;

    fn one(src: &str) -> LayerKind {
        let layers = parse_stack(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(layers.len(), 1, "{src}");
        layers.into_iter().next().unwrap().kind
    }

    fn conv(src: &str) -> ConvSpec {
        match one(src) {
            LayerKind::Conv(c) => c,
            k => panic!("{src}: not a conv: {k:?}"),
        }
    }

    fn pool(src: &str) -> PoolSpec {
        match one(src) {
            LayerKind::Pool(p) => p,
            k => panic!("{src}: not a pool: {k:?}"),
        }
    }

    fn c(k: [usize; 2], s: [usize; 2], p: Padding) -> ConvSpec {
        let (dilation, out_channels) = ([1, 1], None);
        ConvSpec {
            kernel: k,
            stride: s,
            padding: p,
            dilation,
            out_channels,
            groups: 1,
            bias: true,
            relu: false,
        }
    }

    #[test]
    fn exercise_stack() {
        let l = parse_stack(EXERCISE_STACK).unwrap();
        let want = [
            c([3, 3], [2, 2], Padding::Explicit([0, 0])),
            c([5, 5], [1, 1], Padding::Explicit([2, 2])),
            c([3, 3], [1, 1], Padding::Explicit([1, 1])),
            c([5, 5], [2, 2], Padding::Explicit([0, 0])),
        ];
        assert_eq!(l.len(), 4);
        for (i, (got, want)) in l.iter().zip(want).enumerate() {
            assert_eq!((got.index, &got.kind), (i, &LayerKind::Conv(want)));
        }
        assert_eq!(l[1].text, "conv(kernel_size=5,stride=1,padding=2)");
        assert_eq!(l[1].to_string(), "conv(k=5,s=1,p=2)");
    }

    #[test]
    fn short_forms() {
        assert_eq!(
            conv("conv(k=3,s=2,p=0)"),
            c([3, 3], [2, 2], Padding::Explicit([0, 0]))
        );
        assert_eq!(conv("conv(k=3, out=16)").out_channels, Some(16));
        let m = pool("maxpool(k=2,s=2)");
        assert_eq!(
            (m.kind, m.kernel, m.stride, m.padding),
            (PoolKind::Max, [2, 2], [2, 2], [0, 0])
        );
        let a = pool("avgpool(k=3,s=1,p=1)");
        assert_eq!(
            (a.kind, a.stride, a.padding, a.count_include_pad),
            (PoolKind::Avg, [1, 1], [1, 1], true)
        );
        assert_eq!(one("relu"), LayerKind::Relu);
        assert_eq!(one(" RELU() "), LayerKind::Relu);
        assert_eq!(
            pool("maxpool(k=3)").stride,
            [3, 3],
            "stride defaults to kernel"
        );
    }

    #[test]
    fn separators_aliases_and_text() {
        let l = parse_stack("conv(k=3) -> relu; maxpool(k=2), conv(k=3,out=8)").unwrap();
        let texts: Vec<_> = l.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            ["conv(k=3)", "relu", "maxpool(k=2)", "conv(k=3,out=8)"]
        );
        let l =
            parse_stack("CONV2D(Kernel=3, S=1)->Max_Pool(K=2);;AvgPool2d(kernel_size=2)\n relu")
                .unwrap();
        assert_eq!(l.len(), 4);
        assert!(matches!(&l[2].kind, LayerKind::Pool(p) if p.kind == PoolKind::Avg));
    }

    #[test]
    fn values() {
        for s in [
            "conv(k=3x5)",
            "conv(k=(3,5))",
            "conv(k=[3, 5])",
            "conv(k=3X5)",
        ] {
            assert_eq!(conv(s).kernel, [3, 5], "{s}");
        }
        assert_eq!(conv("conv(k=3,p=1x2)").padding, Padding::Explicit([1, 2]));
        assert_eq!(conv("conv(k=3,pad=valid)").padding, Padding::Valid);
        assert_eq!(conv("conv(k=3,padding='same',d=2)").padding, Padding::Same);
        assert_eq!(conv("conv(k=3,d=2)").dilation, [2, 2]);
        assert_eq!(conv("conv(k=3,groups=4)").groups, 4);
        assert_eq!(conv("conv(k=3,g=2,out=8)").groups, 2);
        assert_eq!(conv("conv(k=3)").groups, 1);
        assert_eq!(
            conv("conv(k=3,c=4,bias=no)"),
            ConvSpec {
                out_channels: Some(4),
                bias: false,
                ..conv("conv(k=3)")
            }
        );
        for (s, r) in [
            ("relu=true", true),
            ("relu", true),
            ("act=relu", true),
            ("act=none", false),
            ("relu=0", false),
        ] {
            assert_eq!(conv(&format!("conv(k=3,{s})")).relu, r, "{s}");
        }
        let m = pool("maxpool(k=3,s=2,p=1,d=2,ceil_mode=yes)");
        assert_eq!((m.padding, m.dilation, m.ceil_mode), ([1, 1], [2, 2], true));
        assert!(!pool("avgpool(k=2,count_include_pad=false,p=valid)").count_include_pad);
    }

    #[test]
    fn display() {
        assert_eq!(
            parse_stack("conv(k=3,s=2)").unwrap()[0].to_string(),
            "conv(k=3,s=2,p=0)"
        );
        let s = "conv(k=3x5,s=1,p=same,d=2,out=16,relu)";
        assert_eq!(parse_stack(s).unwrap()[0].to_string(), s);
        assert_eq!(
            parse_stack("max_pool(kernel=2)").unwrap()[0].to_string(),
            "maxpool(k=2,s=2)"
        );
    }

    /// (source, fragments its message must contain, separated by " | ").
    const ERRORS: &[(&str, &str)] = &[
        ("conv(kernal_sise=3)", "unknown parameter 'kernal_sise' in layer 1; did you mean 'kernel_size'?"),
        // The exercise's own typo gets the fix, as the issue asks.
        ("conv(kernal_size=3)", "unknown parameter 'kernal_size' in layer 1; did you mean 'kernel_size'?"),
        ("conv(zzz=3)", "'zzz' | conv accepts: kernel_size/k, stride/s"),
        ("avgpool(k=2,dilatoin=2)", "'dilatoin' | avgpool accepts"),
        ("relu convv(k=3)", "unknown layer 'convv' at layer 2; expected one of conv, maxpool, avgpool, relu; did you mean 'conv'?"),
        ("relu relu conv(k=3", "missing ')' in layer 3 'conv(k=3'"),
        ("conv(k=(3,5)", "missing ')' in layer 1"),
        ("conv(k=3))", "unexpected ')' in layer 1 | separator"),
        ("relu )", "unexpected ')' in layer 2 | layer name"),
        ("(k=3)", "unexpected '(' in layer 1 | layer name"),
        ("conv(k=3)relu", "unexpected 'r' | separator"),
        ("conv(k=3,,s=1)", "empty parameter in layer 1 | ','"),
        ("conv(k=3,)", "empty parameter"),
        ("conv(=3)", "missing parameter name | '=3'"),
        ("conv(k=3,stride=)", "missing value for 'stride' in layer 1"),
        ("conv(k=3,s)", "missing value for 's'"),
        ("conv(k=3,act)", "missing value for 'act'"),
        ("relu conv(k=3,stride=0)", "stride must be at least 1 in layer 2 (got 'stride=0')"),
        ("conv(k=0)", "kernel_size must be at least 1 | 'k=0'"),
        ("conv(k=3,d=1x0)", "dilation must be at least 1 | 'd=1x0'"),
        ("conv(k=3,out=0)", "out_channels must be at least 1"),
        ("conv(kernel_size=abc)", "invalid number 'abc' for 'kernel_size' in layer 1; expected a positive integer or a pair like 3x5"),
        ("conv(k=-1)", "invalid number '-1'"),
        ("conv(k=[3,5)", "invalid number '[3,5'"),
        ("conv(k=3,out=3x5)", "invalid number '3x5' for 'out_channels' | positive integer"),
        ("conv(k=3,p=abc)", "'valid' or 'same'"),
        ("conv(k=99999999999999999999999)", "kernel_size is too large | maximum is 1048576"),
        ("conv(k=3,s=1048577)", "stride is too large | maximum is 1048576"),
        ("conv(k=3,kernel_size=5)", "duplicate parameter kernel_size | 'k=3' | 'kernel_size=5'"),
        ("conv(k=3,relu,act=none)", "duplicate"),
        ("conv(s=2)", "missing kernel_size in layer 1"),
        ("relu maxpool", "missing kernel_size in layer 2 (maxpool)"),
        ("maxpool(k=3,p=same)", "'p=same' | maxpool | explicit padding"),
        ("avgpool(k=3,d=2)", "'d=2' | avgpool | no dilation"),
        ("maxpool(k=3,count_include_pad=true)", "count_include_pad | maxpool"),
        ("maxpool(k=3,bias=false)", "'bias=false' | no weights"),
        ("avgpool(k=3,out=8)", "'out=8' | channel count"),
        ("conv(k=3,ceil_mode=true)", "ceil_mode | only pooling"),
        ("relu(k=3)", "takes no parameters but inplace"),
        ("conv(k=3,s=2,padding='same')", "padding='same' needs stride 1, as in PyTorch; use an explicit padding | 's=2'"),
        ("avgpool(k=3,p=2)", "'p=2' | at most kernel_size/2"),
        ("conv(k=3,bias=maybe)", "invalid value 'maybe' for 'bias' | true/false"),
        ("conv(k=3,act=tanh)", "invalid value 'tanh' for 'act' | relu or none"),
        ("", "the layer stack is empty; example: conv(k=3,s=2) conv(k=5,p=2)"),
        (" , ; -> \n", "the layer stack is empty"),
    ];

    #[test]
    fn errors_name_culprit_and_fix() {
        for (src, want) in ERRORS {
            let msg = match parse_stack(src) {
                Ok(l) => panic!("{src}: expected an error, got {l:?}"),
                Err(e) => e.to_string(),
            };
            for w in want.split(" | ") {
                assert!(msg.contains(w), "{src}: message {msg:?} lacks {w:?}");
            }
        }
        assert!(parse_stack("conv(k=1048576)").is_ok());
    }

    /// Grammar fragments, '|'-separated, for the token-soup fuzz test.
    const TOKENS: &str = "conv|maxpool|avgpool|relu|k|s|p|d|out|kernel_size|kernal_size|stride|\
        padding|dilation|bias|act|ceil_mode|count_include_pad|groups|g|bn|batchnorm|eps|affine|momentum|\
        num_features|1e-5|sigmoid|gelu|approximate|tanh|leaky_relu|negative_slope|inplace|same|valid|true|=|(|)|[|]|,|;|->|-|>|\
        x|X| |\n|0|1|3|'|99999999999999999999999|1048577|é|\u{0}";

    fn pair(max: usize) -> impl Strategy<Value = [usize; 2]> {
        prop_oneof![(1..=max).prop_map(|n| [n, n]), [1..=max, 1..=max]]
    }

    fn layer_kind() -> impl Strategy<Value = LayerKind> {
        let pad = prop_oneof![
            [0..=3usize, 0..=3].prop_map(Padding::Explicit),
            Just(Padding::Valid),
            Just(Padding::Same)
        ];
        let conv = (
            pair(7),
            pair(3),
            pad,
            pair(3),
            proptest::option::of(1..=64usize),
            (any::<bool>(), any::<bool>(), 1..=4usize),
        )
            .prop_map(
                |(kernel, stride, padding, dilation, out_channels, (bias, relu, groups))| {
                    let stride = if padding == Padding::Same {
                        [1, 1]
                    } else {
                        stride
                    };
                    LayerKind::Conv(ConvSpec {
                        kernel,
                        stride,
                        padding,
                        dilation,
                        out_channels,
                        groups,
                        bias,
                        relu,
                    })
                },
            );
        let pool = (
            any::<bool>(),
            pair(6),
            pair(4),
            [0..=3usize, 0..=3],
            pair(3),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(max, kernel, stride, pad, dil, ceil_mode, cip)| {
                let padding = [pad[0].min(kernel[0] / 2), pad[1].min(kernel[1] / 2)];
                let kind = if max { PoolKind::Max } else { PoolKind::Avg };
                let (dilation, count_include_pad) = if max { (dil, true) } else { ([1, 1], cip) };
                LayerKind::Pool(PoolSpec {
                    kind,
                    kernel,
                    stride,
                    padding,
                    dilation,
                    ceil_mode,
                    count_include_pad,
                })
            });
        let bn = (
            proptest::sample::select(vec![1e-5, 1e-3, 0.1, 2.5e-7]),
            any::<bool>(),
            proptest::option::of(1..=64usize),
        )
            .prop_map(|(eps, affine, num_features)| {
                LayerKind::BatchNorm(BatchNormSpec {
                    eps,
                    affine,
                    num_features,
                })
            });
        let act = prop_oneof![
            Just(Pointwise::Sigmoid),
            Just(Pointwise::Tanh),
            Just(Pointwise::Silu),
            any::<bool>().prop_map(|tanh| Pointwise::Gelu { tanh }),
            proptest::sample::select(vec![0.01, 0.2, -0.5, 1e-7])
                .prop_map(|slope| Pointwise::LeakyRelu { slope }),
        ]
        .prop_map(LayerKind::Act);
        prop_oneof![conv, pool, Just(LayerKind::Relu), bn, act]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(fuzz_cases(1000)))]

        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            let _ = parse_stack(&s);
        }

        #[test]
        fn never_panics_on_token_soup(t in proptest::collection::vec(
            proptest::sample::select(TOKENS.split('|').collect::<Vec<_>>()), 0..40)) {
            if let Err(e) = parse_stack(&t.concat()) {
                let _ = e.to_string();
            }
        }

        #[test]
        fn display_round_trips(kinds in proptest::collection::vec(layer_kind(), 1..6), sep in "[ ,;]|->| -> ") {
            let src = kinds.iter().map(ToString::to_string).collect::<Vec<_>>().join(&sep);
            let parsed = parse_stack(&src).map_err(|e| TestCaseError::fail(format!("{src}: {e}")))?;
            let got: Vec<_> = parsed.iter().map(|l| l.kind.clone()).collect();
            prop_assert_eq!(got, kinds);
            for l in &parsed {
                prop_assert_eq!(&l.text, &l.to_string());
            }
        }
    }
}

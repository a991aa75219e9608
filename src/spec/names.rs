//! The layer language's vocabulary: layer names, parameter keys and their
//! aliases, and the closest-match hint for a misspelling.

pub(super) const SIZE: &str = "a positive integer or a pair like 3x5";
pub(super) const COUNT: &str = "a positive integer";
pub(super) const CONV_PAD: &str = "a non-negative integer, a pair like 1x2, 'valid' or 'same'";
pub(super) const POOL_PAD: &str = "a non-negative integer, a pair like 1x2, or 'valid'";
pub(super) const BOOL: &str = "true/false, 1/0 or yes/no";
pub(super) const EXPECT_NAME: &str =
    "a layer name such as conv, maxpool, avgpool, batchnorm, relu, sigmoid, tanh, silu, gelu or leaky_relu";
pub(super) const EXPECT_SEP: &str = "a separator (space, ',', ';' or '->') after the layer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
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
    pub(super) fn name(self) -> &'static str {
        ALIASES
            .iter()
            .find(|&&(_, k)| k == self)
            .map_or("", |&(a, _)| a)
    }
}

pub(super) const ALIASES: &[(&str, Key)] = &[
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
pub(super) enum Name {
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

pub(super) const LAYER_NAMES: &[(&str, Name)] = &[
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
    pub(super) fn label(self) -> &'static str {
        LAYER_NAMES
            .iter()
            .find(|&&(_, n)| n == self)
            .map_or("", |&(a, _)| a)
    }

    /// `Some(reason)` for keys that exist but make no sense on this layer.
    pub(super) fn rejects(self, key: Key) -> Option<&'static str> {
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

    pub(super) fn accepted(self) -> &'static str {
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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

pub(super) fn closest<'c>(word: &str, cands: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    if word.chars().count() > 40 {
        return None;
    }
    cands
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= 2 && 2 * d <= c.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

//! The layer language's parser: cuts a stack into layers, reads each
//! layer's parameters, and refuses what PyTorch would refuse.

use super::names::*;
use super::*;

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
///
/// Layer names and parameter keys are case-insensitive and accept
/// PyTorch's spellings and short aliases (`kernel_size`/`k`, `stride`/`s`,
/// `padding`/`p`, ...). Only shape-independent checks happen here.
///
/// # Errors
///
/// A [`SpecError`] naming the first layer (1-based) that is malformed:
/// an empty stack, an unknown layer or parameter, a parameter the layer
/// does not take, a missing kernel size, a value out of range.
///
/// ```
/// use wgsl_nn::spec::{parse_stack, LayerKind};
/// let layers = parse_stack("conv(k=3,s=2) -> relu; maxpool(k=2)")?;
/// assert_eq!(layers.len(), 3);
/// assert!(matches!(layers[1].kind, LayerKind::Relu));
/// assert_eq!(layers[2].to_string(), "maxpool(k=2,s=2)");
/// assert!(parse_stack("conv(s=2)").is_err()); // no kernel_size
/// # Ok::<(), wgsl_nn::spec::SpecError>(())
/// ```
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

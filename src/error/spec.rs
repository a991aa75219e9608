//! What can be wrong in a layer-stack text (`spec`), kept here so that the
//! error type sits below every module that returns it.

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

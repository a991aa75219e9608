//! What can be wrong in a layer-stack text (`spec`), kept here so that the
//! error type sits below every module that returns it.

/// Why a layer-stack text (see [`crate::spec::parse_stack`]) was refused. Every
/// variant that names a layer counts it from 1, as a person does; the
/// message quotes the offending text and says how to fix it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum SpecError {
    /// The text holds no layer at all (empty, or only separators).
    #[error("the layer stack is empty; example: conv(k=3,s=2) conv(k=5,p=2)")]
    Empty,
    /// A character that can neither start a layer name (where one is due)
    /// nor follow a layer (where a separator is due).
    #[error("unexpected '{found}' in layer {layer} '{text}'; expected {expected}")]
    UnexpectedChar {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The character that cannot stand there.
        found: char,
        /// The layer's text up to and including that character.
        text: String,
        /// What may stand there instead, in words.
        expected: &'static str,
    },
    /// A parameter list opened with `(` is never closed.
    #[error("missing ')' in layer {layer} '{text}'; close its parameter list")]
    MissingParen {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The layer's text from its name to the end of the input.
        text: String,
    },
    /// The layer name is not one the language knows (conv, maxpool,
    /// avgpool, batchnorm, relu, the activations, or their aliases).
    #[error("unknown layer '{name}' at layer {layer}; expected one of conv, maxpool, avgpool, relu{}", did_you_mean(*.suggestion))]
    UnknownLayer {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The name as written.
        name: String,
        /// The closest known layer name (at most two edits away), if any.
        suggestion: Option<&'static str>,
    },
    /// An empty item in a parameter list, e.g. `conv(k=3,,s=2)` or a
    /// trailing comma.
    #[error("empty parameter in layer {layer} '{text}'; remove the extra ','")]
    EmptyParam {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The layer's text.
        text: String,
    },
    /// A parameter with a value but no name before its `=`.
    #[error("missing parameter name in '{param}' in layer {layer}; write key=value, e.g. k=3")]
    MissingKey {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The parameter as written, e.g. `=3`.
        param: String,
    },
    /// A parameter written without a value (`k=` or a bare `k`); only the
    /// boolean flags (`bias`, `relu`, `ceil_mode`, `count_include_pad`,
    /// `affine`, `inplace`) may stand alone, meaning true.
    #[error("missing value for '{key}' in layer {layer}; write {key}=<value>")]
    MissingValue {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The parameter name as written.
        key: String,
    },
    /// A parameter name the language does not know at all.
    #[error("unknown parameter '{key}' in layer {layer}{}", unknown_hint(*.suggestion, .accepted, .layer_name))]
    UnknownParam {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The layer's name, canonical spelling.
        layer_name: &'static str,
        /// The parameter name as written.
        key: String,
        /// The closest parameter name this layer accepts (at most two
        /// edits away), if any.
        suggestion: Option<&'static str>,
        /// Every parameter this layer accepts, for the message.
        accepted: &'static str,
    },
    /// A known parameter that this layer does not take (e.g. `ceil_mode` on
    /// a conv, `out` on a pool, `padding=same` on a pool).
    #[error("parameter '{param}' does not apply to {layer_name} in layer {layer}: {reason}")]
    NotApplicable {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The layer's name, canonical spelling.
        layer_name: &'static str,
        /// The parameter as written.
        param: String,
        /// Why this layer refuses it, and what to do instead.
        reason: &'static str,
    },
    /// One parameter set twice, possibly under two aliases (`k=3,kernel=3`).
    #[error("duplicate parameter {key} in layer {layer}: '{first}' and '{second}' both set it; keep one")]
    Duplicate {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The parameter's canonical name.
        key: &'static str,
        /// The first setting, as written.
        first: String,
        /// The second setting, as written.
        second: String,
    },
    /// A conv or pooling layer without `kernel_size`, which has no default.
    #[error(
        "missing kernel_size in layer {layer} ({layer_name}); add one, e.g. {layer_name}(k=3)"
    )]
    MissingKernel {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The layer's name, canonical spelling.
        layer_name: &'static str,
    },
    /// A size or count that is not a non-negative integer, more than a
    /// pair, or a pair where only one number is allowed (`out`, `groups`,
    /// `num_features`).
    #[error("invalid number '{value}' for '{key}' in layer {layer}; expected {expected}")]
    InvalidNumber {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The parameter's canonical name.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What the parameter takes, in words.
        expected: &'static str,
    },
    /// A non-numeric value out of its set: a boolean that is not
    /// true/false, 1/0 or yes/no, an unknown `act` or `approximate`, an `eps`
    /// outside (0, 1), a non-finite slope or momentum.
    #[error("invalid value '{value}' for '{key}' in layer {layer}; expected {expected}")]
    InvalidValue {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The parameter, by the alias it was written as (lower-case).
        key: &'static str,
        /// The value as written.
        value: String,
        /// What the parameter takes, in words.
        expected: &'static str,
    },
    /// A zero where at least 1 is needed (every size and count but padding).
    #[error("{key} must be at least 1 in layer {layer} (got '{param}')")]
    Zero {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The parameter's canonical name.
        key: &'static str,
        /// The parameter as written.
        param: String,
    },
    /// A number above [`crate::spec::MAX_SIZE`], which keeps later size
    /// arithmetic far from overflow.
    #[error("{key} is too large in layer {layer} (got '{param}'); the maximum is {max}")]
    TooLarge {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The parameter's canonical name.
        key: &'static str,
        /// The parameter as written.
        param: String,
        /// The largest accepted number ([`crate::spec::MAX_SIZE`]).
        max: usize,
    },
    /// `padding=same` on a conv whose stride is not 1 (PyTorch refuses it
    /// too).
    #[error("padding='same' needs stride 1, as in PyTorch; use an explicit padding (layer {layer} has '{stride}')")]
    SameNeedsStride1 {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The stride parameter as written.
        stride: String,
    },
    /// Pooling padding above half the kernel size on some axis, which
    /// would allow windows lying wholly in the padding (PyTorch refuses it
    /// too).
    #[error("padding '{param}' exceeds half the kernel size in layer {layer} ({layer_name}); as in PyTorch, pooling padding must be at most kernel_size/2")]
    PoolPadTooLarge {
        /// The layer's 1-based position in the stack.
        layer: usize,
        /// The layer's name, canonical spelling.
        layer_name: &'static str,
        /// The padding parameter as written.
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

//! A model as a graph of ops: what `wgsl-nn run MODEL.onnx` executes.
//!
//! A file format (ONNX, in `app::io::onnx`) fills a [`Model`]: named
//! tensors, nodes in ONNX's operator vocabulary, initializers. [`build()`]
//! binds the inputs' shapes, folds everything that depends only on
//! constants and shapes on the host, fuses what the kernels allow (Conv +
//! BatchNormalization + ReLU, Gemm with its bias and ReLU), and resolves
//! each remaining node into one [`op::Op`] with concrete shapes: a
//! [`Program`]. Then the program runs twice over, as every layer of this
//! crate does: on the GPU as one plan in one submission (`gpu`), and in
//! f64 with float32 error bounds (`reference`), node by node over the
//! reference's own propagated values, so each node's GPU output is judged
//! by the crate's verdict on its own.
//!
//! Runtime integer tensors (token ids, masks computed from data) travel
//! on the GPU as float32 values: exact up to 2^24, which `build` checks for
//! the inputs it is given.

pub mod baseline;
mod baseline_blocked;
mod baseline_ops;
mod baseline_par;
mod baseline_pointwise;
mod baseline_window;
pub mod build;
pub mod exec;
mod fuse;
pub mod gpu;
pub mod half;
pub mod lower;
pub mod memory;
pub mod op;
mod pointwise;
pub mod program;
pub mod reference;
pub mod resolve;

pub use build::build;
pub use op::Op;
pub use program::Program;

use std::collections::BTreeMap;

/// The element types a graph's tensors may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DType {
    /// float32 (also float64 and float16 files, converted at load).
    F32,
    /// int64 (also the narrower integer types, widened at load).
    I64,
    /// bool, held as 0 and 1.
    Bool,
}

impl DType {
    /// ONNX's name for it.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I64 => "int64",
            DType::Bool => "bool",
        }
    }
}

/// A host tensor: a constant of the model or a value folded from them.
/// Values are f64 (integers are exact below 2^53, far beyond any shape).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f64>,
}

impl HostTensor {
    /// A float32 tensor from f32 values.
    ///
    /// ```
    /// let t = wgsl_nn::graph::HostTensor::f32(&[2], &[1.0, 2.5]);
    /// assert_eq!(t.data, [1.0, 2.5]);
    /// ```
    pub fn f32(shape: &[usize], data: &[f32]) -> HostTensor {
        HostTensor {
            dtype: DType::F32,
            shape: shape.to_vec(),
            data: data.iter().map(|&v| f64::from(v)).collect(),
        }
    }

    /// An int64 tensor.
    ///
    /// ```
    /// let t = wgsl_nn::graph::HostTensor::i64(&[], &[3]);
    /// assert_eq!(t.ints(), [3]);
    /// ```
    pub fn i64(shape: &[usize], data: &[i64]) -> HostTensor {
        HostTensor {
            dtype: DType::I64,
            shape: shape.to_vec(),
            data: data.iter().map(|&v| v as f64).collect(),
        }
    }

    /// The values as integers (truncated toward zero, saturating).
    pub fn ints(&self) -> Vec<i64> {
        self.data.iter().map(|&v| v as i64).collect()
    }

    /// The values rounded to float32, as the GPU holds them.
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// One dimension of a declared input: fixed, or named (`batch`) and bound
/// when the input is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbolic size (ONNX `dim_param`, or none at all).
    Named(String),
}

/// A graph input the caller must supply.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub dtype: DType,
    /// Its declared dimensions.
    pub dims: Vec<Dim>,
}

impl Input {
    /// The declared shape, a named dim taking `named(name)`.
    ///
    /// ```
    /// use wgsl_nn::graph::{DType, Dim, Input};
    /// let i = Input { name: "x".into(), dtype: DType::F32, dims: vec![Dim::Named("batch".into()), Dim::Fixed(3)] };
    /// assert_eq!(i.shape(|_| 2), [2, 3]);
    /// ```
    pub fn shape(&self, named: impl Fn(&str) -> usize) -> Vec<usize> {
        self.dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(s) => *s,
                Dim::Named(n) => named(n),
            })
            .collect()
    }
}

/// A node attribute, as ONNX types them.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// One float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A string.
    Str(String),
    /// A tensor (Constant's `value`).
    Tensor(HostTensor),
    /// Anything else (graphs, sparse tensors, string lists): kept by name
    /// so a node that needs it is refused with the attribute named.
    Other(&'static str),
}

/// One node in ONNX's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's name (made up from its op and position when the file
    /// gives none).
    pub name: String,
    /// The operator, e.g. `Conv`.
    pub op: String,
    /// The operator set's domain: `""` or `ai.onnx` for the standard one.
    pub domain: String,
    /// Input tensor names; `""` for an omitted optional input.
    pub inputs: Vec<String>,
    /// Output tensor names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: BTreeMap<String, Attr>,
}

impl Node {
    /// "node 'Conv_0' (Conv)": how errors name it.
    pub fn label(&self) -> String {
        format!("node '{}' ({})", self.name, self.op)
    }
}

/// A model: its inputs, constants, nodes and outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    /// The inputs the caller supplies (initializers excluded).
    pub inputs: Vec<Input>,
    /// The graph's outputs, by tensor name.
    pub outputs: Vec<String>,
    /// Constants by name.
    pub initializers: BTreeMap<String, HostTensor>,
    /// The nodes, in the file's order (checked for cycles by [`build()`]).
    pub nodes: Vec<Node>,
    /// The standard operator set's version (`opset_import`).
    pub opset: i64,
    /// Who wrote the file, for reports.
    pub producer: String,
    /// The file declares float16 inputs (a `model.half()` export): its
    /// values were widened at load, and `run` defaults to `--dtype f16`.
    pub float16: bool,
}

impl Model {
    /// Every input's declared shape by name, named dims taking
    /// `named(name)`: what [`build()`] binds when no data is given.
    pub fn declared_shapes(&self, named: impl Fn(&str) -> usize) -> BTreeMap<String, Vec<usize>> {
        self.inputs
            .iter()
            .map(|i| (i.name.clone(), i.shape(&named)))
            .collect()
    }
}

/// The most elements any one tensor of a graph may hold before the host
/// refuses it: the f64 reference keeps a value and a bound per element
/// (16 bytes), so 2^27 elements are 2 GiB there.
pub const MAX_ELEMENTS: usize = 1 << 27;

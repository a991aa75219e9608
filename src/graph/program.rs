//! A program: a model bound to input shapes, folded, fused and resolved
//! into ops over numbered values, which the GPU lowering, the reference
//! and the CPU baseline all run.

use super::op::Op;
use super::{DType, HostTensor};

/// Where a value of a program comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The graph input at this position of [`Program::inputs`].
    Input(usize),
    /// A constant: an initializer, or folded on the host.
    Const(HostTensor),
    /// Computed by the program node at this index.
    Node(usize),
    /// An intermediate that fusion removed: nothing reads or writes it.
    Fused,
}

/// One tensor of a program.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Its ONNX name (`#k` appended for an op's internal steps).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Concrete shape.
    pub shape: Vec<usize>,
    /// Where it comes from.
    pub source: Source,
}

/// One op of a program: what one GPU step (or a few) computes and one
/// check judges.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramNode {
    /// The ONNX nodes it stands for, joined by " + " where fused.
    pub name: String,
    /// Their operators, e.g. `["Conv", "BatchNormalization", "Relu"]`.
    pub op_types: Vec<String>,
    /// What it computes.
    pub op: Op,
    /// Its input values (indices into [`Program::values`]).
    pub inputs: Vec<usize>,
    /// Its output value.
    pub output: usize,
}

/// A model bound to input shapes, folded, fused and resolved: what the GPU
/// lowering and the reference both run.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Every tensor.
    pub values: Vec<Value>,
    /// The ops, in an order that respects their dependencies.
    pub nodes: Vec<ProgramNode>,
    /// The graph inputs' values, in the model's order.
    pub inputs: Vec<usize>,
    /// The graph outputs' values.
    pub outputs: Vec<usize>,
    /// ONNX nodes folded on the host (constants and shape arithmetic).
    pub folded: usize,
    /// The fusions applied, in words ("Conv_3 + BatchNormalization_4").
    pub fused: Vec<String>,
}

impl Program {
    /// How many values read `v` (node inputs and graph outputs).
    pub fn consumers(&self, v: usize) -> usize {
        self.nodes
            .iter()
            .map(|n| n.inputs.iter().filter(|&&i| i == v).count())
            .sum::<usize>()
            + self.outputs.iter().filter(|&&o| o == v).count()
    }

    /// The constant behind value `v`, if it is one.
    pub fn konst(&self, v: usize) -> Option<&HostTensor> {
        match &self.values[v].source {
            Source::Const(t) => Some(t),
            _ => None,
        }
    }
}

//! From a [`Model`] and its inputs' shapes to a [`Program`]: checked for
//! missing tensors and cycles, resolved node by node, constants folded on
//! the host, and the fusions the kernels allow applied.

pub use super::program::{Program, ProgramNode, Source, Value};
use super::reference;
use super::resolve::{resolve, Meta, Out, Src};
use super::{DType, HostTensor, Model, Node};
use crate::cpu::RefTensor;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// The nodes of `model` in dependency order, every input accounted for.
fn order(model: &Model) -> Result<Vec<usize>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in model.nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if producer.insert(o.as_str(), i).is_some() || model.initializers.contains_key(o) {
                return Err(Error::shape(n.label(), format!("writes tensor '{o}', which another node or an initializer also defines; a valid ONNX graph defines each tensor once")));
            }
        }
    }
    let known = |name: &str| {
        model.initializers.contains_key(name) || model.inputs.iter().any(|i| i.name == name)
    };
    let mut deps: Vec<Vec<usize>> = vec![];
    for n in &model.nodes {
        let mut d = vec![];
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            match producer.get(i.as_str()) {
                Some(&p) => d.push(p),
                None if known(i) => {}
                None => return Err(Error::shape(n.label(), format!("reads tensor '{i}', which no node, input or initializer defines; the file is incomplete or corrupt"))),
            }
        }
        deps.push(d);
    }
    // Depth-first, iterative, with three colours: a grey node met again is a cycle.
    let mut state = vec![0u8; model.nodes.len()];
    let mut out = Vec::with_capacity(model.nodes.len());
    for start in 0..model.nodes.len() {
        let mut stack = vec![(start, 0usize)];
        while let Some((n, k)) = stack.pop() {
            if k == 0 {
                match state[n] {
                    2 => continue,
                    1 => return Err(Error::shape(model.nodes[n].label(), "is part of a cycle: its inputs depend on its own output; ONNX graphs must be acyclic")),
                    _ => state[n] = 1,
                }
            }
            if let Some(&d) = deps[n].get(k) {
                stack.push((n, k + 1));
                if state[d] == 1 {
                    return Err(Error::shape(model.nodes[d].label(), "is part of a cycle: its inputs depend on its own output; ONNX graphs must be acyclic"));
                }
                if state[d] == 0 {
                    stack.push((d, 0));
                }
            } else {
                state[n] = 2;
                out.push(n);
            }
        }
    }
    Ok(out)
}

fn ref_of(t: &HostTensor) -> RefTensor {
    RefTensor {
        shape: t.shape.clone(),
        val: t.data.clone(),
        err: vec![0.0; t.data.len()],
    }
}

/// A folded value as the GPU would hold it: float32 rounded, integers exact.
fn host_of(r: RefTensor, dtype: DType) -> HostTensor {
    let data = match dtype {
        DType::F32 => r.val.iter().map(|&v| f64::from(v as f32)).collect(),
        _ => r.val,
    };
    HostTensor {
        dtype,
        shape: r.shape,
        data,
    }
}

/// Binds `model`'s inputs to `shapes` (by name) and builds its program.
///
/// # Errors
///
/// [`Error::Argument`] for an input without a shape or with one of the
/// wrong rank or fixed size; [`Error::Shape`] naming the node for a
/// missing tensor, a cycle, an unsupported operator or attribute, or
/// shapes that do not fit.
pub fn build(model: &Model, shapes: &BTreeMap<String, Vec<usize>>) -> Result<Program> {
    let mut p = Program::default();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, input) in model.inputs.iter().enumerate() {
        let shape = shapes.get(&input.name).ok_or_else(|| {
            Error::arg(
                "--input",
                format!("the model's input '{}' needs a value", input.name),
            )
        })?;
        check_declared(input, shape)?;
        by_name.insert(input.name.clone(), p.values.len());
        p.inputs.push(p.values.len());
        p.values.push(Value {
            name: input.name.clone(),
            dtype: input.dtype,
            shape: shape.clone(),
            source: Source::Input(i),
        });
    }
    for (name, t) in &model.initializers {
        if by_name.contains_key(name) {
            continue; // an input that an initializer defaults: the input wins
        }
        by_name.insert(name.clone(), p.values.len());
        p.values.push(Value {
            name: name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
            source: Source::Const(t.clone()),
        });
    }
    for i in order(model)? {
        add_node(&mut p, &mut by_name, &model.nodes[i], model.opset)?;
    }
    for o in &model.outputs {
        let v = by_name.get(o).ok_or_else(|| {
            Error::shape(
                format!("output '{o}'"),
                "no node computes this graph output",
            )
        })?;
        p.outputs.push(*v);
    }
    super::fuse::fuse(&mut p);
    Ok(p)
}

fn check_declared(input: &super::Input, shape: &[usize]) -> Result<()> {
    let ok = input.dims.len() == shape.len()
        && input
            .dims
            .iter()
            .zip(shape)
            .all(|(d, &s)| matches!(d, super::Dim::Named(_)) || *d == super::Dim::Fixed(s));
    if ok && !shape.contains(&0) {
        return Ok(());
    }
    let declared: Vec<String> = input
        .dims
        .iter()
        .map(|d| match d {
            super::Dim::Fixed(s) => s.to_string(),
            super::Dim::Named(n) => n.clone(),
        })
        .collect();
    Err(Error::arg(
        "--input",
        format!(
            "'{}' was given shape {shape:?} but the model declares [{}]",
            input.name,
            declared.join(", ")
        ),
    ))
}

fn add_node(
    p: &mut Program,
    by_name: &mut HashMap<String, usize>,
    node: &Node,
    opset: i64,
) -> Result<()> {
    let mut ids: Vec<Option<usize>> = vec![];
    for n in &node.inputs {
        ids.push(match n.as_str() {
            "" => None,
            n => Some(*by_name.get(n).ok_or_else(|| {
                Error::shape(
                    node.label(),
                    format!("reads tensor '{n}' before anything defines it"),
                )
            })?),
        });
    }
    let metas: Vec<Option<Meta>> = ids
        .iter()
        .map(|id| {
            id.map(|v| {
                let val = &p.values[v];
                Meta {
                    dtype: val.dtype,
                    shape: val.shape.clone(),
                    konst: p.konst(v).cloned(),
                }
            })
        })
        .collect();
    let refs: Vec<Option<&Meta>> = metas.iter().map(|m| m.as_ref()).collect();
    let resolved = resolve(node, &refs, opset)?;
    let mut step_ids = vec![];
    for (j, step) in resolved.steps.iter().enumerate() {
        let name = match resolved.outputs.iter().position(|&o| o == j) {
            Some(k) => node.outputs.get(k).cloned().unwrap_or_default(),
            None => format!("{}#{j}", node.name),
        };
        let id = p.values.len();
        match step {
            Out::Const(t) => {
                p.folded += 1;
                p.values.push(Value {
                    name,
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    source: Source::Const(t.clone()),
                });
            }
            Out::Op {
                op,
                inputs,
                shape,
                dtype,
            } => {
                // Every op's output, whatever produced its shape (a
                // broadcast of two large batch dims, say), is bounded
                // before anything is allocated for it.
                let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                if n.is_none_or(|n| n > super::MAX_ELEMENTS) {
                    return Err(Error::shape(node.label(), format!("its output {shape:?} would hold more than {} elements; this runner refuses tensors that large (check the model's shapes or use a smaller input)", super::MAX_ELEMENTS)));
                }
                let mut ins = vec![];
                for s in inputs {
                    ins.push(match s {
                        Src::In(i) => ids.get(*i).copied().flatten().ok_or_else(|| {
                            Error::shape(node.label(), format!("needs input {}", i + 1))
                        })?,
                        Src::Prev(j) => step_ids[*j],
                        Src::Const(t) => {
                            p.values.push(Value {
                                name: format!("{}#const{}", node.name, p.values.len()),
                                dtype: t.dtype,
                                shape: t.shape.clone(),
                                source: Source::Const(t.clone()),
                            });
                            p.values.len() - 1
                        }
                    });
                }
                let id = p.values.len();
                if ins.iter().all(|&v| p.konst(v).is_some()) {
                    let args: Vec<RefTensor> = ins
                        .iter()
                        .map(|&v| ref_of(p.konst(v).unwrap_or(&HostTensor::f32(&[], &[0.0]))))
                        .collect();
                    let arg_refs: Vec<&RefTensor> = args.iter().collect();
                    let r = reference::eval(op, *dtype, &arg_refs, shape);
                    p.folded += 1;
                    p.values.push(Value {
                        name,
                        dtype: *dtype,
                        shape: shape.clone(),
                        source: Source::Const(host_of(r, *dtype)),
                    });
                } else {
                    if shape.contains(&0) {
                        return Err(Error::shape(node.label(), format!("its output {shape:?} is empty; empty tensors computed from the input cannot run on the GPU")));
                    }
                    p.values.push(Value {
                        name,
                        dtype: *dtype,
                        shape: shape.clone(),
                        source: Source::Node(p.nodes.len()),
                    });
                    p.nodes.push(ProgramNode {
                        name: node.name.clone(),
                        op_types: vec![node.op.clone()],
                        op: op.clone(),
                        inputs: ins,
                        output: id,
                    });
                }
                step_ids.push(id);
                continue;
            }
        }
        step_ids.push(id);
    }
    for (k, o) in node.outputs.iter().enumerate() {
        if o.is_empty() {
            continue;
        }
        let &j = resolved.outputs.get(k).ok_or_else(|| {
            Error::shape(
                node.label(),
                format!("its output {} is not supported", k + 1),
            )
        })?;
        by_name.insert(o.clone(), step_ids[j]);
    }
    Ok(())
}

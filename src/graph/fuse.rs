//! Fusions the kernels allow, applied to a built program: a batch norm
//! folded into the convolution before it (weights scaled, bias shifted,
//! in f64 then rounded once), a bias added by the matrix product that
//! precedes it, and a ReLU run inside the conv or product it follows.
//! Each applies only where the intermediate value has no other reader.

use super::op::{Op, Unary};
use super::program::{Program, Source, Value};
use super::{DType, HostTensor};

/// Applies every fusion until none applies.
pub fn fuse(p: &mut Program) {
    while fold_batchnorm(p) || fold_bias(p) || fold_relu(p) {}
    renumber(p);
}

/// The node producing value `v`, if a node does and nothing else reads it.
fn sole_producer(p: &Program, v: usize) -> Option<usize> {
    match p.values[v].source {
        Source::Node(i) if p.consumers(v) == 1 => Some(i),
        _ => None,
    }
}

/// Node `j` is absorbed into node `i` (its only input's producer): `i`
/// now writes `j`'s output, and `j` is left as a dead View.
fn absorb(p: &mut Program, i: usize, j: usize) {
    let (out_j, old) = (p.nodes[j].output, p.nodes[i].output);
    p.nodes[i].output = out_j;
    p.values[out_j].source = Source::Node(i);
    p.values[old].source = Source::Fused;
    let (name, ops) = (p.nodes[j].name.clone(), p.nodes[j].op_types.clone());
    p.nodes[i].name = format!("{} + {name}", p.nodes[i].name);
    p.nodes[i].op_types.extend(ops);
    p.fused.push(p.nodes[i].name.clone());
    p.nodes[j].op = Op::View;
    p.nodes[j].inputs.clear();
    p.nodes[j].output = usize::MAX;
}

fn new_const(p: &mut Program, name: String, t: HostTensor) -> usize {
    p.values.push(Value {
        name,
        dtype: DType::F32,
        shape: t.shape.clone(),
        source: Source::Const(t),
    });
    p.values.len() - 1
}

fn fold_batchnorm(p: &mut Program) -> bool {
    for j in 0..p.nodes.len() {
        let Op::BatchNorm(bn) = &p.nodes[j].op else {
            continue;
        };
        let Some(&x) = p.nodes[j].inputs.first() else {
            continue;
        };
        let Some(i) = sole_producer(p, x) else {
            continue;
        };
        let Op::Conv { conv, .. } = &p.nodes[i].op else {
            continue;
        };
        if conv.relu || p.nodes[i].inputs.len() < 2 {
            continue;
        }
        let (bn, mut conv) = (bn.clone(), conv.clone());
        let Some(w) = p.konst(p.nodes[i].inputs[1]).cloned() else {
            continue;
        };
        let bias: Vec<f64> = match p.nodes[i].inputs.get(2) {
            Some(&b) => match p.konst(b) {
                Some(t) => t.data.clone(),
                None => continue,
            },
            None => vec![0.0; conv.out_channels],
        };
        let per = w.data.len() / conv.out_channels.max(1);
        let mut w2 = w.clone();
        let mut b2 = vec![0.0; conv.out_channels];
        for c in 0..conv.out_channels {
            let s = f64::from(bn.weight[c]) / (f64::from(bn.var[c]) + bn.eps).sqrt();
            for v in &mut w2.data[c * per..(c + 1) * per] {
                *v = f64::from((*v * s) as f32);
            }
            b2[c] =
                f64::from(((bias[c] - f64::from(bn.mean[c])) * s + f64::from(bn.bias[c])) as f32);
        }
        let name = p.nodes[i].name.clone();
        let wv = new_const(p, format!("{name} weight (batch norm folded)"), w2);
        let bv = new_const(
            p,
            format!("{name} bias (batch norm folded)"),
            HostTensor {
                dtype: DType::F32,
                shape: vec![conv.out_channels],
                data: b2,
            },
        );
        conv.bias = true;
        let op = p.nodes[i].op.clone();
        if let Op::Conv { one_d, .. } = op {
            p.nodes[i].op = Op::Conv { conv, one_d };
        }
        p.nodes[i].inputs = vec![p.nodes[i].inputs[0], wv, bv];
        absorb(p, i, j);
        return true;
    }
    false
}

fn fold_bias(p: &mut Program) -> bool {
    for j in 0..p.nodes.len() {
        let Op::Binary(super::op::Binary::Add, ..) = &p.nodes[j].op else {
            continue;
        };
        let ins = p.nodes[j].inputs.clone();
        if ins.len() != 2 {
            continue;
        }
        for (x, c) in [(ins[0], ins[1]), (ins[1], ins[0])] {
            let Some(i) = sole_producer(p, x) else {
                continue;
            };
            let Op::Matmul {
                relu: false, shape, ..
            } = &p.nodes[i].op
            else {
                continue;
            };
            let n = shape.n;
            let Some(t) = p.konst(c) else { continue };
            let lead: Vec<usize> = t.shape.iter().copied().skip_while(|&d| d == 1).collect();
            let out_shape = &p.values[p.nodes[j].output].shape;
            if p.nodes[i].inputs.len() != 2
                || lead != [n]
                || p.values[x].shape != *out_shape
                || t.dtype != DType::F32
            {
                continue;
            }
            let mut t = t.clone();
            t.shape = vec![n];
            let name = format!("{} bias", p.nodes[j].name);
            let b = new_const(p, name, t);
            p.nodes[i].inputs.push(b);
            absorb(p, i, j);
            return true;
        }
    }
    false
}

fn fold_relu(p: &mut Program) -> bool {
    for j in 0..p.nodes.len() {
        let out = p.nodes[j].output;
        if out == usize::MAX || !is_plain_relu(&p.nodes[j].op, &p.values[out].shape) {
            continue;
        }
        let x = p.nodes[j].inputs[0];
        let Some(i) = sole_producer(p, x) else {
            continue;
        };
        let fused = match &mut p.nodes[i].op {
            Op::Conv { conv, .. } if !conv.relu => {
                conv.relu = true;
                true
            }
            Op::ConvTranspose { ct, .. } if !ct.relu => {
                ct.relu = true;
                true
            }
            Op::Matmul { relu, .. } if !*relu => {
                *relu = true;
                true
            }
            _ => false,
        };
        if fused {
            absorb(p, i, j);
            return true;
        }
    }
    false
}

/// Drops the nodes fusion emptied and renumbers the rest.
fn renumber(p: &mut Program) {
    let keep: Vec<bool> = p.nodes.iter().map(|n| n.output != usize::MAX).collect();
    let mut map = vec![usize::MAX; p.nodes.len()];
    let mut k = 0;
    for (i, &kept) in keep.iter().enumerate() {
        if kept {
            map[i] = k;
            k += 1;
        }
    }
    let mut i = 0;
    p.nodes.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for v in &mut p.values {
        if let Source::Node(n) = v.source {
            if map[n] != usize::MAX {
                v.source = Source::Node(map[n]);
            }
        }
    }
}

/// A unary ReLU over the whole of its input, as fusion looks for.
fn is_plain_relu(op: &Op, shape: &[usize]) -> bool {
    matches!(op, Op::Unary(Unary::Relu, s) if s.is_identity(shape))
}

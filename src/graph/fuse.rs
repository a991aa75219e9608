//! Fusions the kernels allow, applied to a built program: a batch norm
//! folded into the convolution before it (weights scaled, bias shifted,
//! in f64 then rounded once), a bias added by the matrix product that
//! precedes it, a ReLU run inside the conv or product it follows, and a
//! Clip(0, 6) (ReLU6, MobileNet's) inside the conv it follows; PyTorch's
//! exact GELU, exported as five elementwise nodes, becomes one.
//! Each applies only where the intermediate value has no other reader.
//! And MatMul + Softmax + MatMul, the way PyTorch exports scaled
//! dot-product attention, becomes one attention op for the fused kernels.

use super::op::{contiguous, Binary, MatmulShape, Op, Strides, Unary};
use super::program::{Program, Source, Value};
use super::{DType, HostTensor};

/// Applies every fusion until none applies.
pub fn fuse(p: &mut Program) {
    while fold_attention(p) || fold_batchnorm(p) || fold_bias(p) || fold_relu(p) || fold_gelu(p) {}
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
        if conv.relu || conv.relu6 || p.nodes[i].inputs.len() < 2 {
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

/// A ReLU run by the conv or product before it, and a Clip(0, 6) (ReLU6,
/// the conv kernels' cap bit) by the conv before it: MobileNet's conv
/// output, as large as any of its activations, then needs no second
/// buffer and no pass of its own.
fn fold_relu(p: &mut Program) -> bool {
    for j in 0..p.nodes.len() {
        let out = p.nodes[j].output;
        if out == usize::MAX {
            continue;
        }
        let relu6 = match &p.nodes[j].op {
            Op::Unary(Unary::Relu, s) if s.is_identity(&p.values[out].shape) => false,
            Op::Unary(Unary::Clip(lo, hi), s)
                if *lo == 0.0 && *hi == 6.0 && s.is_identity(&p.values[out].shape) =>
            {
                true
            }
            _ => continue,
        };
        let x = p.nodes[j].inputs[0];
        let Some(i) = sole_producer(p, x) else {
            continue;
        };
        let fused = match &mut p.nodes[i].op {
            Op::Conv { conv, .. } if !conv.relu && !conv.relu6 => {
                *conv = conv.clone().relu(true).relu6(relu6);
                true
            }
            Op::ConvTranspose { ct, .. } if !ct.relu && !relu6 => {
                ct.relu = true;
                true
            }
            Op::Matmul { relu, .. } if !*relu && !relu6 => {
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

/// PyTorch's exact GELU as the TorchScript exporter writes it, (erf(x /
/// sqrt 2) + 1) x 0.5 (Div, Erf, Add, Mul, Mul; the operands of each either
/// way round), becomes one Gelu node: one pass and one buffer where there
/// were five (a ViT's MLP held three of its widest activations at once).
fn fold_gelu(p: &mut Program) -> bool {
    for e in 0..p.nodes.len() {
        if p.nodes[e].output == usize::MAX || !matches!(p.nodes[e].op, Op::Unary(Unary::Erf, _)) {
            continue;
        }
        let Some((x, chain)) = gelu_chain(p, e) else {
            continue;
        };
        let last = chain[4];
        let shape = p.values[p.nodes[last].output].shape.clone();
        let names: Vec<String> = chain.iter().map(|&i| p.nodes[i].name.clone()).collect();
        let ops: Vec<String> = chain
            .iter()
            .flat_map(|&i| p.nodes[i].op_types.clone())
            .collect();
        for &i in &chain[..4] {
            drop_node(p, i);
        }
        let n = &mut p.nodes[last];
        n.op = Op::Unary(Unary::Gelu, Strides::identity(&shape));
        n.inputs = vec![x];
        n.name = names.join(" + ");
        n.op_types = ops;
        p.fused.push(n.name.clone());
        return true;
    }
    false
}

/// From Erf node `e`: x and the chain's nodes (Div, Erf, Add, Mul, Mul)
/// when they compute exact GELU of x, each read only by the next.
fn gelu_chain(p: &Program, e: usize) -> Option<(usize, [usize; 5])> {
    let shape = &p.values[p.nodes[e].output].shape;
    let near = |v: f64, want: f64| (v - want).abs() <= 1e-6 * want;
    // Node i as `op`(a, b), both read as the output reads them: (the
    // operand that is not a scalar constant, that constant if one is).
    let binary = |i: usize, op: Binary| -> Option<(usize, Option<f64>)> {
        let n = &p.nodes[i];
        let Op::Binary(b, sa, sb) = &n.op else {
            return None;
        };
        let out = &p.values[n.output].shape;
        if *b != op || n.inputs.len() != 2 || out != shape {
            return None;
        }
        let scalar = |v: usize| {
            p.konst(v)
                .filter(|t| t.data.len() == 1 && t.dtype == DType::F32)
                .map(|t| t.data[0])
        };
        let (a, c) = (n.inputs[0], n.inputs[1]);
        match (scalar(a), scalar(c)) {
            (None, Some(k)) if sa.is_identity(out) => Some((a, Some(k))),
            (Some(k), None) if sb.is_identity(out) && op != Binary::Div => Some((c, Some(k))),
            (None, None) if sa.is_identity(out) && sb.is_identity(out) => Some((a, None)),
            _ => None,
        }
    };
    let next = |v: usize| -> Option<usize> {
        if p.consumers(v) != 1 {
            return None;
        }
        p.nodes.iter().position(|n| n.inputs.contains(&v))
    };
    let div = sole_producer(p, p.nodes[e].inputs[0])?;
    let x = match binary(div, Binary::Div) {
        Some((x, Some(k))) if near(k, std::f64::consts::SQRT_2) => x,
        _ => match binary(div, Binary::Mul)? {
            (x, Some(k)) if near(k, std::f64::consts::FRAC_1_SQRT_2) => x,
            _ => return None,
        },
    };
    let add = next(p.nodes[e].output)?;
    match binary(add, Binary::Add)? {
        (v, Some(k)) if v == p.nodes[e].output && k == 1.0 => {}
        _ => return None,
    }
    let mul = next(p.nodes[add].output)?;
    let (a, b) = (p.nodes[mul].inputs[0], *p.nodes[mul].inputs.get(1)?);
    let pair = (a == x && b == p.nodes[add].output) || (b == x && a == p.nodes[add].output);
    if binary(mul, Binary::Mul) != Some((a, None)) || !pair {
        return None;
    }
    let half = next(p.nodes[mul].output)?;
    match binary(half, Binary::Mul)? {
        (v, Some(k)) if v == p.nodes[mul].output && k == 0.5 => {}
        _ => return None,
    }
    (p.values[x].shape == *shape).then_some((x, [div, e, add, mul, half]))
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

/// Node `i` is taken out: nothing reads its output any more.
fn drop_node(p: &mut Program, i: usize) {
    let out = p.nodes[i].output;
    p.values[out].source = Source::Fused;
    p.nodes[i].op = Op::View;
    p.nodes[i].inputs.clear();
    p.nodes[i].output = usize::MAX;
}

/// `v` = Mul(x, c) with c a float32 scalar constant, and nothing else
/// reads `v`: (the Mul node, x, c).
fn peel_scale(p: &Program, v: usize) -> Option<(usize, usize, f64)> {
    let i = sole_producer(p, v)?;
    let n = &p.nodes[i];
    let Op::Binary(Binary::Mul, sa, _) = &n.op else {
        return None;
    };
    if n.inputs.len() != 2 || !sa.is_identity(&p.values[v].shape) {
        return None;
    }
    let c = p.konst(n.inputs[1])?;
    (c.data.len() == 1 && c.dtype == DType::F32).then_some((i, n.inputs[0], c.data[0]))
}

/// `v` = a copy of x [.., S, d] with its last two axes swapped, and
/// nothing else reads `v`: (the copy node, x).
fn peel_transpose(p: &Program, v: usize) -> Option<(usize, usize)> {
    let i = sole_producer(p, v)?;
    let n = &p.nodes[i];
    let Op::Unary(Unary::Copy, st) = &n.op else {
        return None;
    };
    let x = *n.inputs.first()?;
    let (xs, ys) = (&p.values[x].shape, &p.values[v].shape);
    let r = ys.len();
    if r < 2 || xs.iter().product::<usize>() != ys.iter().product::<usize>() {
        return None;
    }
    // Read as x viewed with v's batch dims and [S, d] swapped.
    let (s, d) = (ys[r - 1], ys[r - 2]);
    let mut want: Vec<i64> = contiguous(ys).iter().map(|&c| c as i64).collect();
    want[r - 2] = 1;
    want[r - 1] = d as i64;
    let same =
        st.offset == 0 && (0..r).all(|k| ys[k] == 1 || st.strides[k] == want[k]) && s * d > 0;
    same.then_some((i, x))
}

/// The product reads both operands densely, batch after batch, untransposed.
fn dense_product(m: &MatmulShape) -> bool {
    let inner = m.batches[1];
    let dense = |st: [usize; 2], rows: usize, cols: usize| {
        let one = rows * cols;
        (m.batches[0] == 1 || st[0] == inner * one) && (inner == 1 || st[1] == one)
    };
    !m.trans_a && !m.trans_b && dense(m.a_batch, m.m, m.k) && dense(m.b_batch, m.k, m.n)
}

/// P V with P = softmax over the last axis of (s1 Q) (s2 K^T) (alpha
/// folded in), K^T a transposing copy, every intermediate read once, and
/// the total scale 1/sqrt(d) to float32's precision (what the fused
/// kernels apply): one `Op::Attention` over the batch dims.
fn fold_attention(p: &mut Program) -> bool {
    for j in 0..p.nodes.len() {
        let Some(found) = match_attention(p, j) else {
            continue;
        };
        let (q, k, v, dead, op) = found;
        let names: Vec<String> = dead.iter().map(|&i| p.nodes[i].name.clone()).collect();
        let mut types = vec![];
        for &i in &dead {
            types.extend(p.nodes[i].op_types.clone());
        }
        for &i in &dead {
            drop_node(p, i);
        }
        let node = &mut p.nodes[j];
        types.extend(node.op_types.clone());
        node.name = format!("{} + {}", names.join(" + "), node.name);
        node.op_types = types;
        node.op = op;
        node.inputs = vec![q, k, v];
        p.fused.push(p.nodes[j].name.clone());
        return true;
    }
    false
}

type AttentionMatch = (usize, usize, usize, Vec<usize>, Op);

fn match_attention(p: &Program, j: usize) -> Option<AttentionMatch> {
    let Op::Matmul {
        shape: pv,
        alpha: 1.0,
        relu: false,
    } = &p.nodes[j].op
    else {
        return None;
    };
    let (probs, v) = match p.nodes[j].inputs[..] {
        [a, b] => (a, b),
        _ => return None,
    };
    let si = sole_producer(p, probs)?;
    let Op::Softmax {
        log: false,
        inner: 1,
        ..
    } = p.nodes[si].op
    else {
        return None;
    };
    let scores = p.nodes[si].inputs[0];
    let mi = sole_producer(p, scores)?;
    let Op::Matmul {
        shape: qk,
        alpha,
        relu: false,
    } = &p.nodes[mi].op
    else {
        return None;
    };
    let (a, b) = match p.nodes[mi].inputs[..] {
        [a, b] => (a, b),
        _ => return None,
    };
    if !dense_product(qk) || !dense_product(pv) {
        return None;
    }
    let (batch, l, s, d) = (qk.batches[0] * qk.batches[1], qk.m, qk.n, qk.k);
    if pv.batches[0] * pv.batches[1] != batch || pv.m != l || pv.k != s || pv.n != d {
        return None;
    }
    let mut dead = vec![mi, si];
    let mut scale = f64::from(*alpha);
    let q = match peel_scale(p, a) {
        Some((i, x, c)) => {
            dead.push(i);
            scale *= c;
            x
        }
        None => a,
    };
    let mut kt = b;
    if let Some((i, x, c)) = peel_scale(p, kt) {
        dead.push(i);
        scale *= c;
        kt = x;
    }
    let (ti, mut key) = peel_transpose(p, kt)?;
    dead.push(ti);
    if let Some((i, x, c)) = peel_scale(p, key) {
        dead.push(i);
        scale *= c;
        key = x;
    }
    // The kernels scale by 1/sqrt(d) themselves.
    if (scale * (d as f64).sqrt() - 1.0).abs() > 4.0 * f64::from(f32::EPSILON) {
        return None;
    }
    let flat = |x: usize, n: usize| p.values[x].shape.iter().product::<usize>() == n;
    if !flat(q, batch * l * d) || !flat(key, batch * s * d) || !flat(v, batch * s * d) {
        return None;
    }
    let op = Op::Attention {
        batch,
        queries: l,
        keys: s,
        head_dim: d,
        path: crate::rung::AttentionPath::Fused,
    };
    // Dead nodes in program order, so the fused name reads as the graph.
    dead.sort_unstable();
    Some((q, key, v, dead, op))
}

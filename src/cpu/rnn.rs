//! Reference recurrent layers (Elman RNN, GRU, LSTM), mirroring `ops::rnn`:
//! PyTorch's equations, batch-first, weights input-major.
//!
//! Error carried (first order, units of eps_f32), following the kernel's
//! order of operations:
//! - a K-term dot product plus its additions (the projection with b_ih; the
//!   hidden product with b_hh and the projection) adds its rounding walk
//!   (`sum::Acc`) and a few units of what it adds last, and carries its
//!   inputs' errors through the weights: sum_k |w_k| err_k;
//! - tanh and sigmoid as `cpu::activation` bounds them;
//! - products carry |a| err_b + |b| err_a, and each elementwise op adds a
//!   few units of the magnitudes it rounds.
//!
//! h feeds back, so the bound compounds over the steps, roughly by the
//! slope times sum_k |W_hh[k, j]| per step: that growth is real (for a
//! worst case), and a test that wants a tight bound keeps W_hh small.

use super::sum::Acc;
use super::RefTensor;
use crate::ops::rnn::{Rnn, RnnKind};

use super::activation::{sigmoid_val, tanh, Val};

/// bias + sum_k a_k w[k * stride + col], `extra` (already rounded, with its
/// error) added last, with the bound of a float32 loop doing the same.
fn dot(a: &[Val], w: &[f32], stride: usize, col: usize, bias: f32, extra: Val) -> Val {
    let bias = f64::from(bias);
    let mut acc = Acc::with_offset(bias + extra.v);
    for (k, ak) in a.iter().enumerate() {
        acc.add_product(ak.v, ak.e, f64::from(w[k * stride + col]), 0.0);
    }
    let v = acc.sum + bias + extra.v;
    Val {
        v,
        // The sum, then the bias and the other product added: a rounding
        // each on the magnitudes they round.
        e: acc.bound() + extra.e + 2.0 * (bias.abs() + extra.v.abs()) + 2.0 * v.abs(),
    }
}

/// y [B, T, H], every hidden state, from x [B, T, I] and the f32 weights;
/// `h0` [B, H] or zeros (an LSTM's cell state starts at zero).
pub fn rnn(
    rnn: &Rnn,
    x: &RefTensor,
    w_ih: &[f32],
    w_hh: &[f32],
    b_ih: &[f32],
    b_hh: &[f32],
    h0: Option<&RefTensor>,
) -> RefTensor {
    rnn_states(rnn, x, [w_ih, w_hh, b_ih, b_hh], h0, None).0
}

/// An LSTM: y [B, T, H] and the final cell state c_T [B, H], from `h0` and
/// `c0` [B, H] or zeros.
pub fn lstm(
    rnn: &Rnn,
    x: &RefTensor,
    [w_ih, w_hh, b_ih, b_hh]: [&[f32]; 4],
    h0: Option<&RefTensor>,
    c0: Option<&RefTensor>,
) -> (RefTensor, RefTensor) {
    rnn_states(rnn, x, [w_ih, w_hh, b_ih, b_hh], h0, c0)
}

/// Row `b` of a [B, H] state as values with their bounds, or zeros.
fn state(s: Option<&RefTensor>, b: usize, hid: usize) -> Vec<Val> {
    (0..hid)
        .map(|j| {
            s.map_or(Val { v: 0.0, e: 0.0 }, |s| Val {
                v: s.val[b * hid + j],
                e: s.err[b * hid + j],
            })
        })
        .collect()
}

/// c' = f c + i g and h' = o tanh(c'), with the kernel's roundings.
fn lstm_cell(i: Val, f: Val, g: Val, o: Val, c: Val) -> (Val, Val) {
    let (keep, add) = (f.v * c.v, i.v * g.v);
    let c2 = Val {
        v: keep + add,
        e: c.v.abs() * f.e
            + f.v.abs() * c.e
            + g.v.abs() * i.e
            + i.v.abs() * g.e
            + 3.0 * (keep.abs() + add.abs()),
    };
    let t = tanh(c2);
    let h = Val {
        v: o.v * t.v,
        e: t.v.abs() * o.e + o.v.abs() * t.e + 2.0 * (o.v * t.v).abs(),
    };
    (h, c2)
}

/// Either kind: y [B, T, H] and the final cell state [B, H] (zeros but for
/// an LSTM).
pub fn rnn_states(
    rnn: &Rnn,
    x: &RefTensor,
    w: [&[f32]; 4],
    h0: Option<&RefTensor>,
    c0: Option<&RefTensor>,
) -> (RefTensor, RefTensor) {
    rnn_states_as(rnn, x, w, (h0, c0), false)
}

/// [`rnn_states`] with `half`: as `ops::rnn::rnn_f16_forward_states`
/// stores its tensors, each float16 store charged (`half::stored_err`)
/// where the kernel makes it: the input projection, every hidden state
/// (which the next step then reads) and the LSTM's cell state after each
/// step. The float16 inputs and weights are given already rounded.
pub fn rnn_states_as(
    rnn: &Rnn,
    x: &RefTensor,
    [w_ih, w_hh, b_ih, b_hh]: [&[f32]; 4],
    (h0, c0): (Option<&RefTensor>, Option<&RefTensor>),
    half: bool,
) -> (RefTensor, RefTensor) {
    let store = |v: Val| {
        if half {
            Val {
                v: v.v,
                e: super::half::stored_err(v.v, v.e),
            }
        } else {
            v
        }
    };
    let (batch, steps, inputs) = (x.shape[0], x.shape[1], x.shape[2]);
    let (hid, g) = (rnn.hidden_size, rnn.gates());
    let gh = g * hid;
    let zero = Val { v: 0.0, e: 0.0 };
    let mut y = RefTensor::zeros(&[batch, steps, hid]);
    let mut c_out = RefTensor::zeros(&[batch, hid]);
    for b in 0..batch {
        let mut h = state(h0, b, hid);
        let mut c = state(c0, b, hid);
        for t in 0..steps {
            let row = b * steps + t;
            let xs: Vec<Val> = (0..inputs)
                .map(|i| Val {
                    v: x.val[row * inputs + i],
                    e: x.err[row * inputs + i],
                })
                .collect();
            // The input projection, as `linear` computes it.
            let xp = |col: usize| store(dot(&xs, w_ih, gh, col, b_ih[col], zero));
            let gate = |gi: usize, j: usize| {
                let col = gi * hid + j;
                dot(&h, w_hh, gh, col, b_hh[col], xp(col))
            };
            let next: Vec<Val> = (0..hid)
                .map(|j| match rnn.kind {
                    RnnKind::Elman => tanh(gate(0, j)),
                    RnnKind::Lstm => {
                        let (hj, cj) = lstm_cell(
                            sigmoid_val(gate(0, j)),
                            sigmoid_val(gate(1, j)),
                            tanh(gate(2, j)),
                            sigmoid_val(gate(3, j)),
                            c[j],
                        );
                        c[j] = store(cj);
                        hj
                    }
                    RnnKind::Gru => {
                        let r = sigmoid_val(gate(0, j));
                        let z = sigmoid_val(gate(1, j));
                        let hn = dot(&h, w_hh, gh, 2 * hid + j, b_hh[2 * hid + j], zero);
                        let xn = xp(2 * hid + j);
                        let q = r.v * hn.v;
                        let n = tanh(Val {
                            v: xn.v + q,
                            e: xn.e
                                + r.v.abs() * hn.e
                                + hn.v.abs() * r.e
                                + 3.0 * (q.abs() + xn.v.abs()),
                        });
                        let (keep, new) = (z.v * h[j].v, (1.0 - z.v) * n.v);
                        Val {
                            v: new + keep,
                            e: (n.v.abs() + h[j].v.abs()) * z.e
                                + (1.0 - z.v).abs() * n.e
                                + z.v.abs() * h[j].e
                                + 4.0 * (new.abs() + keep.abs()),
                        }
                    }
                })
                .map(store)
                .collect();
            for (j, v) in next.iter().enumerate() {
                y.val[row * hid + j] = v.v;
                y.err[row * hid + j] = v.e;
            }
            h = next;
        }
        for (j, cj) in c.iter().enumerate() {
            c_out.val[b * hid + j] = cj.v;
            c_out.err[b * hid + j] = cj.e;
        }
    }
    (y, c_out)
}

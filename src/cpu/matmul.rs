//! Reference matrix product over strided views, mirroring `ops::matmul`.

use super::activation::{gelu, GELU_MAX_SLOPE};
use super::sum::Acc;
use super::RefTensor;
use crate::dtype::{F16_SUBNORMAL_HALF_ULP, F16_UNIT};
use crate::ops::matmul::half::Accumulate;
use crate::ops::matmul::{Activation, Matmul, View};
use rayon::prelude::*;

fn at(v: &View, o: usize, i: usize, r: usize, c: usize, trans: bool) -> usize {
    let (r, c) = if trans { (c, r) } else { (r, c) };
    o * v.outer + i * v.inner + r * v.ld + c
}

/// Writes C = act(alpha * op(A) op(B) + bias) into `c` at its view.
pub fn matmul_into(
    mm: &Matmul,
    a: (&RefTensor, View),
    b: (&RefTensor, View),
    bias: Option<&[f32]>,
    c: (&mut RefTensor, View),
) {
    matmul_into_acc(mm, a, b, bias, c, Accumulate::F32);
}

/// [`matmul_into`] for a kernel that forms its products and sums in
/// `acc`'s precision: with float16 running sums (the `f16acc` rung) every
/// rounding of the sum is charged float16's unit, 2^13 times float32's,
/// and each product that may fall below float16's normal range half a
/// subnormal spacing (2^-25) more.
pub fn matmul_into_acc(
    mm: &Matmul,
    a: (&RefTensor, View),
    b: (&RefTensor, View),
    bias: Option<&[f32]>,
    c: (&mut RefTensor, View),
    acc_in: Accumulate,
) {
    let (scale, floor) = match acc_in {
        Accumulate::F32 => (1.0, 0.0),
        Accumulate::F16 => (
            F16_UNIT / (f64::from(f32::EPSILON) / 2.0),
            F16_SUBNORMAL_HALF_ULP / f64::from(f32::EPSILON),
        ),
    };
    let ((a, av), (b, bv), (c, cv)) = (a, b, c);
    let alpha = f64::from(mm.alpha);
    // One output element (value, bound) of batch (o, i), row r.
    let element = |o: usize, i: usize, r: usize, col: usize| -> (f64, f64) {
        let bias = bias.map_or(0.0, |bv| f64::from(bv[col]));
        let mut acc = Acc::with_offset(bias / alpha.abs().max(f64::MIN_POSITIVE));
        for k in 0..mm.k {
            let (ai, bi) = (
                at(&av, o, i, r, k, mm.trans_a),
                at(&bv, o, i, k, col, mm.trans_b),
            );
            acc.add_product(a.val[ai], a.err[ai], b.val[bi], b.err[bi]);
        }
        let pre = alpha * acc.sum + bias;
        // The sum, then one rounding each for the scale, the bias and the
        // store, on the magnitudes they round.
        let sum_err = acc.bound() + (scale - 1.0) * acc.rounding() + floor * 2.0 * mm.k as f64;
        let mut err =
            alpha.abs() * sum_err + 2.0 * (alpha * acc.sum).abs() + bias.abs() + pre.abs();
        let val = match mm.act {
            Activation::None => pre,
            Activation::Relu => {
                if pre < 0.0 {
                    0.0
                } else {
                    pre
                }
            }
            Activation::Gelu => {
                // tanh's own few-ulp error scales with |x| / 2.
                err = GELU_MAX_SLOPE * err + 8.0 * pre.abs();
                gelu(pre)
            }
        };
        (val, err)
    };
    // Rows are independent: computed over the cores (RAYON_NUM_THREADS),
    // then stored through C's view, which may interleave them.
    let rows: Vec<(usize, usize, usize)> = (0..mm.batches[0])
        .flat_map(|o| (0..mm.batches[1]).flat_map(move |i| (0..mm.m).map(move |r| (o, i, r))))
        .collect();
    let computed: Vec<Vec<(f64, f64)>> = rows
        .par_iter()
        .map(|&(o, i, r)| (0..mm.n).map(|col| element(o, i, r, col)).collect())
        .collect();
    for (&(o, i, r), row) in rows.iter().zip(computed) {
        for (col, (val, err)) in row.into_iter().enumerate() {
            let ci = at(&cv, o, i, r, col, false);
            c.val[ci] = val;
            c.err[ci] = err;
        }
    }
}

/// y = act(x W + b), x [.., K], W [K, N] given as f32.
pub fn linear(
    x: &RefTensor,
    w: &[f32],
    k: usize,
    n: usize,
    b: Option<&[f32]>,
    act: Activation,
) -> RefTensor {
    let rows = x.val.len() / k;
    let mut shape = x.shape.clone();
    if let Some(l) = shape.last_mut() {
        *l = n;
    }
    let mut y = RefTensor::zeros(&shape);
    let wt = RefTensor::from_f32(&[k, n], w);
    let mm = Matmul {
        m: rows,
        n,
        k,
        batches: [1, 1],
        trans_a: false,
        trans_b: false,
        bias: b.is_some(),
        act,
        alpha: 1.0,
    };
    matmul_into(
        &mm,
        (x, View::dense(rows, k, false)),
        (&wt, View::dense(k, n, true)),
        b,
        (&mut y, View::dense(rows, n, false)),
    );
    y
}

//! Batched matrix products over strided views, as `ops::matmul` computes
//! them: C = act(alpha * op(A) op(B) + bias) for every (outer, inner) batch.

use super::{finish_rows, sgemm, threads, Mat, SendPtr};
use crate::ops::matmul::{Matmul, View};
use gemm::Parallelism;
use rayon::prelude::*;

/// Below this many FLOPs a single product is not worth splitting across
/// threads; batches of such products are spread over threads instead.
const SMALL_PRODUCT_FLOPS: usize = 1 << 22;
/// Epilogues (bias, activation) over at least this many elements run on
/// every thread.
const PARALLEL_EPILOGUE: usize = 1 << 16;

/// The largest element index a view touches, + 1, as `ops::matmul` counts
/// it (None if that overflows).
fn extent(mm: &Matmul, v: &View, rows: usize, cols: usize, trans: bool) -> Option<usize> {
    let (r, c) = if trans { (cols, rows) } else { (rows, cols) };
    let o = (mm.batches[0] - 1).checked_mul(v.outer)?;
    let i = (mm.batches[1] - 1).checked_mul(v.inner)?;
    let rr = (r - 1).checked_mul(v.ld)?;
    o.checked_add(i)?.checked_add(rr)?.checked_add(c)
}

fn check_view(
    mm: &Matmul,
    name: &str,
    len: usize,
    v: &View,
    rows: usize,
    cols: usize,
    trans: bool,
) {
    let c = if trans { rows } else { cols };
    assert!(
        v.ld >= c,
        "baseline matmul: {name}: leading dimension {} is smaller than its {c} columns",
        v.ld
    );
    let need = extent(mm, v, rows, cols, trans);
    let need = need.unwrap_or_else(|| panic!("baseline matmul: {name}'s view overflows usize"));
    assert!(
        need <= len,
        "baseline matmul: {name} needs {need} elements but its slice has {len}"
    );
}

/// Whether the batches of C are disjoint: sorted by stride, every
/// dimension must step past everything the smaller ones span (sufficient,
/// and true of every dense, interleaved-head or padded layout).
fn batches_disjoint(mm: &Matmul, cv: &View) -> bool {
    let mut dims = [
        (mm.batches[0], cv.outer),
        (mm.batches[1], cv.inner),
        (mm.m, cv.ld),
        (mm.n, 1),
    ];
    dims.sort_by_key(|&(_, stride)| stride);
    let mut span = 1;
    for (size, stride) in dims {
        if size > 1 {
            if stride < span {
                return false;
            }
            span += stride * (size - 1);
        }
    }
    true
}

/// One product for all batches where B is shared by every batch (batch
/// strides 0) and the rows of A and of C stack evenly from one batch to
/// the next: MultiheadAttention's in_proj arrives as one batch per token
/// of a single row each, and a GEMM call per row cost 3-6x the product.
fn fold_batches(mm: &Matmul, av: &View, bv: &View, cv: &View) -> Option<(Matmul, View, View)> {
    let [b0, b1] = mm.batches;
    if b0.saturating_mul(b1) <= 1 || mm.trans_a || mm.m == 0 {
        return None;
    }
    let shared = |v: &View| (b0 == 1 || v.outer == 0) && (b1 == 1 || v.inner == 0);
    let stacks = |v: &View| {
        let rows = mm.m.checked_mul(v.ld);
        (b1 == 1 || Some(v.inner) == rows)
            && (b0 == 1 || Some(v.outer) == rows.and_then(|r| r.checked_mul(b1)))
    };
    if !shared(bv) || !stacks(av) || !stacks(cv) {
        return None;
    }
    let whole = Matmul {
        m: mm.m.checked_mul(b0 * b1)?,
        batches: [1, 1],
        ..mm.clone()
    };
    let flat = |v: &View| View {
        ld: v.ld,
        outer: 0,
        inner: 0,
    };
    Some((whole, flat(av), flat(cv)))
}

/// C = act(alpha * op(A) op(B) + bias) over all batches, into `c` at its
/// view; elements of `c` outside the view are left as they are. Strides
/// and transposes are handed to the GEMM as they are (nothing is copied).
/// The bias (one value per column) is used when `mm.bias` is set.
///
/// Panics when a slice is shorter than its view needs, a leading dimension
/// is smaller than its matrix's columns, or `mm.bias` is set without one.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    mm: &Matmul,
    a: &[f32],
    av: View,
    b: &[f32],
    bv: View,
    bias: Option<&[f32]>,
    c: &mut [f32],
    cv: View,
) {
    if let Some((whole, av, cv)) = fold_batches(mm, &av, &bv, &cv) {
        return matmul(&whole, a, av, b, bv, bias, c, cv);
    }
    let (m, n, k) = (mm.m, mm.n, mm.k);
    let batches = super::numel("baseline matmul batches", &mm.batches);
    if m == 0 || n == 0 || batches == 0 {
        return;
    }
    let bias = if mm.bias {
        let bias = bias.expect("baseline matmul: bias enabled but none given");
        assert!(
            bias.len() >= n,
            "baseline matmul: bias has {} values for {n} columns",
            bias.len()
        );
        Some(&bias[..n])
    } else {
        None
    };
    if k > 0 {
        check_view(mm, "A", a.len(), &av, m, k, mm.trans_a);
        check_view(mm, "B", b.len(), &bv, k, n, mm.trans_b);
    }
    check_view(mm, "C", c.len(), &cv, m, n, false);
    if batches == 1 && m == 1 && k > 0 && (!mm.trans_a || av.ld == 1) {
        // One row (a classifier at batch 1): memory-bound, so split by
        // columns over every thread; the GEMM ran mobilenet_v2's 1280 x
        // 1000 on one thread at ~8 GB/s.
        matvec(mm, &a[..k], b, &bv, &mut c[..n]);
        let par_epilogue = threads() > 1 && n >= PARALLEL_EPILOGUE;
        // SAFETY: C's one row of n elements was checked above.
        unsafe { finish_rows(c.as_mut_ptr(), cv.ld, 1, n, bias, mm.act, par_epilogue) };
        return;
    }

    // op(A) is [m, k], op(B) is [k, n]; a transpose only swaps strides.
    let strides = |v: &View, trans: bool| if trans { (1, v.ld) } else { (v.ld, 1) };
    let (a_rs, a_cs) = strides(&av, mm.trans_a);
    let (b_rs, b_cs) = strides(&bv, mm.trans_b);
    let (a_ptr, b_ptr, c_ptr) = (
        SendPtr(a.as_ptr()),
        SendPtr(b.as_ptr()),
        SendPtr(c.as_mut_ptr()),
    );
    let base = |v: &View, o: usize, i: usize| o * v.outer + i * v.inner;

    // One batch's product and epilogue; `par` splits the GEMM itself.
    let one = |t: usize, par: Parallelism, par_epilogue: bool| {
        let (o, i) = (t / mm.batches[1], t % mm.batches[1]);
        let lhs = Mat {
            ptr: a_ptr.get().wrapping_add(base(&av, o, i)),
            rs: a_rs,
            cs: a_cs,
        };
        let rhs = Mat {
            ptr: b_ptr.get().wrapping_add(base(&bv, o, i)),
            rs: b_rs,
            cs: b_cs,
        };
        let dst = c_ptr.get().wrapping_add(base(&cv, o, i));
        // SAFETY: the views were checked to lie inside their slices; the
        // caller runs batches concurrently only when their C regions are
        // disjoint, and the rows of one C matrix are disjoint (ld >= n).
        unsafe {
            sgemm(m, n, k, dst, cv.ld, lhs, rhs, mm.alpha, par);
            finish_rows(dst, cv.ld, m, n, bias, mm.act, par_epilogue);
        }
    };

    let per_product = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let threads = threads();
    let spread_batches = batches > 1
        && threads > 1
        && batches_disjoint(mm, &cv)
        && (batches >= 4 * threads || per_product < SMALL_PRODUCT_FLOPS);
    if spread_batches {
        (0..batches)
            .into_par_iter()
            .for_each(|t| one(t, Parallelism::None, false));
    } else {
        let par = if threads > 1 && per_product >= SMALL_PRODUCT_FLOPS {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        let par_epilogue = threads > 1 && m * n >= PARALLEL_EPILOGUE;
        (0..batches).for_each(|t| one(t, par, par_epilogue));
    }
}

/// c = alpha * a op(B), a one contiguous row of K, c one row of N; the
/// columns in blocks of 64, spread over threads when the product is big.
fn matvec(mm: &Matmul, a: &[f32], b: &[f32], bv: &View, c: &mut [f32]) {
    const COLS: usize = 64;
    let k = a.len();
    let block = |j0: usize, out: &mut [f32]| {
        if mm.trans_b {
            // Column j of op(B) is row j of B: a contiguous dot product.
            for (jj, o) in out.iter_mut().enumerate() {
                *o = mm.alpha * dot(a, &b[(j0 + jj) * bv.ld..][..k]);
            }
        } else {
            out.fill(0.0);
            for (kk, &av) in a.iter().enumerate() {
                axpy(out, av, &b[kk * bv.ld + j0..][..out.len()]);
            }
            out.iter_mut().for_each(|o| *o *= mm.alpha);
        }
    };
    if threads() > 1 && 2 * c.len() * k >= SMALL_PRODUCT_FLOPS / 16 {
        c.par_chunks_mut(COLS)
            .enumerate()
            .for_each(|(i, o)| block(i * COLS, o));
    } else {
        block(0, c);
    }
}

super::with_avx2!(
    /// sum(a[i] b[i]) in sixteen running sums (a blocked order, which the
    /// float32 bound allows).
    fn dot(a: &[f32], b: &[f32]) -> f32 = dot_generic
);

#[inline(always)]
fn dot_generic(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

super::with_avx2!(
    /// o += s x.
    fn axpy(o: &mut [f32], s: f32, x: &[f32]) = axpy_generic
);

#[inline(always)]
fn axpy_generic(o: &mut [f32], s: f32, x: &[f32]) {
    for (o, &v) in o.iter_mut().zip(x) {
        *o = v.mul_add(s, *o);
    }
}

//! How the CPU baseline's float32 ops share their work among rayon's
//! threads.

use rayon::prelude::*;

/// Elements per parallel task: below two of these a node runs on one
/// thread (rayon's hand-off costs more than it saves).
pub(super) const CHUNK: usize = 1 << 14;

/// Fills `y` chunk by chunk, `f(first index, chunk)`, in parallel when big.
pub(super) fn par_fill(y: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    if y.len() < 2 * CHUNK {
        f(0, y);
    } else {
        y.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| f(i * CHUNK, c));
    }
}

/// Runs `f(row index, row)` over the `rows` rows of `len` in `y`, in
/// parallel when there is enough work.
pub(super) fn par_rows(y: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if len == 0 {
        return;
    }
    if y.len() < 2 * CHUNK {
        y.chunks_mut(len).enumerate().for_each(|(r, c)| f(r, c));
    } else {
        y.par_chunks_mut(len).enumerate().for_each(|(r, c)| f(r, c));
    }
}

/// Tile edge of [`transpose_copy`]: 16 floats, a cache line either way.
const TILE: usize = 16;

/// y = x read through `s` (a Transpose) where the innermost read is
/// strided and another dimension reads contiguously: a batched 2-D
/// transpose in 16 x 16 tiles, so that reads and writes both move whole
/// cache lines (element by element, a [32, 32, 32] transpose ran at ~1.5
/// GB/s). False, with nothing written, for any other layout.
pub(super) fn transpose_copy(
    y: &mut [f32],
    shape: &[usize],
    s: &super::op::Strides,
    x: &[f32],
) -> bool {
    if y.is_empty() {
        return false;
    }
    let (dims, st) = crate::ops::strided::coalesce(shape, &[s.strides.as_slice()]);
    let st = &st[0];
    let last = dims.len() - 1;
    let Some(u) = (0..last).rev().find(|&d| st[d] == 1) else {
        return false;
    };
    if st.iter().any(|&v| v <= 0)
        || dims[last] < 4
        || dims[u] < 4
        || y.len() != dims.iter().product::<usize>()
    {
        return false;
    }
    let mut ostr = vec![1usize; dims.len()];
    for d in (0..last).rev() {
        ostr[d] = ostr[d + 1] * dims[d + 1];
    }
    let reach = s.offset
        + dims
            .iter()
            .zip(st)
            .map(|(&n, &v)| (n - 1) * v as usize)
            .sum::<usize>();
    if reach >= x.len() {
        return false;
    }
    let outer: Vec<usize> = (0..dims.len()).filter(|&d| d != u && d != last).collect();
    let count: usize = outer.iter().map(|&d| dims[d]).product();
    let (nu, nl, sl, ou) = (dims[u], dims[last], st[last] as usize, ostr[u]);
    let yp = crate::cpu::baseline::SendPtr(y.as_mut_ptr());
    let one = |o: usize| {
        let (mut rem, mut xb, mut yb) = (o, s.offset, 0);
        for &d in outer.iter().rev() {
            let i = rem % dims[d];
            rem /= dims[d];
            xb += i * st[d] as usize;
            yb += i * ostr[d];
        }
        for u0 in (0..nu).step_by(TILE) {
            for l0 in (0..nl).step_by(TILE) {
                for iu in u0..(u0 + TILE).min(nu) {
                    for il in l0..(l0 + TILE).min(nl) {
                        // SAFETY: yb + iu ou + il < y.len() (the output's
                        // contiguous layout); each outer index writes its
                        // own elements.
                        unsafe { *yp.get().add(yb + iu * ou + il) = x[xb + il * sl + iu] };
                    }
                }
            }
        }
    };
    if y.len() >= 2 * CHUNK && count > 1 {
        (0..count).into_par_iter().for_each(one);
    } else {
        (0..count).for_each(one);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::transpose_copy;
    use crate::graph::op::Strides;

    /// Every permutation of a [5, 17, 6, 33] tensor (and an offset view of
    /// a bigger buffer) against element-by-element indexing.
    #[test]
    fn transpose_copy_matches_indexing() {
        let dims = [5usize, 17, 6, 33];
        let x: Vec<f32> = (0..3 + dims.iter().product::<usize>())
            .map(|i| i as f32)
            .collect();
        let src_strides = [17 * 6 * 33, 6 * 33, 33, 1];
        let mut perms = vec![];
        for a in 0..4 {
            for b in 0..4 {
                for c in 0..4 {
                    for d in 0..4 {
                        let p = [a, b, c, d];
                        if (0..4).all(|i| p.contains(&i)) {
                            perms.push(p);
                        }
                    }
                }
            }
        }
        let mut took = 0;
        for p in perms {
            let shape: Vec<usize> = p.iter().map(|&i| dims[i]).collect();
            let strides = Strides {
                offset: 3,
                strides: p.iter().map(|&i| src_strides[i] as i64).collect(),
            };
            let n: usize = shape.iter().product();
            let mut y = vec![f32::NAN; n];
            if !transpose_copy(&mut y, &shape, &strides, &x) {
                assert_eq!(
                    p[3], 3,
                    "{p:?}: a strided innermost read was left to the element loop"
                );
                continue;
            }
            took += 1;
            for (o, &v) in y.iter().enumerate() {
                let (mut rem, mut at) = (o, 3usize);
                for d in (0..4).rev() {
                    at += rem % shape[d] * strides.strides[d] as usize;
                    rem /= shape[d];
                }
                assert_eq!(v, x[at], "{p:?}: element {o}");
            }
        }
        assert_eq!(took, 18, "every permutation that moves the last axis");
    }
}

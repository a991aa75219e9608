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

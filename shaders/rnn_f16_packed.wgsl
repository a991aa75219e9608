// included by: rnn.wgsl (in front of it)
// Float16 storage for the recurrent steps as u32 words (every adapter):
// two values per word, the first in the low half. One step writes B runs
// of H units; with H odd, or B rows of one step side by side (T = 1), two
// invocations own the two halves of one word, so y and the cell state are
// atomic words and each invocation sets its own half (clear, then or: the
// two halves' operations touch different bits, so they commute).
@group(0) @binding(1) var<storage, read> xp: array<u32>;
@group(0) @binding(2) var<storage, read> w_hh: array<u32>;
@group(0) @binding(3) var<storage, read> b_hh: array<u32>;
@group(0) @binding(4) var<storage, read> h0: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> cell: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read> c0: array<u32>;

fn ld_xp(i: u32) -> f32 { return half_in(xp[i >> 1u], i); }
fn ld_w(i: u32) -> f32 { return half_in(w_hh[i >> 1u], i); }
fn ld_bh(i: u32) -> f32 { return half_in(b_hh[i >> 1u], i); }
fn ld_h0(i: u32) -> f32 { return half_in(h0[i >> 1u], i); }
fn ld_y(i: u32) -> f32 { return half_in(atomicLoad(&y[i >> 1u]), i); }
fn st_y(i: u32, v: f32) {
    let m = half_bits(i, v);
    atomicAnd(&y[i >> 1u], m.x);
    atomicOr(&y[i >> 1u], m.y);
}
fn ld_cell(i: u32) -> f32 { return half_in(atomicLoad(&cell[i >> 1u]), i); }
fn st_cell(i: u32, v: f32) {
    let m = half_bits(i, v);
    atomicAnd(&cell[i >> 1u], m.x);
    atomicOr(&cell[i >> 1u], m.y);
}
fn ld_c0(i: u32) -> f32 { return half_in(c0[i >> 1u], i); }

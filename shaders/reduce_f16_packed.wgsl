// included by: reduce.wgsl (in front of it)
// Float16 storage for the reductions as u32 words (every adapter): an
// output axis of odd length puts two invocations' outputs in one word,
// so y is atomic and each sets its own half. Arithmetic stays float32.
@group(0) @binding(1) var<storage, read> x16: array<u32>;
@group(0) @binding(2) var<storage, read> gamma16: array<u32>;
@group(0) @binding(3) var<storage, read> beta16: array<u32>;
@group(0) @binding(4) var<storage, read_write> y16: array<atomic<u32>>;

fn ld_x(i: u32) -> f32 { return half_in(x16[i >> 1u], i); }
fn ld_gamma(i: u32) -> f32 { return half_in(gamma16[i >> 1u], i); }
fn ld_beta(i: u32) -> f32 { return half_in(beta16[i >> 1u], i); }
fn st_y(i: u32, v: f32) {
    let m = half_bits(i, v);
    atomicAnd(&y16[i >> 1u], m.x);
    atomicOr(&y16[i >> 1u], m.y);
}

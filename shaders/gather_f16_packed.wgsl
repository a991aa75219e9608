// included by: gather.wgsl (in front of it)
// Float16 data and output as u32 words (every adapter); the indices stay
// float-held. Rows of odd length put two invocations' outputs in one
// word, so y is atomic and each sets its own half.
@group(0) @binding(1) var<storage, read> data16: array<u32>;
@group(0) @binding(3) var<storage, read_write> y16: array<atomic<u32>>;

fn ld_data(i: u32) -> f32 { return half_in(data16[i >> 1u], i); }
fn st_y(i: u32, v: f32) {
    let m = half_bits(i, v);
    atomicAnd(&y16[i >> 1u], m.x);
    atomicOr(&y16[i >> 1u], m.y);
}

// included by: matmul_tex.wgsl (in front of it)
// Float16 storage for the texture rung as u32 words (every adapter with
// subgroups): two values per word, the first in the low half. The
// textures hold float32 as before, so only the reads of the source and of
// A, and the stores of C and of pack_a's copy, change. Four neighbouring
// columns of C may start mid-word (N odd), and pack_a's rows may too, so
// those words are atomic and each element sets its own half.
@group(0) @binding(1) var<storage, read> src16: array<u32>;
@group(0) @binding(1) var<storage, read> a16: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> dense16: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> bias16: array<u32>;
@group(0) @binding(4) var<storage, read_write> c16: array<atomic<u32>>;

fn ld_src(i: u32) -> f32 { return half_in(src16[i >> 1u], i); }

// Quad q = elements 4q..4q+3: two whole words (A's rows start on quads).
fn ld_a4(q: u32) -> vec4<f32> {
    let w = a16[q];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn ld_bias(i: u32) -> f32 { return half_in(bias16[i >> 1u], i); }

fn st_dense(i: u32, v: f32) {
    let m = half_bits(i, v);
    atomicAnd(&dense16[i >> 1u], m.x);
    atomicOr(&dense16[i >> 1u], m.y);
}

fn st_c16(i: u32, v: f32) {
    let m = half_bits(i, v);
    atomicAnd(&c16[i >> 1u], m.x);
    atomicOr(&c16[i >> 1u], m.y);
}

// included by: the *_f16 kernels
// Float16 storage as u32 words, for adapters without SHADER_F16 (GL
// llvmpipe): two binary16 values per word, the first in the low half (the
// layout of array<f16>), read by unpack2x16float and written whole words
// at a time by pack2x16float, so no two invocations share a word. Float32
// arithmetic only. Bindings as matmul_common.wgsl numbers them.
@group(0) @binding(1) var<storage, read> a16: array<u32>;
@group(0) @binding(2) var<storage, read> b16: array<u32>;
@group(0) @binding(3) var<storage, read> bias16: array<u32>;
@group(0) @binding(4) var<storage, read_write> c16: array<u32>;

fn half_of(w: u32, i: u32) -> f32 {
    let v = unpack2x16float(w);
    return select(v.x, v.y, (i & 1u) != 0u);
}

fn ld_a(i: u32) -> f32 {
    return half_of(a16[i >> 1u], i);
}

fn ld_b(i: u32) -> f32 {
    return half_of(b16[i >> 1u], i);
}

// Elements i and i + 1 of B, i even: one word.
fn ld_b2(i: u32) -> vec2<f32> {
    return unpack2x16float(b16[i >> 1u]);
}

fn ld_bias(i: u32) -> f32 {
    return half_of(bias16[i >> 1u], i);
}

// The same A and B four values at a time (matmul_f16_vec4.wgsl): quad q
// is elements 4q .. 4q + 3, two words.
@group(0) @binding(1) var<storage, read> a16q: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> b16q: array<vec2<u32>>;

fn ld_a4(q: u32) -> vec4<f32> {
    let w = a16q[q];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn ld_b4(q: u32) -> vec4<f32> {
    let w = b16q[q];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

// Elements 2w and (when `both`) 2w + 1 of C; otherwise the high half keeps
// what it held (a guard element past the tensor).
fn st_pair(w: u32, v: vec2<f32>, both: bool) {
    let s = to_f16_range(v);
    if both {
        c16[w] = pack2x16float(s);
    } else {
        c16[w] = pack2x16float(vec2<f32>(s.x, unpack2x16float(c16[w]).y));
    }
}

// included by: attention_f16.wgsl
// Float16 storage as u32 words (every adapter; GL llvmpipe has no
// SHADER_F16): two binary16 values per word, the first in the low half,
// float32 arithmetic. The key mask is float16 too (0 = hidden).
@group(0) @binding(1) var<storage, read> q16: array<u32>;
@group(0) @binding(2) var<storage, read> k16: array<u32>;
@group(0) @binding(3) var<storage, read> v16: array<u32>;
@group(0) @binding(4) var<storage, read> m16: array<u32>;
@group(0) @binding(5) var<storage, read_write> o16: array<u32>;

fn half_in(w: u32, i: u32) -> f32 {
    let v = unpack2x16float(w);
    return select(v.x, v.y, (i & 1u) != 0u);
}

fn ld_q(i: u32) -> f32 {
    return half_in(q16[i >> 1u], i);
}

fn ld_k(i: u32) -> f32 {
    return half_in(k16[i >> 1u], i);
}

fn ld_v(i: u32) -> f32 {
    return half_in(v16[i >> 1u], i);
}

fn ld_m(i: u32) -> f32 {
    return half_in(m16[i >> 1u], i);
}

// Output word w, both halves (a query row's head owns whole words).
fn st_o(w: u32, v: vec2<f32>) {
    o16[w] = pack2x16float(to_f16_range(v));
}

// included by: attention_f16.wgsl (after `enable f16;`)
// Float16 storage as WGSL f16 (SHADER_F16): the same bytes as
// attention_f16_packed.wgsl's words, float32 arithmetic.
@group(0) @binding(1) var<storage, read> q16: array<f16>;
@group(0) @binding(2) var<storage, read> k16: array<f16>;
@group(0) @binding(3) var<storage, read> v16: array<f16>;
@group(0) @binding(4) var<storage, read> m16: array<f16>;
@group(0) @binding(5) var<storage, read_write> o16: array<f16>;

fn ld_q(i: u32) -> f32 {
    return f32(q16[i]);
}

fn ld_k(i: u32) -> f32 {
    return f32(k16[i]);
}

fn ld_v(i: u32) -> f32 {
    return f32(v16[i]);
}

fn ld_m(i: u32) -> f32 {
    return f32(m16[i]);
}

fn st_o(w: u32, v: vec2<f32>) {
    let s = to_f16_range(v);
    o16[2u * w] = f16(s.x);
    o16[2u * w + 1u] = f16(s.y);
}

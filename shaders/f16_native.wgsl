// included by: the *_f16 kernels (after `enable f16;`)
// Float16 storage as WGSL f16 (SHADER_F16): the same bytes as
// f16_packed.wgsl's words. Bindings as matmul_common.wgsl numbers them.
@group(0) @binding(1) var<storage, read> a16: array<f16>;
@group(0) @binding(2) var<storage, read> b16: array<f16>;
@group(0) @binding(3) var<storage, read> bias16: array<f16>;
@group(0) @binding(4) var<storage, read_write> c16: array<f16>;

fn ld_a(i: u32) -> f32 {
    return f32(a16[i]);
}

fn ld_b(i: u32) -> f32 {
    return f32(b16[i]);
}

fn ld_b2(i: u32) -> vec2<f32> {
    return vec2<f32>(f32(b16[i]), f32(b16[i + 1u]));
}

fn ld_bias(i: u32) -> f32 {
    return f32(bias16[i]);
}

// The same A and B four values at a time (matmul_f16_vec4.wgsl).
@group(0) @binding(1) var<storage, read> a16q: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> b16q: array<vec4<f16>>;

fn ld_a4(q: u32) -> vec4<f32> {
    return vec4<f32>(a16q[q]);
}

fn ld_b4(q: u32) -> vec4<f32> {
    return vec4<f32>(b16q[q]);
}

fn st_pair(w: u32, v: vec2<f32>, both: bool) {
    let s = to_f16_range(v);
    c16[2u * w] = f16(s.x);
    if both {
        c16[2u * w + 1u] = f16(s.y);
    }
}

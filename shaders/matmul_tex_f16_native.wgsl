// included by: matmul_tex.wgsl (after `enable f16;`, in front of it)
// Float16 storage for the texture rung as WGSL f16 (SHADER_F16): the same
// bytes as matmul_tex_f16_packed.wgsl's words, float32 arithmetic; the
// textures hold float32 as before.
@group(0) @binding(1) var<storage, read> src16: array<f16>;
@group(0) @binding(1) var<storage, read> a16: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> dense16: array<f16>;
@group(0) @binding(3) var<storage, read> bias16: array<f16>;
@group(0) @binding(4) var<storage, read_write> c16: array<f16>;

fn ld_src(i: u32) -> f32 { return f32(src16[i]); }
fn ld_a4(q: u32) -> vec4<f32> { return vec4<f32>(a16[q]); }
fn ld_bias(i: u32) -> f32 { return f32(bias16[i]); }
fn st_dense(i: u32, v: f32) { dense16[i] = f16(to_f16_range(vec2<f32>(v, 0.0)).x); }
fn st_c16(i: u32, v: f32) { c16[i] = f16(to_f16_range(vec2<f32>(v, 0.0)).x); }

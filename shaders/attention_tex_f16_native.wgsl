// included by: attention_tex.wgsl (after `enable f16;`, in front of it)
// Float16 storage for the fused texture attention as WGSL f16
// (SHADER_F16): the same bytes as attention_tex_f16_packed.wgsl's words.
@group(0) @binding(1) var<storage, read> q16: array<vec4<f16>>;
@group(0) @binding(4) var<storage, read> mask16: array<f16>;
@group(0) @binding(5) var<storage, read_write> o16: array<vec4<f16>>;

fn ld_q4(i: u32) -> vec4<f32> { return vec4<f32>(q16[i]); }
fn ld_mask(i: u32) -> f32 { return f32(mask16[i]); }
fn st_o4(i: u32, v: vec4<f32>) {
    o16[i] = vec4<f16>(vec4<f32>(to_f16_range(v.xy), to_f16_range(v.zw)));
}

// included by: attention_tex.wgsl (in front of it)
// Float32 storage for the fused texture attention: plain arrays (K and V
// are textures either way).
@group(0) @binding(1) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> key_mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> o4: array<vec4<f32>>;

fn ld_q4(i: u32) -> vec4<f32> { return q4[i]; }
fn ld_mask(i: u32) -> f32 { return key_mask[i]; }
fn st_o4(i: u32, v: vec4<f32>) { o4[i] = v; }

// included by: attention_tex.wgsl (in front of it)
// Float16 storage for the fused texture attention as u32 words (every
// adapter with subgroups): Q and O a quad (two words) at a time, each
// quad of O owned by one lane, so whole words are written; the key mask
// float16 too. K and V sit in float32 textures (pack_b widened them), and
// the online softmax is float32; O is rounded once as it is stored.
@group(0) @binding(1) var<storage, read> q16: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> mask16: array<u32>;
@group(0) @binding(5) var<storage, read_write> o16: array<vec2<u32>>;

fn ld_q4(i: u32) -> vec4<f32> {
    let w = q16[i];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
fn ld_mask(i: u32) -> f32 { return half_in(mask16[i >> 1u], i); }
fn st_o4(i: u32, v: vec4<f32>) {
    o16[i] = vec2<u32>(pack2x16float(to_f16_range(v.xy)), pack2x16float(to_f16_range(v.zw)));
}

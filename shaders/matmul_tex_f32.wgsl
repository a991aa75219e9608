// included by: matmul_tex.wgsl (in front of it)
// Float32 storage for the texture rung: plain arrays. Binding 1 is the
// pack steps' source and the product's A (read as quads); binding 2 the
// dense copy pack_a writes (where no texture sits there).
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dense: array<f32>;

fn ld_src(i: u32) -> f32 { return src[i]; }
fn ld_a4(q: u32) -> vec4<f32> { return a[q]; }
fn st_dense(i: u32, v: f32) { dense[i] = v; }
fn st_row(base: u32, i: u32, j0: u32, v: vec4<f32>) { store_row(base, i, j0, v); }

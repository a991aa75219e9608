// included by: gather.wgsl (in front of it)
// Float32 data and output: plain arrays.
@group(0) @binding(1) var<storage, read> data: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn ld_data(i: u32) -> f32 { return data[i]; }
fn st_y(i: u32, v: f32) { y[i] = v; }

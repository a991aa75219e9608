// included by: reduce.wgsl (in front of it)
// Float32 storage for the reductions: plain arrays.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn ld_x(i: u32) -> f32 { return x[i]; }
fn ld_gamma(i: u32) -> f32 { return gamma[i]; }
fn ld_beta(i: u32) -> f32 { return beta[i]; }
fn st_y(i: u32, v: f32) { y[i] = v; }

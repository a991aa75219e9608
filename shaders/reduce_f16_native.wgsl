// included by: reduce.wgsl (after `enable f16;`, in front of it)
// Float16 storage for the reductions as WGSL f16 (SHADER_F16); arithmetic
// stays float32, each output rounded once.
@group(0) @binding(1) var<storage, read> x16: array<f16>;
@group(0) @binding(2) var<storage, read> gamma16: array<f16>;
@group(0) @binding(3) var<storage, read> beta16: array<f16>;
@group(0) @binding(4) var<storage, read_write> y16: array<f16>;

fn ld_x(i: u32) -> f32 { return f32(x16[i]); }
fn ld_gamma(i: u32) -> f32 { return f32(gamma16[i]); }
fn ld_beta(i: u32) -> f32 { return f32(beta16[i]); }
fn st_y(i: u32, v: f32) { y16[i] = f16(to_f16_range(vec2<f32>(v, 0.0)).x); }

// included by: gather.wgsl (after `enable f16;`, in front of it)
// Float16 data and output as WGSL f16 (SHADER_F16); the indices stay
// float-held.
@group(0) @binding(1) var<storage, read> data16: array<f16>;
@group(0) @binding(3) var<storage, read_write> y16: array<f16>;

fn ld_data(i: u32) -> f32 { return f32(data16[i]); }
fn st_y(i: u32, v: f32) { y16[i] = f16(v); }

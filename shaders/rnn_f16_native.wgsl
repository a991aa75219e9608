// included by: rnn.wgsl (in front of it, after `enable f16;`)
// Float16 storage for the recurrent steps as WGSL f16 (SHADER_F16): each
// invocation reads and writes its own elements; values widen to float32
// on load and round once on store.
@group(0) @binding(1) var<storage, read> xp: array<f16>;
@group(0) @binding(2) var<storage, read> w_hh: array<f16>;
@group(0) @binding(3) var<storage, read> b_hh: array<f16>;
@group(0) @binding(4) var<storage, read> h0: array<f16>;
@group(0) @binding(5) var<storage, read_write> y: array<f16>;
@group(0) @binding(6) var<storage, read_write> cell: array<f16>;
@group(0) @binding(7) var<storage, read> c0: array<f16>;

fn ld_xp(i: u32) -> f32 { return f32(xp[i]); }
fn ld_w(i: u32) -> f32 { return f32(w_hh[i]); }
fn ld_bh(i: u32) -> f32 { return f32(b_hh[i]); }
fn ld_h0(i: u32) -> f32 { return f32(h0[i]); }
fn ld_y(i: u32) -> f32 { return f32(y[i]); }
fn st_y(i: u32, v: f32) { y[i] = f16(to_f16_range(vec2<f32>(v, 0.0)).x); }
fn ld_cell(i: u32) -> f32 { return f32(cell[i]); }
fn st_cell(i: u32, v: f32) { cell[i] = f16(to_f16_range(vec2<f32>(v, 0.0)).x); }
fn ld_c0(i: u32) -> f32 { return f32(c0[i]); }

// included by: rnn.wgsl (in front of it)
// Float32 storage for the recurrent steps: plain arrays.
@group(0) @binding(1) var<storage, read> xp: array<f32>;
@group(0) @binding(2) var<storage, read> w_hh: array<f32>;
@group(0) @binding(3) var<storage, read> b_hh: array<f32>;
@group(0) @binding(4) var<storage, read> h0: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
// The LSTM's own bindings: the cell state and its start (c0 or a dummy).
@group(0) @binding(6) var<storage, read_write> cell: array<f32>;
@group(0) @binding(7) var<storage, read> c0: array<f32>;

fn ld_xp(i: u32) -> f32 { return xp[i]; }
fn ld_w(i: u32) -> f32 { return w_hh[i]; }
fn ld_bh(i: u32) -> f32 { return b_hh[i]; }
fn ld_h0(i: u32) -> f32 { return h0[i]; }
fn ld_y(i: u32) -> f32 { return y[i]; }
fn st_y(i: u32, v: f32) { y[i] = v; }
fn ld_cell(i: u32) -> f32 { return cell[i]; }
fn st_cell(i: u32, v: f32) { cell[i] = v; }
fn ld_c0(i: u32) -> f32 { return c0[i]; }

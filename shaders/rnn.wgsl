// requires: rnn_f32.wgsl
// or requires: f16_words_common.wgsl rnn_f16_packed.wgsl
// or requires: enable-f16 rnn_f16_native.wgsl
// Recurrent layers over a sequence, batch-first, PyTorch's equations with
// weights stored input-major (W_hh [H, G*H], gate blocks side by side).
// The input projection xp = x W_ih + b_ih [B, T, G*H] of every step was
// done before as one matrix product; this kernel is one time step t: each
// invocation owns one hidden unit (b, j), adds h_{t-1} W_hh + b_hh to its
// projection, applies the gates and writes y[b, t, j]. h_{t-1} is row t-1
// of the output itself (h0, or zeros, at t = 0): no separate state buffer.
//
//   Elman: h' = tanh(xp + h W_hh + b_hh)
//   GRU (gates r, z, n, as PyTorch):
//     r = sigmoid(xp_r + h W_hr + b_hr)
//     z = sigmoid(xp_z + h W_hz + b_hz)
//     n = tanh(xp_n + r * (h W_hn + b_hn))
//     h' = (1 - z) * n + z * h
//   LSTM (gates i, f, g, o, as PyTorch), with a cell state c:
//     i = sigmoid(..), f = sigmoid(..), g = tanh(..), o = sigmoid(..)
//     c' = f * c + i * g,  h' = o * tanh(c')
//   Each invocation owns c[b, j] alone, so the cell state is updated in
//   place in its own buffer (c0, or zeros, at t = 0) and holds c_T at the end.

struct RnnParams {
    batch: u32, steps: u32, hidden: u32, t: u32,
    total: u32, flags: u32, _p0: u32, _p1: u32,
}

const HAS_H0: u32 = 1u;
const HAS_C0: u32 = 2u;

@group(0) @binding(0) var<uniform> p: RnnParams;
// The tensors (xp, W_hh, b_hh, h0, y; an LSTM's cell and c0 at 6 and 7)
// are declared by the storage file in front of this one (rnn_f32.wgsl,
// rnn_f16_packed.wgsl or rnn_f16_native.wgsl) and read and written only
// through its ld_*/st_* functions, so one kernel text serves float32 and
// float16 storage; arithmetic is float32 throughout.

// False at t = 0 without h0: the previous state is zero and so is its
// product with W_hh, so the loop is skipped.
fn has_prev() -> bool {
    return p.t > 0u || (p.flags & HAS_H0) != 0u;
}

// h_{t-1}[b, k]: the previous step's output, or h0 at the first step.
fn h_prev(b: u32, k: u32) -> f32 {
    if p.t == 0u {
        if (p.flags & HAS_H0) != 0u {
            return ld_h0(b * p.hidden + k);
        }
        return 0.0;
    }
    return ld_y((b * p.steps + p.t - 1u) * p.hidden + k);
}

// h_{t-1} W_hh for unit (b, j): one sum per gate block (W_hh rows hold
// `gates` blocks of `hidden` columns), in lanes x, y, z, w; lanes past
// `gates` stay 0. `gates` is uniform, so the branches cost nothing.
fn hidden_products(b: u32, j: u32, gates: u32) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    if !has_prev() {
        return acc;
    }
    let hn = p.hidden;
    let stride = gates * hn;
    for (var k = 0u; k < hn; k++) {
        let hk = h_prev(b, k);
        let w = k * stride + j;
        acc.x += hk * ld_w(w);
        if gates > 1u {
            acc.y += hk * ld_w(w + hn);
            acc.z += hk * ld_w(w + 2u * hn);
        }
        if gates > 3u {
            acc.w += hk * ld_w(w + 3u * hn);
        }
    }
    return acc;
}

@compute @workgroup_size(WG)
fn rnn_elman_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total {
        return;
    }
    let hn = p.hidden;
    let j = i % hn;
    let b = i / hn;
    let acc = hidden_products(b, j, 1u).x;
    let row = b * p.steps + p.t;
    st_y(row * hn + j, tanh_c(ld_xp(row * hn + j) + acc + ld_bh(j)));
}

@compute @workgroup_size(WG)
fn rnn_gru_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total {
        return;
    }
    let hn = p.hidden;
    let g3 = 3u * hn;
    let j = i % hn;
    let b = i / hn;
    let a = hidden_products(b, j, 3u);
    let row = b * p.steps + p.t;
    let x = row * g3 + j;
    let r = sigmoid(ld_xp(x) + a.x + ld_bh(j));
    let z = sigmoid(ld_xp(x + hn) + a.y + ld_bh(j + hn));
    let n = tanh_c(ld_xp(x + 2u * hn) + r * (a.z + ld_bh(j + 2u * hn)));
    st_y(row * hn + j, (1.0 - z) * n + z * h_prev(b, j));
}

@compute @workgroup_size(WG)
fn rnn_lstm_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total {
        return;
    }
    let hn = p.hidden;
    let g4 = 4u * hn;
    let j = i % hn;
    let b = i / hn;
    let a = hidden_products(b, j, 4u);
    let row = b * p.steps + p.t;
    let x = row * g4 + j;
    let ig = sigmoid(ld_xp(x) + a.x + ld_bh(j));
    let fg = sigmoid(ld_xp(x + hn) + a.y + ld_bh(j + hn));
    let gg = tanh_c(ld_xp(x + 2u * hn) + a.z + ld_bh(j + 2u * hn));
    let og = sigmoid(ld_xp(x + 3u * hn) + a.w + ld_bh(j + 3u * hn));
    var c_prev = 0.0;
    if p.t > 0u {
        c_prev = ld_cell(i);
    } else if (p.flags & HAS_C0) != 0u {
        c_prev = ld_c0(i);
    }
    let c = fg * c_prev + ig * gg;
    st_cell(i, c);
    st_y(row * hn + j, og * tanh_c(c));
}

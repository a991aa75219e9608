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

struct RnnParams {
    batch: u32, steps: u32, hidden: u32, t: u32,
    total: u32, flags: u32, _p0: u32, _p1: u32,
}

const HAS_H0: u32 = 1u;

@group(0) @binding(0) var<uniform> p: RnnParams;
@group(0) @binding(1) var<storage, read> xp: array<f32>;
@group(0) @binding(2) var<storage, read> w_hh: array<f32>;
@group(0) @binding(3) var<storage, read> b_hh: array<f32>;
@group(0) @binding(4) var<storage, read> h0: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// False at t = 0 without h0: the previous state is zero and so is its
// product with W_hh, so the loop is skipped.
fn has_prev() -> bool {
    return p.t > 0u || (p.flags & HAS_H0) != 0u;
}

// h_{t-1}[b, k]: the previous step's output, or h0 at the first step.
fn h_prev(b: u32, k: u32) -> f32 {
    if p.t == 0u {
        if (p.flags & HAS_H0) != 0u {
            return h0[b * p.hidden + k];
        }
        return 0.0;
    }
    return y[(b * p.steps + p.t - 1u) * p.hidden + k];
}

// The argument is clamped because some tanh implementations overflow exp
// (tanh(15) is 1 in f32 anyway).
fn tanh_c(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}

// exp of a non-positive number only: never overflows.
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, x >= 0.0);
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
    var acc = 0.0;
    if has_prev() {
        for (var k = 0u; k < hn; k++) {
            acc += h_prev(b, k) * w_hh[k * hn + j];
        }
    }
    let row = b * p.steps + p.t;
    y[row * hn + j] = tanh_c(xp[row * hn + j] + acc + b_hh[j]);
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
    var ar = 0.0;
    var az = 0.0;
    var an = 0.0;
    if has_prev() {
        for (var k = 0u; k < hn; k++) {
            let hk = h_prev(b, k);
            let w = k * g3 + j;
            ar += hk * w_hh[w];
            az += hk * w_hh[w + hn];
            an += hk * w_hh[w + 2u * hn];
        }
    }
    let row = b * p.steps + p.t;
    let x = row * g3 + j;
    let r = sigmoid(xp[x] + ar + b_hh[j]);
    let z = sigmoid(xp[x + hn] + az + b_hh[j + hn]);
    let n = tanh_c(xp[x + 2u * hn] + r * (an + b_hh[j + 2u * hn]));
    y[row * hn + j] = (1.0 - z) * n + z * h_prev(b, j);
}

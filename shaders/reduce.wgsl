// Reductions over the middle axis of an [outer, n, inner] view, one
// invocation per (outer, inner) pair walking its n elements: sums and
// means (mode 0, 1), max and min (2, 3), softmax and log-softmax over the
// same axis, and layer norm over contiguous rows (inner = 1). Softmax
// subtracts the maximum first, so exp never overflows; layer norm takes
// two passes (mean, then squared deviations), as the reference models.

struct ReduceParams {
    total: u32, n: u32, inner: u32, mode: u32,
    eps: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn base_of(i: u32) -> u32 {
    return (i / p.inner) * p.n * p.inner + i % p.inner;
}

@compute @workgroup_size(WG)
fn reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total { return; }
    let base = base_of(i);
    var acc = x[base];
    var nan = is_nan(acc);
    for (var k = 1u; k < p.n; k++) {
        let v = x[base + k * p.inner];
        nan = nan || is_nan(v);
        switch p.mode {
            case 2u: { acc = max(acc, v); }
            case 3u: { acc = min(acc, v); }
            default: { acc += v; }
        }
    }
    if p.mode == 1u { acc = acc / f32(p.n); }
    // max/min may drop a NaN; the reference keeps it, as PyTorch does.
    y[i] = select(acc, bitcast<f32>(0x7fc00000u), nan && p.mode >= 2u);
    // Keep gamma and beta in the layout shared with layernorm.
    if p.total == 0u { y[0] = gamma[0] + beta[0]; }
}

@compute @workgroup_size(WG)
fn softmax_axis(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total { return; }
    let base = base_of(i);
    var m = x[base];
    for (var k = 1u; k < p.n; k++) {
        let v = x[base + k * p.inner];
        m = select(max(m, v), v, is_nan(v));
        if is_nan(m) { break; }
    }
    var s = 0.0;
    for (var k = 0u; k < p.n; k++) {
        s += exp(x[base + k * p.inner] - m);
    }
    let log_s = log(s);
    for (var k = 0u; k < p.n; k++) {
        let d = x[base + k * p.inner] - m;
        y[base + k * p.inner] = select(exp(d) / s, d - log_s, p.mode == 1u);
    }
    if p.total == 0u { y[0] = gamma[0] + beta[0]; }
}

@compute @workgroup_size(WG)
fn layernorm_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total { return; }
    let base = i * p.n;
    var s = 0.0;
    for (var k = 0u; k < p.n; k++) { s += x[base + k]; }
    let mean = s / f32(p.n);
    var q = 0.0;
    for (var k = 0u; k < p.n; k++) {
        let d = x[base + k] - mean;
        q += d * d;
    }
    let inv = 1.0 / sqrt(q / f32(p.n) + p.eps);
    for (var k = 0u; k < p.n; k++) {
        y[base + k] = (x[base + k] - mean) * inv * gamma[k] + beta[k];
    }
}

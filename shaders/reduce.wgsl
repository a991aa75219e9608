// requires: reduce_f32.wgsl
// or requires: f16_words_common.wgsl reduce_f16_packed.wgsl
// or requires: enable-f16 reduce_f16_native.wgsl
// Reductions over the middle axis of an [outer, n, inner] view, one
// invocation per (outer, inner) pair walking its n elements: sums and
// means (mode 0, 1), max and min (2, 3), softmax and log-softmax over the
// same axis, and layer norm over contiguous rows (inner = 1). Softmax
// subtracts the maximum first, so exp never overflows; layer norm takes
// two passes (mean, then squared deviations), as the reference models.
// Buffers are read and written through the storage file in front
// (float32, or float16 with float32 arithmetic, each output rounded once).

struct ReduceParams {
    total: u32, n: u32, inner: u32, mode: u32,
    eps: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;

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
    var acc = ld_x(base);
    var nan = is_nan(acc);
    for (var k = 1u; k < p.n; k++) {
        let v = ld_x(base + k * p.inner);
        nan = nan || is_nan(v);
        switch p.mode {
            case 2u: { acc = max(acc, v); }
            case 3u: { acc = min(acc, v); }
            default: { acc += v; }
        }
    }
    if p.mode == 1u { acc = acc / f32(p.n); }
    // max/min may drop a NaN; the reference keeps it, as PyTorch does.
    st_y(i, select(acc, bitcast<f32>(0x7fc00000u), nan && p.mode >= 2u));
    // Keep gamma and beta in the layout shared with layernorm.
    if p.total == 0u { st_y(0u, ld_gamma(0u) + ld_beta(0u)); }
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
    var m = ld_x(base);
    for (var k = 1u; k < p.n; k++) {
        let v = ld_x(base + k * p.inner);
        m = select(max(m, v), v, is_nan(v));
        if is_nan(m) { break; }
    }
    var s = 0.0;
    for (var k = 0u; k < p.n; k++) {
        s += exp(ld_x(base + k * p.inner) - m);
    }
    let log_s = log(s);
    for (var k = 0u; k < p.n; k++) {
        let d = ld_x(base + k * p.inner) - m;
        st_y(base + k * p.inner, select(exp(d) / s, d - log_s, p.mode == 1u));
    }
    if p.total == 0u { st_y(0u, ld_gamma(0u) + ld_beta(0u)); }
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
    for (var k = 0u; k < p.n; k++) { s += ld_x(base + k); }
    let mean = s / f32(p.n);
    var q = 0.0;
    for (var k = 0u; k < p.n; k++) {
        let d = ld_x(base + k) - mean;
        q += d * d;
    }
    let inv = 1.0 / sqrt(q / f32(p.n) + p.eps);
    for (var k = 0u; k < p.n; k++) {
        st_y(base + k, (ld_x(base + k) - mean) * inv * ld_gamma(k) + ld_beta(k));
    }
}

// Layer normalisation over the last axis, one workgroup per row, two passes
// (mean, then the mean of squared deviations) so that a large mean does not
// cancel the variance away: y = (x - mean) / sqrt(var + eps) * gamma + beta.

struct LayerNormParams {
    rows: u32, cols: u32, eps: f32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: LayerNormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, WG>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG)
fn layer_norm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = flat_id(wid, nwg, 0u) / WG;
    let live = row < p.rows;
    let base = row * p.cols;
    var s = 0.0;
    if live {
        for (var j = lid; j < p.cols; j += WG) {
            s += x[base + j];
        }
    }
    let mean = reduce_sum(lid, s) / f32(p.cols);
    var q = 0.0;
    if live {
        for (var j = lid; j < p.cols; j += WG) {
            let d = x[base + j] - mean;
            q += d * d;
        }
    }
    let inv = 1.0 / sqrt(reduce_sum(lid, q) / f32(p.cols) + p.eps);
    if !live {
        return;
    }
    for (var j = lid; j < p.cols; j += WG) {
        y[base + j] = (x[base + j] - mean) * inv * gamma[j] + beta[j];
    }
}

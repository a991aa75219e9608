// Row softmax over the last axis of scores [B, H, L, S], one workgroup per
// row: max subtracted first (logits of 1e4 stay finite), optional causal
// mask (key j > query i, PyTorch's top-left alignment) and key-padding mask
// ([B, S], 1 = keep). A row with every entry masked becomes zeros, not NaN.

struct SoftmaxParams {
    rows: u32, cols: u32, queries: u32, heads: u32,
    flags: u32, _p0: u32, _p1: u32, _p2: u32,
}

const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> key_mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, WG>;

fn kept(row: u32, j: u32) -> bool {
    if (p.flags & CAUSAL) != 0u && j > row % p.queries {
        return false;
    }
    if (p.flags & KEY_MASK) != 0u {
        let batch = row / (p.queries * p.heads);
        return key_mask[batch * p.cols + j] != 0.0;
    }
    return true;
}

// Larger wins, and NaN wins over everything, so it reaches the whole row.
fn nan_max(a: f32, b: f32) -> f32 {
    if is_nan(a) || is_nan(b) {
        return bitcast<f32>(0x7fc00000u);
    }
    return max(a, b);
}

@compute @workgroup_size(WG)
fn softmax_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // One row per workgroup; the check is uniform across the workgroup, so
    // the barriers below stay in uniform control flow.
    let row = flat_id(wid, nwg, 0u) / WG;
    let live = row < p.rows;
    let base = row * p.cols;
    var m = -bitcast<f32>(0x7f800000u);
    if live {
        for (var j = lid; j < p.cols; j += WG) {
            if kept(row, j) {
                m = nan_max(m, x[base + j]);
            }
        }
    }
    red[lid] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            red[lid] = nan_max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let row_max = red[0];
    workgroupBarrier();
    var sum = 0.0;
    if live {
        for (var j = lid; j < p.cols; j += WG) {
            if kept(row, j) {
                sum += exp(x[base + j] - row_max);
            }
        }
    }
    red[lid] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    if !live {
        return;
    }
    // Every entry masked: -inf max and zero sum; the row becomes zeros.
    let empty = row_max == -bitcast<f32>(0x7f800000u);
    for (var j = lid; j < p.cols; j += WG) {
        var v = 0.0;
        if kept(row, j) && !empty {
            v = exp(x[base + j] - row_max) / total;
        }
        if is_nan(row_max) {
            v = row_max;
        }
        y[base + j] = v;
    }
}

// The same softmax with one row per invocation: no workgroup memory and no
// barriers, which CPU adapters (llvmpipe) run as coroutine switches; there
// it was ~2.2x faster than softmax_rows for 8192 rows of 1024 (48 vs 107 ms).
@compute @workgroup_size(WG)
fn softmax_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = flat_id(wid, nwg, lid);
    if row >= p.rows {
        return;
    }
    let base = row * p.cols;
    var m = -bitcast<f32>(0x7f800000u);
    for (var j = 0u; j < p.cols; j++) {
        if kept(row, j) {
            m = nan_max(m, x[base + j]);
        }
    }
    // exp once per entry: stored, then scaled in place.
    let empty = m == -bitcast<f32>(0x7f800000u);
    var total = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        var e = 0.0;
        if kept(row, j) && !empty {
            e = exp(x[base + j] - m);
        }
        total += e;
        y[base + j] = e;
    }
    // NaN anywhere in the row makes the whole row NaN, as in softmax_rows;
    // an all-masked row keeps its zeros (0 / 1, not 0 / 0).
    let denom = select(total, 1.0, empty);
    for (var j = 0u; j < p.cols; j++) {
        y[base + j] = select(y[base + j] / denom, m, is_nan(m));
    }
}

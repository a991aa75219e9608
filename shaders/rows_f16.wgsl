// requires: f16_packed.wgsl
// or requires: enable-f16 f16_native.wgsl
// (storage: x = a16, the key mask or gamma = b16, beta = bias16, y = c16)
// Softmax and layer norm over the last axis on float16 storage, float32
// arithmetic, in two steps: one invocation per row finds the row's
// statistics (softmax: max and the sum of exp(x - max); layer norm: mean,
// then 1/sqrt(var + eps) from the squared deviations, so a large mean does
// not cancel the variance away), then one invocation per 32-bit word of
// the output applies them to its two elements. Per word, not per row:
// packed float16 rows of odd length share words, and two invocations must
// never write one word. The statistics stay in float32 between the steps:
// rounded to float16 they would cost every output a unit.

struct RowsParams {
    rows: u32, cols: u32, queries: u32, heads: u32,
    flags: u32, eps: f32, words: u32, _p0: u32,
}

const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;
const LAYER_NORM: u32 = 4u;

@group(0) @binding(0) var<uniform> p: RowsParams;
// Per row: (max, sum) or (mean, 1/std). Bound as a float16 tensor of four
// halves per row: the bytes of two float32s.
@group(0) @binding(5) var<storage, read_write> stats: array<vec2<f32>>;

fn kept(row: u32, j: u32) -> bool {
    if (p.flags & CAUSAL) != 0u && j > row % p.queries {
        return false;
    }
    if (p.flags & KEY_MASK) != 0u {
        let batch = row / (p.queries * p.heads);
        return ld_b(batch * p.cols + j) != 0.0;
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

fn row_stats(row: u32) {
    if row >= p.rows {
        return;
    }
    let base = row * p.cols;
    if (p.flags & LAYER_NORM) != 0u {
        var s = 0.0;
        for (var j = 0u; j < p.cols; j++) {
            s += ld_a(base + j);
        }
        let mean = s / f32(p.cols);
        var q = 0.0;
        for (var j = 0u; j < p.cols; j++) {
            let d = ld_a(base + j) - mean;
            q += d * d;
        }
        stats[row] = vec2<f32>(mean, 1.0 / sqrt(q / f32(p.cols) + p.eps));
        return;
    }
    var m = -bitcast<f32>(0x7f800000u);
    for (var j = 0u; j < p.cols; j++) {
        if kept(row, j) {
            m = nan_max(m, ld_a(base + j));
        }
    }
    var s = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        if kept(row, j) {
            s += exp(ld_a(base + j) - m);
        }
    }
    stats[row] = vec2<f32>(m, s);
}

fn value(e: u32) -> f32 {
    let row = e / p.cols;
    let j = e % p.cols;
    let st = stats[row];
    if (p.flags & LAYER_NORM) != 0u {
        return (ld_a(e) - st.x) * st.y * ld_b(j) + ld_bias(j);
    }
    // A row with every entry masked (max -inf, sum 0) becomes zeros.
    if !kept(row, j) || st.y == 0.0 {
        return 0.0;
    }
    return exp(ld_a(e) - st.x) / st.y;
}

fn apply_word(w: u32) {
    if w >= p.words {
        return;
    }
    let e = 2u * w;
    let both = e + 1u < p.rows * p.cols;
    var v = vec2<f32>(value(e), 0.0);
    if both {
        v.y = value(e + 1u);
    }
    st_pair(w, v, both);
}

// 0: statistics, one invocation per row; 1: the output, one per word. One
// entry point for both, so that both pipelines bind every buffer.
override PHASE: u32 = 0u;

@compute @workgroup_size(WG)
fn rows_f16(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = flat_id(wid, nwg, lid);
    if PHASE == 0u {
        row_stats(t);
    } else {
        apply_word(t);
    }
}

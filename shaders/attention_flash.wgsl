// Fused attention for GPUs with fast workgroup memory: FlashAttention-2's
// blocking in f32. A workgroup of 128 owns 32 query rows of one head; Q^T
// stays in workgroup memory while K and V pass through in tiles of 64 keys.
// Thread (ty, tx) = (tid / 16, tid % 16) holds the scores of rows
// 4 ty .. 4 ty + 3 against keys tx, tx + 16, tx + 32, tx + 48 of a tile (so
// its P stores spread over the banks), and the output of the same rows for
// feature quad tx. Both products are 4 x 4 register blocks fed by two vec4
// reads of workgroup memory. The row max goes through workgroup memory (16
// partials per row); the row sums stay per thread until the end, since
// every thread rescales by the same factor. The next tile's K and V are
// loaded into registers while the current one is in use. Causal and
// key-padding masks; a row with every key masked gives zeros; NaN in a
// row's scores gives a NaN row (through its probabilities, whatever max
// makes of NaN).

struct AttentionParams {
    batch: u32, heads: u32, queries: u32, keys: u32,
    head_dim: u32, flags: u32, q_blocks: u32, scale: f32,
    k0: u32, k1: u32, _p0: u32, _p1: u32,
}

const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;
const BR: u32 = 32u; // query rows per workgroup
const BC: u32 = 64u; // keys per tile

@group(0) @binding(0) var<uniform> p: AttentionParams;
@group(0) @binding(1) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> key_mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> o4: array<vec4<f32>>;

// Head size, a multiple of 4 up to 64 (the host checks).
override HD: u32 = 64u;

// 32 KiB in all.
var<workgroup> qt: array<vec4<f32>, 512>;  // Q^T: [feature][row quad]
// K^T as [feature][key group]: group g holds keys g, g+16, g+32, g+48;
// then V as [key][feature quad].
var<workgroup> kv: array<vec4<f32>, 1024>;
// P^T as [key][row quad ^ (key % 8)] (the xor spreads a store over 8
// banks); between products, per-row partials [row quad][16 lanes].
var<workgroup> pt: array<vec4<f32>, 512>;

fn neg_inf() -> f32 {
    return -bitcast<f32>(0x7f800000u);
}

fn max4(v: vec4<f32>) -> f32 {
    return max(max(v.x, v.y), max(v.z, v.w));
}

// Thread tid's share of a K tile (slot c of 8): key tid % 64, quad
// tid / 64 + 2c. Keys past the end read as zero (their scores are masked).
fn k_load(base: u32, width4: u32, j0: u32, tid: u32, c: u32) -> vec4<f32> {
    let j = j0 + tid % 64u;
    let t = tid / 64u + 2u * c;
    if j >= p.keys || t >= HD / 4u {
        return vec4<f32>(0.0);
    }
    return k4[base + j * width4 + t];
}

fn k_store(tid: u32, c: u32, v: vec4<f32>) {
    let key = tid % 64u;
    let t = tid / 64u + 2u * c;
    if t < HD / 4u {
        let g = key % 16u;
        let slot = key / 16u;
        kv[(4u * t + 0u) * 16u + g][slot] = v.x;
        kv[(4u * t + 1u) * 16u + g][slot] = v.y;
        kv[(4u * t + 2u) * 16u + g][slot] = v.z;
        kv[(4u * t + 3u) * 16u + g][slot] = v.w;
    }
}

// V: key tid / 16 + 8c, quad tid % 16; zero past the end.
fn v_load(base: u32, width4: u32, j0: u32, tid: u32, c: u32) -> vec4<f32> {
    let j = j0 + tid / 16u + 8u * c;
    let t = tid % 16u;
    if j >= p.keys || t >= HD / 4u {
        return vec4<f32>(0.0);
    }
    return v4[base + j * width4 + t];
}

fn v_store(tid: u32, c: u32, v: vec4<f32>) {
    kv[(tid / 16u + 8u * c) * 16u + tid % 16u] = v;
}

// Scores of row i against keys j (one per component), -inf where hidden.
fn masked(s: vec4<f32>, b: u32, i: u32, j: vec4<u32>) -> vec4<f32> {
    var hide = j >= vec4<u32>(p.keys);
    if (p.flags & CAUSAL) != 0u {
        hide = hide | (j > vec4<u32>(i));
    }
    if (p.flags & KEY_MASK) != 0u {
        let jm = min(j, vec4<u32>(p.keys - 1u)) + vec4<u32>(b * p.keys);
        let m = vec4<f32>(key_mask[jm.x], key_mask[jm.y], key_mask[jm.z], key_mask[jm.w]);
        hide = hide | (m == vec4<f32>(0.0));
    }
    return select(s, vec4<f32>(neg_inf()), hide);
}

// exp(s - m), 0 where s is -inf (also when m is).
fn probs(s: vec4<f32>, m: f32) -> vec4<f32> {
    return select(exp(s - vec4<f32>(m)), vec4<f32>(0.0), s == vec4<f32>(neg_inf()));
}

@compute @workgroup_size(128)
fn attention_flash(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    // Whole workgroups leave together: the barriers stay uniform.
    let g = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if g >= p.batch * p.heads * p.q_blocks {
        return;
    }
    let bh = g / p.q_blocks;
    let b = bh / p.heads;
    let h = bh % p.heads;
    let i0 = (g % p.q_blocks) * BR;
    let d4 = HD / 4u;
    let width4 = p.heads * d4;
    let tx = tid % 16u;
    let ty = tid / 16u;

    // Q^T, scaled; rows past the end repeat the last row (never stored).
    for (var c = 0u; c < 4u; c++) {
        let row = tid % 32u;
        let t = tid / 32u + 4u * c;
        if t < d4 {
            let i = min(i0 + row, p.queries - 1u);
            let v = q4[(b * p.queries + i) * width4 + h * d4 + t] * p.scale;
            qt[(4u * t + 0u) * 8u + row / 4u][row % 4u] = v.x;
            qt[(4u * t + 1u) * 8u + row / 4u][row % 4u] = v.y;
            qt[(4u * t + 2u) * 8u + row / 4u][row % 4u] = v.z;
            qt[(4u * t + 3u) * 8u + row / 4u][row % 4u] = v.w;
        }
    }

    let kvbase = b * p.keys * width4 + h * d4;
    var key_end = p.keys;
    if (p.flags & CAUSAL) != 0u {
        key_end = min(p.keys, i0 + BR);
    }
    var k0 = k_load(kvbase, width4, 0u, tid, 0u);
    var k1 = k_load(kvbase, width4, 0u, tid, 1u);
    var k2 = k_load(kvbase, width4, 0u, tid, 2u);
    var k3 = k_load(kvbase, width4, 0u, tid, 3u);
    var k5 = k_load(kvbase, width4, 0u, tid, 4u);
    var k6 = k_load(kvbase, width4, 0u, tid, 5u);
    var k7 = k_load(kvbase, width4, 0u, tid, 6u);
    var k8 = k_load(kvbase, width4, 0u, tid, 7u);
    var v0 = v_load(kvbase, width4, 0u, tid, 0u);
    var v1 = v_load(kvbase, width4, 0u, tid, 1u);
    var v2 = v_load(kvbase, width4, 0u, tid, 2u);
    var v3 = v_load(kvbase, width4, 0u, tid, 3u);
    var v5 = v_load(kvbase, width4, 0u, tid, 4u);
    var v6 = v_load(kvbase, width4, 0u, tid, 5u);
    var v7 = v_load(kvbase, width4, 0u, tid, 6u);
    var v8 = v_load(kvbase, width4, 0u, tid, 7u);

    var o0 = vec4<f32>(0.0);
    var o1 = vec4<f32>(0.0);
    var o2 = vec4<f32>(0.0);
    var o3 = vec4<f32>(0.0);
    var m = vec4<f32>(neg_inf()); // running max of rows 4 ty .. 4 ty + 3
    var l = vec4<f32>(0.0); // this thread's share of their sums
    let keys = vec4<u32>(tx, tx + 16u, tx + 32u, tx + 48u);
    for (var j0 = 0u; j0 < key_end; j0 += BC) {
        k_store(tid, 0u, k0);
        k_store(tid, 1u, k1);
        k_store(tid, 2u, k2);
        k_store(tid, 3u, k3);
        k_store(tid, 4u, k5);
        k_store(tid, 5u, k6);
        k_store(tid, 6u, k7);
        k_store(tid, 7u, k8);
        workgroupBarrier();
        var s0 = vec4<f32>(0.0);
        var s1 = vec4<f32>(0.0);
        var s2 = vec4<f32>(0.0);
        var s3 = vec4<f32>(0.0);
        for (var f = 0u; f < HD; f++) {
            let qa = qt[f * 8u + ty];
            let kb = kv[f * 16u + tx];
            s0 = fma(vec4<f32>(qa.x), kb, s0);
            s1 = fma(vec4<f32>(qa.y), kb, s1);
            s2 = fma(vec4<f32>(qa.z), kb, s2);
            s3 = fma(vec4<f32>(qa.w), kb, s3);
        }
        let j = keys + vec4<u32>(j0);
        let r0 = i0 + 4u * ty;
        s0 = masked(s0, b, r0, j);
        s1 = masked(s1, b, r0 + 1u, j);
        s2 = masked(s2, b, r0 + 2u, j);
        s3 = masked(s3, b, r0 + 3u, j);
        pt[ty * 16u + tx] = vec4<f32>(max4(s0), max4(s1), max4(s2), max4(s3));
        workgroupBarrier();
        var tile_max = vec4<f32>(neg_inf());
        for (var t = 0u; t < 16u; t++) {
            tile_max = max(tile_max, pt[ty * 16u + t]);
        }
        workgroupBarrier();
        let m_new = max(m, tile_max);
        let corr = select(exp(m - m_new), vec4<f32>(1.0), m_new == vec4<f32>(neg_inf()));
        m = m_new;
        let p0 = probs(s0, m.x);
        let p1 = probs(s1, m.y);
        let p2 = probs(s2, m.z);
        let p3 = probs(s3, m.w);
        l = l * corr + vec4<f32>(dot(p0, vec4(1.0)), dot(p1, vec4(1.0)), dot(p2, vec4(1.0)), dot(p3, vec4(1.0)));
        o0 *= corr.x;
        o1 *= corr.y;
        o2 *= corr.z;
        o3 *= corr.w;
        for (var c = 0u; c < 4u; c++) {
            let key = tx + 16u * c;
            pt[key * 8u + (ty ^ (key % 8u))] = vec4<f32>(p0[c], p1[c], p2[c], p3[c]);
        }
        v_store(tid, 0u, v0);
        v_store(tid, 1u, v1);
        v_store(tid, 2u, v2);
        v_store(tid, 3u, v3);
        v_store(tid, 4u, v5);
        v_store(tid, 5u, v6);
        v_store(tid, 6u, v7);
        v_store(tid, 7u, v8);
        // The next tile travels while this one is multiplied.
        let jn = j0 + BC;
        k0 = k_load(kvbase, width4, jn, tid, 0u);
        k1 = k_load(kvbase, width4, jn, tid, 1u);
        k2 = k_load(kvbase, width4, jn, tid, 2u);
        k3 = k_load(kvbase, width4, jn, tid, 3u);
        k5 = k_load(kvbase, width4, jn, tid, 4u);
        k6 = k_load(kvbase, width4, jn, tid, 5u);
        k7 = k_load(kvbase, width4, jn, tid, 6u);
        k8 = k_load(kvbase, width4, jn, tid, 7u);
        workgroupBarrier();
        v0 = v_load(kvbase, width4, jn, tid, 0u);
        v1 = v_load(kvbase, width4, jn, tid, 1u);
        v2 = v_load(kvbase, width4, jn, tid, 2u);
        v3 = v_load(kvbase, width4, jn, tid, 3u);
        v5 = v_load(kvbase, width4, jn, tid, 4u);
        v6 = v_load(kvbase, width4, jn, tid, 5u);
        v7 = v_load(kvbase, width4, jn, tid, 6u);
        v8 = v_load(kvbase, width4, jn, tid, 7u);
        for (var jj = 0u; jj < BC; jj++) {
            let pr = pt[jj * 8u + (ty ^ (jj % 8u))];
            let vv = kv[jj * 16u + tx];
            o0 = fma(vec4<f32>(pr.x), vv, o0);
            o1 = fma(vec4<f32>(pr.y), vv, o1);
            o2 = fma(vec4<f32>(pr.z), vv, o2);
            o3 = fma(vec4<f32>(pr.w), vv, o3);
        }
        workgroupBarrier();
    }
    pt[ty * 16u + tx] = l;
    workgroupBarrier();
    var sum = vec4<f32>(0.0);
    for (var t = 0u; t < 16u; t++) {
        sum += pt[ty * 16u + t];
    }
    if tx >= d4 {
        return;
    }
    // All keys masked: zeros.
    let inv = select(vec4<f32>(0.0), 1.0 / sum, sum > vec4<f32>(0.0));
    let out = array<vec4<f32>, 4>(o0 * inv.x, o1 * inv.y, o2 * inv.z, o3 * inv.w);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + 4u * ty + r;
        if i < p.queries {
            o4[(b * p.queries + i) * width4 + h * d4 + tx] = out[r];
        }
    }
}

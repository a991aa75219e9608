// Fused attention, vectorised: the algorithm of attention.wgsl (online
// softmax over K/V tiles staged in workgroup memory, keys k0..k1 per
// dispatch, running max and sum in `state` between dispatches) with the
// head size fixed at pipeline creation (HD, a multiple of 4) and rows held
// as vec4s. Every loop over features has a constant trip count, so
// compilers unroll it and keep the query row and the running output in
// registers instead of indexed scratch memory.

struct AttentionParams {
    batch: u32, heads: u32, queries: u32, keys: u32,
    head_dim: u32, flags: u32, q_blocks: u32, scale: f32,
    k0: u32, k1: u32, _p0: u32, _p1: u32,
}

const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;
const FIRST: u32 = 32u;
const LAST: u32 = 64u;
const TK: u32 = 16u;

@group(0) @binding(0) var<uniform> p: AttentionParams;
@group(0) @binding(1) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> key_mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> o4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>; // [B*H*L][m, l]

override HD: u32 = 64u;
const DMAX4: u32 = 32u; // DMAX / 4

var<workgroup> k_tile4: array<vec4<f32>, 512>; // TK * DMAX4
var<workgroup> v_tile4: array<vec4<f32>, 512>;

@compute @workgroup_size(WG)
fn attention_fused_vec4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = flat_id(wid, nwg, 0u) / WG;
    let bh = block / p.q_blocks;
    let in_range_block = bh < p.batch * p.heads;
    let b = bh / p.heads;
    let h = bh % p.heads;
    let i0 = (block % p.q_blocks) * WG;
    let i = i0 + lid;
    let live = in_range_block && i < p.queries;
    let d4 = HD / 4u;
    let width4 = p.heads * d4;

    var qv: array<vec4<f32>, DMAX4>;
    var acc: array<vec4<f32>, DMAX4>;
    let ob = (b * p.queries + i) * width4 + h * d4;
    let row = (bh * p.queries + i) * 2u;
    let first = (p.flags & FIRST) != 0u;
    var m = -bitcast<f32>(0x7f800000u);
    var l = 0.0;
    if live {
        for (var t = 0u; t < d4; t++) {
            qv[t] = q4[ob + t] * p.scale;
            acc[t] = select(o4[ob + t], vec4<f32>(0.0), first);
        }
        if !first {
            m = state[row];
            l = state[row + 1u];
        }
    }
    var key_end = p.k1;
    if (p.flags & CAUSAL) != 0u {
        key_end = min(p.k1, min(i0 + WG, p.queries));
    }
    if !in_range_block {
        key_end = 0u;
    }
    for (var j0 = p.k0; j0 < key_end; j0 += TK) {
        let n = min(TK, p.k1 - j0);
        for (var e = lid; e < n * d4; e += WG) {
            let jj = e / d4;
            let t = e % d4;
            let src = (b * p.keys + j0 + jj) * width4 + h * d4 + t;
            k_tile4[jj * d4 + t] = k4[src];
            v_tile4[jj * d4 + t] = v4[src];
        }
        workgroupBarrier();
        if live {
            for (var jj = 0u; jj < n; jj++) {
                let j = j0 + jj;
                if (p.flags & CAUSAL) != 0u && j > i {
                    break;
                }
                if (p.flags & KEY_MASK) != 0u && key_mask[b * p.keys + j] == 0.0 {
                    continue;
                }
                var sv = vec4<f32>(0.0);
                for (var t = 0u; t < d4; t++) {
                    sv += qv[t] * k_tile4[jj * d4 + t];
                }
                let s = sv.x + sv.y + sv.z + sv.w;
                let m_new = max(m, s);
                let correction = exp(m - m_new);
                let w = exp(s - m_new);
                l = l * correction + w;
                for (var t = 0u; t < d4; t++) {
                    acc[t] = acc[t] * correction + w * v_tile4[jj * d4 + t];
                }
                m = m_new;
            }
        }
        workgroupBarrier();
    }
    if !live {
        return;
    }
    if (p.flags & LAST) == 0u {
        for (var t = 0u; t < d4; t++) {
            o4[ob + t] = acc[t];
        }
        state[row] = m;
        state[row + 1u] = l;
        return;
    }
    var inv = 0.0;
    if l > 0.0 {
        inv = 1.0 / l;
    }
    for (var t = 0u; t < d4; t++) {
        o4[ob + t] = acc[t] * inv;
    }
}

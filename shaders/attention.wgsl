// Fused scaled dot-product attention that never stores the L x S scores
// (FlashAttention's idea): a workgroup takes WG consecutive queries of one
// (batch, head); tiles of TK keys and values are staged in workgroup memory
// and each query folds them into an online softmax (running max m, running
// sum l, running output acc, rescaled whenever m grows). Q is [B, L, H*d],
// K and V are [B, S, H*d], O is [B, L, H*d]. Causal mask: key j > query i
// is skipped; key-padding mask [B, S]: 0 = skip. A query with no key left
// gets zeros.
//
// Keys k0..k1 only: a long key range is split over several dispatches
// (llvmpipe stops loops after 65535 iterations; OS watchdogs stop long
// dispatches). Between them the running max and sum live in `state` and the
// unnormalised output in `o`; the last dispatch divides by the sum.

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
const DMAX: u32 = 128u;

@group(0) @binding(0) var<uniform> p: AttentionParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> key_mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> o: array<f32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>; // [B*H*L][m, l]

var<workgroup> k_tile: array<f32, 2048>; // TK * DMAX
var<workgroup> v_tile: array<f32, 2048>;

@compute @workgroup_size(WG)
fn attention_fused(
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
    let d = p.head_dim;
    let width = p.heads * d;

    var qv: array<f32, DMAX>;
    var acc: array<f32, DMAX>;
    let ob = (b * p.queries + i) * width + h * d;
    let row = (bh * p.queries + i) * 2u;
    let first = (p.flags & FIRST) != 0u;
    var m = -bitcast<f32>(0x7f800000u);
    var l = 0.0;
    if live {
        for (var t = 0u; t < d; t++) {
            qv[t] = q[ob + t] * p.scale;
            acc[t] = select(o[ob + t], 0.0, first);
        }
        if !first {
            m = state[row];
            l = state[row + 1u];
        }
    }
    // Tiles every query of the block may need; uniform across the
    // workgroup so that the barriers are too.
    var key_end = p.k1;
    if (p.flags & CAUSAL) != 0u {
        key_end = min(p.k1, min(i0 + WG, p.queries));
    }
    if !in_range_block {
        key_end = 0u;
    }
    for (var j0 = p.k0; j0 < key_end; j0 += TK) {
        let n = min(TK, p.k1 - j0);
        for (var e = lid; e < n * d; e += WG) {
            let jj = e / d;
            let t = e % d;
            let src = (b * p.keys + j0 + jj) * width + h * d + t;
            k_tile[jj * d + t] = k[src];
            v_tile[jj * d + t] = v[src];
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
                var s = 0.0;
                for (var t = 0u; t < d; t++) {
                    s += qv[t] * k_tile[jj * d + t];
                }
                let m_new = max(m, s);
                let correction = exp(m - m_new);
                let w = exp(s - m_new);
                l = l * correction + w;
                for (var t = 0u; t < d; t++) {
                    acc[t] = acc[t] * correction + w * v_tile[jj * d + t];
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
        for (var t = 0u; t < d; t++) {
            o[ob + t] = acc[t];
        }
        state[row] = m;
        state[row + 1u] = l;
        return;
    }
    var inv = 0.0;
    if l > 0.0 {
        inv = 1.0 / l;
    }
    for (var t = 0u; t < d; t++) {
        o[ob + t] = acc[t] * inv;
    }
}


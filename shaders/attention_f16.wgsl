// requires: attention_f16_packed.wgsl
// or requires: enable-f16 attention_f16_native.wgsl
// Fused scaled dot-product attention on float16 storage: one invocation
// per (batch, head, query) folds every key into an online softmax whose
// state (running max m, running sum l, the unnormalised output) stays in
// float32 registers; only the output is rounded to float16, once. Q is
// [B, L, H*d], K and V [B, S, H*d], O [B, L, H*d], d even (a query's head
// then owns whole output words). Causal mask: key j > query i skipped;
// key-padding mask [B, S]: 0 = skipped. A query with no key gets zeros.

struct AttentionF16Params {
    batch: u32, heads: u32, queries: u32, keys: u32,
    head_dim: u32, flags: u32, scale: f32, _p0: u32,
}

const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;
const DMAX: u32 = 128u;

@group(0) @binding(0) var<uniform> p: AttentionF16Params;

@compute @workgroup_size(WG)
fn attention_f16(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = flat_id(wid, nwg, lid);
    if t >= p.batch * p.heads * p.queries {
        return;
    }
    let i = t % p.queries;
    let bh = t / p.queries;
    let h = bh % p.heads;
    let b = bh / p.heads;
    let d = p.head_dim;
    let width = p.heads * d;
    let qb = (b * p.queries + i) * width + h * d;
    var qv: array<f32, DMAX>;
    var acc: array<f32, DMAX>;
    for (var c = 0u; c < d; c++) {
        qv[c] = ld_q(qb + c);
        acc[c] = 0.0;
    }
    var m = -bitcast<f32>(0x7f800000u);
    var l = 0.0;
    for (var j = 0u; j < p.keys; j++) {
        if (p.flags & CAUSAL) != 0u && j > i {
            break;
        }
        if (p.flags & KEY_MASK) != 0u && ld_m(b * p.keys + j) == 0.0 {
            continue;
        }
        let kb = (b * p.keys + j) * width + h * d;
        var s = 0.0;
        for (var c = 0u; c < d; c++) {
            s = fma(qv[c], ld_k(kb + c), s);
        }
        s *= p.scale;
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let pj = exp(s - m_new);
        l = l * corr + pj;
        for (var c = 0u; c < d; c++) {
            acc[c] = acc[c] * corr + pj * ld_v(kb + c);
        }
        m = m_new;
    }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var c = 0u; c < d; c += 2u) {
        st_o((qb + c) / 2u, vec2<f32>(acc[c] * inv, acc[c + 1u] * inv));
    }
}

// Rotary position embedding (RoPE) on a [B, T, H*d] tensor, "rotate half"
// convention (GPT-NeoX, LLaMA): feature q of each head pairs with q + d/2,
// and the pair at position t turns by angle t * base^(-2q/d). The cos/sin
// tables [T, d/2] come from the host in f64, so no GPU sin/cos accuracy
// enters the result.

struct RopeParams {
    pairs_total: u32, tokens: u32, heads: u32, head_dim: u32,
}

@group(0) @binding(0) var<uniform> p: RopeParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn rope(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.pairs_total {
        return;
    }
    let half = p.head_dim / 2u;
    let q = i % half;
    let th = i / half; // (batch * tokens + t) * heads + h
    let t = (th / p.heads) % p.tokens;
    let base = th * p.head_dim;
    let x1 = x[base + q];
    let x2 = x[base + q + half];
    let c = cos_t[t * half + q];
    let s = sin_t[t * half + q];
    y[base + q] = x1 * c - x2 * s;
    y[base + q + half] = x2 * c + x1 * s;
}

// Float16 storage <-> float32 storage, both as u32 words, so one module
// serves every adapter and both float16 paths (the word layout is the
// same): what lets a whole model keep float16 tensors between nodes while
// an op with no float16 kernel of its own runs its float32 one on widened
// copies (exact), its result rounded once to float16 on the way back.

struct ConvertParams { total: u32, _p0: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<uniform> p: ConvertParams;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

// One float32 element per invocation from its float16 half-word.
@compute @workgroup_size(WG)
fn widen_f16(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total { return; }
    let v = unpack2x16float(src[i >> 1u]);
    dst[i] = bitcast<u32>(select(v.x, v.y, (i & 1u) != 0u));
}

// One float16 word (two elements) per invocation; `total` counts
// elements, and an odd last word's high half keeps what it held (the
// first guard element past the tensor). Past 65504 a
// value becomes infinity explicitly: pack2x16float leaves it undefined.
@compute @workgroup_size(WG)
fn narrow_f16(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = flat_id(wid, nwg, lid);
    if 2u * w >= p.total { return; }
    let lo = bitcast<f32>(src[2u * w]);
    if 2u * w + 1u < p.total {
        let hi = bitcast<f32>(src[2u * w + 1u]);
        dst[w] = pack2x16float(to_f16_range(vec2<f32>(lo, hi)));
    } else {
        let kept = unpack2x16float(dst[w]).y;
        dst[w] = pack2x16float(vec2<f32>(to_f16_range(vec2<f32>(lo, 0.0)).x, kept));
    }
}

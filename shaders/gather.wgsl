// requires: gather_f32.wgsl
// or requires: f16_words_common.wgsl gather_f16_packed.wgsl
// or requires: enable-f16 gather_f16_native.wgsl
// Gather along one axis: data seen as [outer, dim, inner], indices as a
// flat list (float-held integers, exact below 2^24); output
// [outer, count, inner]. A negative index counts from the end, as ONNX
// says; one out of range yields NaN, which the check then names. Data
// and output are read and written through the storage file in front
// (float32, or float16: a gather copies values, so nothing rounds).

struct GatherParams {
    total: u32, outer: u32, dim: u32, inner: u32,
    count: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(2) var<storage, read> idx: array<f32>;

@compute @workgroup_size(WG)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total { return; }
    let k = i % p.inner;
    let j = (i / p.inner) % p.count;
    let o = i / (p.inner * p.count);
    var t = i32(idx[j]);
    if t < 0 { t += i32(p.dim); }
    if t < 0 || t >= i32(p.dim) {
        st_y(i, bitcast<f32>(0x7fc00000u));
        return;
    }
    st_y(i, ld_data((o * p.dim + u32(t)) * p.inner + k));
}

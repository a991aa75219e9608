// requires: pool2d_common.wgsl f16_io_packed.wgsl
// or requires: enable-f16 pool2d_common.wgsl f16_io_native.wgsl
// Max and average pooling on float16 storage, float32 sums: one 32-bit
// word of the output (two outputs, possibly of two planes) per invocation,
// so no two invocations write one word. p.total counts outputs.

@compute @workgroup_size(WG)
fn pool2d_f16(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = flat_id(wid, nwg, lid);
    let e = 2u * w;
    if e >= p.total {
        return;
    }
    let both = e + 1u < p.total;
    let avg = (p.flags & 1u) != 0u;
    var v = vec2<f32>(0.0);
    v.x = select(max_window(e), avg_window(e), avg);
    if both {
        v.y = select(max_window(e + 1u), avg_window(e + 1u), avg);
    }
    st_y(w, v, both);
}

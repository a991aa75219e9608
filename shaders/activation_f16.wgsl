// requires: activation_common.wgsl f16_io_packed.wgsl
// or requires: enable-f16 activation_common.wgsl f16_io_native.wgsl
// The activations on float16 storage, float32 arithmetic: one 32-bit word
// of the output (two elements) per invocation. p.total counts elements.

@compute @workgroup_size(WG)
fn activation_f16(
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
    var v = vec2<f32>(act(ld_x(e)), 0.0);
    if both {
        v.y = act(ld_x(e + 1u));
    }
    st_y(w, v, both);
}

// requires: pool2d_common.wgsl
// Max and average pooling on float32 storage, one output per invocation.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn ld_x(i: u32) -> f32 {
    return x[i];
}

@compute @workgroup_size(WG)
fn max_pool2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total {
        return;
    }
    y[i] = max_window(i);
}

@compute @workgroup_size(WG)
fn avg_pool2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total {
        return;
    }
    y[i] = avg_window(i);
}

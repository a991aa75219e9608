// included after strided.wgsl: float32 tensors.
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn strided_map(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total { return; }
    let at = walk(i);
    let ia = at.x;
    let va = a[ia];
    y[at.w] = apply(va, b[at.y], c[at.z]);
}

// requires: strided.wgsl
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
    // The walk and the op inline, as they were measured (BENCHMARKS'
    // lavapipe copies): the float16 entry calls walk() and apply().
    var rem = i;
    var ia = i32(p.offs.x);
    var ib = i32(p.offs.y);
    var ic = i32(p.offs.z);
    var iy = i32(p.offs.w);
    for (var k = 0u; k < RANK; k++) {
        let d = RANK - 1u - k;
        let n = dim_of(d);
        let j = i32(rem % n);
        rem = rem / n;
        ia += j * p.sa[d / 4u][d % 4u];
        ib += j * p.sb[d / 4u][d % 4u];
        ic += j * p.sc[d / 4u][d % 4u];
        iy += j * p.sy[d / 4u][d % 4u];
    }
    let va = a[ia];
    let vb = b[ib];
    let vc = c[ic];
    var r: f32;
    if OPC < 40u {
        r = unary(OPC, va);
    } else if OPC < 80u {
        r = binary(OPC, va, vb);
    } else if OPC == 80u {
        r = select(vc, vb, va != 0.0);
    } else {
        r = p.alpha;
    }
    y[iy] = r;
}

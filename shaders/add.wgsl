// y = x + z, with z repeated when it is shorter than x (z's length divides
// x's): the residual add (same length) and a positional table [L, D] added
// to every sequence of a batch [B, L, D].

struct AddParams {
    total: u32, z_len: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: AddParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn add_broadcast(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i < p.total {
        y[i] = x[i] + z[i % p.z_len];
    }
}

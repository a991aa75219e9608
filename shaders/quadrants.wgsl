// Four quadrant images [4, C, h, w] (top-left, top-right, bottom-left,
// bottom-right) laid out as one image [1, C, 2h, 2w].

struct QuadrantsParams {
    channels: u32, h: u32, w: u32, total: u32,
}

@group(0) @binding(0) var<uniform> p: QuadrantsParams;
@group(0) @binding(1) var<storage, read> parts: array<f32>;
@group(0) @binding(2) var<storage, read_write> image: array<f32>;

@compute @workgroup_size(WG)
fn assemble_quadrants(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total {
        return;
    }
    let w2 = 2u * p.w;
    let h2 = 2u * p.h;
    let x = i % w2;
    let y = (i / w2) % h2;
    let c = i / (w2 * h2);
    let q = (y / p.h) * 2u + x / p.w;
    image[i] = parts[((q * p.channels + c) * p.h + y % p.h) * p.w + x % p.w];
}

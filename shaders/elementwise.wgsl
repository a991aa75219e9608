// Element-wise maps over a flat tensor.

struct ElementwiseParams {
    total: u32, plane: u32, channels: u32, flags: u32,
}

@group(0) @binding(0) var<uniform> p: ElementwiseParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn relu(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i < p.total {
        let v = x[i];
        y[i] = relu_keep_nan(v);
    }
}

// 1 where x > 0, else 0: keeps a support mask exact where repeated
// averaging would underflow.
@compute @workgroup_size(WG)
fn positive_mask(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i < p.total {
        y[i] = select(0.0, 1.0, x[i] > 0.0);
    }
}

// In place: y += bias[channel], then ReLU if flags & 2 (capped at 6 if flags & 4); the epilogue of a
// convolution computed as a plain matrix product. Here x is the bias.
@compute @workgroup_size(WG)
fn channel_bias(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i < p.total {
        var v = y[i];
        if (p.flags & 1u) != 0u {
            v += x[(i / p.plane) % p.channels];
        }
        if (p.flags & 2u) != 0u {
            v = relu_keep_nan(v);
        }
        if (p.flags & 4u) != 0u {
            v = relu6_keep_nan(v);
        }
        y[i] = v;
    }
}

// Batch norm in inference form, folded on the host: y = x * scale[c] +
// shift[c], scale = weight / sqrt(running_var + eps), shift = bias -
// running_mean * scale; `affine` holds scale for every channel, then shift.
@group(0) @binding(3) var<storage, read> affine: array<f32>;

@compute @workgroup_size(WG)
fn channel_affine(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i < p.total {
        let c = (i / p.plane) % p.channels;
        y[i] = x[i] * affine[c] + affine[p.channels + c];
    }
}

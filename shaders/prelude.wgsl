// Prepended to every kernel family. The host folds a 1-D range of
// workgroups into up to three grid dimensions when it exceeds
// max_compute_workgroups_per_dimension; flat_id undoes the fold.
override WG: u32 = 64u;

fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WG + lid;
}

// ReLU that keeps NaN, as PyTorch does. Written on the bits: drivers turn
// `select(x, 0, x < 0)` into max(x, 0), which returns 0 for NaN (seen on
// NVIDIA's Vulkan driver).
fn relu_keep_nan(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    let nan = (b & 0x7fffffffu) > 0x7f800000u;
    return select(x, 0.0, (b & 0x80000000u) != 0u && !nan);
}

// GELU, tanh form (as in GPT-2/BERT and PyTorch's approximate='tanh'). The
// argument is clamped because some tanh implementations overflow exp.
fn gelu(x: f32) -> f32 {
    let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    return 0.5 * x * (1.0 + tanh(u));
}

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
    return select(x, 0.0, (b & 0x80000000u) != 0u && !is_nan(x));
}

// ReLU6 (min(max(x, 0), 6)) that keeps NaN, on the bits for the same
// reason: a non-negative float above 6 has bits above 6's, NaN's above
// infinity's.
fn relu6_keep_nan(x: f32) -> f32 {
    let r = relu_keep_nan(x);
    let b = bitcast<u32>(r);
    return select(r, 6.0, b > 0x40c00000u && b <= 0x7f800000u);
}

// On the bits, because a compiler may fold `x != x` to false.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// GELU, tanh form (as in GPT-2/BERT and PyTorch's approximate='tanh'). The
// argument is clamped because some tanh implementations overflow exp.
fn gelu(x: f32) -> f32 {
    let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    return 0.5 * x * (1.0 + tanh(u));
}

// The argument is clamped because some tanh implementations overflow exp
// (tanh(15) is 1 in f32 anyway); clamp may turn NaN into a bound
// (llvmpipe: -15), so NaN is passed through by hand.
fn tanh_c(x: f32) -> f32 {
    return select(tanh(clamp(x, -15.0, 15.0)), x, is_nan(x));
}

// exp of a non-positive number only: never overflows.
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, x >= 0.0);
}

// The complementary error function, Numerical Recipes' erfcc: fractional
// error below 1.2e-7 for every z, and no cancellation in either tail.
fn erfc_c(z: f32) -> f32 {
    let a = abs(z);
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * exp(-a * a + poly);
    return select(2.0 - r, r, z >= 0.0);
}

// GELU, exact form (PyTorch's default, approximate='none'): x * Phi(x),
// Phi(x) = erfc(-x / sqrt(2)) / 2, so the negative tail keeps its accuracy.
fn gelu_erf(x: f32) -> f32 {
    return 0.5 * x * erfc_c(-0.7071067811865476 * x);
}

// For kernels that store float16 (f16_native.wgsl, f16_packed.wgsl).
// Past float16's range a value must become infinite, not whatever a
// conversion of an out-of-range float gives (WGSL leaves that open):
// 65520 and up round to infinity under round-to-nearest-even.
fn to_f16_range(v: vec2<f32>) -> vec2<f32> {
    let inf = bitcast<f32>(0x7f800000u);
    return select(v, sign(v) * inf, abs(v) >= vec2<f32>(65520.0));
}

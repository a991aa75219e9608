// included by: activation.wgsl, activation_f16.wgsl
// The activation layers of a conv stack, PyTorch's formulas (prelude.wgsl
// holds sigmoid, tanh_c, gelu and gelu_erf). One entry point per storage:
// the mode is uniform, so the switch costs a branch per invocation, not
// per lane.

struct ActivationParams {
    total: u32,
    // 0 sigmoid, 1 tanh, 2 SiLU, 3 exact GELU, 4 tanh GELU, 5 leaky ReLU
    mode: u32,
    slope: f32,
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: ActivationParams;

fn act(v: f32) -> f32 {
    var r: f32;
    switch p.mode {
        case 0u: { r = sigmoid(v); }
        case 1u: { r = tanh_c(v); }
        case 2u: { r = v * sigmoid(v); }
        case 3u: { r = gelu_erf(v); }
        case 4u: { r = gelu(v); }
        // NaN fails v >= 0 and stays NaN through the product.
        default: { r = select(v * p.slope, v, v >= 0.0); }
    }
    return r;
}

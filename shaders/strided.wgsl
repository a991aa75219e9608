// included by: strided_f32.wgsl strided_f16.wgsl (prepended to each).
// Element-wise maps over N-d strided views (rank <= 8): one invocation per
// output element decomposes its index by the output's dims, then reads up
// to three inputs through their own strides (0 where broadcast, negative
// for a reversed slice). One entry point serves copies (transpose, slice,
// expand, concat and pad pieces), unary and binary functions and Where:
// the op code picks the function, and unused inputs are bound to a
// placeholder read through zero strides. This file holds what both
// storage types share; strided_f32.wgsl and strided_f16.wgsl bind the
// tensors and hold the entry points.

struct StridedParams {
    total: u32, rank: u32, op: u32, flags: u32,
    alpha: f32, beta: f32, _p0: u32, _p1: u32,
    // element offsets of a, b, c and of the output's first element
    offs: vec4<u32>,
    dims: array<vec4<u32>, 2>,
    sa: array<vec4<i32>, 2>,
    sb: array<vec4<i32>, 2>,
    sc: array<vec4<i32>, 2>,
    sy: array<vec4<i32>, 2>,
}

// The op code and rank as pipeline constants: each pipeline keeps only
// its own function and an unrolled index walk (a uniform switch over
// every function ran the simplest copy at ~25 M elements/s on lavapipe).
override OPC: u32 = 0u;
override RANK: u32 = 8u;

@group(0) @binding(0) var<uniform> p: StridedParams;

fn dim_of(d: u32) -> u32 { return p.dims[d / 4u][d % 4u]; }

fn erf_c(x: f32) -> f32 {
    // 1 - erfc(|x|) keeps erfc_c's accuracy in the tails (no cancellation
    // there), and the sign comes back by symmetry.
    let r = 1.0 - erfc_c(abs(x));
    return select(r, -r, x < 0.0);
}

// Integer division of values held as exact floats: the float quotient may
// land a hair under an exact integer, so the remainder decides.
fn idiv(x: f32, d: f32) -> f32 {
    var q = trunc(x / d);
    let r = x - q * d;
    if abs(r) >= abs(d) { q = q + sign(x) * sign(d); }
    return q;
}

fn unary(op: u32, x: f32) -> f32 {
    switch op {
        case 0u: { return x; }
        case 1u: { return relu_keep_nan(x); }
        case 2u: { return sigmoid(x); }
        case 3u: { return tanh_c(x); }
        case 4u: { return erf_c(x); }
        case 5u: { return sqrt(x); }
        case 6u: { return exp(x); }
        case 7u: { return log(x); }
        case 8u: { return -x; }
        case 9u: { return abs(x); }
        case 10u: { return 1.0 / x; }
        case 11u: { return select(min(max(x, p.alpha), p.beta), x, is_nan(x)); }
        case 12u: { return select(clamp(p.alpha * x + p.beta, 0.0, 1.0), x, is_nan(x)); }
        case 13u: { return x * clamp(x / 6.0 + 0.5, 0.0, 1.0); }
        case 14u: { return select(x, p.alpha * x, x < 0.0); }
        case 15u: { return floor(x); }
        case 16u: { return ceil(x); }
        case 17u: { return select(0.0, 1.0, x == 0.0); }
        case 18u: { return trunc(x); }
        case 19u: { return select(0.0, 1.0, x != 0.0); }
        case 20u: { return gelu_erf(x); }
        case 21u: { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
        default: { return x; }
    }
}

fn binary(op: u32, x: f32, z: f32) -> f32 {
    let integer = (p.flags & 1u) != 0u;
    switch op {
        case 40u: { return x + z; }
        case 41u: { return x - z; }
        case 42u: { return x * z; }
        case 43u: { return select(x / z, idiv(x, z), integer); }
        case 44u: {
            // Squares exactly, as the reference charges them.
            if z == 2.0 { return x * x; }
            return pow(x, z);
        }
        case 45u: { return select(max(x, z), x + z, is_nan(x) || is_nan(z)); }
        case 46u: { return select(min(x, z), x + z, is_nan(x) || is_nan(z)); }
        case 47u: { return select(0.0, 1.0, x == z); }
        case 48u: { return select(0.0, 1.0, x < z); }
        case 49u: { return select(0.0, 1.0, x > z); }
        case 50u: {
            // fmod (flags & 2) keeps the dividend's sign; Mod the divisor's.
            let m = x - z * select(trunc(x / z), idiv(x, z), integer);
            let fix = (p.flags & 2u) == 0u && m != 0.0 && ((m < 0.0) != (z < 0.0));
            return select(m, m + z, fix);
        }
        case 51u: { return select(0.0, 1.0, x != 0.0 && z != 0.0); }
        case 52u: { return select(0.0, 1.0, x != 0.0 || z != 0.0); }
        default: { return x; }
    }
}

// Element offsets of a, b, c and the output for output element i.
fn walk(i: u32) -> vec4<i32> {
    var rem = i;
    var at = vec4<i32>(p.offs);
    for (var k = 0u; k < RANK; k++) {
        let d = RANK - 1u - k;
        let n = dim_of(d);
        let j = i32(rem % n);
        rem = rem / n;
        at += j * vec4<i32>(p.sa[d / 4u][d % 4u], p.sb[d / 4u][d % 4u], p.sc[d / 4u][d % 4u], p.sy[d / 4u][d % 4u]);
    }
    return at;
}

// The op's value from its (up to three) inputs.
fn apply(va: f32, vb: f32, vc: f32) -> f32 {
    if OPC < 40u {
        return unary(OPC, va);
    } else if OPC < 80u {
        return binary(OPC, va, vb);
    } else if OPC == 80u {
        return select(vc, vb, va != 0.0);
    }
    return p.alpha;
}

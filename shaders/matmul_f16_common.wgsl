// Shared by the float16 products (matmul_f16.wgsl and the texture rung's
// float16 storage, matmul_tex_f16_*.wgsl), after a float16 storage file
// that defines ld_bias: the epilogue of a float16 C. The whole reduction
// runs in one dispatch (float16 partial sums stored between dispatches
// would round them), so no partial sum is read back.
fn epilogue16(v: f32, i: u32, j: u32) -> f32 {
    var r = p.alpha * v;
    if (p.flags & BIAS) != 0u {
        r += ld_bias(select(j, i, (p.flags & BIAS_ROWS) != 0u));
    }
    if (p.flags & RELU) != 0u {
        r = relu_keep_nan(r);
    }
    if (p.flags & RELU6) != 0u {
        r = relu6_keep_nan(r);
    }
    if (p.flags & GELU) != 0u {
        r = gelu(r);
    }
    return r;
}

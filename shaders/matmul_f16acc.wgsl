// requires: enable-f16 matmul_common.wgsl f16_native.wgsl matmul_f16_common.wgsl matmul_f16.wgsl
// The f16acc rung: products and running sums in float16 arithmetic (native
// f16 only), the epilogue in float32. Faster where float16 arithmetic is;
// its error grows with K in float16's units, and the reference says so.

fn dot_f16(e: u32) -> f32 {
    let at = element(e);
    var s = 0.0h;
    for (var kk = 0u; kk < p.k; kk++) {
        s = fma(a16[a_index(at.z, at.x, kk)], b16[b_index(at.w, kk, at.y)], s);
    }
    return epilogue16(f32(s), at.x, at.y);
}

fn dot_at(e: u32) -> f32 {
    return dot_f16(e);
}

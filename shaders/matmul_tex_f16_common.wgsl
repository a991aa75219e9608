// Shared by the texture rung's float16 storage files
// (matmul_tex_f16_packed.wgsl, matmul_tex_f16_native.wgsl), which define
// st_c16, after matmul_f16_common.wgsl: the rung's stores of C.
// Four columns from j0 of row i of C (base: the batch's first element),
// each rounded once as it is stored; rows past M and columns past N are
// never written.
fn st_row(base: u32, i: u32, j0: u32, v: vec4<f32>) {
    if i >= p.m {
        return;
    }
    let row = base + i * p.ldc;
    for (var t = 0u; t < 4u; t++) {
        if j0 + t < p.n {
            st_c16(row + j0 + t, epilogue16(v[t], i, j0 + t));
        }
    }
}

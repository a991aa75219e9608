// requires: matmul_common.wgsl f16_packed.wgsl matmul_f16_common.wgsl
// or requires: enable-f16 matmul_common.wgsl f16_native.wgsl matmul_f16_common.wgsl
// The float16 twin of matmul_rb8_vec4, summed in float32: 8 rows x 4
// columns of C per invocation, every operand load four consecutive
// float16 values (two u32 words, or a vec4<f16>), so a k quad costs 12
// loads for 128 multiply-adds where the word rung (matmul_f16_rb) spends
// 5 on 8. On llvmpipe every storage load is a per-lane loop, and a wide
// load costs about what a narrow one does. Needs A and B untransposed and
// K, N, the leading dimensions and batch strides multiples of 4 (the host
// checks; C's rows are then whole word pairs, stored by one invocation).

@compute @workgroup_size(WG)
fn matmul_f16_rb8_vec4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = flat_id(wid, nwg, lid);
    if t >= p.total {
        return;
    }
    let blk = block_of(t);
    let z = blk.x;
    let i0 = blk.y * 8u;
    let j0 = blk.z * 4u;
    // Element offsets divided by 4: quad indices.
    let abase = batch_offset(z, p.a_so, p.a_si) / 4u;
    let bbase = (batch_offset(z, p.b_so, p.b_si) + j0) / 4u;
    let lda4 = p.lda / 4u;
    let ldb4 = p.ldb / 4u;
    // Rows past M read the last real row; never stored.
    let last = p.m - 1u;
    var rows: array<u32, 8>;
    for (var q = 0u; q < 8u; q++) {
        rows[q] = abase + min(i0 + q, last) * lda4;
    }
    // Named accumulators: an array indexed in a loop may live in memory.
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0); var c5 = vec4<f32>(0.0); var c6 = vec4<f32>(0.0); var c7 = vec4<f32>(0.0);
    for (var k4 = 0u; k4 < p.k / 4u; k4++) {
        let kb = bbase + k4 * 4u * ldb4;
        let b0 = ld_b4(kb);
        let b1 = ld_b4(kb + ldb4);
        let b2 = ld_b4(kb + 2u * ldb4);
        let b3 = ld_b4(kb + 3u * ldb4);
        var a = ld_a4(rows[0] + k4); c0 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c0))));
        a = ld_a4(rows[1] + k4); c1 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c1))));
        a = ld_a4(rows[2] + k4); c2 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c2))));
        a = ld_a4(rows[3] + k4); c3 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c3))));
        a = ld_a4(rows[4] + k4); c4 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c4))));
        a = ld_a4(rows[5] + k4); c5 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c5))));
        a = ld_a4(rows[6] + k4); c6 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c6))));
        a = ld_a4(rows[7] + k4); c7 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c7))));
    }
    let acc = array<vec4<f32>, 8>(c0, c1, c2, c3, c4, c5, c6, c7);
    for (var q = 0u; q < 8u; q++) {
        let i = i0 + q;
        if i >= p.m {
            break;
        }
        let v = acc[q];
        let w = ((z * p.m + i) * p.n + j0) / 2u;
        st_pair(w, vec2<f32>(epilogue16(v.x, i, j0), epilogue16(v.y, i, j0 + 1u)), true);
        st_pair(w + 1u, vec2<f32>(epilogue16(v.z, i, j0 + 2u), epilogue16(v.w, i, j0 + 3u)), true);
    }
}

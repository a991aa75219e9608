// requires: matmul_common.wgsl
// Rung 4 of the matmul ladder: register-blocked like matmul_rb4 (a 4 x 4
// block of C per invocation, four named vec4 accumulators, operands read
// straight from storage) with every load a vec4: four consecutive k of a row
// of A, four consecutive columns of a row of B. Needs A not transposed, B
// not transposed, K, N, the leading dimensions and batch strides all
// multiples of 4 (the host checks and falls back to rb4 otherwise).

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;


@compute @workgroup_size(WG)
fn matmul_rb4_vec4(
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
    let i0 = blk.y * 4u;
    let j0 = blk.z * 4u;
    // Element offsets divided by 4: vec4 indices.
    let abase = batch_offset(z, p.a_so, p.a_si) / 4u;
    let bbase = (batch_offset(z, p.b_so, p.b_si) + j0) / 4u;
    let cbase = batch_offset(z, p.c_so, p.c_si) + p.c_off;
    let lda4 = p.lda / 4u;
    let ldb4 = p.ldb / 4u;
    // Rows past the edge read the last real row; never stored.
    let r0 = abase + min(i0, p.m - 1u) * lda4;
    let r1 = abase + min(i0 + 1u, p.m - 1u) * lda4;
    let r2 = abase + min(i0 + 2u, p.m - 1u) * lda4;
    let r3 = abase + min(i0 + 3u, p.m - 1u) * lda4;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k4 = p.k0 / 4u; k4 < p.k1 / 4u; k4++) {
        let kb = bbase + k4 * 4u * ldb4;
        let b0 = b[kb];
        let b1 = b[kb + ldb4];
        let b2 = b[kb + 2u * ldb4];
        let b3 = b[kb + 3u * ldb4];
        let a0 = a[r0 + k4];
        let a1 = a[r1 + k4];
        let a2 = a[r2 + k4];
        let a3 = a[r3 + k4];
        acc0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
        acc1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
        acc2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
        acc3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
    }
    store_row(cbase, i0, j0, acc0);
    store_row(cbase, i0 + 1u, j0, acc1);
    store_row(cbase, i0 + 2u, j0, acc2);
    store_row(cbase, i0 + 3u, j0, acc3);
}

// Rung 5: the same with 8 rows per invocation (eight named vec4
// accumulators): each vec4 of B read feeds twice as many multiply-adds.
@compute @workgroup_size(WG)
fn matmul_rb8_vec4(
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
    let abase = batch_offset(z, p.a_so, p.a_si) / 4u;
    let bbase = (batch_offset(z, p.b_so, p.b_si) + j0) / 4u;
    let cbase = batch_offset(z, p.c_so, p.c_si) + p.c_off;
    let lda4 = p.lda / 4u;
    let ldb4 = p.ldb / 4u;
    let last = p.m - 1u;
    var rows: array<u32, 8>;
    for (var q = 0u; q < 8u; q++) {
        rows[q] = abase + min(i0 + q, last) * lda4;
    }
    let r0 = rows[0]; let r1 = rows[1]; let r2 = rows[2]; let r3 = rows[3];
    let r4 = rows[4]; let r5 = rows[5]; let r6 = rows[6]; let r7 = rows[7];
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0); var c5 = vec4<f32>(0.0); var c6 = vec4<f32>(0.0); var c7 = vec4<f32>(0.0);
    for (var k4 = p.k0 / 4u; k4 < p.k1 / 4u; k4++) {
        let kb = bbase + k4 * 4u * ldb4;
        let b0 = b[kb];
        let b1 = b[kb + ldb4];
        let b2 = b[kb + 2u * ldb4];
        let b3 = b[kb + 3u * ldb4];
        var a = a_at(r0 + k4); c0 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
        a = a_at(r1 + k4); c1 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
        a = a_at(r2 + k4); c2 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
        a = a_at(r3 + k4); c3 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
        a = a_at(r4 + k4); c4 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
        a = a_at(r5 + k4); c5 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
        a = a_at(r6 + k4); c6 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
        a = a_at(r7 + k4); c7 += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
    }
    store_row(cbase, i0, j0, c0);
    store_row(cbase, i0 + 1u, j0, c1);
    store_row(cbase, i0 + 2u, j0, c2);
    store_row(cbase, i0 + 3u, j0, c3);
    store_row(cbase, i0 + 4u, j0, c4);
    store_row(cbase, i0 + 5u, j0, c5);
    store_row(cbase, i0 + 6u, j0, c6);
    store_row(cbase, i0 + 7u, j0, c7);
}

fn a_at(i: u32) -> vec4<f32> {
    return a[i];
}

// Rung 7, for GPUs with real shared memory (NVIDIA, AMD, Apple): the
// classic SGEMM block. A workgroup of 256 owns a 128 x 128 tile of C; K
// advances 8 at a time through workgroup memory (A stored transposed so a
// thread reads four of its rows as one vec4); each thread keeps 8 x 8
// outputs (rows ty*4.. and ty*4+64.., columns tx*4.. and tx*4+64..: the
// split keeps neighbouring threads on neighbouring banks) in 16 named vec4
// accumulators, so 4 shared vec4 reads feed 64 multiply-adds. On lavapipe
// its barriers are coroutine switches and it loses; it is there for the
// autotuner on hardware. Same preconditions as the vec4 rungs.
var<workgroup> a_sh: array<vec4<f32>, 256>; // [8 k][32 row quads]
var<workgroup> b_sh: array<vec4<f32>, 256>; // [8 k][32 column quads]

fn a_tile(abase: u32, lda4: u32, row: u32, k: u32) -> vec4<f32> {
    // Zero past M and past this part's K (k1, a multiple of 4).
    if row >= p.m || k >= p.k1 {
        return vec4<f32>(0.0);
    }
    return a[abase + row * lda4 + k / 4u];
}

fn b_tile(bbase: u32, ldb4: u32, k: u32, col: u32) -> vec4<f32> {
    if col >= p.n || k >= p.k1 {
        return vec4<f32>(0.0);
    }
    return b[bbase + k * ldb4 + col / 4u];
}

@compute @workgroup_size(256)
fn matmul_sm128(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    // Whole workgroups leave together: the barriers stay uniform.
    let g = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if g >= p.total {
        return;
    }
    let blk = block_of(g);
    let z = blk.x;
    let m0 = blk.y * 128u;
    let n0 = blk.z * 128u;
    let abase = batch_offset(z, p.a_so, p.a_si) / 4u;
    let bbase = batch_offset(z, p.b_so, p.b_si) / 4u;
    let cbase = batch_offset(z, p.c_so, p.c_si) + p.c_off;
    let lda4 = p.lda / 4u;
    let ldb4 = p.ldb / 4u;
    let tx = tid % 16u;
    let ty = tid / 16u;
    // What this thread stages: one vec4 of A (row tid / 2, k quad tid % 2)
    // and one of B (k row tid / 32, column quad tid % 32).
    let ar = tid / 2u;
    let ak = 4u * (tid % 2u);
    let bk = tid / 32u;
    let bc = tid % 32u;
    var c00_0 = vec4<f32>(0.0); var c00_1 = vec4<f32>(0.0);
    var c01_0 = vec4<f32>(0.0); var c01_1 = vec4<f32>(0.0);
    var c02_0 = vec4<f32>(0.0); var c02_1 = vec4<f32>(0.0);
    var c03_0 = vec4<f32>(0.0); var c03_1 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0); var c10_1 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0); var c11_1 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0); var c12_1 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0); var c13_1 = vec4<f32>(0.0);
    for (var k0 = p.k0; k0 < p.k1; k0 += 8u) {
        let av = a_tile(abase, lda4, m0 + ar, k0 + ak);
        // Transposed: a_sh[k][row quad][row % 4].
        for (var c = 0u; c < 4u; c++) {
            a_sh[(ak + c) * 32u + ar / 4u][ar % 4u] = av[c];
        }
        b_sh[bk * 32u + bc] = b_tile(bbase, ldb4, k0 + bk, n0 + 4u * bc);
        workgroupBarrier();
        for (var k = 0u; k < 8u; k++) {
            let a0 = a_sh[k * 32u + ty];
            let a1 = a_sh[k * 32u + ty + 16u];
            let b0 = b_sh[k * 32u + tx];
            let b1 = b_sh[k * 32u + tx + 16u];
            c00_0 = fma(vec4<f32>(a0.x), b0, c00_0);
            c00_1 = fma(vec4<f32>(a0.x), b1, c00_1);
            c01_0 = fma(vec4<f32>(a0.y), b0, c01_0);
            c01_1 = fma(vec4<f32>(a0.y), b1, c01_1);
            c02_0 = fma(vec4<f32>(a0.z), b0, c02_0);
            c02_1 = fma(vec4<f32>(a0.z), b1, c02_1);
            c03_0 = fma(vec4<f32>(a0.w), b0, c03_0);
            c03_1 = fma(vec4<f32>(a0.w), b1, c03_1);
            c10_0 = fma(vec4<f32>(a1.x), b0, c10_0);
            c10_1 = fma(vec4<f32>(a1.x), b1, c10_1);
            c11_0 = fma(vec4<f32>(a1.y), b0, c11_0);
            c11_1 = fma(vec4<f32>(a1.y), b1, c11_1);
            c12_0 = fma(vec4<f32>(a1.z), b0, c12_0);
            c12_1 = fma(vec4<f32>(a1.z), b1, c12_1);
            c13_0 = fma(vec4<f32>(a1.w), b0, c13_0);
            c13_1 = fma(vec4<f32>(a1.w), b1, c13_1);
        }
        workgroupBarrier();
    }
    store_row(cbase, m0 + ty * 4u + 0u, n0 + tx * 4u + 0u, c00_0);
    store_row(cbase, m0 + ty * 4u + 0u, n0 + tx * 4u + 64u, c00_1);
    store_row(cbase, m0 + ty * 4u + 1u, n0 + tx * 4u + 0u, c01_0);
    store_row(cbase, m0 + ty * 4u + 1u, n0 + tx * 4u + 64u, c01_1);
    store_row(cbase, m0 + ty * 4u + 2u, n0 + tx * 4u + 0u, c02_0);
    store_row(cbase, m0 + ty * 4u + 2u, n0 + tx * 4u + 64u, c02_1);
    store_row(cbase, m0 + ty * 4u + 3u, n0 + tx * 4u + 0u, c03_0);
    store_row(cbase, m0 + ty * 4u + 3u, n0 + tx * 4u + 64u, c03_1);
    store_row(cbase, m0 + ty * 4u + 64u, n0 + tx * 4u + 0u, c10_0);
    store_row(cbase, m0 + ty * 4u + 64u, n0 + tx * 4u + 64u, c10_1);
    store_row(cbase, m0 + ty * 4u + 65u, n0 + tx * 4u + 0u, c11_0);
    store_row(cbase, m0 + ty * 4u + 65u, n0 + tx * 4u + 64u, c11_1);
    store_row(cbase, m0 + ty * 4u + 66u, n0 + tx * 4u + 0u, c12_0);
    store_row(cbase, m0 + ty * 4u + 66u, n0 + tx * 4u + 64u, c12_1);
    store_row(cbase, m0 + ty * 4u + 67u, n0 + tx * 4u + 0u, c13_0);
    store_row(cbase, m0 + ty * 4u + 67u, n0 + tx * 4u + 64u, c13_1);
}

// Rung 8, sm128 for GPUs that hide latency poorly with one tile in flight:
// K advances 16 at a time (half the barriers per multiply-add of sm128) and
// the next step's operands are loaded into registers before this step's
// products, so global-memory latency overlaps arithmetic. 16 KiB of
// workgroup memory (fits the default limits). A is staged transposed with
// the 32 lanes of a warp on 32 consecutive rows, so its stores hit 32
// different banks. Its product and store blocks repeat sm128's on
// purpose: both kernels are the ones timed on the H200 (BENCHMARKS.md), and
// folding the blocks into helpers over a struct of accumulators would need
// a new measurement on such a card to show the driver still keeps them in
// registers.
var<workgroup> ap_sh: array<vec4<f32>, 512>; // [16 k][32 row quads]
var<workgroup> bp_sh: array<vec4<f32>, 512>; // [16 k][32 column quads]

@compute @workgroup_size(256)
fn matmul_sm128p(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let g = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if g >= p.total {
        return;
    }
    let blk = block_of(g);
    let m0 = blk.y * 128u;
    let n0 = blk.z * 128u;
    let abase = batch_offset(blk.x, p.a_so, p.a_si) / 4u;
    let bbase = batch_offset(blk.x, p.b_so, p.b_si) / 4u;
    let cbase = batch_offset(blk.x, p.c_so, p.c_si) + p.c_off;
    let lda4 = p.lda / 4u;
    let ldb4 = p.ldb / 4u;
    let tx = tid % 16u;
    let ty = tid / 16u;
    // Staging: A row tid % 128, k quads tid / 128 and 2 + tid / 128; B k
    // rows tid / 32 and 8 + tid / 32, column quad tid % 32.
    let ar = tid % 128u;
    let aq = tid / 128u;
    let bk = tid / 32u;
    let bc = tid % 32u;
    var pa0 = a_tile(abase, lda4, m0 + ar, p.k0 + 4u * aq);
    var pa1 = a_tile(abase, lda4, m0 + ar, p.k0 + 4u * aq + 8u);
    var pb0 = b_tile(bbase, ldb4, p.k0 + bk, n0 + 4u * bc);
    var pb1 = b_tile(bbase, ldb4, p.k0 + bk + 8u, n0 + 4u * bc);
    var c00_0 = vec4<f32>(0.0); var c00_1 = vec4<f32>(0.0);
    var c01_0 = vec4<f32>(0.0); var c01_1 = vec4<f32>(0.0);
    var c02_0 = vec4<f32>(0.0); var c02_1 = vec4<f32>(0.0);
    var c03_0 = vec4<f32>(0.0); var c03_1 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0); var c10_1 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0); var c11_1 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0); var c12_1 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0); var c13_1 = vec4<f32>(0.0);
    for (var k0 = p.k0; k0 < p.k1; k0 += 16u) {
        // Transposed: ap_sh[k][row quad][row % 4].
        let ka = 4u * aq;
        ap_sh[(ka + 0u) * 32u + ar / 4u][ar % 4u] = pa0.x;
        ap_sh[(ka + 1u) * 32u + ar / 4u][ar % 4u] = pa0.y;
        ap_sh[(ka + 2u) * 32u + ar / 4u][ar % 4u] = pa0.z;
        ap_sh[(ka + 3u) * 32u + ar / 4u][ar % 4u] = pa0.w;
        ap_sh[(ka + 8u) * 32u + ar / 4u][ar % 4u] = pa1.x;
        ap_sh[(ka + 9u) * 32u + ar / 4u][ar % 4u] = pa1.y;
        ap_sh[(ka + 10u) * 32u + ar / 4u][ar % 4u] = pa1.z;
        ap_sh[(ka + 11u) * 32u + ar / 4u][ar % 4u] = pa1.w;
        bp_sh[bk * 32u + bc] = pb0;
        bp_sh[(bk + 8u) * 32u + bc] = pb1;
        workgroupBarrier();
        // The next step's operands are in flight during this step's sums.
        let kn = k0 + 16u;
        pa0 = a_tile(abase, lda4, m0 + ar, kn + 4u * aq);
        pa1 = a_tile(abase, lda4, m0 + ar, kn + 4u * aq + 8u);
        pb0 = b_tile(bbase, ldb4, kn + bk, n0 + 4u * bc);
        pb1 = b_tile(bbase, ldb4, kn + bk + 8u, n0 + 4u * bc);
        for (var k = 0u; k < 16u; k++) {
            let a0 = ap_sh[k * 32u + ty];
            let a1 = ap_sh[k * 32u + ty + 16u];
            let b0 = bp_sh[k * 32u + tx];
            let b1 = bp_sh[k * 32u + tx + 16u];
            c00_0 = fma(vec4<f32>(a0.x), b0, c00_0);
            c00_1 = fma(vec4<f32>(a0.x), b1, c00_1);
            c01_0 = fma(vec4<f32>(a0.y), b0, c01_0);
            c01_1 = fma(vec4<f32>(a0.y), b1, c01_1);
            c02_0 = fma(vec4<f32>(a0.z), b0, c02_0);
            c02_1 = fma(vec4<f32>(a0.z), b1, c02_1);
            c03_0 = fma(vec4<f32>(a0.w), b0, c03_0);
            c03_1 = fma(vec4<f32>(a0.w), b1, c03_1);
            c10_0 = fma(vec4<f32>(a1.x), b0, c10_0);
            c10_1 = fma(vec4<f32>(a1.x), b1, c10_1);
            c11_0 = fma(vec4<f32>(a1.y), b0, c11_0);
            c11_1 = fma(vec4<f32>(a1.y), b1, c11_1);
            c12_0 = fma(vec4<f32>(a1.z), b0, c12_0);
            c12_1 = fma(vec4<f32>(a1.z), b1, c12_1);
            c13_0 = fma(vec4<f32>(a1.w), b0, c13_0);
            c13_1 = fma(vec4<f32>(a1.w), b1, c13_1);
        }
        workgroupBarrier();
    }
    store_row(cbase, m0 + ty * 4u + 0u, n0 + tx * 4u + 0u, c00_0);
    store_row(cbase, m0 + ty * 4u + 0u, n0 + tx * 4u + 64u, c00_1);
    store_row(cbase, m0 + ty * 4u + 1u, n0 + tx * 4u + 0u, c01_0);
    store_row(cbase, m0 + ty * 4u + 1u, n0 + tx * 4u + 64u, c01_1);
    store_row(cbase, m0 + ty * 4u + 2u, n0 + tx * 4u + 0u, c02_0);
    store_row(cbase, m0 + ty * 4u + 2u, n0 + tx * 4u + 64u, c02_1);
    store_row(cbase, m0 + ty * 4u + 3u, n0 + tx * 4u + 0u, c03_0);
    store_row(cbase, m0 + ty * 4u + 3u, n0 + tx * 4u + 64u, c03_1);
    store_row(cbase, m0 + ty * 4u + 64u, n0 + tx * 4u + 0u, c10_0);
    store_row(cbase, m0 + ty * 4u + 64u, n0 + tx * 4u + 64u, c10_1);
    store_row(cbase, m0 + ty * 4u + 65u, n0 + tx * 4u + 0u, c11_0);
    store_row(cbase, m0 + ty * 4u + 65u, n0 + tx * 4u + 64u, c11_1);
    store_row(cbase, m0 + ty * 4u + 66u, n0 + tx * 4u + 0u, c12_0);
    store_row(cbase, m0 + ty * 4u + 66u, n0 + tx * 4u + 64u, c12_1);
    store_row(cbase, m0 + ty * 4u + 67u, n0 + tx * 4u + 0u, c13_0);
    store_row(cbase, m0 + ty * 4u + 67u, n0 + tx * 4u + 64u, c13_1);
}

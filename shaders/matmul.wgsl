// requires: matmul_common.wgsl
// Batched matrix product C = act(alpha * op(A) op(B) + bias), op = optional
// transpose, with strided batches (outer x inner, so per-head slices of a
// [B, L, H*d] tensor are addressed in place, no transposes copied out).
// Register-blocked: each invocation owns a 4x4 block of C in four named
// vec4 accumulators and reads A and B straight from storage (on lavapipe
// this beat a workgroup-memory tiling ~4x). Every edge is guarded.

// Transposes are pipeline constants, so the inner loop carries no branch.
override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

// Rows and columns past the edge are clamped onto the last real one: the
// loads stay in bounds without a branch, and those results are never
// stored.
fn load_a(base: u32, i: u32, kk: u32) -> f32 {
    let r = min(i, p.m - 1u);
    if TRANS_A {
        return a[base + kk * p.lda + r];
    }
    return a[base + r * p.lda + kk];
}

fn load_b(base: u32, kk: u32, j: u32) -> f32 {
    let c = min(j, p.n - 1u);
    if TRANS_B {
        return b[base + c * p.ldb + kk];
    }
    return b[base + kk * p.ldb + c];
}


@compute @workgroup_size(WG)
fn matmul_rb4(
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
    let abase = batch_offset(z, p.a_so, p.a_si) + p.a_off;
    let bbase = batch_offset(z, p.b_so, p.b_si) + p.b_off;
    let cbase = batch_offset(z, p.c_so, p.c_si) + p.c_off;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = p.k0; kk < p.k1; kk++) {
        let bv = vec4<f32>(
            load_b(bbase, kk, j0),
            load_b(bbase, kk, j0 + 1u),
            load_b(bbase, kk, j0 + 2u),
            load_b(bbase, kk, j0 + 3u),
        );
        acc0 += load_a(abase, i0, kk) * bv;
        acc1 += load_a(abase, i0 + 1u, kk) * bv;
        acc2 += load_a(abase, i0 + 2u, kk) * bv;
        acc3 += load_a(abase, i0 + 3u, kk) * bv;
    }
    store_row(cbase, i0, j0, acc0);
    store_row(cbase, i0 + 1u, j0, acc1);
    store_row(cbase, i0 + 2u, j0, acc2);
    store_row(cbase, i0 + 3u, j0, acc3);
}

// Rung 1 of the ladder: one output per invocation, a plain loop over k.
@compute @workgroup_size(WG)
fn matmul_naive(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = flat_id(wid, nwg, lid);
    if t >= p.total {
        return;
    }
    let per_batch = p.m * p.n;
    let z = t / per_batch;
    let i = (t % per_batch) / p.n;
    let j = t % p.n;
    let abase = batch_offset(z, p.a_so, p.a_si) + p.a_off;
    let bbase = batch_offset(z, p.b_so, p.b_si) + p.b_off;
    let cbase = batch_offset(z, p.c_so, p.c_si) + p.c_off;
    var acc = 0.0;
    for (var kk = p.k0; kk < p.k1; kk++) {
        acc += load_a(abase, i, kk) * load_b(bbase, kk, j);
    }
    let ci = cbase + i * p.ldc + j;
    c[ci] = epilogue(acc, i, j, c[ci]);
}

// Rung 2: 16 x 16 output tiles per workgroup of 256, A and B tiles staged
// through workgroup memory (the classic GPU tiling; WG must be 256).
const T: u32 = 16u;
var<workgroup> a_tile: array<f32, 256>;
var<workgroup> b_tile: array<f32, 256>;

@compute @workgroup_size(WG)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tile = flat_id(wid, nwg, 0u) / WG;
    let tiles_m = (p.m + T - 1u) / T;
    let tiles_n = (p.n + T - 1u) / T;
    let z = tile / (tiles_m * tiles_n);
    let in_range = z < p.batches;
    let r = tile % (tiles_m * tiles_n);
    let i = (r / tiles_n) * T + lid / T;
    let j = (r % tiles_n) * T + lid % T;
    let abase = batch_offset(z, p.a_so, p.a_si) + p.a_off;
    let bbase = batch_offset(z, p.b_so, p.b_si) + p.b_off;
    let cbase = batch_offset(z, p.c_so, p.c_si) + p.c_off;
    var acc = 0.0;
    for (var k0 = p.k0; k0 < p.k1; k0 += T) {
        // Lanes past an edge load zeros, so the sums stay exact.
        let ka = k0 + lid % T;
        let kb = k0 + lid / T;
        a_tile[lid] = select(0.0, load_a(abase, i, ka), in_range && ka < p.k1);
        b_tile[lid] = select(0.0, load_b(bbase, kb, j), in_range && kb < p.k1);
        workgroupBarrier();
        for (var t = 0u; t < T; t++) {
            acc += a_tile[(lid / T) * T + t] * b_tile[t * T + lid % T];
        }
        workgroupBarrier();
    }
    if in_range && i < p.m && j < p.n {
        let ci = cbase + i * p.ldc + j;
        c[ci] = epilogue(acc, i, j, c[ci]);
    }
}

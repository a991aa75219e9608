// included by: matmul_f16_sum32.wgsl, matmul_f16acc.wgsl (after matmul_common.wgsl
// and a float16 storage file)
// Matrix products on float16 storage, accumulated in float32: C = act(alpha
// op(A) op(B) + bias), A, B and bias as float16 views, C a fresh contiguous
// float16 tensor. One invocation owns one 32-bit word of C (two elements,
// which may sit on different rows): the packed path writes whole words, so
// no two invocations ever share one.

override TRANS_A: bool = false;
override TRANS_B: bool = false;

fn a_index(base: u32, i: u32, kk: u32) -> u32 {
    if TRANS_A {
        return base + kk * p.lda + i;
    }
    return base + i * p.lda + kk;
}

fn b_index(base: u32, kk: u32, j: u32) -> u32 {
    if TRANS_B {
        return base + j * p.ldb + kk;
    }
    return base + kk * p.ldb + j;
}

// Element e of C (flat over batches, rows, columns): its batch, row and
// column, and the two views' bases.
fn element(e: u32) -> vec4<u32> {
    let mn = p.m * p.n;
    let z = e / mn;
    let r = e % mn;
    return vec4<u32>(r / p.n, r % p.n, batch_offset(z, p.a_so, p.a_si) + p.a_off,
                     batch_offset(z, p.b_so, p.b_si) + p.b_off);
}

fn dot_f32(e: u32) -> f32 {
    let at = element(e);
    var s = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        s = fma(ld_a(a_index(at.z, at.x, kk)), ld_b(b_index(at.w, kk, at.y)), s);
    }
    return epilogue16(s, at.x, at.y);
}

// dot_at(e), the element's product and epilogue, comes after this file:
// dot_f32 for float32 sums, or matmul_f16acc.wgsl's float16 ones.
@compute @workgroup_size(WG)
fn matmul_f16_pair(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = flat_id(wid, nwg, lid);
    if w >= p.total {
        return;
    }
    let e = 2u * w;
    let both = e + 1u < p.m * p.n * p.batches;
    var v = vec2<f32>(dot_at(e), 0.0);
    if both {
        v.y = dot_at(e + 1u);
    }
    st_pair(w, v, both);
}

// Four rows by one word (two columns) of C per invocation, when N is even
// (so a row's words are whole) and B is read untransposed with even
// strides (so its two columns are one word): per k, four A loads and one
// B word feed eight products, where the pair kernel spends four loads on
// two. tiles_m row blocks of 4 by tiles_n = N / 2 words per batch.
@compute @workgroup_size(WG)
fn matmul_f16_rb(
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
    let j = 2u * blk.z;
    let abase = batch_offset(z, p.a_so, p.a_si) + p.a_off;
    let bbase = batch_offset(z, p.b_so, p.b_si) + p.b_off;
    // Rows past M read the last real row and are never stored.
    let r0 = min(i0, p.m - 1u);
    let r1 = min(i0 + 1u, p.m - 1u);
    let r2 = min(i0 + 2u, p.m - 1u);
    let r3 = min(i0 + 3u, p.m - 1u);
    var acc0 = vec2<f32>(0.0);
    var acc1 = vec2<f32>(0.0);
    var acc2 = vec2<f32>(0.0);
    var acc3 = vec2<f32>(0.0);
    for (var kk = 0u; kk < p.k; kk++) {
        let bv = ld_b2(bbase + kk * p.ldb + j);
        acc0 = fma(vec2<f32>(ld_a(a_index(abase, r0, kk))), bv, acc0);
        acc1 = fma(vec2<f32>(ld_a(a_index(abase, r1, kk))), bv, acc1);
        acc2 = fma(vec2<f32>(ld_a(a_index(abase, r2, kk))), bv, acc2);
        acc3 = fma(vec2<f32>(ld_a(a_index(abase, r3, kk))), bv, acc3);
    }
    let acc = array<vec2<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if i < p.m {
            let v = vec2<f32>(epilogue16(acc[r].x, i, j), epilogue16(acc[r].y, i, j + 1u));
            st_pair(((z * p.m + i) * p.n + j) / 2u, v, true);
        }
    }
}

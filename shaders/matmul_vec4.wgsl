// Rung 4 of the matmul ladder: register-blocked like matmul_rb4 (a 4 x 4
// block of C per invocation, four named vec4 accumulators, operands read
// straight from storage) with every load a vec4: four consecutive k of a row
// of A, four consecutive columns of a row of B. Needs A not transposed, B
// not transposed, K, N, the leading dimensions and batch strides all
// multiples of 4 (the host checks and falls back to rb4 otherwise).

struct MatmulParams {
    m: u32, n: u32, k: u32, batch_inner: u32,
    batches: u32, flags: u32, lda: u32, ldb: u32,
    ldc: u32, a_so: u32, a_si: u32, b_so: u32,
    b_si: u32, c_so: u32, c_si: u32, tiles_n: u32,
    tiles_m: u32, total: u32, alpha: f32, k0: u32,
    k1: u32, a_off: u32, b_off: u32, c_off: u32, // offsets: see matmul.wgsl; always 0 here
}

const BIAS: u32 = 4u;
const RELU: u32 = 8u;
const GELU: u32 = 16u;
const FIRST: u32 = 32u;
const LAST: u32 = 64u;

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;


fn epilogue(v: f32, j: u32, prev: f32) -> f32 {
    var r = p.alpha * v;
    if (p.flags & FIRST) == 0u {
        r += prev;
    }
    if (p.flags & LAST) == 0u {
        return r;
    }
    if (p.flags & BIAS) != 0u {
        r += bias[j];
    }
    if (p.flags & RELU) != 0u {
        r = relu_keep_nan(r);
    }
    if (p.flags & GELU) != 0u {
        r = gelu(r);
    }
    return r;
}

fn store_row(base: u32, i: u32, j0: u32, v: vec4<f32>) {
    if i >= p.m {
        return;
    }
    let row = base + i * p.ldc;
    for (var t = 0u; t < 4u; t++) {
        if j0 + t < p.n {
            c[row + j0 + t] = epilogue(v[t], j0 + t, c[row + j0 + t]);
        }
    }
}

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
    let per_batch = p.tiles_m * p.tiles_n;
    let z = t / per_batch;
    let r = t % per_batch;
    let i0 = (r / p.tiles_n) * 4u;
    let j0 = (r % p.tiles_n) * 4u;
    let zo = z / p.batch_inner;
    let zi = z % p.batch_inner;
    // Element offsets divided by 4: vec4 indices.
    let abase = (zo * p.a_so + zi * p.a_si) / 4u;
    let bbase = (zo * p.b_so + zi * p.b_si + j0) / 4u;
    let cbase = zo * p.c_so + zi * p.c_si;
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

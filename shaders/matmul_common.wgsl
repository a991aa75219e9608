// Shared by the matmul families (matmul.wgsl, matmul_vec4.wgsl,
// matmul_tex.wgsl), which the host compiles as this file followed by theirs
// (each starts with "// requires: matmul_common.wgsl"): the params every
// product takes, and the epilogue that every rung applies to C.

struct MatmulParams {
    m: u32, n: u32, k: u32, batch_inner: u32,
    batches: u32, flags: u32, lda: u32, ldb: u32,
    ldc: u32, a_so: u32, a_si: u32, b_so: u32,
    b_si: u32, c_so: u32, c_si: u32, tiles_n: u32,
    tiles_m: u32, total: u32, alpha: f32, k0: u32,
    k1: u32, a_off: u32, b_off: u32, c_off: u32,
}
// a_off, b_off, c_off shift each operand's indices: an operand larger than
// one storage binding is bound in ranges, and the offset maps absolute row
// and k indices into the bound range (c_off also places a conv's group of
// images inside its whole output). They may wrap (u32 arithmetic is
// modular in WGSL); the final index is always inside the range.

const BIAS: u32 = 4u;
const RELU: u32 = 8u;
const GELU: u32 = 16u;
// With RELU: its output capped at 6 (ReLU6, a conv's fused Clip(0, 6)).
const RELU6: u32 = 1024u;
// A long reduction is split into dispatches over k0..k1 (llvmpipe stops
// loops after 65535 iterations; OS watchdogs stop long dispatches): the
// first writes its partial sum, later ones add to it, the last applies
// bias and activation.
const FIRST: u32 = 32u;
const LAST: u32 = 64u;
// Bias per row of C (a convolution's output channel) instead of per column.
const BIAS_ROWS: u32 = 256u;

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Element offset of batch z in an operand with (outer, inner) batch strides.
fn batch_offset(z: u32, outer: u32, inner: u32) -> u32 {
    return (z / p.batch_inner) * outer + (z % p.batch_inner) * inner;
}

// The block a flat index (invocation or workgroup) owns: its batch, row
// block and column block, with tiles_m x tiles_n blocks per batch.
fn block_of(t: u32) -> vec3<u32> {
    let per_batch = p.tiles_m * p.tiles_n;
    let r = t % per_batch;
    return vec3<u32>(t / per_batch, r / p.tiles_n, r % p.tiles_n);
}

fn epilogue(v: f32, i: u32, j: u32, prev: f32) -> f32 {
    var r = p.alpha * v;
    if (p.flags & FIRST) == 0u {
        r += prev;
    }
    if (p.flags & LAST) == 0u {
        return r;
    }
    if (p.flags & BIAS) != 0u {
        r += bias[select(j, i, (p.flags & BIAS_ROWS) != 0u)];
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

// Four columns from j0 of row i of C (base: the batch's first element);
// rows past M and columns past N are never written.
fn store_row(base: u32, i: u32, j0: u32, v: vec4<f32>) {
    if i >= p.m {
        return;
    }
    let row = base + i * p.ldc;
    for (var t = 0u; t < 4u; t++) {
        if j0 + t < p.n {
            c[row + j0 + t] = epilogue(v[t], i, j0 + t, c[row + j0 + t]);
        }
    }
}

// requires: strided.wgsl
// included after strided.wgsl: float16 tensors as u32 words (either
// float16 path: the layout is the same), any input or the output
// float32 instead where its bit says so (integers, bools and the
// placeholder stay float32-held). Two outputs share a word, and a strided
// output (a concat piece, a pad's interior) may give the two halves of one
// word to two invocations: each sets its own half with atomics, so
// neither overwrites the other's.

// Bit k: input k (a, b, c) is float16.
override F16_IN: u32 = 0u;
override F16_OUT: bool = true;

@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> c: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<atomic<u32>>;

fn half_at(w: u32, i: i32) -> f32 {
    let v = unpack2x16float(w);
    return select(v.x, v.y, (i & 1) != 0);
}

fn ld_a(i: i32) -> f32 {
    if (F16_IN & 1u) != 0u { return half_at(a[u32(i) >> 1u], i); }
    return bitcast<f32>(a[i]);
}

fn ld_b(i: i32) -> f32 {
    if (F16_IN & 2u) != 0u { return half_at(b[u32(i) >> 1u], i); }
    return bitcast<f32>(b[i]);
}

fn ld_c(i: i32) -> f32 {
    if (F16_IN & 4u) != 0u { return half_at(c[u32(i) >> 1u], i); }
    return bitcast<f32>(c[i]);
}

@compute @workgroup_size(WG)
fn strided_map_f16(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total { return; }
    let at = walk(i);
    let r = apply(ld_a(at.x), ld_b(at.y), ld_c(at.z));
    if !F16_OUT {
        atomicStore(&y[at.w], bitcast<u32>(r));
        return;
    }
    let w = u32(at.w) >> 1u;
    let bits = pack2x16float(to_f16_range(vec2<f32>(r, 0.0))) & 0xffffu;
    if (at.w & 1) != 0 {
        atomicAnd(&y[w], 0xffffu);
        atomicOr(&y[w], bits << 16u);
    } else {
        atomicAnd(&y[w], 0xffff0000u);
        atomicOr(&y[w], bits);
    }
}

// Shared by the float16 storage files that hold float16 as u32 words and
// let two invocations own the two halves of one word (rnn_f16_packed.wgsl,
// matmul_tex_f16_packed.wgsl, reduce_f16_packed.wgsl,
// gather_f16_packed.wgsl): two values per word, the first in the low half.

// Element i of the pair packed in word w.
fn half_in(w: u32, i: u32) -> f32 {
    let v = unpack2x16float(w);
    return select(v.x, v.y, (i & 1u) != 0u);
}

// The mask that keeps the other half of element i's word, and i's bits
// in place: a store is atomicAnd(mask.x) then atomicOr(mask.y), and the
// two halves' operations touch different bits, so they commute (WGSL
// passes no storage pointers to functions, so each file applies them).
fn half_bits(i: u32, v: f32) -> vec2<u32> {
    let bits = pack2x16float(to_f16_range(vec2<f32>(v, 0.0))) & 0xffffu;
    if (i & 1u) != 0u {
        return vec2<u32>(0xffffu, bits << 16u);
    }
    return vec2<u32>(0xffff0000u, bits);
}

// included by: pool2d_f16.wgsl, activation_f16.wgsl
// One float16 input and one float16 output as u32 words (every adapter):
// two values per word, the first in the low half, float32 arithmetic.
@group(0) @binding(1) var<storage, read> x16: array<u32>;
@group(0) @binding(2) var<storage, read_write> y16: array<u32>;

fn ld_x(i: u32) -> f32 {
    let v = unpack2x16float(x16[i >> 1u]);
    return select(v.x, v.y, (i & 1u) != 0u);
}

// Output elements 2w and (when `both`) 2w + 1; otherwise the high half
// keeps what it held (a guard element past the tensor).
fn st_y(w: u32, v: vec2<f32>, both: bool) {
    let s = to_f16_range(v);
    if both {
        y16[w] = pack2x16float(s);
    } else {
        y16[w] = pack2x16float(vec2<f32>(s.x, unpack2x16float(y16[w]).y));
    }
}

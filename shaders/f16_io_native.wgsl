// included by: pool2d_f16.wgsl, activation_f16.wgsl (after `enable f16;`)
// One float16 input and one float16 output as WGSL f16 (SHADER_F16).
@group(0) @binding(1) var<storage, read> x16: array<f16>;
@group(0) @binding(2) var<storage, read_write> y16: array<f16>;

fn ld_x(i: u32) -> f32 {
    return f32(x16[i]);
}

fn st_y(w: u32, v: vec2<f32>, both: bool) {
    let s = to_f16_range(v);
    y16[2u * w] = f16(s.x);
    if both {
        y16[2u * w + 1u] = f16(s.y);
    }
}

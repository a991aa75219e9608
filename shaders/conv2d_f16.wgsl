// requires: conv2d.wgsl f16_packed.wgsl
// or requires: enable-f16 conv2d.wgsl f16_native.wgsl
// (conv2d.wgsl: params and group_base; storage: x = a16, weights = b16,
// bias16, y = c16)
// 2-D convolution on float16 storage, summed in float32: the direct form,
// one 32-bit word of the output (two elements, possibly of two rows or
// channels) per invocation, every edge guarded. The whole reduction runs
// in one dispatch: float16 partial sums between dispatches would round.

fn conv_at(i: u32) -> f32 {
    let ox = i % p.ow;
    var t = i / p.ow;
    let oy = t % p.oh;
    t = t / p.oh;
    let co = t % p.cout;
    let b = t / p.cout;
    let iy0 = i32(oy * p.sh) - i32(p.ph);
    let ix0 = i32(ox * p.sw) - i32(p.pw);
    var acc = 0.0;
    let gin = p.cin / p.groups;
    let gbase = group_base(co);
    for (var ci = 0u; ci < gin; ci++) {
        let xplane = (b * p.cin + gbase + ci) * p.h;
        let wplane = (co * gin + ci) * p.kh;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky * p.dh);
            if iy < 0 || iy >= i32(p.h) {
                continue;
            }
            let xrow = (xplane + u32(iy)) * p.w;
            let wrow = (wplane + ky) * p.kw;
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = ix0 + i32(kx * p.dw);
                if ix < 0 || ix >= i32(p.w) {
                    continue;
                }
                acc = fma(ld_a(xrow + u32(ix)), ld_b(wrow + kx), acc);
            }
        }
    }
    return conv_epilogue(acc, co);
}

// Bias and ReLU (or ReLU6) of output channel co (every float16 conv kernel).
fn conv_epilogue(v: f32, co: u32) -> f32 {
    var acc = v;
    if (p.flags & 1u) != 0u {
        acc += ld_bias(co);
    }
    if (p.flags & 2u) != 0u {
        acc = relu_keep_nan(acc);
    }
    if (p.flags & 4u) != 0u {
        acc = relu6_keep_nan(acc);
    }
    return acc;
}

// p.total counts words; the elements are n * cout * oh * ow.
@compute @workgroup_size(WG)
fn conv2d_f16_pair(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = flat_id(wid, nwg, lid);
    if w >= p.total {
        return;
    }
    let e = 2u * w;
    let both = e + 1u < p.n * p.cout * p.oh * p.ow;
    var v = vec2<f32>(conv_at(e), 0.0);
    if both {
        v.y = conv_at(e + 1u);
    }
    st_pair(w, v, both);
}

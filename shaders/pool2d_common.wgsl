// included by: pool2d.wgsl, pool2d_f16.wgsl
// Max and average pooling windows over each (batch, channel) plane, with
// PyTorch's padding, dilation (max), ceil_mode and count_include_pad
// semantics; the including file supplies `ld_x` (its storage).

struct Pool2dParams {
    planes: u32, h: u32, w: u32, oh: u32,
    ow: u32, kh: u32, kw: u32, sh: u32,
    sw: u32, ph: u32, pw: u32, dh: u32,
    dw: u32, flags: u32, // bit 0: average (else max), bit 1: count_include_pad
    total: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Pool2dParams;

fn out_index(i: u32) -> vec3<u32> {
    let ox = i % p.ow;
    let t = i / p.ow;
    return vec3<u32>(t / p.oh, t % p.oh, ox);
}

fn max_window(i: u32) -> f32 {
    let o = out_index(i);
    let base = o.x * p.h * p.w;
    let iy0 = i32(o.y * p.sh) - i32(p.ph);
    let ix0 = i32(o.z * p.sw) - i32(p.pw);
    // Padding never wins a max: start below every real value.
    var m = -bitcast<f32>(0x7f800000u);
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = iy0 + i32(ky * p.dh);
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = ix0 + i32(kx * p.dw);
            if ix < 0 || ix >= i32(p.w) {
                continue;
            }
            let v = ld_x(base + u32(iy) * p.w + u32(ix));
            // NaN propagates, as in PyTorch. Tested on the bits: drivers
            // may fold `v != v` to false.
            let is_nan = (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
            if v > m || is_nan {
                m = v;
            }
        }
    }
    return m;
}

fn avg_window(i: u32) -> f32 {
    let o = out_index(i);
    let base = o.x * p.h * p.w;
    let y0 = i32(o.y * p.sh) - i32(p.ph);
    let x0 = i32(o.z * p.sw) - i32(p.pw);
    // PyTorch counts padding inside the padded input, but not the overhang
    // of a ceil_mode window past it.
    let y1 = min(y0 + i32(p.kh), i32(p.h + p.ph));
    let x1 = min(x0 + i32(p.kw), i32(p.w + p.pw));
    let padded_count = (y1 - y0) * (x1 - x0);
    let ya = max(y0, 0);
    let xa = max(x0, 0);
    let yb = min(y1, i32(p.h));
    let xb = min(x1, i32(p.w));
    var acc = 0.0;
    for (var iy = ya; iy < yb; iy++) {
        for (var ix = xa; ix < xb; ix++) {
            acc += ld_x(base + u32(iy) * p.w + u32(ix));
        }
    }
    var count = (yb - ya) * (xb - xa);
    if (p.flags & 2u) != 0u {
        count = padded_count;
    }
    return acc / f32(count);
}

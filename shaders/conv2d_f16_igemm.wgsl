// requires: conv2d.wgsl f16_packed.wgsl conv2d_f16.wgsl
// or requires: enable-f16 conv2d.wgsl f16_native.wgsl conv2d_f16.wgsl
// The conv ladder's implicit GEMM on float16 storage, summed in float32:
// 4 output channels x 4 output elements per invocation in four vec4
// accumulators, as conv2d_igemm, so a tap costs 8 or 9 loads for 16
// multiply-adds instead of the direct kernel's 2 per 1.
//
// The packed path writes whole 32-bit words (two elements), so each word
// must have one owner. Row r = (image, channel) holds elements r * P ..
// r * P + P - 1 (P = oh * ow); it owns the words that start in it. With P
// even every row is whole words. With P odd every other row starts
// mid-word: its first word holds the row before's last element, so that
// row's block 0 sums that element alone (conv_at), and the row before
// stops one short. An odd-started row's lanes are its pixels p0 - 1 ..
// p0 + 2, an even-started row's p0 .. p0 + 3; the four channels of a block
// alternate, so each tap loads five pixels and hands each channel its four.

fn x_tap(plane: u32, iy: i32, ix: i32) -> f32 {
    if iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w) {
        return 0.0;
    }
    return ld_a((plane + u32(iy)) * p.w + u32(ix));
}

// p.total counts blocks: images x channel quads x element quads.
@compute @workgroup_size(WG)
fn conv2d_f16_igemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = flat_id(wid, nwg, lid);
    if t >= p.total {
        return;
    }
    let pixels = p.oh * p.ow;
    let odd = (pixels & 1u) != 0u;
    let pblocks = (pixels + select(0u, 1u, odd) + 3u) / 4u;
    let cblocks = (p.cout + 3u) / 4u;
    let pb = t % pblocks;
    let cb = (t / pblocks) % cblocks;
    let b = t / (pblocks * cblocks);
    let p0 = pb * 4u;
    let co0 = cb * 4u;
    // Channels co0 and co0 + 2 take lanes xa, co0 + 1 and co0 + 3 lanes xb.
    let flip = odd && ((b * p.cout + co0) & 1u) != 0u;
    let shift_b = odd && !flip;
    // Window origins of pixels p0 - 1 + q, q = 0..4 (clamped into the
    // plane: a lane past either end is never stored).
    var oy: array<i32, 5>;
    var ox: array<i32, 5>;
    for (var q = 0u; q < 5u; q++) {
        let px = u32(clamp(i32(p0 + q) - 1, 0, i32(pixels) - 1));
        oy[q] = i32((px / p.ow) * p.sh) - i32(p.ph);
        ox[q] = i32((px % p.ow) * p.sw) - i32(p.pw);
    }
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let kk = p.kh * p.kw;
    let cl = p.cout - 1u;
    let wrow = p.cin * kk;
    let w0 = min(co0, cl) * wrow;
    let w1 = min(co0 + 1u, cl) * wrow;
    let w2 = min(co0 + 2u, cl) * wrow;
    let w3 = min(co0 + 3u, cl) * wrow;
    for (var ci = 0u; ci < p.cin; ci++) {
        let plane = (b * p.cin + ci) * p.h;
        for (var ky = 0u; ky < p.kh; ky++) {
            let dy = i32(ky * p.dh);
            for (var kx = 0u; kx < p.kw; kx++) {
                let dx = i32(kx * p.dw);
                let xe = vec4<f32>(
                    x_tap(plane, oy[1] + dy, ox[1] + dx),
                    x_tap(plane, oy[2] + dy, ox[2] + dx),
                    x_tap(plane, oy[3] + dy, ox[3] + dx),
                    x_tap(plane, oy[4] + dy, ox[4] + dx),
                );
                var xo = xe;
                if odd {
                    xo = vec4<f32>(x_tap(plane, oy[0] + dy, ox[0] + dx), xe.xyz);
                }
                let xa = select(xe, xo, flip);
                let xb = select(xe, xo, shift_b);
                let tap = ci * kk + ky * p.kw + kx;
                acc0 = fma(vec4<f32>(ld_b(w0 + tap)), xa, acc0);
                acc1 = fma(vec4<f32>(ld_b(w1 + tap)), xb, acc1);
                acc2 = fma(vec4<f32>(ld_b(w2 + tap)), xa, acc2);
                acc3 = fma(vec4<f32>(ld_b(w3 + tap)), xb, acc3);
            }
        }
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    let rows = p.n * p.cout;
    for (var c = 0u; c < 4u; c++) {
        let co = co0 + c;
        if co >= p.cout {
            break;
        }
        let r = b * p.cout + co;
        let base = r * pixels;
        let start = base & ~1u;
        // The row's words end where the next row's begin; the tensor's
        // last word may hold one element (the other half is a guard).
        var end = (base + pixels) & ~1u;
        if r + 1u == rows {
            end = base + pixels;
        }
        let a = accs[c];
        for (var j = 0u; j < 2u; j++) {
            let e = start + p0 + 2u * j;
            if e >= end {
                break;
            }
            var v = vec2<f32>(conv_epilogue(a[2u * j], co), conv_epilogue(a[2u * j + 1u], co));
            if e < base {
                // The row before's last element, summed alone.
                v.x = conv_at(e);
            }
            st_pair(e >> 1u, v, e + 1u < end);
        }
    }
}

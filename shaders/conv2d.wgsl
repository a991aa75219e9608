// 2-D convolution, NCHW, weights [Cout, Cin/groups, kH, kW] as in PyTorch.
// Direct form: one output element per invocation, every edge guarded, so no
// size has to be a multiple of anything.

struct Conv2dParams {
    n: u32, cin: u32, h: u32, w: u32,
    cout: u32, oh: u32, ow: u32, kh: u32,
    kw: u32, sh: u32, sw: u32, ph: u32,
    pw: u32, dh: u32, dw: u32, flags: u32, // bit 0: bias, bit 1: ReLU, bit 2: ReLU6, 32/64 below
    total: u32, ci0: u32, ci1: u32, groups: u32,
}

// Grouped convs (direct and row4 only; the block rungs run groups = 1):
// output channel co reads the Cin/groups input channels of its group, so
// channel ci of the loop (0 <= ci < Cin/groups) is input plane
// group_base(co) + ci, and its weights sit at [co, ci].
fn group_base(co: u32) -> u32 {
    return (co / (p.cout / p.groups)) * (p.cin / p.groups);
}

// Input channels ci0..ci1 only: a long reduction is split over several
// dispatches (see matmul.wgsl); the first starts from zero, the last adds
// bias and ReLU.
const FIRST: u32 = 32u;
const LAST: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Conv2dParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// The epilogue every rung shares: accumulate onto earlier channel parts,
// then bias and ReLU on the last.
fn finish(i: u32, co: u32, v: f32) {
    var acc = v;
    if (p.flags & FIRST) == 0u {
        acc += y[i];
    }
    if (p.flags & LAST) != 0u {
        if (p.flags & 1u) != 0u {
            acc += bias[co];
        }
        if (p.flags & 2u) != 0u {
            acc = relu_keep_nan(acc);
        }
        if (p.flags & 4u) != 0u {
            acc = relu6_keep_nan(acc);
        }
    }
    y[i] = acc;
}

@compute @workgroup_size(WG)
fn conv2d_direct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = flat_id(wid, nwg, lid);
    if i >= p.total {
        return;
    }
    let ox = i % p.ow;
    var t = i / p.ow;
    let oy = t % p.oh;
    t = t / p.oh;
    let co = t % p.cout;
    let b = t / p.cout;
    // Signed, because the first taps of a padded window fall before row 0.
    let iy0 = i32(oy * p.sh) - i32(p.ph);
    let ix0 = i32(ox * p.sw) - i32(p.pw);
    var acc = 0.0;
    let gin = p.cin / p.groups;
    let gbase = group_base(co);
    for (var ci = p.ci0; ci < p.ci1; ci++) {
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
                acc += x[xrow + u32(ix)] * wt[wrow + kx];
            }
        }
    }
    finish(i, co, acc);
}

// Rung 1b: four neighbouring outputs of a row per invocation. Each weight is
// read once for all four, and with stride and dilation 1 the input row
// slides through a vec4 (one new load per tap instead of four): on
// llvmpipe, where every storage read is a per-lane loop, that cuts the
// small single-channel layers of the exercise stack by about half.
fn x_at(xrow: u32, ix: i32) -> f32 {
    if ix < 0 || ix >= i32(p.w) {
        return 0.0;
    }
    return x[xrow + u32(ix)];
}

@compute @workgroup_size(WG)
fn conv2d_row4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = flat_id(wid, nwg, lid);
    if g >= p.total {
        return;
    }
    let quads = (p.ow + 3u) / 4u;
    let ox0 = (g % quads) * 4u;
    var t = g / quads;
    let oy = t % p.oh;
    t = t / p.oh;
    let co = t % p.cout;
    let b = t / p.cout;
    let iy0 = i32(oy * p.sh) - i32(p.ph);
    let ix0 = i32(ox0 * p.sw) - i32(p.pw);
    let step = i32(p.sw);
    let slide = p.sw == 1u && p.dw == 1u;
    var acc = vec4<f32>(0.0);
    let gin = p.cin / p.groups;
    let gbase = group_base(co);
    for (var ci = p.ci0; ci < p.ci1; ci++) {
        let xplane = (b * p.cin + gbase + ci) * p.h;
        let wplane = (co * gin + ci) * p.kh;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky * p.dh);
            if iy < 0 || iy >= i32(p.h) {
                continue;
            }
            let xrow = (xplane + u32(iy)) * p.w;
            let wrow = (wplane + ky) * p.kw;
            var win = vec4<f32>(x_at(xrow, ix0), x_at(xrow, ix0 + step),
                                x_at(xrow, ix0 + 2 * step), x_at(xrow, ix0 + 3 * step));
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = ix0 + i32(kx * p.dw);
                if !slide && kx > 0u {
                    win = vec4<f32>(x_at(xrow, ix), x_at(xrow, ix + step),
                                    x_at(xrow, ix + 2 * step), x_at(xrow, ix + 3 * step));
                }
                // Padding taps add nothing (not 0 * w: NaN for w = inf).
                let at = vec4<i32>(ix) + vec4<i32>(0, 1, 2, 3) * step;
                let inside = at >= vec4<i32>(0) & at < vec4<i32>(i32(p.w));
                acc += select(vec4<f32>(0.0), win * vec4<f32>(wt[wrow + kx]), inside);
                if slide {
                    win = vec4<f32>(win.yzw, x_at(xrow, ix + 4));
                }
            }
        }
    }
    let i0 = ((b * p.cout + co) * p.oh + oy) * p.ow + ox0;
    for (var j = 0u; j < 4u; j++) {
        if ox0 + j < p.ow {
            finish(i0 + j, co, acc[j]);
        }
    }
}

// Rung 2 of the conv ladder: implicit GEMM. The convolution is the product
// of the weights [Cout, Cin*kH*kW] with the (never materialised) im2col
// matrix of the input; each invocation owns a 4 x 4 block of it (4 output
// channels x 4 consecutive output pixels) in four named vec4 accumulators,
// so each tap costs 8 loads for 16 multiply-adds instead of 2 per 1.

@compute @workgroup_size(WG)
fn conv2d_igemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = flat_id(wid, nwg, lid);
    let pixels = p.oh * p.ow;
    let pblocks = (pixels + 3u) / 4u;
    let cblocks = (p.cout + 3u) / 4u;
    if t >= p.total {
        return;
    }
    let pb = t % pblocks;
    let cb = (t / pblocks) % cblocks;
    let b = t / (pblocks * cblocks);
    let p0 = pb * 4u;
    let co0 = cb * 4u;
    // The 4 pixels' window origins (pixels past the end repeat the last).
    var iy0: vec4<i32>;
    var ix0: vec4<i32>;
    for (var q = 0u; q < 4u; q++) {
        let px = min(p0 + q, pixels - 1u);
        iy0[q] = i32((px / p.ow) * p.sh) - i32(p.ph);
        ix0[q] = i32((px % p.ow) * p.sw) - i32(p.pw);
    }
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let kk = p.kh * p.kw;
    let cl = p.cout - 1u;
    for (var ci = p.ci0; ci < p.ci1; ci++) {
        let xplane = (b * p.cin + ci) * p.h;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + vec4<i32>(i32(ky * p.dh));
            let row_ok = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(i32(p.h)));
            let iyc = vec4<u32>(clamp(iy, vec4<i32>(0), vec4<i32>(i32(p.h) - 1)));
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = ix0 + vec4<i32>(i32(kx * p.dw));
                let ok = row_ok & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(i32(p.w)));
                let ixc = vec4<u32>(clamp(ix, vec4<i32>(0), vec4<i32>(i32(p.w) - 1)));
                let xv = select(vec4<f32>(0.0), vec4<f32>(
                    x[(xplane + iyc.x) * p.w + ixc.x],
                    x[(xplane + iyc.y) * p.w + ixc.y],
                    x[(xplane + iyc.z) * p.w + ixc.z],
                    x[(xplane + iyc.w) * p.w + ixc.w],
                ), ok);
                let tap = ci * kk + ky * p.kw + kx;
                acc0 += wt[min(co0, cl) * p.cin * kk + tap] * xv;
                acc1 += wt[min(co0 + 1u, cl) * p.cin * kk + tap] * xv;
                acc2 += wt[min(co0 + 2u, cl) * p.cin * kk + tap] * xv;
                acc3 += wt[min(co0 + 3u, cl) * p.cin * kk + tap] * xv;
            }
        }
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var c = 0u; c < 4u; c++) {
        let co = co0 + c;
        if co >= p.cout {
            break;
        }
        let base = (b * p.cout + co) * pixels;
        for (var q = 0u; q < 4u; q++) {
            if p0 + q < pixels {
                finish(base + p0 + q, co, accs[c][q]);
            }
        }
    }
}

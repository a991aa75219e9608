// 2-D convolution, NCHW, weights [Cout, Cin, kH, kW] as in PyTorch.
// Direct form: one output element per invocation, every edge guarded, so no
// size has to be a multiple of anything.

struct Conv2dParams {
    n: u32, cin: u32, h: u32, w: u32,
    cout: u32, oh: u32, ow: u32, kh: u32,
    kw: u32, sh: u32, sw: u32, ph: u32,
    pw: u32, dh: u32, dw: u32, flags: u32, // bit 0: bias, bit 1: ReLU, 32/64 below
    total: u32, ci0: u32, ci1: u32, _p0: u32,
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
    for (var ci = p.ci0; ci < p.ci1; ci++) {
        let xplane = (b * p.cin + ci) * p.h;
        let wplane = (co * p.cin + ci) * p.kh;
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
    if (p.flags & FIRST) == 0u {
        acc += y[i];
    }
    if (p.flags & LAST) == 0u {
        y[i] = acc;
        return;
    }
    if (p.flags & 1u) != 0u {
        acc += bias[co];
    }
    // select, not max: ReLU of NaN stays NaN, as in PyTorch.
    if (p.flags & 2u) != 0u {
        acc = select(acc, 0.0, acc < 0.0);
    }
    y[i] = acc;
}

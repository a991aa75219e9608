// Transposed 2-D convolution (the gradient of conv2d with respect to its
// input), NCHW, weights [Cin, Cout, kH, kW] as in PyTorch's ConvTranspose2d.
// Gather form: each output pixel finds the input pixels whose scattered
// taps land on it, so no two invocations write the same element.

struct ConvTranspose2dParams {
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

@group(0) @binding(0) var<uniform> p: ConvTranspose2dParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn conv_transpose2d_gather(
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
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        // Output row oy receives input row iy through tap ky when
        // oy = iy * sh - ph + ky * dh.
        let ty = i32(oy + p.ph) - i32(ky * p.dh);
        if ty < 0 || (u32(ty) % p.sh) != 0u {
            continue;
        }
        let iy = u32(ty) / p.sh;
        if iy >= p.h {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let tx = i32(ox + p.pw) - i32(kx * p.dw);
            if tx < 0 || (u32(tx) % p.sw) != 0u {
                continue;
            }
            let ix = u32(tx) / p.sw;
            if ix >= p.w {
                continue;
            }
            for (var ci = p.ci0; ci < p.ci1; ci++) {
                let xv = x[((b * p.cin + ci) * p.h + iy) * p.w + ix];
                let wv = wt[((ci * p.cout + co) * p.kh + ky) * p.kw + kx];
                acc += xv * wv;
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
    if (p.flags & 2u) != 0u {
        acc = relu_keep_nan(acc);
    }
    y[i] = acc;
}

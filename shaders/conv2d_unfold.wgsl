// The conv ladder's unfold rung, first half: im2col into a storage buffer,
// for adapters without subgroups (GL llvmpipe), where the texture rung
// cannot run and the register-blocked products (rb4, rb4_vec4) are the
// fastest thing there is. Row kk = (ci, r, s) of image z holds that tap of
// every output pixel; rows are `width` vec4s long (pixels rounded up to 4,
// the tail zero) so that the product's vec4 rung may read them, and rows
// kdim..kp are zero: K padded to a multiple of 4 for the same reason.

// The texture rung's im2col parameters (shaders/matmul_tex.wgsl): K padded
// to `kp` rows, `width` quads of pixels per row.
struct Im2colParams {
    n0: u32, cin: u32, h: u32, w: u32,
    oh: u32, ow: u32, kh: u32, kw: u32,
    sh: u32, sw: u32, ph: u32, pw: u32,
    dh: u32, dw: u32, kdim: u32, kp: u32,
    width: u32, total: u32, q0: u32, row_texels: u32,
    shift: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Im2colParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> unfolded: array<vec4<f32>>;

fn tap(plane: u32, r: u32, s: u32, pix: u32) -> f32 {
    if pix >= p.oh * p.ow {
        return 0.0;
    }
    // Signed: padding puts taps before row/column 0.
    let iy = i32((pix / p.ow) * p.sh + r * p.dh) - i32(p.ph);
    let ix = i32((pix % p.ow) * p.sw + s * p.dw) - i32(p.pw);
    if iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w) {
        return 0.0;
    }
    return x[plane * p.h * p.w + u32(iy) * p.w + u32(ix)];
}

// One invocation per four neighbouring pixels of one row: the store is one
// vec4, and on CPU adapters a workgroup's lanes walk one input row.
@compute @workgroup_size(WG)
fn conv2d_unfold(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = flat_id(wid, nwg, lid);
    if t >= p.total {
        return;
    }
    let q = t % p.width;
    let row = t / p.width;
    let kk = row % p.kp;
    let z = row / p.kp;
    if kk >= p.kdim {
        unfolded[t] = vec4<f32>(0.0);
        return;
    }
    let taps = p.kh * p.kw;
    let plane = (p.n0 + z) * p.cin + kk / taps;
    let r = (kk % taps) / p.kw;
    let s = kk % p.kw;
    // Quad q of this chunk is quad q0 + q of the image.
    let pix = 4u * (p.q0 + q);
    unfolded[t] = vec4<f32>(tap(plane, r, s, pix), tap(plane, r, s, pix + 1u),
                            tap(plane, r, s, pix + 2u), tap(plane, r, s, pix + 3u));
}

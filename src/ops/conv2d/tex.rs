//! The conv ladder's texture rung: each group of images unfolded (im2col)
//! straight into an rgba32float texture, then the same product as the
//! matmul `tex` rung with the weights [Cout, Cin*kh*kw] as A. Bias (per
//! output channel, i.e. per row of C) and ReLU ride in the product's
//! epilogue.

use super::params::Conv2d;
use crate::error::Result;
use crate::gpu::{Gpu, Plan, Step};
use crate::ops::matmul::tex::{
    a_operand, matmul_packed, packed_texture, padded_k, wrap_shift, wrapped_shape, wrapped_texture,
    TexKernels, BIAS_ROWS,
};
use crate::ops::matmul::{Activation, Matmul, View};
use crate::ops::{read, u};
use crate::tensor::Tensor;

/// Twin of `Im2colParams` in shaders/matmul_tex.wgsl and
/// shaders/conv2d_unfold.wgsl: one conv's window, the images from `n0`,
/// K (`kdim`) padded to `kp` rows, `width` quads of pixels per row, the
/// texture wrapped `row_texels` to a row into `1 << shift` texels.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Im2colParams {
    n0: u32,
    cin: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    kdim: u32,
    kp: u32,
    width: u32,
    total: u32,
    q0: u32,
    row_texels: u32,
    shift: u32,
    x_shift: u32,
    _pad: [u32; 2],
}

impl Im2colParams {
    /// The same parameters for the chunk starting at quad `q0`.
    pub(super) fn at_quad(self, q0: usize) -> Self {
        Im2colParams { q0: u(q0), ..self }
    }

    /// Every field but the counts from `conv`, `x`'s [N, C, H, W] and the
    /// output's; `total` invocations.
    pub(super) fn new(
        conv: &Conv2d,
        x: &[usize],
        out: &[usize; 4],
        rows: [usize; 3],
        n0: usize,
        total: usize,
    ) -> Self {
        let wd = &conv.window;
        let [kdim, kp, width] = rows;
        Im2colParams {
            n0: u(n0),
            cin: u(conv.in_channels),
            h: u(x[2]),
            w: u(x[3]),
            oh: u(out[2]),
            ow: u(out[3]),
            kh: u(wd.kernel[0]),
            kw: u(wd.kernel[1]),
            sh: u(wd.stride[0]),
            sw: u(wd.stride[1]),
            ph: u(wd.pad_begin[0]),
            pw: u(wd.pad_begin[1]),
            dh: u(wd.dilation[0]),
            dw: u(wd.dilation[1]),
            kdim: u(kdim),
            kp: u(kp),
            width: u(width),
            total: u(total),
            q0: 0,
            row_texels: u(width),
            shift: 0,
            x_shift: 0,
            _pad: [0; 2],
        }
    }
}

/// One chunk of an image group's pixel quads, as both unfolding rungs
/// walk them: its first quad, its quads, the output columns it holds (the
/// last quad may be part padding) and the label its steps carry.
pub(super) struct Chunk {
    pub q0: usize,
    pub quads: usize,
    pub cols: usize,
    pub label: String,
}

/// The chunks of `chunk` quads covering `quads` quads (`pixels` output
/// pixels) of images `n0..n0 + images`; one chunk, labelled by its images
/// alone, when `chunk` covers them all.
pub(super) fn chunks(
    n0: usize,
    images: usize,
    quads: usize,
    chunk: usize,
    pixels: usize,
) -> Vec<Chunk> {
    (0..quads)
        .step_by(chunk.max(1))
        .map(|q0| {
            let n = chunk.min(quads - q0);
            let cols = (4 * (q0 + n)).min(pixels) - 4 * q0;
            let label = if chunk < quads {
                format!(
                    "images {n0}..{}, pixels {}..{}",
                    n0 + images,
                    4 * q0,
                    4 * q0 + cols
                )
            } else {
                format!("images {n0}..{}", n0 + images)
            };
            Chunk {
                q0,
                quads: n,
                cols,
                label,
            }
        })
        .collect()
}

/// The unfolded texture's byte cap. With whole images per texture
/// resnet18's took ~42 MB at batch 2 (stem and layer1 ~15 MB each), most
/// of its plan.
const UNFOLD_TEXTURE_BYTES: usize = 2 << 20;

/// The unfolded texture's width: every conv's unfolded input is wrapped
/// into textures this wide (see `packed_texture`), so that a model's
/// timed plan shares one texture between all its convs.
const UNFOLD_WRAP: usize = crate::ops::matmul::tex::B_WRAP;

/// How a conv's unfolded input is laid into one texture: (images per
/// texture, texel columns per chunk). Whole images while one fits the
/// cap, else one image a chunk of pixel quads at a time. None when not
/// even one texel column of K rows fits.
fn layout(gpu: &Gpu, kp: usize, width: usize) -> Option<(usize, usize)> {
    let dim = gpu.limits.max_texture_dimension_2d as usize;
    // Texels of one texture: the cap, or what the wrapped width allows.
    let cap = (UNFOLD_TEXTURE_BYTES / 16).min(dim << wrap_shift(gpu, UNFOLD_WRAP));
    let image = width * kp;
    if kp > cap {
        None
    } else if image <= cap {
        Some((cap / image.max(1), width))
    } else {
        Some((1, (cap / kp).clamp(1, width)))
    }
}

/// Why this rung cannot run `conv` on this device, if it cannot.
pub fn unsupported(gpu: &Gpu, conv: &Conv2d, out: &[usize; 4]) -> Option<String> {
    let [kh, kw] = conv.window.kernel;
    let kp = padded_k(conv.in_channels * kh * kw);
    let width = (out[2] * out[3]).div_ceil(4);
    if conv.groups > 1 {
        Some(format!(
            "groups={} (this rung runs groups=1 only)",
            conv.groups
        ))
    } else if !gpu.features.contains(wgpu::Features::SUBGROUP) {
        Some("the adapter has no subgroup operations".into())
    } else if layout(gpu, kp, width).is_none() {
        Some(format!(
            "K = {kp} unfolded rows exceed one texture (max_texture_dimension_2d is {})",
            gpu.limits.max_texture_dimension_2d
        ))
    } else {
        None
    }
}

/// Appends the convolution of `x` into the (poisoned) output `y`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_tex(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    conv: &Conv2d,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    y: &Tensor,
    kernels: &TexKernels,
) -> Result<()> {
    let out = [y.shape[0], y.shape[1], y.shape[2], y.shape[3]];
    let [kh, kw] = conv.window.kernel;
    let kdim = conv.in_channels * kh * kw;
    let (kp, pixels) = (padded_k(kdim), out[2] * out[3]);
    let width = pixels.div_ceil(4);
    let Some((group, chunk)) = layout(gpu, kp, width) else {
        return Err(crate::error::Error::shape(
            layer,
            format!("K = {kp} unfolded rows exceed one texture; use --kernel conv2d=igemm"),
        ));
    };
    let mut group = group.clamp(1, out[0]);
    // The input, too, goes through a texture when one image's channels fit
    // (unfolding from it was ~2x faster on llvmpipe than from the buffer).
    // Its rows wrapped into the widest texture there is, so that every
    // conv's input has one texture width and shares one texture.
    let (cin, h, w) = (conv.in_channels, x.shape[2], x.shape[3]);
    let xt = match wrapped_shape(gpu, w, cin * h, usize::MAX) {
        Some((shift, _)) => {
            let dim = gpu.limits.max_texture_dimension_2d as usize;
            group = group.min((dim << shift) / (cin * h * w).max(1)).max(1);
            Some(wrapped_texture(
                gpu,
                &format!("{layer} input texels"),
                [w, group * cin * h],
                usize::MAX,
                wgpu::TextureFormat::R32Float,
            )?)
        }
        None => None,
    };
    let x_shift = xt.as_ref().map_or(0, |t| t.shift);
    let mm = |images: usize| Matmul {
        m: conv.out_channels,
        n: pixels,
        k: kdim,
        batches: [images, 1],
        trans_a: false,
        trans_b: false,
        bias: conv.bias,
        act: if conv.relu || conv.relu6 {
            Activation::Relu
        } else {
            Activation::None
        },
        alpha: 1.0,
    };
    let (a, av) = a_operand(
        gpu,
        plan,
        layer,
        &mm(1),
        (weight, View::dense(conv.out_channels, kdim, true)),
        kernels,
    )?;
    // One texture, refilled for each group of images (or chunk of one).
    let packed = packed_texture(
        gpu,
        &format!("{layer} unfolded input"),
        chunk,
        group * kp,
        UNFOLD_WRAP,
    )?;
    // The epilogue's bits (matmul_common.wgsl): bias per row, ReLU, ReLU6.
    let flags = if conv.bias { 4 | BIAS_ROWS } else { 0 }
        | if conv.relu || conv.relu6 { 8 } else { 0 }
        | if conv.relu6 { 1024 } else { 0 };
    let c = View {
        ld: pixels,
        outer: conv.out_channels * pixels,
        inner: 0,
    };
    for n0 in (0..out[0]).step_by(group) {
        let images = group.min(out[0] - n0);
        let base = Im2colParams {
            shift: packed.shift,
            x_shift,
            ..Im2colParams::new(conv, &x.shape, &out, [kdim, kp, chunk], n0, 0)
        };
        let source = match &xt {
            Some(xt) => {
                let elements = images * cin * h * w;
                plan.push(Step {
                    label: format!("{layer} (input texels {n0}..{})", n0 + images),
                    kernel: kernels.pack_x,
                    overrides: vec![],
                    params: bytemuck::bytes_of(&Im2colParams {
                        total: u(elements),
                        ..base
                    })
                    .to_vec(),
                    bindings: vec![read("x", x), xt.binding(gpu, "input texels", true)?],
                    invocations: elements as u64,
                    workgroup_size: crate::ops::workgroup_1d(gpu),
                    flops: 0,
                    bytes_moved: x.dtype.bytes(elements) + 4 * elements as u64,
                });
                xt.binding(gpu, "input texels", false)?
            }
            None => read("x", x),
        };
        for Chunk {
            q0,
            quads,
            cols,
            label: part,
        } in chunks(n0, images, width, chunk, pixels)
        {
            let texels = quads * images * kp;
            // The texture path walks each texel column in one invocation.
            let invocations = if xt.is_some() { quads * images } else { texels };
            let params = Im2colParams {
                width: u(quads),
                total: u(invocations),
                q0: u(q0),
                ..base
            };
            plan.push(Step {
                label: format!("{layer} (unfold {part})"),
                kernel: if xt.is_some() {
                    kernels.pack_im2col_tex
                } else {
                    kernels.pack_im2col
                },
                overrides: vec![],
                params: bytemuck::bytes_of(&params).to_vec(),
                bindings: vec![source.clone(), packed.binding(gpu, "unfolded", true)?],
                invocations: invocations as u64,
                workgroup_size: crate::ops::workgroup_1d(gpu),
                flops: 0,
                bytes_moved: 16 * texels as u64,
            });
            matmul_packed(
                gpu,
                plan,
                &format!("{layer} ({part})"),
                &Matmul {
                    n: cols,
                    ..mm(images)
                },
                (&a, View { outer: 0, ..av }),
                &packed,
                bias,
                (y, c),
                n0 * conv.out_channels * pixels + 4 * q0,
                flags,
                kernels,
            )?;
        }
    }
    Ok(())
}

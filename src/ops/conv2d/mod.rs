//! conv2d: parameters and GPU forward. Reference: `cpu::conv2d`.

pub mod half;
mod params;
pub mod tex;
pub mod unfold;

pub use params::*;

use super::{
    check_u32, expect_shape, kernel, part_flags, part_label, read, split_range, u, workgroup_1d,
    write,
};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::rung::{ConvRung as R, Rung};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/conv2d.wgsl"));
/// Rung 1, entry point `conv2d_direct`: one output per invocation.
pub const DIRECT: Kernel = kernel("conv2d", SOURCE, "conv2d_direct");
/// Rung 2, entry point `conv2d_igemm`: implicit GEMM, a 4 x 4 block
/// (4 channels x 4 pixels) per invocation.
pub const IGEMM: Kernel = kernel("conv2d", SOURCE, "conv2d_igemm");
/// Rung 1b, entry point `conv2d_row4`: four neighbouring outputs of a row per
/// invocation (takes groups, like direct).
pub const ROW4: Kernel = kernel("conv2d", SOURCE, "conv2d_row4");

// The ladder itself (names, entry points, order) is `rung::ConvRung`:
// one output per invocation; four neighbouring outputs of a row per
// invocation (`row4`: weights read once for four, the input row sliding
// through a vec4); implicit GEMM with 4x4 register blocks; the input
// unfolded into a texture and multiplied by the matmul `tex` rung
// (`conv2d::tex`). A 1x1, stride-1, unpadded conv is a plain matrix
// product and goes through the matmul ladder ("gemm").

/// Below this a conv's packing steps cost more than the texture rung saves.
pub(crate) const TEX_MIN_FLOPS: u64 = 16_000_000;
/// Layers from here on count as large for the tuner's picks (between its
/// 42 MFLOP and 2.4 GFLOP probes, nearer the large one: the wide stack's
/// big layers are 1.5-6.5 GFLOP).
const LARGE_FLOPS: u64 = 256_000_000;
/// On CPU adapters without subgroups convs from here on take the unfold
/// rung (measured on GL llvmpipe below).
const UNFOLD_MIN_FLOPS: u64 = 16_000_000;

fn is_pointwise(conv: &Conv2d) -> bool {
    is_one_by_one(conv) && conv.window.stride == [1, 1]
}

/// The product a 1x1 conv (output `out`) is on the gemm rung: W [Cout,
/// Cin] x x[n] [Cin, OH OW] per image (a strided one's pixels copied out
/// first).
pub(crate) fn pointwise_product(conv: &Conv2d, out: &[usize; 4]) -> super::matmul::Matmul {
    super::matmul::Matmul {
        m: conv.out_channels,
        n: out[2] * out[3],
        k: conv.in_channels,
        batches: [out[0], 1],
        trans_a: false,
        trans_b: false,
        bias: false,
        act: super::matmul::Activation::None,
        alpha: 1.0,
    }
}

/// Whether the conv takes the gemm rung (directly, or after its pixels
/// are copied out) unless a rung is forced: 1x1, unpadded, ungrouped.
pub(crate) fn is_one_by_one(conv: &Conv2d) -> bool {
    let w = &conv.window;
    w.kernel == [1, 1] && w.pad_begin == [0, 0] && w.pad_end == [0, 0] && conv.groups == 1
}

/// A strided, unpadded 1x1 conv (resnet's downsample) reads one input
/// pixel in sh x sw: those pixels copied out by a strided map (scratch),
/// which the pointwise (matmul) rung then multiplies. On lavapipe the
/// direct rungs ran resnet18's three downsample convs at ~30 ms each (the
/// pixels they read are strided, their 12.8 MFLOP under the texture
/// rung's threshold). None where a rung is forced or the conv is not one.
fn subsampled_pointwise(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    conv: &Conv2d,
    x: &Tensor,
    out: &[usize; 4],
) -> Result<Option<Tensor>> {
    let [sh, sw] = conv.window.stride;
    let applies = is_one_by_one(conv)
        && (sh, sw) != (1, 1)
        && matches!(gpu.choice(plan).conv2d, None | Some(R::Gemm));
    let (true, &[n, cin, h, wd]) = (applies, &x.shape[..]) else {
        return Ok(None);
    };
    let [_, _, oh, ow] = *out;
    let sub = Tensor::poisoned(gpu, &format!("{layer} input subsampled"), &[n, cin, oh, ow])?;
    plan.scratch.push(sub.buffer.clone());
    let src = [
        (cin * h * wd) as i64,
        (h * wd) as i64,
        (sh * wd) as i64,
        sw as i64,
    ];
    let dst = [(cin * oh * ow) as i64, (oh * ow) as i64, ow as i64, 1];
    let input = [super::strided::StridedIn {
        tensor: x,
        offset: 0,
        strides: &src,
    }];
    let label = format!("{layer} (1x1 stride {sh}x{sw}: pixels read)");
    let dims = [n, cin, oh, ow];
    super::strided::strided_forward(
        gpu, plan, &label, 0, 0, [0.0; 2], &dims, &input, &sub, 0, &dst,
    )?;
    Ok(Some(sub))
}

/// Appends the convolution to `plan`; returns the (NaN-poisoned) output.
pub fn conv2d_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    conv: &Conv2d,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let out = conv.output_shape(&x.shape, layer)?;
    expect_shape(layer, "weight", &weight.shape, &conv.weight_shape())?;
    if let Some(sub) = subsampled_pointwise(gpu, plan, layer, conv, x, &out)? {
        let pointwise = Conv2d {
            window: crate::geometry::Window {
                stride: [1, 1],
                ..conv.window
            },
            ..*conv
        };
        return conv2d_forward(gpu, plan, layer, &pointwise, &sub, weight, bias);
    }
    let bias = bias_or_dummy(gpu, layer, conv.bias, conv.out_channels, bias)?;
    for (name, shape) in [
        ("input", &x.shape[..]),
        ("weight", &weight.shape),
        ("output", &out),
    ] {
        check_u32(&format!("{layer} {name}"), shape)?;
    }
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &out)?;
    let params = conv.params(&x.shape, &out);
    let tex_ok = tex::unsupported(gpu, conv, &out).is_none();
    let unfold_ok = unfold::unsupported(gpu, conv, &out).is_none();
    // On CPU adapters the texture rung won from tens of MFLOP up (llvmpipe:
    // a 37 MFLOP layer 13.6 vs 20 ms, the wide stack ~450 vs 2205 ms); its
    // packing steps lose on the exercise stack's ~1 MFLOP layers (1.4 vs
    // 0.6 ms for the stack), so below TEX_MIN_FLOPS neither the default
    // nor the tuner's pick puts a conv there; `--kernel conv2d=tex` does.
    // (The tuner measures a 42 MFLOP conv, so its pick speaks for big ones.)
    let flops = conv.flops(&out);
    let big = flops >= TEX_MIN_FLOPS;
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    // GFLOP-scale layers take the tuner's pick for such a layer where it
    // timed one (GPUs: `conv2d_large`, a 2.4 GFLOP conv).
    // Asked only when nothing forces a rung: asking may start the tuner.
    // A cached pick no ladder knows (an older cache) counts as none.
    let tuned_for = |family| gpu.tuned_for(family, flops).and_then(|k| R::parse(&k).ok());
    let tuned = || {
        (flops >= LARGE_FLOPS)
            .then(|| tuned_for("conv2d_large"))
            .flatten()
            .or_else(|| tuned_for("conv2d"))
    };
    let grouped = conv.groups > 1;
    let rung = match gpu.choice(plan).conv2d {
        // Only the one-output rungs index channels per group; the block
        // rungs share an input tile across output channels of one group.
        Some(r @ (R::Direct | R::Row4)) if grouped => r,
        _ if grouped && cpu => R::Row4,
        _ if grouped => R::Direct,
        None | Some(R::Gemm) if is_pointwise(conv) => R::Gemm,
        Some(R::Gemm) => R::Igemm,
        Some(R::Tex) if !tex_ok => R::Igemm,
        Some(R::Unfold) if !unfold_ok => R::Igemm,
        Some(r) => r,
        None => match tuned() {
            // CPU adapters follow their measured rules whatever was tuned:
            // tex from CPU_TEX_MIN_FLOPS (its compilation repays there),
            // row4 below (llvmpipe, exercise stack: 0.41-0.68 ms against
            // igemm's 0.64-1.01 in the same runs).
            _ if cpu && tex_ok && flops >= super::CPU_TEX_MIN_FLOPS => R::Tex,
            // Without subgroups (GL) the unfold rung takes their place.
            _ if cpu && !tex_ok && unfold_ok && flops >= UNFOLD_MIN_FLOPS => R::Unfold,
            _ if cpu => R::Row4,
            Some(R::Tex) if big && tex_ok => R::Tex,
            Some(r @ (R::Direct | R::Row4)) => r,
            _ => R::Igemm,
        },
    };
    if rung == R::Gemm {
        // y[n] = W [Cout, Cin] x x[n] [Cin, H*W], the weights shared by every image.
        use super::matmul::{matmul_into, View};
        let (cin, hw) = (conv.in_channels, out[2] * out[3]);
        let mm = pointwise_product(conv, &out);
        matmul_into(
            gpu,
            plan,
            &format!("{layer} (1x1 as gemm)"),
            &mm,
            (
                weight,
                View {
                    ld: cin,
                    outer: 0,
                    inner: 0,
                },
            ),
            (
                x,
                View {
                    ld: hw,
                    outer: cin * hw,
                    inner: 0,
                },
            ),
            None,
            (
                &y,
                View {
                    ld: hw,
                    outer: conv.out_channels * hw,
                    inner: 0,
                },
            ),
        )?;
        if conv.bias || conv.act_flags() != 0 {
            // Bias per output channel (rows of C), then ReLU: a second pass.
            super::elementwise::channel_bias_forward(
                gpu,
                plan,
                layer,
                &y,
                &bias,
                conv.bias,
                conv.act_flags(),
            )?;
        }
        return Ok(y);
    }
    if rung == R::Tex {
        let kernels = crate::ops::matmul::tex::TexKernels::F32;
        tex::conv2d_tex(gpu, plan, layer, conv, x, weight, &bias, &y, &kernels)?;
        return Ok(y);
    }
    if rung == R::Unfold {
        unfold::conv2d_unfold(gpu, plan, layer, conv, x, weight, &bias, &y)?;
        return Ok(y);
    }
    let [kh, kw] = conv.window.kernel;
    let (kernel, invocations) = match rung {
        R::Row4 => (ROW4, (out[0] * out[1] * out[2] * out[3].div_ceil(4)) as u64),
        R::Igemm => {
            let blocks =
                out[0] as u64 * out[1].div_ceil(4) as u64 * (out[2] * out[3]).div_ceil(4) as u64;
            (IGEMM, blocks)
        }
        // Gemm, Tex and Unfold returned above.
        R::Direct | R::Gemm | R::Tex | R::Unfold => (DIRECT, u64::from(params.total)),
    };
    let params = Conv2dParams {
        total: u32::try_from(invocations).map_err(|_| {
            Error::shape(layer, "too many invocations for u32; use a smaller batch")
        })?,
        ..params
    };
    // Per input channel an invocation loops kh rows of kw taps.
    let parts = split_range(
        gpu,
        layer,
        conv.group_in(),
        (kh * (kw + 1) + 1) as u64,
        8,
        invocations,
    )?;
    for (n, &(c0, c1)) in parts.iter().enumerate() {
        let params = Conv2dParams {
            ci0: u(c0),
            ci1: u(c1),
            flags: params.flags | part_flags(n, parts.len()),
            ..params
        };
        plan.push(Step {
            label: part_label(
                &format!("{layer} ({rung})"),
                "channels",
                c0,
                c1,
                parts.len(),
            ),
            kernel,
            overrides: vec![],
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                read("x", x),
                read("weight", weight),
                read("bias", &bias),
                write("y", &y),
            ],
            invocations,
            workgroup_size: workgroup_1d(gpu),
            flops: conv.flops(&out) * (c1 - c0) as u64 / conv.group_in() as u64,
            bytes_moved: 4 * (x.numel() + weight.numel() + y.numel()) as u64,
        });
    }
    Ok(y)
}

/// The bias binding: the given tensor, checked, or a one-element stand-in
/// when the layer has none (a binding may not be left empty).
pub fn bias_or_dummy(
    gpu: &Gpu,
    layer: &str,
    wanted: bool,
    channels: usize,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    match (wanted, bias) {
        (true, Some(b)) => {
            expect_shape(layer, "bias", &b.shape, &[channels])?;
            Ok(b.clone())
        }
        (true, None) => Err(Error::shape(
            layer,
            "the layer has a bias but none was given",
        )),
        (false, Some(_)) => Err(Error::shape(
            layer,
            "a bias was given but the layer has bias=false",
        )),
        (false, None) => Tensor::placeholder(gpu),
    }
}

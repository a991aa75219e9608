//! 2-D convolution on float16 storage (`--dtype f16`): input, weights and
//! bias float16, the output a new float16 tensor, sums in float32.
//! Reference: `cpu::conv2d` on the float16 inputs, then
//! `cpu::half::stored_f16`.

use super::{bias_or_dummy, Conv2d};
use crate::dtype::{DType, F16Path};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::ops::matmul::tex::TexKernels;
use crate::ops::{check_u32, expect_shape, kernel_f16, read, workgroup_1d, write};
use crate::rung::ConvRung;
use crate::tensor::Tensor;

/// Direct conv on float16 storage read as u32 words (every adapter).
pub const PAIR_PACKED: Kernel = kernel_f16(
    "conv2d_f16_packed",
    shaders!("conv2d.wgsl", "f16_packed.wgsl", "conv2d_f16.wgsl"),
    "conv2d_f16_pair",
);
/// Direct conv on float16 storage read as WGSL `f16` (SHADER_F16).
pub const PAIR_NATIVE: Kernel = kernel_f16(
    "conv2d_f16_native",
    concat!(
        "enable f16;\n",
        shaders!("conv2d.wgsl", "f16_native.wgsl", "conv2d_f16.wgsl")
    ),
    "conv2d_f16_pair",
);

/// Implicit GEMM (4 channels x 4 elements) on float16 storage read as u32
/// words (every adapter).
pub const IGEMM_PACKED: Kernel = kernel_f16(
    "conv2d_f16_igemm_packed",
    shaders!(
        "conv2d.wgsl",
        "f16_packed.wgsl",
        "conv2d_f16.wgsl",
        "conv2d_f16_igemm.wgsl"
    ),
    "conv2d_f16_igemm",
);
/// Implicit GEMM on float16 storage read as WGSL `f16` (SHADER_F16).
pub const IGEMM_NATIVE: Kernel = kernel_f16(
    "conv2d_f16_igemm_native",
    concat!(
        "enable f16;\n",
        shaders!(
            "conv2d.wgsl",
            "f16_native.wgsl",
            "conv2d_f16.wgsl",
            "conv2d_f16_igemm.wgsl"
        )
    ),
    "conv2d_f16_igemm",
);

/// The float16 buffer rung a conv takes off the texture rung: the direct
/// kernel where the plan or device forces `direct` or `row4` (float16 has
/// no row4), for grouped convs (the implicit GEMM shares an input tile
/// across the channels of one group) and, untold, below 4 output channels
/// (a block's other channels would be wasted: the exercise stack's
/// one-channel layers, 1.15 against 1.49 ms packed on lavapipe); else the
/// implicit GEMM (the wide stack: 437 against 1637 ms native on lavapipe,
/// 610 against 2158 on GL; docs/host-b/f16-igemm-bench-conv.md).
pub fn buffer_rung(gpu: &Gpu, plan: &Plan, conv: &Conv2d) -> ConvRung {
    match gpu.choice(plan).conv2d {
        _ if conv.groups > 1 => ConvRung::Direct,
        Some(ConvRung::Direct | ConvRung::Row4) => ConvRung::Direct,
        None if conv.out_channels < 4 => ConvRung::Direct,
        _ => ConvRung::Igemm,
    }
}

/// Whether a float16 conv takes the texture rung (float16 in and out, the
/// textures and sums float32) rather than the direct kernel: where the
/// plan or device forces `conv2d=tex` (a model's plan does for its wide
/// convs on CPU adapters), or untold on a CPU adapter from 16 MFLOP, and
/// where the adapter can run it (subgroups, groups = 1). On lavapipe the
/// direct kernel ran resnet18's 3x3 convs at ~0.5 GFLOP/s
/// (docs/host-a/run-f16-vs-f32.md).
pub fn takes_tex(gpu: &Gpu, plan: &Plan, conv: &Conv2d, out: &[usize; 4]) -> bool {
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let wanted = match gpu.choice(plan).conv2d {
        Some(r) => r == ConvRung::Tex,
        // From 16 MFLOP, not float32's 256: below, float32 has row4, and
        // float16 only the direct kernel (~0.5 GFLOP/s on lavapipe).
        None => cpu && conv.flops(out) >= super::TEX_MIN_FLOPS,
    };
    wanted && super::tex::unsupported(gpu, conv, out).is_none()
}

/// Appends y = conv(x) (+ bias, ReLU) on float16 tensors; returns y, a new
/// float16 tensor, NaN-poisoned until the plan runs. The texture rung
/// runs it where [`takes_tex`] says so, else [`buffer_rung`]'s kernel.
///
/// # Errors
///
/// [`Error::Shape`] for shapes the layer cannot take (as `conv2d_forward`),
/// tensors that are not float16, or a reduction longer than one dispatch
/// may loop; [`Error::Argument`] for the native path on an adapter without
/// `SHADER_F16`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_f16_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    conv: &Conv2d,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    path: F16Path,
) -> Result<Tensor> {
    let out = conv.output_shape(&x.shape, layer)?;
    expect_shape(layer, "weight", &weight.shape, &conv.weight_shape())?;
    let mut tensors = vec![("input", x), ("weight", weight)];
    tensors.extend(bias.map(|b| ("bias", b)));
    crate::ops::expect_f16(gpu, layer, "conv", path, &tensors)?;
    let bias = Tensor {
        dtype: DType::F16,
        ..bias_or_dummy(gpu, layer, conv.bias, conv.out_channels, bias)?
    };
    for (name, shape) in [
        ("input", &x.shape[..]),
        ("weight", &weight.shape),
        ("output", &out),
    ] {
        check_u32(&format!("{layer} {name}"), shape)?;
    }
    let taps = (conv.group_in() * conv.window.kernel[0] * conv.window.kernel[1]) as u64;
    if 2 * taps + 16 > gpu.loop_budget {
        return Err(Error::shape(
            layer,
            format!(
                "{taps} taps per output is longer than one float16 dispatch may loop here ({} iterations); use --dtype f32",
                gpu.loop_budget
            ),
        ));
    }
    let y = Tensor::poisoned_f16(gpu, &format!("{layer} output"), &out)?;
    if takes_tex(gpu, plan, conv, &out) {
        let kernels = TexKernels::of(Some(path));
        super::tex::conv2d_tex(gpu, plan, layer, conv, x, weight, &bias, &y, &kernels)?;
        return Ok(y);
    }
    let words = out.iter().product::<usize>().div_ceil(2);
    let native = path == F16Path::Native;
    let rung = buffer_rung(gpu, plan, conv);
    let (kernel, invocations) = if rung == ConvRung::Igemm {
        // Element quads per row: one more element where rows of an odd
        // pixel count start mid-word (shaders/conv2d_f16_igemm.wgsl).
        let pixels = out[2] * out[3];
        let quads = (pixels + pixels % 2).div_ceil(4) as u64;
        let blocks = out[0] as u64 * out[1].div_ceil(4) as u64 * quads;
        (if native { IGEMM_NATIVE } else { IGEMM_PACKED }, blocks)
    } else {
        (if native { PAIR_NATIVE } else { PAIR_PACKED }, words as u64)
    };
    let mut params = conv.params(&x.shape, &out);
    params.total = u32::try_from(invocations)
        .map_err(|_| Error::shape(layer, "too many invocations for u32; use a smaller batch"))?;
    let outputs = out.iter().product::<usize>() as u64;
    plan.push(Step {
        label: format!(
            "{layer} (f16 {}{})",
            if rung == ConvRung::Igemm {
                "igemm "
            } else {
                ""
            },
            if native { "native" } else { "packed" }
        ),
        kernel,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("input", x),
            read("weight", weight),
            read("bias", &bias),
            write("output", &y),
        ],
        invocations,
        workgroup_size: workgroup_1d(gpu),
        flops: conv.flops(&out),
        bytes_moved: 2 * (x.numel() + weight.numel()) as u64 + 2 * outputs,
    });
    Ok(y)
}

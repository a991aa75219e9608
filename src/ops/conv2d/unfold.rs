//! The conv ladder's unfold rung: each group of images unfolded (im2col)
//! into a storage buffer [images, Cin*kh*kw, pixels rounded up to 4], then
//! multiplied by the weights [Cout, Cin*kh*kw] through the matmul ladder's
//! register-blocked rungs. It is the texture rung's twin for adapters
//! without subgroups: on GL llvmpipe, where the texture rung cannot run,
//! resnet18's 3x3 convs took ~270 ms each on row4 and ~90 ms on igemm.

use super::params::Conv2d;
use super::tex::{chunks, Chunk, Im2colParams};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::ops::matmul::{matmul_into_at, Activation, Matmul, View};
use crate::ops::strided::{strided_forward, StridedIn};
use crate::ops::{kernel, read, workgroup_1d, write};
use crate::rung::MatmulRung;
use crate::tensor::Tensor;

const SOURCE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/shaders/conv2d_unfold.wgsl"
));
/// Entry point `conv2d_unfold`: four pixels of one unfolded row per
/// invocation.
pub const UNFOLD: Kernel = kernel("conv2d_unfold", SOURCE, "conv2d_unfold");

/// The unfolded buffer's cap: each conv layer of a plan has one (a
/// model's timed plan shares them by lifetime, the checked plan keeps
/// them all), so a layer must not hold a batch's worth: whole images
/// while they fit, else one image a chunk of pixel quads at a time
/// (resnet18's layer1 unfolds 7.2 MB an image).
const UNFOLD_BYTES: usize = 2 << 20;

/// Elements of one image's unfolded rows.
fn per_image(conv: &Conv2d, out: &[usize; 4]) -> usize {
    let [kh, kw] = conv.window.kernel;
    (conv.in_channels * kh * kw).next_multiple_of(4) * (out[2] * out[3]).next_multiple_of(4)
}

/// Why this rung cannot run `conv` on this device, if it cannot.
pub fn unsupported(gpu: &Gpu, conv: &Conv2d, out: &[usize; 4]) -> Option<String> {
    let limit = gpu.limits.max_storage_buffer_binding_size;
    let image_bytes = 4 * per_image(conv, out) as u64;
    let y_bytes = 4 * out.iter().product::<usize>() as u64;
    if conv.groups > 1 {
        Some(format!(
            "groups={} (this rung runs groups=1 only)",
            conv.groups
        ))
    } else if image_bytes > limit {
        Some(format!(
            "one image unfolds into {image_bytes} bytes, more than one binding holds ({limit})"
        ))
    } else if y_bytes > limit {
        Some(format!(
            "the output's {y_bytes} bytes exceed one binding ({limit})"
        ))
    } else {
        None
    }
}

/// Appends the convolution of `x` into the (poisoned) output `y`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_unfold(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    conv: &Conv2d,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    y: &Tensor,
) -> Result<()> {
    let out = [y.shape[0], y.shape[1], y.shape[2], y.shape[3]];
    if let Some(why) = unsupported(gpu, conv, &out) {
        return Err(Error::arg(
            "--kernel conv2d=unfold",
            format!("{layer}: {why}; use conv2d=igemm"),
        ));
    }
    let [kh, kw] = conv.window.kernel;
    let kdim = conv.in_channels * kh * kw;
    // K padded to whole quads (zero rows here, zero columns in the weights)
    // so that the vec4 rungs take every layer, resnet's 7x7x3 stem too.
    let krows = kdim.next_multiple_of(4);
    let pixels = out[2] * out[3];
    let quads = pixels.div_ceil(4);
    let image = per_image(conv, &out);
    let group = (UNFOLD_BYTES / (4 * image)).clamp(1, out[0]);
    // Quads per chunk: all of them, or as many as the cap holds.
    let chunk = if 4 * image <= UNFOLD_BYTES {
        quads
    } else {
        (UNFOLD_BYTES / (16 * krows)).clamp(1, quads)
    };
    let unfolded = Tensor::poisoned(
        gpu,
        &format!("{layer} unfolded input"),
        &[group, krows, 4 * chunk],
    )?;
    plan.scratch.push(unfolded.buffer.clone());
    let cout = conv.out_channels;
    let weight = if krows == kdim {
        weight.clone()
    } else {
        padded_columns(gpu, plan, layer, weight, cout, kdim, krows)?
    };
    let wview = View::dense(cout, krows, true);
    // On a CPU adapter, unless a matmul rung is forced, the products take
    // rb8_vec4 (GL llvmpipe, resnet18: 849 ms against 1228 on rb4_vec4 and
    // 1170 on sm128p) over the tuner's pick and the size rules, which were
    // measured on single products, not on a conv's 20-odd in a row.
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let default = cpu.then_some(MatmulRung::Rb8Vec4);
    for n0 in (0..out[0]).step_by(group) {
        let images = group.min(out[0] - n0);
        for Chunk {
            q0,
            quads: cq,
            cols,
            label: part,
        } in chunks(n0, images, quads, chunk, pixels)
        {
            let total = images * krows * cq;
            let params =
                Im2colParams::new(conv, &x.shape, &out, [kdim, krows, cq], n0, total).at_quad(q0);
            plan.push(Step {
                label: format!("{layer} (unfold {part})"),
                kernel: UNFOLD,
                overrides: vec![],
                params: bytemuck::bytes_of(&params).to_vec(),
                bindings: vec![read("x", x), write("unfolded", &unfolded)],
                invocations: total as u64,
                workgroup_size: workgroup_1d(gpu),
                flops: 0,
                bytes_moved: 4 * (x.numel() / out[0] * images + 4 * total) as u64,
            });
            let mm = Matmul {
                m: conv.out_channels,
                n: cols,
                k: krows,
                batches: [images, 1],
                trans_a: false,
                trans_b: false,
                bias: false,
                act: Activation::None,
                alpha: 1.0,
            };
            matmul_into_at(
                gpu,
                plan,
                &format!("{layer} ({part})"),
                &mm,
                (&weight, wview),
                (
                    &unfolded,
                    View {
                        ld: 4 * cq,
                        outer: krows * 4 * cq,
                        inner: 0,
                    },
                ),
                None,
                (
                    y,
                    View {
                        ld: pixels,
                        outer: conv.out_channels * pixels,
                        inner: 0,
                    },
                ),
                n0 * conv.out_channels * pixels + 4 * q0,
                default,
            )?;
        }
    }
    if conv.bias || conv.act_flags() != 0 {
        // Bias per output channel (rows of C), then ReLU: a second pass.
        crate::ops::elementwise::channel_bias_forward(
            gpu,
            plan,
            layer,
            y,
            bias,
            conv.bias,
            conv.act_flags(),
        )?;
    }
    Ok(())
}

/// The weights [rows, cols] copied into zeroed [rows, padded] (two strided
/// steps: the matmul ladder's own pack step lives in the texture rung's
/// module, which needs subgroups).
fn padded_columns(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    weight: &Tensor,
    rows: usize,
    cols: usize,
    padded: usize,
) -> Result<Tensor> {
    let y = Tensor::poisoned(gpu, &format!("{layer} weights padded"), &[rows, padded])?;
    plan.scratch.push(y.buffer.clone());
    let (full, ys) = ([rows, padded], [padded as i64, 1]);
    let fill = format!("{layer} (weights padded: zero)");
    strided_forward(gpu, plan, &fill, 90, 0, [0.0; 2], &full, &[], &y, 0, &ys)?;
    let src = [cols as i64, 1];
    let copy = [StridedIn {
        tensor: weight,
        offset: 0,
        strides: &src,
    }];
    let label = format!("{layer} (weights padded: copy)");
    strided_forward(
        gpu,
        plan,
        &label,
        0,
        0,
        [0.0; 2],
        &[rows, cols],
        &copy,
        &y,
        0,
        &ys,
    )?;
    Ok(y)
}

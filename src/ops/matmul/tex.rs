//! The texture rung of the matmul ladder (`tex`): B packed into an
//! rgba32float texture by one step, then a product whose A rows are shared
//! across each subgroup by shuffles. Built for llvmpipe, where a texel fetch
//! (storage-texture load) is a straight-line gather but a storage read with per-lane addresses is a
//! branchy scalar loop per lane and component (Mesa 22.3 lp_bld_nir_soa.c);
//! there it was ~4x faster than rb4_vec4 at 1024 (BENCHMARKS.md). Other
//! adapters get it only when the autotuner measures it faster.
//!
//! The shader is generated (scripts/gen_matmul_tex.py): 16 rows x 8 columns
//! of C per invocation in 32 named vec4 accumulators. It reads and writes
//! buffers through accessors, so the same text runs on float16 storage
//! ([`TexKernels::F16_PACKED`], [`TexKernels::F16_NATIVE`]): the source,
//! A, C and the bias float16, the textures and every sum float32, C
//! rounded once as it is stored, and K never split (float16 partial sums
//! would round).

use super::params::{Matmul, MatmulParams, View};
use crate::dtype::{DType, F16Path};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel, Plan, Step};
use crate::ops::{kernel, kernel_f16, part_flags, part_label, read, split_range, u, write};
use crate::tensor::Tensor;
use std::sync::Arc;

const SOURCE: &str = concat!(
    super::params::matmul_source!("matmul_tex_f32.wgsl"),
    shaders!("matmul_tex.wgsl")
);
const F16_PACKED: &str = concat!(
    super::params::matmul_source!("matmul_f16_common.wgsl"),
    shaders!(
        "matmul_tex_f16_common.wgsl",
        "f16_words_common.wgsl",
        "matmul_tex_f16_packed.wgsl",
        "matmul_tex.wgsl"
    )
);
// `enable f16;` must open the module: the pipeline cache hoists it above
// the prelude.
const F16_NATIVE: &str = concat!(
    "enable f16;\n",
    super::params::matmul_source!("matmul_f16_common.wgsl"),
    shaders!(
        "matmul_tex_f16_common.wgsl",
        "matmul_tex_f16_native.wgsl",
        "matmul_tex.wgsl"
    )
);
/// Entry point `pack_b`: packs B into an rgba32float texture (4 columns
/// per texel, Kp rows per batch).
pub const PACK_B: Kernel = kernel("matmul_tex", SOURCE, "pack_b");
/// Entry point `pack_a`: copies A (transposed, strided or K not a multiple
/// of 4) into dense [batches, M, Kp], zero past K.
pub const PACK_A: Kernel = kernel("matmul_tex", SOURCE, "pack_a");
/// Entry point `pack_im2col`: unfolds a conv's input (im2col) from a
/// storage buffer into the B texture.
pub const PACK_IM2COL: Kernel = kernel("matmul_tex", SOURCE, "pack_im2col");
/// Entry point `pack_x`: copies a conv's input into an r32float texture.
pub const PACK_X: Kernel = kernel("matmul_tex", SOURCE, "pack_x");
/// Entry point `pack_im2col_tex`: im2col like `pack_im2col`, reading the
/// input from `pack_x`'s texture.
pub const PACK_IM2COL_TEX: Kernel = kernel("matmul_tex", SOURCE, "pack_im2col_tex");
/// Rung 6, entry point `matmul_tex`: C = epilogue(alpha A B) with B read
/// from the packed texture, 16 x 8 outputs per invocation.
pub const MATMUL_TEX: Kernel = kernel("matmul_tex", SOURCE, "matmul_tex");

/// The rung's entry points on one storage: float32, or float16 read as
/// words or as WGSL `f16`.
#[derive(Debug, Clone, Copy)]
pub struct TexKernels {
    /// `pack_b`: B into the texture.
    pub pack_b: Kernel,
    /// `pack_a`: A's dense copy, zero past K.
    pub pack_a: Kernel,
    /// `pack_im2col`: a conv's input unfolded from its buffer.
    pub pack_im2col: Kernel,
    /// `pack_x`: a conv's input into an r32float texture.
    pub pack_x: Kernel,
    /// `pack_im2col_tex`: the unfolding from `pack_x`'s texture.
    pub pack_im2col_tex: Kernel,
    /// `matmul_tex`: the product.
    pub matmul: Kernel,
}

macro_rules! tex_kernels {
    ($make:ident, $family:literal, $source:expr) => {
        TexKernels {
            pack_b: $make($family, $source, "pack_b"),
            pack_a: $make($family, $source, "pack_a"),
            pack_im2col: $make($family, $source, "pack_im2col"),
            pack_x: $make($family, $source, "pack_x"),
            pack_im2col_tex: $make($family, $source, "pack_im2col_tex"),
            matmul: $make($family, $source, "matmul_tex"),
        }
    };
}

impl TexKernels {
    /// Float32 storage.
    pub const F32: TexKernels = tex_kernels!(kernel, "matmul_tex", SOURCE);
    /// Float16 storage as u32 words (every adapter with subgroups).
    pub const F16_PACKED: TexKernels = TexKernels {
        // Textures only: the float32 entry serves.
        pack_im2col_tex: TexKernels::F32.pack_im2col_tex,
        ..tex_kernels!(kernel_f16, "matmul_tex_f16_packed", F16_PACKED)
    };
    /// Float16 storage as WGSL `f16` (SHADER_F16).
    pub const F16_NATIVE: TexKernels = TexKernels {
        pack_im2col_tex: TexKernels::F32.pack_im2col_tex,
        ..tex_kernels!(kernel_f16, "matmul_tex_f16_native", F16_NATIVE)
    };

    /// The kernels for float32 (`half` None) or float16 read along `half`.
    ///
    /// ```
    /// use wgsl_nn::dtype::F16Path;
    /// use wgsl_nn::ops::matmul::tex::TexKernels;
    /// assert_eq!(TexKernels::of(Some(F16Path::Packed)).matmul.family, "matmul_tex_f16_packed");
    /// assert_eq!(TexKernels::of(None).matmul.entry, "matmul_tex");
    /// ```
    pub fn of(half: Option<F16Path>) -> TexKernels {
        match half {
            None => TexKernels::F32,
            Some(F16Path::Packed) => TexKernels::F16_PACKED,
            Some(F16Path::Native) => TexKernels::F16_NATIVE,
        }
    }
}

/// Rows of C per workgroup and vec4 column groups per invocation; must match
/// scripts/gen_matmul_tex.py.
const ROWS: usize = 16;
const COLS4: usize = 2;
const TRANS_B: u32 = 128;
/// Bias indexed by the row of C (a conv's output channel), not the column.
pub const BIAS_ROWS: u32 = 256;
const TRANS_A: u32 = 512;
/// A texture this rung allocates stays under this many bytes (a conv's
/// unfolded input is packed a group of images at a time into one texture).
pub const TEXTURE_BYTES: usize = 64 << 20;

/// B as texels: `width` texels (4 columns each) by `height` rows, batch z's
/// row k at z * K + k; wrapped ([`packed_texture`]) into a texture
/// `1 << shift` texels wide.
pub struct Packed {
    /// The texture's view (rgba32float).
    pub view: Arc<wgpu::TextureView>,
    /// Texels per row (columns of B / 4, rounded up).
    pub width: usize,
    /// Texel rows: batches x K (padded).
    pub height: usize,
    /// log2 of the texture's width where the rows are wrapped
    /// ([`packed_texture`]); 0 for a plain [`storage_texture`].
    pub shift: u32,
}

/// Widest a wrapped B texture is: the conv texture rung's unfolded inputs
/// are as wide, so a model's timed plan shares one texture between its
/// convs' unfolded inputs and its products' B (mobilenet_v2's small 1x1
/// convs, resnet's downsample).
pub const B_WRAP: usize = 512;

/// How wide B's texture is wrapped for `width` texels a row: one texture
/// row per B row up to B_WRAP, wrapped at B_WRAP above.
fn b_wrap(width: usize) -> usize {
    width.next_power_of_two().min(B_WRAP)
}

/// The texture a wrapped `width` x `height` operand takes, at most `wrap`
/// texels wide (rounded down to a power of two): its shift and height,
/// or None when that height passes max_texture_dimension_2d.
pub fn wrapped_shape(gpu: &Gpu, width: usize, height: usize, wrap: usize) -> Option<(u32, usize)> {
    let shift = wrap_shift(gpu, wrap);
    let rows = (width * height).div_ceil(1 << shift).max(1);
    (rows <= gpu.limits.max_texture_dimension_2d as usize).then_some((shift, rows))
}

/// log2 of the width a texture wrapped at most `wrap` texels wide takes:
/// `wrap` rounded down to a power of two, within max_texture_dimension_2d.
pub fn wrap_shift(gpu: &Gpu, wrap: usize) -> u32 {
    let across = wrap
        .min(gpu.limits.max_texture_dimension_2d as usize)
        .max(1);
    usize::BITS - 1 - across.leading_zeros()
}

impl Packed {
    /// The binding a kernel reads (or, for the pack step, writes) it by.
    pub fn binding(&self, gpu: &Gpu, name: &str, writes: bool) -> Result<Binding> {
        Ok(Binding {
            name: name.to_string(),
            buffer: Tensor::placeholder(gpu)?.buffer,
            writes,
            range: None,
            texture: Some(self.view.clone()),
            dtype: crate::dtype::DType::F32,
        })
    }
}

/// K padded to whole quads: the texture's rows per batch.
pub fn padded_k(k: usize) -> usize {
    k.next_multiple_of(4)
}

/// Why this rung cannot run a product on this device, if it cannot.
pub fn unsupported(gpu: &Gpu, mm: &Matmul) -> Option<String> {
    let dim = gpu.limits.max_texture_dimension_2d as usize;
    let batches = mm.batches[0] * mm.batches[1];
    let (w, h) = (mm.n.div_ceil(4), batches.saturating_mul(padded_k(mm.k)));
    if !gpu.features.contains(wgpu::Features::SUBGROUP) {
        Some("the adapter has no subgroup operations".into())
    } else if wrapped_shape(gpu, w, h, b_wrap(w)).is_none() {
        Some(format!(
            "B packs into {w} x {h} texels, more than one texture holds wrapped; max_texture_dimension_2d is {dim}"
        ))
    } else {
        None
    }
}

/// A as the product reads it: the view itself when it is row-major with
/// every stride a multiple of 4, else (one step of `kernels.pack_a`) a
/// dense [*, M, Kp] copy of A's element type.
pub fn a_operand(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    a: (&Tensor, View),
    kernels: &TexKernels,
) -> Result<(Tensor, View)> {
    let v = a.1;
    if !mm.trans_a && [mm.k, v.ld, v.outer, v.inner].iter().all(|x| x % 4 == 0) {
        return Ok((a.0.clone(), v));
    }
    let kp = padded_k(mm.k);
    // Only the batches the view tells apart are copied.
    let bo = if v.outer == 0 { 1 } else { mm.batches[0] };
    let bi = if v.inner == 0 { 1 } else { mm.batches[1] };
    let dense = Tensor::poisoned_as(
        gpu,
        &format!("{layer} A padded"),
        &[bo * bi, mm.m, kp],
        a.0.dtype,
    )?;
    let total = dense.numel();
    let params = MatmulParams {
        m: u(mm.m),
        k: u(mm.k),
        batch_inner: u(bi),
        flags: if mm.trans_a { TRANS_A } else { 0 },
        lda: u(v.ld),
        a_so: u(v.outer),
        a_si: u(v.inner),
        tiles_m: u(kp),
        total: crate::ops::check_u32(&format!("{layer} A padded"), &dense.shape)?,
        ..bytemuck::Zeroable::zeroed()
    };
    plan.push(Step {
        label: format!("{layer} (pack A)"),
        kernel: kernels.pack_a,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("A", a.0), write("A padded", &dense)],
        invocations: total as u64,
        workgroup_size: crate::ops::workgroup_1d(gpu),
        flops: 0,
        bytes_moved: 2 * a.0.dtype.bytes(total),
    });
    let view = View {
        ld: kp,
        outer: if v.outer == 0 { 0 } else { bi * mm.m * kp },
        inner: if v.inner == 0 { 0 } else { mm.m * kp },
    };
    Ok((dense, view))
}

/// An rgba32float texture the pack step writes and the product reads: the
/// `width` x `height` texels of the operand wrapped row after row into a
/// texture at most `wrap` texels wide (a power of two), so that operands
/// of any shape share one texture width (see `wrapped` in
/// shaders/matmul_tex.wgsl).
pub fn packed_texture(
    gpu: &Gpu,
    label: &str,
    width: usize,
    height: usize,
    wrap: usize,
) -> Result<Packed> {
    wrapped_texture(
        gpu,
        label,
        [width, height],
        wrap,
        wgpu::TextureFormat::Rgba32Float,
    )
}

/// A storage texture of `format` holding `width` x `height` texels
/// wrapped as [`packed_texture`] wraps them.
pub fn wrapped_texture(
    gpu: &Gpu,
    label: &str,
    [width, height]: [usize; 2],
    wrap: usize,
    format: wgpu::TextureFormat,
) -> Result<Packed> {
    let Some((shift, rows)) = wrapped_shape(gpu, width, height, wrap) else {
        return Err(Error::shape(
            label,
            format!(
                "{width} x {height} texels exceed one texture (max_texture_dimension_2d is {}); use another rung",
                gpu.limits.max_texture_dimension_2d
            ),
        ));
    };
    let texture = storage_texture(gpu, label, 1 << shift, rows, format)?;
    Ok(Packed {
        width,
        height,
        shift,
        ..texture
    })
}

/// A 2-D texture kernels write and read as storage.
pub fn storage_texture(
    gpu: &Gpu,
    label: &str,
    width: usize,
    height: usize,
    format: wgpu::TextureFormat,
) -> Result<Packed> {
    let texture = gpu.scoped(&format!("allocating texture '{label}'"), || {
        Ok(gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: u(width),
                height: u(height),
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::STORAGE_BINDING,
            view_formats: &[],
        }))
    })?;
    Ok(Packed {
        view: Arc::new(texture.create_view(&Default::default())),
        width,
        height,
        shift: 0,
    })
}

/// Appends the step that packs op(B) of every batch into a texture
/// (`kernels.pack_b`, which reads B's element type): wrapped for this
/// rung's product ([`packed_texture`]) where `wrap`, else one texel row per
/// row of B, as the attention rung reads it.
pub fn pack_b(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    b: (&Tensor, View),
    kernels: &TexKernels,
    wrap: bool,
) -> Result<Packed> {
    let batches = mm.batches[0] * mm.batches[1];
    let (width, height) = (mm.n.div_ceil(4), batches * padded_k(mm.k));
    let label = format!("{layer} B texels");
    let packed = if wrap {
        packed_texture(gpu, &label, width, height, b_wrap(width))?
    } else {
        storage_texture(gpu, &label, width, height, wgpu::TextureFormat::Rgba32Float)?
    };
    let texels = packed.width * packed.height;
    // One invocation per texel column of each batch.
    let columns = packed.width * batches;
    let params = MatmulParams {
        n: u(mm.n),
        k: u(mm.k),
        batch_inner: u(mm.batches[1]),
        batches: u(batches),
        flags: if mm.trans_b { TRANS_B } else { 0 },
        ldb: u(b.1.ld),
        b_so: u(b.1.outer),
        b_si: u(b.1.inner),
        tiles_n: u(packed.width),
        tiles_m: u(padded_k(mm.k)),
        total: u(columns),
        // The texture's shift, 0 where rows are not wrapped (pack_b has no
        // K range).
        k0: packed.shift,
        ..bytemuck::Zeroable::zeroed()
    };
    plan.push(Step {
        label: format!("{layer} (pack B)"),
        kernel: kernels.pack_b,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("B", b.0), packed.binding(gpu, "B texels", true)?],
        invocations: columns as u64,
        workgroup_size: crate::ops::workgroup_1d(gpu),
        flops: 0,
        bytes_moved: b.0.dtype.bytes(mm.k * mm.n * batches) + 16 * texels as u64,
    });
    Ok(packed)
}

/// The whole rung: A as the product reads it, B packed, then C =
/// epilogue(alpha A B) from element `c_off` of C (`flags` as in
/// [`matmul_packed`]), on the storage `kernels` read.
#[allow(clippy::too_many_arguments)]
pub fn matmul_tex_into(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    (a, b): ((&Tensor, View), (&Tensor, View)),
    bias: &Tensor,
    c: (&Tensor, View),
    (c_off, flags): (usize, u32),
    kernels: &TexKernels,
) -> Result<()> {
    let (at, av) = a_operand(gpu, plan, layer, mm, a, kernels)?;
    let packed = pack_b(gpu, plan, layer, mm, b, kernels, true)?;
    matmul_packed(
        gpu,
        plan,
        layer,
        mm,
        (&at, av),
        &packed,
        bias,
        c,
        c_off,
        flags,
        kernels,
    )
}

/// Appends C = epilogue(alpha A B) with B already packed (`a` from
/// `a_operand`); `flags` carries bias and activation as in matmul.wgsl, and
/// C starts `c_off` elements into its tensor. With float16 `kernels` the
/// whole reduction must fit one dispatch.
#[allow(clippy::too_many_arguments)]
pub fn matmul_packed(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    a: (&Tensor, View),
    packed: &Packed,
    bias: &Tensor,
    c: (&Tensor, View),
    c_off: usize,
    flags: u32,
    kernels: &TexKernels,
) -> Result<()> {
    let kp = padded_k(mm.k);
    let batches = mm.batches[0] * mm.batches[1];
    // Whole subgroups per workgroup (the shuffles read every lane), and no
    // more lanes than there are column groups.
    let sg = (gpu.info.subgroup_max_size as usize).clamp(1, 128);
    let lanes = packed.width.div_ceil(COLS4);
    let max_wg = gpu.limits.max_compute_invocations_per_workgroup as usize;
    // Powers of two only: each size is a pipeline llvmpipe compiles (~2 s).
    let wg = lanes
        .min(64)
        .next_power_of_two()
        .next_multiple_of(sg)
        .min(max_wg / sg * sg);
    if wg == 0 {
        return Err(Error::shape(
            layer,
            format!("subgroups of {sg} do not fit a workgroup of at most {max_wg}; use --kernel matmul=rb4"),
        ));
    }
    let tiles_n = lanes.div_ceil(wg);
    let tiles_m = mm.m.div_ceil(ROWS);
    let groups = (batches * tiles_m * tiles_n) as u64;
    let invocations = groups * wg as u64;
    let base = MatmulParams {
        m: u(mm.m),
        n: u(mm.n),
        k: u(kp),
        batch_inner: u(mm.batches[1]),
        batches: u(batches),
        flags,
        lda: u(a.1.ld),
        // How B is wrapped (see pack_b): its shift and texels per row.
        ldb: packed.shift,
        ldc: u(c.1.ld),
        a_so: u(a.1.outer),
        a_si: u(a.1.inner),
        b_so: u(packed.width),
        b_si: 0,
        c_so: u(c.1.outer),
        c_si: u(c.1.inner),
        tiles_n: u(tiles_n),
        tiles_m: u(tiles_m),
        total: u32::try_from(groups).map_err(|_| {
            Error::shape(
                layer,
                format!("{groups} workgroups exceed u32; split the batch"),
            )
        })?,
        alpha: mm.alpha,
        k0: 0,
        k1: 0,
        a_off: 0,
        b_off: 0,
        c_off: u(c_off),
    };
    // K in quads, split only under the loop budget: unlike the buffer rungs,
    // K blocks did not pay here (1024: 40 ms whole, 44 ms in blocks of 512).
    // Float16: the whole reduction in one dispatch, as the other float16
    // products run it (float16 partial sums would round between parts).
    let parts = if kernels.matmul.dtype == DType::F16 {
        if (kp / 4) as u64 > gpu.loop_budget {
            return Err(Error::shape(
                layer,
                format!(
                    "K = {} is longer than one float16 dispatch may loop here; use --dtype f32 for reductions this long",
                    mm.k
                ),
            ));
        }
        vec![(0, kp / 4)]
    } else {
        split_range(gpu, layer, kp / 4, 1, 0, invocations)?
    };
    for (n, &(k0, k1)) in parts.iter().enumerate() {
        let (k0, k1) = (4 * k0, 4 * k1);
        let params = MatmulParams {
            k0: u(k0),
            k1: u(k1),
            flags: flags | part_flags(n, parts.len()),
            ..base
        };
        plan.push(Step {
            label: part_label(&format!("{layer} (tex)"), "k", k0, k1, parts.len()),
            kernel: kernels.matmul,
            overrides: vec![],
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                read("A", a.0),
                packed.binding(gpu, "B texels", false)?,
                read("bias", bias),
                write("C", c.0),
            ],
            invocations,
            workgroup_size: u(wg),
            flops: mm.flops() * (k1 - k0) as u64 / kp as u64,
            bytes_moved: a.0.dtype.bytes(a.0.numel())
                + c.0.dtype.bytes(c.0.numel())
                + 16 * (packed.width * packed.height) as u64,
        });
    }
    Ok(())
}

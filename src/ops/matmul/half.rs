//! Matrix products on float16 storage (`--dtype f16`): A, B and the bias
//! float16 views, C a new contiguous float16 tensor, products summed in
//! float32 (or, on the `f16acc` rung, in float16). Reference:
//! `cpu::matmul_into_as` with `cpu::half`'s float16 charges.
//!
//! One kernel text serves both ways of reading float16 ([`F16Path`]); the
//! storage file in front of it decides.

use super::params::{matmul_source, Activation, Matmul, MatmulParams, View};
use super::tex::{self, TexKernels};
use crate::dtype::{DType, F16Path};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::ops::{check_u32, expect_shape, kernel_f16, read, u, workgroup_1d, write};
use crate::rung::MatmulRung;
use crate::tensor::Tensor;

const PACKED: &str = concat!(
    matmul_source!("f16_packed.wgsl"),
    shaders!("matmul_f16_common.wgsl", "matmul_f16.wgsl"),
    shaders!("matmul_f16_sum32.wgsl")
);
// `enable f16;` must open the module: the pipeline cache hoists it above
// the prelude.
const NATIVE: &str = concat!(
    "enable f16;\n",
    matmul_source!("f16_native.wgsl"),
    shaders!("matmul_f16_common.wgsl", "matmul_f16.wgsl"),
    shaders!("matmul_f16_sum32.wgsl")
);
const NATIVE_ACC: &str = concat!(
    "enable f16;\n",
    matmul_source!("f16_native.wgsl"),
    shaders!("matmul_f16_common.wgsl", "matmul_f16.wgsl"),
    shaders!("matmul_f16acc.wgsl")
);

/// Float32 accumulation, float16 storage read as u32 words.
pub const PAIR_PACKED: Kernel = kernel_f16("matmul_f16_packed", PACKED, "matmul_f16_pair");
/// Float32 accumulation, float16 storage read as WGSL `f16`.
pub const PAIR_NATIVE: Kernel = kernel_f16("matmul_f16_native", NATIVE, "matmul_f16_pair");
/// Four rows by one word of C per invocation (N even, B untransposed with
/// even strides), float32 sums, packed storage.
pub const RB_PACKED: Kernel = kernel_f16("matmul_f16_packed", PACKED, "matmul_f16_rb");
/// As [`RB_PACKED`] on native `f16` storage.
pub const RB_NATIVE: Kernel = kernel_f16("matmul_f16_native", NATIVE, "matmul_f16_rb");
/// Eight rows by four columns of C per invocation, every load four
/// float16 values (A and B untransposed; K, N, leading dimensions and
/// strides multiples of 4), float32 sums, packed storage.
pub const VEC4_PACKED: Kernel = kernel_f16(
    "matmul_f16_vec4_packed",
    concat!(
        matmul_source!("f16_packed.wgsl"),
        shaders!("matmul_f16_common.wgsl", "matmul_f16_vec4.wgsl")
    ),
    "matmul_f16_rb8_vec4",
);
/// As [`VEC4_PACKED`] on native `f16` storage.
pub const VEC4_NATIVE: Kernel = kernel_f16(
    "matmul_f16_vec4_native",
    concat!(
        "enable f16;\n",
        matmul_source!("f16_native.wgsl"),
        shaders!("matmul_f16_common.wgsl", "matmul_f16_vec4.wgsl")
    ),
    "matmul_f16_rb8_vec4",
);
/// The `f16acc` rung: products and sums in float16 arithmetic (native only).
pub const F16ACC: Kernel = kernel_f16("matmul_f16acc", NATIVE_ACC, "matmul_f16_pair");

/// Where a float16 product's sums are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accumulate {
    /// Float32 running sums (the default for `--dtype f16`).
    F32,
    /// Float16 running sums and products (the `f16acc` rung): faster where
    /// float16 arithmetic is, less accurate; reports say which ran.
    F16,
}

impl Accumulate {
    /// `f32 accumulation` or `f16 accumulation (f16acc)`.
    pub fn name(self) -> &'static str {
        match self {
            Accumulate::F32 => "f32 accumulation",
            Accumulate::F16 => "f16 accumulation (f16acc)",
        }
    }
}

/// From this many FLOPs a float16 product on a CPU adapter takes the
/// texture rung. Far below float32's `CPU_TEX_MIN_FLOPS`, where float32
/// has fast buffer rungs: lavapipe, `bench matmul --dtype f16` (host B),
/// tex against the buffer rungs 0.30 vs 0.45 ms at 64, 0.69 vs 1.5 at
/// 128, 1.8 vs 10 at 256, 7.8 vs 77 at 512.
pub const CPU_F16_TEX_MIN_FLOPS: u64 = 1_000_000;

/// Whether a float16 product takes the texture rung (float16 in and out,
/// the textures and sums float32): where the plan or device forces
/// `matmul=tex`, or untold on a CPU adapter from [`CPU_F16_TEX_MIN_FLOPS`],
/// and where the adapter can run it.
pub(crate) fn takes_tex(gpu: &Gpu, plan: &Plan, mm: &Matmul) -> bool {
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let wanted = match gpu.choice(plan).matmul {
        Some(r) => r == MatmulRung::Tex,
        None => cpu && mm.flops() >= CPU_F16_TEX_MIN_FLOPS,
    };
    wanted && tex::unsupported(gpu, mm).is_none()
}

/// Whether a float16 product (float32 sums) takes the vec4 rung: A and B
/// untransposed, K, N, the leading dimensions, the batch strides and both
/// tensors' lengths multiples of 4 (each load is four values, and C's rows
/// whole word pairs), unless the plan or device forces `tiled` or `naive`
/// (float16 has neither: forcing one keeps the word rungs, as the
/// selftest's buffer cases do). A forced `rb4` (a model's products on a
/// CPU adapter, `graph::gpu`) takes it: float16's register-blocked rung.
pub(crate) fn takes_vec4(
    gpu: &Gpu,
    plan: &Plan,
    mm: &Matmul,
    acc: Accumulate,
    a: (&Tensor, View),
    b: (&Tensor, View),
) -> bool {
    let below = matches!(
        gpu.choice(plan).matmul,
        Some(MatmulRung::Tiled | MatmulRung::Naive)
    );
    let quads = [
        mm.k,
        mm.n,
        a.1.ld,
        a.1.outer,
        a.1.inner,
        b.1.ld,
        b.1.outer,
        b.1.inner,
        a.0.numel(),
        b.0.numel(),
    ];
    acc == Accumulate::F32
        && !below
        && !mm.trans_a
        && !mm.trans_b
        && quads.iter().all(|v| v % 4 == 0)
}

fn flags_of(mm: &Matmul) -> u32 {
    let act = match mm.act {
        Activation::None => 0,
        Activation::Relu => 8,
        Activation::Gelu => 16,
    };
    // FIRST | LAST: the whole reduction in one dispatch.
    (u32::from(mm.bias) << 2) | act | 32 | 64
}

/// Appends C = act(alpha op(A) op(B) + bias) on float16 tensors and returns
/// C, a new [batches..., m, n]-ordered float16 tensor of `c_shape`
/// (NaN-poisoned until the plan runs). `path` says how the kernel reads
/// float16; [`F16Path::for_features`] gives the adapter's own.
///
/// ```no_run
/// use wgsl_nn::dtype::F16Path;
/// use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
/// use wgsl_nn::ops::matmul::{half::{matmul_f16_forward, Accumulate}, Matmul, View};
/// use wgsl_nn::Tensor;
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let a = Tensor::upload_f16(&gpu, "a", &[2, 2], &[1.0, 2.0, 3.0, 4.0])?;
/// let mut plan = Plan::new();
/// let mm = Matmul::square(2);
/// let path = F16Path::for_features(gpu.device.features());
/// let c = matmul_f16_forward(&gpu, &mut plan, "c", &mm, (&a, View::dense(2, 2, false)),
///     (&a, View::dense(2, 2, false)), None, &[2, 2], path, Accumulate::F32)?;
/// gpu.run(&plan)?;
/// assert_eq!(c.download(&gpu)?, [7.0, 10.0, 15.0, 22.0]);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Shape`] for a size of zero, views that do not fit their
/// tensors, operands that are not float16, a bias of the wrong length, a
/// reduction longer than one dispatch may loop, or more than 2^32
/// elements; [`Error::Argument`] for the native path or `f16acc` on an
/// adapter without `SHADER_F16`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_f16_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    a: (&Tensor, View),
    b: (&Tensor, View),
    bias: Option<&Tensor>,
    c_shape: &[usize],
    path: F16Path,
    acc: Accumulate,
) -> Result<Tensor> {
    mm.check_sizes(layer)?;
    let native = gpu.device.features().contains(wgpu::Features::SHADER_F16);
    if (path == F16Path::Native || acc == Accumulate::F16) && !native {
        return Err(Error::arg(
            if acc == Accumulate::F16 { "--kernel matmul=f16acc" } else { "--f16-path native" },
            format!(
                "{} has no SHADER_F16, so it cannot compute in float16; use the packed path with float32 accumulation",
                gpu.info.name
            ),
        ));
    }
    for (name, t) in [("A", a.0), ("B", b.0)]
        .into_iter()
        .chain(bias.map(|t| ("bias", t)))
    {
        if t.dtype != DType::F16 {
            return Err(Error::shape(
                layer,
                format!("{name} is {} but this product reads float16; upload it with Tensor::upload_f16", t.dtype.name()),
            ));
        }
    }
    mm.check_view(layer, "A", a.0, &a.1, mm.m, mm.k, mm.trans_a)?;
    mm.check_view(layer, "B", b.0, &b.1, mm.k, mm.n, mm.trans_b)?;
    let outputs = mm.batches[0] * mm.batches[1] * mm.m * mm.n;
    if c_shape.iter().product::<usize>() != outputs {
        return Err(Error::shape(
            layer,
            format!("C's shape {c_shape:?} does not hold the {outputs} outputs of the product"),
        ));
    }
    match (mm.bias, bias) {
        (true, Some(t)) => expect_shape(layer, "bias", &t.shape, &[mm.n])?,
        (true, None) => return Err(Error::shape(layer, "bias enabled but none given")),
        (false, _) => {}
    }
    for (name, t) in [("A", a.0), ("B", b.0)] {
        check_u32(&format!("{layer} {name}"), &t.shape)?;
    }
    check_u32(&format!("{layer} C"), c_shape)?;
    // Two dot products of K terms per invocation, all in one dispatch:
    // float16 partial sums stored between dispatches would round them.
    let per = 2 * mm.k as u64 + 16;
    if per > gpu.loop_budget {
        return Err(Error::shape(
            layer,
            format!(
                "K = {} is longer than one float16 dispatch may loop here ({} iterations); use --dtype f32 for reductions this long",
                mm.k, gpu.loop_budget
            ),
        ));
    }
    let c = Tensor::poisoned_f16(gpu, &format!("{layer} output"), c_shape)?;
    let bias = match bias {
        Some(t) => t.clone(),
        None => Tensor::placeholder_as(gpu, DType::F16)?,
    };
    if acc == Accumulate::F32 && takes_tex(gpu, plan, mm) {
        let kernels = TexKernels::of(Some(path));
        let cv = View {
            ld: mm.n,
            outer: mm.batches[1] * mm.m * mm.n,
            inner: mm.m * mm.n,
        };
        let flags = flags_of(mm);
        tex::matmul_tex_into(
            gpu,
            plan,
            layer,
            mm,
            (a, b),
            &bias,
            (&c, cv),
            (0, flags),
            &kernels,
        )?;
        return Ok(c);
    }
    let words = outputs.div_ceil(2);
    let vec4 = takes_vec4(gpu, plan, mm, acc, a, b);
    // The register-blocked rung where words line up with rows and B's
    // column pairs are words; the pair kernel everywhere else.
    let rb = !vec4
        && acc == Accumulate::F32
        && !mm.trans_b
        && [mm.n, b.1.ld, b.1.outer, b.1.inner]
            .iter()
            .all(|v| v % 2 == 0);
    let batches = mm.batches[0] * mm.batches[1];
    let (tiles_m, tiles_n) = if vec4 {
        (mm.m.div_ceil(8), mm.n / 4)
    } else {
        (mm.m.div_ceil(4), mm.n / 2)
    };
    let invocations = if rb || vec4 {
        batches * tiles_m * tiles_n
    } else {
        words
    };
    let kernel = match (acc, path, rb, vec4) {
        (Accumulate::F16, ..) => F16ACC,
        (Accumulate::F32, F16Path::Native, _, true) => VEC4_NATIVE,
        (Accumulate::F32, F16Path::Packed, _, true) => VEC4_PACKED,
        (Accumulate::F32, F16Path::Native, true, _) => RB_NATIVE,
        (Accumulate::F32, F16Path::Packed, true, _) => RB_PACKED,
        (Accumulate::F32, F16Path::Native, false, _) => PAIR_NATIVE,
        (Accumulate::F32, F16Path::Packed, false, _) => PAIR_PACKED,
    };
    let params = MatmulParams {
        m: u(mm.m),
        n: u(mm.n),
        k: u(mm.k),
        batch_inner: u(mm.batches[1]),
        batches: u(mm.batches[0] * mm.batches[1]),
        flags: flags_of(mm),
        lda: u(a.1.ld),
        ldb: u(b.1.ld),
        ldc: u(mm.n),
        a_so: u(a.1.outer),
        a_si: u(a.1.inner),
        b_so: u(b.1.outer),
        b_si: u(b.1.inner),
        c_so: u(mm.batches[1] * mm.m * mm.n),
        c_si: u(mm.m * mm.n),
        tiles_n: u(tiles_n),
        tiles_m: u(tiles_m),
        total: u(invocations),
        alpha: mm.alpha,
        k0: 0,
        k1: u(mm.k),
        a_off: 0,
        b_off: 0,
        c_off: 0,
    };
    let rung = match (acc, path) {
        (Accumulate::F16, _) => "f16acc",
        (_, F16Path::Native) => "f16 native",
        (_, F16Path::Packed) => "f16 packed",
    };
    let rung = format!(
        "{rung}{}",
        match (rb, vec4) {
            (_, true) => " rb8_vec4",
            (true, _) => " rb",
            _ => "",
        }
    );
    plan.push(Step {
        label: format!("{layer} ({rung})"),
        kernel,
        // The vec4 rung reads both operands untransposed only.
        overrides: if vec4 {
            vec![]
        } else {
            vec![
                ("TRANS_A", f64::from(u8::from(mm.trans_a))),
                ("TRANS_B", f64::from(u8::from(mm.trans_b))),
            ]
        },
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("A", a.0),
            read("B", b.0),
            read("bias", &bias),
            write("C", &c),
        ],
        invocations: invocations as u64,
        workgroup_size: workgroup_1d(gpu),
        flops: mm.flops(),
        bytes_moved: 2 * (mm.batches[0] * mm.batches[1] * (mm.m * mm.k + mm.k * mm.n)) as u64
            + 2 * outputs as u64,
    });
    Ok(c)
}

/// y = x W + b on float16 tensors, float32 sums, as `F.linear` with the
/// weight stored input-major: x `[.., K]`, W `[K, N]`, b `[N]`; y `[.., N]`, a
/// new float16 tensor (NaN-poisoned until the plan runs).
///
/// ```no_run
/// use wgsl_nn::dtype::F16Path;
/// use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
/// use wgsl_nn::ops::matmul::half::linear_f16;
/// use wgsl_nn::Tensor;
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let x = Tensor::upload_f16(&gpu, "x", &[1, 2], &[1.0, 2.0])?;
/// let w = Tensor::upload_f16(&gpu, "w", &[2, 1], &[3.0, 4.0])?;
/// let mut plan = Plan::new();
/// let path = F16Path::for_features(gpu.device.features());
/// let y = linear_f16(&gpu, &mut plan, "fc", &x, &w, None, path)?;
/// gpu.run(&plan)?;
/// assert_eq!(y.download(&gpu)?, [11.0]);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Shape`] when x's last dimension is not W's first or W is not
/// 2-D; otherwise as [`matmul_f16_forward`].
pub fn linear_f16(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    path: F16Path,
) -> Result<Tensor> {
    let (mm, out_shape) = super::linear_shape(layer, x, w, b.is_some(), Activation::None)?;
    let (rows, k, n) = (mm.m, mm.k, mm.n);
    matmul_f16_forward(
        gpu,
        plan,
        layer,
        &mm,
        (x, View::dense(rows, k, true)),
        (w, View::dense(k, n, true)),
        b,
        &out_shape,
        path,
        Accumulate::F32,
    )
}

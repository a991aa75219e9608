//! Batched matrix products with optional transposes, bias and activation.
//! Reference: `cpu::matmul`.
//!
//! Operands are strided views: a batch is indexed (outer, inner), so the
//! per-head slices of a [B, L, H*d] tensor are multiplied in place.

pub mod half;
mod params;
pub mod tex;

pub use params::*;

use super::{
    check_u32, expect_shape, kernel, part_flags, part_label, read, split_range, u, workgroup_1d,
    write,
};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel, Plan, Step};
use crate::rung::{MatmulRung, MatmulRung as R, Rung};
use crate::tensor::Tensor;

const SOURCE: &str = matmul_source!("matmul.wgsl");
/// Rung 3, entry point `matmul_rb4`: a 4 x 4 register block of C per
/// invocation, scalar loads.
pub const RB4: Kernel = kernel("matmul", SOURCE, "matmul_rb4");
/// Rung 1, entry point `matmul_naive`: one output per invocation.
pub const NAIVE: Kernel = kernel("matmul", SOURCE, "matmul_naive");
/// Rung 2, entry point `matmul_tiled`: 16 x 16 tiles staged in workgroup
/// memory (workgroups of 256).
pub const TILED: Kernel = kernel("matmul", SOURCE, "matmul_tiled");
const SOURCE_VEC4: &str = matmul_source!("matmul_vec4.wgsl");
/// Rung 4, entry point `matmul_rb4_vec4`: rb4 with vec4 loads.
pub const RB4_VEC4: Kernel = kernel("matmul_vec4", SOURCE_VEC4, "matmul_rb4_vec4");
/// Rung 5, entry point `matmul_rb8_vec4`: 8 rows x 4 columns per
/// invocation, vec4 loads.
pub const RB8_VEC4: Kernel = kernel("matmul_vec4", SOURCE_VEC4, "matmul_rb8_vec4");
/// Rung 7, entry point `matmul_sm128`: 128 x 128 tile per workgroup of 256
/// in shared memory, 8 x 8 outputs per thread.
pub const SM128: Kernel = kernel("matmul_vec4", SOURCE_VEC4, "matmul_sm128");
/// Rung 8, entry point `matmul_sm128p`: sm128 with K steps of 16 and the
/// next step's operands prefetched into registers.
pub const SM128P: Kernel = kernel("matmul_vec4", SOURCE_VEC4, "matmul_sm128p");

/// The rungs whose workgroup of 256 shares one 128 x 128 tile of C.
fn is_sm128(rung: MatmulRung) -> bool {
    matches!(rung, R::Sm128 | R::Sm128p)
}

/// The rungs that read A and B as vec4s (multiples of 4 only).
fn is_vec4(rung: MatmulRung) -> bool {
    matches!(rung, R::Rb4Vec4 | R::Rb8Vec4) || is_sm128(rung)
}

// The ladder itself (names, entry points, order) is `rung::MatmulRung`.

/// Products with at least this many outputs (all batches) count as large:
/// they take the tuner's `matmul_large` pick, timed at 2048 x 2048 (4.2M
/// outputs), rather than its 512 x 512 one; 1024 x 1024 (1M) is small.
const LARGE_OUTPUTS: usize = 1 << 21;

/// The rung to run: the plan's or device's choice (`Kernels::matmul`)
/// where the shapes allow it, else the tuner's pick or the rules below.
fn choose(
    gpu: &Gpu,
    forced: Option<MatmulRung>,
    mm: &Matmul,
    a: &View,
    b: &View,
    c: &View,
    b_len: usize,
) -> MatmulRung {
    // The vec4 rungs read B's columns in fours; past N they may, where B's
    // rows are padded (the unfold rung's are), since those values are
    // multiplied into columns that are never stored.
    let n4 = mm.n.next_multiple_of(4);
    let b_cols_ok =
        mm.n.is_multiple_of(4) || (b.ld >= n4 && mm.extent(b, mm.k, n4, false) <= b_len);
    let vec4_ok = !mm.trans_a
        && !mm.trans_b
        && mm.k.is_multiple_of(4)
        && b_cols_ok
        && [a.ld, a.outer, a.inner, b.ld, b.outer, b.inner]
            .iter()
            .all(|v| v % 4 == 0)
        && c.ld >= mm.n;
    let fallback = if vec4_ok { R::Rb4Vec4 } else { R::Rb4 };
    let tex_ok = tex::unsupported(gpu, mm).is_none();
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let large = mm.m * mm.n * mm.batches[0] * mm.batches[1] >= LARGE_OUTPUTS;
    let flops = mm.flops();
    // On CPU adapters a tuned pick (timed at 512 and 2048) speaks only for
    // products of that order; smaller ones keep the rules that compile fast.
    let tuned_applies = !cpu || flops >= super::CPU_TEX_MIN_FLOPS;
    // A cached pick no ladder knows (an older cache) counts as none.
    let tuned = |family| gpu.tuned_for(family, flops).and_then(|k| R::parse(&k).ok());
    let pick = forced.or_else(|| {
        tuned_applies
            .then(|| {
                large
                    .then(|| tuned("matmul_large"))
                    .flatten()
                    .or_else(|| tuned("matmul"))
            })
            .flatten()
    });
    match pick {
        // On CPU adapters the texture rung was the fastest by ~3x (measured
        // on llvmpipe); elsewhere the autotuner has to show it.
        None if tex_ok && cpu && flops >= super::CPU_TEX_MIN_FLOPS => R::Tex,
        None if cpu && flops < super::CPU_NAIVE_MAX_FLOPS => R::Naive,
        // Untuned, a large product on a GPU takes the shared-memory tiles
        // (an H200: 1.45x rb4_vec4 at 4096, 1.43x at 2048).
        None if large
            && vec4_ok
            && !cpu
            && gpu.limits.max_compute_invocations_per_workgroup >= 256 =>
        {
            R::Sm128p
        }
        None => fallback,
        Some(r) if is_vec4(r) && !vec4_ok => R::Rb4,
        Some(R::Tex) if !tex_ok => fallback,
        Some(r) => r,
    }
}

/// Appends C = act(alpha * op(A) op(B) + bias) over all batches; `c` must
/// already exist (views may write into part of a larger tensor).
#[allow(clippy::too_many_arguments)]
pub fn matmul_into(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    a: (&Tensor, View),
    b: (&Tensor, View),
    bias: Option<&Tensor>,
    c: (&Tensor, View),
) -> Result<()> {
    matmul_into_at(gpu, plan, layer, mm, a, b, bias, c, 0, None)
}

/// `matmul_into` with C starting `c_off` elements into its tensor, and
/// `default` as the rung where neither the plan nor the device forces one
/// (callers whose products the size rules below were not measured for).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_into_at(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    a: (&Tensor, View),
    b: (&Tensor, View),
    bias: Option<&Tensor>,
    c: (&Tensor, View),
    c_off: usize,
    default: Option<R>,
) -> Result<()> {
    mm.check_sizes(layer)?;
    mm.check_view(layer, "A", a.0, &a.1, mm.m, mm.k, mm.trans_a)?;
    mm.check_view(layer, "B", b.0, &b.1, mm.k, mm.n, mm.trans_b)?;
    mm.check_view(layer, "C", c.0, &c.1, mm.m, mm.n, false)?;
    let c_end = c_off.saturating_add(mm.extent(&c.1, mm.m, mm.n, false));
    if c_end > c.0.numel() {
        return Err(Error::shape(
            layer,
            format!(
                "C from element {c_off} needs {c_end} elements but the tensor {:?} has {}",
                c.0.shape,
                c.0.numel()
            ),
        ));
    }
    let bias = match (mm.bias, bias) {
        (true, Some(t)) => {
            expect_shape(layer, "bias", &t.shape, &[mm.n])?;
            t.clone()
        }
        (true, None) => return Err(Error::shape(layer, "bias enabled but none given")),
        (false, _) => Tensor::placeholder(gpu)?,
    };
    for (name, t) in [("A", a.0), ("B", b.0), ("C", c.0)] {
        check_u32(&format!("{layer} {name}"), &t.shape)?;
    }
    let limit = gpu.limits.max_storage_buffer_binding_size;
    if [a.0, b.0, c.0].iter().any(|t| t.buffer.size() > limit) {
        if c_off > 0 {
            return Err(Error::TooLarge {
                tensor: format!("{layer}: operand C {:?}", c.0.shape),
                bytes: c.0.buffer.size(),
                limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        return matmul_in_ranges(gpu, plan, layer, mm, a, b, &bias, c, flags_of(mm));
    }
    let rung = choose(
        gpu,
        gpu.choice(plan).matmul.or(default),
        mm,
        &a.1,
        &b.1,
        &c.1,
        b.0.numel(),
    );
    if rung == R::Tex {
        let flags = flags_of(mm);
        let kernels = tex::TexKernels::F32;
        return tex::matmul_tex_into(
            gpu,
            plan,
            layer,
            mm,
            (a, b),
            &bias,
            c,
            (c_off, flags),
            &kernels,
        );
    }
    let batches = (mm.batches[0] * mm.batches[1]) as u64;
    let (tiles_m, tiles_n) = (mm.m.div_ceil(4), mm.n.div_ceil(4));
    // Invocations and workgroup size of each rung.
    let (kernel, invocations, wg) = match rung {
        R::Naive => (NAIVE, batches * (mm.m * mm.n) as u64, workgroup_1d(gpu)),
        R::Tiled => (
            TILED,
            batches * (mm.m.div_ceil(16) * mm.n.div_ceil(16)) as u64 * 256,
            256,
        ),
        R::Rb4Vec4 => (
            RB4_VEC4,
            batches * (tiles_m * tiles_n) as u64,
            workgroup_1d(gpu),
        ),
        R::Sm128 | R::Sm128p => (
            if rung == R::Sm128 { SM128 } else { SM128P },
            batches * (mm.m.div_ceil(128) * mm.n.div_ceil(128)) as u64 * 256,
            256,
        ),
        R::Rb8Vec4 => (
            RB8_VEC4,
            batches * (mm.m.div_ceil(8) * tiles_n) as u64,
            workgroup_1d(gpu),
        ),
        // The texture rung returned above.
        R::Rb4 | R::Tex => (RB4, batches * (tiles_m * tiles_n) as u64, workgroup_1d(gpu)),
    };
    if (rung == R::Tiled || is_sm128(rung))
        && gpu.limits.max_compute_invocations_per_workgroup < 256
    {
        return Err(Error::arg(
            format!("--kernel matmul={rung}"),
            "this device allows fewer than 256 invocations per workgroup; use rb4",
        ));
    }
    let total32 = u32::try_from(invocations).map_err(|_| {
        Error::shape(
            layer,
            format!("{invocations} invocations exceed u32; split the batch"),
        )
    })?;
    let flags = flags_of(mm);
    let params = MatmulParams {
        m: u(mm.m),
        n: u(mm.n),
        k: u(mm.k),
        batch_inner: u(mm.batches[1]),
        batches: u(mm.batches[0] * mm.batches[1]),
        flags,
        lda: u(a.1.ld),
        ldb: u(b.1.ld),
        ldc: u(c.1.ld),
        a_so: u(a.1.outer),
        a_si: u(a.1.inner),
        b_so: u(b.1.outer),
        b_si: u(b.1.inner),
        c_so: u(c.1.outer),
        c_si: u(c.1.inner),
        tiles_n: u(if is_sm128(rung) {
            mm.n.div_ceil(128)
        } else {
            tiles_n
        }),
        tiles_m: u(match rung {
            R::Rb8Vec4 => mm.m.div_ceil(8),
            _ if is_sm128(rung) => mm.m.div_ceil(128),
            _ => tiles_m,
        }),
        // sm128 counts workgroups (its threads share one tile).
        total: if is_sm128(rung) {
            total32 / 256
        } else {
            total32
        },
        alpha: mm.alpha,
        k0: 0,
        k1: 0,
        a_off: 0,
        b_off: 0,
        c_off: u(c_off),
    };
    // Each invocation loops over its share of K once (the vec4 rung four at
    // a time); the device's loop budget decides how many dispatches K is
    // split into.
    let vec4 = is_vec4(rung);
    let step = if vec4 { 4 } else { 1 };
    // sm128 loops ~4.5 times per quad of K (half a tile step, 4 inner),
    // sm128p ~4.25.
    let per_quad = if is_sm128(rung) { 5 } else { 1 };
    let mut parts = split_range(gpu, layer, mm.k / step, per_quad, 0, invocations)?;
    // On adapters that run on CPU cores, K blocks keep a workgroup's slice
    // of B in the core's cache (at 2048 this was 2.8x faster on lavapipe).
    let block = gpu.matmul_k_block / step;
    if block > 0 {
        parts = parts
            .into_iter()
            .flat_map(|(a, b)| (a..b).step_by(block).map(move |x| (x, (x + block).min(b))))
            .collect();
    }
    let overrides = if vec4 {
        vec![]
    } else {
        vec![
            ("TRANS_A", f64::from(u8::from(mm.trans_a))),
            ("TRANS_B", f64::from(u8::from(mm.trans_b))),
        ]
    };
    for (n, &(k0, k1)) in parts.iter().enumerate() {
        let (k0, k1) = (k0 * step, k1 * step);
        let params = MatmulParams {
            k0: u(k0),
            k1: u(k1),
            flags: flags | part_flags(n, parts.len()),
            ..params
        };
        plan.push(Step {
            label: part_label(&format!("{layer} ({rung})"), "k", k0, k1, parts.len()),
            kernel,
            overrides: overrides.clone(),
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                read("A", a.0),
                read("B", b.0),
                read("bias", &bias),
                write("C", c.0),
            ],
            invocations,
            workgroup_size: wg,
            flops: mm.flops() * (k1 - k0) as u64 / mm.k as u64,
            bytes_moved: 4 * (a.0.numel() + b.0.numel() + c.0.numel()) as u64,
        });
    }
    Ok(())
}

/// y = act(x W + b) for x [.., K] and W [K, N]: a linear layer (weights
/// stored input-major, i.e. PyTorch's Linear.weight transposed).
pub fn linear(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    act: Activation,
) -> Result<Tensor> {
    let (mm, out_shape) = linear_shape(layer, x, w, b.is_some(), act)?;
    let (rows, k, n) = (mm.m, mm.k, mm.n);
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &out_shape)?;
    matmul_into(
        gpu,
        plan,
        layer,
        &mm,
        (x, View::dense(rows, k, false)),
        (w, View::dense(k, n, true)),
        b,
        (&y, View::dense(rows, n, false)),
    )?;
    Ok(y)
}

/// The product a linear layer runs, x `[.., K]` times W `[K, N]`, and its
/// output shape `[.., N]`; shared by the float32 and float16 layers.
pub(crate) fn linear_shape(
    layer: &str,
    x: &Tensor,
    w: &Tensor,
    bias: bool,
    act: Activation,
) -> Result<(Matmul, Vec<usize>)> {
    let (Some(&k), &[kw, n]) = (x.shape.last(), &w.shape[..]) else {
        return Err(Error::shape(
            layer,
            format!(
                "linear needs x [.., K] and W [K, N], got {:?} and {:?}",
                x.shape, w.shape
            ),
        ));
    };
    if k != kw {
        return Err(Error::shape(
            layer,
            format!("x has {k} features but W expects {kw} (W is {:?})", w.shape),
        ));
    }
    let rows = x.numel() / k.max(1);
    let mut out_shape = x.shape.clone();
    if let Some(last) = out_shape.last_mut() {
        *last = n;
    }
    let mm = Matmul {
        m: rows,
        n,
        k,
        batches: [1, 1],
        trans_a: false,
        trans_b: false,
        bias,
        act,
        alpha: 1.0,
    };
    Ok((mm, out_shape))
}

fn flags_of(mm: &Matmul) -> u32 {
    (u32::from(mm.bias) << 2)
        | match mm.act {
            Activation::None => 0,
            Activation::Relu => 8,
            Activation::Gelu => 16,
        }
}

/// A product whose operands exceed one storage binding: A and C are bound
/// a block of rows at a time and B a block of K at a time, each block a
/// byte range of its buffer (offsets aligned as the device requires), the
/// K blocks accumulating into C as the loop-budget split does.
fn matmul_in_ranges(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    mm: &Matmul,
    a: (&Tensor, View),
    b: (&Tensor, View),
    bias: &Tensor,
    c: (&Tensor, View),
    flags: u32,
) -> Result<()> {
    let limit = gpu.limits.max_storage_buffer_binding_size;
    let too_large = |what: &str, t: &Tensor, why: &str| Error::TooLarge {
        tensor: format!("{layer}: operand {what} {:?} ({why})", t.shape),
        bytes: t.buffer.size(),
        limit,
        limit_name: "max_storage_buffer_binding_size",
    };
    let (name, big) = [("A", a.0), ("B", b.0), ("C", c.0)]
        .into_iter()
        .find(|(_, t)| t.buffer.size() > limit)
        .unwrap_or(("C", c.0));
    if mm.batches != [1, 1] || mm.trans_a || mm.trans_b {
        return Err(too_large(
            name,
            big,
            "batched or transposed products are bound whole; split the batch",
        ));
    }
    let al = (gpu.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
    let words = usize::try_from(limit / 4)
        .unwrap_or(usize::MAX)
        .saturating_sub(al);
    let (lda, ldb, ldc) = (a.1.ld, b.1.ld, c.1.ld);
    // Blocks of rows and of K, multiples of the alignment so that every
    // block starts on an aligned offset.
    let rows = words / lda.max(ldc).max(1) / al * al;
    let ks = words / ldb.max(1) / al * al;
    if rows == 0 || ks == 0 {
        return Err(too_large(
            name,
            big,
            "even one aligned block of rows does not fit",
        ));
    }
    let range = |t: &Tensor, nm: &str, w: bool, start: usize, end: usize| Binding {
        name: nm.into(),
        buffer: t.buffer.clone(),
        writes: w,
        range: Some((4 * start as u64, 4 * (end - start) as u64)),
        texture: None,
        dtype: t.dtype,
    };
    for r0 in (0..mm.m).step_by(rows) {
        let r1 = (r0 + rows).min(mm.m);
        let tiles_m = (r1 - r0).div_ceil(4);
        let tiles_n = mm.n.div_ceil(4);
        let k_blocks: Vec<usize> = (0..mm.k).step_by(ks).collect();
        for (kb, &k0) in k_blocks.iter().enumerate() {
            let k1 = (k0 + ks).min(mm.k);
            let a_start = r0 * lda + k0 - (r0 * lda + k0) % al;
            let bind = [
                range(a.0, "A rows", false, a_start, (r1 - 1) * lda + k1),
                range(b.0, "B k-block", false, k0 * ldb, (k1 - 1) * ldb + mm.n),
                read("bias", bias),
                range(c.0, "C rows", true, r0 * ldc, (r1 - 1) * ldc + mm.n),
            ];
            let parts = split_range(gpu, layer, k1 - k0, 1, 0, (tiles_m * tiles_n) as u64)?;
            for (n, &(p0, p1)) in parts.iter().enumerate() {
                let first = kb == 0 && n == 0;
                let last = kb + 1 == k_blocks.len() && n + 1 == parts.len();
                let params = MatmulParams {
                    m: u(r1 - r0),
                    n: u(mm.n),
                    k: u(mm.k),
                    batch_inner: 1,
                    batches: 1,
                    flags: flags | if first { 32 } else { 0 } | if last { 64 } else { 0 },
                    lda: u(lda),
                    ldb: u(ldb),
                    ldc: u(ldc),
                    a_so: 0,
                    a_si: 0,
                    b_so: 0,
                    b_si: 0,
                    c_so: 0,
                    c_si: 0,
                    tiles_n: u(tiles_n),
                    tiles_m: u(tiles_m),
                    total: u(tiles_m * tiles_n),
                    alpha: mm.alpha,
                    k0: u(k0 + p0),
                    k1: u(k0 + p1),
                    // Absolute row and k indices, shifted into the ranges.
                    a_off: ((r0 * lda) as u32).wrapping_sub(a_start as u32),
                    b_off: 0u32.wrapping_sub((k0 * ldb) as u32),
                    c_off: 0,
                };
                plan.push(Step {
                    label: format!(
                        "{layer} (rb4) [rows {r0}..{r1}, k {}..{}]",
                        k0 + p0,
                        k0 + p1
                    ),
                    kernel: RB4,
                    overrides: vec![("TRANS_A", 0.0), ("TRANS_B", 0.0)],
                    params: bytemuck::bytes_of(&params).to_vec(),
                    bindings: bind.to_vec(),
                    invocations: (tiles_m * tiles_n) as u64,
                    workgroup_size: workgroup_1d(gpu),
                    flops: 2 * ((r1 - r0) * mm.n * (p1 - p0)) as u64,
                    bytes_moved: 4
                        * ((r1 - r0) * (p1 - p0) + (p1 - p0) * mm.n + (r1 - r0) * mm.n) as u64,
                });
            }
        }
    }
    Ok(())
}

//! `selftest --dtype f16`: float16 matrix products on every float16 path
//! the adapter has, against the f64 reference with float16's charges, and
//! the float16 fault catalogue (`--mutants`), each fault planted in the
//! kernel's source and required to fail.

use super::half_conv::{conv_cases, run_conv_case, ConvCase};
use super::half_rung::{expect_rung, plan_for, HalfRung};
use crate::check::{compare_f16, Check};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::matmul::matmul_into_acc;
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::{Gpu, Patch};
use crate::ops::conv2d::Conv2d;
use crate::ops::matmul::half::{matmul_f16_forward, Accumulate};
use crate::ops::matmul::{Activation, Matmul, View};
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// One float16 product to check.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The product (sizes, transposes, bias, activation, alpha).
    pub mm: Matmul,
    /// Inputs uniform in [-scale, scale) before rounding to float16.
    pub scale: f32,
    /// The rung it is forced onto: the buffer rungs (pair, rb), the vec4
    /// rung or the texture rung (float16 storage, float32 textures).
    pub rung: HalfRung,
}

impl Case {
    fn new(m: usize, n: usize, k: usize, batches: [usize; 2]) -> Case {
        Case {
            mm: Matmul {
                m,
                n,
                k,
                batches,
                ..Matmul::square(1)
            },
            scale: 1.0,
            rung: HalfRung::Buffer,
        }
    }

    /// This case on `rung`; for the vec4 rung with K and N rounded up to
    /// multiples of 4 and both operands untransposed, as it needs.
    pub fn on(&self, rung: HalfRung) -> Case {
        let mut c = Case {
            rung,
            ..self.clone()
        };
        if rung == HalfRung::Vec4 {
            c.mm.k = c.mm.k.next_multiple_of(4);
            c.mm.n = c.mm.n.next_multiple_of(4);
            c.mm.trans_a = false;
            c.mm.trans_b = false;
        }
        c
    }

    /// `m x k x n` with what else is set, for tables.
    pub fn label(&self) -> String {
        let mm = &self.mm;
        let mut s = format!("{}x{}x{}", mm.m, mm.k, mm.n);
        if mm.batches != [1, 1] {
            s.push_str(&format!(" batches {:?}", mm.batches));
        }
        for (on, what) in [
            (mm.trans_a, " A^T"),
            (mm.trans_b, " B^T"),
            (mm.bias, " +bias"),
        ] {
            if on {
                s.push_str(what);
            }
        }
        if mm.act != Activation::None {
            s.push_str(&format!(" {:?}", mm.act).to_lowercase());
        }
        if self.scale != 1.0 {
            s.push_str(&format!(" inputs x{}", self.scale));
        }
        s.push_str(self.rung.suffix());
        s
    }
}

/// Edge sizes (1, odd counts, primes, 257), transposes, batches, bias and
/// both activations, a reduction of 4096 and outputs in float16's
/// subnormal range.
pub fn cases() -> Vec<Case> {
    let mut v = vec![
        Case::new(1, 1, 1, [1, 1]),
        Case::new(13, 17, 19, [1, 1]),
        Case::new(8, 12, 64, [2, 3]),
        Case::new(33, 5, 257, [1, 1]),
        Case::new(3, 7, 4096, [1, 1]),
    ];
    v[1].mm.trans_b = true;
    v[1].mm.bias = true;
    v[1].mm.act = Activation::Relu;
    v[2].mm.act = Activation::Gelu;
    v[3].mm.trans_a = true;
    // Even N: the register-blocked rung (with A transposed, a bias and
    // batches; and M not a multiple of its 4 rows).
    let mut rb = Case::new(17, 10, 37, [1, 2]);
    rb.mm.trans_a = true;
    rb.mm.bias = true;
    rb.mm.act = Activation::Relu;
    v.push(rb);
    v.push(Case::new(6, 2, 1000, [1, 1]));
    let mut tiny = Case::new(9, 11, 16, [1, 1]);
    // Products near 2^-20: outputs below float16's smallest normal, 2^-14.
    tiny.scale = 1.0 / 1024.0;
    v.push(tiny);
    v
}

/// [`cases`], the vec4 rung on each of them made eligible ([`Case::on`]:
/// M not a multiple of 8, one column quad, batches, bias, both
/// activations, K = 4096, subnormal outputs) and, on an adapter with
/// subgroups, the texture rung on the cases it reads differently: N odd
/// (C's rows start mid-word), K not a multiple of 4 and A transposed (A's
/// padded copy), B transposed, batches, bias and both activations,
/// subnormal outputs, K = 4096.
pub fn cases_on(gpu: &Gpu) -> Vec<Case> {
    let base = cases();
    let mut v = base.clone();
    v.extend(base.iter().map(|c| c.on(HalfRung::Vec4)));
    if gpu.features.contains(wgpu::Features::SUBGROUP) {
        v.extend(
            base.iter()
                .filter(|c| c.mm.k > 1)
                .map(|c| c.on(HalfRung::Tex)),
        );
    }
    v
}

/// The vec4 product rung's kernel families (both float16 paths).
const VEC4_FAMILIES: [&str; 2] = ["matmul_f16_vec4_packed", "matmul_f16_vec4_native"];
/// The conv implicit GEMM's kernel families (both float16 paths).
const IGEMM_FAMILIES: [&str; 2] = ["conv2d_f16_igemm_packed", "conv2d_f16_igemm_native"];

/// A fault a float16 kernel makes, planted in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The running sum rounded to float16 at every step while the kernel
    /// claims float32 accumulation.
    AccumulatesInF16,
    /// Each product rounded to float16 before it is added: operands near
    /// 300 overflow it past 65504, though the scaled result is in range.
    ProductsInF16,
    /// Outputs below 2^-14 stored as zero (float16 subnormals flushed).
    FlushSubnormals,
    /// The texture rung's packed store of one half clears the other half
    /// of its word (a wrong mask): the neighbour stored before is lost.
    HalfWordClobbered,
    /// The conv implicit GEMM's word shared by two output rows (odd pixel
    /// counts) takes its earlier element from the wrong row's sums.
    SharedWordMisowned,
}

impl Fault {
    /// Every fault, for `--mutants`.
    pub const ALL: [Fault; 5] = [
        Fault::AccumulatesInF16,
        Fault::ProductsInF16,
        Fault::FlushSubnormals,
        Fault::HalfWordClobbered,
        Fault::SharedWordMisowned,
    ];

    /// Whether the fault is planted in `rung`'s kernels on `path`, for a
    /// conv (`conv`) or a product: the clobbered half lives only in the
    /// texture rung's packed store, the shared word only in the conv's
    /// implicit GEMM, and products have no implicit GEMM.
    pub fn planted_in(self, rung: HalfRung, conv: bool, path: F16Path) -> bool {
        if (rung == HalfRung::Igemm && !conv) || (rung == HalfRung::Vec4 && conv) {
            return false;
        }
        match self {
            Fault::HalfWordClobbered => rung == HalfRung::Tex && path == F16Path::Packed,
            Fault::SharedWordMisowned => rung == HalfRung::Igemm,
            Fault::ProductsInF16 => !conv,
            _ => true,
        }
    }

    /// What the fault is, for tables.
    pub fn name(self) -> &'static str {
        match self {
            Fault::AccumulatesInF16 => "f16: accumulates in float16 while claiming float32",
            Fault::ProductsInF16 => "f16: products overflow float16 past 65504 (result in range)",
            Fault::FlushSubnormals => "f16: subnormal outputs flushed to zero",
            Fault::HalfWordClobbered => "f16 tex: a half-word store clears its neighbour",
            Fault::SharedWordMisowned => "f16 igemm: a word shared by two rows misowned",
        }
    }

    /// The case that exposes it: a long reduction, large operands scaled
    /// back into range, outputs in the subnormal range.
    pub fn case(self) -> Case {
        match self {
            Fault::AccumulatesInF16 => Case::new(5, 6, 4096, [1, 1]),
            Fault::ProductsInF16 => {
                let mut c = Case::new(4, 6, 64, [1, 1]);
                c.scale = 400.0;
                c.mm.alpha = 1.0 / 4096.0;
                c
            }
            Fault::FlushSubnormals => cases().pop().expect("the subnormal case"),
            // N odd: rows start mid-word, and each invocation stores four
            // neighbours, low halves before high ones.
            Fault::HalfWordClobbered | Fault::SharedWordMisowned => Case::new(5, 7, 64, [1, 1]),
        }
    }

    fn patches(self) -> Vec<Patch> {
        const DOT: &str =
            "s = fma(ld_a(a_index(at.z, at.x, kk)), ld_b(b_index(at.w, kk, at.y)), s);";
        const TAP: &str = "acc = fma(ld_a(xrow + u32(ix)), ld_b(wrow + kx), acc);";
        let conv = match self {
            Fault::AccumulatesInF16 => (
                TAP,
                "acc = unpack2x16float(pack2x16float(vec2<f32>(fma(ld_a(xrow + u32(ix)), ld_b(wrow + kx), acc), 0.0))).x;",
            ),
            Fault::ProductsInF16 => (
                TAP,
                "acc += unpack2x16float(pack2x16float(to_f16_range(vec2<f32>(ld_a(xrow + u32(ix)) * ld_b(wrow + kx), 0.0)))).x;",
            ),
            _ => (
                "let s = to_f16_range(v);",
                "let s = select(to_f16_range(v), vec2<f32>(0.0), abs(v) < vec2<f32>(6.1035156e-5));",
            ),
        };
        if self == Fault::SharedWordMisowned {
            return IGEMM_FAMILIES
                .map(|family| Patch {
                    family,
                    find: "v.x = conv_at(e);",
                    replace: "",
                })
                .to_vec();
        }
        if self == Fault::HalfWordClobbered {
            return vec![Patch {
                family: "matmul_tex_f16_packed",
                find: "return vec2<u32>(0xffffu, bits << 16u);",
                replace: "return vec2<u32>(0u, bits << 16u);",
            }];
        }
        let (find, replace) = match self {
            Fault::AccumulatesInF16 => (
                DOT,
                "s = unpack2x16float(pack2x16float(vec2<f32>(fma(ld_a(a_index(at.z, at.x, kk)), ld_b(b_index(at.w, kk, at.y)), s), 0.0))).x;",
            ),
            Fault::ProductsInF16 => (
                DOT,
                "s += unpack2x16float(pack2x16float(to_f16_range(vec2<f32>(ld_a(a_index(at.z, at.x, kk)) * ld_b(b_index(at.w, kk, at.y)), 0.0)))).x;",
            ),
            _ => (
                "let s = to_f16_range(v);",
                "let s = select(to_f16_range(v), vec2<f32>(0.0), abs(v) < vec2<f32>(6.1035156e-5));",
            ),
        };
        // The register-blocked rung's sums (acc0 stands for all four rows:
        // one wrong row is enough to fail).
        const RB: &str = "acc0 = fma(vec2<f32>(ld_a(a_index(abase, r0, kk))), bv, acc0);";
        let rb = match self {
            Fault::AccumulatesInF16 => Some((
                RB,
                "acc0 = unpack2x16float(pack2x16float(fma(vec2<f32>(ld_a(a_index(abase, r0, kk))), bv, acc0)));",
            )),
            Fault::ProductsInF16 => Some((
                RB,
                "acc0 += unpack2x16float(pack2x16float(to_f16_range(vec2<f32>(ld_a(a_index(abase, r0, kk))) * bv)));",
            )),
            _ => None,
        };
        // The vec4 rung: row 0 of each block's sums.
        const V4: &str = "var a = ld_a4(rows[0] + k4); c0 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c0))));";
        let vec4 = match self {
            Fault::AccumulatesInF16 => (
                V4,
                "var a = ld_a4(rows[0] + k4); c0 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, c0)))); c0 = vec4<f32>(unpack2x16float(pack2x16float(c0.xy)), unpack2x16float(pack2x16float(c0.zw)));",
            ),
            Fault::ProductsInF16 => (
                V4,
                "var a = ld_a4(rows[0] + k4); c0 = fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, c0 + vec4<f32>(to_f16_range((vec4(a.x) * b0).xy), to_f16_range((vec4(a.x) * b0).zw)))));",
            ),
            _ => (find, replace),
        };
        // The conv's implicit GEMM: channel 0 of each block's sums.
        const IG: &str = "acc0 = fma(vec4<f32>(ld_b(w0 + tap)), xa, acc0);";
        let igemm = match self {
            Fault::AccumulatesInF16 => (
                IG,
                "acc0 = fma(vec4<f32>(ld_b(w0 + tap)), xa, acc0); acc0 = vec4<f32>(unpack2x16float(pack2x16float(acc0.xy)), unpack2x16float(pack2x16float(acc0.zw)));",
            ),
            Fault::ProductsInF16 => (
                IG,
                "acc0 += vec4<f32>(to_f16_range((vec4<f32>(ld_b(w0 + tap)) * xa).xy), to_f16_range((vec4<f32>(ld_b(w0 + tap)) * xa).zw));",
            ),
            _ => (find, replace),
        };
        // The texture rung (float16 storage): row 0's first four sums, its
        // first product's terms, or every stored value.
        const TEX: &str = "c0_0 = fma(vec4(a0.w), b3_0, fma(vec4(a0.z), b2_0, fma(vec4(a0.y), b1_0, fma(vec4(a0.x), b0_0, c0_0))));";
        const TEX_STORE: &str = "st_c16(row + j0 + t, epilogue16(v[t], i, j0 + t));";
        let tex = match self {
            Fault::AccumulatesInF16 => (
                TEX,
                "c0_0 = fma(vec4(a0.w), b3_0, fma(vec4(a0.z), b2_0, fma(vec4(a0.y), b1_0, fma(vec4(a0.x), b0_0, c0_0)))); c0_0 = vec4<f32>(unpack2x16float(pack2x16float(c0_0.xy)), unpack2x16float(pack2x16float(c0_0.zw)));",
            ),
            Fault::ProductsInF16 => (
                TEX,
                "c0_0 = fma(vec4(a0.w), b3_0, fma(vec4(a0.z), b2_0, fma(vec4(a0.y), b1_0, c0_0 + vec4<f32>(to_f16_range((vec4(a0.x) * b0_0).xy), to_f16_range((vec4(a0.x) * b0_0).zw)))));",
            ),
            _ => (
                TEX_STORE,
                "st_c16(row + j0 + t, select(epilogue16(v[t], i, j0 + t), 0.0, abs(epilogue16(v[t], i, j0 + t)) < 6.1035156e-5));",
            ),
        };
        let mut v: Vec<Patch> = ["matmul_f16_packed", "matmul_f16_native"]
            .into_iter()
            .flat_map(|family| {
                std::iter::once(Patch {
                    family,
                    find,
                    replace,
                })
                .chain(rb.map(|(find, replace)| Patch {
                    family,
                    find,
                    replace,
                }))
            })
            .collect();
        v.extend(
            ["conv2d_f16_packed", "conv2d_f16_native"].map(|family| Patch {
                family,
                find: conv.0,
                replace: conv.1,
            }),
        );
        v.extend(VEC4_FAMILIES.map(|family| Patch {
            family,
            find: vec4.0,
            replace: vec4.1,
        }));
        v.extend(IGEMM_FAMILIES.map(|family| Patch {
            family,
            find: igemm.0,
            replace: igemm.1,
        }));
        v.extend(
            ["matmul_tex_f16_packed", "matmul_tex_f16_native"].map(|family| Patch {
                family,
                find: tex.0,
                replace: tex.1,
            }),
        );
        v
    }

    /// The conv case that exposes it: 3x3 taps over 256 channels (2304
    /// terms), or tiny inputs. None for `ProductsInF16`: a conv has no
    /// alpha to bring overflowing products back into range, so a correct
    /// conv would overflow on the same inputs.
    pub fn conv_case(self) -> Option<ConvCase> {
        match self {
            Fault::AccumulatesInF16 => Some(ConvCase::new(
                Conv2d::new(256, 3, 3).padding(1),
                [1, 256, 5, 6],
                1.0,
            )),
            Fault::ProductsInF16 => None,
            Fault::FlushSubnormals => conv_cases().pop(),
            // Odd output widths (7 x 5 pixels): rows start mid-word.
            Fault::HalfWordClobbered | Fault::SharedWordMisowned => Some(ConvCase::new(
                Conv2d::new(3, 4, 3).padding(1),
                [1, 3, 7, 5],
                1.0,
            )),
        }
    }
}

/// The float16 paths this adapter runs: native where it has `SHADER_F16`
/// (and the packed one beside it, which every adapter has), else packed.
pub fn paths(gpu: &Gpu) -> Vec<F16Path> {
    match F16Path::for_features(gpu.device.features()) {
        F16Path::Native => vec![F16Path::Native, F16Path::Packed],
        F16Path::Packed => vec![F16Path::Packed],
    }
}

/// Runs one case on `path` with `acc`, checked against the reference of
/// `claimed` accumulation (what the kernel says it does), seeded by `seed`.
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_case(
    gpu: &Gpu,
    case: &Case,
    path: F16Path,
    acc: Accumulate,
    claimed: Accumulate,
    seed: u64,
) -> Result<Check> {
    let mm = &case.mm;
    let nb = mm.batches[0] * mm.batches[1];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |n: usize| -> Vec<f32> {
        as_f16(
            &(0..n)
                .map(|_| rng.random_range(-case.scale..case.scale))
                .collect::<Vec<f32>>(),
        )
    };
    let (a, b, bias) = (draw(nb * mm.m * mm.k), draw(nb * mm.k * mm.n), draw(mm.n));
    let (a_rows, a_cols) = if mm.trans_a {
        (mm.k, mm.m)
    } else {
        (mm.m, mm.k)
    };
    let (b_rows, b_cols) = if mm.trans_b {
        (mm.n, mm.k)
    } else {
        (mm.k, mm.n)
    };
    let (av, bv) = (
        View {
            ld: a_cols,
            outer: mm.batches[1] * a_rows * a_cols,
            inner: a_rows * a_cols,
        },
        View {
            ld: b_cols,
            outer: mm.batches[1] * b_rows * b_cols,
            inner: b_rows * b_cols,
        },
    );
    let shape_a = [nb, a_rows, a_cols];
    let shape_b = [nb, b_rows, b_cols];
    let ta = Tensor::upload_f16(gpu, "A", &shape_a, &a)?;
    let tb = Tensor::upload_f16(gpu, "B", &shape_b, &b)?;
    let tbias = Tensor::upload_f16(gpu, "bias", &[mm.n], &bias)?;
    let c_shape = [nb, mm.m, mm.n];
    let mut plan = plan_for(case.rung);
    let c = matmul_f16_forward(
        gpu,
        &mut plan,
        "f16 product",
        mm,
        (&ta, av),
        (&tb, bv),
        mm.bias.then_some(&tbias),
        &c_shape,
        path,
        acc,
    )?;
    if acc == Accumulate::F32 {
        expect_rung(&plan, case.rung, &case.label())?;
    }
    gpu.run(&plan)?;
    let out = c.download(gpu)?;
    let mut reference = RefTensor::zeros(&c_shape);
    let cv = View {
        ld: mm.n,
        outer: mm.batches[1] * mm.m * mm.n,
        inner: mm.m * mm.n,
    };
    matmul_into_acc(
        mm,
        (&RefTensor::from_f32(&shape_a, &a), av),
        (&RefTensor::from_f32(&shape_b, &b), bv),
        mm.bias.then_some(&bias[..]),
        (&mut reference, cv),
        claimed,
    );
    Ok(compare_f16(&out, &stored_f16(reference)))
}

/// Runs `fault`'s matmul case (`conv`: its conv case) on `rung` with the
/// fault planted (on `path`, float32 accumulation
/// claimed) and returns the check, which must fail, and how many pipelines
/// the patch reached (0: the mutant proved nothing).
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_fault(
    gpu: &Gpu,
    fault: Fault,
    path: F16Path,
    conv: bool,
    rung: HalfRung,
    seed: u64,
) -> Result<(Check, usize)> {
    gpu.plant(fault.name(), &fault.patches());
    let run = if conv {
        let case = fault.conv_case().ok_or_else(|| {
            crate::Error::arg("--mutants", format!("{} has no conv case", fault.name()))
        })?;
        run_conv_case(gpu, &ConvCase { rung, ..case }, path, seed)
    } else {
        run_case(
            gpu,
            &fault.case().on(rung),
            path,
            Accumulate::F32,
            Accumulate::F32,
            seed,
        )
    };
    let hits = gpu.planted_hits();
    gpu.plant("", &[]);
    Ok((run?, hits))
}

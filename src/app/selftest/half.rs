//! `selftest --dtype f16`: float16 matrix products on every float16 path
//! the adapter has, against the f64 reference with float16's charges, and
//! the float16 fault catalogue (`--mutants`), each fault planted in the
//! kernel's source and required to fail.

use crate::check::{compare_f16, Check};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::matmul::matmul_into_acc;
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::{Gpu, Patch, Plan};
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
        }
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
    let mut tiny = Case::new(9, 11, 16, [1, 1]);
    // Products near 2^-20: outputs below float16's smallest normal, 2^-14.
    tiny.scale = 1.0 / 1024.0;
    v.push(tiny);
    v
}

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
}

impl Fault {
    /// Every fault, for `--mutants`.
    pub const ALL: [Fault; 3] = [
        Fault::AccumulatesInF16,
        Fault::ProductsInF16,
        Fault::FlushSubnormals,
    ];

    /// What the fault is, for tables.
    pub fn name(self) -> &'static str {
        match self {
            Fault::AccumulatesInF16 => "f16: accumulates in float16 while claiming float32",
            Fault::ProductsInF16 => "f16: products overflow float16 past 65504 (result in range)",
            Fault::FlushSubnormals => "f16: subnormal outputs flushed to zero",
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
        }
    }

    fn patches(self) -> Vec<Patch> {
        const DOT: &str =
            "s = fma(ld_a(a_index(at.z, at.x, kk)), ld_b(b_index(at.w, kk, at.y)), s);";
        let (find, replace) = match self {
            Fault::AccumulatesInF16 => (
                DOT,
                "s = unpack2x16float(pack2x16float(vec2<f32>(fma(ld_a(a_index(at.z, at.x, kk)), ld_b(b_index(at.w, kk, at.y)), s), 0.0))).x;",
            ),
            Fault::ProductsInF16 => (
                DOT,
                "s += unpack2x16float(pack2x16float(to_f16_range(vec2<f32>(ld_a(a_index(at.z, at.x, kk)) * ld_b(b_index(at.w, kk, at.y)), 0.0)))).x;",
            ),
            Fault::FlushSubnormals => (
                "let s = to_f16_range(v);",
                "let s = select(to_f16_range(v), vec2<f32>(0.0), abs(v) < vec2<f32>(6.1035156e-5));",
            ),
        };
        ["matmul_f16_packed", "matmul_f16_native"]
            .into_iter()
            .map(|family| Patch {
                family,
                find,
                replace,
            })
            .collect()
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
    let mut plan = Plan::new();
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

/// Runs `fault`'s case with the fault planted (on `path`, float32
/// accumulation claimed) and returns the check, which must fail, and how
/// many pipelines the patch reached (0: the mutant proved nothing).
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_fault(gpu: &Gpu, fault: Fault, path: F16Path, seed: u64) -> Result<(Check, usize)> {
    gpu.plant(fault.name(), &fault.patches());
    let run = run_case(
        gpu,
        &fault.case(),
        path,
        Accumulate::F32,
        Accumulate::F32,
        seed,
    );
    let hits = gpu.planted_hits();
    gpu.plant("", &[]);
    Ok((run?, hits))
}

//! `selftest --dtype f16`: fused attention on float16 storage
//! (`ops::attention::half`) against the f64 reference with float16's store
//! charged, and its float16 faults, each planted and required to fail.

use crate::check::{compare_f16, Check};
use crate::cpu::attention::{sdpa, Masks, Order};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::{Gpu, Patch, Plan};
use crate::ops::attention::half::sdpa_f16_forward;
use crate::ops::softmax::Mask;
use crate::rung::{AttentionRung, Kernels};
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// One float16 attention to check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionCase {
    /// Sequences B.
    pub batch: usize,
    /// Queries L.
    pub queries: usize,
    /// Keys S.
    pub keys: usize,
    /// Heads H.
    pub heads: usize,
    /// Features per head d.
    pub head_dim: usize,
    /// Key j hidden from query i when j > i.
    pub causal: bool,
    /// A [B, S] key-padding mask hiding every third key.
    pub key_mask: bool,
    /// Q and K uniform in [-scale, scale) before rounding (V in [-1, 1)).
    pub scale: f32,
    /// On the texture rung (`fused_tex` on float16 storage), else the
    /// float16 storage kernel.
    pub tex: bool,
}

impl AttentionCase {
    const fn new(batch: usize, queries: usize, keys: usize, heads: usize, head_dim: usize) -> Self {
        AttentionCase {
            batch,
            queries,
            keys,
            heads,
            head_dim,
            causal: false,
            key_mask: false,
            scale: 1.0,
            tex: false,
        }
    }

    /// The sizes and masks in words, for tables.
    pub fn label(&self) -> String {
        let mut s = format!(
            "attention B={} L={} S={}, {} heads of {}",
            self.batch, self.queries, self.keys, self.heads, self.head_dim
        );
        let flags = [(self.causal, " causal"), (self.key_mask, " key mask")];
        super::half_rung::label_tail(
            &mut s,
            &flags,
            self.scale,
            super::half_rung::HalfRung::of_tex(self.tex),
        );
        s
    }
}

/// One key, odd sequence lengths, both masks, 257 keys, scores near 40
/// (the online rescale matters), and a long row of 2048 keys.
pub fn attention_cases() -> Vec<AttentionCase> {
    let mut v = vec![
        AttentionCase::new(1, 1, 1, 1, 2),
        AttentionCase::new(2, 5, 7, 2, 4),
        AttentionCase::new(2, 9, 33, 2, 8),
        AttentionCase::new(1, 3, 257, 1, 16),
        AttentionCase::new(1, 4, 70, 2, 64),
        AttentionCase::new(1, 2, 2048, 1, 8),
    ];
    v[1].causal = true;
    v[2].causal = true;
    v[2].key_mask = true;
    v[4].scale = 3.0;
    v
}

/// [`attention_cases`] and, where the adapter can run the texture rung,
/// those of them with head sizes that are multiples of 4 on it.
pub fn attention_cases_on(gpu: &Gpu) -> Vec<AttentionCase> {
    let mut v = attention_cases();
    let tex: Vec<AttentionCase> = v
        .iter()
        .filter(|c| {
            let sh = crate::ops::attention::AttentionShape {
                batch: c.batch,
                heads: c.heads,
                queries: c.queries,
                keys: c.keys,
                head_dim: c.head_dim,
            };
            crate::ops::attention::tex::unsupported(gpu, &sh).is_none()
        })
        .map(|c| AttentionCase { tex: true, ..*c })
        .collect();
    v.extend(tex);
    v
}

/// Runs one case on `path`, checked against the reference, seeded.
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_attention_case(
    gpu: &Gpu,
    case: &AttentionCase,
    path: F16Path,
    seed: u64,
) -> Result<Check> {
    let c = case;
    let w = c.heads * c.head_dim;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |n: usize, s: f32| -> Vec<f32> {
        as_f16(
            &(0..n)
                .map(|_| rng.random_range(-s..s))
                .collect::<Vec<f32>>(),
        )
    };
    let (qs, kvs) = ([c.batch, c.queries, w], [c.batch, c.keys, w]);
    let q = draw(qs.iter().product(), c.scale);
    let k = draw(kvs.iter().product(), c.scale);
    let v = draw(kvs.iter().product(), 1.0);
    let keys: Vec<f32> = (0..c.batch * c.keys)
        .map(|i| if i % 3 == 2 { 0.0 } else { 1.0 })
        .collect();
    let tq = Tensor::upload_f16(gpu, "Q", &qs, &q)?;
    let tk = Tensor::upload_f16(gpu, "K", &kvs, &k)?;
    let tv = Tensor::upload_f16(gpu, "V", &kvs, &v)?;
    let tm = Tensor::upload_f16(gpu, "key mask", &[c.batch, c.keys], &keys)?;
    let mask = Mask {
        causal: c.causal,
        keys: c.key_mask.then_some(&tm),
    };
    let rung = if c.tex {
        AttentionRung::FusedTex
    } else {
        AttentionRung::Fused
    };
    let mut plan = Plan::with_kernels(Kernels::NONE.attention(rung));
    let o = sdpa_f16_forward(
        gpu,
        &mut plan,
        "f16 attention",
        c.heads,
        &tq,
        &tk,
        &tv,
        &mask,
        path,
    )?;
    if plan.runs("attention_tex") != c.tex {
        return Err(crate::Error::arg(
            "selftest --dtype f16",
            format!(
                "case '{}' did not run the rung it names; this is a bug in wgsl-nn",
                c.label()
            ),
        ));
    }
    gpu.run(&plan)?;
    let reference = sdpa(
        &RefTensor::from_f32(&qs, &q),
        &RefTensor::from_f32(&kvs, &k),
        &RefTensor::from_f32(&kvs, &v),
        c.heads,
        &Masks {
            causal: c.causal,
            keys: c.key_mask.then_some(&keys[..]),
        },
        Order::Online,
    );
    Ok(compare_f16(&o.download(gpu)?, &stored_f16(reference)))
}

/// A fault a float16 attention kernel makes, planted in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionFault {
    /// The online softmax's running sum rounded to float16 at every key.
    SumInF16,
    /// The output accumulator not rescaled when the running max grows.
    StaleRescale,
    /// The 1/sqrt(d) scale left out.
    ScaleMissing,
}

impl AttentionFault {
    /// Every fault, for `--mutants`.
    pub const ALL: [AttentionFault; 3] = [
        AttentionFault::SumInF16,
        AttentionFault::StaleRescale,
        AttentionFault::ScaleMissing,
    ];

    /// What the fault is, for tables.
    pub fn name(self) -> &'static str {
        match self {
            AttentionFault::SumInF16 => "f16 attention: online-softmax sum kept in float16",
            AttentionFault::StaleRescale => "f16 attention: output not rescaled as the max grows",
            AttentionFault::ScaleMissing => "f16 attention: 1/sqrt(d) scale missing",
        }
    }

    /// The case that exposes it: 2048 keys, or scores near 40.
    pub fn case(self) -> AttentionCase {
        let cases = attention_cases();
        match self {
            AttentionFault::SumInF16 => cases[5],
            AttentionFault::StaleRescale | AttentionFault::ScaleMissing => cases[4],
        }
    }

    /// The case on the storage kernel or (`tex`) the texture rung. The
    /// texture rung adds a block of 4 x subgroup keys to the sum at a time,
    /// so a float16 sum rounds 32x less often there: its case has 16384
    /// keys (at 2048 it failed by only 1.5x its bound).
    pub fn case_for(self, tex: bool) -> AttentionCase {
        let case = match (self, tex) {
            (AttentionFault::SumInF16, true) => AttentionCase::new(1, 2, 16384, 1, 8),
            _ => self.case(),
        };
        AttentionCase { tex, ..case }
    }

    fn patches(self) -> Vec<Patch> {
        let (find, replace) = match self {
            AttentionFault::SumInF16 => (
                "l = l * corr + pj;",
                "l = unpack2x16float(pack2x16float(vec2<f32>(l * corr + pj, 0.0))).x;",
            ),
            AttentionFault::StaleRescale => (
                "acc[c] = acc[c] * corr + pj * ld_v(kb + c);",
                "acc[c] = acc[c] + pj * ld_v(kb + c);",
            ),
            AttentionFault::ScaleMissing => ("s *= p.scale;", ""),
        };
        // The texture rung (every variant): row 0's sum, every row's
        // first output texels' rescale (a row whose max sits in its first
        // block never rescales), the scale on the scores.
        const RESCALES: [&str; 8] = [
            "o0_0 *= corr;",
            "o1_0 *= corr;",
            "o2_0 *= corr;",
            "o3_0 *= corr;",
            "o4_0 *= corr;",
            "o5_0 *= corr;",
            "o6_0 *= corr;",
            "o7_0 *= corr;",
        ];
        let tex: Vec<(&'static str, &'static str)> = match self {
            AttentionFault::SumInF16 => vec![(
                "l0 = l0 * corr + subgroupAdd(pr.x + pr.y + pr.z + pr.w);",
                "l0 = unpack2x16float(pack2x16float(vec2<f32>(l0 * corr + subgroupAdd(pr.x + pr.y + pr.z + pr.w), 0.0))).x;",
            )],
            AttentionFault::StaleRescale => RESCALES.iter().map(|&f| (f, "")).collect(),
            AttentionFault::ScaleMissing => vec![("var r = s * p.scale;", "var r = s;")],
        };
        let mut v: Vec<Patch> = ["attention_f16_packed", "attention_f16_native"]
            .map(|family| Patch {
                family,
                find,
                replace,
            })
            .to_vec();
        for family in ["attention_tex_f16_packed", "attention_tex_f16_native"] {
            v.extend(tex.iter().map(|&(find, replace)| Patch {
                family,
                find,
                replace,
            }));
        }
        v
    }
}

/// Runs `fault`'s case with the fault planted (on `path`, on the texture
/// rung with `tex`) and returns the check, which must fail, and how many
/// pipelines the patch reached.
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_attention_fault(
    gpu: &Gpu,
    fault: AttentionFault,
    path: F16Path,
    tex: bool,
    seed: u64,
) -> Result<(Check, usize)> {
    gpu.plant(fault.name(), &fault.patches());
    let run = run_attention_case(gpu, &fault.case_for(tex), path, seed);
    let hits = gpu.planted_hits();
    gpu.plant("", &[]);
    Ok((run?, hits))
}

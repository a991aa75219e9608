//! `bench --dtype f16`: the float16 matmul, conv and attention rows beside
//! the float32 ones, one per float16 path (and, for matmul, accumulation)
//! the adapter has, each checked
//! against the f64 reference with float16's charges (a seeded sample of
//! rows beyond 256).

use super::{checked, sample_rows, Case, Data, Row};
use crate::app::selftest::half_rung::{expect_rung, plan_for, HalfRung};
use crate::check::compare_f16;
use crate::cpu::attention::{sdpa_rows, Masks, Order};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::matmul::matmul_into_acc;
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::timer::time_plans;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::ConvStack;
use crate::ops::attention::half::sdpa_f16_forward;
use crate::ops::matmul::half::{matmul_f16_forward, Accumulate};
use crate::ops::matmul::{Matmul, View};
use crate::ops::softmax::Mask;
use crate::tensor::Tensor;

/// Which output rows of how many a float16 row checked.
struct Sample<'a> {
    rows: &'a [usize],
    width: usize,
    total: usize,
    what: &'static str,
}

/// One float16 row: its name, path, accumulation and the rung forced.
type F16Rung = (&'static str, F16Path, Accumulate, HalfRung);

/// The float16 rows' names: path, accumulation and rung (the texture rung
/// where the adapter has subgroups).
fn rungs(gpu: &Gpu) -> Vec<F16Rung> {
    use Accumulate::{F16, F32};
    use HalfRung::{Buffer, Tex, Vec4};
    let tex = gpu.features.contains(wgpu::Features::SUBGROUP);
    let mut v: Vec<F16Rung> = vec![];
    let mut push = |row: F16Rung| {
        if row.3 != Tex || tex {
            v.push(row);
        }
    };
    if F16Path::for_features(gpu.device.features()) == F16Path::Native {
        let p = F16Path::Native;
        push(("f16 native", p, F32, Buffer));
        push(("f16 vec4 native", p, F32, Vec4));
        push(("f16 tex native", p, F32, Tex));
        push(("f16acc native", p, F16, Buffer));
    }
    let p = F16Path::Packed;
    push(("f16 packed", p, F32, Buffer));
    push(("f16 vec4 packed", p, F32, Vec4));
    push(("f16 tex packed", p, F32, Tex));
    v
}

impl Case {
    /// Float16 rows of a matmul, conv or attention case on one adapter.
    pub fn f16_rows(&self, gpu: &Gpu, reps: usize, seed: u64) -> Vec<Row> {
        let adapter = format!(
            "{} ({})",
            gpu.info.name,
            format!("{:?}", gpu.info.backend).to_lowercase()
        );
        let refuse = |name: &str, e: String| {
            Row::refused(
                self.op.name(),
                &self.shape,
                &format!("gpu {name}"),
                &adapter,
                self.size,
                e,
            )
        };
        let (n, a, b) = match &self.data {
            Data::Matmul { n, a, b } => (*n, a, b),
            Data::Conv { stack, inputs } => {
                return rungs(gpu)
                    .into_iter()
                    .filter(|r| r.2 == Accumulate::F32 && r.3 != HalfRung::Vec4)
                    .flat_map(|(name, path, _, rung)| {
                        // A conv's buffer rungs: the direct kernel and the
                        // implicit GEMM.
                        match name {
                            "f16 native" => vec![
                                ("f16 direct native", path, HalfRung::Buffer),
                                ("f16 igemm native", path, HalfRung::Igemm),
                            ],
                            "f16 packed" => vec![
                                ("f16 direct packed", path, HalfRung::Buffer),
                                ("f16 igemm packed", path, HalfRung::Igemm),
                            ],
                            n => vec![(n, path, rung)],
                        }
                    })
                    .map(|(name, path, rung)| {
                        self.f16_conv_row(
                            gpu,
                            stack,
                            &inputs[0],
                            (name, path, rung),
                            reps,
                            &adapter,
                        )
                        .unwrap_or_else(|e| refuse(name, e.to_string()))
                    })
                    .collect();
            }
            Data::Attention { shape, qkv } => {
                return rungs(gpu)
                    .into_iter()
                    .filter(|r| r.2 == Accumulate::F32 && r.3 != HalfRung::Vec4)
                    .map(|(name, path, _, rung)| {
                        self.f16_attention_row(
                            gpu,
                            shape,
                            &qkv[0],
                            (name, path, rung == HalfRung::Tex),
                            reps,
                            seed,
                            &adapter,
                        )
                        .unwrap_or_else(|e| refuse(name, e.to_string()))
                    })
                    .collect();
            }
        };
        rungs(gpu)
            .into_iter()
            .map(|rung| {
                let name = rung.0;
                self.f16_row(gpu, n, a, b, rung, reps, seed, &adapter)
                    .unwrap_or_else(|e| {
                        Row::refused(
                            self.op.name(),
                            &self.shape,
                            &format!("gpu {name}"),
                            &adapter,
                            self.size,
                            e.to_string(),
                        )
                    })
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn f16_row(
        &self,
        gpu: &Gpu,
        n: usize,
        a: &[Vec<f32>; 2],
        b: &[Vec<f32>; 2],
        (name, path, acc, rung): F16Rung,
        reps: usize,
        seed: u64,
        adapter: &str,
    ) -> Result<Row> {
        let mm = Matmul::square(n);
        let dense = View::dense(n, n, false);
        let mut outs = vec![];
        let plans: Vec<Plan> = (0..2)
            .map(|i| {
                let mut plan = plan_for(rung);
                let at = Tensor::upload_f16(gpu, "A", &[n, n], &a[i])?;
                let bt = Tensor::upload_f16(gpu, "B", &[n, n], &b[i])?;
                outs.push(matmul_f16_forward(
                    gpu,
                    &mut plan,
                    "matmul",
                    &mm,
                    (&at, dense),
                    (&bt, dense),
                    None,
                    &[n, n],
                    path,
                    acc,
                )?);
                if acc == Accumulate::F32 {
                    expect_rung(&plan, rung, name)?;
                }
                Ok(plan)
            })
            .collect::<Result<_>>()?;
        let t = time_plans(gpu, &plans, 1, reps)?;
        let got = outs[0].download(gpu)?;
        let rows = sample_rows(n, seed);
        let start = std::time::Instant::now();
        let (a16, b16) = (as_f16(&a[0]), as_f16(&b[0]));
        let sub_a: Vec<f32> = rows
            .iter()
            .flat_map(|&r| a16[r * n..(r + 1) * n].to_vec())
            .collect();
        let sub = Matmul {
            m: rows.len(),
            ..mm.clone()
        };
        let mut reference = RefTensor::zeros(&[rows.len(), n]);
        matmul_into_acc(
            &sub,
            (
                &RefTensor::from_f32(&[rows.len(), n], &sub_a),
                View::dense(rows.len(), n, false),
            ),
            (&RefTensor::from_f32(&[n, n], &b16), dense),
            None,
            (&mut reference, View::dense(rows.len(), n, false)),
            acc,
        );
        let ref_ms = start.elapsed().as_secs_f64() * 1e3;
        let sample = Sample {
            rows: &rows,
            width: n,
            total: n,
            what: "rows",
        };
        Ok(self.f16_sampled_row(name, adapter, &t, &got, sample, reference, ref_ms))
    }

    fn f16_conv_row(
        &self,
        gpu: &Gpu,
        stack: &ConvStack,
        input: &[f32],
        (name, path, rung): (&str, F16Path, HalfRung),
        reps: usize,
        adapter: &str,
    ) -> Result<Row> {
        let weights = stack.upload_f16(gpu)?;
        let x16 = as_f16(input);
        let xt = Tensor::upload_f16(gpu, "input", &stack.input_shape, &x16)?;
        let mut plan = plan_for(rung);
        let y = stack.forward_gpu_f16(gpu, &weights, &xt, &mut plan, path)?;
        expect_rung(&plan, rung, name)?;
        let t = time_plans(gpu, std::slice::from_ref(&plan), 1, reps)?;
        let got = y.download(gpu)?;
        let start = std::time::Instant::now();
        let reference = stack.forward_ref_f16(&RefTensor::from_f32(&stack.input_shape, &x16));
        let ref_ms = start.elapsed().as_secs_f64() * 1e3;
        let c = compare_f16(&got, &reference);
        let all = checked(c.elements, c.elements, "elements");
        Ok(self.f16_row_of(name, adapter, &t, &c, all, Some(ref_ms)))
    }

    /// The fused float16 attention on Q, K, V rounded to float16, a seeded
    /// sample of query rows checked (beyond 256).
    #[allow(clippy::too_many_arguments)]
    fn f16_attention_row(
        &self,
        gpu: &Gpu,
        shape: &crate::ops::attention::AttentionShape,
        qkv: &[Vec<f32>; 3],
        (name, path, tex): (&str, F16Path, bool),
        reps: usize,
        seed: u64,
        adapter: &str,
    ) -> Result<Row> {
        use crate::rung::{AttentionRung, Kernels};
        let dims = [shape.batch, shape.queries, shape.width()];
        let h16 = qkv.clone().map(|v| as_f16(&v));
        let [q, k, v] = [0, 1, 2].map(|i| Tensor::upload_f16(gpu, "qkv", &dims, &h16[i]));
        let rung = if tex {
            AttentionRung::FusedTex
        } else {
            AttentionRung::Fused
        };
        let mut plan = Plan::with_kernels(Kernels::NONE.attention(rung));
        let o = sdpa_f16_forward(
            gpu,
            &mut plan,
            "attention",
            shape.heads,
            &q?,
            &k?,
            &v?,
            &Mask::default(),
            path,
        )?;
        if plan.runs("attention_tex") != tex {
            return Err(crate::Error::arg(
                "bench --dtype f16",
                format!("row '{name}' did not run the rung it names; this is a bug in wgsl-nn"),
            ));
        }
        let t = time_plans(gpu, std::slice::from_ref(&plan), 1, reps)?;
        let got = o.download(gpu)?;
        let rows = sample_rows(shape.queries, seed);
        let start = std::time::Instant::now();
        let r = |i: usize| RefTensor::from_f32(&dims, &h16[i]);
        let pairs: Vec<(usize, usize)> = rows.iter().map(|&i| (0, i)).collect();
        let masks = Masks {
            causal: false,
            keys: None,
        };
        let reference = sdpa_rows(
            &r(0),
            &r(1),
            &r(2),
            shape.heads,
            &masks,
            Order::Online,
            &pairs,
        );
        let ref_ms = start.elapsed().as_secs_f64() * 1e3;
        let sample = Sample {
            rows: &rows,
            width: shape.width(),
            total: shape.queries,
            what: "query rows",
        };
        Ok(self.f16_sampled_row(name, adapter, &t, &got, sample, reference, ref_ms))
    }

    /// A float16 row whose output rows `sample.rows` were checked against
    /// `reference` (those rows only).
    #[allow(clippy::too_many_arguments)]
    fn f16_sampled_row(
        &self,
        name: &str,
        adapter: &str,
        t: &crate::gpu::timer::PlanTiming,
        got: &[f32],
        sample: Sample,
        reference: RefTensor,
        ref_ms: f64,
    ) -> Row {
        let w = sample.width;
        let got_rows: Vec<f32> = sample
            .rows
            .iter()
            .flat_map(|&r| got[r * w..(r + 1) * w].to_vec())
            .collect();
        let c = compare_f16(&got_rows, &stored_f16(reference));
        let n = sample.rows.len();
        self.f16_row_of(
            name,
            adapter,
            t,
            &c,
            checked(n, sample.total, sample.what),
            (n == sample.total).then_some(ref_ms),
        )
    }

    /// A float16 row from its timing and check: speeds only when the
    /// check passed, half the float32 case's bytes (every operand is
    /// float16), the check's summary as the note of a failure.
    fn f16_row_of(
        &self,
        name: &str,
        adapter: &str,
        t: &crate::gpu::timer::PlanTiming,
        c: &crate::check::Check,
        checked: String,
        reference_ms: Option<f64>,
    ) -> Row {
        let mut row = Row::gpu(
            self.op.name(),
            &self.shape,
            name,
            adapter,
            self.size,
            self.flops,
            self.bytes / 2,
            t,
            c.passed,
            checked,
        );
        row.reference_ms = reference_ms;
        self.set_speedup(&mut row);
        if !c.passed {
            row.note = Some(c.summary());
        }
        row
    }
}

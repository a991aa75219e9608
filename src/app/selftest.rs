//! `wgsl-nn selftest`: every kernel on the chosen adapter over a fixed,
//! seeded set of shapes and edge cases, each against the f64 reference, so
//! a user can ask "does my GPU and driver compute these layers correctly?".

use crate::check::{compare, Check};
use crate::cpu::{self, attention as cpu_attn, RefTensor};
use crate::error::Result;
use crate::geometry::Window;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::random_input as unseeded_input;
use crate::ops::attention::{sdpa_forward, AttentionPath};
use crate::ops::batchnorm::{batchnorm_forward, BatchNorm};
use crate::ops::conv2d::{conv2d_forward, Conv2d};
use crate::ops::conv_transpose2d::{conv_transpose2d_forward, ConvTranspose2d};
use crate::ops::elementwise::{map_forward, RELU};
use crate::ops::elementwise::{pointwise_forward, Pointwise};
use crate::ops::layernorm::{layernorm_forward, EPS};
use crate::ops::matmul::{matmul_into, Activation, Matmul, View};
use crate::ops::pool2d::{pool2d_forward, Pool2d, PoolKind};
use crate::ops::positional::{rope_forward, rope_tables};
use crate::ops::rnn::{rnn_forward, Rnn, RnnKind};
use crate::ops::softmax::{softmax_forward, Mask};
use crate::tensor::Tensor;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct KernelResult {
    pub kernel: String,
    pub cases: usize,
    pub failed: usize,
    pub max_abs_err: f64,
    /// Largest |gpu - ref| / bound over all cases (below 1 passes).
    pub worst_of_bound: f64,
    /// The first failure, in words.
    pub failure: Option<String>,
    /// The kernel entry points that actually ran: a rung the device cannot
    /// run falls back (e.g. `tex` without subgroups), and this shows it.
    pub ran: std::collections::BTreeSet<String>,
    /// Cases that hit --gpu-timeout: the user's limit, not the kernel, failed.
    pub timed_out: usize,
}

thread_local! {
    /// Entry points run since the last `record` (filled by run_and_compare).
    static RAN: std::cell::RefCell<std::collections::BTreeSet<String>> = Default::default();
}

struct Tally {
    results: Vec<KernelResult>,
}

impl Tally {
    fn record(&mut self, kernel: &str, case: &str, outcome: Result<Check>) {
        let idx = match self.results.iter().position(|r| r.kernel == kernel) {
            Some(i) => i,
            None => {
                self.results.push(KernelResult {
                    kernel: kernel.into(),
                    cases: 0,
                    failed: 0,
                    max_abs_err: 0.0,
                    worst_of_bound: 0.0,
                    failure: None,
                    ran: Default::default(),
                    timed_out: 0,
                });
                self.results.len() - 1
            }
        };
        let r = &mut self.results[idx];
        r.cases += 1;
        RAN.with(|ran| r.ran.append(&mut ran.borrow_mut()));
        match outcome {
            Ok(c) => {
                r.max_abs_err = r.max_abs_err.max(c.max_abs_err);
                if let Some(w) = &c.worst {
                    let ratio = if w.bound > 0.0 {
                        (w.gpu - w.reference).abs() / w.bound
                    } else {
                        0.0
                    };
                    r.worst_of_bound =
                        r.worst_of_bound
                            .max(if ratio.is_nan() { f64::INFINITY } else { ratio });
                }
                if !c.passed {
                    r.failed += 1;
                    r.failure.get_or_insert(format!("{case}: {}", c.summary()));
                }
            }
            Err(e) => {
                r.failed += 1;
                r.timed_out += usize::from(matches!(e, crate::Error::Timeout { .. }));
                r.failure.get_or_insert(format!("{case}: {e}"));
            }
        }
    }
}

// Added to every seed of the selftest and the mutants' cases:
// `selftest --seeds N` walks it over 0..N to sweep for false alarms. Per
// thread, so that tests running side by side do not shift each other.
thread_local! {
    static SEED_OFFSET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Shifts every seed the selftest and the mutant cases use on this thread
/// (0: the documented ones).
pub fn set_seed_offset(offset: u64) {
    SEED_OFFSET.with(|o| o.set(offset));
}

/// Uniform [-1, 1) inputs from `seed` plus the current offset, which is
/// 10^6 apart per step so that no two sweeps' seeds meet.
pub fn seeded_input(shape: &[usize], seed: u64) -> Vec<f32> {
    let offset = SEED_OFFSET.with(|o| o.get());
    unseeded_input(shape, seed + 1_000_000 * offset)
}
use seeded_input as random_input;

/// A dense product C = act(op(A) op(B) + bias) as a plan writing a
/// poisoned C, with its f64 reference: the selftest's and the mutants'.
pub fn dense_matmul(
    gpu: &Gpu,
    label: &str,
    mm: &Matmul,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
) -> Result<(Plan, Tensor, RefTensor)> {
    let (m, n, k) = (mm.m, mm.n, mm.k);
    let a_shape = if mm.trans_a { [k, m] } else { [m, k] };
    let b_shape = if mm.trans_b { [n, k] } else { [k, n] };
    let views = (
        View::dense(a_shape[0], a_shape[1], false),
        View::dense(b_shape[0], b_shape[1], false),
        View::dense(m, n, false),
    );
    let c = Tensor::poisoned(gpu, "C", &[m, n])?;
    let bias_t = bias
        .map(|v| Tensor::upload(gpu, "bias", &[n], v))
        .transpose()?;
    let mut plan = Plan::new();
    matmul_into(
        gpu,
        &mut plan,
        label,
        mm,
        (&Tensor::upload(gpu, "A", &a_shape, a)?, views.0),
        (&Tensor::upload(gpu, "B", &b_shape, b)?, views.1),
        bias_t.as_ref(),
        (&c, views.2),
    )?;
    let mut reference = RefTensor::zeros(&[m, n]);
    cpu::matmul::matmul_into(
        mm,
        (&RefTensor::from_f32(&a_shape, a), views.0),
        (&RefTensor::from_f32(&b_shape, b), views.1),
        bias,
        (&mut reference, views.2),
    );
    Ok((plan, c, reference))
}

/// Integers in -3..=3, seeded: exact in float32 products and sums.
fn integers(shape: &[usize], seed: u64) -> Vec<f32> {
    random_input(shape, seed)
        .iter()
        .map(|v| (v * 3.5).round().clamp(-3.0, 3.0))
        .collect()
}

fn up(gpu: &Gpu, shape: &[usize], seed: u64) -> Result<(Tensor, Vec<f32>)> {
    let v = random_input(shape, seed);
    Ok((Tensor::upload(gpu, "selftest input", shape, &v)?, v))
}

fn run_and_compare(gpu: &Gpu, plan: &Plan, y: &Tensor, reference: &RefTensor) -> Result<Check> {
    RAN.with(|ran| {
        ran.borrow_mut()
            .extend(plan.steps.iter().map(|s| s.kernel.entry.to_string()))
    });
    gpu.run(plan)?;
    Ok(compare(&y.download(gpu)?, reference))
}

fn win(k: [usize; 2], s: [usize; 2], p: [usize; 2], d: [usize; 2]) -> Window {
    Window {
        kernel: k,
        stride: s,
        pad_begin: p,
        pad_end: p,
        dilation: d,
        ceil_mode: false,
    }
}

/// Runs every case; the adapter's kernel choices are restored afterwards.
pub fn run(gpu: &Gpu) -> Vec<KernelResult> {
    let mut t = Tally { results: vec![] };
    let saved: Vec<_> = ["conv2d", "matmul", "attention"]
        .iter()
        .map(|f| gpu.kernel_for(f))
        .collect();
    // conv2d, every rung, odd shapes, stride > kernel, dilation, 1x1.
    for rung in crate::ops::conv2d::KERNELS {
        gpu.set_kernel("conv2d", Some(rung));
        // The last two are grouped (depthwise last): the block rungs hand
        // them to direct/row4, which the kernels column shows.
        for (i, (n, cin, cout, hw, w, groups)) in [
            (1, 1, 1, [1, 1], win([1, 1], [1, 1], [0, 0], [1, 1]), 1),
            (2, 3, 5, [13, 11], win([3, 3], [1, 1], [1, 1], [1, 1]), 1),
            (1, 4, 3, [17, 19], win([2, 3], [5, 3], [0, 1], [1, 1]), 1),
            (1, 2, 7, [21, 21], win([3, 3], [2, 2], [2, 2], [3, 3]), 1),
            (2, 6, 4, [9, 8], win([1, 1], [1, 1], [0, 0], [1, 1]), 1),
            (2, 6, 9, [11, 7], win([3, 2], [2, 1], [1, 0], [1, 2]), 3),
            (1, 5, 10, [13, 12], win([3, 3], [1, 1], [1, 1], [1, 1]), 5),
        ]
        .into_iter()
        .enumerate()
        {
            let outcome = (|| {
                let conv = Conv2d {
                    window: w,
                    in_channels: cin,
                    out_channels: cout,
                    groups,
                    bias: true,
                    relu: i % 2 == 1,
                };
                let shape = [n, cin, hw[0], hw[1]];
                let out = conv.output_shape(&shape, "selftest")?;
                let ((x, xv), (wt, wv), (b, bv)) = (
                    up(gpu, &shape, 1)?,
                    up(gpu, &conv.weight_shape(), 2)?,
                    up(gpu, &[cout], 3)?,
                );
                let mut plan = Plan::new();
                let y = conv2d_forward(gpu, &mut plan, "selftest conv", &conv, &x, &wt, Some(&b))?;
                run_and_compare(
                    gpu,
                    &plan,
                    &y,
                    &cpu::conv2d::conv2d(
                        &conv,
                        &RefTensor::from_f32(&shape, &xv),
                        &wv,
                        Some(&bv),
                        out,
                    ),
                )
            })();
            t.record(&format!("conv2d ({rung})"), &format!("case {i}"), outcome);
        }
    }
    gpu.set_kernel("conv2d", saved[0].as_deref());
    // Transposed conv and pooling.
    for (i, ct) in [
        ConvTranspose2d {
            in_channels: 3,
            out_channels: 2,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            output_padding: [1, 1],
            dilation: [1, 1],
            bias: true,
            relu: false,
        },
        ConvTranspose2d {
            in_channels: 1,
            out_channels: 4,
            kernel: [4, 2],
            stride: [3, 1],
            padding: [0, 1],
            output_padding: [0, 0],
            dilation: [1, 2],
            bias: false,
            relu: true,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let outcome = (|| {
            let shape = [2, ct.in_channels, 7, 6];
            let out = ct.output_shape(&shape, "selftest")?;
            let ((x, xv), (wt, wv), (b, bv)) = (
                up(gpu, &shape, 4)?,
                up(gpu, &ct.weight_shape(), 5)?,
                up(gpu, &[ct.out_channels], 6)?,
            );
            let mut plan = Plan::new();
            let y = conv_transpose2d_forward(
                gpu,
                &mut plan,
                "selftest ct",
                &ct,
                &x,
                &wt,
                ct.bias.then_some(&b),
            )?;
            run_and_compare(
                gpu,
                &plan,
                &y,
                &cpu::conv_transpose2d::conv_transpose2d(
                    &ct,
                    &RefTensor::from_f32(&shape, &xv),
                    &wv,
                    ct.bias.then_some(&bv[..]),
                    out,
                ),
            )
        })();
        t.record("conv_transpose2d", &format!("case {i}"), outcome);
    }
    for kind in [PoolKind::Max, PoolKind::Avg] {
        for (i, (w, include)) in [
            (win([2, 2], [2, 2], [0, 0], [1, 1]), true),
            (
                Window {
                    ceil_mode: true,
                    ..win([3, 3], [2, 2], [1, 1], [1, 1])
                },
                false,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let outcome = (|| {
                let pool = Pool2d {
                    kind,
                    window: w,
                    count_include_pad: include,
                };
                let shape = [2, 3, 9, 11];
                let out = pool.output_shape(&shape, "selftest")?;
                let (x, mut xv) = up(gpu, &shape, 7)?;
                xv[5] = f32::NAN;
                let x = if kind == PoolKind::Max {
                    Tensor::upload(gpu, "x", &shape, &xv)?
                } else {
                    x
                };
                if kind == PoolKind::Avg {
                    xv[5] = random_input(&shape, 7)[5];
                }
                let mut plan = Plan::new();
                let y = pool2d_forward(gpu, &mut plan, "selftest pool", &pool, &x)?;
                run_and_compare(
                    gpu,
                    &plan,
                    &y,
                    &cpu::pool2d::pool2d(&pool, &RefTensor::from_f32(&shape, &xv), out),
                )
            })();
            t.record(
                &format!("{} pool", if kind == PoolKind::Max { "max" } else { "avg" }),
                &format!("case {i}"),
                outcome,
            );
        }
    }
    // ReLU keeps NaN.
    let outcome = (|| {
        let mut v = random_input(&[1000], 8);
        v[3] = f32::NAN;
        let x = Tensor::upload(gpu, "x", &[1000], &v)?;
        let mut plan = Plan::new();
        let y = map_forward(gpu, &mut plan, "selftest relu", RELU, &x)?;
        run_and_compare(gpu, &plan, &y, &RefTensor::from_f32(&[1000], &v).relu())
    })();
    t.record("relu", "with NaN", outcome);
    // The other activations, NaN and a wide range included.
    for act in [
        Pointwise::Sigmoid,
        Pointwise::Tanh,
        Pointwise::Silu,
        Pointwise::Gelu { tanh: false },
        Pointwise::Gelu { tanh: true },
        Pointwise::LeakyRelu { slope: 0.2 },
    ] {
        let outcome = (|| {
            let mut v: Vec<f32> = random_input(&[999], 9).iter().map(|x| x * 12.0).collect();
            v[5] = f32::NAN;
            let x = Tensor::upload(gpu, "x", &[999], &v)?;
            let mut plan = Plan::new();
            let y = pointwise_forward(gpu, &mut plan, "selftest activation", act, &x)?;
            let reference = RefTensor::from_f32(&[999], &v).map_val(|x| act.reference(x));
            run_and_compare(gpu, &plan, &y, &reference)
        })();
        t.record(&format!("{act:?}").to_lowercase(), "with NaN", outcome);
    }
    // Batch norm (eval mode), folded to one multiply-add per element.
    let outcome = (|| {
        let shape = [2, 5, 7, 3];
        let (x, xv) = up(gpu, &shape, 10)?;
        let r = |seed, lo: f32| {
            random_input(&[5], seed)
                .iter()
                .map(|v| v * 0.5 + lo + 0.5)
                .collect::<Vec<f32>>()
        };
        let bn = BatchNorm {
            eps: 1e-5,
            weight: r(11, 0.5),
            bias: r(12, -0.5),
            mean: r(13, -0.5),
            var: r(14, 0.5),
        };
        let folded = bn.folded_f32();
        let ft = Tensor::upload(gpu, "folded", &[10], &folded)?;
        let mut plan = Plan::new();
        let y = batchnorm_forward(gpu, &mut plan, "selftest batchnorm", &x, &ft)?;
        run_and_compare(
            gpu,
            &plan,
            &y,
            &cpu::batchnorm::batchnorm(&bn, &RefTensor::from_f32(&shape, &xv)),
        )
    })();
    t.record("batch norm", "case 0", outcome);
    // Matmul, every rung, edge sizes, transposes, epilogues, a split K.
    for rung in crate::ops::matmul::KERNELS {
        gpu.set_kernel("matmul", Some(rung));
        for (i, (m, n, k, ta, tb, act)) in [
            (1, 1, 1, false, false, Activation::None),
            (13, 17, 19, true, false, Activation::Relu),
            (8, 12, 64, false, false, Activation::Gelu),
            (33, 5, 257, false, true, Activation::None),
            (4, 4, 70_000, false, false, Activation::None),
        ]
        .into_iter()
        .enumerate()
        {
            let outcome = (|| {
                let (a_shape, b_shape) = ([m, k], [k, n]);
                let (av, bv, biasv) = (
                    random_input(&a_shape, 9),
                    random_input(&b_shape, 10),
                    random_input(&[n], 11),
                );
                let mm = Matmul {
                    m,
                    n,
                    k,
                    batches: [1, 1],
                    trans_a: ta,
                    trans_b: tb,
                    bias: true,
                    act,
                    alpha: 1.0,
                };
                let (plan, c, reference) =
                    dense_matmul(gpu, "selftest matmul", &mm, &av, &bv, Some(&biasv))?;
                run_and_compare(gpu, &plan, &c, &reference)
            })();
            t.record(&format!("matmul ({rung})"), &format!("case {i}"), outcome);
        }
    }
    // Exact cases: small integers, whose products and sums float32 holds
    // exactly in any order (|C| <= 9 K < 2^24), against an error bound of
    // zero, so a dropped term, tile or split-K slice shows however long K
    // is, not statistically. K = 70000 crosses the split-K blocks and the
    // 65535-iteration loop budget with a tail; 65537 is a prime-ish tail.
    for rung in crate::ops::matmul::KERNELS {
        gpu.set_kernel("matmul", Some(rung));
        for (i, (m, n, k)) in [(4, 4, 70_000), (5, 3, 65_537), (33, 17, 1000)]
            .into_iter()
            .enumerate()
        {
            let outcome = (|| {
                let (av, bv) = (integers(&[m, k], 26), integers(&[k, n], 27));
                let mm = Matmul {
                    m,
                    n,
                    k,
                    ..Matmul::square(1)
                };
                let (plan, c, mut reference) =
                    dense_matmul(gpu, "selftest exact matmul", &mm, &av, &bv, None)?;
                reference.err.fill(0.0); // exact: nothing may differ
                run_and_compare(gpu, &plan, &c, &reference)
            })();
            t.record(
                &format!("matmul exact ({rung})"),
                &format!("case {i}"),
                outcome,
            );
        }
    }
    gpu.set_kernel("matmul", saved[1].as_deref());
    // Softmax: masks, a fully masked batch, logits of 1e4.
    for (i, (causal, masked, scale)) in [
        (false, false, 1.0f32),
        (true, false, 1.0),
        (true, true, 1.0),
        (false, false, 1e4),
    ]
    .into_iter()
    .enumerate()
    {
        let outcome = (|| {
            let shape = [2, 3, 5, 67];
            let xv: Vec<f32> = random_input(&shape, 12)
                .into_iter()
                .map(|v| v * scale)
                .collect();
            // Batch 0 hides every third key; batch 1 hides all of them when
            // `masked` (its rows must come out as zeros).
            let mask: Vec<f32> = (0..2 * 67)
                .map(|j| {
                    if j < 67 {
                        f32::from(j % 3 != 0)
                    } else {
                        f32::from(!masked)
                    }
                })
                .collect();
            let mt = Tensor::upload(gpu, "mask", &[2, 67], &mask)?;
            let mut plan = Plan::new();
            let y = softmax_forward(
                gpu,
                &mut plan,
                "selftest softmax",
                &Tensor::upload(gpu, "x", &shape, &xv)?,
                &Mask {
                    causal,
                    keys: Some(&mt),
                },
            )?;
            run_and_compare(
                gpu,
                &plan,
                &y,
                &cpu::softmax::softmax(&RefTensor::from_f32(&shape, &xv), causal, Some(&mask)),
            )
        })();
        t.record("softmax", &format!("case {i}"), outcome);
    }
    // Layer norm (including a large mean), RoPE.
    for (i, offset) in [0.0f32, 1e4].into_iter().enumerate() {
        let outcome = (|| {
            let xv: Vec<f32> = random_input(&[7, 129], 13)
                .into_iter()
                .map(|v| v + offset)
                .collect();
            let (g, gv) = up(gpu, &[129], 14)?;
            let (b, bv) = up(gpu, &[129], 15)?;
            let mut plan = Plan::new();
            let y = layernorm_forward(
                gpu,
                &mut plan,
                "selftest ln",
                &Tensor::upload(gpu, "x", &[7, 129], &xv)?,
                &g,
                &b,
            )?;
            run_and_compare(
                gpu,
                &plan,
                &y,
                &cpu::layernorm::layernorm(&RefTensor::from_f32(&[7, 129], &xv), &gv, &bv, EPS),
            )
        })();
        t.record("layer norm", &format!("case {i}"), outcome);
    }
    let outcome = (|| {
        let (x, xv) = up(gpu, &[2, 9, 24], 16)?;
        let (c, s) = rope_tables(9, 8);
        let mut plan = Plan::new();
        let y = rope_forward(
            gpu,
            &mut plan,
            "selftest rope",
            &x,
            3,
            &Tensor::upload(gpu, "c", &[9, 4], &c)?,
            &Tensor::upload(gpu, "s", &[9, 4], &s)?,
        )?;
        run_and_compare(
            gpu,
            &plan,
            &y,
            &cpu::sequence::rope(&RefTensor::from_f32(&[2, 9, 24], &xv), 3, &c, &s),
        )
    })();
    t.record("rope", "case 0", outcome);
    // Attention, every rung: self and cross, causal, odd head sizes.
    for rung in crate::ops::attention::KERNELS {
        gpu.set_kernel("attention", Some(rung));
        let path = if rung == "composed" {
            AttentionPath::Composed
        } else {
            AttentionPath::Fused
        };
        for (i, (b, l, s, h, d, causal)) in [
            (1, 1, 1, 1, 4, false),
            (2, 7, 13, 3, 5, true),
            (1, 70, 70, 2, 64, false),
            (1, 33, 600, 1, 8, true),
        ]
        .into_iter()
        .enumerate()
        {
            let outcome = (|| {
                let w = h * d;
                let ((q, qv), (k, kv), (v, vv)) = (
                    up(gpu, &[b, l, w], 17)?,
                    up(gpu, &[b, s, w], 18)?,
                    up(gpu, &[b, s, w], 19)?,
                );
                let mut plan = Plan::new();
                let y = sdpa_forward(
                    gpu,
                    &mut plan,
                    "selftest attention",
                    path,
                    h,
                    &q,
                    &k,
                    &v,
                    &Mask { causal, keys: None },
                )?;
                let order = if path == AttentionPath::Fused {
                    cpu_attn::Order::Online
                } else {
                    cpu_attn::Order::Stored
                };
                let reference = cpu_attn::sdpa(
                    &RefTensor::from_f32(&[b, l, w], &qv),
                    &RefTensor::from_f32(&[b, s, w], &kv),
                    &RefTensor::from_f32(&[b, s, w], &vv),
                    h,
                    &cpu_attn::Masks { causal, keys: None },
                    order,
                );
                run_and_compare(gpu, &plan, &y, &reference)
            })();
            t.record(
                &format!("attention ({rung})"),
                &format!("case {i}"),
                outcome,
            );
        }
    }
    gpu.set_kernel("attention", saved[2].as_deref());
    // Recurrent layers.
    for kind in [RnnKind::Elman, RnnKind::Gru, RnnKind::Lstm] {
        let outcome = (|| {
            let rnn = Rnn {
                kind,
                input_size: 9,
                hidden_size: 7,
            };
            let (x, xv) = up(gpu, &[3, 5, 9], 20)?;
            let ws: Vec<(Tensor, Vec<f32>)> = [
                rnn.w_ih_shape().to_vec(),
                rnn.w_hh_shape().to_vec(),
                rnn.bias_shape().to_vec(),
                rnn.bias_shape().to_vec(),
            ]
            .iter()
            .enumerate()
            .map(|(i, s)| up(gpu, s, 21 + i as u64))
            .collect::<Result<_>>()?;
            let mut plan = Plan::new();
            let y = rnn_forward(
                gpu,
                &mut plan,
                "selftest rnn",
                &rnn,
                &x,
                &ws[0].0,
                &ws[1].0,
                &ws[2].0,
                &ws[3].0,
                None,
            )?;
            run_and_compare(
                gpu,
                &plan,
                &y,
                &cpu::rnn::rnn(
                    &rnn,
                    &RefTensor::from_f32(&[3, 5, 9], &xv),
                    &ws[0].1,
                    &ws[1].1,
                    &ws[2].1,
                    &ws[3].1,
                    None,
                ),
            )
        })();
        let name = match kind {
            RnnKind::Elman => "elman rnn",
            RnnKind::Gru => "gru",
            RnnKind::Lstm => "lstm",
        };
        t.record(name, "case 0", outcome);
    }
    // A dispatch folded past 65535 workgroups in one dimension.
    let outcome = (|| {
        let n = (gpu.limits.max_compute_workgroups_per_dimension as usize + 3)
            * crate::ops::workgroup_1d(gpu) as usize;
        let v = random_input(&[n], 25);
        let mut plan = Plan::new();
        let y = map_forward(
            gpu,
            &mut plan,
            "selftest big dispatch",
            RELU,
            &Tensor::upload(gpu, "x", &[n], &v)?,
        )?;
        run_and_compare(gpu, &plan, &y, &RefTensor::from_f32(&[n], &v).relu())
    })();
    t.record("grid folding (> 65535 groups)", "case 0", outcome);
    t.results
}

//! The other side of the proof: correct kernels at the largest sizes the
//! tool runs, on every rung of every ladder, must pass (no false alarms).
//! `wgsl-nn selftest --seeds N --large` repeats them over seeds.

use super::cases::Case;
use crate::check::{compare, Check};
use crate::cpu::RefTensor;
use crate::error::Result;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::{ConvStack, WIDE_STACK};
use crate::ops::rnn::RnnKind;
use crate::rung::{ConvRung, Kernels, Rung};
use crate::tensor::Tensor;

/// The cases of each family at their largest size.
fn cases(family: &str) -> Vec<Case> {
    match family {
        "matmul" => vec![Case::Matmul, Case::Square],
        "conv2d" => vec![Case::Conv { groups: 1 }, Case::Conv { groups: 2 }],
        "attention" => vec![
            Case::Attention {
                causal: false,
                key_mask: false,
            },
            Case::Attention {
                causal: true,
                key_mask: false,
            },
            Case::Attention {
                causal: false,
                key_mask: true,
            },
        ],
        _ => vec![Case::Softmax { scale: 1.0 }, Case::Softmax { scale: 100.0 }],
    }
}

/// The wide stack at batch 2 (the per-element reductions of the
/// benchmarks' batch-16 stack, an eighth of the elements), seeded.
pub fn wide_stack(gpu: &Gpu, kernels: Kernels, seed: u64) -> Result<Check> {
    let specs = crate::spec::parse_stack(WIDE_STACK)?;
    let mut stack = ConvStack::new(&specs, [2, 1, 128, 128])?;
    stack.randomize(seed);
    let n: usize = stack.input_shape.iter().product();
    let x = crate::app::selftest::seeded_input(&[n], seed + 1);
    let weights = stack.upload(gpu)?;
    let mut plan = Plan::with_kernels(kernels);
    let xt = Tensor::upload(gpu, "input", &stack.input_shape, &x)?;
    let y = stack.forward_gpu(gpu, &weights, &xt, &mut plan)?;
    gpu.run(&plan)?;
    let got = y.download(gpu)?;
    Ok(compare(
        &got,
        &stack.forward_ref(&RefTensor::from_f32(&stack.input_shape, &x)),
    ))
}

/// Every rung of every ladder on its largest cases, plus the ops with one
/// kernel and the wide stack: (what ran, its verdict or why it could not).
pub fn correct_at_largest(gpu: &Gpu, seed: u64) -> Vec<(String, Result<Check>)> {
    let mut out = vec![];
    for (family, rungs) in Kernels::families() {
        for rung in rungs {
            for case in cases(family) {
                let what = format!("{family} ({rung}) {:?} at {}", case, case.size(true));
                let run = Kernels::default()
                    .with_name(family, rung)
                    .and_then(|k| case.run(gpu, k, true, &|_| {}));
                out.push((what, run));
            }
        }
    }
    for case in [
        Case::LayerNorm { spread: 1.0 },
        Case::LayerNorm { spread: 1e-3 },
        Case::AvgPool,
        Case::Rnn(RnnKind::Elman),
        Case::Rnn(RnnKind::Gru),
        Case::Rnn(RnnKind::Lstm),
    ] {
        out.push((
            format!("{case:?} at {}", case.size(true)),
            case.run(gpu, Kernels::default(), true, &|_| {}),
        ));
    }
    for &rung in ConvRung::ALL {
        out.push((
            format!("wide stack 2x1x128x128 ({rung})"),
            wide_stack(gpu, Kernels::default().conv2d(rung), 60 + seed),
        ));
    }
    out
}

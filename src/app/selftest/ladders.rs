//! The three kernel ladders, every rung over edge cases.

use super::*;
use crate::rung::{AttentionRung, ConvRung, Kernels, MatmulRung, Rung};

/// conv2d, every rung.
pub(super) fn conv2d_ladder(gpu: &Gpu, t: &mut Tally) {
    // conv2d, every rung, odd shapes, stride > kernel, dilation, 1x1.
    for &rung in ConvRung::ALL {
        let kernels = Kernels::default().conv2d(rung);
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
                    relu6: false,
                };
                let shape = [n, cin, hw[0], hw[1]];
                let out = conv.output_shape(&shape, "selftest")?;
                let ((x, xv), (wt, wv), (b, bv)) = (
                    up(gpu, &shape, 1)?,
                    up(gpu, &conv.weight_shape(), 2)?,
                    up(gpu, &[cout], 3)?,
                );
                let mut plan = Plan::with_kernels(kernels);
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
}

/// Matmul, every rung, and exact integer products.
pub(super) fn matmul_ladder(gpu: &Gpu, t: &mut Tally) {
    // Matmul, every rung, edge sizes, transposes, epilogues, a split K.
    for &rung in MatmulRung::ALL {
        let kernels = Kernels::default().matmul(rung);
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
                    dense_matmul(gpu, kernels, "selftest matmul", &mm, &av, &bv, Some(&biasv))?;
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
    for &rung in MatmulRung::ALL {
        let kernels = Kernels::default().matmul(rung);
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
                    dense_matmul(gpu, kernels, "selftest exact matmul", &mm, &av, &bv, None)?;
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
}

/// Attention, every rung.
pub(super) fn attention_ladder(gpu: &Gpu, t: &mut Tally) {
    // Attention, every rung: self and cross, causal, odd head sizes.
    for &rung in AttentionRung::ALL {
        let kernels = Kernels::default().attention(rung);
        let path = rung.path();
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
                let mut plan = Plan::with_kernels(kernels);
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
                let order = rung.order();
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
}

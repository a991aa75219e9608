//! The ops with one kernel: transposed conv, pooling, activations, batch
//! norm, softmax, layer norm, RoPE, recurrent layers, grid folding.

use super::*;

/// Transposed conv and pooling.
pub(super) fn conv_transpose_and_pool(gpu: &Gpu, t: &mut Tally) {
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
}

/// ReLU, the other activations and batch norm.
pub(super) fn activations(gpu: &Gpu, t: &mut Tally) {
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
}

/// Softmax, layer norm and RoPE.
pub(super) fn softmax_norms(gpu: &Gpu, t: &mut Tally) {
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
}

/// Recurrent layers and a folded grid.
pub(super) fn recurrent_and_grid(gpu: &Gpu, t: &mut Tally) {
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
}

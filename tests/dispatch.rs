//! Dispatches larger than max_compute_workgroups_per_dimension are folded
//! into more grid dimensions, not refused: 65535, 65536 and far above, and
//! a device whose per-dimension limit is tiny (so the fold reaches z).

mod common;
use common::*;
use wgsl_nn::gpu::{Gpu, Plan};
use wgsl_nn::ops::elementwise::{map_forward, RELU};
use wgsl_nn::Tensor;

fn relu_everywhere(gpu: &Gpu, n: usize) {
    let x: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { -(i as f32) } else { i as f32 })
        .collect();
    let xt = Tensor::upload(gpu, "x", &[n], &x).unwrap();
    let mut plan = Plan::new();
    let y = map_forward(gpu, &mut plan, "relu", RELU, &xt).unwrap();
    gpu.run(&plan).unwrap();
    let got = y.download(gpu).unwrap();
    let bad = got.iter().zip(&x).position(|(&g, &v)| g != v.max(0.0));
    assert_eq!(
        bad, None,
        "n = {n}: element {bad:?} wrong (NaN = never written)"
    );
}

#[test]
fn workgroup_counts_at_and_beyond_the_limit() {
    let g = gpu();
    let wg = wgsl_nn::ops::workgroup_1d(g) as usize;
    let max = g.limits.max_compute_workgroups_per_dimension as usize;
    for groups in [max, max + 1, 3 * max + 7] {
        relu_everywhere(g, groups * wg);
    }
    relu_everywhere(g, max * wg + 1);
}

#[test]
fn a_tiny_per_dimension_limit_folds_into_three_dimensions() {
    let mut g = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.limits.max_compute_workgroups_per_dimension = 5;
    let wg = wgsl_nn::ops::workgroup_1d(&g) as usize;
    for groups in [1, 5, 6, 25, 26, 124, 125] {
        relu_everywhere(&g, groups * wg - 3);
    }
    // 126 groups do not fit in 5 x 5 x 5: an error, not a wrong answer.
    let xt = Tensor::upload(&g, "x", &[126 * wg], &vec![1.0; 126 * wg]).unwrap();
    let mut plan = Plan::new();
    map_forward(&g, &mut plan, "relu", RELU, &xt).unwrap();
    let e = g.run(&plan).unwrap_err().to_string();
    assert!(e.contains("relu") && e.contains("invocations"), "{e}");
}

#[test]
fn an_unwritten_output_stays_nan_and_fails_the_check() {
    let t = Tensor::poisoned(gpu(), "never written", &[4, 5]).unwrap();
    let got = t.download(gpu()).unwrap();
    assert!(got.iter().all(|v| v.is_nan()));
    let reference = wgsl_nn::cpu::RefTensor::from_f32(&[4, 5], &[0.0; 20]);
    assert!(!wgsl_nn::check::compare(&got, &reference).passed);
}

/// A wgpu validation error becomes an Error value (wgpu's default handler
/// would abort the process).
#[test]
fn a_validation_error_is_an_error_value() {
    let g = gpu();
    let x = Tensor::upload(g, "x", &[8], &[1.0; 8]).unwrap();
    let mut plan = Plan::new();
    map_forward(g, &mut plan, "relu", RELU, &x).unwrap();
    // Drop the output binding: the bind group no longer matches the shader.
    plan.steps[0].bindings.pop();
    match g.run(&plan) {
        Err(wgsl_nn::Error::Validation { message, .. }) => assert!(!message.is_empty()),
        other => panic!("expected a validation error, got {other:?}"),
    }
    // The device is still usable afterwards.
    relu_everywhere(g, 100);
}

/// A lost device makes this and every later call an Error::DeviceLost.
#[test]
fn a_lost_device_is_reported_on_every_later_call() {
    let g = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let x = Tensor::upload(&g, "x", &[8], &[1.0; 8]).unwrap();
    g.device.destroy();
    let _ = g.device.poll(wgpu::PollType::Poll);
    for _ in 0..2 {
        let mut plan = Plan::new();
        let r = map_forward(&g, &mut plan, "relu", RELU, &x).and_then(|_| g.run(&plan).map(|_| ()));
        assert!(
            matches!(r, Err(wgsl_nn::Error::DeviceLost { .. })),
            "got {r:?}"
        );
    }
}

/// llvmpipe silently stops an invocation's loops after 65535 iterations;
/// long reductions are split into dispatches under the device's loop
/// budget. Integer inputs make any lost term visible exactly.
#[test]
fn reductions_longer_than_the_loop_budget_are_split_not_truncated() {
    use wgsl_nn::ops::matmul::{matmul_into, Activation, Matmul, View};
    let mut small = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    small.loop_budget = 37;
    for g in [gpu(), &small] {
        for k in [1, 36, 37, 38, 1000, 65535, 65536, 140_001] {
            let a: Vec<f32> = (0..2 * k).map(|i| (i % 5) as f32 - 2.0).collect();
            let b: Vec<f32> = (0..k * 3).map(|i| (i % 3) as f32 - 1.0).collect();
            let mm = Matmul {
                m: 2,
                n: 3,
                k,
                batches: [1, 1],
                trans_a: false,
                trans_b: false,
                bias: true,
                act: Activation::Relu,
                alpha: 1.0,
            };
            let c = Tensor::poisoned(g, "C", &[2, 3]).unwrap();
            let bias = Tensor::upload(g, "bias", &[3], &[0.5, -0.5, 1.0]).unwrap();
            let mut plan = Plan::new();
            let at = Tensor::upload(g, "A", &[2, k], &a).unwrap();
            let bt = Tensor::upload(g, "B", &[k, 3], &b).unwrap();
            matmul_into(
                g,
                &mut plan,
                "mm",
                &mm,
                (&at, View::dense(2, k, false)),
                (&bt, View::dense(k, 3, true)),
                Some(&bias),
                (&c, View::dense(2, 3, false)),
            )
            .unwrap();
            g.run(&plan).unwrap();
            let got = c.download(g).unwrap();
            for i in 0..2 {
                for j in 0..3 {
                    let exact: f64 = (0..k)
                        .map(|t| f64::from(a[i * k + t]) * f64::from(b[t * 3 + j]))
                        .sum::<f64>()
                        + [0.5, -0.5, 1.0][j];
                    assert_eq!(
                        f64::from(got[i * 3 + j]),
                        exact.max(0.0),
                        "k = {k}, budget {}, element ({i},{j})",
                        g.loop_budget
                    );
                }
            }
        }
    }
}

/// Waiting for the GPU has a deadline: a run that outlasts it is an
/// Error::Timeout naming the wait, not a hang.
#[test]
fn a_wait_past_the_timeout_is_an_error() {
    let mut g = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let n = 1 << 22;
    let x = Tensor::upload(&g, "x", &[n], &vec![1.0; n]).unwrap();
    let mut plan = Plan::new();
    let mut cur = x;
    for _ in 0..40 {
        cur = map_forward(&g, &mut plan, "relu", RELU, &cur).unwrap();
    }
    g.timeout = std::time::Duration::from_nanos(1);
    match g.run(&plan) {
        Err(wgsl_nn::Error::Timeout { context, .. }) => {
            assert!(context.contains("running the plan"))
        }
        Ok(_) => panic!("a plan of 40 passes over 16 MiB cannot finish in a nanosecond"),
        Err(e) => panic!("expected a timeout, got {e}"),
    }
    // Given time, the device finishes and works again.
    g.timeout = std::time::Duration::from_secs(60);
    relu_everywhere(&g, 1000);
}

/// A matrix product whose operands exceed one storage binding is bound in
/// aligned ranges (blocks of rows of A and C, blocks of K of B) and still
/// passes the check; a batched one that cannot be split so is an Error
/// naming the operand and the limit.
#[test]
fn matmul_operands_larger_than_a_binding_are_bound_in_ranges() {
    use wgsl_nn::check::compare;
    use wgsl_nn::cpu::RefTensor;
    use wgsl_nn::ops::matmul::{matmul_into, Activation, Matmul, View};
    let mut g = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.limits.max_storage_buffer_binding_size = 64 * 1024;
    let mut r = rng(4242);
    for (m, n, k) in [(300, 50, 70), (37, 12, 2000), (513, 9, 129)] {
        let (a, b, bias) = (
            uniform(&mut r, m * k),
            uniform(&mut r, k * n),
            uniform(&mut r, n),
        );
        let mm = Matmul {
            m,
            n,
            k,
            batches: [1, 1],
            trans_a: false,
            trans_b: false,
            bias: true,
            act: Activation::Relu,
            alpha: 0.5,
        };
        let up = |name: &str, s: &[usize], v: &[f32]| Tensor::upload(&g, name, s, v).unwrap();
        let c = Tensor::poisoned(&g, "C", &[m, n]).unwrap();
        let mut plan = Plan::new();
        matmul_into(
            &g,
            &mut plan,
            "big",
            &mm,
            (&up("A", &[m, k], &a), View::dense(m, k, false)),
            (&up("B", &[k, n], &b), View::dense(k, n, false)),
            Some(&up("bias", &[n], &bias)),
            (&c, View::dense(m, n, false)),
        )
        .unwrap();
        assert!(plan.steps.len() > 1, "{m}x{n}x{k} must be split");
        g.run(&plan).unwrap();
        let mut reference = RefTensor::zeros(&[m, n]);
        wgsl_nn::cpu::matmul::matmul_into(
            &mm,
            (&RefTensor::from_f32(&[m, k], &a), View::dense(m, k, false)),
            (&RefTensor::from_f32(&[k, n], &b), View::dense(k, n, false)),
            Some(&bias),
            (&mut reference, View::dense(m, n, false)),
        );
        assert_passes(
            &format!("{m}x{n}x{k} in ranges"),
            &compare(&c.download(&g).unwrap(), &reference),
        );
    }
    let a = Tensor::upload(&g, "A", &[2, 300, 70], &vec![0.0; 42000]).unwrap();
    let c = Tensor::poisoned(&g, "C", &[2, 300, 70]).unwrap();
    let mm = Matmul {
        m: 300,
        n: 70,
        k: 70,
        batches: [2, 1],
        trans_a: false,
        trans_b: false,
        bias: false,
        act: Activation::None,
        alpha: 1.0,
    };
    let w = Tensor::upload(&g, "W", &[70, 70], &vec![0.0; 4900]).unwrap();
    let e = matmul_into(
        &g,
        &mut Plan::new(),
        "batched",
        &mm,
        (&a, View::dense(300, 70, false)),
        (&w, View::dense(70, 70, true)),
        None,
        (&c, View::dense(300, 70, false)),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("max_storage_buffer_binding_size") && e.contains("operand"),
        "{e}"
    );
}

/// Long jobs are cut for OS watchdogs: a reduction is split under the
/// per-dispatch work budget, a plan into several submissions under the
/// FLOP budget, and the result is unchanged.
#[test]
fn work_is_cut_into_dispatches_and_submissions_small_enough_for_watchdogs() {
    use wgsl_nn::check::compare;
    use wgsl_nn::cpu::RefTensor;
    use wgsl_nn::ops::matmul::{linear, Activation};
    let mut g = Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.dispatch_work_budget = 1_000;
    g.submission_flops = 50_000;
    let mut r = rng(99);
    let (x, w1, w2) = (
        uniform(&mut r, 16 * 300),
        uniform(&mut r, 300 * 40),
        uniform(&mut r, 40 * 8),
    );
    let up = |n: &str, s: &[usize], v: &[f32]| Tensor::upload(&g, n, s, v).unwrap();
    let mut plan = Plan::new();
    let h = linear(
        &g,
        &mut plan,
        "l1",
        &up("x", &[16, 300], &x),
        &up("w1", &[300, 40], &w1),
        None,
        Activation::Relu,
    )
    .unwrap();
    let y = linear(
        &g,
        &mut plan,
        "l2",
        &h,
        &up("w2", &[40, 8], &w2),
        None,
        Activation::None,
    )
    .unwrap();
    assert!(
        plan.steps.len() > 2,
        "the work budget must split the first product"
    );
    let t = g.run(&plan).unwrap();
    assert!(
        t.submissions > 1,
        "the FLOP budget must cut the plan into submissions"
    );
    let h_ref = wgsl_nn::cpu::matmul::linear(
        &RefTensor::from_f32(&[16, 300], &x),
        &w1,
        300,
        40,
        None,
        Activation::Relu,
    );
    let y_ref = wgsl_nn::cpu::matmul::linear(&h_ref, &w2, 40, 8, None, Activation::None);
    assert_passes("cut plan", &compare(&y.download(&g).unwrap(), &y_ref));
}

/// Runs queued back to back (how GPUs are timed) are each timed, and the
/// work is done.
#[test]
fn queued_runs_are_each_timed_and_complete() {
    let g = gpu();
    let n = 1 << 16;
    let x: Vec<f32> = (0..n).map(|i| i as f32 - 30000.0).collect();
    let xt = Tensor::upload(g, "x", &[n], &x).unwrap();
    let mut plan = Plan::new();
    let y = map_forward(g, &mut plan, "relu", RELU, &xt).unwrap();
    let runs = g.run_queued(&plan, 3, 5).unwrap();
    assert_eq!(runs.len(), 5);
    for r in &runs {
        // Each run has its own stamps, or says why they were refused.
        match &r.gpu {
            Some(t) => assert!(t.total_ms > 0.0 && t.steps.len() == 1, "{t:?}"),
            None => assert!(r.gpu_note.as_deref().unwrap_or("").contains("wall clock")),
        }
        assert!(r.wall_ms > 0.0);
        assert_eq!(r.submissions, 1);
    }
    let got = y.download(g).unwrap();
    assert!(got.iter().zip(&x).all(|(&a, &b)| a == b.max(0.0)));
}

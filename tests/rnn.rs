//! Recurrent layers (Elman RNN, GRU, LSTM) on the adapter against the f64
//! reference: sizes that are multiples of nothing, with and without h0 (and
//! c0, with the final cell state), PyTorch's gate orders on hand-computed
//! cases, a saturated update gate
//! that must keep h0, a contracting recurrence whose bound stays tight over
//! a long sequence, shape errors as values, and the loop-budget refusal.

mod common;
use common::*;
use rand::Rng;
use wgsl_nn::check::{compare, EPS_F32};
use wgsl_nn::cpu::{self, RefTensor};
use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
use wgsl_nn::ops::rnn::{lstm_forward, rnn_forward, Rnn, RnnKind};
use wgsl_nn::Tensor;

struct Weights {
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
}

/// PyTorch's initialisation, U(-k, k) with k = 1/sqrt(H); W_hh further
/// scaled by `hh_scale`.
fn weights(r: &mut Rng64, rnn: &Rnn, hh_scale: f32) -> Weights {
    let k = 1.0 / (rnn.hidden_size as f32).sqrt();
    let gh = rnn.gates() * rnn.hidden_size;
    let mut u =
        |n: usize, s: f32| -> Vec<f32> { uniform(r, n).into_iter().map(|v| v * s).collect() };
    Weights {
        w_ih: u(rnn.input_size * gh, k),
        w_hh: u(rnn.hidden_size * gh, k * hh_scale),
        b_ih: u(gh, k),
        b_hh: u(gh, k),
    }
}

/// Runs the layer on `g` and returns (GPU output, reference).
fn run_layer(
    g: &Gpu,
    rnn: &Rnn,
    x: &[f32],
    shape: [usize; 3],
    w: &Weights,
    h0: Option<&[f32]>,
) -> (Vec<f32>, RefTensor) {
    let [b, t, _] = shape;
    let up = |n: &str, sh: &[usize], v: &[f32]| Tensor::upload(g, n, sh, v).unwrap();
    let h0t = h0.map(|h| up("h0", &[b, rnn.hidden_size], h));
    let mut plan = Plan::new();
    let y = rnn_forward(
        g,
        &mut plan,
        "rnn",
        rnn,
        &up("x", &shape, x),
        &up("W_ih", &rnn.w_ih_shape(), &w.w_ih),
        &up("W_hh", &rnn.w_hh_shape(), &w.w_hh),
        &up("b_ih", &rnn.bias_shape(), &w.b_ih),
        &up("b_hh", &rnn.bias_shape(), &w.b_hh),
        h0t.as_ref(),
    )
    .unwrap();
    assert_eq!(y.shape, [b, t, rnn.hidden_size]);
    let steps = plan
        .steps
        .iter()
        .filter(|s| s.kernel.family == "rnn")
        .count();
    assert_eq!(steps, t, "one step dispatch per time step");
    g.run(&plan).unwrap();
    let got = y.download(g).unwrap();
    let h0r = h0.map(|h| RefTensor::from_f32(&[b, rnn.hidden_size], h));
    let reference = cpu::rnn::rnn(
        rnn,
        &RefTensor::from_f32(&shape, x),
        &w.w_ih,
        &w.w_hh,
        &w.b_ih,
        &w.b_hh,
        h0r.as_ref(),
    );
    (got, reference)
}

/// Largest tolerance the reference grants, absolute.
fn max_bound(r: &RefTensor) -> f64 {
    r.err.iter().fold(0.0f64, |m, &e| m.max(e)) * EPS_F32
}

/// The largest |gpu - ref| / bound over the elements: how close to its
/// tolerance the adapter came.
fn worst_ratio(got: &[f32], r: &RefTensor) -> f64 {
    got.iter()
        .zip(r.val.iter().zip(&r.err))
        .map(|(&g, (&v, &e))| (f64::from(g) - v).abs() / (EPS_F32 * e))
        .fold(0.0, f64::max)
}

/// One seeded case of each kind, with and without h0; returns the largest
/// absolute bound seen.
fn check_case(b: usize, t: usize, i: usize, h: usize, hh_scale: f32, seed: u64) -> f64 {
    let mut worst = 0.0f64;
    for kind in [RnnKind::Elman, RnnKind::Gru, RnnKind::Lstm] {
        for with_h0 in [false, true] {
            let mut r = rng(seed);
            let rnn = Rnn {
                kind,
                input_size: i,
                hidden_size: h,
            };
            let w = weights(&mut r, &rnn, hh_scale);
            let x = uniform(&mut r, b * t * i);
            let h0 = with_h0.then(|| uniform(&mut r, b * h));
            let (got, reference) = run_layer(gpu(), &rnn, &x, [b, t, i], &w, h0.as_deref());
            let c = compare(&got, &reference);
            let what = format!("{kind:?} B={b} T={t} I={i} H={h} h0={with_h0} seed={seed}");
            eprintln!(
                "{what}: {}, largest bound {:.2e}, worst error/bound {:.3}",
                c.summary(),
                max_bound(&reference),
                worst_ratio(&got, &reference)
            );
            assert_passes(&what, &c);
            worst = worst.max(max_bound(&reference));
        }
    }
    worst
}

#[test]
fn every_kind_matches_the_reference_on_odd_sizes() {
    let mut seed = 3000;
    for &(b, t, i, h) in &[
        (1, 1, 1, 1),
        (3, 5, 9, 7),
        (1, 17, 9, 33),
        (3, 17, 1, 129),
        (3, 1, 9, 129),
        (1, 5, 1, 33),
        (3, 5, 9, 1),
        (1, 17, 1, 7),
        (3, 17, 9, 33),
    ] {
        seed += 1;
        check_case(b, t, i, h, 1.0, seed);
    }
    // Seeded random shapes.
    let mut r = rng(3100);
    for n in 0..6 {
        let (b, t, i, h) = (
            r.random_range(1..=4),
            r.random_range(1..=20),
            r.random_range(1..=16),
            r.random_range(1..=140),
        );
        check_case(b, t, i, h, 1.0, 3200 + n);
    }
}

/// With W_hh small enough that the recurrence contracts, the bound must
/// stay tight over a long sequence: a wrong gate or a stale state would
/// be caught, not excused by a bound that grew without limit.
#[test]
fn a_contracting_recurrence_keeps_a_tight_bound_over_long_sequences() {
    for (n, &(b, t, i, h)) in [(2, 64, 9, 33), (1, 40, 5, 129), (3, 100, 1, 7)]
        .iter()
        .enumerate()
    {
        let scale = 1.0 / (h as f32).sqrt();
        let worst = check_case(b, t, i, h, scale, 3300 + n as u64);
        assert!(
            worst < 1e-4,
            "B={b} T={t} H={h}: bound {worst:.2e} is too loose to mean anything"
        );
    }
}

/// Hand-computed from PyTorch's equations. GRU, H = I = 1, all weights
/// zero: r = sigmoid(-30) ~ 0, z = sigmoid(0) = 1/2, so
/// n = tanh(0.3 + r * 5) ~ tanh(0.3) and h1 = (tanh(0.3) + h0) / 2.
/// Swapping r and z would give tanh(0.3 + 2.5) instead. Elman with
/// W_ih = 2, W_hh = -1, biases 0.25 and -0.5: h1 = tanh(2x + 0.25 - h0 - 0.5).
#[test]
fn gate_order_and_equations_follow_pytorch() {
    let (x, h0) = (0.7f32, -0.4f32);
    let gru = Rnn {
        kind: RnnKind::Gru,
        input_size: 1,
        hidden_size: 1,
    };
    let w = Weights {
        w_ih: vec![0.0; 3],
        w_hh: vec![0.0; 3],
        b_ih: vec![-30.0, 0.0, 0.3],
        b_hh: vec![0.0, 0.0, 5.0],
    };
    let (got, reference) = run_layer(gpu(), &gru, &[x], [1, 1, 1], &w, Some(&[h0]));
    let r = 1.0 / (1.0 + 30f64.exp());
    let want = 0.5 * (f64::from(0.3f32) + r * 5.0).tanh() + 0.5 * f64::from(h0);
    assert!(
        (reference.val[0] - want).abs() < 1e-12,
        "{} vs {want}",
        reference.val[0]
    );
    assert!(
        (f64::from(got[0]) - want).abs() < 1e-6,
        "GPU {} vs {want}",
        got[0]
    );
    let elman = Rnn {
        kind: RnnKind::Elman,
        input_size: 1,
        hidden_size: 1,
    };
    let w = Weights {
        w_ih: vec![2.0],
        w_hh: vec![-1.0],
        b_ih: vec![0.25],
        b_hh: vec![-0.5],
    };
    let (got, reference) = run_layer(gpu(), &elman, &[x, -x], [1, 2, 1], &w, Some(&[h0]));
    let h1 = (2.0 * f64::from(x) + 0.25 - f64::from(h0) - 0.5).tanh();
    let h2 = (-2.0 * f64::from(x) + 0.25 - h1 - 0.5).tanh();
    for (k, want) in [h1, h2].into_iter().enumerate() {
        assert!((reference.val[k] - want).abs() < 1e-12);
        assert!(
            (f64::from(got[k]) - want).abs() < 1e-6,
            "step {k}: GPU {} vs {want}",
            got[k]
        );
    }
}

/// LSTM with zero weights, H = I = 1: the gates are their biases, so
/// i = sigmoid(1), f = sigmoid(-2), g = tanh(0.5), o = sigmoid(3), and
/// c1 = f c0 + i g, h1 = o tanh(c1); step 2 goes on from (h1, c1) with the
/// same gates. Any two gates swapped give other numbers (the biases differ).
#[test]
fn lstm_gate_order_and_cell_state_follow_pytorch() {
    let lstm = Rnn {
        kind: RnnKind::Lstm,
        input_size: 1,
        hidden_size: 1,
    };
    let (h0, c0) = (-0.4f32, 0.9f32);
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let (i, f, g, o) = (sig(1.0), sig(-2.0), 0.5f64.tanh(), sig(3.0));
    let c1 = f * f64::from(c0) + i * g;
    let c2 = f * c1 + i * g;
    let want_h = [o * c1.tanh(), o * c2.tanh()];
    let up = |n: &str, sh: &[usize], v: &[f32]| upload(n, sh, v);
    let mut plan = Plan::new();
    let (y, cell) = lstm_forward(
        gpu(),
        &mut plan,
        "lstm",
        &lstm,
        &up("x", &[1, 2, 1], &[0.7, -0.3]),
        &up("W_ih", &[1, 4], &[0.0; 4]),
        &up("W_hh", &[1, 4], &[0.0; 4]),
        &up("b_ih", &[4], &[0.5, -1.0, 0.25, 1.0]),
        &up("b_hh", &[4], &[0.5, -1.0, 0.25, 2.0]),
        Some(&up("h0", &[1, 1], &[h0])),
        Some(&up("c0", &[1, 1], &[c0])),
    )
    .unwrap();
    let got = run(&plan, &y);
    let got_c = cell.download(gpu()).unwrap();
    for k in 0..2 {
        assert!(
            (f64::from(got[k]) - want_h[k]).abs() < 1e-6,
            "h{}: GPU {} vs {}",
            k + 1,
            got[k],
            want_h[k]
        );
    }
    assert!(
        (f64::from(got_c[0]) - c2).abs() < 1e-6,
        "c2: GPU {} vs {c2}",
        got_c[0]
    );
    let (ry, rc) = cpu::rnn::lstm(
        &lstm,
        &RefTensor::from_f32(&[1, 2, 1], &[0.7, -0.3]),
        [
            &[0.0; 4],
            &[0.0; 4],
            &[0.5, -1.0, 0.25, 1.0],
            &[0.5, -1.0, 0.25, 2.0],
        ],
        Some(&RefTensor::from_f32(&[1, 1], &[h0])),
        Some(&RefTensor::from_f32(&[1, 1], &[c0])),
    );
    assert!((ry.val[1] - want_h[1]).abs() < 1e-12 && (rc.val[0] - c2).abs() < 1e-12);
}

/// c0 and the final cell state on odd sizes, against the reference's bound.
#[test]
fn lstm_final_cell_state_matches_the_reference() {
    for (n, &(b, t, i, h)) in [(1, 1, 1, 1), (3, 7, 5, 33), (2, 19, 9, 129)]
        .iter()
        .enumerate()
    {
        let rnn = Rnn {
            kind: RnnKind::Lstm,
            input_size: i,
            hidden_size: h,
        };
        let mut r = rng(3500 + n as u64);
        let w = weights(&mut r, &rnn, 1.0);
        let x = uniform(&mut r, b * t * i);
        let (h0, c0) = (uniform(&mut r, b * h), uniform(&mut r, b * h));
        let up = |nm: &str, sh: &[usize], v: &[f32]| upload(nm, sh, v);
        let mut plan = Plan::new();
        let (y, cell) = lstm_forward(
            gpu(),
            &mut plan,
            "lstm",
            &rnn,
            &up("x", &[b, t, i], &x),
            &up("W_ih", &rnn.w_ih_shape(), &w.w_ih),
            &up("W_hh", &rnn.w_hh_shape(), &w.w_hh),
            &up("b_ih", &rnn.bias_shape(), &w.b_ih),
            &up("b_hh", &rnn.bias_shape(), &w.b_hh),
            Some(&up("h0", &[b, h], &h0)),
            Some(&up("c0", &[b, h], &c0)),
        )
        .unwrap();
        let got_y = run(&plan, &y);
        let got_c = cell.download(gpu()).unwrap();
        let (ry, rc) = cpu::rnn::lstm(
            &rnn,
            &RefTensor::from_f32(&[b, t, i], &x),
            [&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh],
            Some(&RefTensor::from_f32(&[b, h], &h0)),
            Some(&RefTensor::from_f32(&[b, h], &c0)),
        );
        let what = format!("LSTM B={b} T={t} I={i} H={h}");
        assert_passes(&format!("{what} y"), &compare(&got_y, &ry));
        assert_passes(&format!("{what} c_T"), &compare(&got_c, &rc));
    }
    // Not an LSTM: an error, not a plan.
    let gru = Rnn {
        kind: RnnKind::Gru,
        input_size: 1,
        hidden_size: 1,
    };
    let z = |sh: &[usize]| upload("t", sh, &vec![0.0; sh.iter().product()]);
    let mut plan = Plan::new();
    let e = lstm_forward(
        gpu(),
        &mut plan,
        "g",
        &gru,
        &z(&[1, 1, 1]),
        &z(&[1, 3]),
        &z(&[1, 3]),
        &z(&[3]),
        &z(&[3]),
        None,
        None,
    );
    assert!(e.is_err() && plan.steps.is_empty());
}

/// A huge b_iz saturates z at 1: h' = 0 * n + 1 * h, so every step keeps
/// h0 (exactly, unless the adapter's division rounds 1/1 off by an ulp).
#[test]
fn a_gru_whose_update_gate_is_saturated_keeps_h0() {
    let (b, t, i, h) = (3, 17, 9, 33);
    let rnn = Rnn {
        kind: RnnKind::Gru,
        input_size: i,
        hidden_size: h,
    };
    let mut r = rng(3400);
    let mut w = weights(&mut r, &rnn, 1.0);
    w.b_ih[h..2 * h].fill(1e3);
    let x = uniform(&mut r, b * t * i);
    let h0 = uniform(&mut r, b * h);
    let (got, reference) = run_layer(gpu(), &rnn, &x, [b, t, i], &w, Some(&h0));
    assert_passes("saturated z", &compare(&got, &reference));
    let mut exact = true;
    for bi in 0..b {
        for step in 0..t {
            for j in 0..h {
                let (g, want) = (got[(bi * t + step) * h + j], h0[bi * h + j]);
                exact &= g == want;
                assert!(
                    (g - want).abs() <= 2.0 * f32::EPSILON,
                    "b={bi} t={step} j={j}: {g} drifted from h0 {want}"
                );
            }
        }
    }
    eprintln!("saturated z keeps h0 exactly: {exact}");
}

#[test]
fn bad_shapes_are_errors_naming_the_layer_and_tensor() {
    let g = gpu();
    let z = |sh: &[usize]| upload("t", sh, &vec![0.0; sh.iter().product()]);
    let gru = Rnn {
        kind: RnnKind::Gru,
        input_size: 4,
        hidden_size: 5,
    };
    let (x, w_ih, w_hh, b_ih, b_hh, h0) = (
        z(&[2, 3, 4]),
        z(&[4, 15]),
        z(&[5, 15]),
        z(&[15]),
        z(&[15]),
        z(&[2, 5]),
    );
    let attempt = |rnn: &Rnn, t: [&Tensor; 6]| {
        let mut plan = Plan::new();
        let r = rnn_forward(
            g,
            &mut plan,
            "layer 7",
            rnn,
            t[0],
            t[1],
            t[2],
            t[3],
            t[4],
            Some(t[5]),
        );
        if r.is_err() {
            assert!(plan.steps.is_empty(), "nothing is appended on an error");
        }
        r.map(|_| ()).map_err(|e| e.to_string())
    };
    let ok = [&x, &w_ih, &w_hh, &b_ih, &b_hh, &h0];
    assert_eq!(attempt(&gru, ok), Ok(()));
    let (x2, x_i, w_elman, b_short, h_wrong) =
        (z(&[6, 4]), z(&[2, 3, 5]), z(&[4, 5]), z(&[5]), z(&[3, 5]));
    for (slot, bad, words) in [
        (0, &x2, &["input", "[6, 4]", "[batch, steps, 4]"][..]),
        (0, &x_i, &["input", "[2, 3, 5]"]),
        (1, &w_elman, &["W_ih", "[4, 5]", "[4, 15]"]),
        (2, &w_ih, &["W_hh", "[4, 15]", "[5, 15]"]),
        (3, &b_short, &["b_ih", "[5]", "[15]"]),
        (4, &b_short, &["b_hh", "[5]", "[15]"]),
        (5, &h_wrong, &["h0", "[3, 5]", "[2, 5]"]),
    ] {
        let mut t = ok;
        t[slot] = bad;
        let e = attempt(&gru, t).unwrap_err();
        assert!(e.contains("layer 7"), "{e}");
        for w in words {
            assert!(e.contains(w), "expected '{w}' in: {e}");
        }
    }
    for (i, h) in [(0, 5), (4, 0)] {
        let rnn = Rnn {
            kind: RnnKind::Elman,
            input_size: i,
            hidden_size: h,
        };
        let e = attempt(&rnn, ok).unwrap_err();
        assert!(e.contains("layer 7") && e.contains("at least 1"), "{e}");
    }
}

/// llvmpipe silently stops loops past 65535 iterations; a step whose loop
/// over the hidden state would exceed the device's budget is refused. With
/// a budget of 20: Elman H = 20 runs (and its input projection of I = 45 is
/// split), GRU H = 7 needs 21 and is refused.
#[test]
fn a_step_over_the_loop_budget_is_refused() {
    let mut g = Gpu::new(&AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.loop_budget = 20;
    let mut r = rng(3500);
    let (b, t, i) = (2, 4, 45);
    for (kind, h, fits) in [
        (RnnKind::Elman, 20, true),
        (RnnKind::Elman, 21, false),
        (RnnKind::Gru, 6, true),
        (RnnKind::Gru, 7, false),
    ] {
        let rnn = Rnn {
            kind,
            input_size: i,
            hidden_size: h,
        };
        let w = weights(&mut r, &rnn, 1.0);
        let x = uniform(&mut r, b * t * i);
        if fits {
            let (got, reference) = run_layer(&g, &rnn, &x, [b, t, i], &w, None);
            assert_passes(
                &format!("{kind:?} H={h} under budget 20"),
                &compare(&got, &reference),
            );
            continue;
        }
        let up = |n: &str, sh: &[usize], v: &[f32]| Tensor::upload(&g, n, sh, v).unwrap();
        let mut plan = Plan::new();
        let e = rnn_forward(
            &g,
            &mut plan,
            "budget layer",
            &rnn,
            &up("x", &[b, t, i], &x),
            &up("W_ih", &rnn.w_ih_shape(), &w.w_ih),
            &up("W_hh", &rnn.w_hh_shape(), &w.w_hh),
            &up("b_ih", &rnn.bias_shape(), &w.b_ih),
            &up("b_hh", &rnn.bias_shape(), &w.b_hh),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("budget layer") && e.contains("loop") && e.contains("after 20"),
            "{e}"
        );
        assert!(plan.steps.is_empty());
    }
}

#[test]
fn flops_and_plan_shape() {
    let rnn = Rnn {
        kind: RnnKind::Gru,
        input_size: 9,
        hidden_size: 7,
    };
    assert_eq!(rnn.gates(), 3);
    // 2 * 3 * (9 + 7 + 1) multiply-adds and bias adds + 8 gate ops, per unit.
    assert_eq!(rnn.flops(2, 5), 2 * 5 * 7 * (2 * 3 * 17 + 8));
    let mut r = rng(3600);
    let w = weights(&mut r, &rnn, 1.0);
    let up = |n: &str, sh: &[usize], v: &[f32]| upload(n, sh, v);
    let mut plan = Plan::new();
    rnn_forward(
        gpu(),
        &mut plan,
        "gru",
        &rnn,
        &up("x", &[2, 5, 9], &uniform(&mut r, 90)),
        &up("W_ih", &[9, 21], &w.w_ih),
        &up("W_hh", &[7, 21], &w.w_hh),
        &up("b_ih", &[21], &w.b_ih),
        &up("b_hh", &[21], &w.b_hh),
        None,
    )
    .unwrap();
    let text = plan.explain();
    assert!(
        text.contains("gru input projection") && text.contains("gru t=4"),
        "{text}"
    );
    assert_eq!(plan.flops(), rnn.flops(2, 5));
}

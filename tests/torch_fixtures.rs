//! The ops against PyTorch, without PyTorch: tests/data/torch/torch_ops.npz
//! holds inputs and parameters (float32) and PyTorch's output on exactly
//! those values, computed in float64 (tests/data/torch/make_torch_fixtures.py
//! wrote it; its docstring describes the layout). For every case two things
//! must hold:
//!
//! (a) the GPU output is within f32 accuracy of PyTorch:
//!     max |gpu - torch| <= GPU_RTOL * max(1, max |torch|);
//! (b) the crate's f64 CPU reference is PyTorch's function:
//!     max |ref - torch| <= REF_RTOL * max(1, max |torch|),
//!
//! so a semantic difference (padding rule, gate order, output_padding,
//! masks, eps placement, scale) fails (b) by orders of magnitude even where
//! the GPU and its own reference agree. Outputs are NaN-poisoned by the ops
//! (`Tensor::poisoned`), so an element no kernel writes fails (a).
//!
//! Known, documented differences are checked as such, not skipped silently:
//! - softmax / attention rows with nothing left to attend to are NaN in
//!   PyTorch and zeros in the crate (src/ops/softmax.rs); the test asserts
//!   the crate's zeros exactly where PyTorch gives NaN.
//! - the attention scale is 1/f32(sqrt(d)) in the crate and 1/sqrt(d) in
//!   PyTorch: one f32 rounding apart unless sqrt(d) is exact. The GPU is held
//!   to PyTorch's default (`y`); the f64 reference to PyTorch run with the
//!   crate's scale (`y_cs`), and the gap between the two is printed.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use wgsl_nn::app::io::npy::{read_npz, Array};
use wgsl_nn::cpu::attention::{self as cpu_attn, Masks, MhaWeights, Order};
use wgsl_nn::cpu::{self, RefTensor};
use wgsl_nn::geometry::Window;
use wgsl_nn::gpu::Plan;
use wgsl_nn::ops::attention::{mha_forward, sdpa_forward, AttentionPath};
use wgsl_nn::ops::conv_transpose2d::{conv_transpose2d_forward, ConvTranspose2d};
use wgsl_nn::ops::layernorm::{layernorm_forward, EPS};
use wgsl_nn::ops::matmul::{linear, Activation};
use wgsl_nn::ops::pool2d::{pool2d_forward, Pool2d, PoolKind};
use wgsl_nn::ops::rnn::{lstm_forward, rnn_forward, Rnn, RnnKind};
use wgsl_nn::ops::softmax::{softmax_forward, Mask};

/// f32 accuracy: every op here rounds a few dozen times at most per output
/// (the longest sums are ~80 terms; the recurrences run 29 steps with
/// PyTorch's default, contracting initialisation), measured errors are
/// ~1e-7..1e-6 of the output's scale.
const GPU_RTOL: f64 = 1e-5;
/// Both sides are f64 from the same f32 values; the fixture stores
/// PyTorch's result to ~2^-48 relative (hi + lo), so only summation order
/// separates them (~1e-15).
const REF_RTOL: f64 = 1e-9;

fn fixtures() -> &'static BTreeMap<String, Array> {
    static F: OnceLock<BTreeMap<String, Array>> = OnceLock::new();
    F.get_or_init(|| {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch/torch_ops.npz");
        read_npz(&path).unwrap_or_else(|e| panic!("torch fixtures: {e}"))
    })
}

/// Case names `<prefix><n>` in the fixture, in numeric order; at least one.
fn cases(prefix: &str) -> Vec<String> {
    let mut names: Vec<(usize, String)> = fixtures()
        .keys()
        .filter_map(|k| k.split_once("__").map(|(c, _)| c))
        .filter_map(|c| {
            let n = c.strip_prefix(prefix)?.parse::<usize>().ok()?;
            Some((n, c.to_string()))
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(
        !names.is_empty(),
        "the torch fixture has no '{prefix}' cases; regenerate it with make_torch_fixtures.py"
    );
    names.into_iter().map(|(_, c)| c).collect()
}

fn arr<'a>(case: &str, field: &str) -> &'a Array {
    fixtures()
        .get(&format!("{case}__{field}"))
        .unwrap_or_else(|| panic!("torch fixture {case}: no field '{field}'"))
}

fn data(case: &str, field: &str) -> Vec<f32> {
    arr(case, field).data.clone()
}

fn cfg(case: &str) -> Vec<usize> {
    data(case, "cfg").iter().map(|&v| v as usize).collect()
}

/// PyTorch's f64 result, rebuilt from its two f32 halves, and its shape.
fn torch64(case: &str, name: &str) -> (Vec<usize>, Vec<f64>) {
    let (hi, lo) = (
        arr(case, &format!("{name}_hi")),
        arr(case, &format!("{name}_lo")),
    );
    assert_eq!(hi.shape, lo.shape, "{case}: {name} halves disagree");
    let v = hi
        .data
        .iter()
        .zip(&lo.data)
        .map(|(&h, &l)| f64::from(h) + f64::from(l))
        .collect();
    (hi.shape.clone(), v)
}

/// The comparison with the larger GPU error relative to its scale.
fn worse(w: Option<Errs>, e: Errs) -> Errs {
    match w {
        Some(w) if w.gpu / w.scale >= e.gpu / e.scale => w,
        _ => e,
    }
}

/// Max errors of one comparison, for the report.
#[derive(Debug, Clone, Copy)]
struct Errs {
    gpu: f64,
    cpu: f64,
    scale: f64,
}

/// Compares the GPU output and the f64 reference with PyTorch over the
/// elements `keep` admits: NaN must meet NaN, infinities the same infinity,
/// finite values within the tolerances above. The error names the case.
fn agree(
    what: &str,
    torch_gpu: &[f64],
    torch_ref: &[f64],
    gpu_out: &[f32],
    reference: &[f64],
    keep: &dyn Fn(usize) -> bool,
) -> Result<Errs, String> {
    let n = torch_gpu.len();
    if gpu_out.len() != n || reference.len() != n || torch_ref.len() != n {
        return Err(format!(
            "{what}: lengths differ: torch {n}, gpu {}, reference {}",
            gpu_out.len(),
            reference.len()
        ));
    }
    let scale = (0..n)
        .filter(|&i| keep(i) && torch_gpu[i].is_finite())
        .map(|i| torch_gpu[i].abs())
        .fold(1.0f64, f64::max);
    let (mut eg, mut ec) = (0.0f64, 0.0f64);
    let (mut wg, mut wc) = (0, 0);
    for i in (0..n).filter(|&i| keep(i)) {
        let (g, r) = (f64::from(gpu_out[i]), reference[i]);
        for (t, v, who) in [(torch_gpu[i], g, "gpu"), (torch_ref[i], r, "reference")] {
            if !t.is_finite() {
                let same = (t.is_nan() && v.is_nan()) || t == v;
                if !same {
                    return Err(format!(
                        "{what}: element {i}: torch gives {t} but the {who} gives {v}"
                    ));
                }
            } else if !v.is_finite() {
                return Err(format!(
                    "{what}: element {i}: torch gives {t} but the {who} gives {v}"
                ));
            }
        }
        if torch_gpu[i].is_finite() {
            let d = (g - torch_gpu[i]).abs();
            if d > eg {
                (eg, wg) = (d, i);
            }
            let d = (r - torch_ref[i]).abs();
            if d > ec {
                (ec, wc) = (d, i);
            }
        }
    }
    eprintln!(
        "{what}: max|gpu - torch| {eg:.2e}, max|ref - torch| {ec:.2e}, max|torch| {scale:.3}"
    );
    if eg > GPU_RTOL * scale {
        return Err(format!(
            "{what}: GPU differs from PyTorch by {eg:.3e} > {GPU_RTOL:.0e} * {scale:.3} at element {wg}: gpu {} vs torch {}",
            gpu_out[wg], torch_gpu[wg]
        ));
    }
    if ec > REF_RTOL * scale {
        return Err(format!(
            "{what}: the f64 reference differs from PyTorch by {ec:.3e} > {REF_RTOL:.0e} * {scale:.3} at element {wc}: reference {} vs torch {} (a semantic difference, not rounding)",
            reference[wc], torch_ref[wc]
        ));
    }
    Ok(Errs {
        gpu: eg,
        cpu: ec,
        scale,
    })
}

/// Runs every case of one op, collecting failures so one bad case does not
/// hide another, and reports the worst errors over all of them.
fn for_each_case(op: &str, prefix: &str, mut f: impl FnMut(&str) -> Result<Errs, String>) {
    let mut failures = vec![];
    let (mut gpu, mut cpu) = (0.0f64, 0.0f64);
    for case in cases(prefix) {
        match f(&case) {
            Ok(e) => {
                gpu = gpu.max(e.gpu / e.scale);
                cpu = cpu.max(e.cpu / e.scale);
            }
            Err(e) => failures.push(e),
        }
    }
    eprintln!("{op}: worst |gpu - torch| / max(1, |torch|) {gpu:.2e}, worst |ref - torch| / max(1, |torch|) {cpu:.2e}");
    assert!(
        failures.is_empty(),
        "{op} disagrees with PyTorch:\n  {}",
        failures.join("\n  ")
    );
}

fn both(
    what: &str,
    torch: &[f64],
    gpu_out: &[f32],
    reference: &RefTensor,
    keep: &dyn Fn(usize) -> bool,
) -> Result<Errs, String> {
    agree(what, torch, torch, gpu_out, &reference.val, keep)
}

fn all(_: usize) -> bool {
    true
}

fn expect_shape(case: &str, crate_shape: &[usize], torch_shape: &[usize]) -> Result<(), String> {
    if crate_shape == torch_shape {
        Ok(())
    } else {
        Err(format!(
            "{case}: the crate's output shape {crate_shape:?} is not PyTorch's {torch_shape:?}"
        ))
    }
}

#[test]
fn conv_transpose2d_matches_pytorch() {
    for_each_case("conv_transpose2d", "ct", |case| {
        let c = cfg(case);
        let ct = ConvTranspose2d {
            in_channels: c[0],
            out_channels: c[1],
            kernel: [c[2], c[3]],
            stride: [c[4], c[5]],
            padding: [c[6], c[7]],
            output_padding: [c[8], c[9]],
            dilation: [c[10], c[11]],
            bias: c[12] == 1,
            relu: false,
        };
        let what = format!("{case} ({ct:?})");
        let x = arr(case, "x");
        let (w, b) = (data(case, "w"), data(case, "b"));
        let (tshape, torch) = torch64(case, "y");
        let out = ct
            .output_shape(&x.shape, case)
            .map_err(|e| format!("{what}: {e}"))?;
        expect_shape(&what, &out, &tshape)?;
        let mut plan = Plan::new();
        let bt = upload("b", &[ct.out_channels], &b);
        let y = conv_transpose2d_forward(
            gpu(),
            &mut plan,
            case,
            &ct,
            &upload("x", &x.shape, &x.data),
            &upload("w", &ct.weight_shape(), &w),
            ct.bias.then_some(&bt),
        )
        .map_err(|e| format!("{what}: {e}"))?;
        let got = run(&plan, &y);
        let reference = cpu::conv_transpose2d::conv_transpose2d(
            &ct,
            &RefTensor::from_f32(&x.shape, &x.data),
            &w,
            ct.bias.then_some(&b[..]),
            out,
        );
        both(&what, &torch, &got, &reference, &all)
    });
}

/// nn.GRU and nn.RNN (tanh), one layer, batch-first, with and without h0.
#[test]
fn gru_and_elman_rnn_match_pytorch() {
    let run_kind = |op: &str, prefix: &str| {
        for_each_case(op, prefix, |case| {
            let c = cfg(case);
            let rnn = Rnn {
                kind: if c[0] == 1 {
                    RnnKind::Gru
                } else {
                    RnnKind::Elman
                },
                input_size: c[1],
                hidden_size: c[2],
            };
            let x = arr(case, "x");
            let what = format!("{case} ({rnn:?}, x {:?}, h0 {})", x.shape, c[3] == 1);
            let (b, h) = (x.shape[0], rnn.hidden_size);
            let h0 = (c[3] == 1).then(|| data(case, "h0"));
            let [w_ih, w_hh, b_ih, b_hh] = ["w_ih", "w_hh", "b_ih", "b_hh"].map(|f| data(case, f));
            let (tshape, torch) = torch64(case, "y");
            expect_shape(&what, &rnn.output_shape(&x.shape, case).unwrap(), &tshape)?;
            let h0t = h0.as_ref().map(|v| upload("h0", &[b, h], v));
            let mut plan = Plan::new();
            let y = rnn_forward(
                gpu(),
                &mut plan,
                case,
                &rnn,
                &upload("x", &x.shape, &x.data),
                &upload("W_ih", &rnn.w_ih_shape(), &w_ih),
                &upload("W_hh", &rnn.w_hh_shape(), &w_hh),
                &upload("b_ih", &rnn.bias_shape(), &b_ih),
                &upload("b_hh", &rnn.bias_shape(), &b_hh),
                h0t.as_ref(),
            )
            .map_err(|e| format!("{what}: {e}"))?;
            let got = run(&plan, &y);
            let h0r = h0.as_ref().map(|v| RefTensor::from_f32(&[b, h], v));
            let reference = cpu::rnn::rnn(
                &rnn,
                &RefTensor::from_f32(&x.shape, &x.data),
                &w_ih,
                &w_hh,
                &b_ih,
                &b_hh,
                h0r.as_ref(),
            );
            both(&what, &torch, &got, &reference, &all)
        });
    };
    run_kind("GRU", "gru");
    run_kind("Elman RNN", "rnn");
}

/// nn.LSTM, one layer, batch-first (gates i, f, g, o): every hidden state
/// and the final cell state, with and without h0 and c0.
#[test]
fn lstm_matches_pytorch() {
    for_each_case("LSTM", "lstm", |case| {
        let c = cfg(case);
        let rnn = Rnn {
            kind: RnnKind::Lstm,
            input_size: c[0],
            hidden_size: c[1],
        };
        let x = arr(case, "x");
        let (b, h) = (x.shape[0], rnn.hidden_size);
        let (has_h0, has_c0) = (c[2] == 1, c[3] == 1);
        let what = format!("{case} (x {:?}, H {h}, h0 {has_h0}, c0 {has_c0})", x.shape);
        let [w_ih, w_hh, b_ih, b_hh] = ["w_ih", "w_hh", "b_ih", "b_hh"].map(|f| data(case, f));
        let (h0, c0) = (data(case, "h0"), data(case, "c0"));
        let (tshape, torch_y) = torch64(case, "y");
        let (cshape, torch_c) = torch64(case, "c");
        expect_shape(&what, &rnn.output_shape(&x.shape, case).unwrap(), &tshape)?;
        expect_shape(&what, &[b, h], &cshape)?;
        let (h0t, c0t) = (upload("h0", &[b, h], &h0), upload("c0", &[b, h], &c0));
        let mut plan = Plan::new();
        let (y, cell) = lstm_forward(
            gpu(),
            &mut plan,
            case,
            &rnn,
            &upload("x", &x.shape, &x.data),
            &upload("W_ih", &rnn.w_ih_shape(), &w_ih),
            &upload("W_hh", &rnn.w_hh_shape(), &w_hh),
            &upload("b_ih", &rnn.bias_shape(), &b_ih),
            &upload("b_hh", &rnn.bias_shape(), &b_hh),
            has_h0.then_some(&h0t),
            has_c0.then_some(&c0t),
        )
        .map_err(|e| format!("{what}: {e}"))?;
        let got_y = run(&plan, &y);
        let got_c = cell.download(gpu()).map_err(|e| format!("{what}: {e}"))?;
        let (h0r, c0r) = (
            RefTensor::from_f32(&[b, h], &h0),
            RefTensor::from_f32(&[b, h], &c0),
        );
        let (ref_y, ref_c) = cpu::rnn::lstm(
            &rnn,
            &RefTensor::from_f32(&x.shape, &x.data),
            [&w_ih, &w_hh, &b_ih, &b_hh],
            has_h0.then_some(&h0r),
            has_c0.then_some(&c0r),
        );
        let ey = both(&format!("{what} y"), &torch_y, &got_y, &ref_y, &all)?;
        let ec = both(&format!("{what} c_n"), &torch_c, &got_c, &ref_c, &all)?;
        Ok(worse(Some(ey), ec))
    });
}

#[test]
fn layer_norm_matches_pytorch() {
    for_each_case("layer_norm", "ln", |case| {
        let x = arr(case, "x");
        let (g, b) = (data(case, "gamma"), data(case, "beta"));
        let what = format!("{case} (x {:?}, eps {EPS:e})", x.shape);
        let (tshape, torch) = torch64(case, "y");
        expect_shape(&what, &x.shape, &tshape)?;
        let d = *x.shape.last().unwrap();
        let mut plan = Plan::new();
        let y = layernorm_forward(
            gpu(),
            &mut plan,
            case,
            &upload("x", &x.shape, &x.data),
            &upload("gamma", &[d], &g),
            &upload("beta", &[d], &b),
        )
        .map_err(|e| format!("{what}: {e}"))?;
        let got = run(&plan, &y);
        let reference =
            cpu::layernorm::layernorm(&RefTensor::from_f32(&x.shape, &x.data), &g, &b, EPS);
        both(&what, &torch, &got, &reference, &all)
    });
}

/// Where PyTorch gives NaN because a row has nothing left to attend to,
/// the crate defines zeros: checks that, and returns the elements to leave
/// out of the PyTorch comparison.
fn empty_rows_are_zeros(
    what: &str,
    torch: &[f64],
    gpu_out: &[f32],
    reference: &[f64],
    row: usize,
) -> Result<Vec<bool>, String> {
    let mut empty = vec![false; torch.len()];
    for (r, chunk) in torch.chunks(row).enumerate() {
        if chunk.iter().all(|v| v.is_nan()) {
            let span = r * row..(r + 1) * row;
            if gpu_out[span.clone()].iter().any(|&v| v != 0.0)
                || reference[span.clone()].iter().any(|&v| v != 0.0)
            {
                return Err(format!(
                    "{what}: row {r} has nothing to attend to (PyTorch: NaN); the crate defines zeros but gives gpu {:?} / reference {:?}",
                    &gpu_out[span.clone()],
                    &reference[span]
                ));
            }
            empty[r * row..(r + 1) * row].fill(true);
        }
    }
    let n = empty.iter().filter(|&&e| e).count();
    if n > 0 {
        eprintln!(
            "{what}: {} empty row(s): PyTorch NaN, crate zeros (as documented)",
            n / row
        );
    }
    Ok(empty)
}

#[test]
fn softmax_with_masks_matches_pytorch() {
    for_each_case("softmax", "sm", |case| {
        let c = cfg(case);
        let (causal, has_mask) = (c[0] == 1, c[1] == 1);
        let x = arr(case, "x");
        let key_mask = data(case, "key_mask");
        let what = format!(
            "{case} (scores {:?}, causal {causal}, key mask {has_mask})",
            x.shape
        );
        let (tshape, torch) = torch64(case, "y");
        expect_shape(&what, &x.shape, &tshape)?;
        let (b, s) = (x.shape[0], x.shape[3]);
        let mt = upload("key mask", &[b, s], &key_mask);
        let mask = Mask {
            causal,
            keys: has_mask.then_some(&mt),
        };
        let mut plan = Plan::new();
        let y = softmax_forward(
            gpu(),
            &mut plan,
            case,
            &upload("x", &x.shape, &x.data),
            &mask,
        )
        .map_err(|e| format!("{what}: {e}"))?;
        let got = run(&plan, &y);
        let reference = cpu::softmax::softmax(
            &RefTensor::from_f32(&x.shape, &x.data),
            causal,
            has_mask.then_some(&key_mask[..]),
        );
        let empty = empty_rows_are_zeros(&what, &torch, &got, &reference.val, s)?;
        both(&what, &torch, &got, &reference, &|i| !empty[i])
    });
}

const PATHS: [(AttentionPath, Order); 2] = [
    (AttentionPath::Composed, Order::Stored),
    (AttentionPath::Fused, Order::Online),
];

#[test]
fn scaled_dot_product_attention_matches_pytorch() {
    for_each_case("sdpa", "sdpa", |case| {
        let c = cfg(case);
        let (b, l, s, heads, d) = (c[0], c[1], c[2], c[3], c[4]);
        let (causal, has_mask) = (c[5] == 1, c[6] == 1);
        let w = heads * d;
        let [q, k, v] = ["q", "k", "v"].map(|f| data(case, f));
        let key_mask = data(case, "key_mask");
        let (tshape, torch) = torch64(case, "y");
        let (_, torch_cs) = torch64(case, "y_cs");
        let gap = torch
            .iter()
            .zip(&torch_cs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f64, f64::max);
        let mt = upload("key mask", &[b, s], &key_mask);
        let mask = Mask {
            causal,
            keys: has_mask.then_some(&mt),
        };
        let masks = Masks {
            causal,
            keys: has_mask.then_some(&key_mask[..]),
        };
        let (qt, kt, vt) = (
            upload("q", &[b, l, w], &q),
            upload("k", &[b, s, w], &k),
            upload("v", &[b, s, w], &v),
        );
        let (qr, kr, vr) = (
            RefTensor::from_f32(&[b, l, w], &q),
            RefTensor::from_f32(&[b, s, w], &k),
            RefTensor::from_f32(&[b, s, w], &v),
        );
        let mut worst: Option<Errs> = None;
        for (path, order) in PATHS {
            let what = format!(
                "{case} {path:?} (B {b}, L {l}, S {s}, {heads} heads of {d}, causal {causal}, key mask {has_mask}; PyTorch's scale vs the crate's differ by {gap:.1e} here)"
            );
            expect_shape(&what, &[b, l, w], &tshape)?;
            let mut plan = Plan::new();
            let y = sdpa_forward(gpu(), &mut plan, case, path, heads, &qt, &kt, &vt, &mask)
                .map_err(|e| format!("{what}: {e}"))?;
            let got = run(&plan, &y);
            let reference = cpu_attn::sdpa(&qr, &kr, &vr, heads, &masks, order);
            let e = agree(&what, &torch, &torch_cs, &got, &reference.val, &all)?;
            worst = Some(worse(worst, e));
        }
        Ok(worst.unwrap())
    });
}

/// nn.MultiheadAttention (batch_first, biases, no dropout), self and cross,
/// causal and key padding, both GPU paths.
#[test]
fn multi_head_attention_matches_pytorch() {
    for_each_case("multi-head attention", "mha", |case| {
        let c = cfg(case);
        let (b, l, s, dm, heads) = (c[0], c[1], c[2], c[3], c[4]);
        let (causal, has_mask, cross) = (c[5] == 1, c[6] == 1, c[7] == 1);
        let (xq, xkv) = (data(case, "xq"), data(case, "xkv"));
        let key_mask = data(case, "key_mask");
        let [wq, bq, wk, bk, wv, bv, wo, bo] =
            ["wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"].map(|f| data(case, f));
        let (tshape, torch) = torch64(case, "y");
        let mt = upload("key mask", &[b, s], &key_mask);
        let mask = Mask {
            causal,
            keys: has_mask.then_some(&mt),
        };
        let masks = Masks {
            causal,
            keys: has_mask.then_some(&key_mask[..]),
        };
        let weights = MhaWeights {
            d_model: dm,
            wq,
            bq,
            wk,
            bk,
            wv,
            bv,
            wo,
            bo,
        };
        let tensors = wgsl_nn::models::upload_mha(gpu(), &weights).map_err(|e| e.to_string())?;
        let xqt = upload("xq", &[b, l, dm], &xq);
        // Self-attention passes one tensor twice, as the models do.
        let xkvt = if cross {
            upload("xkv", &[b, s, dm], &xkv)
        } else {
            xqt.clone()
        };
        let (xqr, xkvr) = (
            RefTensor::from_f32(&[b, l, dm], &xq),
            RefTensor::from_f32(&[b, s, dm], &xkv),
        );
        let mut worst: Option<Errs> = None;
        for (path, order) in PATHS {
            let what = format!(
                "{case} {path:?} (B {b}, L {l}, S {s}, D {dm}, {heads} heads, causal {causal}, key mask {has_mask}, cross {cross})"
            );
            expect_shape(&what, &[b, l, dm], &tshape)?;
            let mut plan = Plan::new();
            let y = mha_forward(
                gpu(),
                &mut plan,
                case,
                path,
                heads,
                &tensors,
                &xqt,
                &xkvt,
                &mask,
                None,
            )
            .map_err(|e| format!("{what}: {e}"))?;
            let got = run(&plan, &y);
            let reference = cpu_attn::mha(&weights, &xqr, &xkvr, heads, &masks, None, order);
            let e = both(&what, &torch, &got, &reference, &all)?;
            worst = Some(worse(worst, e));
        }
        Ok(worst.unwrap())
    });
}

#[test]
fn max_and_avg_pool2d_match_pytorch() {
    for_each_case("pool2d", "pool", |case| {
        let c = cfg(case);
        let pool = Pool2d {
            kind: if c[0] == 1 {
                PoolKind::Avg
            } else {
                PoolKind::Max
            },
            window: Window {
                kernel: [c[1], c[2]],
                stride: [c[3], c[4]],
                pad_begin: [c[5], c[6]],
                pad_end: [c[5], c[6]],
                dilation: [c[7], c[8]],
                ceil_mode: c[9] == 1,
            },
            count_include_pad: c[10] == 1,
        };
        let x = arr(case, "x");
        let what = format!("{case} ({pool:?} on {:?})", x.shape);
        let (tshape, torch) = torch64(case, "y");
        let out = pool
            .output_shape(&x.shape, case)
            .map_err(|e| format!("{what}: {e}"))?;
        expect_shape(&what, &out, &tshape)?;
        let mut plan = Plan::new();
        let y = pool2d_forward(
            gpu(),
            &mut plan,
            case,
            &pool,
            &upload("x", &x.shape, &x.data),
        )
        .map_err(|e| format!("{what}: {e}"))?;
        let got = run(&plan, &y);
        let reference = cpu::pool2d::pool2d(&pool, &RefTensor::from_f32(&x.shape, &x.data), out);
        both(&what, &torch, &got, &reference, &all)
    });
}

/// nn.Linear with no activation, ReLU and GELU (tanh form, PyTorch's
/// approximate="tanh").
#[test]
fn linear_matches_pytorch() {
    for_each_case("linear", "lin", |case| {
        let c = cfg(case);
        let (k, n, bias) = (c[0], c[1], c[2] == 1);
        let act = [Activation::None, Activation::Relu, Activation::Gelu][c[3]];
        let x = arr(case, "x");
        let (w, b) = (data(case, "w"), data(case, "b"));
        let what = format!(
            "{case} (x {:?}, K {k}, N {n}, bias {bias}, {act:?})",
            x.shape
        );
        let (tshape, torch) = torch64(case, "y");
        let mut out = x.shape.clone();
        *out.last_mut().unwrap() = n;
        expect_shape(&what, &out, &tshape)?;
        let bt = upload("b", &[n], &b);
        let mut plan = Plan::new();
        let y = linear(
            gpu(),
            &mut plan,
            case,
            &upload("x", &x.shape, &x.data),
            &upload("w", &[k, n], &w),
            bias.then_some(&bt),
            act,
        )
        .map_err(|e| format!("{what}: {e}"))?;
        let got = run(&plan, &y);
        let reference = cpu::matmul::linear(
            &RefTensor::from_f32(&x.shape, &x.data),
            &w,
            k,
            n,
            bias.then_some(&b[..]),
            act,
        );
        both(&what, &torch, &got, &reference, &all)
    });
}

//! Float16 storage (issue "Half precision"): matrix products on every
//! float16 path the adapter has, against the f64 reference with float16's
//! charges (products, convolutions, softmax, layer norm, pooling, attention); the float16
//! fault catalogue, each fault failing; and an f32 kernel refusing an f16
//! tensor.

mod common;

use common::{assert_passes, gpu, wgsl_nn};
use wgsl_nn::app::selftest::half::{cases, cases_on, paths, run_case, run_fault, Fault};
use wgsl_nn::app::selftest::half_attention::{
    attention_cases_on, run_attention_case, run_attention_fault, AttentionFault,
};
use wgsl_nn::app::selftest::half_conv::{conv_cases_on, run_conv_case, ConvCase};
use wgsl_nn::app::selftest::half_rows::{rows_cases, run_rows_case, run_rows_fault, RowsFault};
use wgsl_nn::app::selftest::half_rung::HalfRung;
use wgsl_nn::check::compare_f16;
use wgsl_nn::cpu::half::as_f16;
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::dtype::F16Path;
use wgsl_nn::gpu::Plan;
use wgsl_nn::models::conv_stack::{random_input, ConvStack};
use wgsl_nn::ops::elementwise::{pointwise_forward, Pointwise};
use wgsl_nn::ops::matmul::half::Accumulate;
use wgsl_nn::Tensor;

/// Planting a fault changes the kernels every test on this device
/// compiles: the tests here take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn float16_products_pass_on_every_path_over_seeds() {
    let _turn = turn();
    let g = gpu();
    let ps = paths(g);
    assert!(ps.contains(&F16Path::Packed));
    // lavapipe has subgroups: the texture rung's float16 cases run too.
    for rung in [HalfRung::Tex, HalfRung::Vec4] {
        let n = cases_on(g).iter().filter(|c| c.rung == rung).count();
        assert!(n > 0, "no {rung:?} float16 cases on {}", g.info.name);
    }
    for path in ps {
        for case in cases_on(g) {
            for seed in [1, 2, 3] {
                let c = run_case(g, &case, path, Accumulate::F32, Accumulate::F32, seed).unwrap();
                assert_passes(&format!("{} on {path:?}, seed {seed}", case.label()), &c);
            }
        }
    }
}

#[test]
fn float16_convolutions_pass_on_every_path_over_seeds() {
    let _turn = turn();
    let g = gpu();
    for path in paths(g) {
        for case in conv_cases_on(g) {
            for seed in [1, 2, 3] {
                let c = run_conv_case(g, &case, path, seed).unwrap();
                assert_passes(&format!("{} on {path:?}, seed {seed}", case.label()), &c);
            }
        }
    }
}

#[test]
fn a_float16_conv_stack_carries_each_layers_store() {
    let _turn = turn();
    let g = gpu();
    let specs = wgsl_nn::spec::parse_stack(wgsl_nn::models::conv_stack::WIDE_STACK).unwrap();
    let mut stack = ConvStack::new(&specs, [2, 1, 40, 36]).unwrap();
    stack.randomize(3);
    let x = as_f16(&random_input(&stack.input_shape, 4));
    let weights = stack.upload_f16(g).unwrap();
    for path in paths(g) {
        let xt = Tensor::upload_f16(g, "x", &stack.input_shape, &x).unwrap();
        let mut plan = Plan::new();
        let y = stack
            .forward_gpu_f16(g, &weights, &xt, &mut plan, path)
            .unwrap();
        g.run(&plan).unwrap();
        let got = y.download(g).unwrap();
        let reference = stack.forward_ref_f16(&RefTensor::from_f32(&stack.input_shape, &x));
        assert_passes(
            &format!("wide stack on {path:?}"),
            &compare_f16(&got, &reference),
        );
    }
}

#[test]
fn f16acc_passes_its_own_reference_and_fails_the_float32_one() {
    let _turn = turn();
    let g = gpu();
    if !paths(g).contains(&F16Path::Native) {
        panic!(
            "lavapipe has SHADER_F16; this adapter ({}) does not",
            g.info.name
        );
    }
    for case in cases() {
        let c = run_case(
            g,
            &case,
            F16Path::Native,
            Accumulate::F16,
            Accumulate::F16,
            5,
        )
        .unwrap();
        assert_passes(&format!("f16acc {}", case.label()), &c);
    }
    // Claiming float32 accumulation, a float16 sum over 4096 terms fails.
    let long = Fault::AccumulatesInF16.case();
    let c = run_case(
        g,
        &long,
        F16Path::Native,
        Accumulate::F16,
        Accumulate::F32,
        5,
    )
    .unwrap();
    assert!(
        !c.passed,
        "f16acc judged as float32 must fail: {}",
        c.summary()
    );
}

#[test]
fn every_float16_fault_fails_on_every_path() {
    let _turn = turn();
    let g = gpu();
    for path in paths(g) {
        for fault in Fault::ALL {
            for rung in [
                HalfRung::Buffer,
                HalfRung::Vec4,
                HalfRung::Igemm,
                HalfRung::Tex,
            ] {
                // The same cases without the fault pass: the failure is the fault's.
                let case = fault.case().on(rung);
                let conv_case = fault.conv_case().map(|c| ConvCase { rung, ..c });
                for conv in [false, true] {
                    if (conv && conv_case.is_none()) || !fault.planted_in(rung, conv, path) {
                        continue;
                    }
                    let clean = if conv {
                        run_conv_case(g, conv_case.as_ref().unwrap(), path, 9).unwrap()
                    } else {
                        run_case(g, &case, path, Accumulate::F32, Accumulate::F32, 9).unwrap()
                    };
                    assert_passes(
                        &format!(
                            "{} (conv: {conv}, {rung:?}) without the fault",
                            fault.name()
                        ),
                        &clean,
                    );
                    let (c, hits) = run_fault(g, fault, path, conv, rung, 9).unwrap();
                    assert!(hits > 0, "{}: the patch reached no kernel", fault.name());
                    assert!(
                        !c.passed,
                        "{} on {path:?} (conv: {conv}, {rung:?}) passed: {}",
                        fault.name(),
                        c.summary()
                    );
                }
            }
        }
    }
}

#[test]
fn a_float16_overflow_fails_and_is_named() {
    let _turn = turn();
    let g = gpu();
    let mut case = Fault::ProductsInF16.case();
    case.mm.alpha = 1.0; // 64 products near 400^2: far past 65504
    let c = run_case(
        g,
        &case,
        F16Path::Packed,
        Accumulate::F32,
        Accumulate::F32,
        3,
    )
    .unwrap();
    assert!(!c.passed && c.overflow_f16 > 0, "{}", c.summary());
    assert!(c.summary().contains("float16 overflow"), "{}", c.summary());
}

#[test]
fn a_float32_kernel_refuses_a_float16_tensor() {
    let _turn = turn();
    let g = gpu();
    let x = Tensor::upload_f16(g, "x", &[4], &[1.0, -2.0, 3.0, -4.0]).unwrap();
    assert_eq!(x.download(g).unwrap(), [1.0, -2.0, 3.0, -4.0]);
    let mut plan = Plan::new();
    let _ = pointwise_forward(g, &mut plan, "tanh", Pointwise::Tanh, &x).unwrap();
    let e = g.run(&plan).unwrap_err().to_string();
    assert!(e.contains("f16") && e.contains("--dtype f32"), "{e}");
}

#[test]
fn conv_in_float16_passes_on_both_paths_and_refuses_layers_it_cannot_run() {
    for path in ["native", "packed"] {
        let (code, out, err) = wgsl_nn(&["conv", "--dtype", "f16", "--f16-path", path, "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["passed"], true, "{out}");
        assert_eq!(v["dtype"], "f16");
        assert!(v["f16_path"].as_str().unwrap().starts_with(path), "{out}");
    }
    // The float16 output as float16 .npy, read back exactly.
    let npy = std::env::temp_dir().join(format!("wgsl-nn-f16-{}.npy", std::process::id()));
    let (code, _, err) = wgsl_nn(&[
        "conv",
        "--dtype",
        "f16",
        "--output-npy",
        npy.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&npy).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("'<f2'"));
    let a = wgsl_nn::app::io::npy::read_npy(&npy).unwrap();
    assert_eq!(a.shape, [1, 1, 30, 30]);
    assert!(a
        .data
        .iter()
        .all(|&v| v.is_finite() && wgsl_nn::dtype::round_f16(v) == v));
    let _ = std::fs::remove_file(&npy);
    let (code, _, err) = wgsl_nn(&[
        "conv",
        "--dtype",
        "f16",
        "--layers",
        "conv(k=3) maxpool(k=2)",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("maxpool") && err.contains("--dtype f32"),
        "{err}"
    );
    let (code, _, err) = wgsl_nn(&["selftest", "--dtype", "bf16"]);
    assert_eq!(code, 2);
    assert!(err.contains("f32 or f16"), "{err}");
}

#[test]
fn float16_softmax_layer_norm_and_pooling_pass_on_every_path_over_seeds() {
    let _turn = turn();
    let g = gpu();
    for path in paths(g) {
        for case in rows_cases() {
            for seed in [1, 2, 3] {
                let c = run_rows_case(g, &case, path, seed).unwrap();
                assert_passes(&format!("{} on {path:?}, seed {seed}", case.label()), &c);
            }
        }
    }
}

#[test]
fn every_float16_row_fault_fails_on_every_path() {
    let _turn = turn();
    let g = gpu();
    for path in paths(g) {
        for fault in RowsFault::ALL {
            let clean = run_rows_case(g, &fault.case(), path, 9).unwrap();
            let planted = run_rows_fault(g, fault, path, 9).unwrap();
            assert_fault_fails(fault.name(), path, &clean, planted);
        }
    }
}

#[test]
fn float16_attention_passes_on_every_path_over_seeds_and_its_faults_fail() {
    let _turn = turn();
    let g = gpu();
    for path in paths(g) {
        for case in attention_cases_on(g) {
            for seed in [1, 2, 3] {
                let c = run_attention_case(g, &case, path, seed).unwrap();
                assert_passes(&format!("{} on {path:?}, seed {seed}", case.label()), &c);
            }
        }
        for fault in AttentionFault::ALL {
            // Both rungs: lavapipe has subgroups, so the texture rung runs.
            for tex in [false, true] {
                let case = fault.case_for(tex);
                let clean = run_attention_case(g, &case, path, 9).unwrap();
                let planted = run_attention_fault(g, fault, path, tex, 9).unwrap();
                assert_fault_fails(fault.name(), path, &clean, planted);
            }
        }
    }
}

#[test]
fn float16_attention_refuses_what_it_cannot_run() {
    let g = gpu();
    let up = |shape: &[usize]| {
        let n = shape.iter().product();
        Tensor::upload_f16(g, "t", shape, &vec![0.5; n]).unwrap()
    };
    let mask = wgsl_nn::ops::softmax::Mask::default();
    let run = |q: &Tensor, k: &Tensor, heads| {
        let mut plan = Plan::new();
        wgsl_nn::ops::attention::half::sdpa_f16_forward(
            g,
            &mut plan,
            "attn",
            heads,
            q,
            k,
            k,
            &mask,
            F16Path::Packed,
        )
        .unwrap_err()
        .to_string()
    };
    // An odd head size: a head would share output words with the next.
    let e = run(&up(&[1, 2, 6]), &up(&[1, 3, 6]), 2);
    assert!(
        e.contains("even head size") && e.contains("--dtype f32"),
        "{e}"
    );
    // A float32 K.
    let k32 = Tensor::upload(g, "K", &[1, 3, 8], &[0.5; 24]).unwrap();
    let e = run(&up(&[1, 2, 8]), &k32, 2);
    assert!(e.contains("K is") && e.contains("float16"), "{e}");
}

/// The case passes without the fault (so the failure is the fault's), the
/// patch reached a kernel, and the planted run fails.
fn assert_fault_fails(
    name: &str,
    path: F16Path,
    clean: &wgsl_nn::check::Check,
    (c, hits): (wgsl_nn::check::Check, usize),
) {
    assert_passes(&format!("{name} without the fault"), clean);
    assert!(hits > 0, "{name}: the patch reached no kernel");
    assert!(!c.passed, "{name} on {path:?} passed: {}", c.summary());
}

/// The float16 texture rung under a small max_texture_dimension_2d (64:
/// 4096 texels a texture): an image larger than a texture (31 x 41 = 1271
/// pixels, 318 quads of 20 rows) is unfolded a chunk of quads at a time
/// (204 and 114), two images, both paths; each
/// chunk's product stores its columns of the float16 output (odd
/// widths: rows start mid-word).
#[test]
fn float16_texture_conv_unfolds_wide_images_in_chunks() {
    let _turn = turn();
    let mut g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    assert!(
        g.features.contains(wgpu::Features::SUBGROUP),
        "lavapipe has subgroups: the float16 texture rung must run here"
    );
    g.limits.max_texture_dimension_2d = 64;
    let conv = wgsl_nn::ops::conv2d::Conv2d::new(2, 5, 3)
        .padding(1)
        .relu(true);
    let shape = [2, 2, 31, 41];
    let out = conv.output_shape(&shape, "conv").unwrap();
    let x = as_f16(&random_input(&shape, 41));
    let w = as_f16(&random_input(&conv.weight_shape(), 42));
    let b = as_f16(&random_input(&[5], 43));
    let reference = wgsl_nn::cpu::half::stored_f16(wgsl_nn::cpu::conv2d::conv2d(
        &conv,
        &RefTensor::from_f32(&shape, &x),
        &w,
        Some(&b),
        out,
    ));
    for path in paths(&g) {
        let up = |n: &str, s: &[usize], v: &[f32]| Tensor::upload_f16(&g, n, s, v).unwrap();
        let (tx, tw, tb) = (
            up("x", &shape, &x),
            up("w", &conv.weight_shape(), &w),
            up("b", &[5], &b),
        );
        let mut plan = wgsl_nn::app::selftest::half_rung::plan_for(HalfRung::Tex);
        let y = wgsl_nn::ops::conv2d::half::conv2d_f16_forward(
            &g,
            &mut plan,
            "conv",
            &conv,
            &tx,
            &tw,
            Some(&tb),
            path,
        )
        .unwrap();
        let chunks = plan
            .steps
            .iter()
            .filter(|s| s.label.contains("(unfold") && s.label.contains("pixels"))
            .count();
        assert_eq!(chunks, 4, "two images of two chunks each on {path:?}");
        g.run(&plan).unwrap();
        let c = compare_f16(&y.download(&g).unwrap(), &reference);
        assert_passes(&format!("chunked float16 texture conv on {path:?}"), &c);
    }
}

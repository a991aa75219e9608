//! The `wgsl-nn` binary end to end: the exercise as JSON, and errors a
//! user can cause (with the exit code and a message naming the culprit).

use std::process::Command;

fn wgsl_nn(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wgsl-nn"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn conv_json_reports_30x30_and_a_field_of_23() {
    let (code, stdout, stderr) = wgsl_nn(&["conv", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "stderr must be clean, got: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(v["output_shape"], serde_json::json!([1, 1, 30, 30]));
    assert_eq!(v["output_size"], "30x30x1");
    assert_eq!(v["receptive_field"]["analytic"], 23);
    assert_eq!(v["receptive_field"]["measured"], 23);
    assert_eq!(v["check"]["passed"], true);
    assert!(
        v["adapter"]["name"].is_string()
            && v["adapter"]["backend"].is_string()
            && v["adapter"]["device_type"].is_string()
    );
    assert!(
        v["timing"]["gpu_ms"].as_f64().unwrap() > 0.0
            && v["timing"]["cpu_ms"].as_f64().unwrap() > 0.0
            // The whole exercise stack goes to the device in one submission.
            && v["timing"]["submissions"].as_u64() == Some(1)
    );
    assert!(v["check"]["max_abs_err"].is_number() && v["check"]["rel_l2_err"].is_number());
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4);
    assert_eq!(layers[3]["receptive_field"], 23);
    assert_eq!(layers[3]["jump"], 4);
    assert_eq!(layers[0]["spec"], "conv(k=3,s=2,p=0)");
}

#[test]
fn user_errors_name_the_culprit_and_exit_2() {
    for (args, needles) in [
        (
            vec!["conv", "--layers", "conv(kernal_sise=3)"],
            vec!["kernal_sise", "layer 1", "kernel_size"],
        ),
        (vec!["conv", "--layers", "conv(k=3"], vec!["missing ')'"]),
        (
            vec!["conv", "--layers", "conv(k=3,s=0)"],
            vec!["stride", "at least 1"],
        ),
        (
            vec!["conv", "--layers", "conv(k=9)", "--input", "1x4x4"],
            vec!["layer 1", "larger than the padded input"],
        ),
        (vec!["conv", "--input", "1x0x5"], vec!["--input", "zero"]),
        (vec!["conv", "--input", "banana"], vec!["--input", "CxHxW"]),
        (
            vec!["conv", "--params", "/nonexistent/p.npz"],
            vec!["/nonexistent/p.npz"],
        ),
        (vec!["conv", "--backend", "glide"], vec!["glide", "vulkan"]),
        (
            vec!["conv", "--adapter", "no-such-gpu-xyz"],
            vec!["no-such-gpu-xyz", "wgsl-nn info"],
        ),
    ] {
        let (code, stdout, stderr) = wgsl_nn(&args);
        assert_eq!(code, 2, "{args:?}: stdout {stdout} stderr {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{args:?}: '{n}' missing from: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn info_lists_adapters() {
    let (code, stdout, stderr) = wgsl_nn(&["info", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let a = &v["adapters"][0];
    assert!(a["adapter"]["name"].is_string());
    assert!(
        a["limits"]["max_storage_buffer_binding_size"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Weights and input saved by numpy, the output compared with numpy's own
/// computation of the same stack (tests/data/make_fixtures.py).
#[test]
fn params_npz_and_input_npy_match_numpy() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let dir = std::env::temp_dir().join(format!("wgsl-nn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("y.npy");
    let png = dir.join("rf.png");
    let (code, stdout, stderr) = wgsl_nn(&[
        "conv",
        "--layers",
        "conv(k=3,p=1,out=2) relu maxpool(k=2) conv(k=3,s=2,out=3)",
        "--params",
        &format!("{data}/seq_params.npz"),
        "--input-npy",
        &format!("{data}/seq_input.npy"),
        "--output-npy",
        out.to_str().unwrap(),
        "--rf-png",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let got = wgsl_nn::app::io::npy::read_npy(&out).unwrap();
    let want =
        wgsl_nn::app::io::npy::read_npy(std::path::Path::new(&format!("{data}/seq_expected.npy")))
            .unwrap();
    assert_eq!(got.shape, want.shape);
    assert_eq!(got.shape, vec![1, 3, 2, 2]);
    for (g, w) in got.data.iter().zip(&want.data) {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "gpu {g} vs numpy {w}"
        );
    }
    let png_bytes = std::fs::read(&png).unwrap();
    assert_eq!(&png_bytes[1..4], b"PNG");

    // The same file with a stack whose shapes disagree names key and shapes.
    let (code, _, stderr) = wgsl_nn(&[
        "conv",
        "--layers",
        "conv(k=3,p=1,out=4) relu maxpool(k=2) conv(k=3,s=2,out=3)",
        "--params",
        &format!("{data}/seq_params.npz"),
        "--input-npy",
        &format!("{data}/seq_input.npy"),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("'0.weight'")
            && stderr.contains("[2, 1, 3, 3]")
            && stderr.contains("[4, 1, 3, 3]"),
        "{stderr}"
    );
    // A truncated file is an error naming it, not a panic.
    let bad = dir.join("bad.npy");
    std::fs::write(
        &bad,
        &std::fs::read(format!("{data}/seq_input.npy")).unwrap()[..100],
    )
    .unwrap();
    let (code, _, stderr) = wgsl_nn(&["conv", "--input-npy", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bad.npy") && !stderr.contains("panicked"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// nn.MultiheadAttention's state_dict, queries, keys/values and a key
/// padding mask saved by numpy; the GPU's output compared with PyTorch's
/// float64 output on the same float32 numbers (tests/data/make_mha_fixture.py).
#[test]
fn attention_with_pytorch_weights_matches_pytorch() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let dir = std::env::temp_dir().join(format!("wgsl-nn-cli-mha-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = |name: &str| format!("{data}/{name}");
    let want =
        wgsl_nn::app::io::npy::read_npy(std::path::Path::new(&f("mha_expected.npy"))).unwrap();
    let (params, x, kv, mask) = (
        f("mha_params.npz"),
        f("mha_x.npy"),
        f("mha_kv.npy"),
        f("mha_mask.npy"),
    );
    let layer = [
        "attention",
        "--heads",
        "4",
        "--params",
        &params,
        "--input-npy",
        &x,
        "--kv-npy",
        &kv,
        "--reps",
        "1",
    ];
    let run_to = |out: &std::path::Path, extra: &[&str]| {
        let mut args = layer.to_vec();
        args.extend_from_slice(extra);
        args.extend(["--output-npy", out.to_str().unwrap()]);
        let (code, stdout, stderr) = wgsl_nn(&args);
        assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}");
        wgsl_nn::app::io::npy::read_npy(out).unwrap()
    };
    for path in ["composed", "fused"] {
        let got = run_to(
            &dir.join(format!("{path}.npy")),
            &["--path", path, "--key-padding-mask-npy", &mask],
        );
        assert_eq!(got.shape, vec![2, 7, 16], "{path}");
        assert_eq!(got.shape, want.shape);
        for (g, w) in got.data.iter().zip(&want.data) {
            assert!(
                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{path}: gpu {g} vs torch {w}"
            );
        }
    }
    // Float16 storage: against PyTorch's float64 forward on the inputs and
    // weights rounded to float16 (tests/data/make_mha_f16_fixture.py).
    // Five float16 stores (Q, K, V, the attention, the output) of values
    // up to 2.3: a few units of 2^-9 at most; measured 1.0e-3, rel L2 3.2e-4.
    let want16 =
        wgsl_nn::app::io::npy::read_npy(std::path::Path::new(&f("mha_f16_expected.npy"))).unwrap();
    for f16_path in ["native", "packed"] {
        let got = run_to(
            &dir.join(format!("f16_{f16_path}.npy")),
            &[
                "--dtype",
                "f16",
                "--f16-path",
                f16_path,
                "--key-padding-mask-npy",
                &mask,
            ],
        );
        assert_eq!(got.shape, want16.shape, "f16 {f16_path}");
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (g, w) in got.data.iter().zip(&want16.data) {
            let (g, w) = (f64::from(*g), f64::from(*w));
            assert!(
                (g - w).abs() <= 4e-3,
                "f16 {f16_path}: gpu {g} vs torch {w}"
            );
            num += (g - w).powi(2);
            den += w * w;
        }
        let rel = (num / den).sqrt();
        assert!(
            rel < 1e-3,
            "f16 {f16_path}: rel L2 {rel:.3e} against PyTorch"
        );
    }
    // Without the mask the output must differ: the mask is really applied.
    let got = run_to(&dir.join("nomask.npy"), &[]);
    let moved = got
        .data
        .iter()
        .zip(&want.data)
        .filter(|(g, w)| (*g - *w).abs() > 1e-3)
        .count();
    assert!(moved > 0, "dropping the key padding mask changed nothing");

    // Files that disagree are errors naming the file and the fix.
    for (args, needle) in [
        (vec!["--kv-npy", "mha_kv.npy"], "--input-npy"),
        (vec!["--input-npy", "mha_x.npy", "--dim", "32"], "--dim"),
        (
            vec![
                "--params",
                "mha_params.npz",
                "--input-npy",
                "mha_kv.npy",
                "--heads",
                "3",
            ],
            "--dim",
        ),
        (
            vec![
                "--input-npy",
                "mha_x.npy",
                "--key-padding-mask-npy",
                "mha_mask.npy",
            ],
            "--key-padding-mask-npy",
        ),
        (vec!["--params", "mha_x.npy"], "npz"),
        (vec!["--input-npy", "seq_input.npy"], "[B, L, D]"),
    ] {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a.ends_with(".npy") || a.ends_with(".npz") {
                    f(a)
                } else {
                    a.to_string()
                }
            })
            .collect();
        let mut full = vec!["attention"];
        full.extend(args.iter().map(String::as_str));
        let (code, _, stderr) = wgsl_nn(&full);
        assert_eq!(code, 2, "{full:?}: {stderr}");
        assert!(
            stderr.contains(needle) && !stderr.contains("panicked"),
            "{full:?}: {stderr}"
        );
    }
}

/// A two-layer nn.LSTM's state_dict, input, h0 and c0 saved by numpy; y,
/// h_n and c_n compared with PyTorch's float64 results on the same float32
/// numbers (tests/data/make_rnn_fixture.py), batch-first and time-major.
#[test]
fn rnn_with_a_pytorch_lstm_matches_pytorch() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let dir = std::env::temp_dir().join(format!("wgsl-nn-cli-rnn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = |name: &str| format!("{data}/{name}");
    let read = |p: &str| wgsl_nn::app::io::npy::read_npy(std::path::Path::new(p)).unwrap();
    let out = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let close =
        |what: &str, got: &wgsl_nn::app::io::npy::Array, want: &wgsl_nn::app::io::npy::Array| {
            assert_eq!(got.shape, want.shape, "{what}");
            for (g, w) in got.data.iter().zip(&want.data) {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{what}: gpu {g} vs torch {w}"
                );
            }
        };
    let (params, x, h0, c0) = (
        f("lstm_params.npz"),
        f("lstm_x.npy"),
        f("lstm_h0.npy"),
        f("lstm_c0.npy"),
    );
    let (y, hn, cn) = (out("y.npy"), out("hn.npy"), out("cn.npy"));
    let args = [
        "rnn",
        "--params",
        &params,
        "--input-npy",
        &x,
        "--h0-npy",
        &h0,
        "--c0-npy",
        &c0,
        "--output-npy",
        &y,
        "--hn-npy",
        &hn,
        "--cn-npy",
        &cn,
        "--reps",
        "1",
    ];
    let (code, stdout, stderr) = wgsl_nn(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Lstm: 2 layer(s)"), "{stdout}");
    close("y", &read(&y), &read(&f("lstm_y.npy")));
    close("h_n", &read(&hn), &read(&f("lstm_hn.npy")));
    close("c_n", &read(&cn), &read(&f("lstm_cn.npy")));

    // The same input time-major ([T, B, I]) gives the output time-major.
    let xt = read(&x);
    let (b, t, i) = (xt.shape[0], xt.shape[1], xt.shape[2]);
    let swapped: Vec<f32> = (0..t * b * i)
        .map(|k| xt.data[((k / i) % b * t + k / i / b) * i + k % i])
        .collect();
    let xtm = out("x_tm.npy");
    wgsl_nn::app::io::npy::write_npy(std::path::Path::new(&xtm), &[t, b, i], &swapped).unwrap();
    let ytm = out("y_tm.npy");
    let mut tm = args.to_vec();
    tm[4] = &xtm;
    tm[10] = &ytm;
    tm.push("--time-major");
    let (code, _, stderr) = wgsl_nn(&tm);
    assert_eq!(code, 0, "{stderr}");
    let (want, got) = (read(&f("lstm_y.npy")), read(&ytm));
    let h = want.shape[2];
    assert_eq!(got.shape, vec![t, b, h]);
    for k in 0..t * b * h {
        let (tt, bb, j) = (k / h / b, (k / h) % b, k % h);
        let w = want.data[(bb * t + tt) * h + j];
        assert!(
            (got.data[k] - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "time-major t={tt} b={bb} j={j}"
        );
    }

    // A GRU asked of LSTM weights, and a bidirectional-looking state_dict, are errors.
    let (code, _, stderr) = wgsl_nn(&["rnn", "--params", &params, "--kind", "gru"]);
    assert!(
        code == 2 && stderr.contains("nn.LSTM") && stderr.contains("--kind"),
        "{stderr}"
    );
    let (code, _, stderr) = wgsl_nn(&[
        "rnn",
        "--params",
        &params,
        "--input-npy",
        &x,
        "--h0-npy",
        &x,
    ]);
    assert!(
        code == 2 && stderr.contains("--h0-npy") && stderr.contains("[2, 2, 5]"),
        "{stderr}"
    );
}

/// Conv, BatchNorm2d (eval mode, random statistics), ReLU, a depthwise conv
/// and a BatchNorm2d without affine, saved by PyTorch (num_batches_tracked
/// included); the output compared with PyTorch's float64 forward pass
/// (tests/data/make_bn_fixture.py).
#[test]
fn conv_batchnorm_stack_from_pytorch_matches_pytorch() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let dir = std::env::temp_dir().join(format!("wgsl-nn-cli-bn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("y.npy");
    let (params, x) = (format!("{data}/bn_params.npz"), format!("{data}/bn_x.npy"));
    let layers = "conv(k=3,p=1,out=6,bias=false) batchnorm relu conv(k=3,groups=6) batchnorm(eps=1e-3,affine=false)";
    let (code, stdout, stderr) = wgsl_nn(&[
        "conv",
        "--layers",
        layers,
        "--params",
        &params,
        "--input-npy",
        &x,
        "--output-npy",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let got = wgsl_nn::app::io::npy::read_npy(&out).unwrap();
    let want =
        wgsl_nn::app::io::npy::read_npy(std::path::Path::new(&format!("{data}/bn_expected.npy")))
            .unwrap();
    assert_eq!(got.shape, want.shape);
    for (g, w) in got.data.iter().zip(&want.data) {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "gpu {g} vs torch {w}"
        );
    }
    // The spec must say what the file holds: affine keys need affine=true.
    let (code, _, stderr) = wgsl_nn(&[
        "conv",
        "--layers",
        &layers.replace("batchnorm relu", "batchnorm(affine=false) relu"),
        "--params",
        &params,
        "--input-npy",
        &x,
    ]);
    assert!(
        code == 2 && stderr.contains("'1.weight'") && stderr.contains("affine=false"),
        "{stderr}"
    );
    let (code, _, stderr) =
        wgsl_nn(&["conv", "--layers", "bn(num_features=4)", "--input", "3x5x5"]);
    assert!(
        code == 2 && stderr.contains("num_features=4") && stderr.contains("3 channels"),
        "{stderr}"
    );
    let (code, _, stderr) = wgsl_nn(&["conv", "--layers", "bn(eps=-1)"]);
    assert!(code == 2 && stderr.contains("eps"), "{stderr}");
}

#[test]
fn absurd_sizes_are_refused_before_any_work() {
    for (args, needle) in [
        (
            vec!["conv", "--input", "1x100000x100000"],
            "refuses tensors over",
        ),
        (
            vec![
                "conv",
                "--layers",
                "conv(k=3,out=1000000)",
                "--input",
                "1x256x256",
            ],
            "layer 1",
        ),
        (vec!["attention", "--tokens", "10000000000"], "--tokens"),
        (
            vec!["attention", "--tokens", "1000000", "--dim", "4096"],
            "refuses tensors over",
        ),
        (
            vec!["attention", "--dim", "100", "--heads", "8"],
            "not divisible",
        ),
        (vec!["permute", "--tokens", "10000000000"], "--tokens"),
        (vec!["text2image", ""], "no words"),
        (vec!["bench", "matmul", "--sizes", "0"], "--sizes"),
        (vec!["conv", "--reps", "0"], "--reps"),
        (vec!["conv", "--gpu-timeout=-1"], "--gpu-timeout"),
        (vec!["conv", "--kernel", "matmul=warp"], "warp"),
    ] {
        let (code, _, stderr) = wgsl_nn(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn selftest_passes_on_this_adapter() {
    let (code, stdout, stderr) = wgsl_nn(&["selftest", "--json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["passed"], true);
    let kernels = v["adapters"][0]["kernels"].as_array().unwrap();
    assert!(kernels.len() >= 15);
    assert!(kernels.iter().all(|k| k["failed"] == 0));
}

#[test]
fn run_onnx_writes_outputs_json_and_a_profile_and_refuses_bad_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/onnx");
    let tmp = std::env::temp_dir().join(format!("wgsl-nn-run-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (y, csv, svg) = (tmp.join("y.npy"), tmp.join("p.csv"), tmp.join("p.svg"));
    let (model, x) = (
        format!("{dir}/conv1d.onnx"),
        format!("{dir}/conv1d.input.npy"),
    );
    let (code, stdout, stderr) = wgsl_nn(&[
        "run",
        &model,
        "--input-npy",
        &x,
        "--output-npy",
        y.to_str().unwrap(),
        "--profile-csv",
        csv.to_str().unwrap(),
        "--profile-svg",
        svg.to_str().unwrap(),
        "--json",
        "--repeats",
        "2",
        "--warmup",
        "0",
        "--cpu-repeats",
        "1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "stderr must be clean, got: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(v["passed"], true);
    let nodes = v["report"]["nodes"].as_array().unwrap();
    assert!(nodes
        .iter()
        .any(|n| n["check"]["passed"] == true && n["propagated"]["passed"] == true));
    assert!(v["cpu_baseline"]["median_ms"].as_f64().unwrap() > 0.0);
    let out = wgsl_nn::app::io::npy::read_npy(&y).unwrap();
    assert_eq!(out.shape, [2, 6, 10]);
    let profile = std::fs::read_to_string(&csv).unwrap();
    assert!(profile.starts_with("node,ops,kind") && profile.lines().count() == nodes.len() + 1);
    // The plot: one labelled GPU bar and one CPU bar per node with steps.
    let plot = std::fs::read_to_string(&svg).unwrap();
    let with_steps = nodes
        .iter()
        .filter(|n| n["steps"].as_u64() > Some(0))
        .count();
    assert!(plot.starts_with("<svg") && plot.trim_end().ends_with("</svg>"));
    assert_eq!(plot.matches(" ms</text>").count(), 2 * with_steps, "{plot}");
    assert_eq!(v["cpu_baseline"]["checks"][0]["passed"], true);
    // Seeded input of the declared shape, the seed printed; a sampled check counted.
    let (code, stdout, _) = wgsl_nn(&[
        "run",
        &model,
        "--seed",
        "3",
        "--check",
        "sample=17",
        "--cpu-repeats",
        "0",
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("seeded (seed 3") && stdout.contains("sampled 17 per node"),
        "{stdout}"
    );
    let (code, stdout, _) = wgsl_nn(&["run", "--list-ops"]);
    assert!(code == 0 && stdout.contains("LayerNormalization") && stdout.contains("ConvTranspose"));
    for (file, needle) in [
        ("hostile/cycle.onnx", "cycle"),
        ("hostile/truncated.onnx", "not an ONNX model"),
        ("hostile/unsupported_op.onnx", "Einsum"),
    ] {
        let (code, _, stderr) = wgsl_nn(&["run", &format!("{dir}/{file}")]);
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(
            stderr.contains(needle) && !stderr.contains("panicked"),
            "{file}: {stderr}"
        );
    }
    let (code, _, stderr) = wgsl_nn(&["run", &model, "--check", "most"]);
    assert!(code == 2 && stderr.contains("--check"), "{stderr}");
    let (code, _, stderr) = wgsl_nn(&["run", &model, "--input", "nope=x.npy"]);
    assert!(code == 2 && stderr.contains("no input 'nope'"), "{stderr}");
    std::fs::remove_dir_all(&tmp).ok();
}

/// `rnn --dtype f16` on the two-layer nn.LSTM fixture, on each float16
/// path the adapter has: y, h_n and c_n (written as float16 .npy) against
/// PyTorch's float64 forward of the float16-rounded numbers
/// (tests/data/make_rnn_f16_fixture.py), within 4x the relative L2 error
/// PyTorch's own float16 run makes there and under 2e-3.
#[test]
fn rnn_in_f16_matches_pytorch_on_rounded_inputs() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let dir = std::env::temp_dir().join(format!("wgsl-nn-cli-rnn16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = |name: &str| format!("{data}/{name}");
    let read = |p: &str| wgsl_nn::app::io::npy::read_npy(std::path::Path::new(p)).unwrap();
    let rel = |got: &[f32], want: &[f32]| {
        let d: f64 = got
            .iter()
            .zip(want)
            .map(|(g, w)| f64::from(g - w).powi(2))
            .sum();
        let n: f64 = want.iter().map(|w| f64::from(*w).powi(2)).sum();
        (d / n).sqrt()
    };
    let torch16 = rel(
        &read(&f("lstm_y.torch16.npy")).data,
        &read(&f("lstm_y.f16in64.npy")).data,
    );
    for path in ["native", "packed"] {
        let out = |name: &str| {
            dir.join(format!("{path}_{name}"))
                .to_str()
                .unwrap()
                .to_string()
        };
        let (y, hn, cn) = (out("y.npy"), out("hn.npy"), out("cn.npy"));
        let (params, x, h0, c0) = (
            f("lstm_params.npz"),
            f("lstm_x.npy"),
            f("lstm_h0.npy"),
            f("lstm_c0.npy"),
        );
        let args = [
            "rnn",
            "--params",
            &params,
            "--input-npy",
            &x,
            "--h0-npy",
            &h0,
            "--c0-npy",
            &c0,
            "--output-npy",
            &y,
            "--hn-npy",
            &hn,
            "--cn-npy",
            &cn,
            "--reps",
            "1",
            "--dtype",
            "f16",
            "--f16-path",
            path,
            "--json",
        ];
        let (code, stdout, stderr) = wgsl_nn(&args);
        if path == "native" && stderr.contains("SHADER_F16") {
            continue;
        }
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["dtype"], "f16");
        assert_eq!(doc["passed"], true, "{stdout}");
        assert!(
            doc["f16_path"].as_str().unwrap().starts_with(path),
            "{stdout}"
        );
        for (got, want) in [(&y, "lstm_y"), (&hn, "lstm_hn"), (&cn, "lstm_cn")] {
            let raw = std::fs::read(got).unwrap();
            assert!(
                String::from_utf8_lossy(&raw[..64]).contains("<f2"),
                "{got} is not float16"
            );
            let (g, w) = (read(got), read(&f(&format!("{want}.f16in64.npy"))));
            assert_eq!(g.shape, w.shape, "{want}");
            let r = rel(&g.data, &w.data);
            assert!(
                r < 2e-3 && r < 4.0 * torch16,
                "{path} {want}: rel L2 {r:.3e}, torch f16 {torch16:.3e}"
            );
        }
    }
    // A float16 path without float16 is refused before any work.
    let (code, _, stderr) = wgsl_nn(&["rnn", "--f16-path", "packed"]);
    assert!(code == 2 && stderr.contains("--dtype f16"), "{stderr}");
}

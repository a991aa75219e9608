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

//! Timing and reporting: positive, ordered statistics; the wall-clock
//! fall-back; a failed check never carries a speed; CSV and JSON parse back
//! with the documented columns; the SVG is well-formed and names its axes.

mod common;
use common::*;
use wgsl_nn::app::bench::cases::OpKind;
use wgsl_nn::app::bench::sweep::Sweep;
use wgsl_nn::app::bench::{plot, table, Row};
use wgsl_nn::gpu::timer::{time_plan, time_plans, PlanTiming};
use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
use wgsl_nn::ops::elementwise::{map_forward, RELU};
use wgsl_nn::Tensor;

fn small_plan(g: &Gpu, n: usize) -> Plan {
    let x = Tensor::upload(g, "x", &[n], &vec![1.0; n]).unwrap();
    let mut plan = Plan::new();
    map_forward(g, &mut plan, "relu", RELU, &x).unwrap();
    plan
}

fn ordered(t: &PlanTiming) {
    assert!(
        t.min_ms > 0.0 && t.min_ms <= t.median_ms && t.median_ms <= t.max_ms,
        "{t:?}"
    );
    assert!(t.reps >= 1 && t.first_run_ms > 0.0 && t.compile_ms >= 0.0);
}

/// GPU timestamps when the adapter has them and they held up against the
/// wall clock; else the wall clock with the reason. (lavapipe sometimes
/// writes stamps 100x too close together, mostly when several devices are
/// open in one process, as in this test binary: those runs are refused.)
fn clock_is_explained(g: &Gpu, t: &PlanTiming) {
    match t.clock {
        "gpu-timestamps" => {
            assert!(g.has_timestamps());
            assert_eq!(t.steps.len(), 1);
        }
        "wall-clock" => {
            let note = t.note.as_deref().unwrap_or("");
            assert!(note.contains("wall clock"), "{note}");
            assert!(!g.has_timestamps() || note.contains("timestamps"), "{note}");
        }
        other => panic!("unknown clock {other}"),
    }
}

#[test]
fn timer_statistics_are_positive_and_ordered() {
    let g = gpu();
    let t = time_plan(g, &small_plan(g, 1 << 20), 2, 7).unwrap();
    ordered(&t);
    assert_eq!(t.reps, 7);
    clock_is_explained(g, &t);
    // Rotation over two plans.
    let t = time_plans(g, &[small_plan(g, 4096), small_plan(g, 4096)], 1, 4).unwrap();
    ordered(&t);
}

#[test]
fn without_timestamps_the_wall_clock_is_used_and_said() {
    let mut g = Gpu::new(&AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.features.remove(wgpu::Features::TIMESTAMP_QUERY);
    let t = time_plan(&g, &small_plan(&g, 1 << 16), 1, 3).unwrap();
    ordered(&t);
    assert_eq!(t.clock, "wall-clock");
    assert!(
        t.note.as_deref().unwrap_or("").contains("wall clock"),
        "{:?}",
        t.note
    );
}

fn fake_timing() -> PlanTiming {
    PlanTiming {
        compile_ms: 1.0,
        first_run_ms: 2.0,
        median_ms: 4.0,
        min_ms: 3.0,
        max_ms: 5.0,
        reps: 3,
        clock: "gpu-timestamps",
        note: None,
        steps: vec![],
        submissions: 1,
    }
}

#[test]
fn a_failed_check_never_yields_a_speed() {
    let failed = Row::gpu(
        "matmul",
        "8x8x8",
        "rb4",
        "test",
        8,
        1024,
        768,
        &fake_timing(),
        false,
        "all 8 rows".into(),
    );
    assert!(
        failed.median_ms.is_none()
            && failed.gflops.is_none()
            && failed.gbps.is_none()
            && failed.min_ms.is_none()
    );
    let text = table::text(std::slice::from_ref(&failed));
    assert!(text.contains("FAIL") && !text.contains("4.000"), "{text}");
    let passed = Row::gpu(
        "matmul",
        "8x8x8",
        "rb4",
        "test",
        8,
        1024,
        768,
        &fake_timing(),
        true,
        "all 8 rows".into(),
    );
    assert_eq!(passed.median_ms, Some(4.0));
    assert!((passed.gflops.unwrap() - 1024.0 / 4e6).abs() < 1e-12);
    assert!(
        plot::svg(&[failed], "t").matches("<polyline").count() == 0,
        "failed rows are not plotted"
    );
}

#[test]
fn csv_json_and_svg_of_a_real_sweep() {
    let sweep = Sweep {
        ops: vec![OpKind::Matmul, OpKind::Attention],
        sizes: Some(vec![8, 12]),
        reps: 2,
        seed: 5,
        quick: true,
        quiet: true,
        rungs: vec![("matmul".into(), "rb4".into())],
        dtype: wgsl_nn::dtype::DType::F32,
    };
    let rows = sweep.run(std::slice::from_ref(gpu())).unwrap();
    // Per size: CPU + 1 matmul rung; CPU + every attention rung.
    assert_eq!(
        rows.len(),
        2 * 2 + 2 * (1 + <wgsl_nn::rung::AttentionRung as wgsl_nn::rung::Rung>::ALL.len())
    );
    assert!(rows.iter().all(|r| r.passed), "{}", table::text(&rows));
    let csv = table::csv(&rows);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "op",
        "shape",
        "implementation",
        "adapter",
        "median_ms",
        "min_ms",
        "max_ms",
        "gflops",
        "passed",
    ] {
        assert!(header.contains(&col), "CSV lacks column {col}");
    }
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), rows.len());
    let idx = |c: &str| header.iter().position(|h| *h == c).unwrap();
    for (line, row) in body.iter().zip(&rows) {
        let f = parse_csv_line(line);
        let f: Vec<&str> = f.iter().map(String::as_str).collect();
        assert_eq!(f.len(), header.len(), "{line}");
        assert_eq!(f[idx("op")], row.op);
        assert_eq!(f[idx("passed")], "true");
        let median: f64 = f[idx("median_ms")].parse().unwrap();
        assert!(median > 0.0 && (median - row.median_ms.unwrap()).abs() < 1e-3);
        let (lo, hi): (f64, f64) = (
            f[idx("min_ms")].parse().unwrap(),
            f[idx("max_ms")].parse().unwrap(),
        );
        assert!(lo <= median + 1e-4 && median <= hi + 1e-4);
        assert!(f[idx("gflops")].parse::<f64>().unwrap() > 0.0);
    }
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&rows).unwrap()).unwrap();
    for r in json.as_array().unwrap() {
        for key in [
            "op",
            "shape",
            "implementation",
            "adapter",
            "median_ms",
            "min_ms",
            "max_ms",
            "gflops",
            "passed",
        ] {
            assert!(r.get(key).is_some(), "JSON row lacks {key}");
        }
    }
    let svg = plot::svg(&rows, "test & <plot>");
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("GFLOP/s (log scale)") && svg.contains("problem size (log scale)"));
    assert!(svg.contains("test &amp; &lt;plot&gt;"), "title escaped");
    assert_eq!(svg.matches("<svg").count(), 1);
    // Every opened element is closed (self-closing or with an end tag).
    for tag in ["text", "svg"] {
        assert_eq!(
            svg.matches(&format!("<{tag}")).count(),
            svg.matches(&format!("</{tag}>")).count(),
            "{tag}"
        );
    }
    assert!(svg.matches("<polyline").count() >= 2);
}

/// RFC 4180 fields: quoted fields may hold commas and doubled quotes.
fn parse_csv_line(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) =
        (vec![], String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Plans that bind textures are timed by wall clock on CPU adapters (their
/// timestamps there came back far too short), and say so.
#[test]
fn texture_plans_on_a_cpu_adapter_use_the_wall_clock() {
    use wgsl_nn::ops::matmul::{matmul_into, Matmul, View};
    let g = gpu();
    let n = 64;
    let a = Tensor::upload(g, "a", &[n, n], &vec![1.0; n * n]).unwrap();
    let c = Tensor::poisoned(g, "c", &[n, n]).unwrap();
    let mm = Matmul::square(n);
    let tex = wgsl_nn::rung::Kernels::default().matmul(wgsl_nn::rung::MatmulRung::Tex);
    let mut plan = Plan::with_kernels(tex);
    let v = View::dense(n, n, false);
    matmul_into(g, &mut plan, "mm", &mm, (&a, v), (&a, v), None, (&c, v)).unwrap();
    let textures = plan
        .steps
        .iter()
        .any(|s| s.bindings.iter().any(|b| b.texture.is_some()));
    let t = time_plan(g, &plan, 1, 3).unwrap();
    ordered(&t);
    if textures && g.info.device_type == wgpu::DeviceType::Cpu {
        assert_eq!(t.clock, "wall-clock");
        assert!(
            t.note.as_deref().unwrap_or("").contains("texture"),
            "{:?}",
            t.note
        );
    }
    assert!(c.download(g).unwrap().iter().all(|&x| x == n as f32));
}

/// On GPUs timing warms the clocks up and queues the timed runs back to
/// back (lavapipe stands in for a discrete GPU), and the clock it reports
/// is explained.
#[test]
fn gpu_timing_warms_up_and_queues_its_runs() {
    let mut g = Gpu::new(&AdapterChoice::from_args_or_env(None, None)).unwrap();
    g.info.device_type = wgpu::DeviceType::DiscreteGpu;
    let t = time_plan(&g, &small_plan(&g, 1 << 20), 1, 5).unwrap();
    ordered(&t);
    assert_eq!(t.reps, 5);
    clock_is_explained(&g, &t);
}

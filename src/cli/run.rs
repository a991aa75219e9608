//! `wgsl-nn run MODEL.onnx`: a whole ONNX model on the GPU, checked node
//! by node against the f64 reference and profiled layer by layer.

use super::DeviceArgs;
use clap::Args;
use rand::SeedableRng;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wgsl_nn::app::io::{npy, onnx};
use wgsl_nn::graph::exec::{self, CheckMode, RunOptions, RunReport};
use wgsl_nn::graph::{build, DType, HostTensor, Model};
use wgsl_nn::{Error, Result};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The ONNX model (exported e.g. by torch.onnx.export(..., opset_version=17)).
    #[arg(value_name = "MODEL.onnx", required_unless_present = "list_ops")]
    pub model: Option<PathBuf>,
    /// The model's input as .npy (a model with one input).
    #[arg(long, value_name = "FILE")]
    pub input_npy: Option<PathBuf>,
    /// An input by name, NAME=FILE.npy (repeat for several inputs).
    #[arg(long, value_name = "NAME=FILE")]
    pub input: Vec<String>,
    /// The size of a named (dynamic) dimension for seeded inputs, NAME=SIZE [default: 1].
    #[arg(long, value_name = "NAME=SIZE")]
    pub dim: Vec<String>,
    /// Write the output to this .npy (with several outputs: FILE.0.npy, FILE.1.npy, ...).
    #[arg(long, value_name = "FILE")]
    pub output_npy: Option<PathBuf>,
    /// full (every element of every node), sample=N (N per node), or off.
    #[arg(long, default_value = "full")]
    pub check: String,
    /// Print the whole report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the per-node profile as CSV.
    #[arg(long, value_name = "FILE")]
    pub profile_csv: Option<PathBuf>,
    /// Draw the per-node profile (the 40 slowest nodes, GPU beside the CPU
    /// baseline) as an SVG bar chart.
    #[arg(long, value_name = "FILE")]
    pub profile_svg: Option<PathBuf>,
    /// Print the supported operators and exit.
    #[arg(long)]
    pub list_ops: bool,
    /// Seed of generated inputs and of the sampled check.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Untimed runs before the timed ones.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed runs (medians are quoted).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Timed runs of the CPU baseline over the same graph (f32, every core; 0 skips it).
    #[arg(long, default_value_t = 3)]
    pub cpu_repeats: usize,
    /// Profile lines printed (slowest first; the CSV and JSON have all).
    #[arg(long, default_value_t = 12)]
    pub top: usize,
    /// Float tensors' storage: f32, or f16 (weights and inputs rounded to
    /// float16 once at load, every float output stored as float16, sums in
    /// float32; the reference charges each rounding) [default: f16 for a
    /// model with float16 inputs (model.half()), else f32]
    #[arg(long, value_parser = super::selftest::parse_dtype)]
    pub dtype: Option<wgsl_nn::dtype::DType>,
    /// With --dtype f16: read float16 as WGSL f16 (native, needs
    /// SHADER_F16) or as u32 words (packed) [default: native where the
    /// adapter has it]
    #[arg(long, value_name = "native|packed", value_parser = super::conv::parse_path)]
    pub f16_path: Option<wgsl_nn::dtype::F16Path>,
}

fn check_mode(s: &str) -> Result<CheckMode> {
    match s.trim() {
        "full" => Ok(CheckMode::Full),
        "off" => Ok(CheckMode::Off),
        other => match other.strip_prefix("sample=").map(str::parse::<usize>) {
            Some(Ok(n)) if n > 0 => Ok(CheckMode::Sample(n)),
            _ => Err(Error::arg(
                "--check",
                format!("'{other}' is not full, off or sample=N (N >= 1)"),
            )),
        },
    }
}

/// The model's inputs: from files where given, else seeded normal values
/// (integers uniform in 0..10) of the declared shape.
fn inputs(a: &RunArgs, model: &Model) -> Result<(Vec<HostTensor>, Vec<String>)> {
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for item in &a.input {
        let (n, f) = item
            .split_once('=')
            .ok_or_else(|| Error::arg("--input", format!("'{item}' is not NAME=FILE")))?;
        if !model.inputs.iter().any(|i| i.name == n) {
            let names: Vec<&str> = model.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(Error::arg(
                "--input",
                format!("the model has no input '{n}'; its inputs are {names:?}"),
            ));
        }
        files.insert(n.to_string(), PathBuf::from(f));
    }
    if let Some(f) = &a.input_npy {
        match model.inputs.as_slice() {
            [one] => {
                files.insert(one.name.clone(), f.clone());
            }
            many => {
                let names: Vec<&str> = many.iter().map(|i| i.name.as_str()).collect();
                return Err(Error::arg(
                    "--input-npy",
                    format!(
                        "the model has {} inputs {names:?}; give each with --input NAME=FILE",
                        many.len()
                    ),
                ));
            }
        }
    }
    let mut dims: BTreeMap<String, usize> = BTreeMap::new();
    for item in &a.dim {
        let parsed = item.split_once('=').and_then(|(n, v)| {
            Some((
                n.to_string(),
                v.trim().parse::<usize>().ok().filter(|&v| v > 0)?,
            ))
        });
        let (n, v) = parsed.ok_or_else(|| {
            Error::arg("--dim", format!("'{item}' is not NAME=SIZE with SIZE >= 1"))
        })?;
        dims.insert(n, v);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let (mut out, mut notes) = (vec![], vec![]);
    for input in &model.inputs {
        if let Some(f) = files.get(&input.name) {
            let arr = npy::read_npy(f)?;
            notes.push(format!(
                "{} {:?} {} from {}",
                input.name,
                arr.shape,
                input.dtype.name(),
                f.display()
            ));
            let data: Vec<f64> = arr.data.iter().map(|&v| f64::from(v)).collect();
            if input.dtype != DType::F32 && data.iter().any(|v| v.fract() != 0.0) {
                return Err(Error::arg(
                    "--input",
                    format!(
                        "{}: the model's input '{}' is {} but the file holds fractional values",
                        f.display(),
                        input.name,
                        input.dtype.name()
                    ),
                ));
            }
            out.push(HostTensor {
                dtype: input.dtype,
                shape: arr.shape,
                data,
            });
        } else {
            let shape = input.shape(|n| dims.get(n).copied().unwrap_or(1));
            let n: usize = shape.iter().product();
            let data: Vec<f64> = match input.dtype {
                DType::F32 => (0..n).map(|_| normal(&mut rng)).collect(),
                _ => (0..n)
                    .map(|_| f64::from(rand::Rng::random_range(&mut rng, 0..10u8)))
                    .collect(),
            };
            notes.push(format!(
                "{} {shape:?} {} seeded (seed {}, {})",
                input.name,
                input.dtype.name(),
                a.seed,
                if input.dtype == DType::F32 {
                    "standard normal"
                } else {
                    "uniform 0..9"
                }
            ));
            out.push(HostTensor {
                dtype: input.dtype,
                shape,
                data,
            });
        }
    }
    Ok((out, notes))
}

pub fn run(dev: &DeviceArgs, a: &RunArgs) -> Result<bool> {
    if a.list_ops {
        println!(
            "Operators `wgsl-nn run` supports ({}; standard ONNX domain, opsets 7 to 21):",
            wgsl_nn::graph::resolve::SUPPORTED.len()
        );
        for chunk in wgsl_nn::graph::resolve::SUPPORTED.chunks(8) {
            println!("  {}", chunk.join(", "));
        }
        return Ok(true);
    }
    let check = check_mode(&a.check)?;
    let path = a.model.as_deref().unwrap_or(Path::new(""));
    super::check_outputs(&[
        ("--output-npy", a.output_npy.as_deref()),
        ("--profile-csv", a.profile_csv.as_deref()),
        ("--profile-svg", a.profile_svg.as_deref()),
    ])?;
    let t0 = std::time::Instant::now();
    let model = onnx::read_model(path)?;
    let (values, notes) = inputs(a, &model)?;
    let shapes = model
        .inputs
        .iter()
        .zip(&values)
        .map(|(i, v)| (i.name.clone(), v.shape.clone()))
        .collect();
    let program = build(&model, &shapes)?;
    let dtype = a.dtype.unwrap_or(if model.float16 {
        wgsl_nn::dtype::DType::F16
    } else {
        wgsl_nn::dtype::DType::F32
    });
    let half = dtype == wgsl_nn::dtype::DType::F16;
    if a.f16_path.is_some() && !half {
        return Err(Error::arg(
            "--f16-path",
            "applies to float16 runs only; add --dtype f16",
        ));
    }
    // The CPU baseline then runs (in float32) the same rounded weights and
    // inputs the GPU and the reference see.
    let (program, values) = if half {
        wgsl_nn::graph::half::check_range(&program, &values)?;
        (
            wgsl_nn::graph::half::rounded(&program),
            wgsl_nn::graph::half::rounded_inputs(&values),
        )
    } else {
        (program, values)
    };
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    let gpu = dev.open()?;
    let opts = RunOptions {
        check,
        warmup: a.warmup,
        repeats: a.repeats.max(1),
        seed: a.seed,
        dtype,
        f16_path: a.f16_path,
    };
    let report = exec::run(&gpu, &program, &values, &opts)?;
    let cpu = (a.cpu_repeats > 0).then(|| {
        let mut c = wgsl_nn::graph::baseline::run_baseline(&program, &values, a.cpu_repeats);
        c.check(&report.output_refs);
        c
    });
    write_outputs(a, &program, &report)?;
    if let Some(f) = &a.profile_csv {
        std::fs::write(f, csv(&report)).map_err(|e| Error::Io {
            path: f.display().to_string(),
            message: e.to_string(),
        })?;
    }
    if let Some(f) = &a.profile_svg {
        let title = format!(
            "{}: per-node profile on {} ({}), slowest first",
            path.display(),
            gpu.info.name,
            report.profile_clock
        );
        std::fs::write(f, svg(&title, &program, &report, cpu.as_ref())).map_err(|e| Error::Io {
            path: f.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let summary = gpu.summary();
    if a.json {
        let j = json!({
            "model": path.display().to_string(),
            "producer": model.producer,
            "opset": model.opset,
            "adapter": summary,
            "onnx_nodes": model.nodes.len(),
            "program_nodes": program.nodes.len(),
            "folded": program.folded,
            "fused": program.fused,
            "inputs": notes,
            "parse_ms": parse_ms,
            "seed": a.seed,
            "report": report,
            "cpu_baseline": cpu,
            "gpu_over_cpu_speedup": cpu.as_ref().map(|c| c.median_ms / report.median_ms.max(1e-9)),
            // "passed" only where a check against the reference ran.
            "checked": report.reference.is_some(),
            "passed": report.reference.is_some().then_some(report.passed),
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        print_text(
            a,
            path,
            &model,
            &program,
            &notes,
            parse_ms,
            &report,
            &gpu,
            cpu.as_ref(),
        );
    }
    Ok(report.passed)
}

fn write_outputs(a: &RunArgs, p: &wgsl_nn::graph::Program, r: &RunReport) -> Result<()> {
    let Some(f) = &a.output_npy else {
        return Ok(());
    };
    for (k, (_, shape, data)) in r.outputs.iter().enumerate() {
        let path = if r.outputs.len() == 1 {
            f.clone()
        } else {
            f.with_extension(format!("{k}.npy"))
        };
        let shape = if shape.is_empty() {
            vec![]
        } else {
            shape.clone()
        };
        // A float16 run's float outputs are float16; integer ones stay
        // float32-held, exact.
        let float = p.outputs.get(k).map(|&v| p.values[v].dtype) == Some(DType::F32);
        if r.dtype == "f16" && float {
            npy::write_npy_f16(&path, &shape, data)?;
        } else {
            npy::write_npy(&path, &shape, data)?;
        }
    }
    Ok(())
}

/// The 40 slowest nodes with steps, GPU beside the CPU baseline.
fn svg(
    title: &str,
    p: &wgsl_nn::graph::Program,
    r: &RunReport,
    cpu: Option<&wgsl_nn::graph::baseline::BaselineReport>,
) -> String {
    use wgsl_nn::app::profile_svg::{profile_svg, ProfileRow};
    let mut order: Vec<_> = r.nodes.iter().filter(|n| n.steps > 0).collect();
    order.sort_by(|x, y| y.gpu_ms.unwrap_or(0.0).total_cmp(&x.gpu_ms.unwrap_or(0.0)));
    let rows: Vec<ProfileRow> = order
        .iter()
        .take(40)
        .map(|n| ProfileRow {
            name: n.name.clone(),
            kernels: n.kernels.join(", "),
            gpu_ms: n.gpu_ms,
            cpu_ms: cpu.and_then(|c| {
                p.nodes
                    .iter()
                    .position(|m| m.name == n.name)
                    .map(|i| c.node_ms[i])
            }),
        })
        .collect();
    profile_svg(title, &rows)
}

fn csv(r: &RunReport) -> String {
    let mut s = String::from("node,ops,kind,shape,kernels,steps,gpu_ms,flops,bytes,passed,worst_err_over_bound,rel_l2,compared\n");
    for n in &r.nodes {
        s.push_str(&format!(
            "\"{}\",{},{},{},{},{},{},{},{},{},{},{},{}\n",
            n.name.replace('"', "'"),
            n.op_types.join("+"),
            n.kind,
            n.shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x"),
            n.kernels.join("+"),
            n.steps,
            n.gpu_ms.map_or(String::new(), |v| format!("{v:.4}")),
            n.flops,
            n.bytes,
            n.check.as_ref().map_or("".into(), |c| c.passed.to_string()),
            n.check
                .as_ref()
                .map_or("".into(), |c| format!("{:.3}", c.worst_ratio)),
            n.check
                .as_ref()
                .map_or("".into(), |c| format!("{:.3e}", c.rel_l2_err)),
            n.compared,
        ));
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn print_text(
    a: &RunArgs,
    path: &Path,
    model: &Model,
    p: &wgsl_nn::graph::Program,
    notes: &[String],
    parse_ms: f64,
    r: &RunReport,
    gpu: &wgsl_nn::gpu::Gpu,
    cpu: Option<&wgsl_nn::graph::baseline::BaselineReport>,
) {
    println!(
        "wgsl-nn run {} ({}, opset {})",
        path.display(),
        if model.producer.is_empty() {
            "unknown producer"
        } else {
            &model.producer
        },
        model.opset
    );
    println!("adapter: {}", gpu.summary());
    match &r.f16_path {
        Some(path) => println!(
            "precision: float16 storage ({path}), float32 arithmetic; weights and float inputs rounded to float16 at load{}, every float node output rounded once when stored (the reference charges 2^-10 relative per store); nodes with no float16 kernel run their float32 one on widened copies (widen_f16 ... narrow_f16)",
            if model.float16 { " (the file is float16)" } else { "" }
        ),
        None => println!("precision: float32"),
    }
    for n in notes {
        println!("input: {n}");
    }
    println!(
        "graph: {} ONNX nodes -> {} GPU nodes ({} folded on the host, {} fusions)",
        model.nodes.len(),
        p.nodes.len(),
        p.folded,
        p.fused.len()
    );
    for f in &p.fused {
        println!("  fused: {f}");
    }
    println!(
        "first run: parse + fold {parse_ms:.1} ms, lower + compile + run + read back {:.1} ms (pipeline creation {:.1} ms)",
        r.first_run_ms, r.compile_ms
    );
    let (mb, target) = (
        |b: u64| b as f64 / 1e6,
        r.const_bytes + 2 * r.largest_pair_bytes,
    );
    println!(
        "GPU memory: constants {:.2} MB, node outputs {:.2} MB; the checked plan binds {:.2} MB (every output kept for the check), the timed plan {:.2} MB (outputs and kernels' scratch buffers sharing storage by lifetime{}), {} constants plus twice the largest activation pair (one node's input and output, {:.2} MB): {:.2} MB",
        mb(r.const_bytes), mb(r.activation_bytes), mb(r.plan_bytes), mb(r.lean_plan_bytes),
        if r.lean_outputs_match { ", same outputs bit for bit" } else { "; ITS OUTPUTS DIFFER: a reuse bug, reported as a failure" },
        if r.lean_plan_bytes <= target { "within" } else { "above" },
        mb(r.largest_pair_bytes), mb(target)
    );
    let checked: Vec<_> = r.nodes.iter().filter(|n| n.check.is_some()).collect();
    let bad = |c: &Option<wgsl_nn::check::Check>| c.as_ref().is_some_and(|c| !c.passed);
    let failed: Vec<_> = checked
        .iter()
        .filter(|n| bad(&n.check) || bad(&n.propagated))
        .collect();
    match &r.reference {
        Some(t) => println!(
            "check ({}): {} of {} nodes pass against the f64 reference, each from the inputs the GPU read and against the reference's own propagated values ({t}); {} elements compared per side",
            r.check_mode,
            checked.len() - failed.len(),
            checked.len(),
            checked.iter().map(|n| n.compared).sum::<usize>()
        ),
        None => println!("check: off (no reference ran)"),
    }
    if let Some(c) = checked.first().and_then(|n| n.check.as_ref()) {
        println!("  rule: {}", c.rule);
    }
    for n in &failed {
        for (side, c) in [("from its inputs", &n.check), ("propagated", &n.propagated)] {
            if let Some(c) = c.as_ref().filter(|c| !c.passed) {
                println!("  FAIL {} ({side}): {}", n.name, c.summary());
            }
        }
    }
    if let Some(w) = &r.worst_node {
        if let Some(n) = r.nodes.iter().find(|n| &n.name == w) {
            println!(
                "  nearest its bound: {w}: {}",
                n.check.as_ref().map(|c| c.summary()).unwrap_or_default()
            );
        }
    }
    for (name, c) in &r.output_checks {
        if let Some(c) = c {
            println!("  output {name}: {}", c.summary());
        }
    }
    println!(
        "timing: median {:.3} ms per run ({}), wall clock {:.3} ms, over {} runs after {} warm-up",
        r.median_ms,
        r.clock,
        r.median_wall_ms,
        a.repeats.max(1),
        a.warmup
    );
    if let Some(c) = cpu {
        println!(
            "CPU baseline (f32, {} threads; {} of {} nodes in float32 CPU code, {} of them channel-blocked convs and {} products on the blocked tiles, the rest through the reference's loops): median {:.3} ms, outputs {}; the GPU is {}",
            c.threads,
            c.optimised_nodes,
            c.node_ms.len(),
            c.blocked_nodes,
            c.linear_nodes,
            c.median_ms,
            match c.passed() {
                Some(true) => "PASS against the f64 reference",
                Some(false) => "FAIL against the f64 reference",
                None => "not checked",
            },
            {
                let ratio = c.median_ms / r.median_ms.max(1e-9);
                if ratio >= 1.0 {
                    format!("{ratio:.2}x faster")
                } else {
                    format!("{:.2}x slower", 1.0 / ratio.max(1e-9))
                }
            }
        );
    }
    let cpu_ms = |name: &str| {
        cpu.and_then(|c| {
            p.nodes
                .iter()
                .position(|n| n.name == name)
                .map(|i| c.node_ms[i])
        })
    };
    let mut order: Vec<_> = r.nodes.iter().filter(|n| n.steps > 0).collect();
    order.sort_by(|x, y| y.gpu_ms.unwrap_or(0.0).total_cmp(&x.gpu_ms.unwrap_or(0.0)));
    println!(
        "profile (slowest {} of {} nodes; {}):",
        a.top.min(order.len()),
        order.len(),
        r.profile_clock
    );
    println!(
        "  {:>9}  {:>9}  {:>9}  {:>8}  {:<34} {:<18} kernels",
        "GPU ms", "CPU ms", "MFLOP", "MB", "node", "shape"
    );
    for n in order.iter().take(a.top) {
        println!(
            "  {:>9.3}  {:>9}  {:>9.3}  {:>8.3}  {:<34} {:<18} {}",
            n.gpu_ms.unwrap_or(0.0),
            cpu_ms(&n.name).map_or("-".to_string(), |v| format!("{v:.3}")),
            n.flops as f64 / 1e6,
            n.bytes as f64 / 1e6,
            truncate(&n.name, 34),
            format!("{:?}", n.shape),
            n.kernels.join(", ")
        );
    }
    for (name, shape, data) in &r.outputs {
        let head: Vec<String> = data.iter().take(6).map(|v| format!("{v:.5}")).collect();
        println!(
            "output {name} {shape:?}: [{}{}]",
            head.join(", "),
            if data.len() > 6 { ", ..." } else { "" }
        );
    }
    println!(
        "{}",
        match (r.passed, r.reference.is_some()) {
            (false, _) => "FAIL",
            (true, true) => "PASS",
            (true, false) => "NOT CHECKED against the reference (--check off)",
        }
    );
}

/// A standard normal draw (Box-Muller), rounded to f32 as the GPU sees it.
fn normal(rng: &mut impl rand::Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    f64::from(((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 3).collect();
        format!("{t}...")
    }
}

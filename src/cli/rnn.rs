//! `wgsl-nn rnn`: a stack of recurrent layers (nn.RNN / nn.GRU / nn.LSTM).

use super::DeviceArgs;
use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::{Path, PathBuf};
use wgsl_nn::app::io::npy;
use wgsl_nn::app::jobs::rnn::{self as rnn_job, RnnJob, RnnReport};
use wgsl_nn::models::rnn_stack::RnnStack;
use wgsl_nn::ops::rnn::RnnKind;
use wgsl_nn::{Error, Result};

#[derive(Args, Debug, Clone)]
pub struct RnnArgs {
    /// rnn (Elman, tanh), gru or lstm [default: lstm, or what --params holds].
    #[arg(long)]
    pub kind: Option<String>,
    /// Input features I [default: 32, or the size in the files].
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Hidden size H [default: 64, or the size in --params].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Stacked layers, as nn.LSTM's num_layers [default: 1, or the count in --params].
    #[arg(long)]
    pub num_layers: Option<usize>,
    /// Time steps T [default: 16, or the length in --input-npy].
    #[arg(long)]
    pub steps: Option<usize>,
    /// [default: 1, or the batch in --input-npy]
    #[arg(long)]
    pub batch: Option<usize>,
    /// The module's state_dict saved with np.savez (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._l1, ...).
    #[arg(long, value_name = "FILE.npz")]
    pub params: Option<PathBuf>,
    /// The input: [T, I] or [B, T, I] (batch_first=True; see --time-major).
    #[arg(long, value_name = "FILE")]
    pub input_npy: Option<PathBuf>,
    /// Initial hidden state, [num_layers, B, H] (or [num_layers, H] for an unbatched input), as PyTorch takes h0.
    #[arg(long, value_name = "FILE")]
    pub h0_npy: Option<PathBuf>,
    /// Initial cell state of an LSTM, shaped as h0.
    #[arg(long, value_name = "FILE")]
    pub c0_npy: Option<PathBuf>,
    /// Files are [T, B, I] and [T, B, H], as a module built with batch_first=False (PyTorch's default) takes them.
    #[arg(long)]
    pub time_major: bool,
    /// Write the last layer's output (every time step) to a .npy file, shaped like the input.
    #[arg(long, value_name = "FILE")]
    pub output_npy: Option<PathBuf>,
    /// Write h_n, [num_layers, B, H].
    #[arg(long, value_name = "FILE")]
    pub hn_npy: Option<PathBuf>,
    /// Write an LSTM's c_n, [num_layers, B, H].
    #[arg(long, value_name = "FILE")]
    pub cn_npy: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    #[arg(long)]
    pub json: bool,
    /// Element type: f32, or f16 (float16 storage of the input, weights,
    /// states, the input projection and every output; float32 sums and
    /// gates; --output-npy, --hn-npy and --cn-npy then write float16).
    #[arg(long, default_value = "f32", value_parser = super::selftest::parse_dtype)]
    pub dtype: wgsl_nn::dtype::DType,
    /// With --dtype f16: read float16 as WGSL f16 (native, needs
    /// SHADER_F16) or as u32 words (packed) [default: native where the
    /// adapter has it]
    #[arg(long, value_name = "native|packed", value_parser = super::conv::parse_path)]
    pub f16_path: Option<wgsl_nn::dtype::F16Path>,
}

const MAX: usize = 1 << 20;
/// Each layer adds its weights, a projection and T step dispatches to one
/// plan; far beyond real stacks (PyTorch models rarely pass a dozen).
const MAX_LAYERS: usize = 512;

fn kind_of(s: &str) -> Result<RnnKind> {
    match s.to_ascii_lowercase().as_str() {
        "rnn" | "elman" => Ok(RnnKind::Elman),
        "gru" => Ok(RnnKind::Gru),
        "lstm" => Ok(RnnKind::Lstm),
        other => Err(Error::arg(
            "--kind",
            format!("'{other}' is not rnn, gru or lstm"),
        )),
    }
}

fn pick(
    flag: &str,
    given: Option<usize>,
    file: Option<usize>,
    source: &str,
    default: usize,
) -> Result<usize> {
    super::pick(flag, given, file, source, default, MAX)
}

/// [T, B, X] <-> [B, T, X].
fn swap_01(v: &[f32], a: usize, b: usize, x: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for i in 0..a {
        for j in 0..b {
            out[(j * a + i) * x..(j * a + i + 1) * x]
                .copy_from_slice(&v[(i * b + j) * x..(i * b + j + 1) * x]);
        }
    }
    out
}

/// A state file: [L, B, H], or [L, H] when the input had no batch axis.
fn state(
    path: &Option<PathBuf>,
    flag: &str,
    want: [usize; 3],
    unbatched: bool,
) -> Result<Option<Vec<f32>>> {
    let Some(path) = path else { return Ok(None) };
    let a = npy::read_npy(path)?;
    let ok = a.shape == want || (unbatched && a.shape == [want[0], want[2]]);
    if !ok {
        return Err(Error::arg(
            flag,
            format!(
                "{} has shape {:?}; expected [num_layers, B, H] = {want:?}{}",
                path.display(),
                a.shape,
                if unbatched {
                    format!(" (or [{}, {}] for an unbatched input)", want[0], want[2])
                } else {
                    String::new()
                }
            ),
        ));
    }
    Ok(Some(a.data))
}

struct Prepared {
    job: RnnJob,
    unbatched: bool,
    weights_from: String,
    input_from: String,
}

fn prepare(a: &RnnArgs) -> Result<Prepared> {
    let want_kind = a.kind.as_deref().map(kind_of).transpose()?;
    let loaded = match &a.params {
        Some(p) => Some(RnnStack::from_state_dict(
            &npy::read_npz(p)?,
            &p.display().to_string(),
            want_kind,
        )?),
        None => None,
    };
    let input = a.input_npy.as_deref().map(npy::read_npy).transpose()?;
    let (mut file_bti, mut unbatched) = (None, false);
    if let (Some(arr), Some(path)) = (&input, &a.input_npy) {
        wgsl_nn::tensor::numel("--input-npy", &arr.shape)?;
        file_bti = Some(match (&arr.shape[..], a.time_major) {
            (&[t, i], _) => {
                unbatched = true;
                [1, t, i]
            }
            (&[b, t, i], false) => [b, t, i],
            (&[t, b, i], true) => [b, t, i],
            _ => return Err(input_shape_error(path, &arr.shape)),
        });
    }
    let (lk, li, lh, ln) = match &loaded {
        Some(s) => (
            Some(s.kind),
            Some(s.input_size),
            Some(s.hidden),
            Some(s.layers.len()),
        ),
        None => (None, None, None, None),
    };
    let kind = lk.or(want_kind).unwrap_or(RnnKind::Lstm);
    let file_i = file_bti.map(|s| s[2]);
    if let (Some(fi), Some(wi)) = (file_i, li) {
        if fi != wi {
            return Err(Error::arg(
                "--input-npy",
                format!("the input has {fi} features but the weights in --params take {wi}; they must agree"),
            ));
        }
    }
    let input_size = pick("--input-size", a.input_size, file_i.or(li), "the files", 32)?;
    let hidden = pick("--hidden", a.hidden, lh, "--params", 64)?;
    let layers = pick("--num-layers", a.num_layers, ln, "--params", 1)?;
    if layers > MAX_LAYERS {
        return Err(Error::arg(
            "--num-layers",
            format!("{layers} layers is more than the {MAX_LAYERS} wgsl-nn stacks in one run"),
        ));
    }
    let batch = pick("--batch", a.batch, file_bti.map(|s| s[0]), "--input-npy", 1)?;
    let steps = pick(
        "--steps",
        a.steps,
        file_bti.map(|s| s[1]),
        "--input-npy",
        16,
    )?;
    let shape = [batch, steps, input_size];
    wgsl_nn::models::conv_stack::check_size("rnn", "input", &shape)?;
    // Refused before the seeded weights are drawn: W_hh alone is G*H^2.
    let g = kind.gates();
    let check = wgsl_nn::models::conv_stack::check_size;
    check("--hidden", "W_hh", &[hidden, g * hidden])?;
    check(
        "--input-size",
        "W_ih",
        &[input_size.max(hidden), g * hidden],
    )?;
    check(
        "--num-layers",
        "all layers' W_hh",
        &[layers, hidden, g * hidden],
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed.wrapping_add(1));
    let (x, input_from) = match input {
        Some(arr) if a.time_major => (
            swap_01(&arr.data, steps, batch, input_size),
            "--input-npy (time-major)".into(),
        ),
        Some(arr) => (arr.data, "--input-npy".to_string()),
        None => (
            (0..batch * steps * input_size)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect(),
            format!("seeded uniform [-1, 1), seed {}", a.seed.wrapping_add(1)),
        ),
    };
    let (stack, weights_from) = match loaded {
        Some(s) => (
            s,
            a.params
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
        ),
        None => (
            RnnStack::random(kind, input_size, hidden, layers, a.seed),
            format!("seeded PyTorch-default uniform init, seed {}", a.seed),
        ),
    };
    let st = [layers, batch, hidden];
    let job = RnnJob {
        x,
        shape,
        h0: state(&a.h0_npy, "--h0-npy", st, unbatched)?,
        c0: state(&a.c0_npy, "--c0-npy", st, unbatched)?,
        reps: a.reps,
        stack,
        dtype: a.dtype,
        f16_path: a.f16_path,
    };
    rnn_job::validate(&job)?;
    Ok(Prepared {
        job,
        unbatched,
        weights_from,
        input_from,
    })
}

fn input_shape_error(path: &Path, shape: &[usize]) -> Error {
    Error::arg(
        "--input-npy",
        format!(
            "{} has shape {shape:?}; expected [T, I] or [B, T, I] ([T, B, I] with --time-major)",
            path.display()
        ),
    )
}

pub fn run(dev: &DeviceArgs, args: &RnnArgs) -> Result<bool> {
    super::check_outputs(&[
        ("--output-npy", args.output_npy.as_deref()),
        ("--hn-npy", args.hn_npy.as_deref()),
        ("--cn-npy", args.cn_npy.as_deref()),
    ])?;
    let p = prepare(args)?;
    if args.cn_npy.is_some() && p.job.stack.kind != RnnKind::Lstm {
        return Err(Error::arg(
            "--cn-npy",
            "only an LSTM has a cell state; drop --cn-npy",
        ));
    }
    let gpu = dev.open()?;
    let r = rnn_job::run(&gpu, &p.job)?;
    // Outputs in the run's own element type.
    let write = |path: &Path, shape: &[usize], data: &[f32]| match r.dtype {
        wgsl_nn::dtype::DType::F32 => npy::write_npy(path, shape, data),
        wgsl_nn::dtype::DType::F16 => npy::write_npy_f16(path, shape, data),
    };
    let [b, t, _] = p.job.shape;
    let (h, l) = (p.job.stack.hidden, p.job.stack.layers.len());
    if let Some(path) = &args.output_npy {
        let (data, shape) = if args.time_major {
            (swap_01(&r.output, b, t, h), vec![t, b, h])
        } else {
            (r.output.clone(), vec![b, t, h])
        };
        let shape = if p.unbatched { vec![t, h] } else { shape };
        write(path, &shape, &data)?;
    }
    let state_shape = if p.unbatched {
        vec![l, h]
    } else {
        vec![l, b, h]
    };
    if let Some(path) = &args.hn_npy {
        write(path, &state_shape, &r.h_n)?;
    }
    if let (Some(path), Some(c)) = (&args.cn_npy, &r.c_n) {
        write(path, &state_shape, c)?;
    }
    if args.json {
        super::print_json(&to_json(&p, &r));
    } else {
        print_text(&p, &r);
    }
    Ok(r.passed())
}

fn to_json(p: &Prepared, r: &RnnReport) -> serde_json::Value {
    let s = &p.job.stack;
    let t = &r.timing;
    json!({
        "adapter": r.adapter,
        "kind": format!("{:?}", s.kind).to_lowercase(),
        "input_size": s.input_size, "hidden": s.hidden, "num_layers": s.layers.len(),
        "batch": p.job.shape[0], "steps": p.job.shape[1],
        "weights": p.weights_from, "input": p.input_from,
        "h0": p.job.h0.is_some(), "c0": p.job.c0.is_some(),
        "dtype": r.dtype.name(), "f16_path": r.f16_path.map(|p| p.name()),
        "check_output": r.check_output, "check_states": r.check_states, "passed": r.passed(),
        "timing": {"gpu_ms": t.median_ms, "gpu_min_ms": t.min_ms, "gpu_max_ms": t.max_ms, "gpu_clock": t.clock,
                   "gpu_note": t.note, "compile_ms": t.compile_ms, "first_run_ms": t.first_run_ms, "reps": t.reps,
                   "submissions": t.submissions, "reference_ms": r.reference.ms, "reference_threads": r.reference.threads},
        "mflop": r.flops as f64 / 1e6,
    })
}

fn print_text(p: &Prepared, r: &RnnReport) {
    let s = &p.job.stack;
    let [b, t, i] = p.job.shape;
    println!(
        "adapter: {} ({}, {})",
        r.adapter.name, r.adapter.backend, r.adapter.device_type
    );
    println!(
        "{:?}: {} layer(s), input {i}, hidden {}, batch {b}, {t} steps{}{}; {:.3} MFLOP",
        s.kind,
        s.layers.len(),
        s.hidden,
        if p.job.h0.is_some() { ", h0 given" } else { "" },
        if p.job.c0.is_some() { ", c0 given" } else { "" },
        r.flops as f64 / 1e6
    );
    println!("weights: {}\ninput:   {}", p.weights_from, p.input_from);
    match r.f16_path {
        Some(path) => println!(
            "precision: float16 storage ({}; inputs and weights rounded to nearest at upload), float32 sums and gates",
            path.name()
        ),
        None => println!("precision: float32"),
    }
    println!(
        "\ncheck vs f64 reference, output [B, T, H]: {}",
        r.check_output.summary()
    );
    println!(
        "check vs f64 reference, final states (h_n{}): {}",
        if r.c_n.is_some() { ", c_n" } else { "" },
        r.check_states.summary()
    );
    println!("  rule: {}", r.check_output.rule);
    let tm = &r.timing;
    println!(
        "\ntiming: GPU {:.3} ms median of {} (min {:.3}, max {:.3}; {}; {} submission{}), compile {:.1} ms, first run {:.3} ms; {}",
        tm.median_ms, tm.reps, tm.min_ms, tm.max_ms, tm.clock, tm.submissions,
        if tm.submissions == 1 { "" } else { "s" },
        tm.compile_ms, tm.first_run_ms, r.reference
    );
    if let Some(note) = &tm.note {
        println!("  note: {note}");
    }
}

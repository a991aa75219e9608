//! `wgsl-nn selftest`: does this GPU and driver compute these layers right?

use super::DeviceArgs;
use clap::Args;
use serde_json::json;
use std::time::Duration;
use wgsl_nn::gpu::{enumerate, Gpu};

#[derive(Args, Debug, Clone)]
pub struct SelftestArgs {
    /// Test every adapter wgpu finds, not just the chosen one.
    #[arg(long)]
    pub all_adapters: bool,
    #[arg(long)]
    pub json: bool,
    /// Run the planted-fault catalogue instead: every mutant must be
    /// caught (exit 1 if one is missed).
    #[arg(long)]
    pub mutants: bool,
    /// Sweep for false alarms: run the selftest's cases under this many
    /// seeds (0 is the documented set) and report the largest err/bound
    /// each kernel reached; exit 1 if any correct run failed.
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// With --seeds: start at this seed set (to extend an earlier sweep).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// With --seeds: also every rung at the largest sizes (K = 65536,
    /// attention L = 8192, the wide conv stack).
    #[arg(long)]
    pub large: bool,
    /// With --seeds and --large: only the largest sizes.
    #[arg(long)]
    pub large_only: bool,
    /// With --mutants: the small sizes only (the largest, K = 65536 and
    /// attention L = 8192, take a minute or two on a software adapter).
    #[arg(long)]
    pub quick: bool,
    /// Element type: f32 (every kernel) or f16 (the float16 kernels, on
    /// the native and packed paths the adapter has).
    #[arg(long, default_value = "f32", value_parser = parse_dtype)]
    pub dtype: wgsl_nn::dtype::DType,
}

pub fn parse_dtype(s: &str) -> Result<wgsl_nn::dtype::DType, String> {
    wgsl_nn::dtype::DType::parse(s).map_err(|e| e.to_string())
}

pub fn run(dev: &DeviceArgs, args: &SelftestArgs) -> wgsl_nn::Result<bool> {
    let gpus: Vec<Gpu> = if args.all_adapters {
        let list = enumerate(&dev.choice())?;
        if list.is_empty() {
            return Err(wgsl_nn::gpu::not_found(&dev.choice()));
        }
        list.iter()
            .map(|a| {
                let mut g = Gpu::from_adapter(a)?;
                g.timeout = Duration::from_secs_f64(dev.gpu_timeout.clamp(0.001, 86_400.0));
                Ok(g)
            })
            .collect::<wgsl_nn::Result<_>>()?
    } else {
        vec![dev.open()?]
    };
    let mut all_ok = true;
    let mut docs = vec![];
    let mut limit_hit = vec![];
    if args.dtype == wgsl_nn::dtype::DType::F16 {
        return super::selftest_half::run(&gpus, args);
    }
    if args.mutants {
        return mutants(&gpus, args);
    }
    if let Some(n) = args.seeds {
        return sweep(&gpus, args, n);
    }
    for g in &gpus {
        let results = wgsl_nn::app::selftest::run(g);
        let timed_out: usize = results.iter().map(|r| r.timed_out).sum();
        if timed_out > 0 {
            // The limit, not the kernels, failed: reported after every table.
            limit_hit.push(format!(
                "{timed_out} case(s) on {} did not finish within {} s",
                g.info.name,
                g.timeout.as_secs_f64()
            ));
        }
        let ok = results.iter().all(|r| r.failed == 0);
        all_ok &= ok;
        if args.json {
            docs.push(json!({ "adapter": g.summary(), "passed": ok, "kernels": results }));
            continue;
        }
        let a = g.summary();
        println!(
            "adapter: {} ({}, {}, driver {} {})",
            a.name, a.backend, a.device_type, a.driver, a.driver_info
        );
        println!(
            "{:<32} {:>5} {:>7} {:>12} {:>10}  verdict  ran as",
            "kernel", "cases", "failed", "max abs err", "of bound"
        );
        for r in &results {
            println!(
                "{:<32} {:>5} {:>7} {:>12.3e} {:>10.3}  {:<7}  {}",
                r.kernel,
                r.cases,
                r.failed,
                r.max_abs_err,
                r.worst_of_bound,
                if r.failed == 0 { "PASS" } else { "FAIL" },
                r.ran.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            if let Some(f) = &r.failure {
                println!("    first failure: {f}");
            }
        }
        println!(
            "{}\n",
            if ok {
                "every kernel passed"
            } else {
                "SOME KERNELS FAILED on this adapter"
            }
        );
    }
    if args.json {
        super::print_json(&json!({ "passed": all_ok, "adapters": docs }));
    }
    if !limit_hit.is_empty() {
        return Err(wgsl_nn::Error::arg(
            "--gpu-timeout",
            format!(
                "{}, so those kernels could not be judged; raise --gpu-timeout (default 60)",
                limit_hit.join("; ")
            ),
        ));
    }
    Ok(all_ok)
}

/// `selftest --mutants`: the catalogue on every chosen adapter.
fn mutants(gpus: &[Gpu], args: &SelftestArgs) -> wgsl_nn::Result<bool> {
    let mut all_caught = true;
    let mut docs = vec![];
    for g in gpus {
        let a = g.summary();
        if !args.json {
            println!(
                "adapter: {} ({}, {}, driver {} {})",
                a.name, a.backend, a.device_type, a.driver, a.driver_info
            );
            println!(
                "{:<62} {:<10} {:<24} {:<7} {:>10}  verdict",
                "mutant", "op", "size", "planted", "err/bound"
            );
        }
        let mut outcomes = vec![];
        let sizes: &[bool] = if args.quick { &[false] } else { &[false, true] };
        for m in wgsl_nn::app::mutants::CATALOGUE {
            for &big in sizes {
                let o = m.run(g, big);
                if !args.json {
                    println!(
                        "{:<62} {:<10} {:<24} {:<7} {:>10.3e}  {}",
                        o.mutant,
                        o.op,
                        o.size,
                        o.planted,
                        o.err_over_bound,
                        if o.caught { "caught" } else { "MISSED" }
                    );
                    if let Some(e) = &o.error {
                        println!("    could not judge it: {e}");
                    }
                }
                outcomes.push(o);
            }
        }
        let caught = outcomes.iter().filter(|o| o.caught).count();
        let in_kernel = outcomes.iter().filter(|o| o.planted == "kernel").count();
        all_caught &= caught == outcomes.len();
        if args.json {
            docs.push(json!({
                "adapter": a,
                "mutants": outcomes.len(),
                "caught": caught,
                "planted_in_kernels": in_kernel,
                "passed": caught == outcomes.len(),
                "runs": outcomes,
            }));
        } else {
            println!(
                "{caught} of {} mutant runs caught ({in_kernel} planted in the GPU kernels){}\n",
                outcomes.len(),
                if caught == outcomes.len() {
                    ""
                } else {
                    ": SOME MUTANTS WERE MISSED"
                }
            );
        }
    }
    if args.json {
        super::print_json(&json!({ "passed": all_caught, "adapters": docs }));
    }
    Ok(all_caught)
}

/// The worst err/bound of one kernel (or case) over a sweep.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct Sweep {
    runs: usize,
    failed: usize,
    worst: f64,
    worst_seed: u64,
    first_failure: Option<String>,
}

/// `selftest --seeds N [--large]`: correct kernels over many seeds.
fn sweep(gpus: &[Gpu], args: &SelftestArgs, seeds: u64) -> wgsl_nn::Result<bool> {
    use std::collections::BTreeMap;
    use std::io::Write;
    let mut all_ok = true;
    let mut docs = vec![];
    for g in gpus {
        let a = g.summary();
        eprintln!("adapter: {} ({}), {seeds} seeds", a.name, a.backend);
        let mut table: BTreeMap<String, Sweep> = BTreeMap::new();
        let mut note = |name: &str, seed: u64, ratio: f64, failure: Option<String>| {
            let e = table.entry(name.to_string()).or_default();
            e.runs += 1;
            if ratio > e.worst || ratio.is_nan() {
                e.worst = if ratio.is_nan() { f64::INFINITY } else { ratio };
                e.worst_seed = seed;
            }
            if let Some(f) = failure {
                e.failed += 1;
                e.first_failure.get_or_insert(format!("seed {seed}: {f}"));
            }
        };
        for seed in args.first_seed..args.first_seed + seeds {
            wgsl_nn::app::selftest::set_seed_offset(seed);
            let mut seed_worst = 0.0f64;
            if !args.large_only {
                for r in wgsl_nn::app::selftest::run(g) {
                    seed_worst = seed_worst.max(r.worst_of_bound);
                    note(&r.kernel, seed, r.worst_of_bound, r.failure.clone());
                }
            }
            if args.large || args.large_only {
                for (what, c) in wgsl_nn::app::mutants::sweep::correct_at_largest(g, seed) {
                    match c {
                        Ok(c) => {
                            seed_worst = seed_worst.max(c.worst_ratio);
                            let f = (!c.passed).then(|| c.summary());
                            note(&what, seed, c.worst_ratio, f);
                        }
                        // A rung that cannot hold the size says so; that is
                        // a limit, not a false alarm, and is listed apart.
                        Err(e) => note(
                            &format!("{what} [could not run]"),
                            seed,
                            0.0,
                            Some(e.to_string()),
                        ),
                    }
                }
            }
            eprintln!("seed {seed}: largest err/bound {seed_worst:.3}");
            let _ = std::io::stderr().flush();
        }
        wgsl_nn::app::selftest::set_seed_offset(0);
        let false_alarms: usize = table
            .iter()
            .filter(|(k, _)| !k.ends_with("[could not run]"))
            .map(|(_, v)| v.failed)
            .sum();
        let worst = table
            .iter()
            .filter(|(k, _)| !k.ends_with("[could not run]"))
            .map(|(k, v)| (v.worst, k.clone()))
            .fold((0.0, String::new()), |a, b| if b.0 > a.0 { b } else { a });
        all_ok &= false_alarms == 0;
        if args.json {
            docs.push(json!({
                "adapter": a,
                "seeds": seeds,
                "first_seed": args.first_seed,
                "false_alarms": false_alarms,
                "largest_err_over_bound": worst.0,
                "largest_in": worst.1,
                "kernels": table,
            }));
            continue;
        }
        println!(
            "adapter: {} ({}, driver {} {}), seeds {}..{}",
            a.name,
            a.backend,
            a.driver,
            a.driver_info,
            args.first_seed,
            args.first_seed + seeds
        );
        println!(
            "{:<72} {:>6} {:>7} {:>10} {:>6}",
            "kernel or case", "runs", "failed", "err/bound", "seed"
        );
        for (k, v) in &table {
            println!(
                "{k:<72} {:>6} {:>7} {:>10.3} {:>6}",
                v.runs, v.failed, v.worst, v.worst_seed
            );
            if let Some(f) = &v.first_failure {
                println!("    {f}");
            }
        }
        println!(
            "{false_alarms} false alarms; correct runs reached at most {:.3} of the bound ({})\n",
            worst.0, worst.1
        );
    }
    if args.json {
        super::print_json(&json!({ "passed": all_ok, "adapters": docs }));
    }
    Ok(all_ok)
}

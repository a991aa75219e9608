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
    /// With --mutants: the small sizes only (the largest, K = 65536 and
    /// attention L = 8192, take a minute or two on a software adapter).
    #[arg(long)]
    pub quick: bool,
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
    if args.mutants {
        return mutants(&gpus, args);
    }
    for g in &gpus {
        let results = wgsl_nn::selftest::run(g);
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
        for m in wgsl_nn::mutants::CATALOGUE {
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
                if caught == outcomes.len() { "" } else { ": SOME MUTANTS WERE MISSED" }
            );
        }
    }
    if args.json {
        super::print_json(&json!({ "passed": all_caught, "adapters": docs }));
    }
    Ok(all_caught)
}

//! `wgsl-nn selftest --dtype f16 [--mutants]`: the float16 kernels on every
//! float16 path each adapter has, against the f64 reference with float16's
//! charges; with `--mutants`, every float16 fault planted and required to fail.

use super::selftest::SelftestArgs;
use serde_json::json;
use wgsl_nn::app::selftest::half::{cases, paths, run_case, run_fault, Fault};
use wgsl_nn::dtype::F16Path;
use wgsl_nn::gpu::Gpu;
use wgsl_nn::ops::matmul::half::Accumulate;

const SEED: u64 = 0;

/// The runs of one adapter: (path, accumulation) pairs it has.
fn runs(g: &Gpu) -> Vec<(F16Path, Accumulate)> {
    let mut v: Vec<_> = paths(g).into_iter().map(|p| (p, Accumulate::F32)).collect();
    if v.iter().any(|(p, _)| *p == F16Path::Native) {
        v.push((F16Path::Native, Accumulate::F16));
    }
    v
}

pub fn run(gpus: &[Gpu], args: &SelftestArgs) -> wgsl_nn::Result<bool> {
    let mut ok = true;
    let mut docs = vec![];
    for g in gpus {
        if !args.json {
            println!(
                "adapter: {} ({:?}); float16 storage, seed {SEED}",
                g.info.name, g.info.backend
            );
        }
        let mut rows = vec![];
        if args.mutants {
            for path in paths(g) {
                for fault in Fault::ALL {
                    let (c, hits) = run_fault(g, fault, path, SEED)?;
                    let caught = !c.passed && hits > 0;
                    ok &= caught;
                    if !args.json {
                        println!(
                            "  {:<62} {:<28} {:<16} {}",
                            fault.name(),
                            path.name(),
                            fault.case().label(),
                            if caught { "caught" } else { "MISSED" }
                        );
                    }
                    rows.push(json!({"fault": fault.name(), "path": path.name(),
                        "case": fault.case().label(), "caught": caught, "patched_pipelines": hits,
                        "worst_ratio": c.worst_ratio, "summary": c.summary()}));
                }
            }
        } else {
            for (path, acc) in runs(g) {
                for case in cases() {
                    let c = run_case(g, &case, path, acc, acc, SEED)?;
                    ok &= c.passed;
                    if !args.json {
                        println!(
                            "  matmul f16 {:<30} {:<28} {:<26} {}  worst err/bound {:.3}",
                            case.label(),
                            path.name(),
                            acc.name(),
                            c.verdict(),
                            c.worst_ratio
                        );
                    }
                    rows.push(json!({"case": case.label(), "path": path.name(),
                        "accumulation": acc.name(), "passed": c.passed, "check": c}));
                }
            }
        }
        docs.push(json!({"adapter": g.summary(), "dtype": "f16", "rows": rows}));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"passed": ok, "adapters": docs}))
                .unwrap_or_default()
        );
    } else if args.mutants {
        println!(
            "{}",
            if ok {
                "every float16 fault was caught"
            } else {
                "a float16 fault was MISSED"
            }
        );
    } else {
        println!(
            "{}",
            if ok {
                "every float16 kernel passed"
            } else {
                "a float16 kernel FAILED"
            }
        );
    }
    Ok(ok)
}

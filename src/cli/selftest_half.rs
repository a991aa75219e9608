//! `wgsl-nn selftest --dtype f16 [--mutants]`: the float16 kernels on every
//! float16 path each adapter has, against the f64 reference with float16's
//! charges; with `--mutants`, every float16 fault planted and required to fail.

use super::selftest::SelftestArgs;
use serde_json::json;
use wgsl_nn::app::selftest::half::{cases_on, paths, run_case, run_fault, Fault};
use wgsl_nn::app::selftest::half_attention::{
    attention_cases_on, run_attention_case, run_attention_fault, AttentionFault,
};
use wgsl_nn::app::selftest::half_conv::{conv_cases_on, run_conv_case, ConvCase};
use wgsl_nn::app::selftest::half_rnn::{rnn_cases, run_rnn_case, run_rnn_fault, RnnFault};
use wgsl_nn::app::selftest::half_rows::{rows_cases, run_rows_case, run_rows_fault, RowsFault};
use wgsl_nn::app::selftest::half_rung::HalfRung;
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

/// `--seeds N`: every case on every path under N seeds; the largest
/// err/bound each (path, accumulation, op) reached, and any failure.
fn sweep(gpus: &[Gpu], args: &SelftestArgs, n: u64) -> wgsl_nn::Result<bool> {
    let mut ok = true;
    for g in gpus {
        println!(
            "adapter: {} ({:?}); float16 storage, seeds {}..{}",
            g.info.name,
            g.info.backend,
            args.first_seed,
            args.first_seed + n
        );
        for (path, acc) in runs(g) {
            let (mut worst, mut fails, mut runs_done) = (0.0f64, 0usize, 0usize);
            let (mut cworst, mut cfails, mut cruns) = (0.0f64, 0usize, 0usize);
            let (mut rworst, mut rfails, mut rruns) = (0.0f64, 0usize, 0usize);
            let (mut aworst, mut afails, mut aruns) = (0.0f64, 0usize, 0usize);
            let (mut nworst, mut nfails, mut nruns) = (0.0f64, 0usize, 0usize);
            for seed in args.first_seed..args.first_seed + n {
                for case in cases_on(g)
                    .into_iter()
                    .filter(|c| c.rung == HalfRung::Buffer || acc == Accumulate::F32)
                {
                    let c = run_case(g, &case, path, acc, acc, seed)?;
                    worst = worst.max(c.worst_ratio);
                    fails += usize::from(!c.passed);
                    runs_done += 1;
                }
                if acc == Accumulate::F32 {
                    for case in conv_cases_on(g) {
                        let c = run_conv_case(g, &case, path, seed)?;
                        cworst = cworst.max(c.worst_ratio);
                        cfails += usize::from(!c.passed);
                        cruns += 1;
                    }
                    for case in rows_cases() {
                        let c = run_rows_case(g, &case, path, seed)?;
                        rworst = rworst.max(c.worst_ratio);
                        rfails += usize::from(!c.passed);
                        rruns += 1;
                    }
                    for case in attention_cases_on(g) {
                        let c = run_attention_case(g, &case, path, seed)?;
                        aworst = aworst.max(c.worst_ratio);
                        afails += usize::from(!c.passed);
                        aruns += 1;
                    }
                    for case in rnn_cases() {
                        let c = run_rnn_case(g, &case, path, seed)?;
                        nworst = nworst.max(c.worst_ratio);
                        nfails += usize::from(!c.passed);
                        nruns += 1;
                    }
                }
            }
            ok &= fails == 0 && cfails == 0 && rfails == 0 && afails == 0 && nfails == 0;
            println!("  matmul f16 {:<28} {:<26} {runs_done} runs, {fails} failed, largest err/bound {worst:.3}", path.name(), acc.name());
            if cruns > 0 {
                println!("  conv2d f16 {:<28} {:<26} {cruns} runs, {cfails} failed, largest err/bound {cworst:.3}", path.name(), acc.name());
                println!("  rows/pool  {:<28} {:<26} {rruns} runs, {rfails} failed, largest err/bound {rworst:.3}", path.name(), acc.name());
                println!("  attention  {:<28} {:<26} {aruns} runs, {afails} failed, largest err/bound {aworst:.3}", path.name(), acc.name());
                println!("  rnn f16    {:<28} {:<26} {nruns} runs, {nfails} failed, largest err/bound {nworst:.3}", path.name(), acc.name());
            }
        }
    }
    println!(
        "{}",
        if ok {
            "no correct float16 run failed"
        } else {
            "a correct float16 run FAILED"
        }
    );
    Ok(ok)
}

pub fn run(gpus: &[Gpu], args: &SelftestArgs) -> wgsl_nn::Result<bool> {
    if let Some(n) = args.seeds {
        return sweep(gpus, args, n);
    }
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
                // (fault, case, check, pipelines patched) of every mutant.
                let mut planted = vec![];
                let texes: &[bool] = if g.features.contains(wgpu::Features::SUBGROUP) {
                    &[false, true]
                } else {
                    &[false]
                };
                let mut rungs = vec![HalfRung::Buffer, HalfRung::Vec4, HalfRung::Igemm];
                if texes.len() > 1 {
                    rungs.push(HalfRung::Tex);
                }
                for fault in Fault::ALL {
                    let conv_case = fault.conv_case();
                    for &rung in &rungs {
                        for conv in [false, true]
                            .into_iter()
                            .filter(|&c| !c || conv_case.is_some())
                            .filter(|&c| fault.planted_in(rung, c, path))
                        {
                            let (c, hits) = run_fault(g, fault, path, conv, rung, SEED)?;
                            let case = match (&conv_case, conv) {
                                (Some(cc), true) => ConvCase { rung, ..cc.clone() }.label(),
                                _ => fault.case().on(rung).label(),
                            };
                            planted.push((
                                fault.name(),
                                format!("{}{case}", if conv { "" } else { "matmul " }),
                                c,
                                hits,
                            ));
                        }
                    }
                }
                for fault in RowsFault::ALL {
                    let (c, hits) = run_rows_fault(g, fault, path, SEED)?;
                    planted.push((fault.name(), fault.case().label(), c, hits));
                }
                for fault in AttentionFault::ALL {
                    for &tex in texes {
                        let (c, hits) = run_attention_fault(g, fault, path, tex, SEED)?;
                        let case = fault.case_for(tex).label();
                        planted.push((fault.name(), case, c, hits));
                    }
                }
                for fault in RnnFault::ALL {
                    let (c, hits) = run_rnn_fault(g, fault, path, SEED)?;
                    planted.push((fault.name(), fault.case().label(), c, hits));
                }
                for (name, case, c, hits) in planted {
                    let caught = !c.passed && hits > 0;
                    ok &= caught;
                    if !args.json {
                        println!(
                            "  {:<62} {:<28} {:<44} {}  err/bound {:.3e}",
                            name,
                            path.name(),
                            case,
                            if caught { "caught" } else { "MISSED" },
                            c.worst_ratio
                        );
                    }
                    rows.push(json!({"fault": name, "path": path.name(),
                        "case": case, "caught": caught, "patched_pipelines": hits,
                        "worst_ratio": c.worst_ratio, "summary": c.summary()}));
                }
            }
        } else {
            for (path, acc) in runs(g) {
                for case in cases_on(g)
                    .into_iter()
                    .filter(|c| c.rung == HalfRung::Buffer || acc == Accumulate::F32)
                {
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
            for path in paths(g) {
                let mut checked = vec![];
                for case in conv_cases_on(g) {
                    let c = run_conv_case(g, &case, path, SEED)?;
                    checked.push((case.label(), "f32 accumulation", c));
                }
                for case in rows_cases() {
                    let c = run_rows_case(g, &case, path, SEED)?;
                    checked.push((case.label(), "f32 arithmetic", c));
                }
                for case in attention_cases_on(g) {
                    let c = run_attention_case(g, &case, path, SEED)?;
                    checked.push((case.label(), "f32 online softmax", c));
                }
                for case in rnn_cases() {
                    let c = run_rnn_case(g, &case, path, SEED)?;
                    checked.push((case.label(), "f32 sums and gates", c));
                }
                for (label, arithmetic, c) in checked {
                    ok &= c.passed;
                    if !args.json {
                        println!(
                            "  {:<72} {:<28} {}  worst err/bound {:.3}",
                            label,
                            path.name(),
                            c.verdict(),
                            c.worst_ratio
                        );
                    }
                    rows.push(json!({"case": label, "path": path.name(),
                        "accumulation": arithmetic, "passed": c.passed, "check": c}));
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

//! `cargo bench`: the same sweeps as `wgsl-nn bench all`, through a custom
//! harness (harness = false). Set WGSL_NN_BENCH_QUICK=1 (or pass --quick)
//! for one small size per op, as CI does; the full sweep takes minutes on a
//! software adapter. Prints the table; exits non-zero if any row failed.

use wgsl_nn::app::bench::cases::OpKind;
use wgsl_nn::app::bench::sweep::Sweep;
use wgsl_nn::app::bench::table;
use wgsl_nn::gpu::{AdapterChoice, Gpu};

fn main() {
    let quick = std::env::var_os("WGSL_NN_BENCH_QUICK").is_some()
        || std::env::args().any(|a| a == "--quick");
    let gpu = match Gpu::new(&AdapterChoice::from_args_or_env(None, None)) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    wgsl_nn::app::tune::install(&gpu, wgsl_nn::app::tune::TuneMode::Cached);
    let sweep = Sweep {
        ops: vec![OpKind::Conv, OpKind::Matmul, OpKind::Attention],
        sizes: None,
        reps: 5,
        seed: 0,
        quick,
        quiet: false,
        rungs: vec![],
        dtype: wgsl_nn::dtype::DType::F32,
    };
    match sweep.run(std::slice::from_ref(&gpu)) {
        Ok(rows) => {
            print!("{}", table::text(&rows));
            if rows.iter().any(|r| !r.passed) {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

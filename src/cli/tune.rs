//! `wgsl-nn tune`: times every kernel ladder on this adapter now, with
//! progress, and caches the picks (other commands only time a family the
//! first time a GPU op big enough needs it, and never on CPU adapters).

use super::DeviceArgs;
use clap::Args;
use serde_json::json;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// One JSON document (each ladder's rung timings and pick) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(dev: &DeviceArgs, args: &TuneArgs) -> wgsl_nn::Result<bool> {
    // Forced kernels would be overwritten rung by rung: refuse them here.
    if !dev.kernel.is_empty() {
        return Err(wgsl_nn::Error::arg(
            "--kernel",
            "tune times every rung itself; drop --kernel".to_string(),
        ));
    }
    let gpu = dev.open_untuned()?;
    let start = Instant::now();
    let timings = wgsl_nn::app::tune::tune_all(&gpu)?;
    let secs = start.elapsed().as_secs_f64();
    let path = wgsl_nn::app::tune::cache_path().map(|p| p.display().to_string());
    if args.json {
        let ladders: Vec<_> = timings
            .iter()
            .map(|t| {
                json!({
                    "family": t.family,
                    "size": t.size,
                    "pick": t.pick,
                    "median_ms": t.rungs.iter().map(|(k, ms)| (k.to_string(), json!(ms))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        super::print_json(&json!({
            "adapter": gpu.summary(),
            "ladders": ladders,
            "seconds": secs,
            "cache": path,
        }));
    } else {
        println!("adapter: {}", gpu.summary());
        for t in &timings {
            println!("{:<13} {:<34} -> {}", t.family, t.size, t.pick);
        }
        println!(
            "tuned {} ladder(s) in {secs:.2} s; cached in {}",
            timings.len(),
            path.as_deref().unwrap_or("(nowhere: no cache folder)")
        );
    }
    Ok(timings.len() == wgsl_nn::app::tune::FAMILIES.len())
}

//! `wgsl-nn info`: every adapter wgpu finds, its limits and features.

use super::DeviceArgs;
use clap::Args;
use serde_json::json;
use wgsl_nn::gpu::{enumerate, AdapterSummary};

/// The features wgsl-nn asks for (gpu::WANTED_FEATURES), by name.
const FEATURE_NAMES: [(&str, wgpu::Features); 5] = [
    ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
    (
        "TIMESTAMP_QUERY_INSIDE_ENCODERS",
        wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
    ),
    (
        "TIMESTAMP_QUERY_INSIDE_PASSES",
        wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
    ),
    ("SHADER_F16", wgpu::Features::SHADER_F16),
    ("SUBGROUP", wgpu::Features::SUBGROUP),
];

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(dev: &DeviceArgs, args: &InfoArgs) -> wgsl_nn::Result<bool> {
    let choice = dev.choice();
    let mut adapters = enumerate(&choice)?;
    // --adapter narrows the list here too.
    if let Some(want) = &choice.name {
        let want = want.to_lowercase();
        adapters.retain(|a| a.get_info().name.to_lowercase().contains(&want));
    }
    if adapters.is_empty() {
        return Err(wgsl_nn::gpu::not_found(&choice));
    }
    let rows: Vec<serde_json::Value> = adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            let l = a.limits();
            let f = a.features();
            let features: Vec<String> = FEATURE_NAMES
                .iter()
                .map(|(name, w)| format!("{}{name}", if f.contains(*w) { "+" } else { "-" }))
                .collect();
            json!({
                "adapter": AdapterSummary::of(&info),
                "limits": {
                    "max_storage_buffer_binding_size": l.max_storage_buffer_binding_size,
                    "max_buffer_size": l.max_buffer_size,
                    "max_compute_workgroups_per_dimension": l.max_compute_workgroups_per_dimension,
                    "max_compute_invocations_per_workgroup": l.max_compute_invocations_per_workgroup,
                    "max_compute_workgroup_size": [l.max_compute_workgroup_size_x, l.max_compute_workgroup_size_y, l.max_compute_workgroup_size_z],
                    "max_compute_workgroup_storage_size": l.max_compute_workgroup_storage_size,
                    "max_storage_buffers_per_shader_stage": l.max_storage_buffers_per_shader_stage,
                },
                "features": features,
            })
        })
        .collect();
    if args.json {
        super::print_json(&json!({ "adapters": rows }));
        return Ok(true);
    }
    println!("{} adapter(s), preferred first:", rows.len());
    for (i, r) in rows.iter().enumerate() {
        let a = &r["adapter"];
        let l = &r["limits"];
        println!(
            "\n[{}] {}\n    backend {}, type {}, driver {} {}",
            i,
            a["name"].as_str().unwrap_or(""),
            a["backend"].as_str().unwrap_or(""),
            a["device_type"].as_str().unwrap_or(""),
            a["driver"].as_str().unwrap_or(""),
            a["driver_info"].as_str().unwrap_or("")
        );
        if let Some(m) = l.as_object() {
            for (k, v) in m {
                println!("    {k:<40} {v}");
            }
        }
        let feats: Vec<&str> = r["features"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        println!("    features (+ offered, - not): {}", feats.join(" "));
    }
    Ok(true)
}

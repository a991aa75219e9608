//! Finding an adapter: every backend wgpu offers here, hardware before
//! software, with the user's `--adapter` / `--backend` (or wgpu's own
//! WGPU_ADAPTER_NAME / WGPU_BACKEND) taking precedence.

use crate::error::{Error, Result};
use serde::Serialize;

/// Which adapter the user asked for. Empty fields mean "let wgsl-nn choose".
#[derive(Debug, Clone, Default)]
pub struct AdapterChoice {
    /// Case-insensitive substring of the adapter name.
    pub name: Option<String>,
    /// One of vulkan, gl, metal, dx12.
    pub backend: Option<String>,
}

impl AdapterChoice {
    /// The choice made on the command line, falling back to wgpu's variables.
    pub fn from_args_or_env(name: Option<String>, backend: Option<String>) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        AdapterChoice {
            name: name.or_else(|| env("WGPU_ADAPTER_NAME")),
            backend: backend.or_else(|| env("WGPU_BACKEND")),
        }
    }

    /// The wgpu backends to enumerate: all of them when no backend was
    /// named, else the union of a comma-separated list (vulkan/vk,
    /// gl/gles/opengl, metal/mtl, dx12/d3d12; case-insensitive).
    ///
    /// # Errors
    ///
    /// `Error::UnknownBackend` for any other name in the list.
    pub fn backends(&self) -> Result<wgpu::Backends> {
        let Some(b) = &self.backend else {
            return Ok(wgpu::Backends::all());
        };
        let mut out = wgpu::Backends::empty();
        // WGPU_BACKEND allows a comma-separated list, so the flag does too.
        for part in b.split(',').map(|s| s.trim().to_ascii_lowercase()) {
            out |= match part.as_str() {
                "vulkan" | "vk" => wgpu::Backends::VULKAN,
                "gl" | "gles" | "opengl" => wgpu::Backends::GL,
                "metal" | "mtl" => wgpu::Backends::METAL,
                "dx12" | "d3d12" => wgpu::Backends::DX12,
                _ => return Err(Error::UnknownBackend(part)),
            };
        }
        Ok(out)
    }
}

/// What `wgsl-nn info` and every report print about an adapter.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    /// The adapter's name as the driver reports it, e.g. "NVIDIA H200".
    pub name: String,
    /// The wgpu backend in lower case: "vulkan", "gl", "metal" or "dx12".
    pub backend: String,
    /// "discrete-gpu", "integrated-gpu", "virtual-gpu", "cpu" or "other"
    /// (see [`device_type_name`]).
    pub device_type: String,
    /// The driver's name (may be empty on some backends).
    pub driver: String,
    /// The driver's version or build string (may be empty).
    pub driver_info: String,
}

/// "llvmpipe (LLVM 15.0.6, 256 bits) (vulkan, cpu)", as reports head themselves.
impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.backend, self.device_type)
    }
}

impl AdapterSummary {
    /// The summary of an adapter from wgpu's description of it.
    pub fn of(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend).to_lowercase(),
            device_type: device_type_name(info.device_type).to_string(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
        }
    }
}

/// The short, stable name reports use for a device type: "discrete-gpu",
/// "integrated-gpu", "virtual-gpu", "cpu" (software adapters such as
/// llvmpipe) or "other".
pub fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

/// Lower is preferred: real GPUs first, software rasterisers last.
fn preference(info: &wgpu::AdapterInfo) -> u8 {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    // Among equals, Vulkan/Metal/DX12 expose more compute features than GL.
    let backend = u8::from(info.backend == wgpu::Backend::Gl);
    kind * 2 + backend
}

/// A wgpu instance limited to the chosen backends (wgpu's other
/// environment variables still apply); asks Mesa's device-select layer to
/// stay quiet unless the user configured it.
///
/// # Errors
///
/// `Error::UnknownBackend` when the chosen backend is not one wgpu knows.
pub fn instance(choice: &AdapterChoice) -> Result<wgpu::Instance> {
    quiet_mesa_device_select();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = choice.backends()?;
    Ok(wgpu::Instance::new(desc))
}

/// Mesa's device-select layer prints "XDG_RUNTIME_DIR is invalid" on headless
/// machines; it is noise to our users, so ask it to stay out unless the user
/// configured it themselves.
fn quiet_mesa_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called before any thread of ours starts using the environment.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// Every adapter wgpu finds, best first.
pub fn enumerate(choice: &AdapterChoice) -> Result<Vec<wgpu::Adapter>> {
    let inst = instance(choice)?;
    let mut all = pollster::block_on(inst.enumerate_adapters(choice.backends()?));
    // The noop backend is a test double, never a place to run layers.
    all.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
    all.sort_by_key(|a| preference(&a.get_info()));
    Ok(all)
}

/// Why no adapter could be used: the filter named (flags or wgpu's
/// variables) and the adapters it left out, or how to get one at all.
pub fn not_found(choice: &AdapterChoice) -> Error {
    let mut asked = vec![];
    if let Some(b) = &choice.backend {
        asked.push(format!("backend '{b}' (--backend or WGPU_BACKEND)"));
    }
    if let Some(n) = &choice.name {
        asked.push(format!(
            "a name containing '{n}' (--adapter or WGPU_ADAPTER_NAME)"
        ));
    }
    if asked.is_empty() {
        return Error::NoAdapter {
            filter: String::new(),
        };
    }
    let what = asked.join(" and ");
    match enumerate(&AdapterChoice::default()) {
        Ok(any) if !any.is_empty() => Error::AdapterNotMatched {
            what,
            found: list_names(&any),
        },
        _ => Error::NoAdapter {
            filter: format!(" (asked for {what})"),
        },
    }
}

/// The adapter the user asked for, or the best one found.
pub fn choose(choice: &AdapterChoice) -> Result<wgpu::Adapter> {
    let all = enumerate(choice)?;
    if all.is_empty() {
        return Err(not_found(choice));
    }
    match &choice.name {
        None => Ok(all.into_iter().next().expect("checked non-empty")),
        Some(want) => {
            let want_lc = want.to_lowercase();
            let found = list_names(&all);
            all.into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&want_lc))
                .ok_or(Error::AdapterNotMatched {
                    what: format!("a name containing '{want}' (--adapter or WGPU_ADAPTER_NAME)"),
                    found,
                })
        }
    }
}

fn list_names(all: &[wgpu::Adapter]) -> String {
    all.iter()
        .map(|a| {
            let i = a.get_info();
            format!("'{}' ({:?})", i.name, i.backend)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

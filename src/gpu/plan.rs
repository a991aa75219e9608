//! Plans, not calls: an op appends dispatch steps (kernel, override
//! constants, uniform bytes, bindings, invocation count) and the runner turns
//! a whole plan into one submission. Plain data, so it can be printed,
//! checked against limits in one place, and timed step by step.

use std::sync::Arc;

/// One entry point of one WGSL kernel family (one file in `shaders/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// The file's stem, e.g. "conv2d"; used in labels and the pipeline key.
    pub family: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
}

/// Shared by every kernel: the workgroup size as an `override` and the
/// flattening of a folded 3-D grid back into one invocation index, which is
/// what lets the runner split huge dispatches across grid dimensions.
pub const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");

/// A storage buffer (or a texture) bound at `@binding(1 + position)`;
/// binding 0 is always the step's uniform params.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: String,
    pub buffer: Arc<wgpu::Buffer>,
    pub writes: bool,
    /// A byte range of the buffer (offset, size) instead of all of it: how
    /// an operand larger than one storage binding is bound piece by piece.
    pub range: Option<(u64, u64)>,
    /// Bind this texture view instead of the buffer (which is then only a
    /// placeholder): operands packed for kernels that fetch texels.
    pub texture: Option<Arc<wgpu::TextureView>>,
}

impl Binding {
    /// Bytes this binding exposes to the kernel.
    pub fn bytes(&self) -> u64 {
        if self.texture.is_some() {
            return 0;
        }
        self.range.map_or(self.buffer.size(), |(_, size)| size)
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub label: String,
    pub kernel: Kernel,
    /// `override` constants other than WG.
    pub overrides: Vec<(&'static str, f64)>,
    /// Bytes of the kernel's `#[repr(C)]` params struct.
    pub params: Vec<u8>,
    pub bindings: Vec<Binding>,
    /// Total invocations; each kernel guards `id >= total` itself.
    pub invocations: u64,
    pub workgroup_size: u32,
    pub flops: u64,
    pub bytes_moved: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn new() -> Self {
        Plan::default()
    }

    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    pub fn flops(&self) -> u64 {
        self.steps.iter().map(|s| s.flops).sum()
    }

    /// One line per step: what `--explain` prints.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.steps.iter().enumerate() {
            let binds: Vec<String> = s
                .bindings
                .iter()
                .map(|b| format!("{}{}", b.name, if b.writes { " (w)" } else { "" }))
                .collect();
            out.push_str(&format!(
                "{:>3}  {:<28} {}::{}  invocations {} (wg {})  {:.3} MFLOP  {:.3} MB  [{}]\n",
                i + 1,
                s.label,
                s.kernel.family,
                s.kernel.entry,
                s.invocations,
                s.workgroup_size,
                s.flops as f64 / 1e6,
                s.bytes_moved as f64 / 1e6,
                binds.join(", ")
            ));
        }
        out
    }
}

/// Folds `groups` workgroups into a grid no dimension of which exceeds
/// `max_per_dim`. Returns None when even a cube of `max_per_dim` is too small.
pub fn fold_grid(groups: u64, max_per_dim: u32) -> Option<[u32; 3]> {
    let m = u64::from(max_per_dim.max(1));
    if groups == 0 {
        return Some([0, 1, 1]);
    }
    let x = groups.min(m);
    let rest = groups.div_ceil(x);
    let y = rest.min(m);
    let z = rest.div_ceil(y);
    (z <= m).then_some([x as u32, y as u32, z as u32])
}

#[cfg(test)]
mod tests {
    use super::fold_grid;

    #[test]
    fn folding_covers_every_group_and_respects_the_limit() {
        for (groups, max) in [
            (1u64, 65535u32),
            (65535, 65535),
            (65536, 65535),
            (65535 * 65535 + 7, 65535),
            (10, 3),
            (27, 3),
        ] {
            let g = fold_grid(groups, max).expect("fits");
            assert!(g.iter().all(|&d| d <= max), "{g:?}");
            let total: u64 = g.iter().map(|&d| u64::from(d)).product();
            assert!(total >= groups && total - groups < u64::from(g[0]) * u64::from(g[1]));
        }
        assert_eq!(fold_grid(28, 3), None);
        assert_eq!(fold_grid(27, 3), Some([3, 3, 3]));
    }
}

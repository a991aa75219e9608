//! Plans, not calls: an op appends dispatch steps (kernel, override
//! constants, uniform bytes, bindings, invocation count) and the runner turns
//! a whole plan into one submission. Plain data, so it can be printed,
//! checked against limits in one place, and timed step by step.

use crate::dtype::DType;
use std::sync::Arc;

/// One entry point of one WGSL kernel family (one file in `shaders/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// The file's stem, e.g. "conv2d"; used in labels and the pipeline key.
    pub family: &'static str,
    /// The family's WGSL source (without [`PRELUDE`], which the pipeline
    /// cache prepends).
    pub source: &'static str,
    /// The `@compute` entry point's name in `source`.
    pub entry: &'static str,
    /// The element type its storage bindings hold: every tensor bound to
    /// it must be of this type (checked before any dispatch).
    pub dtype: DType,
}

/// Shared by every kernel: the workgroup size as an `override` and the
/// flattening of a folded 3-D grid back into one invocation index, which is
/// what lets the runner split huge dispatches across grid dimensions.
pub const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");

/// A storage buffer (or a texture) bound at `@binding(1 + position)`;
/// binding 0 is always the step's uniform params.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The operand's name as `--explain` and limit errors show it
    /// (e.g. "x", "weight", "y").
    pub name: String,
    /// The buffer bound (all of it, or `range` of it).
    pub buffer: Arc<wgpu::Buffer>,
    /// The kernel writes this binding (`read_write` storage); shown as
    /// "(w)" by [`Plan::explain`].
    pub writes: bool,
    /// A byte range of the buffer (offset, size) instead of all of it: how
    /// an operand larger than one storage binding is bound piece by piece.
    pub range: Option<(u64, u64)>,
    /// Bind this texture view instead of the buffer (which is then only a
    /// placeholder): operands packed for kernels that fetch texels.
    pub texture: Option<Arc<wgpu::TextureView>>,
    /// The element type of the tensor bound (textures and placeholders
    /// take the kernel's).
    pub dtype: DType,
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

/// One dispatch of a plan: a kernel, its override constants and uniform
/// params, the buffers bound after them, and how many invocations run it.
/// Each step gets a compute pass (and timestamp pair) of its own.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step is, for `--explain`, timings and errors: the layer's
    /// label, with the kernel rung where an op has several (" (naive)")
    /// and, for one part of a reduction split over several dispatches, its
    /// range (" [k 0..512]").
    pub label: String,
    /// The entry point dispatched.
    pub kernel: Kernel,
    /// `override` constants other than WG.
    pub overrides: Vec<(&'static str, f64)>,
    /// Bytes of the kernel's `#[repr(C)]` params struct.
    pub params: Vec<u8>,
    /// Bound at `@binding(1)`, `@binding(2)`, ... in order (binding 0 is
    /// the params).
    pub bindings: Vec<Binding>,
    /// Total invocations; each kernel guards `id >= total` itself.
    pub invocations: u64,
    /// Invocations per workgroup: the prelude's `WG` override, so one
    /// source serves every size a device allows.
    pub workgroup_size: u32,
    /// Floating-point operations the step performs (a multiply-add counts
    /// as two), for GFLOP/s figures and for cutting submissions.
    pub flops: u64,
    /// Bytes the step reads and writes in device memory, as the op
    /// estimates it (each operand once), for bandwidth figures.
    pub bytes_moved: u64,
}

/// The steps of a forward pass, in the order they run. Ops append to it;
/// `Gpu::run` validates it against the device's limits, submits it and
/// times each step. Running a plan twice reruns every step (outputs are
/// overwritten).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The dispatches, in submission order.
    pub steps: Vec<Step>,
    /// The kernel choice the ops appending to this plan follow (over the
    /// device's, over the ops' own rules); set it with `with_kernels`.
    pub kernels: crate::rung::Kernels,
    /// Buffers an op writes in full and reads only within its own steps
    /// (the unfold rung's unfolded input, padded weights): a whole-model
    /// plan may share them by lifetime like node outputs.
    pub scratch: Vec<std::sync::Arc<wgpu::Buffer>>,
}

impl Plan {
    /// An empty plan with no kernel choice of its own: its ops follow the
    /// device's choice, else their own rules.
    pub fn new() -> Self {
        Plan::default()
    }

    /// An empty plan whose ops run the rungs `kernels` names.
    pub fn with_kernels(kernels: crate::rung::Kernels) -> Self {
        Plan {
            steps: vec![],
            kernels,
            scratch: vec![],
        }
    }

    /// Whether a step runs the WGSL entry point `entry` (how a test
    /// asserts which rung ran: `plan.runs(MatmulRung::Tex.entry())`);
    /// a family's name matches any entry of that family or of its
    /// variants (`matmul` matches `matmul_vec4`'s kernels too).
    pub fn runs(&self, entry: &str) -> bool {
        let prefix = format!("{entry}_");
        self.steps.iter().any(|s| {
            s.kernel.entry == entry
                || s.kernel.family == entry
                || s.kernel.family.starts_with(&prefix)
        })
    }

    /// Appends a step; it runs after every step already in the plan.
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// Total FLOPs of all steps.
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

//! Buffers reused by lifetime. A lowered plan gives every node output its
//! own buffer (the check reads each one back); for the timed runs and
//! for memory, outputs whose lives do not overlap share storage: each
//! buffer's life runs from the first step that binds it to the last, and
//! a greedy pass hands a freed buffer (the smallest that fits) to the next
//! output that starts after it ends. Steps run in order, one compute pass
//! each, so a buffer reused after its last reader is never read stale.

use crate::error::Result;
use crate::gpu::{Gpu, Plan};
use std::collections::HashMap;
use std::sync::Arc;

/// What the reuse pass made of a plan.
pub struct Lean {
    /// The plan with shared buffers bound.
    pub plan: Plan,
    /// Bytes of the distinct buffers the original plan binds.
    pub bytes_before: u64,
    /// Bytes of the distinct buffers the lean plan binds.
    pub bytes_after: u64,
}

fn key(b: &Arc<wgpu::Buffer>) -> usize {
    Arc::as_ptr(b) as usize
}

fn distinct_bytes(plan: &Plan) -> u64 {
    let mut seen = HashMap::new();
    for s in &plan.steps {
        for b in s.bindings.iter().filter(|b| b.texture.is_none()) {
            seen.insert(key(&b.buffer), b.buffer.size());
        }
    }
    seen.values().sum()
}

/// Remaps the buffers in `candidates` (node outputs that no one reads
/// after the plan: graph outputs excluded by the caller) onto shared
/// storage.
///
/// # Errors
///
/// Allocation errors for the shared buffers.
pub fn reuse(gpu: &Gpu, plan: &Plan, candidates: &[Arc<wgpu::Buffer>]) -> Result<Lean> {
    let wanted: HashMap<usize, &Arc<wgpu::Buffer>> =
        candidates.iter().map(|b| (key(b), b)).collect();
    let mut life: HashMap<usize, (usize, usize)> = HashMap::new();
    for (i, s) in plan.steps.iter().enumerate() {
        for b in &s.bindings {
            let k = key(&b.buffer);
            if wanted.contains_key(&k) {
                let e = life.entry(k).or_insert((i, i));
                e.1 = i;
            }
        }
    }
    let mut order: Vec<(usize, (usize, usize))> = life.into_iter().collect();
    order.sort_by_key(|&(k, (first, _))| (first, k));
    let mut free: Vec<Arc<wgpu::Buffer>> = vec![];
    let mut live: Vec<(usize, Arc<wgpu::Buffer>)> = vec![];
    let mut map: HashMap<usize, Arc<wgpu::Buffer>> = HashMap::new();
    for (k, (first, last)) in order {
        // Buffers whose last reader ran before this one's first writer.
        let (done, still): (Vec<_>, Vec<_>) = live.into_iter().partition(|(end, _)| *end < first);
        live = still;
        free.extend(done.into_iter().map(|(_, b)| b));
        let size = wanted[&k].size();
        let pick = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.size() >= size)
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i);
        let physical = match pick {
            Some(i) => free.swap_remove(i),
            None => Arc::new(gpu.scoped("allocating a shared activation buffer", || {
                Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("shared activations"),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }))
            })?),
        };
        live.push((last, physical.clone()));
        map.insert(k, physical);
    }
    let mut lean = plan.clone();
    for s in &mut lean.steps {
        for b in &mut s.bindings {
            if let Some(p) = map.get(&key(&b.buffer)) {
                b.buffer = p.clone();
            }
        }
    }
    Ok(Lean {
        bytes_before: distinct_bytes(plan),
        bytes_after: distinct_bytes(&lean),
        plan: lean,
    })
}

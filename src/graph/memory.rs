//! Buffers reused by lifetime. A lowered plan gives every node output its
//! own buffer (the check reads each one back); for the timed runs and
//! for memory, outputs whose lives do not overlap share storage: each
//! buffer's life runs from the first step that binds it to the last, and
//! a greedy pass hands a freed buffer (the smallest that fits) to the next
//! output that starts after it ends. Steps run in order, one compute pass
//! each, so a buffer reused after its last reader is never read stale.
//! The texture rungs' textures are shared the same way, between textures
//! of one format.

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

/// Bytes of the distinct buffers and textures (the texture rungs') that
/// `plan` binds.
fn distinct_bytes(plan: &Plan) -> u64 {
    let mut seen = HashMap::new();
    for s in &plan.steps {
        for b in &s.bindings {
            match &b.texture {
                None => seen.insert(key(&b.buffer), b.buffer.size()),
                Some(view) => {
                    let t = view.texture();
                    let texel = t.format().block_copy_size(None).unwrap_or(4);
                    let bytes = u64::from(t.width()) * u64::from(t.height()) * u64::from(texel);
                    seen.insert(vkey(view), bytes)
                }
            };
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
    let views = shared_textures(gpu, plan)?;
    let mut lean = plan.clone();
    for s in &mut lean.steps {
        for b in &mut s.bindings {
            if let Some(p) = map.get(&key(&b.buffer)) {
                b.buffer = p.clone();
            }
            if let Some(v) = b.texture.as_ref().and_then(|v| views.get(&vkey(v))) {
                b.texture = Some(v.clone());
            }
        }
    }
    Ok(Lean {
        bytes_before: distinct_bytes(plan),
        bytes_after: distinct_bytes(&lean),
        plan: lean,
    })
}

fn vkey(v: &Arc<wgpu::TextureView>) -> usize {
    Arc::as_ptr(v) as usize
}

/// The texture rungs' textures, mapped onto shared ones: a texture joins
/// a slot whose last user ran before its first step and whose format it
/// has, the slot growing to the larger width and height (the kernels
/// address texels by their own row widths, never by the texture's size)
/// while that costs less than a texture of its own. Every texture is
/// scratch: the plan's own pack steps write it before any product reads
/// it (nothing uploads one).
fn shared_textures(gpu: &Gpu, plan: &Plan) -> Result<HashMap<usize, Arc<wgpu::TextureView>>> {
    let mut life: HashMap<usize, (usize, usize, Arc<wgpu::TextureView>)> = HashMap::new();
    for (i, s) in plan.steps.iter().enumerate() {
        for v in s.bindings.iter().filter_map(|b| b.texture.as_ref()) {
            life.entry(vkey(v)).or_insert((i, i, v.clone())).1 = i;
        }
    }
    let mut order: Vec<_> = life.into_values().collect();
    order.sort_by_key(|(first, _, v)| (*first, vkey(v)));
    struct Slot {
        end: usize,
        w: u64,
        h: u64,
        format: wgpu::TextureFormat,
        members: Vec<Arc<wgpu::TextureView>>,
    }
    let mut slots: Vec<Slot> = vec![];
    for (first, last, v) in order {
        let t = v.texture();
        let (w, h, format) = (u64::from(t.width()), u64::from(t.height()), t.format());
        let grown = |s: &Slot| s.w.max(w) * s.h.max(h);
        let best = slots
            .iter_mut()
            .filter(|s| s.end < first && s.format == format && grown(s) <= s.w * s.h + w * h)
            .min_by_key(|s| grown(s));
        match best {
            Some(s) => {
                (s.end, s.w, s.h) = (last, s.w.max(w), s.h.max(h));
                s.members.push(v);
            }
            None => slots.push(Slot {
                end: last,
                w,
                h,
                format,
                members: vec![v],
            }),
        }
    }
    let mut map = HashMap::new();
    for s in slots.into_iter().filter(|s| s.members.len() > 1) {
        let shared = crate::ops::matmul::tex::storage_texture(
            gpu,
            "shared scratch texture",
            s.w as usize,
            s.h as usize,
            s.format,
        )?;
        for v in &s.members {
            map.insert(vkey(v), shared.view.clone());
        }
    }
    Ok(map)
}

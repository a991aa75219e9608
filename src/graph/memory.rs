//! Buffers reused by lifetime. A lowered plan gives every node output its
//! own buffer (the check reads each one back); for the timed runs and
//! for memory, outputs whose lives do not overlap share storage: each
//! buffer's life runs from the first step that binds it to the last, and
//! outputs whose lives are apart share one buffer, sized by the largest
//! (see `reuse`). Steps run in order, one compute pass
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
    // Offline, largest first (TFLite's "greedy by size"): each output joins
    // the smallest slot none of whose members' lives overlap its own, else
    // opens a slot of its size, which every later (smaller) member fits.
    // Handing out freed buffers as outputs start instead sized each buffer
    // by its first tenant: mobilenet_v2 at batch 2 then bound 19.6 MB of
    // activations where 9.6 + 3.6 + smaller slots do.
    let mut order: Vec<(usize, (usize, usize))> = life.into_iter().collect();
    order.sort_by_key(|&(k, (first, _))| (std::cmp::Reverse(wanted[&k].size()), first, k));
    struct Slot {
        size: u64,
        lives: Vec<(usize, usize)>,
        keys: Vec<usize>,
    }
    let mut slots: Vec<Slot> = vec![];
    for (k, (first, last)) in order {
        let apart = |s: &&mut Slot| s.lives.iter().all(|&(f, l)| l < first || last < f);
        match slots.iter_mut().filter(apart).min_by_key(|s| s.size) {
            Some(s) => {
                s.lives.push((first, last));
                s.keys.push(k);
            }
            None => slots.push(Slot {
                size: wanted[&k].size(),
                lives: vec![(first, last)],
                keys: vec![k],
            }),
        }
    }
    let mut map: HashMap<usize, Arc<wgpu::Buffer>> = HashMap::new();
    for slot in slots {
        let physical = Arc::new(gpu.scoped("allocating a shared activation buffer", || {
            Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("shared activations"),
                size: slot.size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        })?);
        for k in slot.keys {
            map.insert(k, physical.clone());
        }
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

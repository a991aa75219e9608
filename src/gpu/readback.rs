//! Reading a buffer back from the device, with a deadline.

use super::Gpu;
use crate::error::{Error, Result};

/// Submits `enc` (which must copy into the mappable `staging`), maps it and
/// returns its contents as `T`s.
pub fn read_buffer<T: bytemuck::Pod>(
    gpu: &Gpu,
    staging: &wgpu::Buffer,
    enc: wgpu::CommandEncoder,
    context: &str,
) -> Result<Vec<T>> {
    let index = gpu.scoped(context, || Ok(gpu.queue.submit([enc.finish()])))?;
    // A std channel with a deadline: after the wait the callback has
    // normally run, and if a driver never runs it we must not block forever.
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        tx.send(r).ok();
    });
    gpu.wait(index, context)?;
    let map_err = |reason: String| Error::Map {
        context: context.to_string(),
        reason,
    };
    match rx.recv_timeout(gpu.timeout) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(map_err(e.to_string())),
        Err(_) => {
            return Err(map_err(
                "the map callback never ran; the driver may be hung".into(),
            ))
        }
    }
    let out = {
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| map_err(e.to_string()))?;
        bytemuck::cast_slice::<u8, T>(&view).to_vec()
    };
    staging.unmap();
    Ok(out)
}

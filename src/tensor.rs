//! Tensor = GPU buffer + shape. f32, row-major (NCHW for images). Creating
//! and reading tensors are the only places data crosses the bus; layers
//! chain on the GPU through plans with no read-back in between.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::sync::Arc;

/// An f32 tensor on the GPU: a storage buffer and the shape it holds,
/// row-major (NCHW for images, [batch, tokens, features] for sequences).
/// Cloning shares the buffer; ops read and write tensors through a
/// [`crate::gpu::Plan`], and only [`Tensor::upload`] and
/// [`Tensor::download`] move data between host and device.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// The storage buffer (usable as storage, copy source and copy
    /// destination). It may be longer than the shape needs: a poisoned
    /// output carries `gpu.guard_elements` guard elements after it.
    pub buffer: Arc<wgpu::Buffer>,
    /// The dimensions, outermost first; their product is the element count.
    pub shape: Vec<usize>,
}

/// Number of elements, or an error naming the tensor when the product
/// overflows or is zero (a zero-sized binding is invalid in WebGPU).
pub fn numel(name: &str, shape: &[usize]) -> Result<usize> {
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::shape(
                name,
                format!("shape {shape:?} has more elements than fit in memory"),
            )
        })?;
    if n == 0 {
        return Err(Error::shape(
            name,
            format!(
                "shape {shape:?} has a zero-sized dimension; every dimension must be at least 1"
            ),
        ));
    }
    Ok(n)
}

fn bytes_of(name: &str, shape: &[usize], gpu: &Gpu) -> Result<u64> {
    let bytes = (numel(name, shape)? as u64)
        .checked_mul(4)
        .ok_or_else(|| Error::shape(name, "size overflows u64"))?;
    if bytes > gpu.limits.max_buffer_size {
        return Err(Error::TooLarge {
            tensor: format!("{name} {shape:?}"),
            bytes,
            limit: gpu.limits.max_buffer_size,
            limit_name: "max_buffer_size",
        });
    }
    Ok(bytes)
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Tensor {
    /// The number of elements the shape holds (not the buffer's length,
    /// which may include guard elements).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Uploads host data. The shape must match the data's length.
    ///
    /// `name` labels the buffer and names the tensor in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when the shape has a zero dimension, overflows, or
    /// does not hold `data.len()` elements; [`Error::TooLarge`] when it
    /// exceeds the device's `max_buffer_size`; [`Error::OutOfMemory`] or
    /// [`Error::Validation`] when the device refuses the allocation.
    ///
    /// ```no_run
    /// use wgsl_nn::gpu::{AdapterChoice, Gpu};
    /// use wgsl_nn::Tensor;
    /// let gpu = Gpu::new(&AdapterChoice::default())?;
    /// let x = Tensor::upload(&gpu, "x", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0])?;
    /// assert_eq!(x.numel(), 4);
    /// assert_eq!(x.download(&gpu)?, [1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), wgsl_nn::Error>(())
    /// ```
    pub fn upload(gpu: &Gpu, name: &str, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        bytes_of(name, shape, gpu)?;
        if data.len() != numel(name, shape)? {
            return Err(Error::shape(
                name,
                format!("{} values given for shape {shape:?}", data.len()),
            ));
        }
        // Not create_buffer_init: it maps the new buffer and panics when the
        // allocation failed. Create, let the error scope speak, then write.
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let buffer = gpu.scoped(&format!("allocating {name}"), || {
            Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(name),
                size: (bytes.len() as u64).max(4),
                usage: USAGE,
                mapped_at_creation: false,
            }))
        })?;
        gpu.scoped(&format!("uploading {name}"), || {
            gpu.queue.write_buffer(&buffer, 0, bytes);
            Ok(())
        })?;
        Ok(Tensor {
            buffer: Arc::new(buffer),
            shape: shape.to_vec(),
        })
    }

    /// An output tensor prefilled with NaN, so an element no kernel writes
    /// is visible to the check instead of passing as a stale zero.
    ///
    /// With `gpu.guard_elements` set (tests do), the buffer carries that many
    /// extra NaN elements after the tensor: a kernel writing past its output
    /// changes them, and `guard` shows it.
    pub fn poisoned(gpu: &Gpu, name: &str, shape: &[usize]) -> Result<Tensor> {
        let n = numel(name, shape)?;
        bytes_of(name, shape, gpu)?;
        let t = Tensor::upload(
            gpu,
            name,
            &[n + gpu.guard_elements],
            &vec![f32::NAN; n + gpu.guard_elements],
        )?;
        Ok(Tensor {
            buffer: t.buffer,
            shape: shape.to_vec(),
        })
    }

    /// A one-element stand-in for an optional input a kernel does not read
    /// (a binding may not be left empty); shared by every op on the device.
    pub fn placeholder(gpu: &Gpu) -> Result<Tensor> {
        if let Some(b) = gpu.placeholder.get() {
            return Ok(Tensor {
                buffer: b.clone(),
                shape: vec![1],
            });
        }
        let t = Tensor::upload(gpu, "placeholder", &[1], &[0.0])?;
        Ok(Tensor {
            buffer: gpu.placeholder.get_or_init(|| t.buffer).clone(),
            shape: vec![1],
        })
    }

    /// The guard region after the tensor (empty unless `gpu.guard_elements`).
    pub fn guard(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let all: Vec<f32> = self.read(gpu, self.buffer.size())?;
        Ok(all[self.numel().min(all.len())..].to_vec())
    }

    /// Reads the tensor back to the host (waits for the GPU, within the
    /// device's timeout): `numel()` values, row-major, without the guard
    /// elements. Run the plan that writes it first ([`Gpu::run`]).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the GPU does not finish in time,
    /// [`Error::Map`] when the read-back fails, and any fault the device
    /// recorded ([`Error::DeviceLost`], [`Error::Validation`]).
    pub fn download(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        self.read(gpu, (4 * self.numel() as u64).min(self.buffer.size()))
    }

    fn read(&self, gpu: &Gpu, bytes: u64) -> Result<Vec<f32>> {
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("download"),
            });
        enc.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, bytes);
        crate::gpu::read_buffer(gpu, &staging, enc, "a tensor")
    }
}

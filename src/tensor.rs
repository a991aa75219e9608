//! Tensor = GPU buffer + shape + dtype (f32, or f16 storage), row-major
//! (NCHW for images). Creating
//! and reading tensors are the only places data crosses the bus; layers
//! chain on the GPU through plans with no read-back in between.

use crate::dtype::{pack_f16, unpack_f16, DType};
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
    /// The element type the buffer stores (float16: two per word).
    pub dtype: DType,
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
    bytes_as(name, shape, gpu, DType::F32)
}

fn bytes_as(name: &str, shape: &[usize], gpu: &Gpu, dtype: DType) -> Result<u64> {
    let n = numel(name, shape)?;
    if n > usize::MAX / 4 {
        return Err(Error::shape(name, "size overflows u64"));
    }
    let bytes = dtype.bytes(n);
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
            dtype: DType::F32,
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
            dtype: DType::F32,
        })
    }

    /// A one-element stand-in for an optional input a kernel does not read
    /// (a binding may not be left empty); shared by every op on the device.
    pub fn placeholder(gpu: &Gpu) -> Result<Tensor> {
        if let Some(b) = gpu.placeholder.get() {
            return Ok(Tensor {
                buffer: b.clone(),
                shape: vec![1],
                dtype: DType::F32,
            });
        }
        let t = Tensor::upload(gpu, "placeholder", &[1], &[0.0])?;
        Ok(Tensor {
            buffer: gpu.placeholder.get_or_init(|| t.buffer).clone(),
            shape: vec![1],
            dtype: DType::F32,
        })
    }

    /// [`Tensor::poisoned`] or [`Tensor::poisoned_f16`], as `dtype` says:
    /// for ops that take the storage at run time.
    ///
    /// ```no_run
    /// # use wgsl_nn::{gpu::{AdapterChoice, Gpu}, dtype::DType, Tensor};
    /// let gpu = Gpu::new(&AdapterChoice::default())?;
    /// let y = Tensor::poisoned_as(&gpu, "y", &[3], DType::F16)?;
    /// assert!(y.download(&gpu)?.iter().all(|v| v.is_nan()));
    /// # Ok::<(), wgsl_nn::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Tensor::poisoned`].
    pub fn poisoned_as(gpu: &Gpu, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        match dtype {
            DType::F32 => Tensor::poisoned(gpu, name, shape),
            DType::F16 => Tensor::poisoned_f16(gpu, name, shape),
        }
    }

    /// [`Tensor::placeholder`] labelled with `dtype`, for a kernel whose
    /// binding has that storage type; the same one-word buffer either way.
    ///
    /// # Errors
    ///
    /// As [`Tensor::placeholder`].
    pub fn placeholder_as(gpu: &Gpu, dtype: DType) -> Result<Tensor> {
        Ok(Tensor {
            dtype,
            ..Tensor::placeholder(gpu)?
        })
    }

    /// The guard region after the tensor (empty unless `gpu.guard_elements`).
    pub fn guard(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let all: Vec<f32> = self.read(gpu, self.buffer.size())?;
        let all = match self.dtype {
            DType::F32 => all,
            DType::F16 => unpack_f16(bytemuck::cast_slice(&all), 2 * all.len()),
        };
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
        let bytes = self.dtype.bytes(self.numel()).min(self.buffer.size());
        let data = self.read(gpu, bytes)?;
        Ok(match self.dtype {
            DType::F32 => data,
            DType::F16 => unpack_f16(bytemuck::cast_slice(&data), self.numel()),
        })
    }

    /// Uploads host data as float16, each value rounded to nearest (what
    /// [`crate::dtype::round_f16`] gives; values past 65504 become
    /// infinite). Read it back with [`Tensor::download`], which returns the
    /// float16 values exactly, as f32.
    ///
    /// # Errors
    ///
    /// As [`Tensor::upload`].
    ///
    /// ```no_run
    /// use wgsl_nn::gpu::{AdapterChoice, Gpu};
    /// use wgsl_nn::Tensor;
    /// let gpu = Gpu::new(&AdapterChoice::default())?;
    /// let x = Tensor::upload_f16(&gpu, "x", &[3], &[1.0, 1.0 + 1.0 / 4096.0, 1e5])?;
    /// assert_eq!(x.download(&gpu)?, [1.0, 1.0, f32::INFINITY]);
    /// # Ok::<(), wgsl_nn::Error>(())
    /// ```
    pub fn upload_f16(gpu: &Gpu, name: &str, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        bytes_as(name, shape, gpu, DType::F16)?;
        if data.len() != numel(name, shape)? {
            return Err(Error::shape(
                name,
                format!("{} values given for shape {shape:?}", data.len()),
            ));
        }
        let words = pack_f16(data);
        let t = Tensor::upload(gpu, name, &[words.len()], bytemuck::cast_slice(&words))?;
        Ok(Tensor {
            buffer: t.buffer,
            shape: shape.to_vec(),
            dtype: DType::F16,
        })
    }

    /// A float16 output prefilled with NaN (and `gpu.guard_elements` NaN
    /// guard elements after it), as [`Tensor::poisoned`] for float32.
    ///
    /// # Errors
    ///
    /// As [`Tensor::upload`].
    pub fn poisoned_f16(gpu: &Gpu, name: &str, shape: &[usize]) -> Result<Tensor> {
        let n = numel(name, shape)?;
        bytes_as(name, shape, gpu, DType::F16)?;
        // Whole words of NaN, so the guard has no zero half at its end.
        let len = (n + gpu.guard_elements).next_multiple_of(2);
        let t = Tensor::upload_f16(gpu, name, &[len], &vec![f32::NAN; len])?;
        Ok(Tensor {
            buffer: t.buffer,
            shape: shape.to_vec(),
            dtype: DType::F16,
        })
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

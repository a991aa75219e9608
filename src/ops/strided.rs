//! N-d strided element-wise maps and gathers (shaders/strided.wgsl,
//! shaders/gather.wgsl): the glue ops of whole models (broadcast
//! arithmetic, transposes, slices, concatenation, padding, embeddings).
//! Reference: `graph::reference`.

use super::{check_u32, kernel, read, workgroup_1d, write};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

/// The float32 entry point of shaders/strided.wgsl.
pub const STRIDED_MAP: Kernel = kernel(
    "strided",
    shaders!("strided.wgsl", "strided_f32.wgsl"),
    "strided_map",
);
/// Its float16 twin: float16 words in and out, any operand float32 where
/// it is (integers, bools), float32 arithmetic.
pub const STRIDED_MAP_F16: Kernel = kernel(
    "strided_f16",
    shaders!("strided.wgsl", "strided_f16.wgsl"),
    "strided_map_f16",
);
/// Gather along an axis (shaders/gather.wgsl).
pub const GATHER: Kernel = kernel(
    "gather",
    shaders!("gather_f32.wgsl", "gather.wgsl"),
    "gather",
);
/// Its float16 twins: float16 data and output, float-held indices (bound
/// as words, like the float16 strided map's operands).
pub const GATHER_F16_PACKED: Kernel = kernel(
    "gather_f16_packed",
    shaders!(
        "f16_words_common.wgsl",
        "gather_f16_packed.wgsl",
        "gather.wgsl"
    ),
    "gather",
);
/// As [`GATHER_F16_PACKED`], the data read as WGSL `f16` (SHADER_F16).
pub const GATHER_F16_NATIVE: Kernel = kernel(
    "gather_f16_native",
    concat!(
        "enable f16;\n",
        shaders!("gather_f16_native.wgsl", "gather.wgsl")
    ),
    "gather",
);

/// The most dims a strided view may have.
pub const MAX_RANK: usize = 8;

/// Twin of `StridedParams` in shaders/strided.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StridedParams {
    /// Output elements written (invocations).
    pub total: u32,
    /// Dims in use.
    pub rank: u32,
    /// Function code: < 40 unary, 40..80 binary, 80 where, 90 fill.
    pub op: u32,
    /// Bit 0: integer tensors (exact division); bit 1: fmod.
    pub flags: u32,
    /// Clip's min, HardSigmoid's alpha, LeakyRelu's alpha, the fill value.
    pub alpha: f32,
    /// Clip's max, HardSigmoid's beta.
    pub beta: f32,
    /// Padding; always 0.
    pub _pad: [u32; 2],
    /// Element offsets of a, b, c and of the first output element.
    pub offs: [u32; 4],
    /// The dims iterated, outermost first (1 past `rank`).
    pub dims: [u32; 8],
    /// Strides of a per dim.
    pub sa: [i32; 8],
    /// Strides of b per dim.
    pub sb: [i32; 8],
    /// Strides of c per dim.
    pub sc: [i32; 8],
    /// Strides of the output per dim.
    pub sy: [i32; 8],
}

/// An operand of a strided step: the tensor and how each output element
/// reads it.
#[derive(Debug, Clone)]
pub struct StridedIn<'a> {
    /// The tensor read.
    pub tensor: &'a Tensor,
    /// Element offset of the first read.
    pub offset: usize,
    /// Per dim of the iteration.
    pub strides: &'a [i64],
}

fn pack(layer: &str, what: &str, v: &[i64]) -> Result<[i32; 8]> {
    let mut out = [0i32; 8];
    for (o, &s) in out.iter_mut().zip(v) {
        *o = i32::try_from(s).map_err(|_| {
            Error::shape(
                layer,
                format!("{what} stride {s} exceeds the 2^31 a kernel can index"),
            )
        })?;
    }
    Ok(out)
}

/// Merges neighbouring dims that every operand walks contiguously (the
/// outer stride is the inner one times the inner size), and drops dims of
/// size 1: a same-shape element-wise op becomes one flat loop, a
/// broadcast bias two dims, so the kernel divides as little as it can.
pub fn coalesce(dims: &[usize], strides: &[&[i64]]) -> (Vec<usize>, Vec<Vec<i64>>) {
    let mut out_dims: Vec<usize> = vec![];
    let mut out: Vec<Vec<i64>> = vec![vec![]; strides.len()];
    for d in 0..dims.len() {
        if dims[d] == 1 && dims.len() > 1 {
            continue;
        }
        let mergeable = out_dims.last().is_some()
            && strides
                .iter()
                .zip(&out)
                .all(|(s, o)| o[o.len() - 1] == s[d] * dims[d] as i64);
        if mergeable {
            let last = out_dims.len() - 1;
            out_dims[last] *= dims[d];
            for (s, o) in strides.iter().zip(out.iter_mut()) {
                let l = o.len() - 1;
                o[l] = s[d];
            }
        } else {
            out_dims.push(dims[d]);
            for (s, o) in strides.iter().zip(out.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    if out_dims.is_empty() {
        out_dims.push(1);
        out.iter_mut().for_each(|o| o.push(0));
    }
    (out_dims, out)
}

/// Appends one strided step: for every index of `dims`, y at
/// `y_offset + sum idx * y_strides` = f(a, b, c) read through theirs.
/// `op` and the scalars as [`StridedParams`] describes; missing inputs
/// are read from the device's placeholder.
///
/// # Errors
///
/// [`Error::Shape`] when the rank exceeds [`MAX_RANK`], a stride or
/// offset exceeds i32, or an operand has more than 2^32 elements.
#[allow(clippy::too_many_arguments)]
pub fn strided_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    op: u32,
    flags: u32,
    scalars: [f32; 2],
    dims: &[usize],
    ins: &[StridedIn],
    y: &Tensor,
    y_offset: usize,
    y_strides: &[i64],
) -> Result<()> {
    let strides: Vec<&[i64]> = ins.iter().map(|s| s.strides).chain([y_strides]).collect();
    let (dims, merged) = coalesce(dims, &strides);
    let ins: Vec<StridedIn> = ins
        .iter()
        .zip(&merged)
        .map(|(s, m)| StridedIn {
            tensor: s.tensor,
            offset: s.offset,
            strides: m,
        })
        .collect();
    let (ins, y_strides) = (&ins[..], &merged[merged.len() - 1][..]);
    let dims = &dims[..];
    if dims.len() > MAX_RANK {
        return Err(Error::shape(layer, format!("rank {} exceeds the {MAX_RANK} dims the strided kernels iterate; reshape to fewer dims", dims.len())));
    }
    let total = check_u32(layer, dims)?;
    let placeholder = Tensor::placeholder(gpu)?;
    let zeros = [0i64; MAX_RANK];
    let at = |i: usize| {
        ins.get(i).cloned().unwrap_or(StridedIn {
            tensor: &placeholder,
            offset: 0,
            strides: &zeros,
        })
    };
    let (a, b, c) = (at(0), at(1), at(2));
    let mut d = [1u32; 8];
    for (o, &v) in d.iter_mut().zip(dims) {
        *o = super::u(v);
    }
    let off = |v: usize| u32::try_from(v).map_err(|_| Error::shape(layer, "offset exceeds 2^32"));
    let params = StridedParams {
        total,
        rank: dims.len() as u32,
        op,
        flags,
        alpha: scalars[0],
        beta: scalars[1],
        _pad: [0; 2],
        offs: [
            off(a.offset)?,
            off(b.offset)?,
            off(c.offset)?,
            off(y_offset)?,
        ],
        dims: d,
        sa: pack(layer, "input", a.strides)?,
        sb: pack(layer, "input", b.strides)?,
        sc: pack(layer, "input", c.strides)?,
        sy: pack(layer, "output", y_strides)?,
    };
    let width = |t: &Tensor| if t.dtype == DType::F16 { 2 } else { 4 };
    let read_bytes: u64 = ins.iter().map(|s| width(s.tensor)).sum::<u64>() * u64::from(total);
    let half = [a.tensor, b.tensor, c.tensor, y]
        .iter()
        .any(|t| t.dtype == DType::F16);
    let mut overrides = vec![("OPC", f64::from(op)), ("RANK", dims.len() as f64)];
    let kernel = if half {
        let bits = [a.tensor, b.tensor, c.tensor]
            .iter()
            .enumerate()
            .filter(|(_, t)| t.dtype == DType::F16)
            .map(|(k, _)| 1u32 << k)
            .sum::<u32>();
        overrides.push(("F16_IN", f64::from(bits)));
        overrides.push(("F16_OUT", f64::from(u8::from(y.dtype == DType::F16))));
        STRIDED_MAP_F16
    } else {
        STRIDED_MAP
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel,
        overrides,
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("a", &super::as_words(a.tensor)),
            read("b", &super::as_words(b.tensor)),
            read("c", &super::as_words(c.tensor)),
            write("y", &super::as_words(y)),
        ],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: if (40..90).contains(&op) || (1..40).contains(&op) {
            u64::from(total)
        } else {
            0
        },
        bytes_moved: read_bytes + width(y) * u64::from(total),
    });
    Ok(())
}

/// Twin of `GatherParams` in shaders/gather.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GatherParams {
    /// Output elements.
    pub total: u32,
    /// Product of the data's dims before the axis.
    pub outer: u32,
    /// The indexed axis' size.
    pub dim: u32,
    /// Product of the dims after it.
    pub inner: u32,
    /// Number of indices.
    pub count: u32,
    /// Padding; always 0.
    pub _pad: [u32; 3],
}

/// Appends y = data gathered along `axis` at `indices` (float-held
/// integers). Returns y of `out` shape and of data's element type,
/// NaN-poisoned until the plan runs; float16 data is read along `half`
/// (a gather copies, so nothing rounds).
///
/// # Errors
///
/// [`Error::Shape`] when a tensor has more than 2^32 elements, or float16
/// data without a path; allocation errors for y.
#[allow(clippy::too_many_arguments)]
pub fn gather_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    data: &Tensor,
    indices: &Tensor,
    axis: usize,
    out: &[usize],
    half: Option<crate::dtype::F16Path>,
) -> Result<Tensor> {
    use crate::dtype::F16Path;
    let total = check_u32(layer, out)?;
    let kernel = match (data.dtype, half) {
        (DType::F32, _) => GATHER,
        (DType::F16, Some(F16Path::Packed)) => GATHER_F16_PACKED,
        (DType::F16, Some(F16Path::Native)) => GATHER_F16_NATIVE,
        (DType::F16, None) => {
            return Err(Error::shape(
                layer,
                "the data is float16 but no float16 path was given; pass F16Path::for_features",
            ))
        }
    };
    let y = Tensor::poisoned_as(gpu, &format!("{layer} output"), out, data.dtype)?;
    let params = GatherParams {
        total,
        outer: super::u(data.shape[..axis].iter().product()),
        dim: super::u(data.shape[axis]),
        inner: super::u(data.shape[axis + 1..].iter().product()),
        count: super::u(indices.numel()),
        _pad: [0; 3],
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel,
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![
            read("data", &super::as_words(data)),
            read("indices", indices),
            write("y", &super::as_words(&y)),
        ],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: 0,
        bytes_moved: 2 * data.dtype.bytes(total as usize),
    });
    Ok(y)
}

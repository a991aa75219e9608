//! ONNX model files into the core's [`Model`]: protobuf decoded by prost
//! over the official schema's field numbers (`proto`), then every tensor
//! checked against the bytes actually present before anything is
//! allocated for it, so a truncated, corrupt or hostile file yields an
//! error naming what is wrong, never a panic or a huge allocation.

pub mod proto;

use crate::graph::{Attr, DType, Dim, HostTensor, Input, Model, Node, MAX_ELEMENTS};
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;

/// Why an ONNX file was refused.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("cannot read '{0}': {1}")]
    Io(String, #[source] std::io::Error),
    /// The bytes are not a protobuf ModelProto.
    #[error("{0}: not an ONNX model ({1}); export one with torch.onnx.export or check that the file is complete")]
    Decode(String, String),
    /// Decoded, but the model breaks a rule of the format.
    #[error("{0}: {1}")]
    Invalid(String, String),
}

impl From<OnnxError> for crate::Error {
    fn from(e: OnnxError) -> Self {
        crate::Error::App(Box::new(e))
    }
}

/// Files larger than this are refused before reading (weights beyond 2 GiB
/// live in external data, which this loader does not read).
pub const MAX_FILE_BYTES: u64 = 1 << 31;

/// Reads and parses `path`.
///
/// # Errors
///
/// [`OnnxError`] for an unreadable, oversized, truncated or invalid file.
pub fn read_model(path: &Path) -> Result<Model, OnnxError> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| OnnxError::Io(name.clone(), e))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(OnnxError::Invalid(name, format!("{} bytes is more than the {MAX_FILE_BYTES} this loader reads (external-data models are not supported)", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| OnnxError::Io(name.clone(), e))?;
    parse_model(&bytes, &name)
}

/// Parses an ONNX model from its bytes; `what` names it in errors.
///
/// ```
/// let e = wgsl_nn::app::io::onnx::parse_model(b"\x89PNG\r\n", "x.onnx").unwrap_err();
/// assert!(e.to_string().contains("not an ONNX model"));
/// ```
///
/// # Errors
///
/// [`OnnxError::Decode`] when the bytes are not a ModelProto,
/// [`OnnxError::Invalid`] when a tensor, attribute or type is malformed
/// or unsupported.
pub fn parse_model(bytes: &[u8], what: &str) -> Result<Model, OnnxError> {
    let bad = |m: String| OnnxError::Invalid(what.to_string(), m);
    let m = proto::ModelProto::decode(bytes)
        .map_err(|e| OnnxError::Decode(what.to_string(), e.to_string()))?;
    let g = m
        .graph
        .ok_or_else(|| OnnxError::Decode(what.to_string(), "it has no graph".into()))?;
    if !g.sparse_initializer.is_empty() {
        return Err(bad(
            "sparse initializers are not supported; export dense weights".into(),
        ));
    }
    let opset = m
        .opset_import
        .iter()
        .filter(|o| {
            o.domain
                .as_deref()
                .is_none_or(|d| d.is_empty() || d == "ai.onnx")
        })
        .filter_map(|o| o.version)
        .max()
        .unwrap_or(1);
    let mut initializers = BTreeMap::new();
    for t in &g.initializer {
        let name = t.name.clone().unwrap_or_default();
        initializers.insert(
            name.clone(),
            tensor(t, &format!("initializer '{name}'")).map_err(&bad)?,
        );
    }
    let mut inputs = vec![];
    for vi in &g.input {
        let name = vi.name.clone().unwrap_or_default();
        if initializers.contains_key(&name) {
            continue;
        }
        inputs.push(value_info(vi).map_err(&bad)?);
    }
    let mut nodes = vec![];
    for (k, n) in g.node.iter().enumerate() {
        let op = n.op_type.clone().unwrap_or_default();
        let name = n
            .name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{op}_{k}"));
        let mut attrs = BTreeMap::new();
        for a in &n.attribute {
            let an = a.name.clone().unwrap_or_default();
            attrs.insert(
                an.clone(),
                attr(a).map_err(|e| bad(format!("node '{name}' ({op}) attribute {an}: {e}")))?,
            );
        }
        nodes.push(Node {
            name,
            op,
            domain: n.domain.clone().unwrap_or_default(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
        });
    }
    // model.half() exports: float16 inputs, which `run` takes to mean a
    // float16 run unless --dtype says otherwise.
    let float16 = g.input.iter().any(|vi| {
        vi.r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .is_some_and(|t| t.elem_type == Some(10))
    });
    Ok(Model {
        float16,
        inputs,
        outputs: g
            .output
            .iter()
            .map(|o| o.name.clone().unwrap_or_default())
            .collect(),
        initializers,
        nodes,
        opset,
        producer: format!(
            "{} {}",
            m.producer_name.unwrap_or_default(),
            m.producer_version.unwrap_or_default()
        )
        .trim()
        .to_string(),
    })
}

fn value_info(vi: &proto::ValueInfoProto) -> Result<Input, String> {
    let name = vi.name.clone().unwrap_or_default();
    let t = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| {
            format!("input '{name}' is not a tensor (sequences and maps are not supported)")
        })?;
    let dtype = dtype(t.elem_type.unwrap_or(0)).ok_or_else(|| format!("input '{name}' has element type {} which is not supported (float, integer and bool are)", t.elem_type.unwrap_or(0)))?;
    let dims = match &t.shape {
        Some(s) => s
            .dim
            .iter()
            .enumerate()
            .map(|(i, d)| match (d.dim_value, &d.dim_param) {
                (Some(v), _) if v > 0 => Dim::Fixed(v as usize),
                (_, Some(p)) if !p.is_empty() => Dim::Named(p.clone()),
                _ => Dim::Named(format!("{name}_dim{i}")),
            })
            .collect(),
        None => {
            return Err(format!(
                "input '{name}' declares no shape; export with a fixed or named shape"
            ))
        }
    };
    Ok(Input { name, dtype, dims })
}

/// ONNX element types this loader reads, as the runner's types.
fn dtype(code: i32) -> Option<DType> {
    match code {
        1 | 10 | 11 | 16 => Some(DType::F32),
        2..=7 | 12 | 13 => Some(DType::I64),
        9 => Some(DType::Bool),
        _ => None,
    }
}

/// Bytes per element of a raw_data payload.
fn width(code: i32) -> usize {
    match code {
        2 | 3 | 9 => 1,
        4 | 5 | 10 | 16 => 2,
        1 | 6 | 12 => 4,
        _ => 8,
    }
}

fn half(bits: u16) -> f64 {
    let (s, e, m) = ((bits >> 15) & 1, (bits >> 10) & 0x1f, bits & 0x3ff);
    let v = match e {
        0 => f64::from(m) * 2f64.powi(-24),
        31 => {
            if m == 0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => (1.0 + f64::from(m) / 1024.0) * 2f64.powi(i32::from(e) - 15),
    };
    if s == 1 {
        -v
    } else {
        v
    }
}

/// A TensorProto into a host tensor, sizes checked before allocation.
fn tensor(t: &proto::TensorProto, what: &str) -> Result<HostTensor, String> {
    let code = t.data_type.unwrap_or(0);
    let dt = dtype(code).ok_or_else(|| {
        format!(
            "{what} has element type {code}, which is not supported (float, integer and bool are)"
        )
    })?;
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(format!("{what} keeps its data in an external file, which this loader does not read; save the model with all tensors inside (onnx.save(model, path, save_as_external_data=False))"));
    }
    if t.segment.is_some() {
        return Err(format!("{what} is segmented, which is not supported"));
    }
    let mut shape = vec![];
    for &d in &t.dims {
        shape.push(
            usize::try_from(d)
                .map_err(|_| format!("{what} has a negative dimension ({:?})", t.dims))?,
        );
    }
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("{what} claims shape {shape:?}, more than the {MAX_ELEMENTS} elements this runner holds"))?;
    let data: Vec<f64> = if let Some(raw) = &t.raw_data {
        let w = width(code);
        if raw.len() != n * w {
            return Err(format!("{what} claims shape {shape:?} ({n} elements of {w} bytes) but holds {} bytes; the file is truncated or corrupt", raw.len()));
        }
        raw.chunks_exact(w)
            .map(|c| match code {
                1 => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                11 => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
                10 => half(u16::from_le_bytes([c[0], c[1]])),
                16 => f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([c[0], c[1]])) << 16,
                )),
                2 | 9 => f64::from(c[0]),
                3 => f64::from(c[0] as i8),
                4 => f64::from(u16::from_le_bytes([c[0], c[1]])),
                5 => f64::from(i16::from_le_bytes([c[0], c[1]])),
                6 => f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                12 => f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                13 => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
                _ => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            })
            .collect()
    } else {
        let typed: Vec<f64> = match code {
            1 => t.float_data.iter().map(|&v| f64::from(v)).collect(),
            11 => t.double_data.clone(),
            7 => t.int64_data.iter().map(|&v| v as f64).collect(),
            12 | 13 => t.uint64_data.iter().map(|&v| v as f64).collect(),
            10 => t.int32_data.iter().map(|&v| half(v as u16)).collect(),
            16 => t
                .int32_data
                .iter()
                .map(|&v| f64::from(f32::from_bits((v as u32) << 16)))
                .collect(),
            _ => t.int32_data.iter().map(|&v| f64::from(v)).collect(),
        };
        if typed.len() != n {
            return Err(format!("{what} claims shape {shape:?} ({n} elements) but holds {}; the file is truncated or corrupt", typed.len()));
        }
        typed
    };
    let data = if dt == DType::F32 {
        data.iter().map(|&v| f64::from(v as f32)).collect()
    } else {
        data
    };
    Ok(HostTensor {
        dtype: dt,
        shape,
        data,
    })
}

fn attr(a: &proto::AttributeProto) -> Result<Attr, String> {
    if a.ref_attr_name.is_some() {
        return Err("references a function attribute, which only appears inside functions".into());
    }
    // ONNX's AttributeType: 1 float, 2 int, 3 string, 4 tensor, 5 graph,
    // 6 floats, 7 ints, 8 strings, 9 tensors, 10 graphs, 11/12 sparse.
    Ok(match a.r#type.unwrap_or(0) {
        1 => Attr::Float(a.f.unwrap_or(0.0)),
        2 => Attr::Int(a.i.unwrap_or(0)),
        3 => Attr::Str(String::from_utf8_lossy(a.s.as_deref().unwrap_or_default()).into_owned()),
        4 => Attr::Tensor(tensor(
            a.t.as_ref().ok_or("tensor attribute without a tensor")?,
            "tensor attribute",
        )?),
        6 => Attr::Floats(a.floats.clone()),
        7 => Attr::Ints(a.ints.clone()),
        5 | 10 => Attr::Other("graph"),
        8 => Attr::Other("strings"),
        9 => Attr::Other("tensors"),
        11 | 12 => Attr::Other("sparse tensor"),
        // IR version 1 had no type field: infer it from what is present.
        0 => match (&a.f, &a.i, &a.s, &a.t) {
            (Some(f), ..) => Attr::Float(*f),
            (_, Some(i), ..) => Attr::Int(*i),
            (_, _, Some(s), _) => Attr::Str(String::from_utf8_lossy(s).into_owned()),
            (_, _, _, Some(t)) => Attr::Tensor(tensor(t, "tensor attribute")?),
            _ if !a.ints.is_empty() => Attr::Ints(a.ints.clone()),
            _ if !a.floats.is_empty() => Attr::Floats(a.floats.clone()),
            _ => Attr::Other("empty"),
        },
        t => return Err(format!("has unknown attribute type {t}")),
    })
}

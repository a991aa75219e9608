//! NumPy `.npy` reading/writing and `.npz` reading, converting every numeric
//! dtype to `f32`. The ZIP container is parsed by hand (stored and deflated
//! members, ZIP64) to avoid a zip dependency. Every size taken from a file is
//! checked against the bytes actually present before anything is allocated,
//! so hostile input yields an error, never a panic or a huge allocation.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// The tensor cap everywhere else (1 GiB of f32); keeps `count * 8` from
/// overflowing anywhere, and a small file from asking for many gigabytes.
const MAX_ELEMS: usize = 1 << 28;
/// numpy's own limit (NPY_MAXDIMS); reordering Fortran data costs
/// elements x dimensions, so a small file with 30000 dimensions of 1 took
/// seconds.
const MAX_DIMS: usize = 64;
/// Uncompressed bytes one .npz member, and all of them together, may hold:
/// checked before inflating, so a deflate bomb costs nothing.
const MAX_MEMBER_BYTES: usize = (1 << 30) + (1 << 16);
const MAX_NPZ_BYTES: usize = 1 << 31;
/// Deflate cannot expand data by more than ~1032:1, so a larger declared
/// size is a lie we can reject before inflating.
const MAX_DEFLATE_RATIO: usize = 1032;

/// An n-dimensional array in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// The dimensions, outermost first, as numpy's `arr.shape` (empty for
    /// a scalar).
    pub shape: Vec<usize>,
    /// The elements in row-major order, converted to f32 (Fortran-order
    /// files are reordered on reading).
    pub data: Vec<f32>,
}

impl From<NpyError> for crate::Error {
    fn from(e: NpyError) -> Self {
        crate::Error::App(Box::new(e))
    }
}

/// The first field is always the file or npz member the error is about.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be read or written: path, "read" or "write",
    /// and the OS error.
    #[error("cannot {1} '{0}': {2}")]
    Io(String, &'static str, #[source] std::io::Error),
    /// The bytes do not start with numpy's magic `\x93NUMPY`.
    #[error("{0}: not a .npy file (magic bytes missing); save it with np.save")]
    NotNpy(String),
    /// The header is malformed: an unknown version, a header running past
    /// the end, or a dict that does not parse (the detail says which).
    #[error("{0}: bad .npy header: {1}; save it with np.save")]
    Header(String, String),
    /// A dtype other than float16/32/64, (u)int8-64 or bool, e.g. a
    /// structured or complex one (its `descr` as written).
    #[error("unsupported dtype '{1}' in {0}; convert with arr.astype(np.float32)")]
    Dtype(String, String),
    /// The shape (Python tuple text) holds more than 2^28 elements.
    #[error("{0}: shape {1} is too large (at most 2^28 elements, 1 GiB of float32, are read)")]
    TooLarge(String, String),
    /// The data length disagrees with the header (truncated or trailing bytes),
    /// or a float64 element lies beyond f32's range.
    #[error("{0}: {1}")]
    Size(String, String),
    /// The .npz container is not a zip numpy could have written, or breaks
    /// a size guard: no end record, damaged or overlapping entries, an
    /// encrypted member, an impossible or too large uncompressed size, a
    /// duplicate member (the detail says which).
    #[error("{0}: not a NumPy .npz (zip) file: {1}; save it with np.savez")]
    Zip(String, String),
    /// A member compressed with a method other than stored (0) or deflate
    /// (8): member name, method number and its name ("bzip2", "lzma", ...,
    /// or "unknown").
    #[error(
        "{0}: member '{1}' is compressed with method {2} ({3}); \
         save with np.savez or np.savez_compressed"
    )]
    Method(String, String, usize, &'static str),
    /// A member's CRC-32 does not match its contents: member name, stored
    /// and computed CRC.
    #[error(
        "{0}: CRC mismatch in member '{1}' (stored {2:08x}, computed {3:08x}); \
         the file is corrupt, save it again"
    )]
    Crc(String, String, u32, u32),
    /// `write_npy` was given a shape (Python tuple text) whose product is
    /// not the number of values given.
    #[error("cannot write '{0}': shape {1} does not hold the {2} values given")]
    ShapeMismatch(String, String, usize),
}

/// Reads a `.npy` file (any supported dtype, C or Fortran order) into an
/// [`Array`] of f32; see [`parse_npy`].
///
/// # Errors
///
/// [`NpyError::Io`] when the file cannot be read; otherwise as
/// [`parse_npy`].
pub fn read_npy(path: &Path) -> Result<Array, NpyError> {
    parse_npy(&read(path)?, &path.display().to_string())
}

/// Reads a `.npz` archive (`np.savez` or `np.savez_compressed`) into its
/// arrays, keyed by member name without the `.npy` suffix (the keyword
/// names given to `np.savez`); see [`parse_npz`].
///
/// # Errors
///
/// [`NpyError::Io`] when the file cannot be read; otherwise as
/// [`parse_npz`].
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, Array>, NpyError> {
    parse_npz(&read(path)?, &path.display().to_string())
}

fn read(path: &Path) -> Result<Vec<u8>, NpyError> {
    std::fs::read(path).map_err(|e| NpyError::Io(path.display().to_string(), "read", e))
}

/// Writes `data` (row-major, of `shape`) to `path` as a float32 `.npy`
/// file, byte for byte as `np.save` would ([`npy_bytes`]).
///
/// # Errors
///
/// [`NpyError::ShapeMismatch`] when `data.len()` is not the product of
/// `shape`; [`NpyError::Io`] when the file cannot be written.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let p = path.display().to_string();
    if product(shape) != Some(data.len()) {
        return Err(NpyError::ShapeMismatch(p, fmt_shape(shape), data.len()));
    }
    std::fs::write(path, npy_bytes(shape, data)).map_err(|e| NpyError::Io(p, "write", e))
}

/// [`write_npy`] as float16 (`<f2`, what `np.save` writes for a float16
/// array): each value rounded to nearest, so float16 values (a float16
/// run's output) are written exactly.
///
/// # Errors
///
/// As [`write_npy`].
pub fn write_npy_f16(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let p = path.display().to_string();
    if product(shape) != Some(data.len()) {
        return Err(NpyError::ShapeMismatch(p, fmt_shape(shape), data.len()));
    }
    let payload = data
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    std::fs::write(path, npy_bytes_as(shape, "<f2", payload))
        .map_err(|e| NpyError::Io(p, "write", e))
}

/// Serialises exactly as `np.save` does for a C-contiguous float32 array.
///
/// # Panics
/// If `data.len()` is not the product of `shape` (a caller bug).
pub fn npy_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(
        product(shape),
        Some(data.len()),
        "npy_bytes: shape {shape:?} mismatch"
    );
    npy_bytes_as(
        shape,
        "<f4",
        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

/// The `.npy` bytes of `payload`, elements of numpy type `descr`.
fn npy_bytes_as(shape: &[usize], descr: &str, payload: Vec<u8>) -> Vec<u8> {
    let shape = fmt_shape(shape);
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Like numpy: pad with at least one space so the data starts on a 64-byte
    // boundary (for mmap); use version 2.0 only if the length overflows a u16.
    let total = |prefix: usize| (prefix + dict.len() + 1) / 64 * 64 + 64;
    let (major, prefix) = if total(10) - 10 <= u16::MAX as usize {
        (1, 10)
    } else {
        (2, 12)
    };
    let hlen = (total(prefix) - prefix) as u32;
    let mut out = [MAGIC, &[major, 0], &hlen.to_le_bytes()[..prefix - 8]].concat();
    out.extend_from_slice(dict.as_bytes());
    out.resize(total(prefix) - 1, b' ');
    out.push(b'\n');
    out.extend(payload);
    out
}

/// Parses the bytes of a `.npy` file (format versions 1.0, 2.0 and 3.0)
/// into an [`Array`], converting float16/32/64, int8-64, uint8-64 and bool
/// elements of either byte order to f32 and Fortran order to C order.
/// `what` names the file (or npz member) in errors.
///
/// ```
/// use wgsl_nn::app::io::npy::{npy_bytes, parse_npy};
/// let bytes = npy_bytes(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// let a = parse_npy(&bytes, "example.npy")?;
/// assert_eq!((a.shape, a.data[5]), (vec![2, 3], 6.0));
/// # Ok::<(), wgsl_nn::app::io::npy::NpyError>(())
/// ```
///
/// # Errors
///
/// [`NpyError::NotNpy`] without the magic bytes, [`NpyError::Header`] for a
/// malformed header, [`NpyError::Dtype`] for any other dtype,
/// [`NpyError::TooLarge`] past 2^28 elements, and [`NpyError::Size`] when
/// the data is truncated, has trailing bytes, or holds a float64 beyond
/// f32's range.
pub fn parse_npy(bytes: &[u8], what: &str) -> Result<Array, NpyError> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 8 {
        return Err(NpyError::NotNpy(what.into()));
    }
    let herr = |detail: String| NpyError::Header(what.into(), detail);
    let (hlen, start) = match (bytes[6], bytes[7]) {
        (1, 0) => (le(bytes, 8, 2), 10),
        (2, 0) | (3, 0) => (le(bytes, 8, 4), 12),
        (major, minor) => {
            return Err(herr(format!(
                "version {major}.{minor} is not 1.0, 2.0 or 3.0"
            )))
        }
    };
    let end = hlen
        .and_then(|h| h.checked_add(start))
        .filter(|&end| end <= bytes.len());
    let end =
        end.ok_or_else(|| herr(format!("header runs past the end ({} bytes)", bytes.len())))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|e| herr(e.to_string()))?;
    let (descr, fortran, shape) = parse_header(header).map_err(herr)?;
    let dtype = Dtype::parse(&descr).ok_or_else(|| NpyError::Dtype(what.into(), descr.clone()))?;
    let count =
        product(&shape).filter(|&n| n <= MAX_ELEMS && shape.iter().all(|&d| d <= MAX_ELEMS));
    let count = count.ok_or_else(|| NpyError::TooLarge(what.into(), fmt_shape(&shape)))?;
    let (body, need) = (&bytes[end..], count.saturating_mul(dtype.size));
    if body.len() != need {
        let problem = if body.len() < need {
            "truncated"
        } else {
            "trailing bytes after the data"
        };
        let (shape, have) = (fmt_shape(&shape), body.len());
        let detail = format!(
            "header says shape {shape} of {descr} = {need} bytes of data but the file has {have}"
        );
        return Err(NpyError::Size(what.into(), format!("{problem}: {detail}")));
    }
    let mut data: Vec<f32> = body
        .chunks_exact(dtype.size)
        .map(|c| dtype.convert(c))
        .collect();
    // float64 beyond float32's range would arrive as infinities and pass
    // as a result of NaN; say so instead.
    if dtype.kind == b'f' && dtype.size == 8 {
        if let Some((i, c)) = body
            .chunks_exact(8)
            .enumerate()
            .find(|(i, c)| data[*i].is_infinite() && dtype.as_f64(c).is_finite())
        {
            return Err(NpyError::Size(
                what.into(),
                format!(
                    "element {i} is {:e}, beyond float32's range (about 3.4e38); wgsl-nn computes in \
                     float32: scale the data",
                    dtype.as_f64(c)
                ),
            ));
        }
    }
    if fortran {
        data = fortran_to_c(&shape, &data);
    }
    Ok(Array { shape, data })
}

/// Parses numpy's header, a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
fn parse_header(h: &str) -> Result<(String, bool, Vec<usize>), String> {
    let mut p = Parser {
        s: h.as_bytes(),
        i: 0,
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.ws();
    p.expect(b'{')?;
    while !p.eat(b'}') {
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            // Structured dtypes are lists; keep their text for the error message.
            "descr" if p.s.get(p.i) == Some(&b'[') => descr = Some(p.bracketed()?),
            "descr" => descr = Some(p.string()?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            _ => return Err(format!("unexpected key '{key}'")),
        }
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    if p.i != p.s.len() {
        return Err(format!("unexpected text after the dict at byte {}", p.i));
    }
    let missing = |k: &str| format!("key '{k}' is missing");
    let descr = descr.ok_or_else(|| missing("descr"))?;
    Ok((
        descr,
        fortran.ok_or_else(|| missing("fortran_order"))?,
        shape.ok_or_else(|| missing("shape"))?,
    ))
}

/// Cursor over the header; every token reader skips the whitespace after it.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += hit as usize;
        self.ws();
        hit
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        let at = self.i;
        self.eat(c)
            .then_some(())
            .ok_or(format!("expected '{}' at byte {at}", c as char))
    }
    fn token(&mut self, len: usize) -> String {
        let t = String::from_utf8_lossy(&self.s[self.i..self.i + len]).into_owned();
        self.i += len;
        self.ws();
        t
    }
    fn string(&mut self) -> Result<String, String> {
        let q = self.s.get(self.i).filter(|&&c| c == b'\'' || c == b'"');
        let q = *q.ok_or(format!("expected a quoted string at byte {}", self.i))?;
        let len = self.s[self.i + 1..]
            .iter()
            .position(|&c| c == q)
            .ok_or("unterminated string")?;
        Ok(self.token(len + 2).trim_matches(q as char).to_string())
    }
    fn boolean(&mut self) -> Result<bool, String> {
        let rest = &self.s[self.i..];
        let len = [4, 5]
            .into_iter()
            .find(|&n| [&b"True"[..], b"False"].contains(&&rest[..n.min(rest.len())]));
        Ok(self.token(len.ok_or(format!("expected True or False at byte {}", self.i))?) == "True")
    }
    /// Iterative, so deeply nested input cannot overflow the stack.
    fn bracketed(&mut self) -> Result<String, String> {
        let mut depth = 0usize;
        for (len, &c) in self.s[self.i..].iter().enumerate() {
            depth = depth + (c == b'[') as usize - (c == b']') as usize;
            if depth == 0 {
                return Ok(self.token(len + 1));
            }
        }
        Err("unterminated '['".into())
    }
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        while !self.eat(b')') {
            let digits = self.s[self.i..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let dim = self
                .token(digits)
                .parse()
                .map_err(|_| format!("bad dimension at byte {}", self.i))?;
            dims.push(dim);
            if dims.len() > MAX_DIMS {
                return Err(format!(
                    "the shape has more than {MAX_DIMS} dimensions (numpy's limit)"
                ));
            }
            self.eat(b'L'); // Python 2 wrote long ints as `3L`.
            if !self.eat(b',') {
                self.expect(b')')?;
                break;
            }
        }
        Ok(dims)
    }
}

struct Dtype {
    kind: u8,
    size: usize,
    little: bool,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        let (order, rest) = match descr.as_bytes().first()? {
            &o @ (b'<' | b'>' | b'|' | b'=') => (o, &descr[1..]),
            _ => (b'=', descr),
        };
        let supported = [
            "f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1",
        ];
        let size = (supported.contains(&rest)).then(|| (rest.as_bytes()[1] - b'0') as usize)?;
        // numpy uses '|' ("not applicable") only for 1-byte types.
        if order == b'|' && size != 1 {
            return None;
        }
        let little = order == b'<' || (order != b'>' && cfg!(target_endian = "little"));
        Some(Dtype {
            kind: rest.as_bytes()[0],
            size,
            little,
        })
    }

    fn bits(&self, c: &[u8]) -> u64 {
        match self.little {
            true => c.iter().rev().fold(0u64, |a, &b| a << 8 | b as u64),
            false => c.iter().fold(0u64, |a, &b| a << 8 | b as u64),
        }
    }

    /// A float64 element as it is (for messages).
    fn as_f64(&self, c: &[u8]) -> f64 {
        f64::from_bits(self.bits(c))
    }

    fn convert(&self, c: &[u8]) -> f32 {
        let v = self.bits(c);
        let unused = 64 - 8 * self.size as u32;
        match (self.kind, self.size) {
            (b'f', 2) => f16_to_f32(v as u16),
            (b'f', 4) => f32::from_bits(v as u32),
            (b'f', _) => f64::from_bits(v) as f32,
            (b'i', _) => ((v << unused) as i64 >> unused) as f32,
            (b'u', _) => v as f32,
            _ => (v != 0) as u8 as f32,
        }
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let (sign, exp, man) = ((h & 0x8000) << 16, (h >> 10) & 0x1f, h & 0x3ff);
    match exp {
        // Subnormal: man * 2^-24, exact in f32.
        0 => f32::from_bits(sign | (man as f32 / (1 << 24) as f32).to_bits()),
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

fn fortran_to_c(shape: &[usize], f: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; f.len()];
    for (j, &v) in f.iter().enumerate() {
        // Peel Fortran indices off j (first axis fastest) while building the
        // C offset by Horner's rule; every d > 0 since f is non-empty.
        let (mut rest, mut c) = (j, 0);
        for &d in shape {
            (c, rest) = (c * d + rest % d, rest / d);
        }
        out[c] = v;
    }
    out
}

fn product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Python's tuple repr, as numpy writes it in headers.
fn fmt_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let comma = if shape.len() == 1 { "," } else { "" };
    format!("({}{comma})", dims.join(", "))
}

/// Little-endian integer of `n <= 8` bytes at `off`, or None past the end.
pub(super) fn le(b: &[u8], off: usize, n: usize) -> Option<usize> {
    let s = b.get(off..off.checked_add(n)?)?;
    usize::try_from(s.iter().rev().fold(0u64, |a, &x| a << 8 | x as u64)).ok()
}

mod npz;
pub use npz::parse_npz;

#[cfg(test)]
mod tests;

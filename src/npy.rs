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
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The first field is always the file or npz member the error is about.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("cannot {1} '{0}': {2}")]
    Io(String, &'static str, #[source] std::io::Error),
    #[error("{0}: not a .npy file (magic bytes missing); save it with np.save")]
    NotNpy(String),
    #[error("{0}: bad .npy header: {1}; save it with np.save")]
    Header(String, String),
    #[error("unsupported dtype '{1}' in {0}; convert with arr.astype(np.float32)")]
    Dtype(String, String),
    #[error("{0}: shape {1} is too large (at most 2^28 elements, 1 GiB of float32, are read)")]
    TooLarge(String, String),
    /// The data length disagrees with the header (truncated or trailing bytes).
    #[error("{0}: {1}")]
    Size(String, String),
    #[error("{0}: not a NumPy .npz (zip) file: {1}; save it with np.savez")]
    Zip(String, String),
    #[error(
        "{0}: member '{1}' is compressed with method {2} ({3}); \
         save with np.savez or np.savez_compressed"
    )]
    Method(String, String, usize, &'static str),
    #[error(
        "{0}: CRC mismatch in member '{1}' (stored {2:08x}, computed {3:08x}); \
         the file is corrupt, save it again"
    )]
    Crc(String, String, u32, u32),
    #[error("cannot write '{0}': shape {1} does not hold the {2} values given")]
    ShapeMismatch(String, String, usize),
}

pub fn read_npy(path: &Path) -> Result<Array, NpyError> {
    parse_npy(&read(path)?, &path.display().to_string())
}

pub fn read_npz(path: &Path) -> Result<BTreeMap<String, Array>, NpyError> {
    parse_npz(&read(path)?, &path.display().to_string())
}

fn read(path: &Path) -> Result<Vec<u8>, NpyError> {
    std::fs::read(path).map_err(|e| NpyError::Io(path.display().to_string(), "read", e))
}

pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let p = path.display().to_string();
    if product(shape) != Some(data.len()) {
        return Err(NpyError::ShapeMismatch(p, fmt_shape(shape), data.len()));
    }
    std::fs::write(path, npy_bytes(shape, data)).map_err(|e| NpyError::Io(p, "write", e))
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
    let shape = fmt_shape(shape);
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
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
    out.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    out
}

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
fn le(b: &[u8], off: usize, n: usize) -> Option<usize> {
    let s = b.get(off..off.checked_add(n)?)?;
    usize::try_from(s.iter().rev().fold(0u64, |a, &x| a << 8 | x as u64)).ok()
}

const CRC_TABLE: [u32; 256] = {
    let (mut t, mut i) = ([0u32; 256], 0);
    while i < 256 {
        let (mut c, mut k) = (i as u32, 0);
        while k < 8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

pub fn parse_npz(bytes: &[u8], what: &str) -> Result<BTreeMap<String, Array>, NpyError> {
    let zerr = |detail: String| NpyError::Zip(what.into(), detail);
    macro_rules! bail {
        ($($fmt:tt)*) => { return Err(zerr(format!($($fmt)*))) };
    }
    let rd = |b: &[u8], off: usize, n: usize| {
        le(b, off, n).ok_or_else(|| zerr(format!("record at byte {off} is cut short")))
    };
    // The end record is last, followed only by a comment of at most 65535
    // bytes whose length it states.
    let eocd = (bytes.len().saturating_sub(22 + 0xffff)..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&p| {
            le(bytes, p, 4) == Some(0x0605_4b50)
                && le(bytes, p + 20, 2).is_some_and(|c| p + 22 + c <= bytes.len())
        });
    let eocd = eocd.ok_or_else(|| zerr("no end-of-central-directory record".into()))?;
    let (mut count, mut cd_size, mut cd_off) = (
        rd(bytes, eocd + 10, 2)?,
        rd(bytes, eocd + 12, 4)?,
        rd(bytes, eocd + 16, 4)?,
    );
    if eocd >= 20 && le(bytes, eocd - 20, 4) == Some(0x0706_4b50) {
        let z = rd(bytes, eocd - 12, 8)?;
        if le(bytes, z, 4) != Some(0x0606_4b50) {
            bail!("the ZIP64 end record is missing");
        }
        (count, cd_size, cd_off) = (
            rd(bytes, z + 32, 8)?,
            rd(bytes, z + 40, 8)?,
            rd(bytes, z + 48, 8)?,
        );
    }
    let cd = cd_off.checked_add(cd_size).and_then(|end| bytes.get(..end));
    let cd = cd.ok_or_else(|| zerr("the central directory lies outside the file".into()))?;
    // Overlapping members could make a small file expand quadratically;
    // requiring their data to fit in the file side by side rules that out.
    let (mut p, mut out, mut used, mut inflated) = (cd_off, BTreeMap::new(), 0usize, 0usize);
    for _ in 0..count {
        if le(cd, p, 4) != Some(0x0201_4b50) {
            bail!("central directory entry at byte {p} is damaged");
        }
        let f = |o: usize, n: usize| rd(cd, p + o, n);
        let (flags, method, crc) = (f(8, 2)?, f(10, 2)?, f(16, 4)? as u32);
        let (mut csize, mut size, mut off) = (f(20, 4)?, f(24, 4)?, f(42, 4)?);
        let (nlen, elen, clen) = (f(28, 2)?, f(30, 2)?, f(32, 2)?);
        let name = cd
            .get(p + 46..p + 46 + nlen)
            .ok_or_else(|| zerr("a member name is cut short".into()))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let mut extra = cd
            .get(p + 46 + nlen..p + 46 + nlen + elen)
            .unwrap_or_default();
        p += 46 + nlen + elen + clen;
        while let (Some(id), Some(n)) = (le(extra, 0, 2), le(extra, 2, 2)) {
            // The ZIP64 field holds, in this order, only the values that
            // saturated their 32-bit slots.
            let (body, mut r) = (extra.get(4..4 + n).unwrap_or_default(), 0);
            for v in [&mut size, &mut csize, &mut off]
                .into_iter()
                .filter(|v| id == 1 && **v == 0xffff_ffff)
            {
                (*v, r) = (rd(body, r, 8)?, r + 8);
            }
            extra = extra.get(4 + n..).unwrap_or_default();
        }
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 != 0 {
            bail!("member '{name}' is encrypted");
        }
        if le(bytes, off, 4) != Some(0x0403_4b50) {
            bail!("the local header of member '{name}' is missing");
        }
        // Skip the local name and extra by their own lengths: numpy's local
        // ZIP64 extra differs from the central one.
        let start = off + 30 + rd(bytes, off + 26, 2)? + rd(bytes, off + 28, 2)?;
        let data = start
            .checked_add(csize)
            .and_then(|end| bytes.get(start..end));
        let data =
            data.ok_or_else(|| zerr(format!("member '{name}' runs past the end of the file")))?;
        used = used.saturating_add(csize);
        if used > bytes.len() {
            bail!("members overlap (member '{name}')");
        }
        if method == 8 && size > csize.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(64) {
            bail!("member '{name}' claims an impossible size of {size} bytes");
        }
        if size > MAX_MEMBER_BYTES {
            bail!("member '{name}' holds {size} bytes uncompressed; wgsl-nn reads at most 1 GiB per array");
        }
        inflated = inflated.saturating_add(size);
        if inflated > MAX_NPZ_BYTES {
            bail!("the members hold over {MAX_NPZ_BYTES} bytes uncompressed (at member '{name}'); wgsl-nn reads at most 2 GiB from one file");
        }
        let content = match method {
            0 => Cow::Borrowed(data),
            8 => Cow::Owned(
                miniz_oxide::inflate::decompress_to_vec_with_limit(data, size)
                    .map_err(|e| zerr(format!("cannot inflate '{name}': {:?}", e.status)))?,
            ),
            m => {
                let names = [
                    (9, "deflate64"),
                    (12, "bzip2"),
                    (14, "lzma"),
                    (93, "zstd"),
                    (95, "xz"),
                    (99, "AES"),
                ];
                let mname = names.iter().find(|n| n.0 == m).map_or("unknown", |n| n.1);
                return Err(NpyError::Method(what.into(), name, m, mname));
            }
        };
        if content.len() != size {
            bail!("member '{name}' holds {} bytes, not {size}", content.len());
        }
        if crc32(&content) != crc {
            return Err(NpyError::Crc(what.into(), name, crc, crc32(&content)));
        }
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let array = parse_npy(&content, &format!("{what}['{key}']"))?;
        if out.insert(key, array).is_some() {
            bail!("member '{name}' appears twice");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// CI runs a short fuzz; WGSL_NN_FUZZ_CASES=N runs N cases per target
    /// (millions were run once; see README's reliability section).
    fn fuzz_cases(default: u32) -> u32 {
        std::env::var("WGSL_NN_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    use super::*;
    use proptest::prelude::*;

    macro_rules! fixtures {
        ($($name:literal),*) => {
            [$(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name))
                .as_slice()),*]
        };
    }
    const FIXTURES: [&[u8]; 7] = fixtures!(
        "small.npy",
        "f64_fortran.npy",
        "big_endian_f4.npy",
        "int64.npy",
        "params.npz",
        "params_compressed.npz",
        "zip64.npz"
    );

    fn arange(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    fn array(shape: &[usize], data: Vec<f32>) -> Array {
        let shape = shape.to_vec();
        Array { shape, data }
    }

    /// A .npy with a hand-written header, for dtypes and layouts we never write.
    fn raw_npy(version: u8, header: &str, body: &[u8]) -> Vec<u8> {
        let len = (header.len() as u32).to_le_bytes();
        let len = if version == 1 { &len[..2] } else { &len[..] };
        [MAGIC, &[version, 0], len, header.as_bytes(), body].concat()
    }

    #[test]
    fn round_trip() {
        for shape in [&[][..], &[0], &[1], &[2, 3], &[2, 3, 4, 5]] {
            let data = arange(shape.iter().product());
            let bytes = npy_bytes(shape, &data);
            assert_eq!(bytes.iter().position(|&b| b == b'\n').unwrap() % 64, 63);
            assert_eq!(parse_npy(&bytes, "x").unwrap(), array(shape, data));
        }
        let path = std::env::temp_dir().join(format!("npy_rt_{}.npy", std::process::id()));
        let data = [1.0, -2.0, 3.5, f32::INFINITY];
        write_npy(&path, &[2, 2], &data).unwrap();
        assert_eq!(read_npy(&path).unwrap(), array(&[2, 2], data.to_vec()));
        std::fs::remove_file(&path).unwrap();
        let mismatch = write_npy(&path, &[3], &[1.0]);
        assert!(matches!(mismatch, Err(NpyError::ShapeMismatch(..))));
    }

    #[test]
    fn numpy_fixtures() {
        assert_eq!(
            npy_bytes(&[2, 3], &arange(6)),
            FIXTURES[0],
            "must match np.save"
        );
        let int64 = vec![-2., -1., 0., 1., 2., 3.];
        let npys = [
            (&[2, 3], arange(6)),
            (&[2, 3], arange(6)),
            (&[3, 2], arange(6)),
            (&[2, 3], int64),
        ];
        for (i, (shape, data)) in npys.into_iter().enumerate() {
            assert_eq!(parse_npy(FIXTURES[i], "f").unwrap(), array(shape, data));
        }
        let params = [
            ("0.bias", vec![2]),
            ("0.weight", vec![2, 1, 3, 3]),
            ("2.bias", vec![1]),
            ("2.weight", vec![1, 2, 5, 5]),
        ];
        let zip64 = [("a", vec![2, 3]), ("b", vec![3])];
        for (npz, want) in [
            (FIXTURES[4], &params[..]),
            (FIXTURES[5], &params),
            (FIXTURES[6], &zip64),
        ] {
            let m = parse_npz(npz, "params.npz").unwrap();
            let got: Vec<_> = m
                .iter()
                .map(|(k, a)| (k.as_str(), a.shape.clone()))
                .collect();
            assert_eq!(got, want);
            assert!(m.values().all(|a| a.data == arange(a.data.len())));
        }
    }

    #[test]
    fn dtypes_and_header_variants() {
        let cases: [(&str, &[u8], [f32; 2]); 11] = [
            ("<f2", &[0x00, 0x3c, 0x01, 0x80], [1.0, -(2f32.powi(-24))]),
            ("<f2", &[0x00, 0x7c, 0x00, 0xc0], [f32::INFINITY, -2.0]),
            (
                ">f8",
                &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0],
                [1.5, -2.0],
            ),
            ("|i1", &[0xff, 7], [-1.0, 7.0]),
            ("|u1", &[0xff, 7], [255.0, 7.0]),
            ("<i2", &[0xfe, 0xff, 1, 0], [-2.0, 1.0]),
            ("<u2", &[0xff, 0xff, 1, 0], [65535.0, 1.0]),
            ("<i4", &[0xfd, 0xff, 0xff, 0xff, 1, 0, 0, 0], [-3.0, 1.0]),
            ("<u4", &[0, 0, 0, 0x80, 1, 0, 0, 0], [2147483648.0, 1.0]),
            ("|b1", &[0, 1], [0.0, 1.0]),
            ("=f4", &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40], [1.0, 2.0]),
        ];
        let f = |version: usize, descr: &str, body: &[u8]| {
            // Odd spacing, key order, quotes and Python 2's `2L` are all legal.
            let h =
                format!("{{ \"shape\":(2L ,) ,'descr' : \"{descr}\",'fortran_order':False }}\n");
            parse_npy(&raw_npy(version as u8 % 3 + 1, &h, body), "t").map(|a| a.data)
        };
        for (i, (descr, body, want)) in cases.into_iter().enumerate() {
            assert_eq!(f(i, descr, body).unwrap(), want, "{descr}");
        }
        let scalar = "{'descr': '<f4', 'fortran_order': True, 'shape': (), }";
        let scalar = parse_npy(&raw_npy(1, scalar, &2f32.to_le_bytes()), "s");
        assert_eq!(scalar.unwrap(), array(&[], vec![2.0]));
        let hint = "convert with arr.astype(np.float32)";
        for bad in [
            "<c8",
            "|O",
            "<U10",
            "|f4",
            "[('a', '<f4'), ('b', [('c', '<i4')])]",
        ] {
            let e = f(0, bad, &[0; 16]).unwrap_err().to_string();
            assert_eq!(e, format!("unsupported dtype '{bad}' in t; {hint}"));
        }
    }

    #[test]
    fn error_messages() {
        let e = |b: &[u8], what: &str| parse_npy(b, what).unwrap_err().to_string();
        let hdr = |shape: &str, descr: &str| {
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}}}")
        };
        let x = raw_npy(1, &hdr("(2, 3)", "<f4"), &[0; 20]);
        let truncated =
            "truncated: header says shape (2, 3) of <f4 = 24 bytes of data but the file has 20";
        assert_eq!(e(&x, "x.npy"), format!("x.npy: {truncated}"));
        let x = raw_npy(1, &hdr("(2, 3)", "<f4"), &[0; 28]);
        assert!(e(&x, "x").starts_with("x: trailing bytes after the data: "));
        let magic = "x.npy: not a .npy file (magic bytes missing); save it with np.save";
        assert_eq!(e(b"PK\x03\x04", "x.npy"), magic);
        // Hostile sizes are rejected before anything is allocated for them.
        let huge = e(&raw_npy(1, &hdr("(268435456,)", "<f8"), &[0; 8]), "h");
        assert!(
            huge.starts_with("h: truncated: header says shape (268435456,) of <f8 = 2147483648"),
            "{huge}"
        );
        let big = raw_npy(
            1,
            &hdr("(2,)", "<f8"),
            &[1.0f64.to_le_bytes(), 1e300f64.to_le_bytes()].concat(),
        );
        assert!(e(&big, "b").contains("element 1 is 1e300, beyond float32's range"));
        let over = raw_npy(1, &hdr("(268435457,)", "<u1"), &[]);
        assert!(matches!(parse_npy(&over, "o"), Err(NpyError::TooLarge(..))));
        let over = raw_npy(1, &hdr("(65536, 65536, 1)", "<f4"), &[]);
        assert!(matches!(parse_npy(&over, "o"), Err(NpyError::TooLarge(..))));
        let bad_headers = [
            "{'descr':'<f4','shape':(1,)}",
            "{'descr':'<f4'",
            &hdr("(1,)x", "<f4"),
        ];
        for h in bad_headers {
            assert!(
                e(&raw_npy(1, h, &[0; 4]), "y").starts_with("y: bad .npy header: "),
                "{h}"
            );
        }
        let missing = read_npy(Path::new("/nonexistent/foo.npy"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            "cannot read '/nonexistent/foo.npy': No such file or directory (os error 2)"
        );

        let z = |b: &[u8]| parse_npz(b, "params.npz").unwrap_err().to_string();
        let no_eocd = "not a NumPy .npz (zip) file: no end-of-central-directory record";
        assert_eq!(
            z(FIXTURES[0]),
            format!("params.npz: {no_eocd}; save it with np.savez")
        );
        let cd = |b: &[u8]| b.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        let patched = |i: usize, off: usize, val: &[u8]| {
            let mut b = FIXTURES[i].to_vec();
            let at = cd(&b) + off;
            b[at..at + val.len()].copy_from_slice(val);
            z(&b)
        };
        let bzip2 = "member '0.weight.npy' is compressed with method 12 (bzip2)";
        let save = "save with np.savez or np.savez_compressed";
        assert_eq!(
            patched(5, 10, &[12]),
            format!("params.npz: {bzip2}; {save}")
        );
        let crc = patched(4, 16, &[0]);
        assert!(crc.starts_with("params.npz: CRC mismatch in member '0.weight.npy' (stored "));
        assert!(patched(5, 24, &[0xff; 4]).contains("impossible size"));
        // A bad array inside a valid archive is reported with its key; the
        // first member's .npy starts at 0x3e and is 200 bytes long.
        let mut b = FIXTURES[4].to_vec();
        b[0x3e + 22..0x3e + 24].copy_from_slice(b"c8");
        let (at, crc) = (cd(&b) + 16, crc32(&b[0x3e..0x3e + 200]));
        b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        assert!(z(&b).starts_with("unsupported dtype '<c8' in params.npz['0.weight']; "));
    }

    fn mutate(mut b: Vec<u8>, ops: &[(u8, usize, u8)]) -> Vec<u8> {
        for &(op, pos, val) in ops {
            let i = pos % (b.len() + 1);
            match op % 3 {
                0 if i < b.len() => b[i] ^= val.max(1),
                1 => b.truncate(i),
                _ => b.insert(i, val),
            }
        }
        b
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..max)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(fuzz_cases(2000)))]
        #[test]
        fn arbitrary_bytes_never_panic(b in bytes(600), npy in any::<bool>()) {
            let b = if npy { [MAGIC, &[1, 0], &b].concat() } else { b };
            let _ = parse_npy(&b, "x");
            let _ = parse_npz(&b, "x");
        }

        #[test]
        fn arbitrary_headers_never_panic(
            h in "[ {}()\\[\\]'\":,a-z_<>|=0-9TFL]{0,80}",
            body in bytes(64),
        ) {
            let _ = parse_npy(&raw_npy(1, &h, &body), "x");
        }

        #[test]
        fn mutated_fixtures_never_panic(
            f in 0..FIXTURES.len(),
            ops in prop::collection::vec(any::<(u8, usize, u8)>(), 1..6),
        ) {
            let b = mutate(FIXTURES[f].to_vec(), &ops);
            let _ = parse_npy(&b, "x");
            let _ = parse_npz(&b, "x");
        }
    }
}

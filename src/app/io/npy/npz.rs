//! .npz archives: a zip of .npy members, stored or deflated, every size
//! and checksum checked before it is trusted.

use super::*;

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

pub(super) fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Parses the bytes of a `.npz` archive into its arrays, keyed by member
/// name without the `.npy` suffix. Members may be stored or deflated, with
/// or without ZIP64 records; each is parsed with [`parse_npy`] and named
/// `what['key']` in its errors. Sizes are checked before anything is
/// inflated: at most 1 GiB per member and 2 GiB in all.
///
/// # Errors
///
/// [`NpyError::Zip`] for a damaged or hostile container,
/// [`NpyError::Method`] for an unsupported compression,
/// [`NpyError::Crc`] for a corrupt member, and any error of [`parse_npy`]
/// for a member's contents.
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

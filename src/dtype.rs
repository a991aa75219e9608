//! Element types on the GPU: float32 (the default) and float16 storage.
//!
//! A float16 tensor holds IEEE binary16 values, two per 32-bit word, the
//! first in the low half: the layout of WGSL's `array<f16>` and of
//! `pack2x16float`, so one buffer serves both ways a kernel can read it
//! ([`F16Path`]). Kernels compute in float32 unless a rung says otherwise
//! (`f16acc`); the f64 references then charge float16's own roundings
//! (`cpu::half`).

use crate::error::{Error, Result};

/// The element type of a tensor's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DType {
    /// IEEE binary32, one element per word.
    #[default]
    F32,
    /// IEEE binary16, two elements per word (storage only: kernels
    /// accumulate in float32 unless their rung is `f16acc`).
    F16,
}

impl DType {
    /// Parses `f32`/`float32` or `f16`/`float16`/`half`, as `--dtype` takes it.
    ///
    /// ```
    /// use wgsl_nn::dtype::DType;
    /// assert_eq!(DType::parse("f16").unwrap(), DType::F16);
    /// assert!(DType::parse("bf16").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] naming the accepted values.
    pub fn parse(s: &str) -> Result<DType> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => Ok(DType::F32),
            "f16" | "float16" | "half" => Ok(DType::F16),
            _ => Err(Error::arg(
                "--dtype",
                format!("'{s}' is not a supported element type; use f32 or f16"),
            )),
        }
    }

    /// `f32` or `f16`, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
        }
    }

    /// The storage an op's optional float16 path implies: float16 where a
    /// path is given, float32 where none is.
    ///
    /// ```
    /// use wgsl_nn::dtype::{DType, F16Path};
    /// assert_eq!(DType::stored_for(Some(F16Path::Packed)), DType::F16);
    /// assert_eq!(DType::stored_for(None), DType::F32);
    /// ```
    pub fn stored_for(half: Option<F16Path>) -> DType {
        match half {
            Some(_) => DType::F16,
            None => DType::F32,
        }
    }

    /// Bytes a buffer of `n` elements needs (rounded up to whole words).
    pub fn bytes(self, n: usize) -> u64 {
        match self {
            DType::F32 => 4 * n as u64,
            DType::F16 => 4 * n.div_ceil(2) as u64,
        }
    }
}

/// How a kernel reads float16 storage on this adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum F16Path {
    /// WGSL `f16` (the adapter has `SHADER_F16`): `array<f16>` bindings,
    /// and float16 arithmetic where a rung asks for it.
    Native,
    /// `array<u32>` bindings through `unpack2x16float`/`pack2x16float`
    /// (every adapter; GL llvmpipe has no `SHADER_F16`): float32 arithmetic
    /// only.
    Packed,
}

impl F16Path {
    /// The path for an adapter with or without `SHADER_F16`.
    pub fn for_features(features: wgpu::Features) -> F16Path {
        if features.contains(wgpu::Features::SHADER_F16) {
            F16Path::Native
        } else {
            F16Path::Packed
        }
    }

    /// `native` or `packed`.
    pub fn name(self) -> &'static str {
        match self {
            F16Path::Native => "native f16",
            F16Path::Packed => "packed u32 (pack2x16float)",
        }
    }

    /// Parses `native` or `packed` (`--f16-path`).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] naming the accepted values.
    pub fn parse(s: &str) -> Result<F16Path> {
        match s {
            "native" => Ok(F16Path::Native),
            "packed" => Ok(F16Path::Packed),
            _ => Err(Error::arg(
                "--f16-path",
                format!("'{s}' is not a float16 path; use native or packed"),
            )),
        }
    }
}

/// The largest finite float16, 65504.
pub const F16_MAX: f64 = 65504.0;
/// Float16's unit roundoff, 2^-11: round-to-nearest moves a normal value
/// by at most this much relative.
pub const F16_UNIT: f64 = 1.0 / 2048.0;
/// Half the spacing of float16's subnormals (2^-25): the most a rounding
/// moves a value below 2^-14.
pub const F16_SUBNORMAL_HALF_ULP: f64 = 1.0 / 33_554_432.0;

/// Rounds to the nearest float16 (ties to even, subnormals kept, overflow
/// to infinity), back in f32.
///
/// ```
/// use wgsl_nn::dtype::round_f16;
/// assert_eq!(round_f16(1.0 + 1.0 / 4096.0), 1.0);
/// assert_eq!(round_f16(70000.0), f32::INFINITY);
/// assert_eq!(round_f16(2f32.powi(-24)), 2f32.powi(-24));
/// ```
pub fn round_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// Float16 bits of each value (rounded to nearest), two per word, the
/// first in the low half; an odd count leaves the last high half zero.
pub fn pack_f16(data: &[f32]) -> Vec<u32> {
    data.chunks(2)
        .map(|p| {
            let lo = half::f16::from_f32(p[0]).to_bits();
            let hi = p.get(1).map_or(0, |&v| half::f16::from_f32(v).to_bits());
            u32::from(lo) | (u32::from(hi) << 16)
        })
        .collect()
}

/// The first `n` float16 values of packed words, as f32 (exact).
pub fn unpack_f16(words: &[u32], n: usize) -> Vec<f32> {
    words
        .iter()
        .flat_map(|&w| [w as u16, (w >> 16) as u16])
        .take(n)
        .map(|b| half::f16::from_bits(b).to_f32())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_keeps_the_order_of_array_f16() {
        let v = [1.0, -2.5, 65504.0, 2f32.powi(-24), f32::INFINITY];
        let w = pack_f16(&v);
        assert_eq!(w.len(), 3);
        assert_eq!(
            w[0] & 0xffff,
            0x3c00,
            "the first element sits in the low half"
        );
        assert_eq!(unpack_f16(&w, 5), v);
        assert!(unpack_f16(&pack_f16(&[f32::NAN]), 1)[0].is_nan());
    }

    #[test]
    fn rounding_matches_the_bit_level_definition() {
        // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: to even (1).
        assert_eq!(round_f16(1.0 + 1.0 / 2048.0), 1.0);
        assert_eq!(round_f16(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0);
        assert_eq!(round_f16(65519.0), 65504.0);
        assert_eq!(round_f16(65520.0), f32::INFINITY);
        assert_eq!(round_f16(-3e-8), -(2f32.powi(-24)));
        assert_eq!(DType::F16.bytes(3), 8);
    }
}

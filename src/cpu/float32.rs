//! Float32 dot products computed the ways GPU kernels compute them, and the
//! ways buggy kernels do, so that the verdict can be shown sound (every
//! correct order passes) and sharp (every fault fails) without a GPU:
//! `tests/verdict.rs` and `wgsl-nn selftest --mutants` use them.

/// A summation order a correct float32 kernel may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// One accumulator, k = 0, 1, ... (a tiled matmul's thread).
    Sequential,
    /// k = K - 1 down to 0.
    Reversed,
    /// One accumulator, fused multiply-add.
    Fma,
    /// Sums of 64-wide K tiles, each tile summed on its own, then added.
    Blocked,
    /// K cut into this many contiguous chunks, summed apart, then added
    /// (split-K, or the k-blocks a CPU adapter accumulates in C).
    SplitK(usize),
    /// Pairwise: a balanced tree over the terms.
    Tree,
    /// 64 lanes each summing a strided slice, then a tree over the lanes
    /// (a workgroup reduction).
    Lanes,
    /// The terms in a seeded random order.
    Shuffled(u64),
}

impl Order {
    /// Every order, for sweeps.
    pub const ALL: [Order; 9] = [
        Order::Sequential,
        Order::Reversed,
        Order::Fma,
        Order::Blocked,
        Order::SplitK(4),
        Order::SplitK(16),
        Order::Tree,
        Order::Lanes,
        Order::Shuffled(7),
    ];

    /// A short name for tables.
    pub fn name(&self) -> String {
        match self {
            Order::SplitK(s) => format!("split-K {s}"),
            Order::Shuffled(s) => format!("shuffled (seed {s})"),
            o => format!("{o:?}").to_lowercase(),
        }
    }
}

/// A fault a real kernel makes in a reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Operands rounded to bfloat16 before the product.
    Bf16Operands,
    /// Operands rounded to float16 before the product.
    F16Operands,
    /// The running sum kept in float16.
    F16Accumulate,
    /// Term k = K / 2 left out (an off-by-one in a loop bound, mid-range).
    DropTerm,
    /// The last term left out (a `<` that should be `<=`).
    DropLast,
    /// The last 64-wide K tile left out (a tile count rounded down).
    DropTile,
    /// A quarter of K left out (one split-K slice lost).
    DropQuarter,
}

impl Fault {
    /// Every fault, for sweeps.
    pub const ALL: [Fault; 7] = [
        Fault::Bf16Operands,
        Fault::F16Operands,
        Fault::F16Accumulate,
        Fault::DropTerm,
        Fault::DropLast,
        Fault::DropTile,
        Fault::DropQuarter,
    ];
}

/// Rounds to bfloat16 (nearest, ties to even), back in f32.
pub fn round_bf16(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let b = x.to_bits();
    let lsb = (b >> 16) & 1;
    f32::from_bits(b.wrapping_add(0x7fff + lsb) & 0xffff_0000)
}

/// Rounds to float16 (nearest, ties to even; subnormals kept, overflow to
/// infinity), back in f32.
pub fn round_f16(x: f32) -> f32 {
    crate::dtype::round_f16(x)
}

fn tree(t: &[f32]) -> f32 {
    match t.len() {
        0 => 0.0,
        1 => t[0],
        n => tree(&t[..n / 2]) + tree(&t[n / 2..]),
    }
}

fn seq(t: &[f32]) -> f32 {
    t.iter().fold(0.0f32, |s, &x| s + x)
}

/// sum_k a_k b_k in float32, in `order`.
pub fn dot(a: &[f32], b: &[f32], order: Order) -> f32 {
    let terms = || a.iter().zip(b).map(|(x, y)| x * y);
    match order {
        Order::Sequential => seq(&terms().collect::<Vec<_>>()),
        Order::Reversed => terms().rev().fold(0.0, |s, x| s + x),
        Order::Fma => a.iter().zip(b).fold(0.0f32, |s, (x, y)| x.mul_add(*y, s)),
        Order::Blocked => {
            let t: Vec<f32> = terms().collect();
            t.chunks(64).map(seq).fold(0.0, |s, x| s + x)
        }
        Order::SplitK(parts) => {
            let t: Vec<f32> = terms().collect();
            let per = t.len().div_ceil(parts.max(1)).max(1);
            t.chunks(per).map(seq).fold(0.0, |s, x| s + x)
        }
        Order::Tree => tree(&terms().collect::<Vec<_>>()),
        Order::Lanes => {
            let t: Vec<f32> = terms().collect();
            let lanes: Vec<f32> = (0..64)
                .map(|l| t.iter().skip(l).step_by(64).fold(0.0f32, |s, &x| s + x))
                .collect();
            tree(&lanes)
        }
        Order::Shuffled(seed) => {
            let mut t: Vec<f32> = terms().collect();
            // Fisher-Yates with a small LCG: reproducible, no dependency.
            let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            for i in (1..t.len()).rev() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                t.swap(i, (state >> 33) as usize % (i + 1));
            }
            seq(&t)
        }
    }
}

/// sum_k a_k b_k as a kernel with `fault` computes it (sequential order).
pub fn dot_faulty(a: &[f32], b: &[f32], fault: Fault) -> f32 {
    let k = a.len();
    let keep = |i: usize| match fault {
        Fault::DropTerm => i != k / 2,
        Fault::DropLast => i + 1 != k,
        Fault::DropTile => k < 2 || i < (k - 1) / 64 * 64,
        Fault::DropQuarter => i < k - k / 4,
        _ => true,
    };
    let mut s = 0.0f32;
    for i in (0..k).filter(|&i| keep(i)) {
        s = match fault {
            Fault::Bf16Operands => s + round_bf16(a[i]) * round_bf16(b[i]),
            Fault::F16Operands => s + round_f16(a[i]) * round_f16(b[i]),
            Fault::F16Accumulate => round_f16(s + round_f16(a[i] * b[i])),
            _ => s + a[i] * b[i],
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_roundings_match_known_values() {
        assert_eq!(round_f16(1.0 + 1.0 / 4096.0), 1.0);
        assert_eq!(round_f16(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0);
        assert_eq!(round_f16(65504.0), 65504.0);
        assert_eq!(round_f16(70000.0), f32::INFINITY);
        assert_eq!(round_f16(2.0f32.powi(-24)), 2.0f32.powi(-24));
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        for x in [0.1f32, -3.7, 1e-3, 12345.678] {
            assert_eq!(round_f16(x), half_ref(x), "{x}");
        }
    }

    /// float16 through its bit pattern, the obvious way, for the check above.
    fn half_ref(x: f32) -> f32 {
        let mut best = f32::INFINITY;
        for bits in 0u32..0x7c00 {
            let e = (bits >> 10) as i32;
            let m = (bits & 0x3ff) as f32;
            let v = if e == 0 {
                m * 2.0f32.powi(-24)
            } else {
                (1.0 + m / 1024.0) * 2.0f32.powi(e - 15)
            };
            if (v - x.abs()).abs() < (best - x.abs()).abs() {
                best = v;
            }
        }
        best.copysign(x)
    }
}

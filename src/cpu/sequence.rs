//! Reference residual add (with broadcast) and RoPE, mirroring `ops::add`
//! and `ops::positional`.

use super::RefTensor;

/// x + z, z repeated over x's leading axes.
pub fn add(x: &RefTensor, z: &RefTensor) -> RefTensor {
    let zl = z.val.len();
    RefTensor {
        shape: x.shape.clone(),
        val: x
            .val
            .iter()
            .enumerate()
            .map(|(i, v)| v + z.val[i % zl])
            .collect(),
        err: (0..x.val.len())
            .map(|i| x.err[i] + z.err[i % zl] + x.val[i].abs() + z.val[i % zl].abs())
            .collect(),
    }
}

/// Rotate-half RoPE on [B, T, H*d] with f32 tables [>=T, d/2].
pub fn rope(x: &RefTensor, heads: usize, cos: &[f32], sin: &[f32]) -> RefTensor {
    let t = x.shape[1];
    let positions: Vec<usize> = (0..x.val.len() / x.shape[2]).map(|r| r % t).collect();
    rope_at(x, heads, cos, sin, &positions)
}

/// RoPE where row r (of width H*d) sits at position `positions[r]`.
pub fn rope_at(
    x: &RefTensor,
    heads: usize,
    cos: &[f32],
    sin: &[f32],
    positions: &[usize],
) -> RefTensor {
    let width = *x.shape.last().unwrap_or(&1);
    let d = width / heads;
    let half = d / 2;
    let mut y = x.clone();
    for head_row in 0..x.val.len() / d {
        let pos = positions[head_row / heads];
        let base = head_row * d;
        for q in 0..half {
            let (c, s) = (
                f64::from(cos[pos * half + q]),
                f64::from(sin[pos * half + q]),
            );
            let (i1, i2) = (base + q, base + q + half);
            let (x1, x2) = (x.val[i1], x.val[i2]);
            y.val[i1] = x1 * c - x2 * s;
            y.val[i2] = x2 * c + x1 * s;
            let rounding =
                3.0 * ((x1 * c).abs() + (x2 * s).abs() + (x2 * c).abs() + (x1 * s).abs());
            y.err[i1] = c.abs() * x.err[i1] + s.abs() * x.err[i2] + rounding;
            y.err[i2] = c.abs() * x.err[i2] + s.abs() * x.err[i1] + rounding;
        }
    }
    y
}

/// Four quadrant images [4, C, h, w] as one [1, C, 2h, 2w] (a copy: exact).
pub fn assemble_quadrants(parts: &RefTensor) -> RefTensor {
    let (c, h, w) = (parts.shape[1], parts.shape[2], parts.shape[3]);
    let mut y = RefTensor::zeros(&[1, c, 2 * h, 2 * w]);
    for ch in 0..c {
        for yy in 0..2 * h {
            for xx in 0..2 * w {
                let q = (yy / h) * 2 + xx / w;
                let src = ((q * c + ch) * h + yy % h) * w + xx % w;
                let dst = (ch * 2 * h + yy) * 2 * w + xx;
                y.val[dst] = parts.val[src];
                y.err[dst] = parts.err[src];
            }
        }
    }
    y
}

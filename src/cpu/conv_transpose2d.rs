//! Reference transposed conv2d, written as the scatter it is defined by:
//! every input pixel adds `x * w[ci,co,ky,kx]` at `out[iy*s-p+ky*d, ix*s-p+kx*d]`.
//! (The GPU gathers instead; the two forms meeting is part of the check.)

use super::sum::Acc;
use super::{at4, RefTensor};
use crate::ops::conv_transpose2d::ConvTranspose2d;

/// The reference of `ct` on `x` `[N, Cin, H, W]` with weight `w`
/// `[Cin, Cout, kH, kW]` (`ct.weight_shape()`, PyTorch's layout) and
/// `bias` `[Cout]` when the layer has one; `out` is the output shape
/// `[N, Cout, OH, OW]` from `ct.output_shape` (which accounts for
/// `output_padding`). A fused ReLU (`ct.relu`) is applied after the bias.
/// Slices shorter than their shapes panic.
pub fn conv_transpose2d(
    ct: &ConvTranspose2d,
    x: &RefTensor,
    w: &[f32],
    bias: Option<&[f32]>,
    out: [usize; 4],
) -> RefTensor {
    let [n, cout, oh, ow] = out;
    let (cin, h, wd) = (x.shape[1], x.shape[2], x.shape[3]);
    let [kh, kw] = ct.kernel;
    let ws = [cin, cout, kh, kw];
    let mut y = RefTensor::zeros(&out);
    let bias_of = |o: usize| bias.map_or(0.0, |bv| f64::from(bv[(o / (oh * ow)) % cout]));
    let mut sums: Vec<Acc> = (0..y.val.len())
        .map(|o| Acc::with_offset(bias_of(o)))
        .collect();
    for b in 0..n {
        for ci in 0..cin {
            for iy in 0..h {
                for ix in 0..wd {
                    let xi = at4(&x.shape, b, ci, iy, ix);
                    for co in 0..cout {
                        for ky in 0..kh {
                            let oy = (iy * ct.stride[0] + ky * ct.dilation[0]) as i64
                                - ct.padding[0] as i64;
                            if oy < 0 || oy >= oh as i64 {
                                continue;
                            }
                            for kx in 0..kw {
                                let ox = (ix * ct.stride[1] + kx * ct.dilation[1]) as i64
                                    - ct.padding[1] as i64;
                                if ox < 0 || ox >= ow as i64 {
                                    continue;
                                }
                                let wv = f64::from(w[at4(&ws, ci, co, ky, kx)]);
                                let o = at4(&out, b, co, oy as usize, ox as usize);
                                sums[o].add_product(wv, 0.0, x.val[xi], x.err[xi]);
                            }
                        }
                    }
                }
            }
        }
    }
    for (o, acc) in sums.iter().enumerate() {
        let b = bias_of(o);
        y.val[o] = acc.sum + b;
        // The bias (first or last) and the store: a rounding each.
        y.err[o] = acc.bound() + b.abs() + y.val[o].abs();
    }
    if ct.relu {
        y.relu()
    } else {
        y
    }
}

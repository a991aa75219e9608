//! Reference conv2d: `out[n,co,oy,ox] = bias[co] +
//!   sum over ci, ky, kx of x[n,g0+ci,oy*s-p+ky*d, ox*s-p+kx*d] * w[co,ci,ky,kx]`,
//! ci over the Cin/groups channels of co's group, which starts at g0.
//! Output rows are spread over the cores with rayon (the loops inside stay
//! the obvious ones), so the wide benchmark stack is checked in seconds.

use super::sum::Acc;
use super::{at4, RefTensor};
use crate::ops::conv2d::Conv2d;
use rayon::prelude::*;

/// The reference of `conv` on `x` `[N, Cin, H, W]` with weight `w`
/// `[Cout, Cin/groups, kH, kW]` (`conv.weight_shape()`, row-major as
/// PyTorch stores it) and `bias` `[Cout]` when the layer has one; `out` is
/// the output shape `[N, Cout, OH, OW]` from `conv.output_shape`. A fused ReLU
/// (`conv.relu`) is applied after the bias.
///
/// The shapes are not checked again here: pass the output shape the op
/// computed, and slices at least as long as their shapes (shorter ones
/// panic).
///
/// ```
/// use wgsl_nn::cpu::{conv2d::conv2d, RefTensor};
/// use wgsl_nn::ops::conv2d::Conv2d;
/// let conv = Conv2d::new(1, 1, 3).padding(1).bias(false);
/// let x = RefTensor::from_f32(&[1, 1, 3, 3], &[1.0; 9]);
/// let out = conv.output_shape(&x.shape, "conv")?;
/// let y = conv2d(&conv, &x, &[1.0; 9], None, out);
/// // A 3x3 box sum over zero padding: 4 at the corners, 6 on the edges.
/// assert_eq!(y.val, [4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
pub fn conv2d(
    conv: &Conv2d,
    x: &RefTensor,
    w: &[f32],
    bias: Option<&[f32]>,
    out: [usize; 4],
) -> RefTensor {
    let [_, cout, oh, ow] = out;
    let (cin, h, wd) = (x.shape[1], x.shape[2] as i64, x.shape[3] as i64);
    let win = &conv.window;
    let [kh, kw] = win.kernel;
    let gin = cin / conv.groups.max(1);
    let gout = cout / conv.groups.max(1);
    let ws = [cout, gin, kh, kw];
    let mut y = RefTensor::zeros(&out);
    // One output row (batch, output channel, oy): values and error bounds.
    let row = |index: usize, val: &mut [f64], err: &mut [f64]| {
        let (p, oy) = (index / oh.max(1), index % oh.max(1));
        let (b, co) = (p / cout, p % cout);
        let g0 = co / gout * gin;
        let bias = bias.map_or(0.0, |bv| f64::from(bv[co]));
        for ox in 0..ow {
            let mut acc = Acc::with_offset(bias);
            for ci in 0..gin {
                for ky in 0..kh {
                    let iy = (oy * win.stride[0] + ky * win.dilation[0]) as i64
                        - win.pad_begin[0] as i64;
                    if iy < 0 || iy >= h {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * win.stride[1] + kx * win.dilation[1]) as i64
                            - win.pad_begin[1] as i64;
                        if ix < 0 || ix >= wd {
                            continue;
                        }
                        let xi = at4(&x.shape, b, g0 + ci, iy as usize, ix as usize);
                        let wv = f64::from(w[at4(&ws, co, ci, ky, kx)]);
                        acc.add_product(wv, 0.0, x.val[xi], x.err[xi]);
                    }
                }
            }
            // The bias (first or last) and the store: a rounding each.
            let v = acc.sum + bias;
            val[ox] = v;
            err[ox] = acc.bound() + bias.abs() + v.abs();
        }
    };
    // Rows are independent: spread over the cores (RAYON_NUM_THREADS).
    y.val
        .par_chunks_mut(ow.max(1))
        .zip(y.err.par_chunks_mut(ow.max(1)))
        .enumerate()
        .for_each(|(i, (v, e))| row(i, v, e));
    if conv.relu6 {
        y.relu6()
    } else if conv.relu {
        y.relu()
    } else {
        y
    }
}

//! Reference max and average pooling with PyTorch's semantics.

use super::sum::Acc;
use super::{at4, RefTensor};
use crate::ops::pool2d::{Pool2d, PoolKind};

/// The reference of `pool` on `x` [N, C, H, W]; `out` is the output shape
/// [N, C, OH, OW] from `pool.output_shape`. Max pooling ignores padding and
/// lets a NaN through; average pooling divides by the window's size with
/// padding when `count_include_pad`, else by its in-bounds taps.
pub fn pool2d(pool: &Pool2d, x: &RefTensor, out: [usize; 4]) -> RefTensor {
    let [n, c, oh, ow] = out;
    let (h, w) = (x.shape[2] as i64, x.shape[3] as i64);
    let win = &pool.window;
    let len = n * c * oh * ow;
    let (mut val, mut err) = (vec![0.0; len], vec![0.0; len]);
    for b in 0..n {
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let y0 = (oy * win.stride[0]) as i64 - win.pad_begin[0] as i64;
                    let x0 = (ox * win.stride[1]) as i64 - win.pad_begin[1] as i64;
                    let o = at4(&out, b, ch, oy, ox);
                    match pool.kind {
                        PoolKind::Max => {
                            let (mut m, mut e) = (f64::NEG_INFINITY, 0.0f64);
                            for ky in 0..win.kernel[0] {
                                for kx in 0..win.kernel[1] {
                                    let iy = y0 + (ky * win.dilation[0]) as i64;
                                    let ix = x0 + (kx * win.dilation[1]) as i64;
                                    if iy < 0 || iy >= h || ix < 0 || ix >= w {
                                        continue;
                                    }
                                    let i = at4(&x.shape, b, ch, iy as usize, ix as usize);
                                    if x.val[i] > m || x.val[i].is_nan() {
                                        m = x.val[i];
                                    }
                                    e = e.max(x.err[i]);
                                }
                            }
                            val[o] = m;
                            err[o] = e;
                        }
                        PoolKind::Avg => {
                            let y1 = (y0 + win.kernel[0] as i64).min(h + win.pad_begin[0] as i64);
                            let x1 = (x0 + win.kernel[1] as i64).min(w + win.pad_begin[1] as i64);
                            let padded = (y1 - y0) * (x1 - x0);
                            let (ya, xa, yb, xb) = (y0.max(0), x0.max(0), y1.min(h), x1.min(w));
                            let mut sum = Acc::new();
                            for iy in ya..yb {
                                for ix in xa..xb {
                                    let i = at4(&x.shape, b, ch, iy as usize, ix as usize);
                                    sum.add_carrying(x.val[i], 1.0, x.err[i]);
                                }
                            }
                            let count = if pool.count_include_pad {
                                padded
                            } else {
                                (yb - ya) * (xb - xa)
                            };
                            val[o] = sum.sum / count as f64;
                            // The sum, then the division and the store.
                            err[o] = sum.bound() / count as f64 + 2.0 * val[o].abs();
                        }
                    }
                }
            }
        }
    }
    RefTensor {
        shape: out.to_vec(),
        val,
        err,
    }
}

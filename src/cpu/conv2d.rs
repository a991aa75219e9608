//! Reference conv2d: out[n,co,oy,ox] = bias[co] +
//!   sum over ci, ky, kx of x[n,g0+ci,oy*s-p+ky*d, ox*s-p+kx*d] * w[co,ci,ky,kx],
//! ci over the Cin/groups channels of co's group, which starts at g0.
//! Output planes are spread over the cores (the loops inside stay the
//! obvious ones), so the wide benchmark stack is checked in seconds.

use super::sum::Acc;
use super::{at4, RefTensor};
use crate::ops::conv2d::Conv2d;

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
    let plane_len = oh * ow;
    // One (batch, output channel) plane: values and error bounds.
    let plane = |p: usize, val: &mut [f64], err: &mut [f64]| {
        let (b, co) = (p / cout, p % cout);
        let g0 = co / gout * gin;
        let bias = bias.map_or(0.0, |bv| f64::from(bv[co]));
        for oy in 0..oh {
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
                val[oy * ow + ox] = v;
                err[oy * ow + ox] = acc.bound() + bias.abs() + v.abs();
            }
        }
    };
    let planes = y.val.len() / plane_len.max(1);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(planes.max(1));
    let per = planes.div_ceil(threads.max(1)).max(1) * plane_len.max(1);
    std::thread::scope(|s| {
        for (t, (vals, errs)) in y.val.chunks_mut(per).zip(y.err.chunks_mut(per)).enumerate() {
            let plane = &plane;
            s.spawn(move || {
                for (i, (v, e)) in vals
                    .chunks_mut(plane_len)
                    .zip(errs.chunks_mut(plane_len))
                    .enumerate()
                {
                    plane(t * per / plane_len + i, v, e);
                }
            });
        }
    });
    if conv.relu {
        y.relu()
    } else {
        y
    }
}

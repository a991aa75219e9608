//! Convolution arithmetic by formula: output size, receptive field, jump
//! (effective stride) and start (centre of the first output's field, in
//! input pixel coordinates), per axis, for any stack of sliding windows.

use crate::error::{Error, Result};
use serde::Serialize;

/// A sliding window as conv and pooling layers share it, with padding
/// already resolved to pixels (begin = top/left, end = bottom/right).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Taps per axis, `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Input pixels between consecutive windows, `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding before the first pixel, `[top, left]`.
    pub pad_begin: [usize; 2],
    /// Zero padding after the last pixel, `[bottom, right]`.
    pub pad_end: [usize; 2],
    /// Input pixels between consecutive taps, `[dh, dw]` (1: adjacent).
    pub dilation: [usize; 2],
    /// PyTorch's ceil_mode for pooling; always false for conv.
    pub ceil_mode: bool,
}

impl Window {
    /// A square `k` x `k` window with PyTorch's defaults: stride 1, no
    /// padding, dilation 1, floor mode.
    ///
    /// ```
    /// let w = wgsl_nn::geometry::Window::square(3);
    /// assert_eq!((w.kernel, w.stride, w.pad_begin), ([3, 3], [1, 1], [0, 0]));
    /// ```
    pub fn square(k: usize) -> Window {
        Window {
            kernel: [k, k],
            stride: [1, 1],
            pad_begin: [0, 0],
            pad_end: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }

    /// Kernel extent once dilation spreads its taps.
    pub fn effective_kernel(&self, axis: usize) -> usize {
        self.dilation[axis] * (self.kernel[axis] - 1) + 1
    }

    /// Output height and width for an input of `input` pixels, or an error
    /// naming `layer` when the window does not fit.
    ///
    /// PyTorch's formula, floor((in + pads - effective kernel) / stride) + 1,
    /// or its ceil-mode variant, in which the last window must still start
    /// inside the input or its leading padding.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when a kernel, stride or dilation is 0, or when the
    /// dilated kernel is larger than the padded input.
    ///
    /// ```
    /// use wgsl_nn::geometry::Window;
    /// let mut w = Window::square(3);
    /// w.stride = [2, 2];
    /// assert_eq!(w.output_size([128, 128], "layer 1").unwrap(), [63, 63]);
    /// assert!(Window::square(5).output_size([4, 4], "layer 1").is_err());
    /// ```
    pub fn output_size(&self, input: [usize; 2], layer: &str) -> Result<[usize; 2]> {
        let mut out = [0; 2];
        for axis in 0..2 {
            let name = ["height", "width"][axis];
            if self.kernel[axis] == 0 || self.stride[axis] == 0 || self.dilation[axis] == 0 {
                return Err(Error::shape(
                    layer,
                    "kernel, stride and dilation must be at least 1",
                ));
            }
            let eff = self.effective_kernel(axis);
            let padded = input[axis] + self.pad_begin[axis] + self.pad_end[axis];
            let s = self.stride[axis];
            // PyTorch's pooling_output_shape, signed: in ceil mode a window
            // may hang past the padded end (a 2-wide max pool with stride 3
            // on 2 pixels still gives one output).
            let num = padded as i64 - eff as i64 + if self.ceil_mode { s as i64 - 1 } else { 0 };
            let mut o = num.div_euclid(s as i64) + 1;
            // In ceil mode the last window must start inside the input or
            // its leading padding.
            if self.ceil_mode
                && o >= 1
                && (o - 1) * s as i64 >= (input[axis] + self.pad_begin[axis]) as i64
            {
                o -= 1;
            }
            if o < 1 {
                return Err(Error::shape(
                    layer,
                    format!(
                        "kernel {name} {eff} (with dilation) is larger than the padded input {name} {padded} ({} + padding {} + {}); use a smaller kernel, more padding or a larger input",
                        input[axis], self.pad_begin[axis], self.pad_end[axis]
                    ),
                ));
            }
            let o = o as usize;
            out[axis] = o;
        }
        Ok(out)
    }
}

/// What the formulas say about one layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LayerGeometry {
    /// The layer's output `[height, width]`.
    pub output_hw: [usize; 2],
    /// `[height, width]` of the input region one output sees, by formula
    /// (padding counted, so it may reach past the input's border).
    pub receptive_field: [usize; 2],
    /// Input pixels between adjacent outputs, `[rows, cols]`: the product
    /// of the strides so far.
    pub jump: [usize; 2],
    /// Centre of output (0, 0)'s field in input coordinates (may be x.5).
    pub start: [f64; 2],
    /// First input pixel in output (0, 0)'s field (negative = in padding).
    pub first_pixel: [i64; 2],
}

/// Geometry after every layer of a stack of windows; element-wise layers
/// (ReLU) are simply not windows and do not appear.
///
/// Each window comes with the name its errors use; `input_hw` is the
/// input's `[height, width]`. The result has one entry per window.
///
/// # Errors
///
/// [`Error::Shape`] naming the first window that does not fit its input
/// (see [`Window::output_size`]).
///
/// ```
/// use wgsl_nn::geometry::{stack_geometry, Window};
/// let mut down = Window::square(3);
/// down.stride = [2, 2];
/// let layers = [("layer 1".to_string(), down), ("layer 2".to_string(), Window::square(3))];
/// let g = stack_geometry(&layers, [32, 32])?;
/// assert_eq!(g[1].output_hw, [13, 13]);
/// assert_eq!(g[1].receptive_field, [7, 7]);
/// assert_eq!(g[1].jump, [2, 2]);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
pub fn stack_geometry(
    windows: &[(String, Window)],
    input_hw: [usize; 2],
) -> Result<Vec<LayerGeometry>> {
    let mut hw = input_hw;
    let mut rf = [1usize; 2];
    let mut jump = [1usize; 2];
    let mut start = [0.0f64; 2];
    let mut first = [0i64; 2];
    let mut out = Vec::with_capacity(windows.len());
    for (name, w) in windows {
        hw = w.output_size(hw, name)?;
        for a in 0..2 {
            let eff = w.effective_kernel(a);
            // Each new tap spans `eff - 1` positions of the previous layer,
            // which are `jump` input pixels apart.
            rf[a] += (eff - 1) * jump[a];
            start[a] += ((eff - 1) as f64 / 2.0 - w.pad_begin[a] as f64) * jump[a] as f64;
            first[a] -= (w.pad_begin[a] * jump[a]) as i64;
            jump[a] *= w.stride[a];
        }
        out.push(LayerGeometry {
            output_hw: hw,
            receptive_field: rf,
            jump,
            start,
            first_pixel: first,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(k: usize, s: usize, p: usize) -> Window {
        Window {
            kernel: [k; 2],
            stride: [s; 2],
            pad_begin: [p; 2],
            pad_end: [p; 2],
            dilation: [1; 2],
            ceil_mode: false,
        }
    }

    #[test]
    fn the_exercise_stack_gives_30_and_23() {
        let layers: Vec<_> = [conv(3, 2, 0), conv(5, 1, 2), conv(3, 1, 1), conv(5, 2, 0)]
            .into_iter()
            .enumerate()
            .map(|(i, w)| (format!("layer {}", i + 1), w))
            .collect();
        let g = stack_geometry(&layers, [128, 128]).unwrap();
        let sizes: Vec<_> = g.iter().map(|l| l.output_hw[0]).collect();
        let rfs: Vec<_> = g.iter().map(|l| l.receptive_field[0]).collect();
        let jumps: Vec<_> = g.iter().map(|l| l.jump[0]).collect();
        assert_eq!(sizes, [63, 63, 63, 30]);
        assert_eq!(rfs, [3, 11, 15, 23]);
        assert_eq!(jumps, [2, 2, 2, 4]);
        // The first output's field starts at input pixel 0 (no net padding
        // in front of it: -0 -2*2 -1*2 -0 = -6 ... counted per layer).
        assert_eq!(g[3].first_pixel, [-6, -6]);
        assert_eq!(g[3].start, [5.0, 5.0]);
    }

    #[test]
    fn ceil_mode_follows_pytorch() {
        let mut w = conv(2, 2, 0);
        w.ceil_mode = true;
        assert_eq!(w.output_size([5, 5], "l").unwrap(), [3, 3]);
        w.ceil_mode = false;
        assert_eq!(w.output_size([5, 5], "l").unwrap(), [2, 2]);
        // The window that would start in the trailing padding is dropped.
        let mut w = conv(2, 2, 1);
        w.ceil_mode = true;
        assert_eq!(w.output_size([5, 5], "l").unwrap(), [3, 3]);
        let mut w = conv(3, 2, 1);
        w.ceil_mode = true;
        assert_eq!(w.output_size([4, 4], "l").unwrap(), [3, 3]);
    }

    #[test]
    fn a_kernel_larger_than_the_padded_input_is_an_error() {
        let e = conv(7, 1, 1)
            .output_size([4, 4], "layer 2 conv(k=7)")
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("layer 2") && msg.contains("larger than the padded input"),
            "{msg}"
        );
    }
}

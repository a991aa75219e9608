//! The receptive field measured on the GPU, not just by formula.
//!
//! Method: the set of input pixels that influence an output neuron is the
//! support of that neuron's gradient with respect to the input. We run the
//! stack's adjoint on the GPU: a one-hot at the centre output neuron goes
//! back through a transposed convolution per sliding-window layer (conv and
//! pooling alike), each with a single channel and a kernel of positive
//! weights 1/(kH*kW). With positive weights nothing cancels, so a pixel is
//! in the field exactly when the result there is > 0; with all channels
//! connected, one channel has the same spatial support as many. Max
//! pooling's real influence depends on the data (only the winner passes a
//! gradient), so each pooling window is treated by its whole support, the
//! largest set it can draw from. ReLU passes a positive probe unchanged.
//! The map itself is the "effective receptive field" of an averaging
//! network (Luo et al., 2016), which is what the heat map shows.

use crate::error::Result;
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::ConvStack;
use crate::ops::conv_transpose2d::{forward_to, ConvTranspose2d};
use crate::ops::elementwise::{map_forward, POSITIVE_MASK};
use crate::tensor::Tensor;
use serde::Serialize;

/// What the GPU probe ([`measure`]) found for one output neuron, beside
/// what the formulas say and what an exact CPU propagation says it must
/// find. Pixel coordinates are `[row, col]` in the stack's input; boxes are
/// inclusive.
#[derive(Debug, Clone, Serialize)]
pub struct MeasuredField {
    /// Output neuron probed: (row, col) of the final response map.
    pub neuron: [usize; 2],
    /// Formula: the field's extent (height, width).
    pub analytic: [usize; 2],
    /// Formula: first and last input pixel of the probed neuron's field per
    /// axis ([row_first, col_first], [row_last, col_last]); may lie outside
    /// the input, which is what `clipped` says.
    pub analytic_first: [i64; 2],
    /// Formula: last input pixel of the field, `[row_last, col_last]`
    /// (see `analytic_first`).
    pub analytic_last: [i64; 2],
    /// GPU: bounding box of the pixels with influence > 0.
    pub measured: [usize; 2],
    /// GPU: the box's first pixel; `[0, 0]` when no pixel has influence.
    pub measured_first: [usize; 2],
    /// GPU: the box's last pixel; `[0, 0]` when no pixel has influence.
    pub measured_last: [usize; 2],
    /// GPU: how many pixels have influence (fewer than the box when
    /// dilation or a stride larger than the kernel leaves holes).
    pub influencing_pixels: usize,
    /// The analytic field does not fit inside the input, so the measured
    /// one is cut at the border (and by any padding it runs into on the way).
    pub clipped: bool,
    /// Exact support on the CPU: the bounding box and pixel count that the
    /// GPU must find, propagated layer by layer through each window's taps
    /// and cut to every layer's real extent. Equals the analytic box when
    /// nothing is clipped.
    pub expected_first: [usize; 2],
    /// Exact support: the box's last pixel (see `expected_first`).
    pub expected_last: [usize; 2],
    /// Exact support: how many pixels influence the neuron.
    pub expected_pixels: usize,
    /// Measured box and pixel count equal the exact support (and the
    /// analytic box, when not clipped).
    pub agrees: bool,
    /// How the field was measured, in words, for reports.
    pub method: String,
    /// The influence map the GPU computed over the input, row-major
    /// `map_hw`: > 0 exactly where a pixel reaches the probed neuron (the
    /// heat map draws it). Not serialized.
    #[serde(skip)]
    pub map: Vec<f32>,
    /// `[height, width]` of `map`: the stack's input size. Not serialized.
    #[serde(skip)]
    pub map_hw: [usize; 2],
}

/// Above this many decades of shrinkage the averaged map could underflow
/// f32, so the probe re-binarises after every layer instead.
const MAX_DECADES: f64 = 30.0;

/// Measures the receptive field of `stack`'s centre output neuron (row
/// `(OH - 1) / 2`, column `(OW - 1) / 2` of the final response map) on the
/// GPU, by the adjoint probe the module describes, and sets it beside the
/// formula and the exact support. Only the layers' windows matter, not
/// their weights or channel counts.
///
/// # Errors
///
/// The stack's geometry errors ([`crate::Error::Shape`]) and any GPU error
/// from uploading, running or reading back the probe.
///
/// ```no_run
/// use wgsl_nn::{gpu::{AdapterChoice, Gpu}, models::conv_stack::ConvStack, receptive, spec};
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let stack = ConvStack::new(&spec::parse_stack(spec::EXERCISE_STACK)?, [1, 1, 128, 128])?;
/// let field = receptive::measure(&gpu, &stack)?;
/// assert_eq!(field.analytic, [23, 23]);
/// assert!(field.agrees);
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
pub fn measure(gpu: &Gpu, stack: &ConvStack) -> Result<MeasuredField> {
    let geometry = stack.geometry()?;
    let out = stack.output_shape();
    let (oh, ow) = (out[2], out[3]);
    let neuron = [(oh - 1) / 2, (ow - 1) / 2];
    let mut onehot = vec![0.0f32; oh * ow];
    onehot[neuron[0] * ow + neuron[1]] = 1.0;
    let mut plan = Plan::new();
    let mut cur = Tensor::upload(gpu, "receptive-field probe", &[1, 1, oh, ow], &onehot)?;
    let layers: Vec<_> = stack
        .layers
        .iter()
        .filter(|l| l.window().is_some())
        .collect();
    let decades: f64 = layers
        .iter()
        .filter_map(|l| l.window())
        .map(|w| ((w.kernel[0] * w.kernel[1]) as f64).log10())
        .sum();
    let binarise = decades > MAX_DECADES;
    for l in layers.iter().rev() {
        let Some(w) = l.window() else { continue };
        let ct = ConvTranspose2d {
            in_channels: 1,
            out_channels: 1,
            kernel: w.kernel,
            stride: w.stride,
            padding: w.pad_begin,
            output_padding: [0, 0],
            dilation: w.dilation,
            bias: false,
            relu: false,
        };
        let k = (w.kernel[0] * w.kernel[1]) as f32;
        let weight = Tensor::upload(
            gpu,
            "probe kernel",
            &ct.weight_shape(),
            &vec![1.0 / k; k as usize],
        )?;
        let label = format!("adjoint of {}", l.name);
        let target = [1, 1, l.in_shape[2], l.in_shape[3]];
        cur = forward_to(gpu, &mut plan, &label, &ct, &cur, &weight, None, target)?;
        if binarise {
            cur = map_forward(
                gpu,
                &mut plan,
                &format!("mask after {}", l.name),
                POSITIVE_MASK,
                &cur,
            )?;
        }
    }
    gpu.run(&plan)?;
    let map = cur.download(gpu)?;
    let (h, w) = (stack.input_shape[2], stack.input_shape[3]);

    let (mut first, mut last, mut count) = ([usize::MAX; 2], [0usize; 2], 0);
    for (i, &v) in map.iter().enumerate() {
        if v > 0.0 {
            let (y, x) = (i / w, i % w);
            first = [first[0].min(y), first[1].min(x)];
            last = [last[0].max(y), last[1].max(x)];
            count += 1;
        }
    }
    let measured = if count == 0 {
        [0, 0]
    } else {
        [last[0] - first[0] + 1, last[1] - first[1] + 1]
    };
    let g = geometry.last().copied();
    let analytic = g.map(|g| g.receptive_field).unwrap_or([1, 1]);
    let (mut a_first, mut a_last) = ([0i64; 2], [0i64; 2]);
    for a in 0..2 {
        let (fp, jump) = g.map(|g| (g.first_pixel[a], g.jump[a])).unwrap_or((0, 1));
        a_first[a] = fp + (neuron[a] * jump) as i64;
        a_last[a] = a_first[a] + analytic[a] as i64 - 1;
    }
    let dims = [h as i64, w as i64];
    let clipped = (0..2).any(|a| a_first[a] < 0 || a_last[a] >= dims[a]);
    let windows: Vec<_> = layers
        .iter()
        .filter_map(|l| Some((l.window()?, [l.in_shape[2], l.in_shape[3]])))
        .collect();
    let support = [0, 1].map(|a| axis_support(&windows, a, [oh, ow][a], neuron[a]));
    let expected_pixels = support[0].len() * support[1].len();
    let expected_first = support.each_ref().map(|s| s.first().copied().unwrap_or(0));
    let expected_last = support.each_ref().map(|s| s.last().copied().unwrap_or(0));
    // A neuron whose windows all lie in padding sees no pixel at all; then
    // the GPU must find none either.
    let agrees = count == expected_pixels
        && (count == 0
            || first == expected_first
                && last == expected_last
                && (clipped
                    || (0..2)
                        .all(|a| first[a] as i64 == a_first[a] && last[a] as i64 == a_last[a])));
    let method = format!(
        "gradient support on the GPU: one-hot at output neuron ({}, {}) sent back through {} transposed \
         convolutions with positive 1/(kH*kW) kernels{}; pooling windows counted by their full support",
        neuron[0],
        neuron[1],
        layers.len(),
        if binarise { ", re-binarised after each layer to avoid underflow" } else { "" }
    );
    Ok(MeasuredField {
        neuron,
        analytic,
        analytic_first: a_first,
        analytic_last: a_last,
        measured,
        measured_first: if count == 0 { [0, 0] } else { first },
        measured_last: last,
        influencing_pixels: count,
        clipped,
        expected_first,
        expected_last,
        expected_pixels,
        agrees,
        method,
        map,
        map_hw: [h, w],
    })
}

/// Input positions along one axis that reach output position `at`, in
/// ascending order. A window tap lands on `o * stride + j * dilation -
/// pad_begin`; taps in the padding (either end) reach nothing. Because every
/// kernel is a full rectangle of positive taps, the 2-D support is the
/// product of the row and column supports.
fn axis_support(
    windows: &[(crate::geometry::Window, [usize; 2])],
    axis: usize,
    out_len: usize,
    at: usize,
) -> Vec<usize> {
    let mut set = vec![false; out_len];
    if let Some(s) = set.get_mut(at) {
        *s = true;
    }
    for (w, in_hw) in windows.iter().rev() {
        let mut next = vec![false; in_hw[axis]];
        for o in set.iter().enumerate().filter(|(_, &on)| on).map(|(o, _)| o) {
            for j in 0..w.kernel[axis] {
                let i = (o * w.stride[axis] + j * w.dilation[axis]).checked_sub(w.pad_begin[axis]);
                if let Some(v) = i.and_then(|i| next.get_mut(i)) {
                    *v = true;
                }
            }
        }
        set = next;
    }
    set.iter()
        .enumerate()
        .filter(|(_, &on)| on)
        .map(|(i, _)| i)
        .collect()
}

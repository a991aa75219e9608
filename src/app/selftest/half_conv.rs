//! `selftest --dtype f16`: float16 convolutions (the direct kernel, the
//! implicit GEMM and the texture rung) against the f64 reference with float16's store charged;
//! their faults are planted by `half::Fault` (each fault's `conv_case`).

use super::half_rung::{expect_rung, label_tail, plan_for, HalfRung};
use crate::check::{compare_f16, Check};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::RefTensor;
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::conv2d::half::conv2d_f16_forward;
use crate::ops::conv2d::Conv2d;
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// One float16 convolution to check.
#[derive(Debug, Clone)]
pub struct ConvCase {
    /// The layer (window, groups, bias, ReLU).
    pub conv: Conv2d,
    /// Its NCHW input shape.
    pub input: [usize; 4],
    /// Inputs uniform in [-scale, scale) before rounding to float16.
    pub scale: f32,
    /// Weights (and bias) uniform in [-weight_scale, weight_scale).
    pub weight_scale: f32,
    /// The rung it is forced onto.
    pub rung: HalfRung,
}

impl ConvCase {
    pub(super) fn new(conv: Conv2d, input: [usize; 4], scale: f32) -> ConvCase {
        ConvCase {
            conv,
            input,
            scale,
            weight_scale: 1.0,
            rung: HalfRung::Buffer,
        }
    }

    /// The layer and input in words, for tables.
    pub fn label(&self) -> String {
        let c = &self.conv;
        let w = &c.window;
        let mut s = format!(
            "conv {:?} {}->{} k{:?} s{:?} p{:?} d{:?}",
            self.input, c.in_channels, c.out_channels, w.kernel, w.stride, w.pad_begin, w.dilation
        );
        if c.groups > 1 {
            s.push_str(&format!(" g{}", c.groups));
        }
        label_tail(
            &mut s,
            &[(c.bias, " +bias"), (c.relu, " relu")],
            self.scale,
            self.rung,
        );
        s
    }
}

/// Convolutions: 1x1 and 1-channel edges, padding, stride, dilation,
/// groups (depthwise too), bias and ReLU, odd output counts, and outputs
/// in float16's subnormal range.
pub fn conv_cases() -> Vec<ConvCase> {
    vec![
        ConvCase::new(Conv2d::new(1, 1, 1), [1, 1, 1, 1], 1.0),
        ConvCase::new(Conv2d::new(3, 5, 3).padding(1), [2, 3, 9, 7], 1.0),
        ConvCase::new(
            Conv2d::new(4, 6, 3).stride(2).dilation(2).relu(true),
            [1, 4, 13, 11],
            1.0,
        ),
        ConvCase::new(Conv2d::new(6, 6, 3).groups(6).padding(1), [1, 6, 8, 8], 1.0),
        ConvCase::new(
            Conv2d::new(8, 4, 5).groups(2).padding(2).bias(false),
            [1, 8, 9, 9],
            1.0,
        ),
        tiny_conv(),
    ]
}

/// [`conv_cases`] on the direct kernel, their ungrouped ones (K =
/// Cin*kh*kw of 1, 27, 100, 36: padded weights) and a batch of 3 images
/// whose input rows are not whole texels also on the implicit GEMM (odd
/// and even pixel counts: rows starting mid-word, channel counts not a
/// multiple of 4) and, on an adapter with subgroups, the texture rung.
pub fn conv_cases_on(gpu: &Gpu) -> Vec<ConvCase> {
    let mut v = conv_cases();
    let mut ungrouped: Vec<ConvCase> = v.iter().filter(|c| c.conv.groups == 1).cloned().collect();
    ungrouped.push(ConvCase::new(
        Conv2d::new(7, 9, 3).padding(1).relu(true),
        [3, 7, 11, 5],
        1.0,
    ));
    let mut rungs = vec![HalfRung::Igemm];
    if gpu.features.contains(wgpu::Features::SUBGROUP) {
        rungs.push(HalfRung::Tex);
    }
    for rung in rungs {
        v.extend(ungrouped.iter().map(|c| ConvCase { rung, ..c.clone() }));
    }
    v
}

/// Inputs and weights near 2^-10: products near 2^-20, outputs below
/// float16's smallest normal, 2^-14.
fn tiny_conv() -> ConvCase {
    let mut c = ConvCase::new(
        Conv2d::new(4, 5, 3).padding(1).bias(false),
        [1, 4, 7, 7],
        1.0 / 1024.0,
    );
    c.weight_scale = 1.0 / 1024.0;
    c
}

/// Runs one conv case on `path`, checked against the reference, seeded.
///
/// # Errors
///
/// Device and shape errors of the run.
pub fn run_conv_case(gpu: &Gpu, case: &ConvCase, path: F16Path, seed: u64) -> Result<Check> {
    let conv = &case.conv;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |n: usize, s: f32| -> Vec<f32> {
        as_f16(
            &(0..n)
                .map(|_| rng.random_range(-s..s))
                .collect::<Vec<f32>>(),
        )
    };
    let ws = conv.weight_shape();
    let x = draw(case.input.iter().product(), case.scale);
    let w = draw(ws.iter().product(), case.weight_scale);
    let b = draw(conv.out_channels, case.weight_scale);
    let out = conv.output_shape(&case.input, "f16 conv")?;
    let tx = Tensor::upload_f16(gpu, "x", &case.input, &x)?;
    let tw = Tensor::upload_f16(gpu, "weight", &ws, &w)?;
    let tb = Tensor::upload_f16(gpu, "bias", &[conv.out_channels], &b)?;
    let mut plan = plan_for(case.rung);
    let y = conv2d_f16_forward(
        gpu,
        &mut plan,
        "f16 conv",
        conv,
        &tx,
        &tw,
        conv.bias.then_some(&tb),
        path,
    )?;
    expect_rung(&plan, case.rung, &case.label())?;
    gpu.run(&plan)?;
    let got = y.download(gpu)?;
    let reference = crate::cpu::conv2d::conv2d(
        conv,
        &RefTensor::from_f32(&case.input, &x),
        &w,
        conv.bias.then_some(&b[..]),
        out,
    );
    Ok(compare_f16(&got, &stored_f16(reference)))
}

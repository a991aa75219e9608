//! The exercise's question 3, answered by computation: 128x128x1 through
//! the four convolutions gives 30x30x1, and the centre neuron's receptive
//! field, measured on the GPU, is 23x23, as the formula says.

mod common;
use common::*;
use wgsl_nn::app::jobs::conv::{self as conv_job, ConvJob};
use wgsl_nn::gpu::Plan;
use wgsl_nn::models::conv_stack::ConvStack;
use wgsl_nn::receptive::measure;
use wgsl_nn::spec::parse_stack;

#[test]
fn the_exercise_stack_gives_30x30_and_a_measured_field_of_23() {
    let r = conv_job::run(gpu(), &ConvJob::default()).expect("the exercise runs");
    assert_eq!(r.stack.output_shape(), [1, 1, 30, 30]);
    assert_eq!(r.output.len(), 900);
    assert!(r.check.passed, "{}", r.check.summary());
    assert_eq!(r.field.analytic, [23, 23]);
    assert_eq!(r.field.measured, [23, 23]);
    assert_eq!(r.field.influencing_pixels, 23 * 23);
    assert!(r.field.agrees && !r.field.clipped);
    let rfs: Vec<_> = r.geometry.iter().map(|g| g.receptive_field[0]).collect();
    assert_eq!(rfs, [3, 11, 15, 23]);
}

fn field(layers: &str, hw: [usize; 2]) -> wgsl_nn::receptive::MeasuredField {
    let stack = ConvStack::new(&parse_stack(layers).unwrap(), [1, 1, hw[0], hw[1]]).unwrap();
    measure(gpu(), &stack).unwrap()
}

#[test]
fn measured_fields_agree_with_the_formula_on_other_stacks() {
    for (layers, hw, want) in [
        (
            "conv(k=3) maxpool(k=2) conv(k=3) maxpool(k=2)",
            [64, 64],
            [10, 10],
        ),
        ("conv(k=3,d=2) conv(k=3,d=4)", [40, 40], [13, 13]),
        (
            "conv(k=3x5,s=2x1) avgpool(k=3,s=1,p=1) relu conv(k=1)",
            [33, 29],
            [7, 7],
        ),
        ("conv(k=4,p=same) conv(k=2,p=same)", [16, 16], [5, 5]),
        ("relu", [5, 5], [1, 1]),
    ] {
        let f = field(layers, hw);
        assert_eq!(f.analytic, want, "{layers}: formula");
        assert_eq!(f.measured, want, "{layers}: measured");
        assert!(f.agrees && !f.clipped, "{layers}: {f:?}");
    }
}

#[test]
fn holes_are_counted_and_clipping_is_reported() {
    // Stride larger than the kernel: the field's box has gaps.
    let f = field("conv(k=2,s=3) conv(k=2)", [20, 20]);
    assert_eq!(f.measured, [5, 5]);
    assert_eq!(f.influencing_pixels, 16);
    assert!(f.agrees);
    // An input too small for the field: the report must say so.
    let f = field("conv(k=7,p=3) conv(k=7,p=3) conv(k=7,p=3)", [9, 9]);
    assert_eq!(f.analytic, [19, 19]);
    assert!(f.clipped && f.agrees && f.measured == [9, 9], "{f:?}");
}

/// Fields that run into padding or past the input, with holes from
/// dilation and stride, against brute force: a pulse at each input pixel
/// through the f64 forward pass with positive weights and no bias (so
/// nothing cancels and max pooling passes the pulse on). The GPU probe's
/// support, and the exact support `measure` compares it with, must be
/// exactly the pixels that move the centre neuron. The first three stacks
/// once failed the old check, which cut the formula's box at the input only.
#[test]
fn clipped_fields_match_pulses_through_the_reference() {
    for (layers, hw) in [
        (
            "conv(k=(2,5),p=(0,1)) conv(k=4,p=(1,2),d=(1,2)) conv(k=(4,2),s=(1,2),p=2)",
            [9, 5],
        ),
        ("maxpool(k=4,s=2) conv(k=1) maxpool(k=3,s=1,p=1)", [5, 9]),
        (
            "conv(k=(4,3),s=2,p=(2,0)) maxpool(k=3,s=3,p=1,d=2)",
            [28, 15],
        ),
        (
            "conv(k=3,d=3,p=4) avgpool(k=2,s=3,p=1,ceil_mode=true)",
            [11, 7],
        ),
        ("conv(k=2,s=3) conv(k=2)", [20, 20]),
    ] {
        let specs = parse_stack(layers).unwrap();
        let mut stack = ConvStack::new(&specs, [1, 1, hw[0], hw[1]]).unwrap();
        stack.randomize(3);
        for l in &mut stack.layers {
            if let wgsl_nn::models::conv_stack::Layer::Conv { weight, bias, .. } = &mut l.layer {
                weight.iter_mut().for_each(|w| *w = w.abs() + 0.01);
                bias.iter_mut().flatten().for_each(|b| *b = 0.0);
            }
        }
        let f = measure(gpu(), &stack).unwrap();
        let out = stack.output_shape();
        let centre = f.neuron[0] * out[3] + f.neuron[1];
        let mut reach = Vec::new();
        for i in 0..hw[0] * hw[1] {
            let mut img = vec![0.0f32; hw[0] * hw[1]];
            img[i] = 1.0;
            let x = wgsl_nn::cpu::RefTensor::from_f32(&[1, 1, hw[0], hw[1]], &img);
            if stack.forward_ref(&x).val[centre] > 0.0 {
                reach.push([i / hw[1], i % hw[1]]);
            }
        }
        assert_eq!(f.influencing_pixels, reach.len(), "{layers}: {f:?}");
        assert_eq!(f.expected_pixels, reach.len(), "{layers}");
        if let (Some(lo), Some(hi)) = (
            reach.iter().map(|p| p[0]).min(),
            reach.iter().map(|p| p[0]).max(),
        ) {
            let cols = reach.iter().map(|p| p[1]);
            let (clo, chi) = (cols.clone().min().unwrap(), cols.max().unwrap());
            assert_eq!(
                (f.measured_first, f.measured_last),
                ([lo, clo], [hi, chi]),
                "{layers}"
            );
        }
        assert!(f.agrees, "{layers}: {f:?}");
    }
}

/// The adjoint probe against the forward kernel itself: with positive
/// weights, a pulse at the edge of the measured field moves the centre
/// neuron and a pulse just outside does not.
#[test]
fn the_probe_agrees_with_forward_pulses() {
    let specs = parse_stack(wgsl_nn::spec::EXERCISE_STACK).unwrap();
    let mut stack = ConvStack::new(&specs, [1, 1, 128, 128]).unwrap();
    stack.randomize(9);
    for l in &mut stack.layers {
        if let wgsl_nn::models::conv_stack::Layer::Conv { weight, bias, .. } = &mut l.layer {
            weight.iter_mut().for_each(|w| *w = w.abs() + 0.01);
            bias.iter_mut().flatten().for_each(|b| *b = 0.0);
        }
    }
    let f = measure(gpu(), &stack).unwrap();
    let weights = stack.upload(gpu()).unwrap();
    let centre = f.neuron[0] * 30 + f.neuron[1];
    let response = |y: usize, x: usize| {
        let mut img = vec![0.0f32; 128 * 128];
        img[y * 128 + x] = 1.0;
        let xt = upload("pulse", &[1, 1, 128, 128], &img);
        let mut plan = Plan::new();
        let out = stack.forward_gpu(gpu(), &weights, &xt, &mut plan).unwrap();
        run(&plan, &out)[centre]
    };
    let [r0, c0] = f.measured_first;
    let [r1, c1] = f.measured_last;
    for (y, x) in [(r0, c0), (r1, c1), (r0, c1), ((r0 + r1) / 2, (c0 + c1) / 2)] {
        assert!(
            response(y, x) > 0.0,
            "pulse at ({y},{x}) inside the field must reach the neuron"
        );
    }
    for (y, x) in [(r0 - 1, c0), (r1 + 1, c1), (r0, c0 - 1), (r1, c1 + 1)] {
        assert_eq!(
            response(y, x),
            0.0,
            "pulse at ({y},{x}) outside the field must not"
        );
    }
}

/// A batch whose activations exceed one storage binding runs in chunks of
/// images (here the binding limit is lowered to force three chunks) and
/// still passes the check over the whole batch; one image too large for a
/// binding is an Error naming the limit.
#[test]
fn a_batch_larger_than_a_binding_runs_in_chunks() {
    let mut g =
        wgsl_nn::gpu::Gpu::new(&wgsl_nn::gpu::AdapterChoice::from_args_or_env(None, None)).unwrap();
    let image_bytes = 4 * 32 * 32;
    g.limits.max_storage_buffer_binding_size = 2 * image_bytes + 100;
    let job = ConvJob {
        input_shape: Some([5, 1, 32, 32]),
        reps: 1,
        ..ConvJob::default()
    };
    let r = conv_job::run(&g, &job).unwrap();
    assert_eq!(r.output.len(), 5 * 6 * 6);
    assert!(r.check.passed, "{}", r.check.summary());
    assert!(
        r.timing.note.as_deref().unwrap_or("").contains("3 chunks"),
        "{:?}",
        r.timing.note
    );
    g.limits.max_storage_buffer_binding_size = image_bytes / 2;
    let Err(e) = conv_job::run(&g, &job) else {
        panic!("one image over the limit must be refused")
    };
    let e = e.to_string();
    assert!(e.contains("max_storage_buffer_binding_size"), "{e}");
}

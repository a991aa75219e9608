//! A stack of conv / pooling / ReLU / batch norm layers described by the layer language,
//! resolved against an input shape, with weights (seeded random or loaded
//! from a PyTorch state_dict saved as .npz), run on the GPU in one plan and
//! on the CPU reference.

use crate::cpu::{self, RefTensor};
use crate::error::{Error, Result};
use crate::geometry::{stack_geometry, LayerGeometry, Window};
use crate::gpu::{Gpu, Plan};
use crate::ops::batchnorm::{batchnorm_forward, BatchNorm};
use crate::ops::conv2d::{conv2d_forward, Conv2d};
use crate::ops::elementwise::{map_forward, pointwise_forward, Pointwise, RELU};
use crate::ops::pool2d::{pool2d_forward, Pool2d};
use crate::spec::{LayerKind, LayerSpec, Padding};
use crate::tensor::Tensor;
use rand::{Rng, SeedableRng};

/// One layer of a [`ConvStack`], resolved against its input shape, with
/// its parameters on the host.
#[derive(Debug, Clone)]
pub enum Layer {
    /// A 2-D convolution and its weights (zero until
    /// [`ConvStack::randomize`] or a loaded state_dict sets them).
    Conv {
        /// Its parameters, the channel counts resolved.
        op: Conv2d,
        /// `[Cout, Cin/groups, kH, kW]`, row-major (`op.weight_shape()`).
        weight: Vec<f32>,
        /// `[Cout]`, present exactly when `op.bias` is set.
        bias: Option<Vec<f32>>,
    },
    /// Max or average pooling.
    Pool(Pool2d),
    /// An element-wise ReLU.
    Relu,
    /// sigmoid, tanh, silu, gelu, leaky_relu.
    Act(Pointwise),
    /// Eval-mode batch norm; `affine` false means weight 1 and bias 0 and
    /// no such keys in a state_dict.
    BatchNorm {
        /// Its per-channel weight, bias and running statistics.
        bn: BatchNorm,
        /// PyTorch's `affine`: whether weight and bias are learned
        /// parameters.
        affine: bool,
    },
}

/// A conv layer's weight and optional bias on the device.
pub type UploadedConv = (Tensor, Option<Tensor>);

/// One layer of a [`ConvStack`] with its name and the shapes it maps
/// between.
#[derive(Debug, Clone)]
pub struct StackLayer {
    /// The layer as parsed.
    pub spec: LayerSpec,
    /// "layer 1 conv(k=3,s=2,p=0)": how errors, tables and plans name it.
    pub name: String,
    /// What it computes, with its parameters.
    pub layer: Layer,
    /// Its input shape, NCHW.
    pub in_shape: [usize; 4],
    /// Its output shape, NCHW.
    pub out_shape: [usize; 4],
}

impl StackLayer {
    /// The layer's sliding window (conv and pooling), or `None` for the
    /// element-wise layers (ReLU, activations, batch norm).
    pub fn window(&self) -> Option<Window> {
        match &self.layer {
            Layer::Conv { op, .. } => Some(op.window),
            Layer::Pool(p) => Some(p.window),
            Layer::Relu | Layer::Act(_) | Layer::BatchNorm { .. } => None,
        }
    }
}

/// A stack of layers from the layer language, resolved for one NCHW input
/// shape, with its weights on the host. It runs on the GPU as one plan
/// ([`ConvStack::forward_gpu`]) and on the f64 reference
/// ([`ConvStack::forward_ref`]), which [`crate::check::compare`] sets side
/// by side:
///
/// ```no_run
/// use wgsl_nn::check::compare;
/// use wgsl_nn::cpu::RefTensor;
/// use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
/// use wgsl_nn::models::conv_stack::{random_input, ConvStack};
/// use wgsl_nn::{spec, Tensor};
/// let gpu = Gpu::new(&AdapterChoice::default())?;
/// let layers = spec::parse_stack(spec::EXERCISE_STACK)?;
/// let mut stack = ConvStack::new(&layers, [1, 1, 128, 128])?;
/// stack.randomize(0);
/// let data = random_input(&stack.input_shape, 1);
/// let x = Tensor::upload(&gpu, "input", &stack.input_shape, &data)?;
/// let weights = stack.upload(&gpu)?;
/// let mut plan = Plan::new();
/// let y = stack.forward_gpu(&gpu, &weights, &x, &mut plan)?;
/// gpu.run(&plan)?;
/// let reference = stack.forward_ref(&RefTensor::from_f32(&stack.input_shape, &data));
/// let check = compare(&y.download(&gpu)?, &reference);
/// assert!(check.passed, "{}", check.summary());
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConvStack {
    /// The NCHW input shape the layers were resolved for.
    pub input_shape: [usize; 4],
    /// The layers, in order.
    pub layers: Vec<StackLayer>,
}

/// Tensors above this many elements are refused before anything is
/// allocated: the f64 reference keeps 16 bytes per element on the host.
pub const MAX_ELEMENTS: u64 = 1 << 28;

/// Refuses a tensor over MAX_ELEMENTS, naming the layer and the tensor.
pub fn check_size(layer: &str, what: &str, shape: &[usize]) -> Result<()> {
    let n = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    if n > MAX_ELEMENTS {
        return Err(Error::shape(
            layer,
            format!("the {what} {shape:?} has {n} elements; wgsl-nn refuses tensors over {MAX_ELEMENTS} elements (1 GiB of f32) so that the f64 reference fits in memory; use a smaller input, batch or channel count"),
        ));
    }
    Ok(())
}

fn weight_shape(layer: &Layer) -> Vec<usize> {
    match layer {
        Layer::Conv { op, .. } => op.weight_shape().to_vec(),
        _ => vec![],
    }
}

/// Parses "CxHxW" or "NxCxHxW" (`x`, `X` or `,` between the numbers) into
/// an NCHW shape; a missing N is 1.
///
/// # Errors
///
/// [`Error::Argument`] (for `--input`) when it is neither form or has a
/// zero dimension; [`Error::Shape`] when it exceeds [`MAX_ELEMENTS`].
///
/// ```
/// use wgsl_nn::models::conv_stack::parse_input_shape;
/// assert_eq!(parse_input_shape("3x224x224")?, [1, 3, 224, 224]);
/// assert_eq!(parse_input_shape("16x1x128x128")?, [16, 1, 128, 128]);
/// assert!(parse_input_shape("128x128").is_err());
/// # Ok::<(), wgsl_nn::Error>(())
/// ```
pub fn parse_input_shape(s: &str) -> Result<[usize; 4]> {
    let parts: Vec<&str> = s.split(['x', 'X', ',']).map(str::trim).collect();
    let dims: std::result::Result<Vec<usize>, _> =
        parts.iter().map(|p| p.parse::<usize>()).collect();
    let bad = || {
        Error::arg(
            "--input",
            format!("'{s}' is not CxHxW or NxCxHxW (e.g. 1x128x128 or 16x1x128x128)"),
        )
    };
    let dims = dims.map_err(|_| bad())?;
    let shape = match dims[..] {
        [c, h, w] => [1, c, h, w],
        [n, c, h, w] => [n, c, h, w],
        _ => return Err(bad()),
    };
    if shape.contains(&0) {
        return Err(Error::arg(
            "--input",
            format!("'{s}' has a zero dimension; every dimension must be at least 1"),
        ));
    }
    check_size("--input", "input", &shape)?;
    Ok(shape)
}

fn resolve_padding(
    p: &Padding,
    kernel: [usize; 2],
    dilation: [usize; 2],
) -> ([usize; 2], [usize; 2]) {
    match p {
        Padding::Explicit(p) => (*p, *p),
        Padding::Valid => ([0; 2], [0; 2]),
        // PyTorch puts the odd pixel of an even kernel's padding at the end.
        Padding::Same => {
            let total = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
            let begin = [total[0] / 2, total[1] / 2];
            (begin, [total[0] - begin[0], total[1] - begin[1]])
        }
    }
}

impl ConvStack {
    /// Resolves every layer's channels, padding and shapes; weights are zero
    /// until `randomize` or `load_params`.
    ///
    /// A conv without `out` keeps its input's channel count; `padding=same`
    /// is split as PyTorch splits it.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming the first layer that cannot take its input
    /// (a kernel larger than the padded input, groups that do not divide
    /// the channels, a `num_features` that differs from them) or whose
    /// output or weight exceeds [`MAX_ELEMENTS`].
    ///
    /// ```
    /// use wgsl_nn::{models::conv_stack::ConvStack, spec};
    /// let layers = spec::parse_stack("conv(k=3,s=2,out=8) relu maxpool(k=2)")?;
    /// let stack = ConvStack::new(&layers, [1, 3, 32, 32])?;
    /// assert_eq!(stack.output_shape(), [1, 8, 7, 7]);
    /// assert_eq!(stack.layers[0].name, "layer 1 conv(k=3,s=2,p=0,out=8)");
    /// # Ok::<(), wgsl_nn::Error>(())
    /// ```
    pub fn new(specs: &[LayerSpec], input_shape: [usize; 4]) -> Result<ConvStack> {
        let mut shape = input_shape;
        let mut layers = Vec::with_capacity(specs.len());
        for spec in specs {
            let name = format!("layer {} {}", spec.index + 1, spec);
            let (layer, out) = match &spec.kind {
                LayerKind::Conv(c) => {
                    let (pad_begin, pad_end) = resolve_padding(&c.padding, c.kernel, c.dilation);
                    let op = Conv2d {
                        window: Window {
                            kernel: c.kernel,
                            stride: c.stride,
                            pad_begin,
                            pad_end,
                            dilation: c.dilation,
                            ceil_mode: false,
                        },
                        in_channels: shape[1],
                        out_channels: c.out_channels.unwrap_or(shape[1]),
                        groups: c.groups,
                        bias: c.bias,
                        relu: c.relu,
                        relu6: false,
                    };
                    let out = op.output_shape(&shape, &name)?;
                    // Before the allocation: a hostile kernel size must be an error, not an abort.
                    check_size(&name, "weight", &op.weight_shape())?;
                    let weight = vec![0.0; op.weight_shape().iter().product()];
                    let bias = op.bias.then(|| vec![0.0; op.out_channels]);
                    (Layer::Conv { op, weight, bias }, out)
                }
                LayerKind::Pool(p) => {
                    let op = Pool2d {
                        kind: p.kind,
                        window: Window {
                            kernel: p.kernel,
                            stride: p.stride,
                            pad_begin: p.padding,
                            pad_end: p.padding,
                            dilation: p.dilation,
                            ceil_mode: p.ceil_mode,
                        },
                        count_include_pad: p.count_include_pad,
                    };
                    let out = op.output_shape(&shape, &name)?;
                    (Layer::Pool(op), out)
                }
                LayerKind::Relu => (Layer::Relu, shape),
                LayerKind::Act(a) => (Layer::Act(*a), shape),
                LayerKind::BatchNorm(b) => {
                    if let Some(n) = b.num_features.filter(|&n| n != shape[1]) {
                        return Err(Error::shape(
                            &name,
                            format!(
                                "num_features={n} but the input has {} channels; fix num_features or the layers before",
                                shape[1]
                            ),
                        ));
                    }
                    let bn = BatchNorm::identity(shape[1], b.eps);
                    (
                        Layer::BatchNorm {
                            bn,
                            affine: b.affine,
                        },
                        shape,
                    )
                }
            };
            for (what, shape) in [("output", &out[..]), ("weight", &weight_shape(&layer)[..])] {
                check_size(&name, what, shape)?;
            }
            layers.push(StackLayer {
                spec: spec.clone(),
                name,
                layer,
                in_shape: shape,
                out_shape: out,
            });
            shape = out;
        }
        Ok(ConvStack {
            input_shape,
            layers,
        })
    }

    /// The same stack (weights included) for a batch of `n` images.
    pub fn rebatch(&self, n: usize) -> ConvStack {
        let mut s = self.clone();
        s.input_shape[0] = n;
        for l in &mut s.layers {
            l.in_shape[0] = n;
            l.out_shape[0] = n;
        }
        s
    }

    /// How many images fit a run whose every activation stays within one
    /// storage binding of `limit` bytes; an Error when not even one does.
    pub fn batch_chunk(&self, limit: u64) -> Result<usize> {
        let per_image = self
            .layers
            .iter()
            .flat_map(|l| [&l.in_shape, &l.out_shape])
            .map(|s| 4 * s[1..].iter().map(|&d| d as u64).product::<u64>())
            .max()
            .unwrap_or(
                4 * self.input_shape[1..]
                    .iter()
                    .map(|&d| d as u64)
                    .product::<u64>(),
            );
        if per_image > limit {
            let worst = self
                .layers
                .iter()
                .find(|l| 4 * l.out_shape[1..].iter().product::<usize>() as u64 == per_image)
                .map_or("the input".to_string(), |l| l.name.clone());
            return Err(Error::TooLarge {
                tensor: format!("one image's activation at {worst}"),
                bytes: per_image,
                limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(((limit / per_image.max(1)) as usize).clamp(1, self.input_shape[0].max(1)))
    }

    /// The last layer's output shape, NCHW (the input shape when the stack
    /// has no layers).
    pub fn output_shape(&self) -> [usize; 4] {
        self.layers
            .last()
            .map(|l| l.out_shape)
            .unwrap_or(self.input_shape)
    }

    /// The sliding windows, in order, named by their layers.
    pub fn windows(&self) -> Vec<(String, Window)> {
        self.layers
            .iter()
            .filter_map(|l| l.window().map(|w| (l.name.clone(), w)))
            .collect()
    }

    /// Formula geometry for every layer (ReLU repeats its predecessor's).
    pub fn geometry(&self) -> Result<Vec<LayerGeometry>> {
        let hw = [self.input_shape[2], self.input_shape[3]];
        let per_window = stack_geometry(&self.windows(), hw)?;
        let mut it = per_window.into_iter();
        let mut last = LayerGeometry {
            output_hw: hw,
            receptive_field: [1, 1],
            jump: [1, 1],
            start: [0.0, 0.0],
            first_pixel: [0, 0],
        };
        Ok(self
            .layers
            .iter()
            .map(|l| {
                if l.window().is_some() {
                    last = it.next().unwrap_or(last);
                }
                last
            })
            .collect())
    }

    /// FLOPs of one forward pass over the whole batch: each conv and pool
    /// as its op counts them, one per element for ReLU, two for batch
    /// norm, and each activation's own count per element.
    pub fn flops(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match &l.layer {
                Layer::Conv { op, .. } => op.flops(&l.out_shape),
                Layer::Pool(p) => p.flops(&l.out_shape),
                Layer::Relu => l.out_shape.iter().product::<usize>() as u64,
                Layer::BatchNorm { .. } => 2 * l.out_shape.iter().product::<usize>() as u64,
                Layer::Act(a) => {
                    a.flops_per_element() * l.out_shape.iter().product::<usize>() as u64
                }
            })
            .sum()
    }

    /// Appends the whole stack to `plan`; weights must come from `upload`.
    pub fn forward_gpu(
        &self,
        gpu: &Gpu,
        weights: &[Option<UploadedConv>],
        x: &Tensor,
        plan: &mut Plan,
    ) -> Result<Tensor> {
        self.check_input(x)?;
        let mut cur = x.clone();
        for (l, w) in self.layers.iter().zip(weights) {
            cur = match (&l.layer, w) {
                (Layer::Conv { op, .. }, Some((wt, b))) => {
                    conv2d_forward(gpu, plan, &l.name, op, &cur, wt, b.as_ref())?
                }
                (Layer::Pool(p), _) => pool2d_forward(gpu, plan, &l.name, p, &cur)?,
                (Layer::Relu, _) => map_forward(gpu, plan, &l.name, RELU, &cur)?,
                (Layer::Act(a), _) => pointwise_forward(gpu, plan, &l.name, *a, &cur)?,
                (Layer::BatchNorm { .. }, Some((folded, _))) => {
                    batchnorm_forward(gpu, plan, &l.name, &cur, folded)?
                }
                (Layer::Conv { .. } | Layer::BatchNorm { .. }, None) => {
                    return Err(Error::shape(&l.name, "weights were not uploaded"))
                }
            };
        }
        Ok(cur)
    }

    /// `x` has the shape the stack was built for, or an error saying so.
    pub(crate) fn check_input(&self, x: &Tensor) -> Result<()> {
        if x.shape != self.input_shape {
            return Err(Error::shape(
                "stack input",
                format!(
                    "shape {:?} but the stack was built for {:?}",
                    x.shape, self.input_shape
                ),
            ));
        }
        Ok(())
    }

    /// Uploads every conv layer's weight and bias once.
    pub fn upload(&self, gpu: &Gpu) -> Result<Vec<Option<UploadedConv>>> {
        self.layers
            .iter()
            .map(|l| match &l.layer {
                Layer::Conv { op, weight, bias } => {
                    let w = Tensor::upload(
                        gpu,
                        &format!("{} weight", l.name),
                        &op.weight_shape(),
                        weight,
                    )?;
                    let b = match bias {
                        Some(b) => Some(Tensor::upload(
                            gpu,
                            &format!("{} bias", l.name),
                            &[b.len()],
                            b,
                        )?),
                        None => None,
                    };
                    Ok(Some((w, b)))
                }
                Layer::BatchNorm { bn, .. } => {
                    let folded = bn.folded_f32();
                    let t = Tensor::upload(
                        gpu,
                        &format!("{} scale/shift", l.name),
                        &[folded.len()],
                        &folded,
                    )?;
                    Ok(Some((t, None)))
                }
                _ => Ok(None),
            })
            .collect()
    }

    /// The f64 reference of the whole stack on `x` (of `input_shape`, NCHW)
    /// with the host weights: the last layer's output, with its error
    /// bounds.
    pub fn forward_ref(&self, x: &RefTensor) -> RefTensor {
        let mut cur = x.clone();
        for l in &self.layers {
            cur = match &l.layer {
                Layer::Conv { op, weight, bias } => {
                    cpu::conv2d::conv2d(op, &cur, weight, bias.as_deref(), l.out_shape)
                }
                Layer::Pool(p) => cpu::pool2d::pool2d(p, &cur, l.out_shape),
                Layer::Relu => cur.relu(),
                Layer::Act(a) => cur.map_val(|v| a.reference(v)),
                Layer::BatchNorm { bn, .. } => cpu::batchnorm::batchnorm(bn, &cur),
            };
        }
        cur
    }
}

/// The benchmarks' wide stack (1-32-64-64-32 channels on 128 x 128).
pub const WIDE_STACK: &str = "conv(k=3,s=2,p=0,out=32) conv(k=5,s=1,p=2,out=64) conv(k=3,s=1,p=1,out=64) conv(k=5,s=2,p=0,out=32)";

/// A seeded input in [-1, 1).
pub fn random_input(shape: &[usize], seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..shape.iter().product::<usize>())
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

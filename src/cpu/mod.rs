//! CPU references: the obvious loops, in f64, written to be read.
//! Each mirrors the op of the same name in `ops/`.
//!
//! A reference tensor carries, beside each value, a first-order bound on
//! the error a float32 computation of it may make, in units of eps_f32
//! (`err`): each op adds what its own roundings may cost and passes its
//! inputs' bounds through its own slopes (linearly, so errors that happen
//! to agree in sign are still covered). A few roundings are charged their
//! worst case, one unit times the magnitude rounded; a long sum is charged
//! what its rounding walk may reach (`sum::Acc`, probabilistic, never above
//! the worst case). `check` judges the GPU by it:
//! |gpu - ref| <= eps_f32 * err (+ a tiny floor).

pub mod activation;
pub mod attention;
pub mod baseline;
pub mod batchnorm;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod float32;
pub mod half;
pub mod layer;
pub mod layernorm;
pub mod matmul;
pub mod pool2d;
pub mod rnn;
pub mod sequence;
pub mod softmax;
pub mod sum;

/// How long an f64 reference took, and on how many threads (rayon's pool:
/// all cores unless RAYON_NUM_THREADS says otherwise). Every report
/// prints it, since on big layers the reference is most of the run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RefTime {
    /// Wall-clock time of the reference, in milliseconds.
    pub ms: f64,
    /// rayon's thread count when it finished.
    pub threads: usize,
    /// It shared the CPU with the GPU's first, untimed run (on a CPU
    /// adapter, mostly the driver compiling shaders), so `ms` is longer
    /// than the reference alone would take.
    pub beside_gpu: bool,
}

impl RefTime {
    /// Runs `f` (a reference) and times it.
    ///
    /// ```
    /// let (sum, t) = wgsl_nn::cpu::RefTime::of(|| (0..10).sum::<i32>());
    /// assert_eq!(sum, 45);
    /// assert!(t.threads >= 1);
    /// ```
    pub fn of<T>(f: impl FnOnce() -> T) -> (T, RefTime) {
        let start = std::time::Instant::now();
        let out = f();
        let t = RefTime {
            ms: start.elapsed().as_secs_f64() * 1e3,
            threads: rayon::current_num_threads(),
            beside_gpu: false,
        };
        (out, t)
    }

    /// The same time, marked as measured beside the GPU's first run.
    ///
    /// ```
    /// let (_, t) = wgsl_nn::cpu::RefTime::of(|| ());
    /// assert!(t.beside().to_string().ends_with("(beside the GPU's first run)"));
    /// ```
    pub fn beside(self) -> RefTime {
        RefTime {
            beside_gpu: true,
            ..self
        }
    }
}

/// "CPU f64 reference 12.345 ms on 2 threads".
impl std::fmt::Display for RefTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU f64 reference {:.3} ms on {} thread{}{}",
            self.ms,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            if self.beside_gpu {
                " (beside the GPU's first run)"
            } else {
                ""
            }
        )
    }
}

/// A reference tensor: f64 values, row-major, each with the float32 error
/// bound the verdict allows a GPU there (see the module docs and
/// `check::compare`).
#[derive(Debug, Clone, PartialEq)]
pub struct RefTensor {
    /// Dimensions, outermost first (NCHW for images, [batch, tokens,
    /// features] for sequences).
    pub shape: Vec<usize>,
    /// The values, row-major; as many as the shape's product.
    pub val: Vec<f64>,
    /// Error bound per element, in units of eps_f32.
    pub err: Vec<f64>,
}

impl RefTensor {
    /// An exact input: f32 values are f64 values, nothing rounded yet.
    ///
    /// ```
    /// use wgsl_nn::cpu::RefTensor;
    /// let x = RefTensor::from_f32(&[1, 2], &[-1.5, 2.0]);
    /// assert_eq!(x.val, [-1.5, 2.0]);
    /// assert_eq!(x.err, [0.0, 0.0]);
    /// assert_eq!(x.relu().to_f32(), [0.0, 2.0]);
    /// ```
    pub fn from_f32(shape: &[usize], data: &[f32]) -> RefTensor {
        RefTensor {
            shape: shape.to_vec(),
            val: data.iter().map(|&v| f64::from(v)).collect(),
            err: vec![0.0; data.len()],
        }
    }

    /// An exact tensor of zeros (values and error bounds) of `shape`.
    pub fn zeros(shape: &[usize]) -> RefTensor {
        let n = shape.iter().product();
        RefTensor {
            shape: shape.to_vec(),
            val: vec![0.0; n],
            err: vec![0.0; n],
        }
    }

    /// Every element through `f`, value and error bound together.
    pub fn map_val(&self, f: impl Fn(activation::Val) -> activation::Val) -> RefTensor {
        let (val, err) = self
            .val
            .iter()
            .zip(&self.err)
            .map(|(&v, &e)| {
                let r = f(activation::Val { v, e });
                (r.v, r.e)
            })
            .unzip();
        RefTensor {
            shape: self.shape.clone(),
            val,
            err,
        }
    }

    /// max(x, 0) per element; NaN stays NaN. The error bounds pass through
    /// unchanged: ReLU rounds nothing and its slope is at most 1.
    pub fn relu(&self) -> RefTensor {
        RefTensor {
            shape: self.shape.clone(),
            // NaN stays NaN, as on the GPU and in PyTorch.
            val: self
                .val
                .iter()
                .map(|&v| if v < 0.0 { 0.0 } else { v })
                .collect(),
            err: self.err.clone(),
        }
    }

    /// min(max(x, 0), 6) elementwise (ReLU6), NaN kept; the error bounds
    /// are kept (clamping never widens a difference).
    ///
    /// ```
    /// use wgsl_nn::cpu::RefTensor;
    /// let x = RefTensor::from_f32(&[3], &[-1.0, 2.0, 7.5]);
    /// assert_eq!(x.relu6().to_f32(), [0.0, 2.0, 6.0]);
    /// ```
    pub fn relu6(&self) -> RefTensor {
        RefTensor {
            shape: self.shape.clone(),
            // f64::clamp returns NaN for NaN.
            val: self.val.iter().map(|&v| v.clamp(0.0, 6.0)).collect(),
            err: self.err.clone(),
        }
    }

    /// The values rounded to f32 (to compare with, or feed to, the GPU);
    /// the error bounds are dropped.
    pub fn to_f32(&self) -> Vec<f32> {
        self.val.iter().map(|&v| v as f32).collect()
    }
}

/// Index of element (a, b, c, d) in a row-major tensor of shape [_, B, C, D].
#[inline]
pub fn at4(s: &[usize], a: usize, b: usize, c: usize, d: usize) -> usize {
    ((a * s[1] + b) * s[2] + c) * s[3] + d
}

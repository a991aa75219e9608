//! CPU references: the obvious loops, in f64, written to be read.
//! Each mirrors the op of the same name in `ops/`.
//!
//! A reference tensor carries, beside each value, the sum of the absolute
//! terms that went into it (`mag`) and how many f32 roundings a GPU could
//! have made along the way (`budget`). `check` uses both to judge the GPU
//! by the error float32 arithmetic can actually make:
//! |gpu - ref| <= eps_f32 * budget * mag (+ a tiny floor).

pub mod conv2d;
pub mod conv_transpose2d;
pub mod pool2d;

#[derive(Debug, Clone, PartialEq)]
pub struct RefTensor {
    pub shape: Vec<usize>,
    pub val: Vec<f64>,
    pub mag: Vec<f64>,
    pub budget: f64,
}

impl RefTensor {
    /// An exact input: f32 values are f64 values, nothing rounded yet.
    pub fn from_f32(shape: &[usize], data: &[f32]) -> RefTensor {
        let val: Vec<f64> = data.iter().map(|&v| f64::from(v)).collect();
        RefTensor {
            shape: shape.to_vec(),
            mag: val.iter().map(|v| v.abs()).collect(),
            val,
            budget: 0.0,
        }
    }

    pub fn relu(&self) -> RefTensor {
        RefTensor {
            shape: self.shape.clone(),
            // NaN stays NaN, as on the GPU and in PyTorch.
            val: self
                .val
                .iter()
                .map(|&v| if v < 0.0 { 0.0 } else { v })
                .collect(),
            mag: self.mag.clone(),
            budget: self.budget,
        }
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.val.iter().map(|&v| v as f32).collect()
    }
}

/// Index of element (a, b, c, d) in a row-major tensor of shape [_, B, C, D].
#[inline]
pub fn at4(s: &[usize], a: usize, b: usize, c: usize, d: usize) -> usize {
    ((a * s[1] + b) * s[2] + c) * s[3] + d
}

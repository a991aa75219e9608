//! The verdict on CPU-computed float32 products: correct ones in every
//! summation order a kernel may use (they must pass) and faulty ones (they
//! must fail), on random, same-sign, cancelling and constant data. No GPU:
//! this isolates the rule from the kernels.

use crate::check::{compare, Check};
use crate::cpu::float32::{dot, dot_faulty, Fault, Order};
use crate::cpu::matmul::matmul_into;
use crate::cpu::RefTensor;
use crate::ops::matmul::{Matmul, View};
use rand::{Rng, SeedableRng};

/// The kinds of data a sum meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Uniform in [-1, 1).
    Random,
    /// Uniform in [0, 1): every partial sum grows.
    SameSign,
    /// The second half of K repeats the first with B negated (and A
    /// perturbed by 2^-10): sums climb, then cancel to almost nothing.
    Cancelling,
    /// Neighbouring terms cancel: memory-order partial sums stay small,
    /// strided ones (a workgroup's lanes) do not.
    Interleaved,
    /// A = 0.1, B = 0.3: every rounding the same, coherent.
    Constant,
}

impl Data {
    /// Every kind, for sweeps.
    pub const ALL: [Data; 5] = [
        Data::Random,
        Data::SameSign,
        Data::Cancelling,
        Data::Interleaved,
        Data::Constant,
    ];
}

/// A [m, k] and B [k, n] of the given kind, seeded.
pub fn operands(data: Data, m: usize, n: usize, k: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut r = |lo: f32| rng.random_range(lo..1.0f32);
    match data {
        Data::Random => (
            (0..m * k).map(|_| r(-1.0)).collect(),
            (0..k * n).map(|_| r(-1.0)).collect(),
        ),
        Data::SameSign => (
            (0..m * k).map(|_| r(0.0)).collect(),
            (0..k * n).map(|_| r(0.0)).collect(),
        ),
        Data::Constant => (vec![0.1; m * k], vec![0.3; k * n]),
        Data::Cancelling | Data::Interleaved => {
            let mut a: Vec<f32> = (0..m * k).map(|_| r(-1.0)).collect();
            let mut b: Vec<f32> = (0..k * n).map(|_| r(-1.0)).collect();
            // Term j's partner: the mirror half, or the next one.
            let partner = |j: usize| match data {
                Data::Cancelling => (j < k / 2).then_some(j + k / 2),
                _ => (j.is_multiple_of(2) && j + 1 < k).then_some(j + 1),
            };
            for j in 0..k {
                if let Some(p) = partner(j) {
                    for row in 0..m {
                        let noise = 1.0 + r(-1.0) / 1024.0;
                        a[row * k + p] = a[row * k + j] * noise;
                    }
                    for col in 0..n {
                        b[p * n + col] = -b[j * n + col];
                    }
                }
            }
            (a, b)
        }
    }
}

/// The f64 reference of A B with its error bounds.
pub fn reference(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> RefTensor {
    let mm = Matmul {
        m,
        n,
        k,
        ..Matmul::square(0)
    };
    let mut c = RefTensor::zeros(&[m, n]);
    matmul_into(
        &mm,
        (&RefTensor::from_f32(&[m, k], a), View::dense(m, k, false)),
        (&RefTensor::from_f32(&[k, n], b), View::dense(k, n, false)),
        None,
        (&mut c, View::dense(m, n, false)),
    );
    c
}

/// C = A B with each element computed by `f(row of A, column of B)`.
pub fn product(
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
    f: impl Fn(&[f32], &[f32]) -> f32,
) -> Vec<f32> {
    let mut c = Vec::with_capacity(m * n);
    for r in 0..m {
        for col in 0..n {
            let bc: Vec<f32> = (0..k).map(|j| b[j * n + col]).collect();
            c.push(f(&a[r * k..(r + 1) * k], &bc));
        }
    }
    c
}

/// The verdict on a correct product in `order`.
pub fn correct(data: Data, order: Order, [m, n, k]: [usize; 3], seed: u64) -> Check {
    let (a, b) = operands(data, m, n, k, seed);
    compare(
        &product(&a, &b, m, n, k, |x, y| dot(x, y, order)),
        &reference(&a, &b, m, n, k),
    )
}

/// The verdict on a product with `fault`.
pub fn faulty(data: Data, fault: Fault, [m, n, k]: [usize; 3], seed: u64) -> Check {
    let (a, b) = operands(data, m, n, k, seed);
    compare(
        &product(&a, &b, m, n, k, |x, y| dot_faulty(x, y, fault)),
        &reference(&a, &b, m, n, k),
    )
}

//! The float32 error of a long sum, as the verdict charges it.
//!
//! A float32 kernel that adds K terms t_k makes one rounding per product
//! (none with FMA) and one per addition: its error is sum_k d_k t_k +
//! sum_nodes e_n S_n, |d|, |e| <= u = 2^-24, where S_n is the partial sum
//! each addition rounds. Which partial sums exist depends on the order the
//! kernel chose (sequential, blocked, split-K, tree); their sizes do not
//! depend much on it, and the worst case, every rounding the same sign,
//! does not happen for data whose low bits vary.
//!
//! So the charge is probabilistic, in the spirit of Higham & Mary (2019)
//! and Ipsen & Zhou (2020): modelling the roundings as independent,
//! mean-zero and bounded by u, Azuma's inequality gives
//! |error| <= LAMBDA * u * sqrt(V) with probability at least
//! 1 - 2 exp(-LAMBDA^2 / 2) (below 1e-13 per element at LAMBDA = 8), where
//! V = sum t_k^2 + the sum of the squared partial sums. For V we take the
//! larger of the partial sums in memory order (what tiled, blocked and
//! split-K kernels follow) and their expectation over a random order
//! (what a kernel that walks the terms in another order sees, closed form
//! from sum t and sum t^2), so neither a cancelling memory order nor a
//! structured one hides the sums another order builds. Unlike the worst
//! case, (K + 3) sum |t_k|, which grows like K times the terms, this grows
//! as a real float32 error does: with the partial sums' random walk.
//!
//! Where terms repeat at the accumulator's resolution (constant inputs,
//! the same weight times the same pixel), the roundings repeat too and
//! add up coherently; those additions are charged their worst case,
//! u |S_k| each, linearly. And the charge never exceeds the rigorous
//! worst case. `tests/verdict.rs` shows both sides: correct sums in every
//! order stay well inside, planted faults land far outside.

/// The multiple of u sqrt(V) charged (Azuma's lambda: a correct kernel's
/// error exceeds it with probability at most 2 exp(-LAMBDA^2 / 2)).
pub const LAMBDA: f64 = 8.0;

/// Running statistics of one sum, gathered as the reference adds in f64.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acc {
    /// sum t_k, the value.
    pub sum: f64,
    /// sum |t_k|.
    pub abs: f64,
    /// sum t_k^2.
    sq: f64,
    /// sum over k >= 2 of S_k^2, memory order.
    prefix2: f64,
    /// A value the kernel may add first or last (a bias): the partial sums
    /// with it, `prefix2_offset`, count as well as those without.
    offset: f64,
    prefix2_offset: f64,
    /// sum |S_k| over additions whose term repeats the previous one at the
    /// accumulator's resolution.
    coherent: f64,
    prev: f64,
    /// Terms added.
    pub n: usize,
    /// Input errors carried linearly (eps units), as `carried` adds them.
    pub carried: f64,
    /// The input errors of the two factors of each term, through their
    /// slopes (`carry`).
    through: [Carried; 2],
}

/// Input errors e_i carried through slopes c_i. Linearly, sum |c_i| e_i
/// is the worst case: every error at its bound, with the slope's sign.
/// But upstream errors are made by other sums' roundings, unrelated to
/// these slopes: split each into a part common to all (at most the mean
/// bound, through |sum c_i|) and independent parts (their bounds already
/// at LAMBDA deviations, so sqrt(sum c_i^2 e_i^2) holds them at the same
/// level). Random-signed slopes (weights) then grow an error like
/// sqrt(K), as it grows; same-signed ones (an average) keep the linear
/// charge, which an error common to all inputs reaches.
#[derive(Debug, Clone, Copy, Default)]
struct Carried {
    linear: f64,
    squares: f64,
    slopes: f64,
    errors: f64,
    n: usize,
}

impl Carried {
    #[inline]
    fn add(&mut self, slope: f64, e: f64) {
        if e == 0.0 {
            return;
        }
        self.linear += slope.abs() * e;
        self.squares += (slope * e) * (slope * e);
        self.slopes += slope;
        self.errors += e;
        self.n += 1;
    }

    fn bound(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let common = self.slopes.abs() * self.errors / self.n as f64;
        (common + self.squares.sqrt()).min(self.linear)
    }
}

impl Acc {
    /// An empty sum.
    pub fn new() -> Acc {
        Acc::default()
    }

    /// A sum that a kernel may start from `b` (a bias) or add `b` to at the
    /// end; `sum` excludes it, and the partial sums of both orders count.
    pub fn with_offset(b: f64) -> Acc {
        Acc {
            offset: b,
            ..Acc::default()
        }
    }

    /// Adds one term (a product already formed in f64).
    #[inline]
    pub fn add(&mut self, t: f64) {
        let before = self.sum.abs();
        self.n += 1;
        self.sum += t;
        self.abs += t.abs();
        self.sq += t * t;
        if self.n > 1 {
            self.prefix2 += self.sum * self.sum;
            let with = self.sum + self.offset;
            self.prefix2_offset += with * with;
            if t != 0.0 && (t - self.prev).abs() <= f64::from(f32::EPSILON) * before {
                self.coherent += self.sum.abs();
            }
        }
        self.prev = t;
    }

    /// Adds a term a * b whose factors carry errors ea, eb (eps units).
    #[inline]
    pub fn add_product(&mut self, a: f64, ea: f64, b: f64, eb: f64) {
        self.add(a * b);
        self.through[0].add(b, ea);
        self.through[1].add(a, eb);
    }

    /// Adds a term t whose input error e reaches it through `slope`.
    #[inline]
    pub fn add_carrying(&mut self, t: f64, slope: f64, e: f64) {
        self.add(t);
        self.through[0].add(slope, e);
    }

    /// The float32 rounding error of forming and adding the terms, in
    /// units of eps_f32 (= 2u), as the module docs derive it.
    pub fn rounding(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let k = self.n as f64;
        let random_order = (k + 1.0) * (self.sq / 6.0 + self.sum * self.sum / 3.0);
        let v = self.sq + self.prefix2.max(self.prefix2_offset).max(random_order);
        let probable = 0.5 * LAMBDA * v.sqrt() + 0.5 * self.coherent;
        let worst = (k + 1.0) * self.abs;
        probable.min(worst)
    }

    /// Rounding plus carried input errors: the sum's whole bound before
    /// anything is done to the result.
    pub fn bound(&self) -> f64 {
        self.carried + self.through[0].bound() + self.through[1].bound() + self.rounding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_short_sums_are_charged_little_and_never_more_than_the_worst_case() {
        let mut a = Acc::new();
        a.add(1.0);
        assert!(a.rounding() <= 2.0 * 1.0);
        for _ in 0..1000 {
            a.add(1.0);
        }
        // Repeated terms: charged coherently, still within (K + 1) sum|t|.
        assert!(a.rounding() <= 1002.0 * 1001.0);
        assert!(a.rounding() >= 0.25 * 1001.0 * 1000.0 / 2.0);
    }
}

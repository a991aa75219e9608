//! Planted faults: the proof that the verdict is sharp. Each mutant makes
//! exactly what a kernel with that bug would return, on the GPU where it
//! can (a patched kernel source used for the mutant run only) and on the
//! CPU otherwise, and must fail the check at every size the tool runs.

pub mod products;

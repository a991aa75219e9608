//! The exercise's transformer question, step by step, with numbers from
//! the GPU.
//!
//! Claim: Attention(PX) = P Attention(X) for any permutation matrix P,
//! because (PX W_Q)(PX W_K)^T = P (X W_Q W_K^T X^T) P^T, the row softmax
//! commutes with permuting rows and columns alike, and the result then
//! multiplies P X W_V. Feed-forward layers, residuals and layer norm act on
//! each token alone, so a whole stack T is equivariant, and mean pooling
//! (which ignores order) makes it invariant. Positional encodings tie each
//! token to its place, so X + E and P X + E are no longer permutations of
//! each other, and the property is gone.
//!
//!     cargo run --release --example attention_permutation

use wgsl_nn::check::compare;
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
use wgsl_nn::models::permutation::{self, PermuteJob};
use wgsl_nn::models::transformer::{Positional, Transformer, TransformerConfig};
use wgsl_nn::ops::attention::AttentionPath;
use wgsl_nn::Tensor;

fn main() -> wgsl_nn::Result<()> {
    let gpu = Gpu::new(&AdapterChoice::from_args_or_env(None, None))?;
    println!("adapter: {} ({:?})\n", gpu.info.name, gpu.info.backend);

    // Step 1: one attention block, X and PX, by hand.
    let cfg = TransformerConfig {
        d_model: 16,
        heads: 2,
        ffn_hidden: 32,
        layers: 1,
        pre_norm: true,
        causal: false,
        path: AttentionPath::Composed,
    };
    let seed = 7;
    let model = Transformer::random(&cfg, 5, seed)?;
    let x: Vec<f32> = (0..5 * 16)
        .map(|i| ((i * 37 % 23) as f32 / 11.0) - 1.0)
        .collect();
    let p = [3, 0, 4, 1, 2];
    let px: Vec<f32> = p
        .iter()
        .flat_map(|&r| x[r * 16..(r + 1) * 16].to_vec())
        .collect();
    let weights = model.upload(&gpu)?;
    let run = |input: &[f32]| -> wgsl_nn::Result<Vec<f32>> {
        let mut plan = Plan::new();
        let y = model.forward_gpu(
            &gpu,
            &weights,
            &mut plan,
            &Tensor::upload(&gpu, "x", &[1, 5, 16], input)?,
            Positional::None,
        )?;
        gpu.run(&plan)?;
        let out = y.download(&gpu)?;
        let reference =
            model.forward_ref(&RefTensor::from_f32(&[1, 5, 16], input), Positional::None)?;
        println!(
            "  GPU vs f64 reference: {}",
            compare(&out, &reference).summary()
        );
        Ok(out)
    };
    println!("Step 1: one block (seed {seed}), 5 tokens, P = {p:?}");
    let (tx, tpx) = (run(&x)?, run(&px)?);
    for (i, &r) in p.iter().enumerate() {
        let diff = (0..16)
            .map(|c| (tpx[i * 16 + c] - tx[r * 16 + c]).abs())
            .fold(0.0f32, f32::max);
        println!("  row {i} of T(PX) vs row {r} of T(X): max difference {diff:.2e}");
    }

    // Step 2: deeper stacks, every positional encoding, in one call each.
    println!("\nStep 2: 2-block stacks, 16 tokens, D = 64, 4 heads");
    for pe in [
        Positional::Sinusoidal,
        Positional::Learned,
        Positional::Rope,
    ] {
        let r = permutation::run(
            &gpu,
            &PermuteJob {
                positional: pe,
                seed,
                ..PermuteJob::default()
            },
        )?;
        println!(
            "  no encoding: equivariance {:.1e}, pooled {:.1e} | {:<10} equivariance {:.2}, pooled {:.2}",
            r.without_pe.equivariance_error, r.without_pe.pooled_invariance_error, pe.name(), r.with_pe.equivariance_error, r.with_pe.pooled_invariance_error
        );
    }
    println!("\nWithout encodings the errors are float rounding (~1e-7): the stack is equivariant, the pooled output invariant.");
    println!(
        "With any encoding they are of order one: the order of the tokens now changes the answer."
    );
    Ok(())
}

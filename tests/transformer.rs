//! The transformer stack against the reference, and the exercise's claim:
//! permutation-equivariant without positional encodings, not with them.

mod common;
use common::*;
use wgsl_nn::check::compare;
use wgsl_nn::cpu::RefTensor;
use wgsl_nn::gpu::Plan;
use wgsl_nn::models::permutation::{self, PermuteJob};
use wgsl_nn::models::transformer::{Positional, Transformer, TransformerConfig};
use wgsl_nn::ops::attention::AttentionPath;

#[test]
fn blocks_match_the_reference_pre_and_post_norm_causal_and_not() {
    for (i, (pre_norm, causal, path, pe)) in [
        (true, false, AttentionPath::Fused, Positional::None),
        (
            false,
            false,
            AttentionPath::Composed,
            Positional::Sinusoidal,
        ),
        (true, true, AttentionPath::Composed, Positional::Rope),
        (false, true, AttentionPath::Fused, Positional::Learned),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = TransformerConfig {
            d_model: 24,
            heads: 3,
            ffn_hidden: 40,
            layers: 2,
            pre_norm,
            causal,
            path,
        };
        let model = Transformer::random(&cfg, 11, 40 + i as u64).unwrap();
        let x = uniform(&mut rng(50 + i as u64), 2 * 11 * 24);
        let weights = model.upload(gpu()).unwrap();
        let mut plan = Plan::new();
        let y = model
            .forward_gpu(
                gpu(),
                &weights,
                &mut plan,
                &upload("x", &[2, 11, 24], &x),
                pe,
            )
            .unwrap();
        let got = run(&plan, &y);
        let reference = model
            .forward_ref(&RefTensor::from_f32(&[2, 11, 24], &x), pe)
            .unwrap();
        assert_passes(&format!("{cfg:?} {pe:?}"), &compare(&got, &reference));
    }
}

#[test]
fn equivariance_holds_without_positions_and_breaks_with_them() {
    for seed in [0, 1, 2, 3] {
        for (pe, path, tokens) in [
            (Positional::Sinusoidal, AttentionPath::Fused, 16),
            (Positional::Learned, AttentionPath::Composed, 9),
            (Positional::Rope, AttentionPath::Fused, 13),
        ] {
            let job = PermuteJob {
                tokens,
                dim: 32,
                heads: 4,
                layers: 2,
                positional: pe,
                seed,
                path,
                pre_norm: seed % 2 == 0,
                reps: 1,
            };
            let r = permutation::run(gpu(), &job).unwrap();
            let (a, b) = (&r.without_pe, &r.with_pe);
            assert!(
                a.check.passed && b.check.passed,
                "GPU vs reference: {} / {}",
                a.check.summary(),
                b.check.summary()
            );
            assert!(
                a.equivariance_error < 1e-5,
                "seed {seed} {pe:?}: equivariance error {} without PE",
                a.equivariance_error
            );
            assert!(
                a.pooled_invariance_error < 1e-5,
                "seed {seed} {pe:?}: pooled error {}",
                a.pooled_invariance_error
            );
            assert!(
                b.equivariance_error > 1e-2,
                "seed {seed} {pe:?}: equivariance error {} with PE",
                b.equivariance_error
            );
            assert!(
                b.pooled_invariance_error > 1e-4,
                "seed {seed} {pe:?}: pooled error {} with PE",
                b.pooled_invariance_error
            );
            assert!(r.permutation.iter().enumerate().any(|(i, &p)| i != p));
        }
    }
}

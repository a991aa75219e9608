//! The job behind `wgsl-nn text2image`: the network of `text2image` on the
//! GPU in one plan, every stage checked against the reference and timed,
//! the cross-attention weights read out per word and quadrant.

use crate::check::{compare, Check};
use crate::error::Result;
use crate::gpu::timer::time_plan;
use crate::gpu::{AdapterSummary, Gpu, Plan};
use crate::models::text2image::{
    forward_gpu, forward_ref, token_ids, tokenize, words_by_quadrant, Weights, QUADRANTS, STAGES,
};
use serde::Serialize;

/// How one stage of the network fared on the GPU.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// The stage's name, one of `models::text2image::STAGES`.
    pub stage: &'static str,
    /// Its output tensor's shape.
    pub shape: Vec<usize>,
    /// Median GPU time of the stage's steps (0 for a stage that is a view);
    /// None when the run had no per-step timestamps (wall-clock timing).
    pub gpu_ms: Option<f64>,
    /// The stage's output is within the reference's error bound.
    pub passed: bool,
    /// The stage's GPU output against the f64 reference.
    pub check: Check,
}

/// Everything `wgsl-nn text2image` prints or writes as JSON about a run.
pub struct Text2ImageReport {
    /// The adapter the job ran on.
    pub adapter: AdapterSummary,
    /// Which weights ran, in words ("demo" or "random (seed N)").
    pub weights: String,
    /// The sentence's words, lower-cased, in order.
    pub tokens: Vec<String>,
    /// The words not in the vocabulary (read as `<unk>`), in order.
    pub unknown: Vec<String>,
    /// words x quadrants, averaged over heads (rows sum to the share of
    /// each quadrant's attention that went to the word).
    pub attention: Vec<[f32; 4]>,
    /// One report per stage, in the network's order.
    pub stages: Vec<StageReport>,
    /// [3, 64, 64] RGB.
    pub image: Vec<f32>,
    /// The image's (height, width), from the last stage's shape.
    pub image_hw: [usize; 2],
    /// Median time of the whole plan (`PlanTiming::median_ms`), in ms.
    pub total_ms: f64,
    /// How long the f64 reference of every stage took on the host.
    pub reference: crate::cpu::RefTime,
}

impl Text2ImageReport {
    /// Every stage passed its check.
    pub fn passed(&self) -> bool {
        self.stages.iter().all(|s| s.passed)
    }

    /// For quadrant q: the words it attends to most, with their weights.
    pub fn top_words(&self, q: usize, n: usize) -> Vec<(String, f32)> {
        let mut v: Vec<(String, f32)> = self
            .tokens
            .iter()
            .zip(&self.attention)
            .map(|(w, a)| (w.clone(), a[q]))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v.truncate(n);
        v
    }
}

/// Which stage a plan step belongs to, by its label.
fn stage_of(label: &str) -> &'static str {
    let l = label.to_ascii_lowercase();
    if l.starts_with("embedding") {
        "embedding"
    } else if l.starts_with("gru") {
        "gru encoder"
    } else if l.starts_with("self-attention") {
        "self-attention"
    } else if l.starts_with("cross") {
        "cross-attention"
    } else if l.starts_with("decoder") {
        "decoder linear"
    } else if l.starts_with("upsample 1") {
        "upsample 1"
    } else if l.starts_with("upsample 2") {
        "upsample 2"
    } else if l.starts_with("upsample 3") {
        "upsample 3"
    } else {
        "image"
    }
}

/// Runs the network on `sentence` with `weights`: tokenizes it, plans the
/// whole network (`forward_gpu`) and times it (`time_plan`, one warm-up,
/// `reps` timed), computes the f64 reference, then downloads and checks
/// every stage and reads the cross-attention weights out per word and
/// quadrant.
///
/// # Errors
///
/// `Error::Argument` for a sentence without words or with more than 512;
/// errors of the GPU forward; device errors (allocation, running,
/// reading back).
pub fn run(gpu: &Gpu, sentence: &str, weights: &Weights, reps: usize) -> Result<Text2ImageReport> {
    let tokens = tokenize(sentence)?;
    let ids = token_ids(&tokens);
    let unknown = tokens
        .iter()
        .zip(&ids)
        .filter(|(_, &i)| i == 0)
        .map(|(w, _)| w.clone())
        .collect();
    let mut plan = Plan::new();
    let stages = forward_gpu(gpu, &mut plan, weights, &ids)?;
    let timing = time_plan(gpu, &plan, 1, reps)?;
    let (reference, ref_time) = crate::cpu::RefTime::of(|| forward_ref(weights, &ids));
    let mut reports = Vec::new();
    let mut probs = vec![];
    let mut image = vec![];
    for (s, r) in stages.iter().zip(&reference) {
        let got = s.tensor.download(gpu)?;
        let check = compare(&got, r);
        let gpu_ms = (!timing.steps.is_empty()).then(|| {
            timing
                .steps
                .iter()
                .filter(|(l, _)| stage_of(l) == s.name && s.name != "attention weights")
                .fold(0.0, |a, (_, ms)| a + ms)
        });
        if s.name == STAGES[4] {
            probs = got;
        } else if s.name == STAGES[9] {
            image = got;
        }
        reports.push(StageReport {
            stage: s.name,
            shape: s.tensor.shape.clone(),
            gpu_ms,
            passed: check.passed,
            check,
        });
    }
    let attention = words_by_quadrant(&probs, tokens.len());
    let hw = reports
        .last()
        .map(|r| [r.shape[2], r.shape[3]])
        .unwrap_or([0, 0]);
    Ok(Text2ImageReport {
        adapter: gpu.summary(),
        weights: weights.name.clone(),
        tokens,
        unknown,
        attention,
        stages: reports,
        image,
        image_hw: hw,
        total_ms: timing.median_ms,
        reference: ref_time,
    })
}

/// The quadrants in the order of [`Text2ImageReport::attention`]'s
/// columns: "top_left", "top_right", "bottom_left", "bottom_right".
pub fn quadrant_names() -> [&'static str; 4] {
    QUADRANTS
}

//! The text-to-image network's f64 reference, stage by stage.

use super::*;

/// The same network in f64, stage by stage (each from the previous
/// reference stage), in the order of `STAGES`.
pub fn forward_ref(w: &Weights, ids: &[usize]) -> Vec<RefTensor> {
    let t = ids.len();
    let lin = |x: &RefTensor, wt: &[f32], k: usize, n: usize, b: Option<&[f32]>, act| {
        cpu::matmul::linear(x, wt, k, n, b, act)
    };
    let e = lin(
        &RefTensor::from_f32(&[1, t, WORDS.len()], &one_hot(ids)),
        &w.embedding,
        WORDS.len(),
        D,
        None,
        Activation::None,
    );
    let [w_ih, w_hh, b_ih, b_hh] = &w.gru;
    let enc = cpu::rnn::rnn(&GRU, &e, w_ih, w_hh, b_ih, b_hh, None);
    let masks = cpu::attention::Masks {
        causal: false,
        keys: None,
    };
    let sa = cpu::attention::mha(
        &w.self_attn,
        &enc,
        &enc,
        HEADS,
        &masks,
        None,
        cpu::attention::Order::Stored,
    );
    let mixed = cpu::sequence::add(&enc, &sa);
    let ca = &w.cross_attn;
    let queries = RefTensor::from_f32(&[1, 4, D], &w.queries);
    let latents = cpu::attention::mha(
        ca,
        &queries,
        &mixed,
        HEADS,
        &masks,
        None,
        cpu::attention::Order::Stored,
    );
    let q = lin(&queries, &ca.wq, D, D, Some(&ca.bq), Activation::None);
    let k = lin(&mixed, &ca.wk, D, D, Some(&ca.bk), Activation::None);
    let probs = cpu::attention::probabilities(&q, &k, HEADS, &masks);
    let mut lat4 = latents.clone();
    lat4.shape = vec![4, D];
    let seed = lin(
        &lat4,
        &w.dec_w,
        D,
        C0 * 16,
        Some(&w.dec_b),
        Activation::Relu,
    );
    let mut img = seed.clone();
    img.shape = vec![4, C0, 4, 4];
    let mut out = vec![e, enc, mixed, latents, probs, seed];
    for (i, (wt, b)) in w.up.iter().enumerate() {
        let ct = upconv(C0, C0, i < 2);
        let o = ct
            .output_shape(&img.shape, "upsample")
            .map(|s| s.to_vec())
            .unwrap_or_default();
        img = cpu::conv_transpose2d::conv_transpose2d(
            &ct,
            &img,
            wt,
            Some(b),
            [o[0], o[1], o[2], o[3]],
        );
        out.push(img.clone());
    }
    out.push(cpu::sequence::assemble_quadrants(&img));
    out
}

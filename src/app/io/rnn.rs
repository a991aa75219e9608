//! An nn.RNN / nn.GRU / nn.LSTM state_dict read into an [`RnnStack`].

use crate::app::io::npy::Array;
use crate::app::io::state_dict::{transpose, StateDict};
use crate::error::{Error, Result};
use crate::models::rnn_stack::{torch_name, LayerWeights, RnnStack};
use crate::ops::rnn::RnnKind;
use std::collections::BTreeMap;

impl RnnStack {
    /// From an nn.RNN / nn.GRU / nn.LSTM state_dict (weight_ih_l0, ...,
    /// any module prefix). The kind follows from the gate count (rows of
    /// weight_hh over its columns); `want` must agree when given.
    pub fn from_state_dict(
        p: &BTreeMap<String, Array>,
        src: &str,
        want: Option<RnnKind>,
    ) -> Result<Self> {
        let bad = |m: String| Error::arg("--params", format!("{src}: {m}"));
        if let Some(k) = p.keys().find(|k| k.contains("_reverse")) {
            return Err(bad(format!(
                "'{k}' belongs to a bidirectional module; wgsl-nn runs one direction (bidirectional=False)"
            )));
        }
        if let Some(k) = p.keys().find(|k| k.contains("weight_hr_l")) {
            return Err(bad(format!(
                "'{k}' is an LSTM projection (proj_size > 0), which wgsl-nn does not run"
            )));
        }
        let sd = StateDict::new(p, src);
        let get = |name: &str| sd.get(name);
        let hh0 = get("weight_hh_l0")?.ok_or_else(|| {
            bad(format!(
                "no 'weight_hh_l0'; expected an nn.RNN/GRU/LSTM state_dict (keys present: {})",
                sd.keys()
            ))
        })?;
        let (gh, hidden) = match hh0.shape[..] {
            [gh, h] if h > 0 && gh % h == 0 => (gh, h),
            _ => {
                return Err(bad(format!(
                    "weight_hh_l0 has shape {:?}; expected [G*H, H]",
                    hh0.shape
                )))
            }
        };
        let kind = match gh / hidden {
            1 => RnnKind::Elman,
            3 => RnnKind::Gru,
            4 => RnnKind::Lstm,
            g => {
                return Err(bad(format!(
                    "weight_hh_l0 has {g} gate blocks; nn.RNN has 1, nn.GRU 3, nn.LSTM 4"
                )))
            }
        };
        if let Some(w) = want.filter(|&w| w != kind) {
            return Err(Error::arg(
                "--kind",
                format!(
                    "{} disagrees with {src}, whose weights are an {}'s; drop --kind or fix it",
                    torch_name(w),
                    torch_name(kind)
                ),
            ));
        }
        let input_size = match get("weight_ih_l0")? {
            None => return Err(bad("no 'weight_ih_l0'".into())),
            Some(a) => match a.shape[..] {
                [_, i] if i > 0 => i,
                _ => {
                    return Err(bad(format!(
                        "weight_ih_l0 has shape {:?}; expected [G*H, I] with I at least 1",
                        a.shape
                    )))
                }
            },
        };
        let mut stack = RnnStack {
            kind,
            input_size,
            hidden,
            layers: vec![],
        };
        let mut with_bias = true;
        for l in 0.. {
            let Some(w_ih) = get(&format!("weight_ih_l{l}"))? else {
                break;
            };
            let r = stack.layer(l);
            let take = |name: &str, a: &Array, want: &[usize]| -> Result<Vec<f32>> {
                if a.shape != want {
                    return Err(bad(format!(
                        "'{name}' has shape {:?}; layer {l} expects {want:?}",
                        a.shape
                    )));
                }
                Ok(a.data.clone())
            };
            let [i, g] = r.w_ih_shape();
            let w_hh = get(&format!("weight_hh_l{l}"))?
                .ok_or_else(|| bad(format!("no 'weight_hh_l{l}'")))?;
            // PyTorch stores [G*H, in]; wgsl-nn input-major [in, G*H].
            let w_ih = transpose(&take(&format!("weight_ih_l{l}"), w_ih, &[g, i])?, g, i);
            let w_hh = transpose(
                &take(&format!("weight_hh_l{l}"), w_hh, &[g, hidden])?,
                g,
                hidden,
            );
            // bias=False modules have no bias keys (in any layer): zeros are
            // the same layer. One bias without the other is a damaged file.
            let (ih, hh) = (
                get(&format!("bias_ih_l{l}"))?,
                get(&format!("bias_hh_l{l}"))?,
            );
            let has = ih.is_some() && hh.is_some();
            if ih.is_some() != hh.is_some() || (l > 0 && has != with_bias) {
                let what = match (ih.is_some(), hh.is_some()) {
                    (true, true) => "both",
                    (false, false) => "neither",
                    _ => "only one",
                };
                let earlier = if with_bias { "both" } else { "neither" };
                return Err(bad(format!(
                    "layer {l} has {what} of bias_ih_l{l} and bias_hh_l{l}{}; a module has both in every layer \
                     or (bias=False) none",
                    if l > 0 && what != "only one" { format!(" but the layers before have {earlier}") } else { String::new() }
                )));
            }
            with_bias = has;
            let bias = |name: String, a: Option<&Array>| match a {
                Some(a) => take(&name, a, &[g]),
                None => Ok(vec![0.0; g]),
            };
            let (b_ih, b_hh) = (
                bias(format!("bias_ih_l{l}"), ih)?,
                bias(format!("bias_hh_l{l}"), hh)?,
            );
            stack.layers.push(LayerWeights {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
            });
        }
        if stack.layers.is_empty() {
            return Err(bad("no 'weight_ih_l0'".into()));
        }
        sd.finish(&format!("an {}", torch_name(kind)))?;
        Ok(stack)
    }
}

//! A conv stack's weights from a state_dict saved from an `nn.Sequential`
//! (conv and batch norm layers).

use crate::app::io::npy::Array;
use crate::app::io::state_dict::StateDict;
use crate::error::{Error, Result};
use crate::models::conv_stack::{ConvStack, Layer};
use crate::ops::batchnorm::BatchNorm;
use std::collections::BTreeMap;

impl ConvStack {
    /// Loads `{index}.weight` / `{index}.bias` (and a batch norm's
    /// statistics) as saved from an nn.Sequential's state_dict, under any
    /// one module prefix (indices count every layer, as Sequential does).
    /// Every key must be used and every shape must match.
    pub fn load_params(&mut self, params: &BTreeMap<String, Array>, source: &str) -> Result<()> {
        let sd = StateDict::new(params, source);
        for l in &mut self.layers {
            if let Layer::BatchNorm { bn, affine } = &mut l.layer {
                load_batchnorm(bn, *affine, l.spec.index, &l.name, &sd)?;
                continue;
            }
            let Layer::Conv { op, weight, bias } = &mut l.layer else {
                continue;
            };
            let i = l.spec.index;
            let take = |key: &str, want: &[usize]| -> Result<Option<Vec<f32>>> {
                match sd.get(key)? {
                    None => Ok(None),
                    Some(a) if a.shape == want => Ok(Some(a.data.clone())),
                    Some(a) => Err(Error::shape(
                        &l.name,
                        format!(
                            "{source}: '{key}' has shape {:?} but this layer expects {want:?} \
                             (input channels {}, output channels {}); fix the layer spec (out=...) or the file",
                            a.shape, op.in_channels, op.out_channels
                        ),
                    )),
                }
            };
            let wkey = format!("{i}.weight");
            *weight = take(&wkey, &op.weight_shape())?.ok_or_else(|| {
                Error::shape(
                    &l.name,
                    format!("{source} has no '{wkey}'; keys present: {}", sd.keys()),
                )
            })?;
            let bkey = format!("{i}.bias");
            match (take(&bkey, &[op.out_channels])?, op.bias) {
                (Some(b), true) => *bias = Some(b),
                (None, true) => {
                    return Err(Error::shape(
                        &l.name,
                        format!("{source} has no '{bkey}'; if the layer was built with bias=False, add bias=false to its spec"),
                    ))
                }
                (Some(_), false) => {
                    return Err(Error::shape(
                        &l.name,
                        format!("{source} has '{bkey}' but the spec says bias=false; remove bias=false"),
                    ))
                }
                (None, false) => {}
            }
        }
        sd.finish(
            "no conv or batch norm layer of the stack (indices as nn.Sequential counts them, pooling and \
             ReLU layers too)",
        )
    }
}

/// `{i}.running_mean`, `{i}.running_var` and, when affine, `{i}.weight`
/// and `{i}.bias` of a BatchNorm2d; `{i}.num_batches_tracked` is accepted
/// and unused (it only matters in training).
fn load_batchnorm(
    bn: &mut BatchNorm,
    affine: bool,
    i: usize,
    layer: &str,
    sd: &StateDict,
) -> Result<()> {
    let c = bn.channels();
    let source = &sd.src;
    let take = |name: &str, want: bool| -> Result<Option<Vec<f32>>> {
        let key = format!("{i}.{name}");
        match (sd.get(&key)?, want) {
            (Some(a), true) if a.shape == [c] => Ok(Some(a.data.clone())),
            (Some(a), true) => Err(Error::shape(
                layer,
                format!(
                    "{source}: '{key}' has shape {:?} but this batch norm has {c} channels",
                    a.shape
                ),
            )),
            (None, true) => Err(Error::shape(
                layer,
                format!("{source} has no '{key}'; keys present: {}", sd.keys()),
            )),
            (Some(_), false) => Err(Error::shape(
                layer,
                format!("{source} has '{key}' but the spec says affine=false; remove affine=false"),
            )),
            (None, false) => Ok(None),
        }
    };
    bn.mean = take("running_mean", true)?.unwrap_or_default();
    bn.var = take("running_var", true)?.unwrap_or_default();
    for (name, slot) in [("weight", &mut bn.weight), ("bias", &mut bn.bias)] {
        if let Some(v) = take(name, affine)? {
            *slot = v;
        }
    }
    sd.ignore(&format!("{i}.num_batches_tracked"))?;
    bn.validate(layer)
}

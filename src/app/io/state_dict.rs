//! Reading a PyTorch state_dict saved as .npz: keys under one module
//! prefix, every key accounted for.

use crate::app::io::npy::Array;
use crate::error::Result;

/// A saved state_dict read by name after an optional module prefix
/// (`attn.in_proj_weight` answers `in_proj_weight`). It remembers what was
/// read: every key must come from one module (one prefix), and `finish`
/// refuses keys nobody read, so a typo or a missing layer is an error, not
/// a silently zero bias or a shorter stack.
pub struct StateDict<'a> {
    /// The arrays as `read_npz` returned them, by full key.
    pub map: &'a std::collections::BTreeMap<String, Array>,
    /// Where they came from (the file's path), for messages.
    pub src: String,
    used: std::cell::RefCell<std::collections::BTreeSet<String>>,
    prefix: std::cell::RefCell<Option<String>>,
    /// The keys by their last `.`-segment, which a matching key shares
    /// with the name asked for: a scan of every key per `get` made a
    /// 3 MB file of 3000 RNN layers take over 30 s.
    by_last: std::collections::BTreeMap<&'a str, Vec<&'a String>>,
}

fn last_segment(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

impl<'a> StateDict<'a> {
    /// A reader over `map`, with nothing read yet; `src` names the source
    /// in errors.
    pub fn new(map: &'a std::collections::BTreeMap<String, Array>, src: &str) -> Self {
        StateDict {
            map,
            src: src.to_string(),
            used: Default::default(),
            prefix: Default::default(),
            by_last: map.keys().fold(Default::default(), |mut m, k| {
                m.entry(last_segment(k)).or_insert_with(Vec::new).push(k);
                m
            }),
        }
    }

    /// The array whose key is `name` or ends in `.{name}`, marked as read;
    /// None when no key matches. The first key read fixes the module
    /// prefix (`attn.` for `attn.in_proj_weight`).
    ///
    /// # Errors
    ///
    /// `Error::Argument` (for `--params`) when several keys match `name`,
    /// or when the match has a different prefix from the keys read before
    /// (the file mixes modules).
    pub fn get(&self, name: &str) -> Result<Option<&'a Array>> {
        let dotted = format!(".{name}");
        let hits: Vec<&String> = self
            .by_last
            .get(last_segment(name))
            .into_iter()
            .flatten()
            .copied()
            .filter(|k| *k == name || k.ends_with(&dotted))
            .collect();
        let key = match hits[..] {
            [] => return Ok(None),
            [k] => k,
            _ => {
                return Err(crate::Error::arg(
                    "--params",
                    format!(
                        "{} has several '{name}' ({hits:?}); save one module's state_dict",
                        self.src
                    ),
                ))
            }
        };
        let prefix = key[..key.len() - name.len()].to_string();
        let mut seen = self.prefix.borrow_mut();
        match seen.as_deref() {
            Some(p) if p != prefix => {
                return Err(crate::Error::arg(
                    "--params",
                    format!(
                        "{} mixes modules: '{key}' does not share the prefix '{p}' of the keys read before; \
                         save one module's state_dict",
                        self.src
                    ),
                ))
            }
            _ => *seen = Some(prefix),
        }
        self.used.borrow_mut().insert(key.clone());
        Ok(self.map.get(key))
    }

    /// Marks a key as understood without reading it (e.g. num_batches_tracked).
    pub fn ignore(&self, name: &str) -> Result<()> {
        self.get(name).map(|_| ())
    }

    /// The keys, for messages.
    pub fn keys(&self) -> String {
        let k: Vec<&str> = self.map.keys().map(String::as_str).collect();
        if k.is_empty() {
            "none".into()
        } else {
            k.join(", ")
        }
    }

    /// Every key must have been read; `module` completes "keys ... does
    /// not use", e.g. "an nn.LSTM".
    pub fn finish(&self, module: &str) -> Result<()> {
        let used = self.used.borrow();
        let unused: Vec<&String> = self.map.keys().filter(|k| !used.contains(*k)).collect();
        if unused.is_empty() {
            return Ok(());
        }
        Err(crate::Error::arg(
            "--params",
            format!(
                "{} has keys {module} does not use: {unused:?}; check for typos, missing layers or \
                 another module's weights",
                self.src
            ),
        ))
    }
}

/// [rows, cols] row-major to [cols, rows]: PyTorch's output-major weights
/// to wgsl-nn's input-major ones.
pub fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|i| w[(i % rows) * cols + i / rows])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::StateDict;
    use crate::app::io::npy::Array;
    use std::collections::BTreeMap;

    fn dict(keys: &[&str]) -> BTreeMap<String, Array> {
        keys.iter()
            .map(|k| {
                let a = Array {
                    shape: vec![1],
                    data: vec![0.0],
                };
                (k.to_string(), a)
            })
            .collect()
    }

    #[test]
    fn keys_under_one_prefix_are_found_and_every_key_must_be_used() {
        let d = dict(&["features.0.weight", "features.10.weight", "features.0.bias"]);
        let sd = StateDict::new(&d, "m.npz");
        assert!(sd.get("0.weight").unwrap().is_some());
        assert!(sd.get("0.bias").unwrap().is_some());
        assert!(sd.get("3.weight").unwrap().is_none());
        let e = sd.finish("this stack").unwrap_err().to_string();
        assert!(
            e.contains("features.10.weight") && e.contains("m.npz"),
            "{e}"
        );
        assert!(sd.get("10.weight").unwrap().is_some());
        assert!(sd.finish("this stack").is_ok());
    }

    #[test]
    fn two_modules_are_refused() {
        let d = dict(&["a.weight_ih_l0", "b.weight_hh_l0"]);
        let sd = StateDict::new(&d, "m.npz");
        assert!(sd.get("weight_ih_l0").unwrap().is_some());
        let e = sd.get("weight_hh_l0").unwrap_err().to_string();
        assert!(e.contains("mixes modules"), "{e}");
        let d = dict(&["a.in_proj_weight", "b.in_proj_weight"]);
        let e = StateDict::new(&d, "m.npz")
            .get("in_proj_weight")
            .unwrap_err()
            .to_string();
        assert!(e.contains("several"), "{e}");
    }
}

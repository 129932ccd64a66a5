//! The bridge to PyTorch: import and export a single-layer `nn.LSTM` and its
//! output `nn.Linear` through safetensors, the PyTorch ecosystem's weight format.
//!
//! Tensor names are `{lstm}weight_ih_l0` (4H, X), `{lstm}weight_hh_l0` (4H, H),
//! `{lstm}bias_ih_l0`, `{lstm}bias_hh_l0` (4H), gate order i, f, g, o, and
//! `{linear}weight` (V, H), `{linear}bias` (V), with the prefixes configurable
//! (default `lstm.` and `fc.`, as `tools/pytorch/charlstm.py` names them).
//! The input is one-hot over the vocabulary (X = V). The vocabulary is a JSON
//! list of one-character strings in index order.
//!
//! Import is strict, like `load_state_dict(strict=True)`: every tensor of the
//! file must be one of the six, so a model with extra layers (an embedding, a
//! second LSTM layer) is rejected rather than silently converted to a
//! different model.

use std::collections::HashMap;

use lstm_core::format::{Dims, InputKind};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::layout::{Layout, Matrix, convert, merged_bias};
use crate::model_file::ModelFile;

/// Tensor-name prefixes of the LSTM and of the output layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefixes {
    /// Prefix of `weight_ih_l0` & co (e.g. `lstm.`).
    pub lstm: String,
    /// Prefix of the output layer's `weight` and `bias` (e.g. `fc.`).
    pub linear: String,
}

/// Default prefix of the LSTM's tensors (`CharLSTM.lstm` in `tools/pytorch/charlstm.py`).
pub const DEFAULT_LSTM_PREFIX: &str = "lstm.";
/// Default prefix of the output layer's tensors (`CharLSTM.fc`).
pub const DEFAULT_LINEAR_PREFIX: &str = "fc.";

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes {
            lstm: DEFAULT_LSTM_PREFIX.into(),
            linear: DEFAULT_LINEAR_PREFIX.into(),
        }
    }
}

/// What can be wrong with a PyTorch model or vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum PytorchError {
    /// The bytes are not a safetensors file (or it is truncated).
    #[error("not a valid safetensors file (truncated or damaged?): {0}")]
    Safetensors(safetensors::SafeTensorError),
    /// A required tensor is absent.
    #[error("tensor {name:?} is missing; {hint}")]
    MissingTensor {
        /// The name looked for.
        name: String,
        /// What the file has, and which prefix flag might fix it.
        hint: String,
    },
    /// The file has tensors that are not part of an `nn.LSTM` + `nn.Linear` model.
    #[error(
        "unexpected tensors {names}: only a single-layer nn.LSTM with one-hot input and one nn.Linear output layer can be imported (other layers would change the model)"
    )]
    UnexpectedTensors {
        /// The extra tensor names, comma-separated.
        names: String,
    },
    /// The model has a feature this format cannot hold.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A tensor's element type is not a float type.
    #[error("tensor {name:?} has dtype {dtype}; expected F32, F64, F16 or BF16")]
    Dtype {
        /// Tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// A tensor's shape does not fit the others.
    #[error("tensor {name:?} has shape {found:?}, expected {expected}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Expected shape, described.
        expected: String,
        /// Shape found.
        found: Vec<usize>,
    },
    /// The vocabulary file is not a JSON list of strings.
    #[error("vocabulary is not a JSON list of one-character strings: {0}")]
    VocabJson(serde_json::Error),
    /// A vocabulary entry is not exactly one character.
    #[error("vocabulary entry {index} is {entry:?}, not a single character")]
    VocabEntry {
        /// Its position.
        index: usize,
        /// The entry.
        entry: String,
    },
    /// The vocabulary and the tensors disagree on its size.
    #[error("vocabulary has {found} symbols but the model's output layer has {expected}")]
    VocabSize {
        /// Output size of the model.
        expected: usize,
        /// Symbols in the vocabulary file.
        found: usize,
    },
    /// lstm-core rejected the weights or vocabulary (e.g. a NaN, a repeated symbol).
    #[error("lstm-core rejects the model: {0}")]
    Model(lstm_core::Error),
}

// No `#[from]`: the messages already include the cause, and a `source` would
// print it twice in the CLI's `error: a: b` chain.
impl From<safetensors::SafeTensorError> for PytorchError {
    fn from(e: safetensors::SafeTensorError) -> Self {
        PytorchError::Safetensors(e)
    }
}

impl From<serde_json::Error> for PytorchError {
    fn from(e: serde_json::Error) -> Self {
        PytorchError::VocabJson(e)
    }
}

impl From<lstm_core::Error> for PytorchError {
    fn from(e: lstm_core::Error) -> Self {
        PytorchError::Model(e)
    }
}

/// Parses a vocabulary JSON list (`["\n", " ", "a", …]`) into a string of its symbols.
///
/// # Errors
/// Not JSON, not a list of strings, or an entry that is not one character.
pub fn parse_vocab(json: &str) -> Result<String, PytorchError> {
    let entries: Vec<String> = serde_json::from_str(json)?;
    let mut vocab = String::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let mut chars = entry.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => vocab.push(c),
            _ => return Err(PytorchError::VocabEntry { index, entry }),
        }
    }
    Ok(vocab)
}

/// The vocabulary as a JSON list of one-character strings, in index order.
pub fn vocab_json(vocab: &str) -> String {
    let list: Vec<String> = vocab.chars().map(String::from).collect();
    // Serialising a list of strings cannot fail.
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

fn to_f32(name: &str, t: &TensorView<'_>) -> Result<Vec<f32>, PytorchError> {
    let data = t.data();
    let v = match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(PytorchError::Dtype {
                name: name.into(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(v)
}

/// An `nn.LSTM` parameter name without its prefix: `weight_ih_l0`,
/// `bias_hh_l2_reverse`, `weight_hr_l0` …; returns (matrix, layer, reverse).
fn lstm_param(rest: &str) -> Option<(&str, usize, bool)> {
    let rest = rest
        .strip_prefix("weight_")
        .or_else(|| rest.strip_prefix("bias_"))?;
    let (matrix, rest) = rest.split_once("_l")?;
    if !matches!(matrix, "ih" | "hh" | "hr") {
        return None;
    }
    let (layer, reverse) = match rest.strip_suffix("_reverse") {
        Some(l) => (l, true),
        None => (rest, false),
    };
    if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((matrix, layer.parse().ok()?, reverse))
}

/// Rejects multi-layer, bidirectional and projected LSTMs with a message naming the feature.
fn check_supported(names: &[&str], lstm: &str) -> Result<(), PytorchError> {
    let params: Vec<(&str, (&str, usize, bool))> = names
        .iter()
        .filter_map(|n| Some((*n, lstm_param(n.strip_prefix(lstm)?)?)))
        .collect();
    if let Some(layers) = params.iter().map(|(_, (_, l, _))| l + 1).max()
        && layers > 1
    {
        let example = params
            .iter()
            .find(|(_, (_, l, _))| *l > 0)
            .map_or("", |(n, _)| n);
        return Err(PytorchError::Unsupported(format!(
            "multi-layer LSTM (num_layers={layers}, e.g. {example:?}); only num_layers=1 is supported"
        )));
    }
    if let Some((n, _)) = params.iter().find(|(_, (_, _, rev))| *rev) {
        return Err(PytorchError::Unsupported(format!(
            "bidirectional LSTM ({n:?}); only bidirectional=False is supported"
        )));
    }
    if let Some((n, _)) = params.iter().find(|(_, (m, _, _))| *m == "hr") {
        return Err(PytorchError::Unsupported(format!(
            "LSTM with a projection ({n:?}); only proj_size=0 is supported"
        )));
    }
    Ok(())
}

/// At most a dozen names, for messages.
fn list_names(names: &[&str]) -> String {
    const MAX: usize = 12;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(" and {} more", names.len() - MAX));
    }
    s
}

/// Explains a missing tensor: the prefix that would find it, or what the file has.
fn missing_hint(names: &[&str], suffix: &str, flag: &str, current: &str) -> String {
    let candidates: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(suffix))
        .filter(|p| *p != current && (p.is_empty() || p.ends_with('.')))
        .collect();
    match candidates[..] {
        [p] => format!(
            "the file has {:?}: use {flag} {p:?}",
            format!("{p}{suffix}")
        ),
        _ => format!(
            "the file has {}; set the prefixes with --lstm-prefix / --linear-prefix",
            list_names(names)
        ),
    }
}

/// Reads a safetensors `nn.LSTM` + `nn.Linear` and a vocabulary into a model.
///
/// # Errors
/// Missing, unexpected or unsupported tensors, wrong dtypes or shapes, a
/// vocabulary of the wrong size, non-finite weights, a damaged file.
pub fn import(
    safetensors_bytes: &[u8],
    vocab: &str,
    prefixes: &Prefixes,
) -> Result<ModelFile, PytorchError> {
    let st = SafeTensors::deserialize(safetensors_bytes)?;
    let mut names = st.names();
    names.sort_unstable();
    let (p, l) = (&prefixes.lstm, &prefixes.linear);
    check_supported(&names, p)?;

    let wanted = [
        (
            format!("{p}weight_ih_l0"),
            "weight_ih_l0",
            "--lstm-prefix",
            p,
        ),
        (
            format!("{p}weight_hh_l0"),
            "weight_hh_l0",
            "--lstm-prefix",
            p,
        ),
        (format!("{p}bias_ih_l0"), "bias_ih_l0", "--lstm-prefix", p),
        (format!("{p}bias_hh_l0"), "bias_hh_l0", "--lstm-prefix", p),
        (format!("{l}weight"), "weight", "--linear-prefix", l),
        (format!("{l}bias"), "bias", "--linear-prefix", l),
    ];
    let get = |i: usize| -> Result<(Vec<usize>, Vec<f32>), PytorchError> {
        let (name, suffix, flag, current) = &wanted[i];
        let t = st.tensor(name).map_err(|_| PytorchError::MissingTensor {
            name: name.clone(),
            hint: missing_hint(&names, suffix, flag, current),
        })?;
        Ok((t.shape().to_vec(), to_f32(name, &t)?))
    };
    let (s_ih, w_ih) = get(0)?;
    let (s_hh, w_hh) = get(1)?;
    let (s_bih, b_ih) = get(2)?;
    let (s_bhh, b_hh) = get(3)?;
    let (s_wy, w_y) = get(4)?;
    let (s_by, b_y) = get(5)?;
    let extra: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !wanted.iter().any(|(w, ..)| w == n))
        .collect();
    if !extra.is_empty() {
        return Err(PytorchError::UnexpectedTensors {
            names: list_names(&extra),
        });
    }
    let name = |i: usize| wanted[i].0.clone();
    let n_h = match s_hh[..] {
        [rows, cols] if rows == 4 * cols && cols > 0 => cols,
        _ => {
            return Err(PytorchError::Shape {
                name: name(1),
                expected: "(4·H, H) with H ≥ 1".into(),
                found: s_hh,
            });
        }
    };
    let n_y = match s_wy[..] {
        [rows, cols] if cols == n_h && rows > 0 => rows,
        _ => {
            return Err(PytorchError::Shape {
                name: name(4),
                expected: format!("(V, {n_h}) (H = {n_h} from {})", name(1)),
                found: s_wy,
            });
        }
    };
    for (i, expected, found) in [
        (0, vec![4 * n_h, n_y], &s_ih),
        (2, vec![4 * n_h], &s_bih),
        (3, vec![4 * n_h], &s_bhh),
        (5, vec![n_y], &s_by),
    ] {
        if *found != expected {
            let why = if i == 0 && found.len() == 2 && found[0] == 4 * n_h {
                format!(
                    "{expected:?}: the input must be one-hot over the {n_y} output symbols (input_size = vocabulary size)"
                )
            } else {
                format!("{expected:?} (H = {n_h}, V = {n_y})")
            };
            return Err(PytorchError::Shape {
                name: name(i),
                expected: why,
                found: found.clone(),
            });
        }
    }
    let found = vocab.chars().count();
    if found != n_y {
        return Err(PytorchError::VocabSize {
            expected: n_y,
            found,
        });
    }
    let n_x = n_y;
    let dims = Dims { n_x, n_h, n_y };
    dims.validate(InputKind::OneHot)?;
    let (from, to) = (Layout::PyTorch, Layout::File);
    let model = ModelFile {
        input: InputKind::OneHot,
        dims,
        vocab: vocab.to_string(),
        w_ih: convert(&w_ih, Matrix::Input, n_x, n_h, from, to),
        w_hh: convert(&w_hh, Matrix::Recurrent, n_h, n_h, from, to),
        b: merged_bias(&b_ih, &b_hh),
        w_y,
        b_y,
    };
    // Runs lstm-core's validation (finite values, no repeated symbol).
    model.to_bytes()?;
    Ok(model)
}

/// Writes a model as safetensors (F32) that `nn.LSTM` + `nn.Linear` load with
/// `load_state_dict(strict=True)`; the whole bias goes to `bias_ih_l0`
/// (`bias_hh_l0` is zero).
///
/// # Errors
/// A dense-input model (PyTorch's one-hot layout needs a vocabulary input).
pub fn export(model: &ModelFile, prefixes: &Prefixes) -> Result<Vec<u8>, PytorchError> {
    if model.input != InputKind::OneHot {
        return Err(PytorchError::Unsupported(
            "dense-input model: export supports one-hot character models".into(),
        ));
    }
    let Dims { n_x, n_h, n_y } = model.dims;
    let w_ih = convert(
        &model.w_ih,
        Matrix::Input,
        n_x,
        n_h,
        Layout::File,
        Layout::PyTorch,
    );
    let w_hh = convert(
        &model.w_hh,
        Matrix::Recurrent,
        n_h,
        n_h,
        Layout::File,
        Layout::PyTorch,
    );
    let zeros = vec![0.0f32; 4 * n_h];
    let p = &prefixes.lstm;
    let l = &prefixes.linear;
    let tensors: Vec<(String, Vec<usize>, &[f32])> = vec![
        (format!("{p}weight_ih_l0"), vec![4 * n_h, n_x], &w_ih),
        (format!("{p}weight_hh_l0"), vec![4 * n_h, n_h], &w_hh),
        (format!("{p}bias_ih_l0"), vec![4 * n_h], &model.b),
        (format!("{p}bias_hh_l0"), vec![4 * n_h], &zeros),
        (format!("{l}weight"), vec![n_y, n_h], &model.w_y),
        (format!("{l}bias"), vec![n_y], &model.b_y),
    ];
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let mut meta = HashMap::new();
    // What `safetensors.torch.save_file` writes.
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("producer".to_string(), "host-trainer".to_string());
    Ok(safetensors::serialize(views, Some(meta))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lstm_param_names() {
        assert_eq!(lstm_param("weight_ih_l0"), Some(("ih", 0, false)));
        assert_eq!(lstm_param("bias_hh_l12_reverse"), Some(("hh", 12, true)));
        assert_eq!(lstm_param("weight_hr_l0"), Some(("hr", 0, false)));
        assert_eq!(lstm_param("weight"), None);
        assert_eq!(lstm_param("weight_ih_lx"), None);
        assert_eq!(lstm_param("proj_layer"), None);
    }

    #[test]
    fn vocab_json_round_trips() {
        let v = "\n a\"é";
        assert_eq!(parse_vocab(&vocab_json(v)).ok().as_deref(), Some(v));
        assert!(matches!(
            parse_vocab(r#"["a", "bc"]"#),
            Err(PytorchError::VocabEntry { index: 1, .. })
        ));
        assert!(matches!(
            parse_vocab(r#"["a", ""]"#),
            Err(PytorchError::VocabEntry { index: 1, .. })
        ));
        assert!(matches!(
            parse_vocab(r#"{"a": 1}"#),
            Err(PytorchError::VocabJson(_))
        ));
    }
}

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

use lstm_core::format::{CellKind, TokenKind};

use crate::layout::{Layout, Matrix, convert, layer_from_pytorch, layer_to_pytorch, merged_bias};
use crate::model::{MAX_LAYERS, Stack};
use crate::model_file::{ExportError, ModelFile, encode_stack};

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
    /// A layer below the top one has no tensors.
    #[error("layer {layer} is missing: no {name:?}, but the file has layers up to {top}")]
    MissingLayer {
        /// The missing layer's index.
        layer: usize,
        /// Its `weight_ih` tensor's name.
        name: String,
        /// The highest layer index present.
        top: usize,
    },
    /// Encoding the imported model, or decoding the one to export, failed.
    #[error("{0}")]
    Stack(ExportError),
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

/// The recurrent-module prefixes [`import_any`] looks for when none is given.
pub const RNN_PREFIXES: [&str; 3] = ["lstm.", "gru.", "rnn."];

/// A model read from PyTorch: a single-layer LSTM (format version 1) or any other stack (version 2).
#[derive(Debug, Clone, PartialEq)]
pub enum Imported {
    /// A single-layer `nn.LSTM`, written as a version-1 file.
    Plain(ModelFile),
    /// Any cell kind and 1–4 layers, written as a version-2 file; with its vocabulary.
    Stack(Stack<f32>, String),
}

impl Imported {
    /// The model-file bytes (version 1 for [`Imported::Plain`], 2 otherwise).
    ///
    /// # Errors
    /// lstm-core rejects the model.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PytorchError> {
        match self {
            Imported::Plain(m) => Ok(m.to_bytes()?),
            Imported::Stack(s, vocab) => {
                encode_stack(s, vocab, TokenKind::Chars).map_err(PytorchError::Stack)
            }
        }
    }
}

/// The conventional prefix of a cell kind's module (`lstm.`, `gru.`, `rnn.`).
pub fn default_rnn_prefix(kind: CellKind) -> &'static str {
    match kind {
        CellKind::Lstm => "lstm.",
        CellKind::Gru => "gru.",
        CellKind::Rnn => "rnn.",
    }
}

/// The cell kind of `gates` gate blocks.
fn kind_of_gates(gates: usize) -> Option<CellKind> {
    [CellKind::Lstm, CellKind::Gru, CellKind::Rnn]
        .into_iter()
        .find(|k| k.gates() == gates)
}

/// Refuses a relu RNN named by the safetensors metadata (its tensors look like a tanh RNN's).
fn check_metadata(bytes: &[u8]) -> Result<(), PytorchError> {
    let (_, meta) = SafeTensors::read_metadata(bytes)?;
    if let Some(m) = meta.metadata() {
        let relu = m.get("cell").is_some_and(|c| c.contains("relu"))
            || m.get("nonlinearity").is_some_and(|n| n == "relu");
        if relu {
            return Err(PytorchError::Unsupported(
                "nn.RNN with nonlinearity='relu' (metadata); only the tanh RNN is supported".into(),
            ));
        }
    }
    Ok(())
}

/// The recurrent module's prefix: `given`, or the one of [`RNN_PREFIXES`] the file has.
fn find_rnn_prefix(names: &[&str], given: Option<&str>) -> Result<String, PytorchError> {
    if let Some(p) = given {
        return Ok(p.to_string());
    }
    let found: Vec<&str> = RNN_PREFIXES
        .into_iter()
        .filter(|p| {
            names
                .iter()
                .any(|n| n.strip_prefix(p).is_some_and(|r| lstm_param(r).is_some()))
        })
        .collect();
    match found[..] {
        [p] => Ok(p.to_string()),
        [] => Err(PytorchError::MissingTensor {
            name: "lstm.weight_ih_l0 (or gru., rnn.)".into(),
            hint: format!(
                "the file has {}; set the prefix with --rnn-prefix",
                list_names(names)
            ),
        }),
        _ => Err(PytorchError::Unsupported(format!(
            "tensors of two recurrent modules ({}); one model has one, choose it with --rnn-prefix",
            found.join(", ")
        ))),
    }
}

/// Reads a safetensors `nn.LSTM`, `nn.GRU` or tanh `nn.RNN` of 1–4 layers plus an `nn.Linear`, with a
/// vocabulary; the cell kind and layer count come from the tensors. `rnn_prefix` `None` looks for
/// `lstm.`, `gru.` and `rnn.`. A single-layer LSTM is imported exactly as [`import`] does.
///
/// # Errors
/// What [`import`] refuses, and a bidirectional, projected or relu model, a missing layer, layers of
/// different cell kinds, two recurrent modules, more than [`MAX_LAYERS`] layers.
pub fn import_any(
    bytes: &[u8],
    vocab: &str,
    rnn_prefix: Option<&str>,
    linear: &str,
) -> Result<Imported, PytorchError> {
    let st = SafeTensors::deserialize(bytes)?;
    check_metadata(bytes)?;
    let mut names = st.names();
    names.sort_unstable();
    let p = find_rnn_prefix(&names, rnn_prefix)?;
    check_bidirectional_proj(&names, &p)?;
    let present: Vec<usize> = names
        .iter()
        .filter_map(|n| lstm_param(n.strip_prefix(p.as_str())?).map(|(_, l, _)| l))
        .collect();
    if present.is_empty() {
        return Err(PytorchError::MissingTensor {
            name: format!("{p}weight_ih_l0"),
            hint: missing_hint(&names, "weight_ih_l0", "--lstm-prefix", &p),
        });
    }
    let top = present.iter().copied().max().unwrap_or(0);
    let n_layers = top + 1;
    if n_layers > MAX_LAYERS {
        return Err(PytorchError::Unsupported(format!(
            "{n_layers} layers (num_layers={n_layers}); at most {MAX_LAYERS} layers are supported"
        )));
    }
    if let Some(layer) = (0..n_layers).find(|k| !present.contains(k)) {
        return Err(PytorchError::MissingLayer {
            layer,
            name: format!("{p}weight_ih_l{layer}"),
            top,
        });
    }
    let get = |name: &str, suffix: &str| -> Result<(Vec<usize>, Vec<f32>), PytorchError> {
        let t = st.tensor(name).map_err(|_| PytorchError::MissingTensor {
            name: name.into(),
            hint: missing_hint(&names, suffix, "--rnn-prefix", &p),
        })?;
        Ok((t.shape().to_vec(), to_f32(name, &t)?))
    };
    // Layer 0's recurrent matrix fixes H and the cell kind.
    let hh0 = format!("{p}weight_hh_l0");
    let (s_hh0, _) = get(&hh0, "weight_hh_l0")?;
    let (kind, n_h) = match s_hh0[..] {
        [rows, cols] if cols > 0 && rows % cols == 0 => match kind_of_gates(rows / cols) {
            Some(k) => (k, cols),
            None => {
                return Err(PytorchError::Shape {
                    name: hh0,
                    expected: "(G·H, H) with G = 4 (LSTM), 3 (GRU) or 1 (RNN)".into(),
                    found: s_hh0,
                });
            }
        },
        _ => {
            return Err(PytorchError::Shape {
                name: hh0,
                expected: "(G·H, H) with H ≥ 1".into(),
                found: s_hh0,
            });
        }
    };
    if kind == CellKind::Lstm && n_layers == 1 {
        let prefixes = Prefixes {
            lstm: p,
            linear: linear.to_string(),
        };
        return Ok(Imported::Plain(import(bytes, vocab, &prefixes)?));
    }
    let g = kind.gates() * n_h;
    let (s_wy, w_y) = get(&format!("{linear}weight"), "weight")?;
    let n_y = match s_wy[..] {
        [rows, cols] if cols == n_h && rows > 0 => rows,
        _ => {
            return Err(PytorchError::Shape {
                name: format!("{linear}weight"),
                expected: format!("(V, {n_h}) (H = {n_h} from {p}weight_hh_l0)"),
                found: s_wy,
            });
        }
    };
    let (s_by, b_y) = get(&format!("{linear}bias"), "bias")?;
    let mut wanted = vec![format!("{linear}weight"), format!("{linear}bias")];
    let check = |name: &str, found: &[usize], expected: &[usize]| {
        if found == expected {
            Ok(())
        } else {
            Err(PytorchError::Shape {
                name: name.into(),
                expected: format!("{expected:?} ({} cell, H = {n_h}, V = {n_y})", kind.name()),
                found: found.to_vec(),
            })
        }
    };
    check(&format!("{linear}bias"), &s_by, &[n_y])?;
    let mut layers = Vec::with_capacity(n_layers);
    for k in 0..n_layers {
        let n_in = if k == 0 { n_y } else { n_h };
        let mut t = Vec::with_capacity(4);
        for m in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            let suffix = format!("{m}_l{k}");
            let name = format!("{p}{suffix}");
            let (shape, v) = get(&name, &suffix)?;
            if m == "weight_hh"
                && let [rows, cols] = shape[..]
                && cols == n_h
                && rows != g
                && rows % n_h == 0
            {
                let other = kind_of_gates(rows / n_h).map_or("unknown", CellKind::name);
                return Err(PytorchError::Unsupported(format!(
                    "mixed cell kinds: layer 0 is a {} cell but {name:?} has {rows} rows, a {other} cell; every layer must have the same kind",
                    kind.name()
                )));
            }
            let expected = match m {
                "weight_ih" => vec![g, n_in],
                "weight_hh" => vec![g, n_h],
                _ => vec![g],
            };
            check(&name, &shape, &expected)?;
            wanted.push(name);
            t.push(v);
        }
        layers.push(layer_from_pytorch(
            kind,
            n_in,
            n_h,
            [&t[0], &t[1], &t[2], &t[3]],
        ));
    }
    let extra: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !wanted.iter().any(|w| w == n))
        .collect();
    if !extra.is_empty() {
        return Err(PytorchError::UnexpectedTensors {
            names: list_names(&extra),
        });
    }
    let found = vocab.chars().count();
    if found != n_y {
        return Err(PytorchError::VocabSize {
            expected: n_y,
            found,
        });
    }
    let stack = Stack {
        kind,
        dims: Dims { n_x: n_y, n_h, n_y },
        layers,
        w_y,
        b_y,
    };
    let imported = Imported::Stack(stack, vocab.to_string());
    // Runs lstm-core's validation (sizes, finite values, no repeated symbol).
    imported.to_bytes()?;
    Ok(imported)
}

/// Rejects bidirectional and projected modules with a message naming the feature.
fn check_bidirectional_proj(names: &[&str], p: &str) -> Result<(), PytorchError> {
    let params: Vec<(&str, (&str, usize, bool))> = names
        .iter()
        .filter_map(|n| Some((*n, lstm_param(n.strip_prefix(p)?)?)))
        .collect();
    if let Some((n, _)) = params.iter().find(|(_, (_, _, rev))| *rev) {
        return Err(PytorchError::Unsupported(format!(
            "bidirectional module ({n:?}); only bidirectional=False is supported"
        )));
    }
    if let Some((n, _)) = params.iter().find(|(_, (m, _, _))| *m == "hr") {
        return Err(PytorchError::Unsupported(format!(
            "LSTM with a projection ({n:?}); only proj_size=0 is supported"
        )));
    }
    Ok(())
}

/// Writes a model file of any version as safetensors (F32) that the matching `nn.LSTM` / `nn.GRU` /
/// `nn.RNN` (`num_layers` = its layers) + `nn.Linear` load strictly. A single-layer LSTM goes through
/// [`export`]; `rnn_prefix` `None` is the cell kind's [`default_rnn_prefix`].
///
/// # Errors
/// Invalid bytes, a dense-input or q8 model, a words model.
pub fn export_any(
    model_bytes: &[u8],
    rnn_prefix: Option<&str>,
    linear: &str,
) -> Result<(Vec<u8>, String), PytorchError> {
    let family = lstm_core::format::decode_family(model_bytes)?;
    if family.plain().is_ok() {
        let model = ModelFile::from_bytes(model_bytes)?;
        let prefixes = Prefixes {
            lstm: rnn_prefix.unwrap_or(DEFAULT_LSTM_PREFIX).to_string(),
            linear: linear.to_string(),
        };
        return Ok((export(&model, &prefixes)?, model.vocab));
    }
    let (stack, vocab, tokens) =
        crate::model_file::decode_stack(model_bytes).map_err(PytorchError::Stack)?;
    if tokens != TokenKind::Chars {
        return Err(PytorchError::Unsupported(
            "a words model: the PyTorch vocabulary JSON holds single characters".into(),
        ));
    }
    let p = rnn_prefix.unwrap_or(default_rnn_prefix(stack.kind));
    let Dims { n_x, n_h, n_y } = stack.dims;
    let g = stack.kind.gates() * n_h;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (k, l) in stack.layers.iter().enumerate() {
        let n_in = if k == 0 { n_x } else { n_h };
        let [w_ih, w_hh, b_ih, b_hh] = layer_to_pytorch(stack.kind, n_in, n_h, l);
        tensors.push((format!("{p}weight_ih_l{k}"), vec![g, n_in], w_ih));
        tensors.push((format!("{p}weight_hh_l{k}"), vec![g, n_h], w_hh));
        tensors.push((format!("{p}bias_ih_l{k}"), vec![g], b_ih));
        tensors.push((format!("{p}bias_hh_l{k}"), vec![g], b_hh));
    }
    tensors.push((format!("{linear}weight"), vec![n_y, n_h], stack.w_y.clone()));
    tensors.push((format!("{linear}bias"), vec![n_y], stack.b_y.clone()));
    let cell = match stack.kind {
        CellKind::Rnn => "rnn_tanh",
        k => k.name(),
    };
    let meta = [
        ("cell", cell.to_string()),
        ("num_layers", stack.layers.len().to_string()),
    ];
    Ok((serialize_f32(&tensors, &meta)?, vocab))
}

/// F32 tensors as safetensors bytes, with `format: pt`, `producer` and `extra` metadata.
fn serialize_f32(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    extra: &[(&str, String)],
) -> Result<Vec<u8>, PytorchError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let mut meta = HashMap::new();
    // What `safetensors.torch.save_file` writes.
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("producer".to_string(), "host-trainer".to_string());
    for (k, v) in extra {
        meta.insert(k.to_string(), v.clone());
    }
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

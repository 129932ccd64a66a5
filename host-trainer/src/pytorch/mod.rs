//! The bridge to PyTorch: import and export an `nn.LSTM`, `nn.GRU` or tanh `nn.RNN` of 1–4 layers
//! and its output `nn.Linear` through safetensors, the PyTorch ecosystem's weight format.
//!
//! Tensor names are `{rnn}weight_ih_l{k}` (G·H, n_in), `{rnn}weight_hh_l{k}` (G·H, H),
//! `{rnn}bias_ih_l{k}`, `{rnn}bias_hh_l{k}` (G·H) for each layer `k` (G = 4 gates i, f, g, o for an
//! LSTM, 3 (r, z, n) for a GRU, 1 for an RNN), and `{linear}weight` (V, H), `{linear}bias` (V), with
//! the prefixes configurable (default `lstm.` / `gru.` / `rnn.` and `fc.`, as
//! `tools/pytorch/charlstm.py` names them). The input is one-hot over the vocabulary (n_in = V on
//! layer 0, H above). The vocabulary is a JSON list of one-character strings in index order.
//!
//! Import is strict, like `load_state_dict(strict=True)`: every tensor of the file must belong to the
//! model, so a model with extra layers (an embedding, a bidirectional pass) is rejected rather than
//! silently converted to a different model. A single-layer LSTM becomes a version-1 model file, every
//! other model a version-2 one.
//!
//! Files: `names.rs` (what a tensor name says: module, layer, direction; the hints of error
//! messages), `tensors.rs` (safetensors bytes to and from `f32` values), `read.rs` (the one import
//! path, for every cell kind and layer count), `write.rs` (the one export path), `vocab.rs` (the
//! vocabulary JSON).

use lstm_core::format::{CellKind, TokenKind};

use crate::model::Stack;
use crate::model_file::{ExportError, ModelFile, encode_stack};

mod names;
mod read;
mod tensors;
mod vocab;
mod write;

pub use read::{import, import_any};
pub use vocab::{parse_vocab, vocab_json};
pub use write::{export, export_any};

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
    /// The file has tensors that are not part of the recurrent module + `nn.Linear` model.
    #[error(
        "unexpected tensors {names}: only one nn.LSTM, nn.GRU or tanh nn.RNN with one-hot input and one nn.Linear output layer can be imported (other layers would change the model)"
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

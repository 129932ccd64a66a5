//! The model file: one owned type for lstm-core's format ([`ModelFile`]), its conversion to and from the
//! trainer's [`Params`], and reading and writing model files.

use std::path::{Path, PathBuf};

use lstm_core::format::{self, CellKind, InputKind, ModelParts};
use lstm_core::{CellView, Dims};

use crate::data::corpus::{Tokens, Vocab};
use crate::files::{FileError, write_atomic};
use crate::layout::{Layout, Matrix, convert, convert_g};
use crate::model::{Layer, Params, Stack};

/// Why a model could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// lstm-core rejected the model or the bytes.
    #[error("{context}")]
    Format {
        /// What was being done.
        context: String,
        /// lstm-core's reason.
        source: lstm_core::Error,
    },
    /// A file operation failed.
    #[error("{context} {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing the file failed or was refused.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file is valid but not a model this trainer can use.
    #[error("{0}")]
    Unsupported(String),
}

/// A model as lstm-core's file holds it, owned: the tensors in the file layout
/// ([`lstm_core::format::ModelParts`]; see [`crate::layout`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// One-hot or dense input.
    pub input: InputKind,
    /// Sizes.
    pub dims: Dims,
    /// Output symbols in index order.
    pub vocab: String,
    /// `[4][n_x][n_h]`.
    pub w_ih: Vec<f32>,
    /// `[4][n_h][n_h]`.
    pub w_hh: Vec<f32>,
    /// `[4][n_h]`.
    pub b: Vec<f32>,
    /// `[n_y][n_h]`.
    pub w_y: Vec<f32>,
    /// `[n_y]`.
    pub b_y: Vec<f32>,
}

impl ModelFile {
    /// Decodes and validates model file bytes.
    ///
    /// # Errors
    /// Whatever lstm-core's decoder rejects (truncation, corruption, version, sizes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, lstm_core::Error> {
        Ok(Self::from_view(&format::decode(bytes)?))
    }

    /// Copies an already decoded single-layer LSTM model.
    pub fn from_view(m: &format::ModelView<'_>) -> Self {
        let v = |t: format::Tensor<'_>| t.iter().collect::<Vec<f32>>();
        ModelFile {
            input: m.input,
            dims: m.dims,
            vocab: m.vocab.to_string(),
            w_ih: v(m.w_ih),
            w_hh: v(m.w_hh),
            b: v(m.b),
            w_y: v(m.w_y),
            b_y: v(m.b_y),
        }
    }

    /// Encodes the model in lstm-core's format.
    ///
    /// # Errors
    /// Whatever lstm-core's encoder rejects (sizes, non-finite values, vocabulary).
    pub fn to_bytes(&self) -> Result<Vec<u8>, lstm_core::Error> {
        let parts = ModelParts {
            input: self.input,
            dims: self.dims,
            vocab: &self.vocab,
            w_ih: &self.w_ih,
            w_hh: &self.w_hh,
            b: &self.b,
            w_y: &self.w_y,
            b_y: &self.b_y,
        };
        let mut out = vec![0u8; format::encoded_len(&parts)?];
        let n = format::encode(&parts, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// The weights as lstm-core's kernel view.
    ///
    /// # Errors
    /// Never for a decoded model (the lengths were validated).
    pub fn cell(&self) -> Result<CellView<'_>, lstm_core::Error> {
        CellView::from_stacked(
            self.dims, &self.w_ih, &self.w_hh, &self.b, &self.w_y, &self.b_y,
        )
    }

    /// A character model from the trainer's parameters and vocabulary.
    pub fn from_params(p: &Params<f32>, vocab: &Vocab) -> Self {
        let Dims { n_x, n_h, .. } = p.dims;
        let (from, to) = (Layout::Trainer, Layout::File);
        ModelFile {
            input: InputKind::OneHot,
            dims: p.dims,
            vocab: vocab.as_string(),
            w_ih: convert(&p.w_x, Matrix::Input, n_x, n_h, from, to),
            w_hh: convert(&p.w_h, Matrix::Recurrent, n_h, n_h, from, to),
            b: p.b.clone(),
            w_y: p.w_y.clone(),
            b_y: p.b_y.clone(),
        }
    }

    /// The trainer's parameters and vocabulary.
    ///
    /// # Errors
    /// A dense-input model (the trainer handles one-hot character models only).
    pub fn to_params(&self) -> Result<(Params<f32>, Vocab), ExportError> {
        if self.input != InputKind::OneHot {
            return Err(ExportError::Unsupported(
                "the model takes dense input, not characters".into(),
            ));
        }
        let Dims { n_x, n_h, .. } = self.dims;
        let (from, to) = (Layout::File, Layout::Trainer);
        let p = Params {
            dims: self.dims,
            w_x: convert(&self.w_ih, Matrix::Input, n_x, n_h, from, to),
            w_h: convert(&self.w_hh, Matrix::Recurrent, n_h, n_h, from, to),
            b: self.b.clone(),
            w_y: self.w_y.clone(),
            b_y: self.b_y.clone(),
        };
        Ok((p, Vocab::from_chars(self.vocab.chars().collect())))
    }
}

/// Encodes a one-layer LSTM into lstm-core's format: a character model as version 1 (as always), a
/// word model as version 2 (the version that records word tokens).
///
/// # Errors
/// lstm-core's validation (sizes, vocabulary, non-finite weights).
pub fn encode_model(p: &Params<f32>, vocab: &Vocab) -> Result<Vec<u8>, ExportError> {
    if vocab.tokens() == Tokens::Words {
        return encode_stack(
            &Stack::from_params(p),
            &vocab.as_string(),
            Tokens::Words.kind(),
        );
    }
    ModelFile::from_params(p, vocab)
        .to_bytes()
        .map_err(|source| ExportError::Format {
            context: "encoding the model".into(),
            source,
        })
}

/// Encodes and writes a model file atomically; returns its length.
///
/// # Errors
/// As [`encode_model`] and [`write_atomic`].
pub fn save_model(path: &Path, p: &Params<f32>, vocab: &Vocab) -> Result<usize, ExportError> {
    let bytes = encode_model(p, vocab)?;
    write_atomic(path, &bytes)?;
    Ok(bytes.len())
}

/// Decodes a one-layer f32 LSTM model file's bytes (characters or words) into trainer parameters and
/// vocabulary.
///
/// # Errors
/// lstm-core's validation errors; a dense-input model, or another kind of model.
pub fn decode_model(bytes: &[u8]) -> Result<(Params<f32>, Vocab), ExportError> {
    if format::decode_family(bytes).is_ok_and(|f| f.header.tokens == format::TokenKind::Words) {
        let (s, vocab, tokens) = decode_stack(bytes)?;
        let (CellKind::Lstm, [l]) = (s.kind, s.layers.as_slice()) else {
            return Err(ExportError::Unsupported(format!(
                "a {} model of {} layer(s) (this takes one-layer LSTMs)",
                s.kind.name(),
                s.layers.len()
            )));
        };
        let p = Params {
            dims: s.dims,
            w_x: l.w_x.clone(),
            w_h: l.w_h.clone(),
            b: l.b.clone(),
            w_y: s.w_y,
            b_y: s.b_y,
        };
        return Ok((p, Vocab::from_stored(&vocab, Tokens::of_kind(tokens))));
    }
    ModelFile::from_bytes(bytes)
        .map_err(|source| ExportError::Format {
            context: "decoding the model".into(),
            source,
        })?
        .to_params()
}

/// Reads and decodes a model file.
///
/// # Errors
/// I/O errors and those of [`decode_model`].
pub fn load_model(path: &Path) -> Result<(Params<f32>, Vocab), ExportError> {
    let bytes = std::fs::read(path).map_err(|source| ExportError::Io {
        context: "reading model",
        path: path.to_path_buf(),
        source,
    })?;
    decode_model(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn model_round_trips_through_lstm_core_format() {
        let dims = Dims {
            n_x: 4,
            n_h: 3,
            n_y: 4,
        };
        let p = Params::<f32>::init_uniform(dims, &mut Rng::new(3));
        let vocab = Vocab::from_text("\nabc", &[]);
        let bytes = encode_model(&p, &vocab).expect("encodes");
        let (q, v) = decode_model(&bytes).expect("decodes");
        assert_eq!(p, q);
        assert_eq!(v, vocab);
    }

    /// A word model is written as version 2 with word tokens and reads back as the same parameters.
    #[test]
    fn word_model_round_trips_as_version_2() {
        let dims = Dims {
            n_x: 3,
            n_h: 2,
            n_y: 3,
        };
        let p = Params::<f32>::init_uniform(dims, &mut Rng::new(5));
        let vocab = Vocab::from_words(vec!["<eol>".into(), "cat".into(), "sat".into()]);
        let bytes = encode_model(&p, &vocab).expect("encodes");
        let view = format::decode_family(&bytes).expect("decodes");
        assert_eq!(view.version, format::FORMAT_VERSION);
        assert_eq!(view.header.tokens, format::TokenKind::Words);
        assert_eq!(view.vocab, "<eol> cat sat");
        let (q, v) = decode_model(&bytes).expect("reads back");
        assert_eq!((q, v), (p, vocab));
    }

    #[test]
    fn layout_matches_lstm_core_definition() {
        // w_ih[g][x][k] = weight_ih[g·H + k][x] and trainer w_x[x][g·H + k] = weight_ih[g·H + k][x].
        let dims = Dims {
            n_x: 2,
            n_h: 3,
            n_y: 2,
        };
        let mut p = Params::<f32>::zeros(dims);
        p.w_x[12 + 2 * 3 + 1] = 7.0; // x = 1, g = 2, k = 1
        p.w_h[2 * 12 + 3 * 3] = 5.0; // j = 2, g = 3, k = 0
        let f = ModelFile::from_params(&p, &Vocab::from_text("ab", &[]));
        assert_eq!(f.w_ih[(2 * 2 + 1) * 3 + 1], 7.0);
        assert_eq!(f.w_hh[(3 * 3) * 3 + 2], 5.0);
    }
}

/// Where a layer's input weights sit in the file: gate-transposed on layer 0 (one-hot input), dense
/// `[G·n_h][n_h]` (PyTorch's rows) on the layers above.
fn file_input_matrix(k: usize) -> Matrix {
    if k == 0 {
        Matrix::Input
    } else {
        Matrix::Recurrent
    }
}

/// Writes a model of any cell kind and layer count as a format-version-2 file (f32 weights, one-hot
/// input); `vocab` is the symbols in index order (chars concatenated, or words joined by single spaces).
///
/// # Errors
/// lstm-core rejects the model (sizes, vocabulary, non-finite values).
pub fn encode_stack(
    p: &Stack<f32>,
    vocab: &str,
    tokens: format::TokenKind,
) -> Result<Vec<u8>, ExportError> {
    let Dims { n_x, n_h, .. } = p.dims;
    let gates = p.kind.gates();
    let (from, to) = (Layout::Trainer, Layout::File);
    let mats: Vec<[Vec<f32>; 2]> = p
        .layers
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let n_in = if k == 0 { n_x } else { n_h };
            [
                convert_g(&l.w_x, gates, file_input_matrix(k), n_in, n_h, from, to),
                convert_g(&l.w_h, gates, Matrix::Recurrent, n_h, n_h, from, to),
            ]
        })
        .collect();
    let layers: Vec<format::LayerParts<'_>> = p
        .layers
        .iter()
        .zip(&mats)
        .map(|(l, [w_ih, w_hh])| format::LayerParts {
            w_ih: format::WeightParts::F32(w_ih),
            w_hh: format::WeightParts::F32(w_hh),
            b: &l.b,
            b_hn: &l.b_hn,
        })
        .collect();
    let parts = format::FamilyParts {
        header: format::Header {
            cell: p.kind,
            dtype: format::Dtype::F32,
            input: InputKind::OneHot,
            tokens,
            dims: p.dims,
            n_layers: p.layers.len(),
        },
        vocab,
        layers: &layers,
        w_y: format::WeightParts::F32(&p.w_y),
        b_y: &p.b_y,
    };
    let err = |source| ExportError::Format {
        context: "encoding the model (format version 2)".into(),
        source,
    };
    let mut out = vec![0u8; format::encoded_len_family(&parts).map_err(err)?];
    let n = format::encode_family(&parts, &mut out).map_err(err)?;
    out.truncate(n);
    Ok(out)
}

/// Reads a model file of either version as a trainer [`Stack`], its vocabulary string and token kind.
///
/// # Errors
/// Invalid bytes, a dense-input model, or q8 weights (the trainer trains f32).
pub fn decode_stack(bytes: &[u8]) -> Result<(Stack<f32>, String, format::TokenKind), ExportError> {
    let view = format::decode_family(bytes).map_err(|source| ExportError::Format {
        context: "decoding the model".into(),
        source,
    })?;
    let h = view.header;
    if h.input != InputKind::OneHot {
        return Err(ExportError::Unsupported(
            "a dense-input model (the trainer handles one-hot models only)".into(),
        ));
    }
    let f32s = |w: format::Weights<'_>| {
        w.as_f32()
            .map(|t| t.iter().collect::<Vec<f32>>())
            .ok_or_else(|| {
                ExportError::Unsupported("q8 weights (the trainer reads f32 models only)".into())
            })
    };
    let Dims { n_x, n_h, .. } = h.dims;
    let gates = h.cell.gates();
    let (from, to) = (Layout::File, Layout::Trainer);
    let mut layers = Vec::new();
    for (k, l) in view.layers().iter().enumerate() {
        let n_in = if k == 0 { n_x } else { n_h };
        layers.push(Layer {
            w_x: convert_g(
                &f32s(l.w_ih)?,
                gates,
                file_input_matrix(k),
                n_in,
                n_h,
                from,
                to,
            ),
            w_h: convert_g(&f32s(l.w_hh)?, gates, Matrix::Recurrent, n_h, n_h, from, to),
            b: l.b.iter().collect(),
            b_hn: l.b_hn.iter().collect(),
        });
    }
    let stack = Stack {
        kind: h.cell,
        dims: h.dims,
        layers,
        w_y: f32s(view.w_y)?,
        b_y: view.b_y.iter().collect(),
    };
    Ok((stack, view.vocab.to_owned(), h.tokens))
}

#[cfg(test)]
mod family_tests {
    use super::*;
    use crate::rng::Rng;
    use lstm_core::format::{CellKind, TokenKind};

    /// Every kind, 1–3 layers, chars and words: Stack → version-2 bytes → the same Stack, bit for bit.
    #[test]
    fn every_kind_and_layer_count_round_trips_through_format_v2() {
        let dims = Dims {
            n_x: 3,
            n_h: 4,
            n_y: 3,
        };
        for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            for layers in 1..=3 {
                let mut rng = Rng::new(layers as u64);
                let p = Stack::<f32>::init_uniform(kind, dims, layers, &mut rng);
                for (vocab, tokens) in
                    [("abc", TokenKind::Chars), ("the cat sat", TokenKind::Words)]
                {
                    let bytes = encode_stack(&p, vocab, tokens).expect("encodes");
                    let view = format::decode_family(&bytes).expect("decodes");
                    assert_eq!(view.header.cell, kind);
                    assert_eq!(view.header.n_layers, layers);
                    let (back, v, t) = decode_stack(&bytes).expect("reads back");
                    assert_eq!(back, p, "{kind:?} {layers}");
                    assert_eq!((v.as_str(), t), (vocab, tokens));
                }
            }
        }
    }

    /// A version-1 file reads as the one-layer LSTM stack of the same parameters.
    #[test]
    fn version_one_file_reads_as_a_one_layer_lstm_stack() {
        let dims = Dims {
            n_x: 3,
            n_h: 2,
            n_y: 3,
        };
        let p = Params::<f32>::init_uniform(dims, &mut Rng::new(4));
        let vocab = Vocab::from_text("abc", &[]);
        let bytes = encode_model(&p, &vocab).expect("v1 encodes");
        let (s, v, t) = decode_stack(&bytes).expect("reads");
        assert_eq!(s, Stack::from_params(&p));
        assert_eq!((v.as_str(), t), ("abc", TokenKind::Chars));
    }
}

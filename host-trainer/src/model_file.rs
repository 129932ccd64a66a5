//! The model file: one owned type for lstm-core's format ([`ModelFile`]), its conversion to and from the
//! trainer's [`Params`], and reading and writing model files.

use std::path::{Path, PathBuf};

use lstm_core::format::{self, InputKind, ModelParts};
use lstm_core::{CellView, Dims};

use crate::data::corpus::Vocab;
use crate::files::{FileError, write_atomic};
use crate::layout::{Layout, Matrix, convert};
use crate::model::Params;

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
        let m = format::decode(bytes)?;
        let v = |t: format::Tensor<'_>| t.iter().collect::<Vec<f32>>();
        Ok(ModelFile {
            input: m.input,
            dims: m.dims,
            vocab: m.vocab.to_string(),
            w_ih: v(m.w_ih),
            w_hh: v(m.w_hh),
            b: v(m.b),
            w_y: v(m.w_y),
            b_y: v(m.b_y),
        })
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

/// Encodes a character model into lstm-core's format.
///
/// # Errors
/// lstm-core's validation (sizes, vocabulary, non-finite weights).
pub fn encode_model(p: &Params<f32>, vocab: &Vocab) -> Result<Vec<u8>, ExportError> {
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

/// Decodes a model file's bytes into trainer parameters and vocabulary.
///
/// # Errors
/// lstm-core's validation errors; a dense-input model (the trainer handles one-hot char models only).
pub fn decode_model(bytes: &[u8]) -> Result<(Params<f32>, Vocab), ExportError> {
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

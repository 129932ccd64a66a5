//! Conversion between the trainer's [`Params`] and lstm-core's model file, and atomic file writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use lstm_core::format::{self, Dims, InputKind, ModelParts};

use crate::corpus::Vocab;
use crate::model::{Params, Shape};

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
    /// The file is valid but not a model this trainer can use.
    #[error("{0}")]
    Unsupported(String),
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, then rename.
///
/// # Errors
/// Any I/O failure; the destination is then left untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |context, source| ExportError::Io {
        context,
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| io("creating a temporary file for", e))?;
    tmp.write_all(bytes).map_err(|e| io("writing", e))?;
    // tempfile creates 0600; give the result the destination's mode, or the usual 0644 for a new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io("setting permissions of", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| io("syncing", e))?;
    tmp.persist(path)
        .map_err(|e| io("renaming into", e.error))?;
    Ok(())
}

/// The tensors in lstm-core's file layout (see [`lstm_core::format::ModelParts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FileTensors {
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

/// Trainer layout -> file layout: `w_ih[g][x][k] = w_x[x][g·H + k]`, `w_hh[g][k][j] = w_h[j][g·H + k]`.
pub fn to_file_layout(p: &Params<f32>) -> FileTensors {
    let Shape { n_x, n_h, .. } = p.shape;
    let g4 = 4 * n_h;
    let mut w_ih = vec![0.0; 4 * n_x * n_h];
    let mut w_hh = vec![0.0; 4 * n_h * n_h];
    for g in 0..4 {
        for x in 0..n_x {
            for k in 0..n_h {
                w_ih[(g * n_x + x) * n_h + k] = p.w_x[x * g4 + g * n_h + k];
            }
        }
        for k in 0..n_h {
            for j in 0..n_h {
                w_hh[(g * n_h + k) * n_h + j] = p.w_h[j * g4 + g * n_h + k];
            }
        }
    }
    FileTensors {
        w_ih,
        w_hh,
        b: p.b.clone(),
        w_y: p.w_y.clone(),
        b_y: p.b_y.clone(),
    }
}

/// File layout -> trainer layout (inverse of [`to_file_layout`]).
pub fn from_file_layout(shape: Shape, f: &FileTensors) -> Params<f32> {
    let Shape { n_x, n_h, .. } = shape;
    let g4 = 4 * n_h;
    let mut p = Params::zeros(shape);
    for g in 0..4 {
        for x in 0..n_x {
            for k in 0..n_h {
                p.w_x[x * g4 + g * n_h + k] = f.w_ih[(g * n_x + x) * n_h + k];
            }
        }
        for k in 0..n_h {
            for j in 0..n_h {
                p.w_h[j * g4 + g * n_h + k] = f.w_hh[(g * n_h + k) * n_h + j];
            }
        }
    }
    p.b.clone_from(&f.b);
    p.w_y.clone_from(&f.w_y);
    p.b_y.clone_from(&f.b_y);
    p
}

/// Encodes a character model into lstm-core's format.
///
/// # Errors
/// lstm-core's validation (sizes, vocabulary, non-finite weights).
pub fn encode_model(p: &Params<f32>, vocab: &Vocab) -> Result<Vec<u8>, ExportError> {
    let f = to_file_layout(p);
    let vocab_str = vocab.as_string();
    let parts = ModelParts {
        input: InputKind::OneHot,
        dims: Dims {
            n_x: p.shape.n_x,
            n_h: p.shape.n_h,
            n_y: p.shape.n_y,
        },
        vocab: &vocab_str,
        w_ih: &f.w_ih,
        w_hh: &f.w_hh,
        b: &f.b,
        w_y: &f.w_y,
        b_y: &f.b_y,
    };
    let fmt_err = |source| ExportError::Format {
        context: "encoding the model".into(),
        source,
    };
    let len = format::encoded_len(&parts).map_err(fmt_err)?;
    let mut out = vec![0u8; len];
    let written = format::encode(&parts, &mut out).map_err(fmt_err)?;
    out.truncate(written);
    Ok(out)
}

/// Encodes and writes a model file atomically.
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
    let fmt_err = |source| ExportError::Format {
        context: "decoding the model".into(),
        source,
    };
    let view = format::decode(bytes).map_err(fmt_err)?;
    if view.input != InputKind::OneHot {
        return Err(ExportError::Unsupported(
            "the model takes dense input, not characters".into(),
        ));
    }
    let d = view.dims;
    let shape = Shape {
        n_x: d.n_x,
        n_h: d.n_h,
        n_y: d.n_y,
    };
    let mut f = FileTensors {
        w_ih: vec![0.0; 4 * d.n_x * d.n_h],
        w_hh: vec![0.0; 4 * d.n_h * d.n_h],
        b: vec![0.0; 4 * d.n_h],
        w_y: vec![0.0; d.n_y * d.n_h],
        b_y: vec![0.0; d.n_y],
    };
    view.w_ih.copy_to(&mut f.w_ih).map_err(fmt_err)?;
    view.w_hh.copy_to(&mut f.w_hh).map_err(fmt_err)?;
    view.b.copy_to(&mut f.b).map_err(fmt_err)?;
    view.w_y.copy_to(&mut f.w_y).map_err(fmt_err)?;
    view.b_y.copy_to(&mut f.b_y).map_err(fmt_err)?;
    let vocab = Vocab::from_chars(view.vocab.chars().collect());
    Ok((from_file_layout(shape, &f), vocab))
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
        let shape = Shape {
            n_x: 4,
            n_h: 3,
            n_y: 4,
        };
        let p = Params::<f32>::init_uniform(shape, &mut Rng::new(3));
        let vocab = Vocab::from_text("\nabc", &[]);
        let bytes = encode_model(&p, &vocab).expect("encodes");
        let (q, v) = decode_model(&bytes).expect("decodes");
        assert_eq!(p, q);
        assert_eq!(v, vocab);
    }

    #[test]
    fn layout_matches_lstm_core_definition() {
        // w_ih[g][x][k] = weight_ih[g·H + k][x] and trainer w_x[x][g·H + k] = weight_ih[g·H + k][x].
        let shape = Shape {
            n_x: 2,
            n_h: 3,
            n_y: 2,
        };
        let mut p = Params::<f32>::zeros(shape);
        p.w_x[12 + 2 * 3 + 1] = 7.0; // x = 1, g = 2, k = 1
        p.w_h[2 * 12 + 3 * 3] = 5.0; // j = 2, g = 3, k = 0
        let f = to_file_layout(&p);
        assert_eq!(f.w_ih[(2 * 2 + 1) * 3 + 1], 7.0);
        assert_eq!(f.w_hh[(3 * 3) * 3 + 2], 5.0);
    }
}

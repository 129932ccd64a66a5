//! Parity with PyTorch reference vectors: `nn.LSTM` (`lstm-golden/1`, see the golden SCHEMA.md) and
//! stacked `nn.LSTM` / `nn.GRU` / `nn.RNN` (`rnn-golden/2`, golden/v2/SCHEMA.md): weights
//! converted from PyTorch's layout, forward and backward with the SUM loss, every value compared.
//!
//! Files: `json.rs` (reading a case's fields and arrays), `schema1.rs` and `schema2.rs` (each
//! schema's case, loader and computation), `compare.rs` (the tolerances applied).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::data::batch::BatchRef;
use crate::scalar::Float;

mod compare;
mod json;
mod schema1;
mod schema2;

pub use schema1::{GoldenCase, check_f32, check_f64, load, params_from_pytorch};
pub use schema2::{GoldenCase2, check2_f32, check2_f64, load2, stack_from_pytorch};

/// Why a golden file could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path} is not valid JSON")]
    Json {
        /// File.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// The file is the directory's `index.json` (it lists cases; it is not one).
    #[error("{path} is an index of golden files, not a case")]
    Index {
        /// File.
        path: PathBuf,
    },
    /// A field is missing or has the wrong shape or type.
    #[error("{path}: field {field}: {problem}")]
    Field {
        /// File.
        path: PathBuf,
        /// Dotted field name.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// Largest absolute error accepted on a forward value.
pub const FORWARD_TOL: f64 = 1e-5;
/// Largest relative error accepted on a gradient (unless its absolute error is under [`GRAD_ABS_TOL`]).
pub const GRAD_REL_TOL: f64 = 1e-4;
/// Absolute error under which a gradient passes whatever its relative error (near-zero values).
pub const GRAD_ABS_TOL: f64 = 1e-7;

/// One compared quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What was compared.
    pub name: String,
    /// Whether it is a gradient (other tolerance).
    pub is_grad: bool,
    /// Largest absolute error.
    pub max_abs: f64,
    /// Largest relative error (`|d| / |golden|`, over non-zero golden values).
    pub max_rel: f64,
    /// Whether it is within tolerance.
    pub pass: bool,
}

/// A golden file of either schema.
#[derive(Debug, Clone)]
pub enum AnyCase {
    /// `lstm-golden/1`.
    V1(GoldenCase),
    /// `rnn-golden/2`.
    V2(GoldenCase2),
}

impl AnyCase {
    /// One line naming the case and its sizes.
    pub fn describe(&self) -> String {
        match self {
            AnyCase::V1(c) => format!(
                "{}: lstm-golden/1, n_x {} n_h {} T {} m {}",
                c.case, c.dims.n_x, c.dims.n_h, c.steps, c.batch
            ),
            AnyCase::V2(c) => format!(
                "{}: rnn-golden/2, {:?} L {} n_x {} n_h {} T {} m {}",
                c.case, c.kind, c.layers, c.dims.n_x, c.dims.n_h, c.steps, c.batch
            ),
        }
    }

    /// Compares the trainer's f64 computation with the case, at its schema's f64 tolerance.
    pub fn check_f64(&self) -> Vec<Comparison> {
        match self {
            AnyCase::V1(c) => check_f64(c),
            AnyCase::V2(c) => check2_f64(c),
        }
    }

    /// Compares the trainer's f32 computation with the case, at its schema's f32 tolerance.
    pub fn check_f32(&self) -> Vec<Comparison> {
        match self {
            AnyCase::V1(c) => check_f32(c),
            AnyCase::V2(c) => check2_f32(c),
        }
    }
}

/// A case's `f64` values in the scalar type a pass runs in.
fn cast_in<T: Float>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Computed values as `f64`, for comparing.
fn cast_out<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// A case's inputs and targets (`[T][m]`) as one unmasked minibatch.
fn batch_of<'a>(steps: usize, batch: usize, x: &'a [u32], y: &'a [u32]) -> BatchRef<'a> {
    BatchRef {
        steps,
        batch,
        x,
        y,
        mask: None,
    }
}

/// Reads a golden file of either schema (`lstm-golden/1` or `rnn-golden/2`).
///
/// # Errors
/// As [`load`], and an unknown schema.
pub fn load_any(path: &Path) -> Result<AnyCase, GoldenError> {
    let root = json::read_case_json(path)?;
    if root.get("schema").and_then(Value::as_str) == Some("rnn-golden/2") {
        schema2::load_v2(&root, path).map(AnyCase::V2)
    } else {
        schema1::load_v1(&root, path).map(AnyCase::V1)
    }
}

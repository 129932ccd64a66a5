//! The record `train` writes beside its model file (`m.lstm` → `m.lstm.json`): the step and validation
//! loss the model was saved at, its run's corpus and split, and a hash of the model bytes it describes.
//! lstm-core's format has no metadata section (and the model bytes must not depend on the run), so this
//! is a separate file; `inspect` reads it and says when it no longer matches the model.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Keep;
use crate::data::corpus::{Fnv1a, Tokens};
use crate::files::{FileError, write_atomic};
use crate::train::Trainer;

/// The `format` field of every sidecar.
pub const SIDECAR_FORMAT: &str = "host-trainer-model-info/1";

/// What a model file was saved from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// [`SIDECAR_FORMAT`].
    pub format: String,
    /// Length of the model file it describes.
    pub model_len: u64,
    /// FNV-1a (64-bit) of the model file's bytes, as 16 hex digits.
    pub model_fnv1a: String,
    /// The optimiser step whose parameters the model holds.
    pub step: u64,
    /// Validation loss of those parameters (nats per symbol), if the run had validation data.
    pub validation_loss: Option<f64>,
    /// Smoothed training loss at that step, if the run's history still holds it.
    pub training_loss: Option<f64>,
    /// Whether the model is the best validated one or the last one.
    pub keep: Keep,
    /// Steps the run had done when the model was written.
    pub run_steps: u64,
    /// The training corpus.
    pub corpus: PathBuf,
    /// Characters or words.
    pub tokens: Tokens,
    /// Fraction held out for validation.
    pub val_fraction: f64,
    /// Seed of the run (and of its validation split).
    pub seed: u64,
}

/// Where the sidecar of model file `model` goes: `model` with `.json` appended.
pub fn sidecar_path(model: &Path) -> PathBuf {
    let mut s = model.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// FNV-1a (64-bit) of `bytes`, as 16 hex digits.
pub fn model_hash(bytes: &[u8]) -> String {
    let mut h = Fnv1a::default();
    h.update(bytes);
    format!("{:016x}", h.0)
}

impl Sidecar {
    /// The record of the model file `trainer` just wrote, whose bytes are `model`.
    pub fn of_run(trainer: &Trainer, model: &[u8]) -> Self {
        let cfg = &trainer.cfg;
        let s = &trainer.state;
        let row_at = |step: u64| s.history.iter().rev().find(|r| r.step == step);
        let (step, validation_loss) = match (trainer.best(), cfg.keep) {
            (Some((loss, step)), Keep::Best) => (step, Some(loss)),
            _ => {
                // The last parameters: their validation loss if the run validated them, else now.
                let v = row_at(s.step)
                    .and_then(|r| r.val_loss)
                    .or_else(|| trainer.validate());
                (s.step, v)
            }
        };
        Self {
            format: SIDECAR_FORMAT.into(),
            model_len: model.len() as u64,
            model_fnv1a: model_hash(model),
            step,
            validation_loss,
            training_loss: row_at(step).map(|r| r.smoothed),
            keep: cfg.keep,
            run_steps: s.step,
            corpus: cfg.corpus.clone(),
            tokens: cfg.tokens,
            val_fraction: cfg.val_fraction,
            seed: cfg.seed,
        }
    }

    /// Whether this record describes the model file bytes `model`.
    pub fn describes(&self, model: &[u8]) -> bool {
        self.model_len == model.len() as u64 && self.model_fnv1a == model_hash(model)
    }

    /// One line for `inspect`: `saved at step N, validation loss X (training loss Y)`.
    pub fn summary(&self) -> String {
        let mut line = format!("saved at step {}", self.step);
        match self.validation_loss {
            Some(v) => line.push_str(&format!(", validation loss {v:.6}")),
            None => line.push_str(", no validation data"),
        }
        if let Some(t) = self.training_loss {
            line.push_str(&format!(" (smoothed training loss {t:.6})"));
        }
        let kept = match (self.keep, self.validation_loss) {
            (Keep::Best, Some(_)) => "the best validation",
            _ => "the last step",
        };
        line.push_str(&format!(
            "; {kept} of a {}-step run on {}",
            self.run_steps,
            self.corpus.display()
        ));
        line
    }
}

/// Writes `record` atomically to the sidecar path of model file `model`.
///
/// # Errors
/// Writing failed or was refused.
pub fn write(model: &Path, record: &Sidecar) -> Result<(), FileError> {
    let path = sidecar_path(model);
    let mut json = serde_json::to_string_pretty(record).map_err(|e| FileError::Io {
        context: "serialising",
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    json.push('\n');
    write_atomic(&path, json.as_bytes())
}

/// Writes the sidecar of the model file `trainer` just wrote to its `--out` (read back, so the hash is
/// of the bytes on disk); returns the sidecar's path.
///
/// # Errors
/// Reading the model or writing the sidecar failed.
pub fn record_run(trainer: &Trainer) -> Result<PathBuf, FileError> {
    let out = &trainer.cfg.out;
    let model = std::fs::read(out).map_err(|source| FileError::Io {
        context: "reading back the model",
        path: out.clone(),
        source,
    })?;
    write(out, &Sidecar::of_run(trainer, &model))?;
    Ok(sidecar_path(out))
}

/// What `inspect` finds beside a model file.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// No sidecar.
    None,
    /// A sidecar that describes these model bytes.
    Current(Sidecar),
    /// A sidecar that describes other bytes (the model was replaced after it was written).
    Stale(Sidecar),
    /// A file that is not a sidecar, with the reason.
    Unreadable(String),
}

/// Reads the sidecar of model file `model` (whose bytes are `bytes`), if there is one.
pub fn find(model: &Path, bytes: &[u8]) -> Found {
    let path = sidecar_path(model);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::None,
        Err(e) => return Found::Unreadable(e.to_string()),
    };
    match serde_json::from_slice::<Sidecar>(&text) {
        Ok(s) if s.format != SIDECAR_FORMAT => {
            Found::Unreadable(format!("unknown format {:?}", s.format))
        }
        Ok(s) if s.describes(bytes) => Found::Current(s),
        Ok(s) => Found::Stale(s),
        Err(e) => Found::Unreadable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(model: &[u8]) -> Sidecar {
        Sidecar {
            format: SIDECAR_FORMAT.into(),
            model_len: model.len() as u64,
            model_fnv1a: model_hash(model),
            step: 120,
            validation_loss: Some(1.93),
            training_loss: Some(1.5),
            keep: Keep::Best,
            run_steps: 300,
            corpus: "dinos.txt".into(),
            tokens: Tokens::Chars,
            val_fraction: 0.1,
            seed: 7,
        }
    }

    /// Known FNV-1a 64 values: the empty input is the offset basis; "a" is 0xaf63dc4c8601ec8c.
    #[test]
    fn hash_is_fnv1a_64() {
        assert_eq!(model_hash(b""), "cbf29ce484222325");
        assert_eq!(model_hash(b"a"), "af63dc4c8601ec8c");
    }

    /// Written, found beside its model; found stale once the model changes; absent and damaged files
    /// are told apart.
    #[test]
    fn sidecar_round_trips_and_goes_stale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("m.lstm");
        assert_eq!(sidecar_path(&model), dir.path().join("m.lstm.json"));
        let bytes = b"LSTM model bytes".to_vec();
        assert_eq!(find(&model, &bytes), Found::None);
        write(&model, &record(&bytes)).expect("writes");
        assert_eq!(find(&model, &bytes), Found::Current(record(&bytes)));
        let summary = record(&bytes).summary();
        assert!(
            summary.starts_with("saved at step 120, validation loss 1.930000"),
            "{summary}"
        );
        let mut other = bytes.clone();
        other[0] ^= 1;
        assert!(matches!(find(&model, &other), Found::Stale(_)));
        std::fs::write(sidecar_path(&model), "{").expect("damage");
        assert!(matches!(find(&model, &bytes), Found::Unreadable(_)));
    }
}

//! A validated training configuration: what `train` was asked to do (stored in checkpoints).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::DataSpec;
use crate::data::batch::Mode;
use crate::data::corpus::Preprocess;
use crate::optim::OptimizerKind;

/// A validated training configuration (what `train` was asked to do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Corpus file.
    pub corpus: PathBuf,
    /// Model file to write.
    pub out: PathBuf,
    /// How the corpus is cut into sequences.
    pub mode: Mode,
    /// Text normalisation.
    pub preprocess: Preprocess,
    /// Hidden size.
    pub hidden: usize,
    /// Time steps per minibatch (stream mode).
    pub seq_len: usize,
    /// Stream mode: read every epoch from the first character to the last (min-char-rnn) instead of d2l's
    /// random offset (which drops the remainder).
    #[serde(default)]
    pub fixed_offset: bool,
    /// Sequences per minibatch.
    pub batch: usize,
    /// Update rule.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f32,
    /// Clip each gradient component to ±this.
    pub clip_value: Option<f32>,
    /// Rescale gradients to at most this global norm.
    pub clip_norm: Option<f32>,
    /// Stop after this many epochs.
    pub epochs: Option<u64>,
    /// Stop after this many optimiser updates.
    pub steps: Option<u64>,
    /// Stop once the smoothed training loss is below this.
    pub target_loss: Option<f64>,
    /// Seed of initialisation and data order.
    pub seed: u64,
    /// Fraction of the corpus (tail) held out for validation.
    pub val_fraction: f64,
    /// Checkpoint file (written at epoch ends at most every 30 s, at the end and on Ctrl-C).
    pub checkpoint: Option<PathBuf>,
    /// Loss-curve PNG.
    pub plot: Option<PathBuf>,
    /// CSV log.
    pub log: Option<PathBuf>,
    /// Print samples every this many steps.
    pub sample_every: Option<u64>,
}

impl TrainConfig {
    /// Where checkpoints go: `--checkpoint`, else `<out>.ckpt`.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.checkpoint.clone().unwrap_or_else(|| {
            let mut s = self.out.clone().into_os_string();
            s.push(".ckpt");
            PathBuf::from(s)
        })
    }

    /// The data part of the configuration.
    pub fn data_spec(&self) -> DataSpec<'_> {
        DataSpec {
            corpus: &self.corpus,
            mode: self.mode,
            preprocess: self.preprocess,
            batch: self.batch,
            seq_len: self.seq_len,
            val_fraction: self.val_fraction,
        }
    }
}

/// Convenience for tests and benches: a config with sensible defaults for `corpus` and `out`.
pub fn default_config(corpus: &Path, out: &Path) -> TrainConfig {
    TrainConfig {
        corpus: corpus.to_path_buf(),
        out: out.to_path_buf(),
        mode: Mode::Lines,
        preprocess: Preprocess::default(),
        hidden: 64,
        seq_len: 25,
        fixed_offset: false,
        batch: 1,
        optimizer: OptimizerKind::Adam,
        lr: 0.01,
        clip_value: Some(5.0),
        clip_norm: None,
        epochs: Some(1),
        steps: None,
        target_loss: None,
        seed: 0,
        val_fraction: 0.0,
        checkpoint: None,
        plot: None,
        log: None,
        sample_every: None,
    }
}

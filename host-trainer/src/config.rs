//! A validated training configuration: what `train` was asked to do (stored in checkpoints).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::CellArg;
use crate::data::DataSpec;
use crate::data::batch::Mode;
use crate::data::corpus::{Preprocess, Tokens};
use crate::optim::{OptimizerKind, Schedule};

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
    /// What a symbol is: a character or a word.
    #[serde(default)]
    pub tokens: Tokens,
    /// Hidden size.
    pub hidden: usize,
    /// Cell kind of every layer.
    #[serde(default)]
    pub cell: CellArg,
    /// Recurrent layers (1–4).
    #[serde(default = "one_layer")]
    pub layers: usize,
    /// Inverted-dropout probability between layers and before the output layer (training only).
    #[serde(default)]
    pub dropout: f64,
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
    /// Learning-rate schedule (`schedule.lr` equals `lr`).
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Decoupled weight decay (AdamW), 0 for none.
    #[serde(default)]
    pub weight_decay: f32,
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
    /// Fraction of the corpus held out for validation: a random set of lines (lines mode) or of
    /// chunks (stream mode), drawn with `seed`.
    pub val_fraction: f64,
    /// Also validate every this many steps (besides every epoch end).
    #[serde(default)]
    pub val_every: Option<u64>,
    /// Which parameters `out` receives when there is validation data.
    #[serde(default)]
    pub keep: Keep,
    /// Stop after this many validations without a new best.
    #[serde(default)]
    pub patience: Option<u64>,
    /// Checkpoint file (default `<out>.ckpt`).
    pub checkpoint: Option<PathBuf>,
    /// How often a checkpoint is written besides epoch ends (at most every 30 s), the end and signals.
    #[serde(default)]
    pub checkpoint_every: Every,
    /// Loss-curve PNG.
    pub plot: Option<PathBuf>,
    /// CSV log.
    pub log: Option<PathBuf>,
    /// Print samples every this many steps.
    pub sample_every: Option<u64>,
}

/// The layer count of configurations stored before layers existed.
fn one_layer() -> usize {
    1
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
            tokens: self.tokens,
            batch: self.batch,
            seq_len: self.seq_len,
            val_fraction: self.val_fraction,
            seed: self.seed,
        }
    }
}

/// Which parameters the model file receives when there is validation data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Keep {
    /// Those with the lowest validation loss.
    #[default]
    Best,
    /// Those of the last step.
    Last,
}

/// A period: a number of optimiser steps, or of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Every {
    /// Every this many steps.
    Steps(u64),
    /// Every this many seconds of training.
    Seconds(u64),
}

impl Default for Every {
    /// Five minutes.
    fn default() -> Self {
        Self::Seconds(300)
    }
}

impl std::str::FromStr for Every {
    type Err = String;

    /// `N` (steps) or `Ns`, `Nm`, `Nh` (seconds, minutes, hours); N ≥ 1.
    fn from_str(s: &str) -> Result<Self, String> {
        let (num, unit) = match s.char_indices().last() {
            Some((i, c @ ('s' | 'm' | 'h'))) => (&s[..i], Some(c)),
            _ => (s, None),
        };
        let n: u64 = num
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("{s:?}: expected N (steps) or Ns / Nm / Nh, N ≥ 1"))?;
        let secs = |mult: u64| {
            n.checked_mul(mult)
                .map(Self::Seconds)
                .ok_or_else(|| format!("{s:?} is too long"))
        };
        match unit {
            None => Ok(Self::Steps(n)),
            Some('s') => secs(1),
            Some('m') => secs(60),
            _ => secs(3600),
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
        tokens: Tokens::Chars,
        hidden: 64,
        cell: CellArg::Lstm,
        layers: 1,
        dropout: 0.0,
        seq_len: 25,
        fixed_offset: false,
        batch: 1,
        optimizer: OptimizerKind::Adam,
        lr: 0.01,
        schedule: None,
        weight_decay: 0.0,
        clip_value: Some(5.0),
        clip_norm: None,
        epochs: Some(1),
        steps: None,
        target_loss: None,
        seed: 0,
        val_fraction: 0.0,
        val_every: None,
        keep: Keep::Best,
        patience: None,
        checkpoint: None,
        checkpoint_every: Every::default(),
        plot: None,
        log: None,
        sample_every: None,
    }
}

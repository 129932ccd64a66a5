//! Training: a [`Trainer`] holds a run (configuration, data, parameters, optimiser, loop position) and
//! what it writes (model file, checkpoints). Its parts: [`step`](Trainer::step) (one minibatch update:
//! BPTT with dropout, clipping, schedule, optimiser), validation and the best model (`validation.rs`),
//! the loop with its stopping rules, checkpoints, logs and plots (`run.rs`). What a run shows on the
//! console is its caller's ([`Observer`]).

mod run;
mod step;
mod validation;

pub use step::dropout_seed;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use lstm_core::Dims;

use crate::bptt::stack::StackWorkspace;
use crate::checkpoint::{
    Checkpoint, CheckpointError, HexF32, LoopState, StoredOptimizer, StoredParams,
};
use crate::config::TrainConfig;
use crate::data::batch::BatchBuf;
use crate::data::corpus::{CorpusError, Vocab};
use crate::data::{DataError, Prepared, prepare};
use crate::files::FileError;
use crate::model::Stack;
use crate::model_file::{ExportError, encode_model, encode_stack};
use crate::optim::{LrSchedule, Optimizer};
use crate::rng::Rng;

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The corpus cannot be turned into training data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Checkpoint problem.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Settings that cannot work together.
    #[error("{0}")]
    Config(String),
    /// The checkpoint does not fit this corpus.
    #[error("checkpoint does not match the corpus: {0}")]
    Mismatch(String),
    /// Model file problem.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Writing a file failed or was refused.
    #[error(transparent)]
    File(#[from] FileError),
    /// Writing the log or plot failed.
    #[error("writing {path}: {reason}")]
    Output {
        /// File.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// The model of this corpus cannot be written in lstm-core's format (found before training).
    #[error("a model of this corpus cannot be stored in lstm-core's format: {0}")]
    Unrepresentable(String),
    /// The loss became non-finite or exploded (see [`Trainer::loss_limit`]); the model file and the
    /// checkpoint were left as they were.
    #[error(
        "training diverged at step {step}: loss {loss:.4} nats/char (limit {limit:.2}); {last}; the model file was not written. Try a smaller --lr or clipping"
    )]
    Diverged {
        /// The step whose minibatch loss diverged (1-based).
        step: u64,
        /// Its loss.
        loss: f64,
        /// The limit it broke.
        limit: f64,
        /// Where the last good checkpoint is, in words.
        last: String,
    },
}

/// The model file bytes of trained parameters: a one-layer LSTM over characters as format version 1
/// (what `train` has always written, readable by every reader), any other kind, depth or token kind
/// as version 2.
///
/// # Errors
/// lstm-core's validation (sizes, vocabulary, non-finite weights).
pub fn encode_trained(p: &Stack<f32>, vocab: &Vocab) -> Result<Vec<u8>, ExportError> {
    match p.to_params() {
        Some(plain) => encode_model(&plain, vocab),
        None => encode_stack(p, &vocab.as_string(), vocab.tokens().kind()),
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A stopping rule was met; the reason in words.
    Finished(String),
    /// Stopped early on request (Ctrl-C or a step limit of this run); a checkpoint was written.
    Interrupted {
        /// Where the checkpoint went.
        checkpoint: PathBuf,
    },
}

/// Run-time controls that are not part of the configuration.
#[derive(Debug, Default)]
pub struct Controls<'a> {
    /// Set (e.g. by Ctrl-C) to stop at the next step boundary.
    pub interrupt: Option<&'a AtomicBool>,
    /// Stop (as if interrupted) after this many steps in this run; for tests.
    pub stop_after: Option<u64>,
}

/// What a run reports as it goes (a progress bar, epoch summaries, samples); every method does nothing
/// by default, so `()` is the silent observer.
pub trait Observer {
    /// Before the first step of this run.
    fn start(&mut self, _trainer: &Trainer) {}
    /// After each optimiser update, with the minibatch's mean loss and this run's tokens per second.
    fn step(&mut self, _trainer: &Trainer, _loss: f64, _tokens_per_s: f64) {}
    /// After each epoch, with the validation loss if there is validation data.
    fn epoch(&mut self, _trainer: &Trainer, _val: Option<f64>) {}
    /// After a `--val-every` validation within an epoch.
    fn validation(&mut self, _trainer: &Trainer, _val: f64) {}
    /// When the loop has stopped, before the final files are written.
    fn finish(&mut self) {}
}

impl Observer for () {}

/// A training run in progress.
#[derive(Debug)]
pub struct Trainer {
    /// Configuration.
    pub cfg: TrainConfig,
    /// Data.
    pub prep: Prepared,
    /// Parameters being trained.
    pub params: Stack<f32>,
    opt: Optimizer,
    grads: Stack<f32>,
    ws: StackWorkspace<f32>,
    buf: BatchBuf,
    /// Loop position (what a checkpoint stores).
    pub state: LoopState,
    /// The last checkpoint written or resumed from, and its step.
    pub last_checkpoint: Option<(PathBuf, u64)>,
}

impl Trainer {
    /// A fresh run on corpus text `raw`.
    ///
    /// # Errors
    /// As [`prepare`].
    pub fn new(mut cfg: TrainConfig, raw: &str) -> Result<Self, TrainError> {
        let prep = prepare(raw, &cfg.data_spec(), None)?;
        // A cosine schedule spans the run: --steps, or the epochs' minibatches; fixed now, so a
        // resumed run with another stopping rule keeps the same curve.
        if let Some(s) = cfg
            .schedule
            .as_mut()
            .filter(|s| s.kind == LrSchedule::Cosine && s.total == 0)
        {
            let per_epoch = {
                let p = prep.train.plan(&mut Rng::new(0), 1, true);
                prep.train.num_batches(&p, cfg.batch, cfg.seq_len) as u64
            };
            s.total = match (cfg.steps, cfg.epochs) {
                (Some(n), _) => n,
                (None, Some(e)) => e.saturating_mul(per_epoch),
                (None, None) => {
                    return Err(TrainError::Config(
                        "--lr-schedule cosine needs --steps or --epochs to know the run's length"
                            .into(),
                    ));
                }
            };
        }
        let mut rng = Rng::new(cfg.seed);
        let n = prep.vocab.len();
        let params = Stack::init_uniform(
            cfg.cell.into(),
            Dims {
                n_x: n,
                n_h: cfg.hidden,
                n_y: n,
            },
            cfg.layers,
            &mut rng,
        );
        // Whatever the file format refuses (too many symbols, a symbol it cannot hold) is refused now,
        // not after the run.
        if let Err(e) = encode_trained(&params, &prep.vocab) {
            let reason = match &e {
                ExportError::Format { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            return Err(TrainError::Unrepresentable(reason));
        }
        let opt = Optimizer::new(cfg.optimizer, cfg.lr, &params);
        let state = LoopState {
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            plan: None,
            rng,
            smoothed: None,
            carried_h: HexF32::default(),
            carried_c: HexF32::default(),
            tokens: 0,
            history: Vec::new(),
            best: None,
            evals_since_best: 0,
        };
        Ok(Self::assemble(cfg, prep, params, opt, state))
    }

    fn assemble(
        cfg: TrainConfig,
        prep: Prepared,
        params: Stack<f32>,
        opt: Optimizer,
        state: LoopState,
    ) -> Self {
        let grads = params.zeros_like();
        Self {
            cfg,
            prep,
            params,
            opt,
            grads,
            ws: StackWorkspace::new(),
            buf: BatchBuf::default(),
            state,
            last_checkpoint: None,
        }
    }

    /// Continues from a checkpoint with (possibly updated) `cfg` and corpus text `raw`.
    ///
    /// # Errors
    /// A corpus that differs from the checkpoint's, or a damaged checkpoint.
    pub fn resume(ckpt: Checkpoint, mut cfg: TrainConfig, raw: &str) -> Result<Self, TrainError> {
        // The schedule (with the run length fixed at the start) is the checkpoint's.
        cfg.schedule = ckpt.config.schedule;
        let vocab = Vocab::from_stored(&ckpt.vocab, cfg.tokens);
        let prep = prepare(raw, &cfg.data_spec(), Some(vocab)).map_err(|e| match e {
            DataError::Corpus(CorpusError::UnknownChar { ch, .. }) => TrainError::Mismatch(
                format!("the corpus contains {ch:?}, not in the checkpoint's vocabulary"),
            ),
            other => TrainError::Data(other),
        })?;
        if prep.fingerprint != ckpt.corpus_fingerprint {
            return Err(TrainError::Mismatch(
                "the corpus text changed since the checkpoint was written".into(),
            ));
        }
        let params = ckpt.params.to_stack().map_err(TrainError::Mismatch)?;
        let opt = ckpt
            .optimizer
            .to_optimizer()
            .map_err(TrainError::Mismatch)?;
        if params.dims.n_x != prep.vocab.len()
            || params.dims.n_h != cfg.hidden
            || params.layers.len() != cfg.layers
            || params.kind != cfg.cell.into()
        {
            return Err(TrainError::Mismatch(
                "parameter sizes differ from the configuration".into(),
            ));
        }
        ckpt.state
            .check(&cfg, &prep.train)
            .map_err(TrainError::Mismatch)?;
        if prep.split != ckpt.split {
            return Err(TrainError::Mismatch(
                "the validation split differs from the checkpoint's".into(),
            ));
        }
        Ok(Self::assemble(cfg, prep, params, opt, ckpt.state))
    }

    /// Captures the full state.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            format: crate::checkpoint::CHECKPOINT_FORMAT.into(),
            version: crate::checkpoint::CHECKPOINT_VERSION,
            config: self.cfg.clone(),
            vocab: self.prep.vocab.as_string(),
            corpus_fingerprint: self.prep.fingerprint,
            params: StoredParams::from_stack(&self.params),
            optimizer: StoredOptimizer::from_optimizer(&self.opt),
            state: self.state.clone(),
            split: self.prep.split.clone(),
        }
    }

    /// The model file bytes of the current parameters.
    ///
    /// # Errors
    /// lstm-core's validation (e.g. non-finite weights).
    pub fn model_bytes(&self) -> Result<Vec<u8>, ExportError> {
        encode_trained(&self.params, &self.prep.vocab)
    }

    /// The largest minibatch loss taken as training rather than divergence:
    /// `max(3 × unigram entropy, ln(vocabulary size) + 10)` nats/char, i.e. three times the loss of a
    /// model that ignores context, and at least 10 nats above the loss of a uniform guess (so a freshly
    /// initialised model is never refused). SGD at a huge learning rate sits near 80.
    pub fn loss_limit(&self) -> f64 {
        let uniform = (self.prep.vocab.len().max(1) as f64).ln();
        (3.0 * self.prep.unigram_entropy).max(uniform + 10.0)
    }

    /// Writes a checkpoint to [`TrainConfig::checkpoint_path`] and remembers it as the last good one.
    ///
    /// # Errors
    /// Writing failed.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf, TrainError> {
        let path = self.cfg.checkpoint_path();
        self.checkpoint().save(&path)?;
        self.last_checkpoint = Some((path.clone(), self.state.step));
        Ok(path)
    }
}

#[cfg(test)]
mod tests;

//! The training loop: minibatches, BPTT, clipping, optimiser, stopping rules, validation, checkpoints,
//! logs and plots. What a run shows on the console is its caller's ([`Observer`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lstm_core::Dims;
use lstm_core::format::{CellKind, TokenKind};

use crate::bptt::stack::{Dropout, StackWorkspace, loss_and_grads};
use crate::checkpoint::{
    Best, Checkpoint, CheckpointError, HexF32, LoopState, StoredOptimizer, StoredParams,
};
use crate::config::TrainConfig;
use crate::config::{Every, Keep};
use crate::data::batch::{BatchBuf, Dataset, EpochPlan};
use crate::data::corpus::{CorpusError, Vocab};
use crate::data::{DataError, Prepared, prepare};
use crate::evaluate::evaluate_stack;
use crate::files::{FileError, write_atomic};
use crate::history::{HistoryRow, MAX_HISTORY, smooth, thin, write_csv};
use crate::model::Stack;
use crate::model_file::{ExportError, encode_model, encode_stack};
use crate::optim::{LrSchedule, Optimizer, clip_by_norm, clip_by_value, decay_weights};
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

/// The model file bytes of trained parameters: a one-layer LSTM as format version 1 (what `train` has
/// always written, readable by every reader), any other kind or depth as version 2.
///
/// # Errors
/// lstm-core's validation (sizes, vocabulary, non-finite weights).
pub fn encode_trained(p: &Stack<f32>, vocab: &Vocab) -> Result<Vec<u8>, ExportError> {
    match p.to_params() {
        Some(plain) => encode_model(&plain, vocab),
        None => encode_stack(p, &vocab.as_string(), TokenKind::Chars),
    }
}

/// The seed of step `step`'s dropout masks: a function of the run's seed and the step alone, so a resumed
/// run draws the same masks (the step is in the checkpoint) and the thread count plays no part.
pub fn dropout_seed(seed: u64, step: u64) -> u64 {
    // SplitMix64's finaliser over the pair; distinct steps give unrelated streams.
    let mut z = seed ^ step.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
        let vocab = Vocab::from_chars(ckpt.vocab.chars().collect());
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

    fn stop_reason(&self) -> Option<String> {
        let s = &self.state;
        if let Some(n) = self.cfg.steps.filter(|&n| s.step >= n) {
            return Some(format!("reached {n} steps"));
        }
        if let Some(n) = self.cfg.epochs.filter(|&n| s.epoch >= n) {
            return Some(format!("reached {n} epochs"));
        }
        if let (Some(t), Some(sm)) = (self.cfg.target_loss, s.smoothed)
            && sm < t
        {
            return Some(format!("smoothed loss {sm:.5} below target {t}"));
        }
        if let (Some(k), Some(b)) = (self.cfg.patience, &s.best)
            && s.evals_since_best >= k
        {
            return Some(format!(
                "no better validation loss in {k} evaluations (best {:.4} at step {})",
                b.loss, b.step
            ));
        }
        None
    }

    /// One optimiser update on the next minibatch; returns the minibatch's mean loss, or `None` at the end
    /// of an epoch (after which the next call starts a new one).
    pub fn step(&mut self) -> Result<Option<f64>, TrainError> {
        let (batch, seq_len, h) = (self.cfg.batch, self.cfg.seq_len, self.cfg.hidden);
        if self.state.plan.is_none() {
            let span = if self.cfg.fixed_offset { 1 } else { seq_len };
            self.state.plan = Some(self.prep.train.plan(
                &mut self.state.rng,
                span,
                self.cfg.fixed_offset,
            ));
            self.state.batch_in_epoch = 0;
            // Each epoch starts from a zero state (stream mode carries it within the epoch only).
            let n = self.cfg.layers * batch * h;
            let lstm = self.params.kind == CellKind::Lstm;
            self.state.carried_h = HexF32(vec![0.0; n]);
            self.state.carried_c = HexF32(vec![0.0; if lstm { n } else { 0 }]);
        }
        let Some(plan) = self.state.plan.as_ref() else {
            return Ok(None);
        };
        if self.state.batch_in_epoch >= self.prep.train.num_batches(plan, batch, seq_len) {
            self.state.plan = None;
            return Ok(None);
        }
        self.prep.train.fill(
            plan,
            self.state.batch_in_epoch,
            batch,
            seq_len,
            &mut self.buf,
        );
        let stream = matches!(self.prep.train, Dataset::Stream { .. });
        let lstm = self.params.kind == CellKind::Lstm;
        let nl = self.params.layers.len();
        // The state of a minibatch of `rows` rows, `[L][rows][H]`: the carried one (stream mode; a short
        // last minibatch uses each layer's first rows) or zeros (lines mode).
        let rows = self.buf.batch;
        let state = |carried: &[f32], on: bool| -> Vec<f32> {
            if !on {
                return Vec::new();
            }
            let mut v = vec![0.0f32; nl * rows * h];
            if stream {
                for k in 0..nl {
                    v[k * rows * h..(k + 1) * rows * h]
                        .copy_from_slice(&carried[k * batch * h..k * batch * h + rows * h]);
                }
            }
            v
        };
        let h0 = state(&self.state.carried_h.0, true);
        let c0 = state(&self.state.carried_c.0, lstm);
        let dropout = (self.cfg.dropout > 0.0).then(|| Dropout {
            p: self.cfg.dropout,
            seed: dropout_seed(self.cfg.seed, self.state.step),
        });
        let stats = loss_and_grads(
            &self.params,
            &mut self.ws,
            &self.buf.as_ref(),
            [&h0, &c0],
            dropout,
            &mut self.grads,
        );
        if stream {
            // Carry the final state into the next minibatch, detached (no gradient flows back into it).
            for k in 0..nl {
                let dst = k * batch * h..k * batch * h + rows * h;
                self.state.carried_h.0[dst.clone()].copy_from_slice(self.ws.h_last(k));
                if lstm {
                    self.state.carried_c.0[dst].copy_from_slice(self.ws.c_last(k));
                }
            }
        }
        let loss = stats.mean();
        let limit = self.loss_limit();
        if !(loss.is_finite() && loss <= limit) {
            return Err(TrainError::Diverged {
                step: self.state.step + 1,
                loss,
                limit,
                last: String::new(),
            });
        }
        if let Some(v) = self.cfg.clip_value {
            clip_by_value(&mut self.grads, v);
        }
        if let Some(n) = self.cfg.clip_norm {
            clip_by_norm(&mut self.grads, n);
        }
        // The schedule is a function of the step, which the checkpoint holds: resuming is exact.
        let lr = self
            .cfg
            .schedule
            .map_or(self.cfg.lr, |s| s.lr_at(self.state.step));
        self.opt.set_lr(lr);
        if self.cfg.weight_decay > 0.0 {
            decay_weights(&mut self.params, lr, self.cfg.weight_decay);
        }
        self.opt.step(&mut self.params, &self.grads);
        let s = &mut self.state;
        s.step += 1;
        s.batch_in_epoch += 1;
        s.tokens += stats.count as u64;
        let smoothed = smooth(s.smoothed, s.step, loss);
        s.smoothed = Some(smoothed);
        s.history.push(HistoryRow {
            step: s.step,
            epoch: s.epoch,
            loss,
            smoothed,
            val_loss: None,
        });
        thin(&mut s.history, MAX_HISTORY);
        Ok(Some(loss))
    }

    /// Validation loss of the current parameters, if there is validation data.
    pub fn validate(&self) -> Option<f64> {
        self.prep
            .val
            .as_ref()
            .map(|v| evaluate_stack(&self.params, v, self.cfg.batch, self.cfg.seq_len).mean())
    }

    /// Validates the current parameters (once per step: a second call at the same step reuses the
    /// result), records the loss in the history and keeps the best parameters.
    fn validate_and_track(&mut self) -> Option<f64> {
        let step = self.state.step;
        if let Some(row) = self.state.history.last()
            && row.step == step
            && row.val_loss.is_some()
        {
            return row.val_loss;
        }
        let val = self.validate()?;
        if let Some(row) = self.state.history.last_mut() {
            row.val_loss = Some(val);
        }
        let s = &mut self.state;
        if s.best.as_ref().is_none_or(|b| val < b.loss) {
            s.best = Some(Best {
                step,
                loss: val,
                params: StoredParams::from_stack(&self.params),
            });
            s.evals_since_best = 0;
        } else {
            s.evals_since_best += 1;
        }
        Some(val)
    }

    fn end_epoch(&mut self) -> Option<f64> {
        let val = self.validate_and_track();
        self.state.epoch += 1;
        val
    }

    /// The best validation loss so far and its step, if there is validation data.
    pub fn best(&self) -> Option<(f64, u64)> {
        self.state.best.as_ref().map(|b| (b.loss, b.step))
    }

    /// The parameters the model file receives: the best validated ones (with validation data and
    /// `keep best`), else the current ones.
    ///
    /// # Errors
    /// A damaged best-parameter record.
    pub fn model_params(&self) -> Result<std::borrow::Cow<'_, Stack<f32>>, TrainError> {
        match (&self.state.best, self.cfg.keep) {
            (Some(b), Keep::Best) => Ok(std::borrow::Cow::Owned(
                b.params.to_stack().map_err(TrainError::Mismatch)?,
            )),
            _ => Ok(std::borrow::Cow::Borrowed(&self.params)),
        }
    }

    /// Runs until a stopping rule, an interrupt or `controls.stop_after`, silently.
    ///
    /// # Errors
    /// Divergence, or failing to write the model, checkpoint, log or plot.
    pub fn run(&mut self, controls: &Controls<'_>) -> Result<Outcome, TrainError> {
        self.run_observed(controls, &mut ())
    }

    /// As [`Trainer::run`], reporting to `observer`.
    ///
    /// # Errors
    /// As [`Trainer::run`].
    pub fn run_observed(
        &mut self,
        controls: &Controls<'_>,
        observer: &mut dyn Observer,
    ) -> Result<Outcome, TrainError> {
        let start = Instant::now();
        let tokens_at_start = self.state.tokens;
        let steps_at_start = self.state.step;
        observer.start(self);
        // Checkpoints, log and plot at epoch ends are throttled: tiny corpora have thousands of epochs a
        // minute. Everything is written once more at the end.
        let mut last_save = Instant::now();
        let mut last_epoch_save = Instant::now();
        let outcome = loop {
            if let Some(reason) = self.stop_reason() {
                break Outcome::Finished(reason);
            }
            let interrupted = controls.interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
            let limit = controls
                .stop_after
                .is_some_and(|n| self.state.step - steps_at_start >= n);
            if interrupted || limit {
                let checkpoint = self.save_checkpoint()?;
                break Outcome::Interrupted { checkpoint };
            }
            let stepped = match self.step() {
                Ok(s) => s,
                Err(TrainError::Diverged {
                    step, loss, limit, ..
                }) => {
                    observer.finish();
                    // The log and plot show the run up to the divergence; model and checkpoint stay.
                    let _ = self.write_outputs();
                    let last = match &self.last_checkpoint {
                        Some((p, s)) => format!(
                            "the last good checkpoint is {} (step {s}; it was left intact)",
                            p.display()
                        ),
                        None => "no checkpoint had been written yet".into(),
                    };
                    return Err(TrainError::Diverged {
                        step,
                        loss,
                        limit,
                        last,
                    });
                }
                Err(e) => return Err(e),
            };
            match stepped {
                Some(loss) => {
                    let tokens_per_s = (self.state.tokens - tokens_at_start) as f64
                        / start.elapsed().as_secs_f64().max(1e-9);
                    if self
                        .cfg
                        .val_every
                        .is_some_and(|n| self.state.step.is_multiple_of(n))
                        && let Some(v) = self.validate_and_track()
                    {
                        observer.validation(self, v);
                    }
                    observer.step(self, loss, tokens_per_s);
                    let due = match self.cfg.checkpoint_every {
                        Every::Steps(n) => self.state.step.is_multiple_of(n),
                        Every::Seconds(n) => last_save.elapsed().as_secs() >= n,
                    };
                    if due {
                        last_save = Instant::now();
                        self.save_checkpoint()?;
                    }
                }
                None => {
                    let val = self.end_epoch();
                    observer.epoch(self, val);
                    if last_epoch_save.elapsed().as_secs_f64() >= 30.0 {
                        last_epoch_save = Instant::now();
                        last_save = Instant::now();
                        self.save_checkpoint()?;
                        self.write_outputs()?;
                    }
                }
            }
        };
        observer.finish();
        let bytes = encode_trained(self.model_params()?.as_ref(), &self.prep.vocab)?;
        write_atomic(&self.cfg.out, &bytes)?;
        if let Outcome::Finished(_) = &outcome {
            self.save_checkpoint()?;
        }
        self.write_outputs()?;
        Ok(outcome)
    }

    /// Minibatches per epoch of the current (or, between epochs, the next) epoch plan.
    pub fn batches_per_epoch(&self) -> u64 {
        let (batch, seq_len) = (self.cfg.batch, self.cfg.seq_len);
        let count = |p: &EpochPlan| self.prep.train.num_batches(p, batch, seq_len) as u64;
        self.state.plan.as_ref().map_or_else(
            || {
                count(&self.prep.train.plan(
                    &mut self.state.rng.clone(),
                    seq_len,
                    self.cfg.fixed_offset,
                ))
            },
            count,
        )
    }

    /// Writes the CSV log and the plot, if configured.
    ///
    /// # Errors
    /// I/O or plotting failures.
    pub fn write_outputs(&self) -> Result<(), TrainError> {
        if let Some(path) = &self.cfg.log {
            write_atomic(path, write_csv(&self.state.history).as_bytes())?;
        }
        if let Some(path) = &self.cfg.plot {
            crate::plot::plot_losses(path, &self.state.history).map_err(|reason| {
                TrainError::Output {
                    path: path.clone(),
                    reason,
                }
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::CellArg;
    use crate::config::default_config;
    use crate::data::batch::Mode;
    use crate::evaluate::evaluate;
    use crate::optim::OptimizerKind;
    use std::path::Path;

    fn corpus() -> String {
        let mut s = String::new();
        for i in 0..60 {
            s.push_str(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"][i % 6]);
            s.push_str(&"xyz"[..i % 3]);
            s.push('\n');
        }
        s
    }

    fn config(dir: &Path, mode: Mode, optimizer: OptimizerKind) -> TrainConfig {
        TrainConfig {
            mode,
            hidden: 8,
            seq_len: 7,
            batch: 3,
            optimizer,
            lr: 0.05,
            clip_norm: Some(1.0),
            clip_value: Some(2.0),
            epochs: Some(3),
            val_fraction: 0.1,
            seed: 42,
            checkpoint: Some(dir.join("run.ckpt")),
            ..default_config(&dir.join("corpus.txt"), &dir.join("model.bin"))
        }
    }

    /// Interrupt after `stop` steps, reload the checkpoint from disk, finish: same model bytes and history
    /// as the uninterrupted run (epoch boundaries, RNG, optimiser moments and carried state all restored).
    fn resume_equals_uninterrupted(
        mode: Mode,
        optimizer: OptimizerKind,
        stop: u64,
        fixed_offset: bool,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = TrainConfig {
            fixed_offset,
            ..config(dir.path(), mode, optimizer)
        };
        resume_equals_uninterrupted_with(cfg, stop);
    }

    fn resume_equals_uninterrupted_with(cfg: TrainConfig, stop: u64) {
        let text = corpus();
        let mut full = Trainer::new(cfg.clone(), &text).expect("trainer");
        assert!(matches!(
            full.run(&Controls::default()),
            Ok(Outcome::Finished(_))
        ));
        assert!(full.state.epoch == 3 && full.state.step > stop);

        let mut part = Trainer::new(cfg.clone(), &text).expect("trainer");
        let controls = Controls {
            stop_after: Some(stop),
            ..Controls::default()
        };
        let Ok(Outcome::Interrupted { checkpoint }) = part.run(&controls) else {
            panic!("expected an interruption")
        };
        assert_eq!(part.state.step, stop);
        let ckpt = Checkpoint::load(&checkpoint).expect("checkpoint loads");
        let mut resumed = Trainer::resume(ckpt, cfg, &text).expect("resumes");
        assert!(matches!(
            resumed.run(&Controls::default()),
            Ok(Outcome::Finished(_))
        ));

        assert_eq!(resumed.state.history, full.state.history);
        assert_eq!(
            resumed.model_bytes().expect("encodes"),
            full.model_bytes().expect("encodes")
        );
    }

    #[test]
    fn resume_equals_uninterrupted_stream_adam() {
        resume_equals_uninterrupted(Mode::Stream, OptimizerKind::Adam, 25, false);
    }

    #[test]
    fn resume_equals_uninterrupted_lines_adagrad() {
        resume_equals_uninterrupted(Mode::Lines, OptimizerKind::Adagrad, 23, false);
    }

    #[test]
    fn resume_equals_uninterrupted_stream_fixed_offset_with_tail() {
        resume_equals_uninterrupted(Mode::Stream, OptimizerKind::Adagrad, 30, true);
    }

    /// Stopping exactly at the end of the first epoch (18 batches of 3 out of 54 training lines).
    #[test]
    fn resume_equals_uninterrupted_at_epoch_boundary_sgd() {
        resume_equals_uninterrupted(Mode::Lines, OptimizerKind::Sgd, 18, false);
    }

    /// A cosine schedule with warm-up and AdamW weight decay, validation every 5 steps and the best
    /// model kept: an interrupted and resumed run is bit-identical to an uninterrupted one.
    #[test]
    fn resume_equals_uninterrupted_cosine_weight_decay_best() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = config(dir.path(), Mode::Lines, OptimizerKind::Adam);
        let cfg = TrainConfig {
            schedule: Some(crate::optim::Schedule {
                kind: LrSchedule::Cosine,
                lr: base.lr,
                warmup: 5,
                lr_min: 0.001,
                step_size: 1,
                gamma: 0.5,
                total: 0,
            }),
            weight_decay: 0.1,
            val_every: Some(5),
            ..base
        };
        resume_equals_uninterrupted_with(cfg, 29);
    }

    /// A 2-layer GRU with dropout in stream mode (state carried per layer, masks drawn per step) and a
    /// 2-layer LSTM with dropout in lines mode with validation and the best model kept: an interrupted
    /// and resumed run is bit-identical to an uninterrupted one.
    #[test]
    fn resume_equals_uninterrupted_stacks_with_dropout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gru = TrainConfig {
            cell: CellArg::Gru,
            layers: 2,
            dropout: 0.3,
            ..config(dir.path(), Mode::Stream, OptimizerKind::Adam)
        };
        resume_equals_uninterrupted_with(gru, 25);
        let lstm = TrainConfig {
            cell: CellArg::Lstm,
            layers: 2,
            dropout: 0.2,
            val_every: Some(4),
            ..config(dir.path(), Mode::Lines, OptimizerKind::Adagrad)
        };
        resume_equals_uninterrupted_with(lstm, 23);
    }

    /// Dropout changes the trained model; the written file holds exactly the trained stack (format
    /// version 2 for a GRU), and its validation loss is the dropout-free pass's.
    #[test]
    fn dropout_changes_training_and_the_file_holds_the_stack() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = TrainConfig {
            checkpoint: None,
            cell: CellArg::Gru,
            layers: 2,
            keep: Keep::Last,
            ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
        };
        let train = |cfg: TrainConfig| {
            let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
            t.run(&Controls::default()).expect("runs");
            t
        };
        let plain = train(base.clone());
        let dropped = train(TrainConfig {
            dropout: 0.5,
            ..base.clone()
        });
        let other_seed = train(TrainConfig {
            dropout: 0.5,
            seed: 43,
            ..base.clone()
        });
        assert_ne!(plain.params, dropped.params);
        assert_ne!(dropped.params, other_seed.params);
        let bytes = std::fs::read(&base.out).expect("model");
        let (stack, vocab, _) = crate::model_file::decode_stack(&bytes).expect("decodes");
        assert_eq!(stack, other_seed.params);
        assert_eq!(vocab, other_seed.prep.vocab.as_string());
        let v = other_seed.prep.val.as_ref().expect("val");
        assert_eq!(
            other_seed.validate(),
            Some(evaluate_stack(&stack, v, base.batch, base.seq_len).mean())
        );
    }

    /// Every cell kind, one and two layers, learns the tiny corpus well below its unigram entropy.
    #[test]
    fn every_kind_and_depth_lowers_the_loss() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (cell, layers) in [
            (CellArg::Rnn, 1),
            (CellArg::Gru, 1),
            (CellArg::Gru, 2),
            (CellArg::Lstm, 2),
        ] {
            let cfg = TrainConfig {
                checkpoint: None,
                cell,
                layers,
                epochs: Some(40),
                lr: 0.02,
                hidden: 16,
                ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
            };
            let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
            let first = t.step().expect("steps").expect("a batch");
            t.run(&Controls::default()).expect("runs");
            let smoothed = t.state.smoothed.expect("trained");
            assert!(
                smoothed < 0.5 * t.prep.unigram_entropy && smoothed < 0.5 * first,
                "{cell:?} × {layers}: {smoothed} (first {first}, unigram {})",
                t.prep.unigram_entropy
            );
        }
    }

    #[test]
    fn cosine_schedule_and_weight_decay_change_the_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = TrainConfig {
            checkpoint: None,
            ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
        };
        let bytes = |cfg: TrainConfig| {
            let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
            t.run(&Controls::default()).expect("runs");
            (t.model_bytes().expect("encodes"), t.cfg.schedule)
        };
        let (plain, _) = bytes(base.clone());
        let (decayed, _) = bytes(TrainConfig {
            weight_decay: 0.5,
            ..base.clone()
        });
        let (cosine, sched) = bytes(TrainConfig {
            schedule: Some(crate::optim::Schedule {
                kind: LrSchedule::Cosine,
                lr: base.lr,
                warmup: 0,
                lr_min: 0.0,
                step_size: 1,
                gamma: 0.5,
                total: 0,
            }),
            ..base.clone()
        });
        assert_ne!(plain, decayed);
        assert_ne!(plain, cosine);
        // 3 epochs of 18 minibatches (54 training lines, batch 3).
        assert_eq!(sched.map(|s| s.total), Some(54));
    }

    /// The held-out lines are a seeded random set, not the tail; another seed draws another set.
    #[test]
    fn validation_lines_are_a_seeded_random_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text: String = (0..200).map(|i| format!("line{i:03}\n")).collect();
        let split = |seed| {
            let cfg = TrainConfig {
                seed,
                ..config(dir.path(), Mode::Lines, OptimizerKind::Sgd)
            };
            Trainer::new(cfg, &text).expect("trainer").prep.split
        };
        let (a, b) = (split(1), split(2));
        assert_eq!(a, split(1));
        assert_eq!(a.units, 200);
        assert_eq!(a.val_units.len(), 20);
        assert_ne!(a.val_units, b.val_units);
        let tail: Vec<u32> = (180..200).collect();
        assert_ne!(a.val_units, tail);
        assert!(a.val_units.iter().any(|&i| i < 100), "{:?}", a.val_units);
    }

    /// Stream mode holds out whole chunks, at random, about the requested fraction.
    #[test]
    fn validation_stream_chunks_are_random_and_sized() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text: String = (0..2000).map(|i| format!("w{} ", i % 97)).collect();
        let cfg = config(dir.path(), Mode::Stream, OptimizerKind::Sgd);
        let t = Trainer::new(cfg, &text).expect("trainer");
        let sp = &t.prep.split;
        assert_eq!(sp.val_units.len(), 10);
        assert!(sp.val_units.iter().any(|&u| (u as usize) < sp.units - 10));
        let Some(Dataset::Stream { tokens }) = &t.prep.val else {
            panic!("stream validation data")
        };
        assert_eq!(tokens.len(), 10 * sp.chunk_len);
    }

    /// With validation, the model file holds the parameters of the best validation loss; --keep last
    /// the last ones; --patience stops after K evaluations without improvement.
    #[test]
    fn best_model_is_written_and_patience_stops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = TrainConfig {
            checkpoint: None,
            epochs: Some(60),
            lr: 0.05,
            hidden: 24,
            val_fraction: 0.2,
            ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
        };
        let mut t = Trainer::new(cfg.clone(), &corpus()).expect("trainer");
        t.run(&Controls::default()).expect("runs");
        let (best_loss, best_step) = t.best().expect("validated");
        let vals: Vec<f64> = t.state.history.iter().filter_map(|r| r.val_loss).collect();
        assert_eq!(vals.len(), 60);
        assert_eq!(
            vals.iter().copied().fold(f64::INFINITY, f64::min),
            best_loss
        );
        let written = std::fs::read(&cfg.out).expect("model");
        let (p, _) = crate::model_file::decode_model(&written).expect("decodes");
        let v = t.prep.val.as_ref().expect("val");
        let loss = evaluate(&p, v, cfg.batch, cfg.seq_len).mean();
        assert_eq!(
            loss, best_loss,
            "the file holds the best model (step {best_step})"
        );
        assert!(best_step < t.state.step, "overfits: best before the end");
        assert_ne!(written, t.model_bytes().expect("encodes"));

        let mut last = Trainer::new(
            TrainConfig {
                keep: Keep::Last,
                ..cfg.clone()
            },
            &corpus(),
        )
        .expect("trainer");
        last.run(&Controls::default()).expect("runs");
        assert_eq!(
            std::fs::read(&cfg.out).expect("model"),
            last.model_bytes().expect("encodes")
        );

        let mut patient = Trainer::new(
            TrainConfig {
                patience: Some(3),
                ..cfg.clone()
            },
            &corpus(),
        )
        .expect("trainer");
        let out = patient.run(&Controls::default()).expect("runs");
        assert!(
            matches!(&out, Outcome::Finished(r) if r.contains("3 evaluations")),
            "{out:?}"
        );
        let (_, step) = patient.best().expect("validated");
        assert_eq!(patient.state.evals_since_best, 3);
        assert!(patient.state.epoch < 60 && step < patient.state.step);
    }

    #[test]
    fn same_seed_same_model_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = TrainConfig {
            checkpoint: None,
            ..config(dir.path(), Mode::Stream, OptimizerKind::Sgd)
        };
        let run = || {
            let mut t = Trainer::new(cfg.clone(), &corpus()).expect("trainer");
            t.run(&Controls::default()).expect("runs");
            t.model_bytes().expect("encodes")
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn training_lowers_the_loss_below_unigram_entropy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = TrainConfig {
            checkpoint: None,
            epochs: Some(40),
            lr: 0.02,
            hidden: 16,
            ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
        };
        let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
        t.run(&Controls::default()).expect("runs");
        let smoothed = t.state.smoothed.expect("trained");
        assert!(
            smoothed < 0.5 * t.prep.unigram_entropy,
            "{smoothed} vs {}",
            t.prep.unigram_entropy
        );
    }

    #[test]
    fn rejects_corpus_shorter_than_one_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = TrainConfig {
            seq_len: 50,
            ..config(dir.path(), Mode::Stream, OptimizerKind::Sgd)
        };
        assert!(matches!(
            Trainer::new(cfg, "short text"),
            Err(TrainError::Data(DataError::TooShort { .. }))
        ));
    }
}

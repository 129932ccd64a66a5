//! The training loop: minibatches, BPTT, clipping, optimiser, stopping rules, validation, samples,
//! checkpoints, logs and plots.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::batch::{BatchBuf, Dataset, EpochPlan, Mode, eval_shape, split_lines};
use crate::bptt::{ForwardStats, Workspace, forward, loss_and_grads};
use crate::checkpoint::{
    Checkpoint, CheckpointError, HexF32, LoopState, StoredOptimizer, StoredParams,
};
use crate::corpus::{CorpusError, Preprocess, Vocab, fingerprint, preprocess, unigram_entropy};
use crate::export::{ExportError, encode_model, save_model, write_atomic};
use crate::model::{Params, Shape};
use crate::optim::{Optimizer, OptimizerKind, clip_by_norm, clip_by_value};
use crate::rng::Rng;

/// Weight of the newest loss in the smoothed training loss: an exponential
/// moving average `m ← 0.98·m + 0.02·loss` from `m = 0`, reported
/// bias-corrected as `m / (1 − 0.98^step)` (as Adam corrects its moments), so
/// it follows the recent losses from the first step instead of dragging the
/// first, untrained loss along for hundreds of steps.
pub const SMOOTHING: f64 = 0.02;

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
}

/// One row of the loss history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Optimiser updates done.
    pub step: u64,
    /// Epoch the step belongs to (0-based).
    pub epoch: u64,
    /// Mean cross-entropy of the minibatch.
    pub loss: f64,
    /// Smoothed training loss after the step.
    pub smoothed: f64,
    /// Validation loss, on the last step of an epoch.
    pub val_loss: Option<f64>,
}

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Corpus problem.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The corpus does not fill one minibatch.
    #[error("corpus {path} is too short: {detail}")]
    TooShort {
        /// The corpus.
        path: PathBuf,
        /// What was needed.
        detail: String,
    },
    /// Checkpoint problem.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint does not fit this corpus.
    #[error("checkpoint does not match the corpus: {0}")]
    Mismatch(String),
    /// Model file problem.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Writing the log or plot failed.
    #[error("writing {path}: {reason}")]
    Output {
        /// File.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step} (loss {loss}); try a smaller --lr or clipping")]
    Diverged {
        /// Step.
        step: u64,
        /// Loss.
        loss: f64,
    },
}

/// The corpus turned into training and validation data.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Vocabulary of the whole (preprocessed) corpus.
    pub vocab: Vocab,
    /// Training data.
    pub train: Dataset,
    /// Held-out data, if `val_fraction > 0`.
    pub val: Option<Dataset>,
    /// FNV-1a of the preprocessed text.
    pub fingerprint: u64,
    /// Unigram entropy of the training targets (nats): the loss of a context-free model.
    pub unigram_entropy: f64,
}

/// Preprocesses and encodes `raw` for `cfg`; with `vocab` given (resume), uses it instead of building one.
///
/// # Errors
/// Empty text, chars outside `vocab`, a corpus too short for one minibatch or the validation split.
pub fn prepare(cfg: &TrainConfig, raw: &str, vocab: Option<Vocab>) -> Result<Prepared, TrainError> {
    let text = preprocess(raw, cfg.preprocess);
    let path = cfg.corpus.clone();
    if text.trim().is_empty() {
        return Err(CorpusError::Empty {
            path,
            detail: " after preprocessing",
        }
        .into());
    }
    let extra: &[char] = if cfg.mode == Mode::Lines {
        &['\n']
    } else {
        &[]
    };
    let vocab = vocab.unwrap_or_else(|| Vocab::from_text(&text, extra));
    let tokens = vocab.encode(&text)?;
    let too_short = |detail: String| TrainError::TooShort {
        path: path.clone(),
        detail,
    };
    let (train, val) = match cfg.mode {
        Mode::Lines => {
            let newline = vocab
                .index('\n')
                .ok_or_else(|| too_short("no newline in the vocabulary".into()))?;
            let lines = split_lines(&tokens, newline);
            let n_val = val_count(lines.len(), cfg.val_fraction);
            if lines.len() <= n_val {
                return Err(too_short(format!(
                    "{} non-empty line(s), {} needed for training and validation",
                    lines.len(),
                    n_val + 1
                )));
            }
            let (a, b) = lines.split_at(lines.len() - n_val);
            let val = (n_val > 0).then(|| Dataset::Lines {
                lines: b.to_vec(),
                newline,
            });
            (
                Dataset::Lines {
                    lines: a.to_vec(),
                    newline,
                },
                val,
            )
        }
        Mode::Stream => {
            let n_val = if cfg.val_fraction > 0.0 {
                ((tokens.len() as f64 * cfg.val_fraction) as usize).max(2)
            } else {
                0
            };
            let n_train = tokens.len().saturating_sub(n_val);
            let train = Dataset::Stream {
                tokens: tokens[..n_train].to_vec(),
            };
            if !train.fits(cfg.batch, cfg.seq_len) {
                let need = cfg.seq_len * (cfg.batch + 1);
                return Err(too_short(format!(
                    "{n_train} training characters; --batch {} × --seq-len {} needs at least {need}",
                    cfg.batch, cfg.seq_len
                )));
            }
            let val = (n_val > 0).then(|| Dataset::Stream {
                tokens: tokens[n_train..].to_vec(),
            });
            (train, val)
        }
    };
    let targets: Vec<u32> = match &train {
        Dataset::Lines { lines, newline } => lines
            .iter()
            .flat_map(|l| l.iter().copied().chain([*newline]))
            .collect(),
        Dataset::Stream { tokens } => tokens[1..].to_vec(),
    };
    Ok(Prepared {
        unigram_entropy: unigram_entropy(&targets, vocab.len()),
        vocab,
        train,
        val,
        fingerprint: fingerprint(&text),
    })
}

/// Checks that a loaded loop state fits the data and sizes (a damaged checkpoint must not panic later).
fn check_state(s: &LoopState, cfg: &TrainConfig, data: &Dataset) -> Result<(), String> {
    if cfg.batch == 0 || cfg.seq_len == 0 || cfg.hidden == 0 {
        return Err("zero batch, sequence length or hidden size in the checkpoint".into());
    }
    let state_len = cfg.batch * cfg.hidden;
    if s.plan.is_some() && (s.carried_h.0.len() != state_len || s.carried_c.0.len() != state_len) {
        return Err(format!(
            "carried state has {} values, expected {state_len}",
            s.carried_h.0.len()
        ));
    }
    match (&s.plan, data) {
        (None, _) => Ok(()),
        (Some(EpochPlan::Lines { order }), Dataset::Lines { lines, .. }) => {
            if order.len() == lines.len() && order.iter().all(|&i| (i as usize) < lines.len()) {
                Ok(())
            } else {
                Err("the epoch plan does not match the corpus lines".into())
            }
        }
        (Some(EpochPlan::Stream { offset, .. }), Dataset::Stream { tokens })
            if *offset < tokens.len() =>
        {
            Ok(())
        }
        _ => Err("the epoch plan does not match the corpus mode".into()),
    }
}

fn val_count(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 {
        0
    } else {
        ((n as f64 * fraction).round() as usize).max(1)
    }
}

/// Mean loss of `p` over a whole dataset (lines: batches of `batch` lines; stream: sequential streams with
/// carried state from zero).
pub fn evaluate(p: &Params<f32>, data: &Dataset, batch: usize, seq_len: usize) -> ForwardStats {
    let mut ws = Workspace::new();
    let mut buf = BatchBuf::default();
    let mut total = ForwardStats {
        loss_sum: 0.0,
        count: 0,
    };
    let h = p.shape.n_h;
    let (plan, batch, seq_len) = match data {
        Dataset::Lines { lines, .. } => (
            EpochPlan::Lines {
                order: (0..lines.len() as u32).collect(),
            },
            batch,
            seq_len,
        ),
        Dataset::Stream { tokens } => {
            let (b, s) = eval_shape(tokens.len(), batch, seq_len);
            (
                EpochPlan::Stream {
                    offset: 0,
                    tail: true,
                },
                b,
                s,
            )
        }
    };
    let mut hc = (vec![0.0f32; batch * h], vec![0.0f32; batch * h]);
    for i in 0..data.num_batches(&plan, batch, seq_len) {
        data.fill(&plan, i, batch, seq_len, &mut buf);
        let zero = vec![0.0f32; buf.batch * h];
        let stats = if matches!(data, Dataset::Stream { .. }) {
            let s = forward(p, &mut ws, &buf.as_ref(), &hc.0, &hc.1);
            hc.0.copy_from_slice(ws.h_last(h));
            hc.1.copy_from_slice(ws.c_last(h));
            s
        } else {
            forward(p, &mut ws, &buf.as_ref(), &zero, &zero)
        };
        total.loss_sum += stats.loss_sum;
        total.count += stats.count;
    }
    total
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
    /// Show a progress bar and print epoch summaries and samples on stderr.
    pub verbose: bool,
}

/// A training run in progress.
#[derive(Debug)]
pub struct Trainer {
    /// Configuration.
    pub cfg: TrainConfig,
    /// Data.
    pub prep: Prepared,
    /// Parameters being trained.
    pub params: Params<f32>,
    opt: Optimizer,
    grads: Params<f32>,
    ws: Workspace<f32>,
    buf: BatchBuf,
    /// Loop position (what a checkpoint stores).
    pub state: LoopState,
}

impl Trainer {
    /// A fresh run on corpus text `raw`.
    ///
    /// # Errors
    /// As [`prepare`].
    pub fn new(cfg: TrainConfig, raw: &str) -> Result<Self, TrainError> {
        let prep = prepare(&cfg, raw, None)?;
        let mut rng = Rng::new(cfg.seed);
        let n = prep.vocab.len();
        let params = Params::init_uniform(
            Shape {
                n_x: n,
                n_h: cfg.hidden,
                n_y: n,
            },
            &mut rng,
        );
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
        };
        Ok(Self::assemble(cfg, prep, params, opt, state))
    }

    fn assemble(
        cfg: TrainConfig,
        prep: Prepared,
        params: Params<f32>,
        opt: Optimizer,
        state: LoopState,
    ) -> Self {
        let grads = Params::zeros(params.shape);
        Self {
            cfg,
            prep,
            params,
            opt,
            grads,
            ws: Workspace::new(),
            buf: BatchBuf::default(),
            state,
        }
    }

    /// Continues from a checkpoint with (possibly updated) `cfg` and corpus text `raw`.
    ///
    /// # Errors
    /// A corpus that differs from the checkpoint's, or a damaged checkpoint.
    pub fn resume(ckpt: Checkpoint, cfg: TrainConfig, raw: &str) -> Result<Self, TrainError> {
        let vocab = Vocab::from_chars(ckpt.vocab.chars().collect());
        let prep = prepare(&cfg, raw, Some(vocab)).map_err(|e| match e {
            TrainError::Corpus(CorpusError::UnknownChar { ch, .. }) => TrainError::Mismatch(
                format!("the corpus contains {ch:?}, not in the checkpoint's vocabulary"),
            ),
            other => other,
        })?;
        if prep.fingerprint != ckpt.corpus_fingerprint {
            return Err(TrainError::Mismatch(
                "the corpus text changed since the checkpoint was written".into(),
            ));
        }
        let params = ckpt.params.to_params().map_err(TrainError::Mismatch)?;
        let opt = ckpt
            .optimizer
            .to_optimizer()
            .map_err(TrainError::Mismatch)?;
        if params.shape.n_x != prep.vocab.len() || params.shape.n_h != cfg.hidden {
            return Err(TrainError::Mismatch(
                "parameter sizes differ from the configuration".into(),
            ));
        }
        check_state(&ckpt.state, &cfg, &prep.train).map_err(TrainError::Mismatch)?;
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
            params: StoredParams::from_params(&self.params),
            optimizer: StoredOptimizer::from_optimizer(&self.opt),
            state: self.state.clone(),
        }
    }

    /// The model file bytes of the current parameters.
    ///
    /// # Errors
    /// lstm-core's validation (e.g. non-finite weights).
    pub fn model_bytes(&self) -> Result<Vec<u8>, ExportError> {
        encode_model(&self.params, &self.prep.vocab)
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
            self.state.carried_h = HexF32(vec![0.0; batch * h]);
            self.state.carried_c = HexF32(vec![0.0; batch * h]);
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
        let stats = {
            let nb = self.buf.batch * h;
            let (h0, c0) = if stream {
                (&self.state.carried_h.0[..nb], &self.state.carried_c.0[..nb])
            } else {
                // Lines mode always starts from zero; reuse the (zero) buffers, sized to the full batch.
                self.state.carried_h.0.fill(0.0);
                self.state.carried_c.0.fill(0.0);
                (&self.state.carried_h.0[..nb], &self.state.carried_c.0[..nb])
            };
            loss_and_grads(
                &self.params,
                &mut self.ws,
                &self.buf.as_ref(),
                h0,
                c0,
                &mut self.grads,
            )
        };
        if stream {
            // Carry the final state into the next minibatch, detached (no gradient flows back into it).
            self.state.carried_h.0.copy_from_slice(self.ws.h_last(h));
            self.state.carried_c.0.copy_from_slice(self.ws.c_last(h));
        }
        let loss = stats.mean();
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                step: self.state.step,
                loss,
            });
        }
        if let Some(v) = self.cfg.clip_value {
            clip_by_value(&mut self.grads, v);
        }
        if let Some(n) = self.cfg.clip_norm {
            clip_by_norm(&mut self.grads, n);
        }
        self.opt.step(&mut self.params, &self.grads);
        let s = &mut self.state;
        s.step += 1;
        s.batch_in_epoch += 1;
        s.tokens += stats.count as u64;
        // Recover the raw average from the previous corrected value, update it, correct it again.
        let beta = 1.0 - SMOOTHING;
        let t = i32::try_from(s.step).unwrap_or(i32::MAX);
        let raw_prev = s
            .smoothed
            .map_or(0.0, |prev| prev * (1.0 - beta.powi(t - 1)));
        let smoothed = (beta * raw_prev + SMOOTHING * loss) / (1.0 - beta.powi(t));
        s.smoothed = Some(smoothed);
        s.history.push(HistoryRow {
            step: s.step,
            epoch: s.epoch,
            loss,
            smoothed,
            val_loss: None,
        });
        Ok(Some(loss))
    }

    /// Validation loss of the current parameters, if there is validation data.
    pub fn validate(&self) -> Option<f64> {
        self.prep
            .val
            .as_ref()
            .map(|v| evaluate(&self.params, v, self.cfg.batch, self.cfg.seq_len).mean())
    }

    fn end_epoch(&mut self) -> Option<f64> {
        let val = self.validate();
        if let Some(row) = self.state.history.last_mut() {
            row.val_loss = val;
        }
        self.state.epoch += 1;
        val
    }

    /// Runs until a stopping rule, an interrupt or `controls.stop_after`.
    ///
    /// # Errors
    /// Divergence, or failing to write the model, checkpoint, log or plot.
    pub fn run(&mut self, controls: &Controls<'_>) -> Result<Outcome, TrainError> {
        let start = Instant::now();
        let tokens_at_start = self.state.tokens;
        let steps_at_start = self.state.step;
        let bar = controls.verbose.then(|| self.progress_bar());
        let mut samples_broken = false;
        // Per-epoch work (summary line, checkpoint, log, plot) is throttled: tiny corpora have thousands of
        // epochs a minute. Everything is written once more at the end.
        let mut last_print: Option<Instant> = None;
        let mut last_save = Instant::now();
        let outcome = loop {
            if let Some(reason) = self.stop_reason() {
                break Outcome::Finished(reason);
            }
            let interrupted = controls.interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
            let limit = controls
                .stop_after
                .is_some_and(|n| self.state.step - steps_at_start >= n);
            if interrupted || limit {
                let path = self.cfg.checkpoint_path();
                self.checkpoint().save(&path)?;
                break Outcome::Interrupted { checkpoint: path };
            }
            match self.step()? {
                Some(loss) => {
                    let tokens_per_s = (self.state.tokens - tokens_at_start) as f64
                        / start.elapsed().as_secs_f64().max(1e-9);
                    if let Some(bar) = &bar {
                        bar.set_position(self.state.step);
                        bar.set_message(format!(
                            "epoch {} loss {loss:.4} smoothed {:.4} {tokens_per_s:.0} tok/s",
                            self.state.epoch + 1,
                            self.state.smoothed.unwrap_or(loss),
                        ));
                        if let Some(every) = self
                            .cfg
                            .sample_every
                            .filter(|&n| self.state.step.is_multiple_of(n))
                        {
                            let _ = every;
                            if !samples_broken {
                                samples_broken = !self.print_samples(bar);
                            }
                        }
                    }
                }
                None => {
                    let val = self.end_epoch();
                    let print_due = last_print.is_none_or(|t| t.elapsed().as_secs_f64() >= 2.0);
                    if let Some(bar) = bar.as_ref().filter(|_| print_due) {
                        last_print = Some(Instant::now());
                        let sm = self.state.smoothed.unwrap_or(f64::NAN);
                        let msg = match val {
                            Some(v) => format!(
                                "epoch {}: smoothed train loss {sm:.4} (ppl {:.2}), val loss {v:.4} (ppl {:.2})",
                                self.state.epoch,
                                sm.exp(),
                                v.exp()
                            ),
                            None => format!(
                                "epoch {}: smoothed train loss {sm:.4} (ppl {:.2})",
                                self.state.epoch,
                                sm.exp()
                            ),
                        };
                        bar.suspend(|| eprintln!("{msg}"));
                    }
                    if last_save.elapsed().as_secs_f64() >= 30.0 {
                        last_save = Instant::now();
                        if let Some(p) = &self.cfg.checkpoint {
                            self.checkpoint().save(p)?;
                        }
                        self.write_outputs()?;
                    }
                }
            }
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        save_model(&self.cfg.out, &self.params, &self.prep.vocab)?;
        if let (Outcome::Finished(_), Some(p)) = (&outcome, &self.cfg.checkpoint) {
            self.checkpoint().save(p)?;
        }
        self.write_outputs()?;
        Ok(outcome)
    }

    fn progress_bar(&self) -> indicatif::ProgressBar {
        let per_epoch = self.state.plan.as_ref().map_or_else(
            || {
                let plan = self.prep.train.plan(
                    &mut self.state.rng.clone(),
                    self.cfg.seq_len,
                    self.cfg.fixed_offset,
                );
                self.prep
                    .train
                    .num_batches(&plan, self.cfg.batch, self.cfg.seq_len) as u64
            },
            |p| {
                self.prep
                    .train
                    .num_batches(p, self.cfg.batch, self.cfg.seq_len) as u64
            },
        );
        let total = match (self.cfg.steps, self.cfg.epochs) {
            (Some(s), Some(e)) => Some(s.min(e * per_epoch)),
            (Some(s), None) => Some(s),
            (None, Some(e)) => Some(e * per_epoch),
            (None, None) => None,
        };
        let bar = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} steps (ETA {eta}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_position(self.state.step);
        bar
    }

    /// Prints samples through `generate`; returns false if sampling is unavailable.
    fn print_samples(&self, bar: &indicatif::ProgressBar) -> bool {
        let bytes = match self.model_bytes() {
            Ok(b) => b,
            Err(_) => return false,
        };
        let lines = self.cfg.mode == Mode::Lines;
        let opts = crate::generate::SampleOptions {
            prime: if lines {
                String::new()
            } else {
                self.prep
                    .vocab
                    .char_at(0)
                    .map(String::from)
                    .unwrap_or_default()
            },
            length: if lines { 40 } else { 120 },
            temperature: 1.0,
            top_k: None,
            top_p: None,
            seed: self.state.step,
            stop_at: lines.then_some('\n'),
            count: 3,
            cores_per_step: 1,
        };
        match crate::generate::sample_text(&bytes, &opts) {
            Ok(samples) => {
                bar.suspend(|| {
                    eprintln!("--- samples at step {} ---", self.state.step);
                    for s in samples.texts {
                        eprintln!("{}", s.trim_end_matches('\n'));
                    }
                });
                true
            }
            Err(e) => {
                bar.suspend(|| eprintln!("(samples disabled: {e})"));
                false
            }
        }
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

/// The CSV log: `step,epoch,loss,smoothed,perplexity,val_loss,val_perplexity`.
pub fn write_csv(history: &[HistoryRow]) -> String {
    let mut out = String::from("step,epoch,loss,smoothed,perplexity,val_loss,val_perplexity\n");
    for r in history {
        let (v, vp) = r.val_loss.map_or((String::new(), String::new()), |v| {
            (format!("{v:.6}"), format!("{:.4}", v.exp()))
        });
        out.push_str(&format!(
            "{},{},{:.6},{:.6},{:.4},{v},{vp}\n",
            r.step,
            r.epoch,
            r.loss,
            r.smoothed,
            r.smoothed.exp()
        ));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = corpus();
        let cfg = TrainConfig {
            fixed_offset,
            ..config(dir.path(), mode, optimizer)
        };
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
            Err(TrainError::TooShort { .. })
        ));
    }
}

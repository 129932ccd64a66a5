//! `host-trainer train`: its arguments, their validation into a [`TrainConfig`], and the run with its
//! summary; the progress display is `console.rs`, the signal handling `signals.rs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Args;

use crate::checkpoint::Checkpoint;
use crate::cli::{
    CellArg, ConfigError, MAX_HIDDEN, batch_shape, dropout, nonzero, positive, range,
};
use crate::config::{Every, Keep, TrainConfig};
use crate::data::batch::Mode;
use crate::data::corpus::{self, Preprocess, Tokens};
use crate::files::{FileError, check_outputs, named};
use crate::model::MAX_LAYERS;
use crate::optim::{LrSchedule, OptimizerKind, Schedule};
use crate::train::{Controls, Outcome, Trainer};

mod console;
mod signals;

use console::Console;
use signals::{INTERRUPT, SIGNAL, install_signal_handlers, interrupted_code, signal_name};

/// `train` arguments, as typed.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// UTF-8 text file to train on.
    #[arg(long, required_unless_present = "resume")]
    pub corpus: Option<PathBuf>,
    /// Model file to write (lstm-core format).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// `lines`: each line is a sequence from a zero state; `stream`: d2l sequential streams. [default: lines]
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Lowercase the corpus.
    #[arg(long)]
    pub lowercase: bool,
    /// d2l preprocessing: letters and spaces only, lowercased (stream mode).
    #[arg(long)]
    pub d2l: bool,
    /// What a symbol is: `chars`, or `words` (whitespace-separated; lines mode adds `<eol>`). [default: chars]
    #[arg(long, value_enum)]
    pub tokens: Option<Tokens>,
    /// Hidden size. [default: 64]
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Cell kind of every layer (PyTorch's equations). [default: lstm]
    #[arg(long, value_enum)]
    pub cell: Option<CellArg>,
    /// Recurrent layers, 1–4; layer k > 0 reads layer k − 1's h. [default: 1]
    #[arg(long)]
    pub layers: Option<usize>,
    /// Inverted dropout between layers and before the output layer, in [0, 1); training only. [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub dropout: Option<f64>,
    /// Characters per minibatch and stream (stream mode). [default: 35]
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Stream mode: read each epoch from the first character to the last (min-char-rnn), not from d2l's random offset.
    #[arg(long)]
    pub fixed_offset: bool,
    /// Sequences per minibatch. [default: 1 in lines mode, 32 in stream mode]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Update rule. [default: adam]
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate. [default: 0.01 adam, 0.1 adagrad, 1 sgd]
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Learning-rate schedule after the warm-up. [default: constant]
    #[arg(long, value_enum)]
    pub lr_schedule: Option<LrSchedule>,
    /// Linear learning-rate warm-up over N steps. [default: 0]
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Cosine: the learning rate at the end of the run. [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub lr_min: Option<f32>,
    /// Step schedule: multiply the learning rate by --lr-gamma every N steps.
    #[arg(long)]
    pub lr_step_size: Option<u64>,
    /// Step schedule: the factor. [default: 0.5]
    #[arg(long, allow_negative_numbers = true)]
    pub lr_gamma: Option<f32>,
    /// Decoupled weight decay (AdamW with adam) of the weight matrices, per unit of learning rate. [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f32>,
    /// Clip each gradient component to ±F.
    #[arg(long, allow_negative_numbers = true)]
    pub clip_value: Option<f32>,
    /// Rescale gradients to a global L2 norm of at most F.
    #[arg(long, allow_negative_numbers = true)]
    pub clip_norm: Option<f32>,
    /// Stop after N epochs. [default: 10 if no stopping rule is given]
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Stop after N optimiser updates.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Stop when the smoothed training loss (nats/char) falls below F.
    #[arg(long, allow_negative_numbers = true)]
    pub target_loss: Option<f64>,
    /// Seed of initialisation and data order. [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction held out for validation: a random set of lines (lines mode) or of ~1%-sized chunks (stream mode), drawn with --seed. [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub val_fraction: Option<f64>,
    /// Also validate every N steps (besides every epoch end).
    #[arg(long)]
    pub val_every: Option<u64>,
    /// With validation: write the model with the best validation loss (`best`) or the last one (`last`) to --out. [default: best]
    #[arg(long, value_enum)]
    pub keep: Option<Keep>,
    /// With validation: stop after K validations without a new best.
    #[arg(long)]
    pub patience: Option<u64>,
    /// Checkpoint file, written every --checkpoint-every, at epoch ends (at most every 30 s), at the end and on SIGINT / SIGTERM / SIGHUP. [default: OUT.ckpt]
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Also checkpoint every N steps, or every Ns / Nm / Nh of training. [default: 5m]
    #[arg(long)]
    pub checkpoint_every: Option<Every>,
    /// Continue from a checkpoint (its settings are kept; stopping rules and output paths may change).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Write the loss curve to this PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write the loss log to this CSV.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Print samples every N steps.
    #[arg(long)]
    pub sample_every: Option<u64>,
    /// Worker threads (results do not depend on it). [default: all cores]
    #[arg(long)]
    pub threads: Option<usize>,
}

impl TrainArgs {
    /// Validates the arguments of a fresh run into a [`TrainConfig`].
    ///
    /// # Errors
    /// The first nonsensical value or conflicting pair of flags.
    pub fn to_config(&self) -> Result<TrainConfig, ConfigError> {
        let (Some(corpus), Some(out)) = (self.corpus.clone(), self.out.clone()) else {
            return Err(ConfigError::Conflict(
                "--corpus and --out are required".into(),
            ));
        };
        let mode = self.mode.unwrap_or(Mode::Lines);
        if self.d2l && mode == Mode::Lines {
            return Err(ConfigError::Conflict(
                "--d2l joins all lines into one text; use it with --mode stream".into(),
            ));
        }
        let optimizer = self.optimizer.unwrap_or(OptimizerKind::Adam);
        let default_lr = match optimizer {
            OptimizerKind::Adam => 0.01,
            OptimizerKind::Adagrad => 0.1,
            OptimizerKind::Sgd => 1.0,
        };
        let lr = positive("lr", f64::from(self.lr.unwrap_or(default_lr)), 1e3)? as f32;
        let schedule = self.schedule(lr)?;
        let weight_decay = match self.weight_decay {
            None | Some(0.0) => 0.0,
            Some(w) => positive("weight-decay", f64::from(w), 1.0)? as f32,
        };
        let clip_value = self
            .clip_value
            .map(|v| positive("clip-value", f64::from(v), 1e9).map(|v| v as f32))
            .transpose()?;
        let clip_norm = self
            .clip_norm
            .map(|v| positive("clip-norm", f64::from(v), 1e9).map(|v| v as f32))
            .transpose()?;
        let target_loss = self
            .target_loss
            .map(|v| positive("target-loss", v, 1e3))
            .transpose()?;
        let val_fraction = self.val_fraction.unwrap_or(0.0);
        if !(val_fraction.is_finite() && (0.0..=0.5).contains(&val_fraction)) {
            return Err(ConfigError::BadFloat {
                flag: "val-fraction",
                value: val_fraction,
                rule: "must be in 0..=0.5",
            });
        }
        let (epochs, steps) = (
            nonzero("epochs", self.epochs)?,
            nonzero("steps", self.steps)?,
        );
        let epochs = if epochs.is_none() && steps.is_none() && target_loss.is_none() {
            Some(10)
        } else {
            epochs
        };
        let (batch, seq_len) = batch_shape(
            self.batch
                .unwrap_or(if mode == Mode::Lines { 1 } else { 32 }),
            self.seq_len.unwrap_or(35),
        )?;
        if let Some(t) = self.threads {
            range("threads", t, 1, 256)?;
        }
        if val_fraction == 0.0
            && (self.val_every.is_some() || self.patience.is_some() || self.keep.is_some())
        {
            return Err(ConfigError::Conflict(
                "--val-every, --patience and --keep need validation data: give --val-fraction"
                    .into(),
            ));
        }
        Ok(TrainConfig {
            corpus,
            out,
            mode,
            preprocess: Preprocess {
                lowercase: self.lowercase,
                d2l: self.d2l,
            },
            tokens: self.tokens.unwrap_or_default(),
            hidden: range("hidden", self.hidden.unwrap_or(64), 1, MAX_HIDDEN)?,
            cell: self.cell.unwrap_or_default(),
            layers: range("layers", self.layers.unwrap_or(1), 1, MAX_LAYERS)?,
            dropout: dropout("dropout", self.dropout.unwrap_or(0.0))?,
            seq_len,
            fixed_offset: self.fixed_offset,
            batch,
            optimizer,
            lr,
            schedule,
            weight_decay,
            clip_value,
            clip_norm,
            epochs,
            steps,
            target_loss,
            seed: self.seed.unwrap_or(0),
            val_fraction,
            val_every: nonzero("val-every", self.val_every)?,
            keep: self.keep.unwrap_or_default(),
            patience: nonzero("patience", self.patience)?,
            checkpoint: self.checkpoint.clone(),
            checkpoint_every: self.checkpoint_every.unwrap_or_default(),
            plot: self.plot.clone(),
            log: self.log.clone(),
            sample_every: nonzero("sample-every", self.sample_every)?,
        })
    }

    /// The learning-rate schedule of the flags, `None` for a constant rate without warm-up.
    fn schedule(&self, lr: f32) -> Result<Option<Schedule>, ConfigError> {
        let kind = self.lr_schedule.unwrap_or_default();
        let warmup = self.warmup.unwrap_or(0);
        if warmup > 1_000_000_000 {
            return Err(ConfigError::OutOfRange {
                flag: "warmup",
                value: warmup,
                min: 0,
                max: 1_000_000_000,
            });
        }
        let conflict = |m: &str| Err(ConfigError::Conflict(m.into()));
        if kind != LrSchedule::Cosine && self.lr_min.is_some() {
            return conflict("--lr-min goes with --lr-schedule cosine");
        }
        if kind != LrSchedule::Step && (self.lr_step_size.is_some() || self.lr_gamma.is_some()) {
            return conflict("--lr-step-size and --lr-gamma go with --lr-schedule step");
        }
        let lr_min = match self.lr_min {
            None | Some(0.0) => 0.0,
            Some(m) => {
                let m = positive("lr-min", f64::from(m), f64::from(lr))? as f32;
                m.min(lr)
            }
        };
        let step_size = match (kind, self.lr_step_size) {
            (LrSchedule::Step, None) => {
                return conflict("--lr-schedule step needs --lr-step-size N");
            }
            (_, s) => nonzero("lr-step-size", s)?.unwrap_or(1),
        };
        let gamma = match self.lr_gamma {
            None => 0.5,
            Some(g) => positive("lr-gamma", f64::from(g), 1.0)? as f32,
        };
        if kind == LrSchedule::Constant && warmup == 0 {
            return Ok(None);
        }
        Ok(Some(Schedule {
            kind,
            lr,
            warmup,
            lr_min,
            step_size,
            gamma,
            total: 0,
        }))
    }

    /// Applies the flags allowed on `--resume` to the checkpoint's configuration.
    ///
    /// # Errors
    /// A hyper-parameter flag given with `--resume` (it would break exact continuation), or a bad value.
    pub fn apply_to_resumed(&self, mut cfg: TrainConfig) -> Result<TrainConfig, ConfigError> {
        let fixed = [
            ("--mode", self.mode.is_some()),
            ("--lowercase", self.lowercase),
            ("--d2l", self.d2l),
            ("--tokens", self.tokens.is_some()),
            ("--hidden", self.hidden.is_some()),
            ("--seq-len", self.seq_len.is_some()),
            ("--fixed-offset", self.fixed_offset),
            ("--batch", self.batch.is_some()),
            ("--optimizer", self.optimizer.is_some()),
            ("--lr", self.lr.is_some()),
            ("--lr-schedule", self.lr_schedule.is_some()),
            ("--warmup", self.warmup.is_some()),
            ("--lr-min", self.lr_min.is_some()),
            ("--lr-step-size", self.lr_step_size.is_some()),
            ("--lr-gamma", self.lr_gamma.is_some()),
            ("--weight-decay", self.weight_decay.is_some()),
            ("--clip-value", self.clip_value.is_some()),
            ("--clip-norm", self.clip_norm.is_some()),
            ("--seed", self.seed.is_some()),
            ("--val-fraction", self.val_fraction.is_some()),
        ];
        if let Some((flag, _)) = fixed.iter().find(|(_, given)| *given) {
            return Err(ConfigError::Conflict(format!(
                "{flag} cannot change when resuming: the checkpoint's setting is used so the run continues exactly"
            )));
        }
        let model = [
            (
                "--cell",
                self.cell.is_some_and(|c| c != cfg.cell),
                lstm_core::format::CellKind::from(cfg.cell)
                    .name()
                    .to_owned(),
            ),
            (
                "--layers",
                self.layers.is_some_and(|n| n != cfg.layers),
                cfg.layers.to_string(),
            ),
            (
                "--dropout",
                self.dropout.is_some_and(|d| d != cfg.dropout),
                cfg.dropout.to_string(),
            ),
        ];
        if let Some(d) = self.dropout {
            dropout("dropout", d)?;
        }
        if let Some((flag, _, was)) = model.iter().find(|(_, differs, _)| *differs) {
            return Err(ConfigError::Conflict(format!(
                "{flag} differs from the checkpoint's ({was}): a resumed run keeps its model's cell kind, layers and dropout"
            )));
        }
        if let Some(c) = &self.corpus {
            cfg.corpus = c.clone();
        }
        if let Some(o) = &self.out {
            cfg.out = o.clone();
        }
        if self.epochs.is_some() || self.steps.is_some() || self.target_loss.is_some() {
            cfg.epochs = nonzero("epochs", self.epochs)?;
            cfg.steps = nonzero("steps", self.steps)?;
            cfg.target_loss = self
                .target_loss
                .map(|v| positive("target-loss", v, 1e3))
                .transpose()?;
        }
        for (dst, src) in [
            (&mut cfg.checkpoint, &self.checkpoint),
            (&mut cfg.plot, &self.plot),
            (&mut cfg.log, &self.log),
        ] {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        if self.val_every.is_some() {
            cfg.val_every = nonzero("val-every", self.val_every)?;
        }
        if let Some(k) = self.keep {
            cfg.keep = k;
        }
        if self.patience.is_some() {
            cfg.patience = nonzero("patience", self.patience)?;
        }
        if let Some(e) = self.checkpoint_every {
            cfg.checkpoint_every = e;
        }
        if self.sample_every.is_some() {
            cfg.sample_every = nonzero("sample-every", self.sample_every)?;
        }
        Ok(cfg)
    }
}

/// Runs `train`; the exit code is 0 when a stopping rule ended the run, `128 + signal number` when a
/// signal did (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), after the checkpoint is written.
///
/// # Errors
/// Bad arguments, an unusable corpus or checkpoint, divergence, a file that cannot be written.
pub fn run(a: &TrainArgs) -> anyhow::Result<ExitCode> {
    set_threads(a.threads)?;
    let (cfg, ckpt) = if let Some(ckpt_path) = &a.resume {
        let ckpt = Checkpoint::load(ckpt_path)?;
        (a.apply_to_resumed(ckpt.config.clone())?, Some(ckpt))
    } else {
        (a.to_config()?, None)
    };
    check_paths(&cfg, a.resume.as_deref())?;
    install_signal_handlers()?;
    let raw = corpus::load(&cfg.corpus)?;
    let mut trainer = match (ckpt, &a.resume) {
        (Some(ckpt), Some(path)) => {
            let step = ckpt.state.step;
            eprintln!("resuming from {} at step {step}", path.display());
            let mut t = Trainer::resume(ckpt, cfg, &raw)?;
            t.last_checkpoint = Some((path.clone(), step));
            t
        }
        _ => Trainer::new(cfg, &raw)?,
    };
    drop(raw);
    let p = &trainer.prep;
    eprintln!(
        "corpus {}: {} training targets, vocabulary {} ({:?}), unigram entropy {:.4} nats/char; {} × {} layer{}, {} parameters",
        trainer.cfg.corpus.display(),
        p.train.target_count(),
        p.vocab.len(),
        p.vocab.preview(),
        p.unigram_entropy,
        trainer.params.kind.name(),
        trainer.params.layers.len(),
        if trainer.params.layers.len() == 1 {
            ""
        } else {
            "s"
        },
        trainer.params.param_count()
    );
    if let Some(v) = &p.val {
        let sp = &p.split;
        let unit = if sp.chunk_len > 0 {
            format!("chunks of {} characters", sp.chunk_len)
        } else {
            "lines".into()
        };
        eprintln!(
            "validation: {} of {} {unit} held out at random (seed {}), {} targets",
            sp.val_units.len(),
            sp.units,
            trainer.cfg.seed,
            v.target_count()
        );
    }
    let start = std::time::Instant::now();
    let tokens0 = trainer.state.tokens;
    let outcome = trainer.run_observed(
        &Controls {
            interrupt: Some(&INTERRUPT),
            stop_after: None,
        },
        &mut Console::default(),
    )?;
    let secs = start.elapsed().as_secs_f64();
    crate::sidecar::record_run(&trainer)?;
    let sm = trainer.state.smoothed.unwrap_or(f64::NAN);
    eprintln!(
        "step {}, epoch {}: smoothed loss {sm:.4} nats/char (perplexity {:.3}); unigram entropy {:.4}; {:.0} tokens/s",
        trainer.state.step,
        trainer.state.epoch,
        sm.exp(),
        trainer.prep.unigram_entropy,
        (trainer.state.tokens - tokens0) as f64 / secs.max(1e-9)
    );
    if let Some(v) = trainer.validate() {
        eprintln!("validation loss {v:.4} (perplexity {:.3})", v.exp());
    }
    match (trainer.best(), trainer.cfg.keep) {
        (Some((loss, step)), Keep::Best) => eprintln!(
            "model written to {}: the best validation loss, {loss:.6} at step {step}",
            trainer.cfg.out.display()
        ),
        (Some((loss, step)), Keep::Last) => eprintln!(
            "model written to {} (last step; the best validation loss was {loss:.6} at step {step})",
            trainer.cfg.out.display()
        ),
        (None, _) => eprintln!("model written to {}", trainer.cfg.out.display()),
    }
    match outcome {
        Outcome::Finished(reason) => {
            eprintln!("done: {reason}");
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Interrupted { checkpoint } => {
            let sig = SIGNAL.load(Ordering::SeqCst);
            eprintln!(
                "interrupted by {}: checkpoint saved to {}; continue with --resume {}",
                signal_name(sig),
                checkpoint.display(),
                checkpoint.display()
            );
            Ok(ExitCode::from(interrupted_code(sig)))
        }
    }
}

/// Refuses, before any work, output paths that would destroy an input or cannot be written.
fn check_paths(cfg: &TrainConfig, resume: Option<&Path>) -> Result<(), FileError> {
    let ckpt = cfg.checkpoint_path();
    let mut inputs = vec![named("--corpus", &cfg.corpus)];
    if let Some(r) = resume {
        inputs.push(named("--resume", r));
    }
    let info = crate::sidecar::sidecar_path(&cfg.out);
    let mut outputs = vec![
        named("--out", &cfg.out),
        named("--checkpoint", &ckpt),
        named("--out's .json", &info),
    ];
    if let Some(p) = &cfg.log {
        outputs.push(named("--log", p));
    }
    if let Some(p) = &cfg.plot {
        outputs.push(named("--plot", p));
    }
    check_outputs(&inputs, &outputs, &[("--resume", "--checkpoint")])
}

/// Sizes rayon's global pool.
fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    // Parallelism comes from rayon: large products split their output columns between threads
    // (`linalg::gemm_panels`), never the summation, so the model bytes are the same for any thread count.
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("starting the thread pool")?;
    }
    Ok(())
}

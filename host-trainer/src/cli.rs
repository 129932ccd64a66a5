//! Command-line arguments (clap) and their validation into configurations (raw args → checked config,
//! ripgrep's lowargs → hiargs): nonsense is rejected with one clear message, never clamped.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::batch::Mode;
use crate::corpus::Preprocess;
use crate::generate::SampleOptions;
use crate::gradcheck::GradcheckSpec;
use crate::optim::OptimizerKind;
use crate::pytorch::Prefixes;
use crate::train::TrainConfig;

/// Largest hidden size accepted (lstm-core's format limit).
pub const MAX_HIDDEN: usize = lstm_core::format::MAX_HIDDEN;
/// Largest `--seq-len` accepted.
pub const MAX_SEQ_LEN: usize = 100_000;
/// Largest `--batch` accepted.
pub const MAX_BATCH: usize = 65_536;

/// Train character-level LSTMs and export them for lstm-core.
#[derive(Debug, Parser)]
#[command(name = "host-trainer", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on a text file.
    Train(Box<TrainArgs>),
    /// Generate text from a model file.
    Sample(SampleArgs),
    /// Report loss and perplexity of a model on a text file.
    Eval(EvalArgs),
    /// Show a model file's dimensions, vocabulary, parameter count and size.
    Inspect(InspectArgs),
    /// Check analytic gradients against central differences (f64) on a random model.
    Gradcheck(GradcheckArgs),
    /// Check forward values and gradients against PyTorch reference files (lstm-golden/1).
    Golden(GoldenArgs),
    /// Convert a PyTorch nn.LSTM + nn.Linear (safetensors + vocabulary JSON) into a model file.
    Import(ImportArgs),
    /// Write a model file as safetensors + vocabulary JSON for PyTorch (load_state_dict(strict=True)).
    Export(ExportArgs),
}

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
    /// Hidden size. [default: 64]
    #[arg(long)]
    pub hidden: Option<usize>,
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
    /// Fraction of the corpus (its tail) held out for validation. [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub val_fraction: Option<f64>,
    /// Checkpoint file, written at epoch ends (at most every 30 s), at the end and on Ctrl-C. [Ctrl-C default: MODEL.ckpt]
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
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

/// `sample` arguments.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Text to start from (printed as part of the output).
    #[arg(long, default_value = "")]
    pub prime: String,
    /// Characters to generate per sample.
    #[arg(long, default_value_t = 200)]
    pub length: usize,
    /// Softmax temperature; 0 is greedy.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Sample only among the K most likely characters.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Sample only among the most likely characters whose probabilities sum to P.
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// RNG seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// End a sample after this character (escapes `\n`, `\t`, `\\` accepted).
    #[arg(long)]
    pub stop_at: Option<String>,
    /// Number of samples.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Print the CRC-32 of the final state's bits on stderr (`state digest: 0x…`), as the firmware does.
    #[arg(long)]
    pub digest: bool,
    /// Cores per step: 2 splits every step's hidden units between two threads
    /// (same text and bits; pays at hidden ~256, where each core's half of the
    /// weights fits its L2; one core spins while it waits).
    #[arg(long, default_value_t = 1)]
    pub cores_per_step: usize,
}

/// `eval` arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// UTF-8 text to evaluate on.
    #[arg(long)]
    pub corpus: PathBuf,
    /// How to read the corpus.
    #[arg(long, value_enum, default_value = "lines")]
    pub mode: Mode,
    /// Lowercase the corpus.
    #[arg(long)]
    pub lowercase: bool,
    /// d2l preprocessing.
    #[arg(long)]
    pub d2l: bool,
    /// Characters per chunk (stream mode).
    #[arg(long, default_value_t = 35)]
    pub seq_len: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
}

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Model file.
    pub model: PathBuf,
}

/// `gradcheck` arguments.
#[derive(Debug, Args)]
pub struct GradcheckArgs {
    /// Vocabulary size.
    #[arg(long, default_value_t = 5)]
    pub vocab: usize,
    /// Hidden size.
    #[arg(long, default_value_t = 4)]
    pub hidden: usize,
    /// Time steps.
    #[arg(long, default_value_t = 5)]
    pub seq_len: usize,
    /// Batch size.
    #[arg(long, default_value_t = 3)]
    pub batch: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `golden` arguments.
#[derive(Debug, Args)]
pub struct GoldenArgs {
    /// Reference files (lstm-golden/1 JSON).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Tensor-name prefixes of the PyTorch model, shared by `import` and `export`.
#[derive(Debug, Args)]
pub struct PrefixArgs {
    /// Prefix of the nn.LSTM's tensors (`{prefix}weight_ih_l0` ...).
    #[arg(long, default_value = crate::pytorch::DEFAULT_LSTM_PREFIX)]
    pub lstm_prefix: String,
    /// Prefix of the output nn.Linear's tensors (`{prefix}weight`, `{prefix}bias`).
    #[arg(long, default_value = crate::pytorch::DEFAULT_LINEAR_PREFIX)]
    pub linear_prefix: String,
}

impl PrefixArgs {
    /// The prefixes as the converter takes them.
    pub fn to_prefixes(&self) -> Prefixes {
        Prefixes {
            lstm: self.lstm_prefix.clone(),
            linear: self.linear_prefix.clone(),
        }
    }
}

/// `import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// PyTorch weights (`model.state_dict()` saved with safetensors; F32, F64, F16 or BF16).
    #[arg(long)]
    pub safetensors: PathBuf,
    /// Vocabulary: a JSON list of one-character strings in index order.
    #[arg(long)]
    pub vocab: PathBuf,
    /// Model file to write (lstm-core format).
    #[arg(long)]
    pub out: PathBuf,
    /// Tensor-name prefixes.
    #[command(flatten)]
    pub prefixes: PrefixArgs,
}

/// `export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Model file to read (lstm-core format).
    #[arg(long)]
    pub model: PathBuf,
    /// Safetensors file to write (F32).
    #[arg(long)]
    pub safetensors: PathBuf,
    /// Vocabulary JSON file to write.
    #[arg(long)]
    pub vocab: PathBuf,
    /// Tensor-name prefixes.
    #[command(flatten)]
    pub prefixes: PrefixArgs,
}

impl ExportArgs {
    /// Checks the two output files are distinct and differ from the model.
    ///
    /// # Errors
    /// Two of the paths are the same.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.safetensors == self.vocab {
            return Err(ConfigError::Conflict(
                "--safetensors and --vocab must be different files".into(),
            ));
        }
        if self.safetensors == self.model || self.vocab == self.model {
            return Err(ConfigError::Conflict(
                "--safetensors and --vocab must not overwrite --model".into(),
            ));
        }
        Ok(())
    }
}

/// An argument value that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// An integer outside its range.
    #[error("--{flag} {value} is out of range ({min}..={max})")]
    OutOfRange {
        /// Flag name.
        flag: &'static str,
        /// Value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A float that is not finite and positive (or otherwise out of range).
    #[error("--{flag} {value} is invalid: {rule}")]
    BadFloat {
        /// Flag name.
        flag: &'static str,
        /// Value given.
        value: f64,
        /// What is required.
        rule: &'static str,
    },
    /// Flags that do not go together.
    #[error("{0}")]
    Conflict(String),
}

fn range(flag: &'static str, value: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            flag,
            value: value as u64,
            min: min as u64,
            max: max as u64,
        })
    }
}

fn positive(flag: &'static str, value: f64, max: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 && value <= max {
        Ok(value)
    } else {
        Err(ConfigError::BadFloat {
            flag,
            value,
            rule: if value > max {
                "too large"
            } else {
                "must be finite and > 0"
            },
        })
    }
}

fn nonzero(flag: &'static str, value: Option<u64>) -> Result<Option<u64>, ConfigError> {
    match value {
        Some(0) => Err(ConfigError::OutOfRange {
            flag,
            value: 0,
            min: 1,
            max: u64::MAX,
        }),
        v => Ok(v),
    }
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
        let batch = range(
            "batch",
            self.batch
                .unwrap_or(if mode == Mode::Lines { 1 } else { 32 }),
            1,
            MAX_BATCH,
        )?;
        let seq_len = range("seq-len", self.seq_len.unwrap_or(35), 1, MAX_SEQ_LEN)?;
        if batch.saturating_mul(seq_len) > 10_000_000 {
            return Err(ConfigError::Conflict(format!(
                "--batch {batch} × --seq-len {seq_len} is too large"
            )));
        }
        if let Some(t) = self.threads {
            range("threads", t, 1, 256)?;
        }
        Ok(TrainConfig {
            corpus,
            out,
            mode,
            preprocess: Preprocess {
                lowercase: self.lowercase,
                d2l: self.d2l,
            },
            hidden: range("hidden", self.hidden.unwrap_or(64), 1, MAX_HIDDEN)?,
            seq_len,
            fixed_offset: self.fixed_offset,
            batch,
            optimizer,
            lr,
            clip_value,
            clip_norm,
            epochs,
            steps,
            target_loss,
            seed: self.seed.unwrap_or(0),
            val_fraction,
            checkpoint: self.checkpoint.clone(),
            plot: self.plot.clone(),
            log: self.log.clone(),
            sample_every: nonzero("sample-every", self.sample_every)?,
        })
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
            ("--hidden", self.hidden.is_some()),
            ("--seq-len", self.seq_len.is_some()),
            ("--fixed-offset", self.fixed_offset),
            ("--batch", self.batch.is_some()),
            ("--optimizer", self.optimizer.is_some()),
            ("--lr", self.lr.is_some()),
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
        if self.sample_every.is_some() {
            cfg.sample_every = nonzero("sample-every", self.sample_every)?;
        }
        Ok(cfg)
    }
}

/// Parses a `--stop-at` value: one character, or one of the escapes `\n`, `\t`, `\r`, `\\`, `\0`.
///
/// # Errors
/// Anything else.
pub fn parse_char(flag: &'static str, s: &str) -> Result<char, ConfigError> {
    let mut it = s.chars();
    match (it.next(), it.next(), it.next()) {
        (Some(c), None, _) => Ok(c),
        (Some('\\'), Some(e), None) => match e {
            'n' => Ok('\n'),
            't' => Ok('\t'),
            'r' => Ok('\r'),
            '0' => Ok('\0'),
            '\\' => Ok('\\'),
            _ => Err(ConfigError::Conflict(format!(
                "--{flag} {s:?}: unknown escape"
            ))),
        },
        _ => Err(ConfigError::Conflict(format!(
            "--{flag} {s:?}: expected one character"
        ))),
    }
}

impl SampleArgs {
    /// Validates into [`SampleOptions`].
    ///
    /// # Errors
    /// Out-of-range values.
    pub fn to_options(&self) -> Result<SampleOptions, ConfigError> {
        let t = f64::from(self.temperature);
        if !(t.is_finite() && (0.0..=100.0).contains(&t)) {
            return Err(ConfigError::BadFloat {
                flag: "temperature",
                value: t,
                rule: "must be in 0..=100 (0 is greedy)",
            });
        }
        if let Some(k) = self.top_k {
            range("top-k", k, 1, 1 << 20)?;
        }
        let top_p = self
            .top_p
            .map(|p| positive("top-p", f64::from(p), 1.0).map(|p| p as f32))
            .transpose()?;
        Ok(SampleOptions {
            prime: self.prime.clone(),
            length: range("length", self.length, 0, 100_000_000)?,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p,
            seed: self.seed,
            stop_at: self
                .stop_at
                .as_deref()
                .map(|s| parse_char("stop-at", s))
                .transpose()?,
            count: range("count", self.count, 1, 1_000_000)?,
            cores_per_step: range("cores-per-step", self.cores_per_step, 1, 2)?,
        })
    }
}

impl GradcheckArgs {
    /// Validates into a [`GradcheckSpec`] (small sizes only: the check does two passes per parameter).
    ///
    /// # Errors
    /// Out-of-range sizes.
    pub fn to_spec(&self) -> Result<GradcheckSpec, ConfigError> {
        Ok(GradcheckSpec {
            vocab: range("vocab", self.vocab, 1, 64)?,
            hidden: range("hidden", self.hidden, 1, 64)?,
            seq_len: range("seq-len", self.seq_len, 1, 64)?,
            batch: range("batch", self.batch, 1, 16)?,
            seed: self.seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> TrainArgs {
        let mut v = vec![
            "host-trainer",
            "train",
            "--corpus",
            "c.txt",
            "--out",
            "m.bin",
        ];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).map(|c| c.command) {
            Ok(Command::Train(t)) => *t,
            other => panic!("unexpected parse: {other:?}"),
        }
    }

    #[test]
    fn rejects_nonsense_values() {
        assert!(matches!(
            parse(&["--hidden", "0"]).to_config(),
            Err(ConfigError::OutOfRange { flag: "hidden", .. })
        ));
        assert!(matches!(
            parse(&["--lr", "NaN"]).to_config(),
            Err(ConfigError::BadFloat { flag: "lr", .. })
        ));
        assert!(matches!(
            parse(&["--lr", "-1"]).to_config(),
            Err(ConfigError::BadFloat { flag: "lr", .. })
        ));
        assert!(matches!(
            parse(&["--batch", "0"]).to_config(),
            Err(ConfigError::OutOfRange { flag: "batch", .. })
        ));
        assert!(matches!(
            parse(&["--val-fraction", "1.5"]).to_config(),
            Err(ConfigError::BadFloat { .. })
        ));
        assert!(matches!(
            parse(&["--d2l"]).to_config(),
            Err(ConfigError::Conflict(_))
        ));
        assert!(parse(&["--hidden", "8"]).to_config().is_ok());
    }

    #[test]
    fn import_and_export_take_prefixes() {
        let cli = Cli::try_parse_from([
            "host-trainer",
            "import",
            "--safetensors",
            "m.safetensors",
            "--vocab",
            "v.json",
            "--out",
            "m.lstm",
            "--lstm-prefix",
            "rnn.",
        ]);
        match cli.map(|c| c.command) {
            Ok(Command::Import(a)) => assert_eq!(
                a.prefixes.to_prefixes(),
                Prefixes {
                    lstm: "rnn.".into(),
                    linear: "fc.".into()
                }
            ),
            other => panic!("unexpected parse: {other:?}"),
        }
        let cli = Cli::try_parse_from([
            "host-trainer",
            "export",
            "--model",
            "m.lstm",
            "--safetensors",
            "x",
            "--vocab",
            "x",
        ]);
        match cli.map(|c| c.command) {
            Ok(Command::Export(a)) => {
                assert_eq!(a.prefixes.to_prefixes(), Prefixes::default());
                assert!(matches!(a.validate(), Err(ConfigError::Conflict(_))));
            }
            other => panic!("unexpected parse: {other:?}"),
        }
    }

    #[test]
    fn stop_at_accepts_escapes() {
        assert_eq!(parse_char("stop-at", "\\n"), Ok('\n'));
        assert_eq!(parse_char("stop-at", "x"), Ok('x'));
        assert!(parse_char("stop-at", "ab").is_err());
    }
}

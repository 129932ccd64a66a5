//! `host-trainer sample`: generate text from a model file through lstm-core (the firmware's code path).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cli::{ConfigError, parse_symbol, positive, range};
use crate::generate::{SampleOptions, sample_text};

/// `sample` arguments.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Text to start from (printed as part of the output; a word model reads it as whitespace-separated words).
    #[arg(long, default_value = "")]
    pub prime: String,
    /// Symbols (characters, or words for a word model) to generate per sample.
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
    /// End a sample after this character (escapes `\n`, `\t`, `\\` accepted; for a word model `\n` is its line symbol `<eol>`).
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
                .map(|s| parse_symbol("stop-at", s))
                .transpose()?,
            count: range("count", self.count, 1, 1_000_000)?,
            cores_per_step: range("cores-per-step", self.cores_per_step, 1, 2)?,
        })
    }
}

/// Runs `sample`: the texts on stdout, the state digest (with `--digest`) on stderr.
///
/// # Errors
/// Bad arguments, an unreadable or invalid model, a prime outside the vocabulary.
pub fn run(a: &SampleArgs) -> anyhow::Result<()> {
    let opts = a.to_options()?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    let samples = sample_text(&bytes, &opts)
        .with_context(|| format!("sampling from {}", a.model.display()))?;
    let mut out = std::io::stdout().lock();
    for s in &samples.texts {
        out.write_all(s.as_bytes())?;
        if opts.stop_at.is_none() || !s.ends_with('\n') {
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    if a.digest {
        eprintln!("state digest: {:#010x}", samples.state_digest);
    }
    Ok(())
}

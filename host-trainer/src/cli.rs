//! Argument validation shared by the subcommands (raw args → checked config, ripgrep's lowargs →
//! hiargs): nonsense is rejected with one clear message, never clamped. Each subcommand's arguments live
//! in its file under [`crate::cmd`].

use clap::Args;

use crate::pytorch::Prefixes;

/// Largest hidden size accepted (lstm-core's format limit).
pub const MAX_HIDDEN: usize = lstm_core::format::MAX_HIDDEN;
/// Largest `--seq-len` accepted.
pub const MAX_SEQ_LEN: usize = 100_000;
/// Largest `--batch` accepted.
pub const MAX_BATCH: usize = 65_536;

/// Tensor-name prefixes of the PyTorch model, shared by `import` and `export`.
#[derive(Debug, Args)]
pub struct PrefixArgs {
    /// Prefix of the nn.LSTM's tensors (`{prefix}weight_ih_l0` ...).
    #[arg(long, default_value = crate::pytorch::DEFAULT_LSTM_PREFIX)]
    pub lstm_prefix: String,
    /// Prefix of the output nn.Linear's tensors (`{prefix}weight`, `{prefix}bias`).
    #[arg(long, default_value = crate::pytorch::DEFAULT_LINEAR_PREFIX)]
    pub linear_prefix: String,
    /// Prefix of the nn.LSTM / nn.GRU / nn.RNN's tensors (default: whichever of `lstm.`, `gru.`,
    /// `rnn.` the file has; a non-default --lstm-prefix counts as this).
    #[arg(long)]
    pub rnn_prefix: Option<String>,
}

impl PrefixArgs {
    /// The prefixes as the converter takes them.
    pub fn to_prefixes(&self) -> Prefixes {
        Prefixes {
            lstm: self.lstm_prefix.clone(),
            linear: self.linear_prefix.clone(),
        }
    }

    /// The recurrent module's prefix if one was given (`None`: detect it).
    pub fn rnn_prefix(&self) -> Option<&str> {
        self.rnn_prefix.as_deref().or_else(|| {
            (self.lstm_prefix != crate::pytorch::DEFAULT_LSTM_PREFIX)
                .then_some(self.lstm_prefix.as_str())
        })
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

/// `--cell`: the recurrent cell kind (PyTorch's equations).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CellArg {
    /// `nn.LSTM` (gates i, f, g, o).
    #[default]
    Lstm,
    /// `nn.GRU` (gates r, z, n).
    Gru,
    /// `nn.RNN` with tanh.
    Rnn,
}

impl From<CellArg> for lstm_core::format::CellKind {
    fn from(c: CellArg) -> Self {
        match c {
            CellArg::Lstm => Self::Lstm,
            CellArg::Gru => Self::Gru,
            CellArg::Rnn => Self::Rnn,
        }
    }
}

/// `value` if it is a dropout probability, in `[0, 1)`.
pub(crate) fn dropout(flag: &'static str, value: f64) -> Result<f64, ConfigError> {
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::BadFloat {
            flag,
            value,
            rule: "must be in [0, 1)",
        })
    }
}

/// `value` if it is in `min..=max`.
pub(crate) fn range(
    flag: &'static str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
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

/// Largest `--batch` × `--seq-len` accepted (the minibatch's activations are allocated up front).
pub const MAX_BATCH_TOKENS: usize = 10_000_000;

/// `(batch, seq_len)` if each is in range and their product is at most [`MAX_BATCH_TOKENS`].
///
/// # Errors
/// The first value out of range, or a product too large.
pub fn batch_shape(batch: usize, seq_len: usize) -> Result<(usize, usize), ConfigError> {
    let batch = range("batch", batch, 1, MAX_BATCH)?;
    let seq_len = range("seq-len", seq_len, 1, MAX_SEQ_LEN)?;
    if batch.saturating_mul(seq_len) > MAX_BATCH_TOKENS {
        return Err(ConfigError::Conflict(format!(
            "--batch {batch} × --seq-len {seq_len} is too large (at most {MAX_BATCH_TOKENS} characters per minibatch)"
        )));
    }
    Ok((batch, seq_len))
}

/// `value` if it is finite, positive and at most `max`.
pub(crate) fn positive(flag: &'static str, value: f64, max: f64) -> Result<f64, ConfigError> {
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

/// `value` unless it is `Some(0)`.
pub(crate) fn nonzero(flag: &'static str, value: Option<u64>) -> Result<Option<u64>, ConfigError> {
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

/// Parses a symbol-valued flag (`--stop-at`) with lstm-core's one parser
/// ([`lstm_core::text::parse_symbol`], the rules the firmware's build script
/// and console use too), naming the flag in the error.
///
/// # Errors
/// Anything but one character or a documented escape.
pub fn parse_symbol(flag: &'static str, s: &str) -> Result<char, ConfigError> {
    lstm_core::text::parse_symbol(s)
        .map_err(|e| ConfigError::Conflict(format!("--{flag} {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_at_accepts_escapes() {
        assert_eq!(parse_symbol("stop-at", "\\n"), Ok('\n'));
        assert_eq!(parse_symbol("stop-at", "x"), Ok('x'));
        assert_eq!(parse_symbol("stop-at", "\\u{e9}"), Ok('\u{e9}'));
        let err = parse_symbol("stop-at", "ab").expect_err("two characters");
        assert!(err.to_string().contains("--stop-at"), "{err}");
    }
}

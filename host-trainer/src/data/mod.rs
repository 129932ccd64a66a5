//! The data layer: corpus text → vocabulary and tokens → datasets cut into minibatches, for training and
//! for evaluation alike. Knows nothing of models or maths.
//!
//! [`corpus`] loads and normalises text and builds the vocabulary; [`batch`] cuts token sequences into
//! time-major minibatches ([`batch::BatchRef`]); this module turns a corpus into the datasets of a run
//! ([`prepare`]) or of an evaluation ([`prepare_eval`]).

pub mod batch;
pub mod corpus;

use std::path::{Path, PathBuf};

use batch::{Dataset, Mode, split_lines};
use corpus::{CorpusError, Preprocess, Vocab, fingerprint, preprocess, unigram_entropy};

/// Why a corpus cannot be turned into data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
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
    /// Lines mode on a vocabulary without a newline.
    #[error("the model's vocabulary has no newline; use --mode stream")]
    NoNewline,
}

/// How a corpus becomes training data (the data part of a training configuration).
#[derive(Debug, Clone, Copy)]
pub struct DataSpec<'a> {
    /// Corpus file (for messages).
    pub corpus: &'a Path,
    /// How the corpus is cut into sequences.
    pub mode: Mode,
    /// Text normalisation.
    pub preprocess: Preprocess,
    /// Sequences per minibatch.
    pub batch: usize,
    /// Time steps per minibatch (stream mode).
    pub seq_len: usize,
    /// Fraction of the corpus (tail) held out for validation.
    pub val_fraction: f64,
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

/// Preprocesses and encodes `raw` for `spec`; with `vocab` given (resume), uses it instead of building one.
///
/// # Errors
/// Empty text, chars outside `vocab`, a corpus too short for one minibatch or the validation split.
pub fn prepare(
    raw: &str,
    spec: &DataSpec<'_>,
    vocab: Option<Vocab>,
) -> Result<Prepared, DataError> {
    let text = preprocess(raw, spec.preprocess);
    let path = spec.corpus.to_path_buf();
    if text.trim().is_empty() {
        return Err(CorpusError::Empty {
            path,
            detail: " after preprocessing",
        }
        .into());
    }
    let extra: &[char] = if spec.mode == Mode::Lines {
        &['\n']
    } else {
        &[]
    };
    let vocab = vocab.unwrap_or_else(|| Vocab::from_text(&text, extra));
    let tokens = vocab.encode(&text)?;
    let too_short = |detail: String| DataError::TooShort {
        path: path.clone(),
        detail,
    };
    let (train, val) = match spec.mode {
        Mode::Lines => {
            let newline = vocab
                .index('\n')
                .ok_or_else(|| too_short("no newline in the vocabulary".into()))?;
            let lines = split_lines(&tokens, newline);
            let n_val = val_count(lines.len(), spec.val_fraction);
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
            let n_val = if spec.val_fraction > 0.0 {
                ((tokens.len() as f64 * spec.val_fraction) as usize).max(2)
            } else {
                0
            };
            let n_train = tokens.len().saturating_sub(n_val);
            let train = Dataset::Stream {
                tokens: tokens[..n_train].to_vec(),
            };
            if !train.fits(spec.batch, spec.seq_len) {
                let need = spec.seq_len * (spec.batch + 1);
                return Err(too_short(format!(
                    "{n_train} training characters; --batch {} × --seq-len {} needs at least {need}",
                    spec.batch, spec.seq_len
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

/// The whole of `raw` as one dataset in a model's vocabulary, for evaluation.
///
/// # Errors
/// A character outside `vocab`; lines mode with no newline in `vocab`.
pub fn prepare_eval(
    raw: &str,
    pre: Preprocess,
    mode: Mode,
    vocab: &Vocab,
) -> Result<Dataset, DataError> {
    let tokens = vocab.encode(&preprocess(raw, pre))?;
    Ok(match mode {
        Mode::Lines => {
            let newline = vocab.index('\n').ok_or(DataError::NoNewline)?;
            Dataset::Lines {
                lines: split_lines(&tokens, newline),
                newline,
            }
        }
        Mode::Stream => Dataset::Stream { tokens },
    })
}

fn val_count(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 {
        0
    } else {
        ((n as f64 * fraction).round() as usize).max(1)
    }
}

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
    /// Fraction of the corpus held out for validation (a seeded random set of lines or chunks).
    pub val_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
}

/// How the corpus was split into training and validation data (recorded in checkpoints, so a resumed
/// run and `eval --checkpoint` use exactly the same held-out part).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// Units the corpus was cut into: its non-empty lines (lines mode) or chunks (stream mode).
    pub units: usize,
    /// Stream mode: tokens per chunk (the last may be shorter); 0 in lines mode.
    pub chunk_len: usize,
    /// The held-out units, ascending.
    pub val_units: Vec<u32>,
}

/// XORed into the run's seed to draw the split (independent of initialisation and epoch order).
const SPLIT_SEED: u64 = 0x7a1d_5e7e_c7ed_0001;

/// Stream mode: chunks of at least this many tokens, about 100 of them.
const MIN_CHUNK: usize = 64;

/// The held-out units: `round(units × fraction)` (at least 1 when `fraction > 0`) drawn at random
/// with `seed`, ascending.
fn choose_val(units: usize, fraction: f64, seed: u64) -> Vec<u32> {
    let n_val = val_count(units, fraction);
    let mut order: Vec<u32> = (0..units as u32).collect();
    crate::rng::Rng::new(seed ^ SPLIT_SEED).shuffle(&mut order);
    let mut val = order[..n_val.min(units)].to_vec();
    val.sort_unstable();
    val
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
    /// The training / validation split.
    pub split: Split,
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
    let too_short = |detail: String| DataError::TooShort {
        path: path.clone(),
        detail,
    };
    let (train, val, split) = match spec.mode {
        Mode::Lines => {
            let newline = vocab
                .index('\n')
                .ok_or_else(|| too_short("no newline in the vocabulary".into()))?;
            // Line by line: never the whole text's tokens and its lines at once.
            let lines = encode_lines(&text, &vocab)?;
            let val_units = choose_val(lines.len(), spec.val_fraction, spec.seed);
            if lines.len() <= val_units.len() {
                return Err(too_short(format!(
                    "{} non-empty line(s), {} needed for training and validation",
                    lines.len(),
                    val_units.len() + 1
                )));
            }
            let split = Split {
                units: lines.len(),
                chunk_len: 0,
                val_units,
            };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut held = split.val_units.iter().peekable();
            for (i, line) in lines.into_iter().enumerate() {
                if held.next_if(|&&v| v as usize == i).is_some() {
                    b.push(line);
                } else {
                    a.push(line);
                }
            }
            let val = (!b.is_empty()).then_some(Dataset::Lines { lines: b, newline });
            (Dataset::Lines { lines: a, newline }, val, split)
        }
        Mode::Stream => {
            let tokens = vocab.encode(&text)?;
            let (train_tokens, val_tokens, split) = if spec.val_fraction > 0.0 {
                let chunk_len = tokens.len().div_ceil(100).max(MIN_CHUNK);
                let units = tokens.len().div_ceil(chunk_len);
                let val_units = choose_val(units, spec.val_fraction, spec.seed);
                if units <= val_units.len() {
                    return Err(too_short(format!(
                        "{} characters: too few for a validation split",
                        tokens.len()
                    )));
                }
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let mut held = val_units.iter().peekable();
                for (i, chunk) in tokens.chunks(chunk_len).enumerate() {
                    if held.next_if(|&&v| v as usize == i).is_some() {
                        b.extend_from_slice(chunk);
                    } else {
                        a.extend_from_slice(chunk);
                    }
                }
                let split = Split {
                    units,
                    chunk_len,
                    val_units,
                };
                (a, Some(b), split)
            } else {
                (tokens, None, Split::default())
            };
            let n_train = train_tokens.len();
            let train = Dataset::Stream {
                tokens: train_tokens,
            };
            if !train.fits(spec.batch, spec.seq_len) {
                let need = spec.seq_len * (spec.batch + 1);
                return Err(too_short(format!(
                    "{n_train} training characters; --batch {} × --seq-len {} needs at least {need}",
                    spec.batch, spec.seq_len
                )));
            }
            let val = val_tokens.map(|tokens| Dataset::Stream { tokens });
            (train, val, split)
        }
    };
    Ok(Prepared {
        unigram_entropy: unigram_entropy(&train.targets_counts(vocab.len())),
        vocab,
        train,
        val,
        fingerprint: fingerprint(&text),
        split,
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

/// The non-empty lines of `text`, encoded one at a time (errors report the char offset in `text`).
fn encode_lines(text: &str, vocab: &Vocab) -> Result<Vec<Vec<u32>>, CorpusError> {
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in text.split('\n') {
        if !line.is_empty() {
            let l = vocab.encode(line).map_err(|e| match e {
                CorpusError::UnknownChar { ch, offset: o } => CorpusError::UnknownChar {
                    ch,
                    offset: offset + o,
                },
                other => other,
            })?;
            lines.push(l);
        }
        offset += line.chars().count() + 1;
    }
    Ok(lines)
}

fn val_count(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 {
        0
    } else {
        ((n as f64 * fraction).round() as usize).max(1)
    }
}

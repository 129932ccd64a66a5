//! The data layer: corpus text → vocabulary and tokens → datasets cut into minibatches, for training and
//! for evaluation alike. Knows nothing of models or maths.
//!
//! [`corpus`] loads and normalises text and builds the vocabulary; [`batch`] cuts token sequences into
//! time-major minibatches ([`batch::BatchRef`]); this module turns a corpus into the datasets of a run
//! ([`prepare`]) or of an evaluation ([`prepare_eval`]).

pub mod batch;
pub mod corpus;
pub mod encode;

use std::path::{Path, PathBuf};

use batch::{Dataset, Lines, Mode};
use corpus::{CorpusError, Preprocess, Tokens, Vocab, unigram_entropy};
use encode::{EncodeSpec, Encoded, encode};

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
    #[error(
        "the model's vocabulary has no line symbol (\\n, or <eol> for words); use --mode stream"
    )]
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
    /// Characters or words.
    pub tokens: Tokens,
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
/// Memory: the tokens (two bytes each) and, in lines mode, one offset per line, beside `raw`; the
/// validation part is moved out of the same buffer.
///
/// # Errors
/// Empty text, symbols outside `vocab`, more symbols than the format holds, a corpus too short for
/// one minibatch or the validation split.
pub fn prepare(
    raw: &str,
    spec: &DataSpec<'_>,
    vocab: Option<Vocab>,
) -> Result<Prepared, DataError> {
    let path = spec.corpus.to_path_buf();
    let lines = spec.mode == Mode::Lines;
    let enc_spec = EncodeSpec {
        path: spec.corpus,
        preprocess: spec.preprocess,
        tokens: vocab.as_ref().map_or(spec.tokens, Vocab::tokens),
        lines,
    };
    let too_short = |detail: String| DataError::TooShort {
        path: path.clone(),
        detail,
    };
    if lines
        && let Some(v) = &vocab
        && v.line_symbol().is_none()
    {
        return Err(too_short("no line symbol in the vocabulary".into()));
    }
    let Encoded {
        vocab,
        tokens,
        ends,
        fingerprint,
        nonblank,
    } = encode(raw, &enc_spec, vocab.as_ref())?;
    if !nonblank {
        return Err(CorpusError::Empty {
            path,
            detail: " after preprocessing",
        }
        .into());
    }
    let what = vocab.tokens().plural();
    let (train, val, split) = match ends {
        Some(ends) => {
            let newline = vocab
                .line_symbol()
                .ok_or_else(|| too_short("no line symbol in the vocabulary".into()))?;
            let mut train = Lines::from_parts(tokens, ends);
            let val_units = choose_val(train.len(), spec.val_fraction, spec.seed);
            if train.len() <= val_units.len() {
                return Err(too_short(format!(
                    "{} non-empty line(s), {} needed for training and validation",
                    train.len(),
                    val_units.len() + 1
                )));
            }
            let val = train.split_off_held(&val_units);
            let split = Split {
                units: train.len() + val.len(),
                chunk_len: 0,
                val_units,
            };
            let val = (!val.is_empty()).then_some(Dataset::Lines {
                lines: val,
                newline,
            });
            (
                Dataset::Lines {
                    lines: train,
                    newline,
                },
                val,
                split,
            )
        }
        None => {
            let mut tokens = tokens;
            let (val_tokens, split) = if spec.val_fraction > 0.0 {
                let chunk_len = tokens.len().div_ceil(100).max(MIN_CHUNK);
                let units = tokens.len().div_ceil(chunk_len);
                let val_units = choose_val(units, spec.val_fraction, spec.seed);
                if units <= val_units.len() {
                    return Err(too_short(format!(
                        "{} {what}: too few for a validation split",
                        tokens.len()
                    )));
                }
                let val = split_off_chunks(&mut tokens, chunk_len, &val_units);
                let split = Split {
                    units,
                    chunk_len,
                    val_units,
                };
                (Some(val), split)
            } else {
                (None, Split::default())
            };
            let n_train = tokens.len();
            let train = Dataset::Stream { tokens };
            if !train.fits(spec.batch, spec.seq_len) {
                let need = spec.seq_len * (spec.batch + 1);
                return Err(too_short(format!(
                    "{n_train} training {what}; --batch {} × --seq-len {} needs at least {need}",
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
        fingerprint,
        split,
    })
}

/// Moves the chunks of `chunk_len` tokens whose indices are in `held` (ascending) out of `tokens`, in
/// order, keeping the others in order in place.
fn split_off_chunks(tokens: &mut Vec<u16>, chunk_len: usize, held: &[u32]) -> Vec<u16> {
    let mut out = Vec::with_capacity(held.len() * chunk_len);
    let mut held = held.iter().peekable();
    let (mut w, mut start, mut i) = (0, 0, 0);
    while start < tokens.len() {
        let end = (start + chunk_len).min(tokens.len());
        if held.next_if(|&&v| v as usize == i).is_some() {
            out.extend_from_slice(&tokens[start..end]);
        } else {
            tokens.copy_within(start..end, w);
            w += end - start;
        }
        start = end;
        i += 1;
    }
    tokens.truncate(w);
    out
}

/// The whole of `raw` as one dataset in a model's vocabulary, for evaluation.
///
/// # Errors
/// A symbol outside `vocab`; lines mode with no line symbol in `vocab`.
pub fn prepare_eval(
    raw: &str,
    pre: Preprocess,
    mode: Mode,
    vocab: &Vocab,
) -> Result<Dataset, DataError> {
    let lines = mode == Mode::Lines;
    let newline = vocab.line_symbol();
    if lines && newline.is_none() {
        return Err(DataError::NoNewline);
    }
    let spec = EncodeSpec {
        path: Path::new(""),
        preprocess: pre,
        tokens: vocab.tokens(),
        lines,
    };
    let e = encode(raw, &spec, Some(vocab))?;
    Ok(match (e.ends, newline) {
        (Some(ends), Some(newline)) => Dataset::Lines {
            lines: Lines::from_parts(e.tokens, ends),
            newline,
        },
        _ => Dataset::Stream { tokens: e.tokens },
    })
}

fn val_count(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 {
        0
    } else {
        ((n as f64 * fraction).round() as usize).max(1)
    }
}

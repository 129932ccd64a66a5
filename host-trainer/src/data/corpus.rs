//! Corpus loading, preprocessing and the vocabulary (distinct Unicode scalar values, sorted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why a corpus could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file does not exist.
    #[error("corpus {path} does not exist")]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// Reading failed for another reason.
    #[error("cannot read corpus {path}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not UTF-8.
    #[error("corpus {path} is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The path given.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Nothing left to train on (after preprocessing).
    #[error("corpus {path} is empty{detail}")]
    Empty {
        /// The path given.
        path: PathBuf,
        /// Extra explanation (e.g. "after preprocessing").
        detail: &'static str,
    },
    /// A character does not belong to the model's vocabulary.
    #[error("character {ch:?} at char offset {offset} is not in the model's vocabulary")]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its position in the text, in chars.
        offset: usize,
    },
}

/// How the raw text is normalised before the vocabulary is built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Preprocess {
    /// Lowercase everything.
    pub lowercase: bool,
    /// d2l's time-machine preprocessing: letters and space only, lowercase, runs of other chars -> one space.
    pub d2l: bool,
}

/// Reads a UTF-8 text file; `\r\n` becomes `\n`.
///
/// # Errors
/// Missing, unreadable, non-UTF-8 or empty files.
pub fn load(path: &Path) -> Result<String, CorpusError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            CorpusError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            CorpusError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|e| CorpusError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    if text.is_empty() {
        return Err(CorpusError::Empty {
            path: path.to_path_buf(),
            detail: "",
        });
    }
    Ok(if text.contains("\r\n") {
        text.replace("\r\n", "\n")
    } else {
        text
    })
}

/// Applies `pre` to `text`.
pub fn preprocess(text: &str, pre: Preprocess) -> std::borrow::Cow<'_, str> {
    if pre.d2l {
        // d2l: re.sub('[^A-Za-z]+', ' ', line).strip().lower(), per line, lines joined by a space.
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let mut cleaned = String::with_capacity(line.len());
            let mut pending_space = false;
            for ch in line.chars() {
                if ch.is_ascii_alphabetic() {
                    if pending_space && !cleaned.is_empty() {
                        cleaned.push(' ');
                    }
                    pending_space = false;
                    cleaned.push(ch.to_ascii_lowercase());
                } else {
                    pending_space = true;
                }
            }
            if cleaned.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&cleaned);
        }
        out.into()
    } else if pre.lowercase {
        text.to_lowercase().into()
    } else {
        // No copy of what may be hundreds of megabytes.
        text.into()
    }
}

/// The symbols of a model, in index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
    index: HashMap<char, u32>,
}

impl Vocab {
    /// The sorted distinct chars of `text`, plus `extra` chars.
    pub fn from_text(text: &str, extra: &[char]) -> Self {
        // A set, not a vector of every char of what may be a 200 MB text.
        let set: std::collections::BTreeSet<char> =
            text.chars().chain(extra.iter().copied()).collect();
        Self::from_chars(set.into_iter().collect())
    }

    /// A vocabulary with exactly these symbols in this order (duplicates: the first wins).
    pub fn from_chars(chars: Vec<char>) -> Self {
        let mut index = HashMap::with_capacity(chars.len());
        for (i, &c) in chars.iter().enumerate() {
            index.entry(c).or_insert(i as u32);
        }
        Self { chars, index }
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Index of `c`, if it is a symbol.
    pub fn index(&self, c: char) -> Option<u32> {
        self.index.get(&c).copied()
    }

    /// The symbol at `i`.
    pub fn char_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// The symbols as one string, in index order.
    pub fn as_string(&self) -> String {
        self.chars.iter().collect()
    }

    /// Encodes `text` into indices.
    ///
    /// # Errors
    /// [`CorpusError::UnknownChar`] for a char outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, CorpusError> {
        text.chars()
            .enumerate()
            .map(|(offset, ch)| {
                self.index(ch)
                    .ok_or(CorpusError::UnknownChar { ch, offset })
            })
            .collect()
    }
}

/// Unigram entropy in nats of symbols with these counts: the loss of the best model that ignores
/// context.
pub fn unigram_entropy(counts: &[usize]) -> f64 {
    let n = counts.iter().sum::<usize>() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// A 64-bit FNV-1a hash of the text, stored in checkpoints to detect a changed corpus.
pub fn fingerprint(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d2l_keeps_letters_and_single_spaces() {
        let pre = Preprocess {
            lowercase: false,
            d2l: true,
        };
        assert_eq!(
            preprocess("The Time-Machine, 1895!\n\n  by H. G. Wells\n", pre),
            "the time machine by h g wells"
        );
    }

    #[test]
    fn vocab_is_sorted_and_distinct() {
        let v = Vocab::from_text("banana", &['\n']);
        assert_eq!(v.as_string(), "\nabn");
        assert_eq!(v.encode("nab").ok(), Some(vec![3, 1, 2]));
        assert!(matches!(
            v.encode("x"),
            Err(CorpusError::UnknownChar { ch: 'x', offset: 0 })
        ));
    }
}

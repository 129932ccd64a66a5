//! Corpus loading, preprocessing and the vocabulary (distinct characters or words, sorted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lstm_core::format::TokenKind;

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
    /// A word does not belong to the model's vocabulary.
    #[error("word {word:?} (word {index} of the text) is not in the model's vocabulary")]
    UnknownWord {
        /// The word.
        word: String,
        /// Its position in the text, in words (from 0).
        index: usize,
    },
    /// More distinct symbols than a model file can hold.
    #[error(
        "a model of corpus {path} cannot be stored in lstm-core's format: {count} distinct {what} (with the line symbol in lines mode), the format holds at most {cap}"
    )]
    TooManySymbols {
        /// The corpus.
        path: PathBuf,
        /// Distinct symbols found.
        count: usize,
        /// `characters` or `words`.
        what: &'static str,
        /// The format's limit.
        cap: usize,
    },
    /// Lines mode over words, and the corpus has the line symbol as a word.
    #[error(
        "corpus {path} contains the word {LINE_WORD:?}, which --tokens words --mode lines uses for line ends; use --mode stream or replace it"
    )]
    ReservedWord {
        /// The corpus.
        path: PathBuf,
    },
    /// More tokens than the trainer indexes.
    #[error("corpus {path} is too large: more than {max} tokens")]
    TooLarge {
        /// The corpus.
        path: PathBuf,
        /// The limit.
        max: u64,
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

/// Reads a UTF-8 text file; `\r\n` becomes `\n` (in place: the text is held once).
///
/// # Errors
/// Missing, unreadable, non-UTF-8 or empty files.
pub fn load(path: &Path) -> Result<String, CorpusError> {
    let mut bytes = std::fs::read(path).map_err(|source| {
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
    if bytes.is_empty() {
        return Err(CorpusError::Empty {
            path: path.to_path_buf(),
            detail: "",
        });
    }
    let invalid = |offset| CorpusError::NotUtf8 {
        path: path.to_path_buf(),
        offset,
    };
    // Validate before removing any '\r', so the offset of an invalid byte is the file's.
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(invalid(e.valid_up_to()));
    }
    crlf_to_lf(&mut bytes);
    String::from_utf8(bytes).map_err(|e| invalid(e.utf8_error().valid_up_to()))
}

/// Replaces every `\r\n` by `\n` in place (a UTF-8 text stays UTF-8: both are ASCII).
fn crlf_to_lf(bytes: &mut Vec<u8>) {
    let mut w = 0;
    for r in 0..bytes.len() {
        let b = bytes[r];
        if b == b'\r' && bytes.get(r + 1) == Some(&b'\n') {
            continue;
        }
        bytes[w] = b;
        w += 1;
    }
    bytes.truncate(w);
}

/// Applies `pre` to `text` (the concatenation of [`for_each_piece`]'s pieces).
pub fn preprocess(text: &str, pre: Preprocess) -> std::borrow::Cow<'_, str> {
    if !pre.d2l && !pre.lowercase {
        // No copy of what may be hundreds of megabytes.
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let _ = for_each_piece(text, pre, |piece| {
        out.push_str(piece);
        Ok::<(), std::convert::Infallible>(())
    });
    out.into()
}

/// Calls `f` on the preprocessed text of `text` piece by piece, in order, without building it whole:
/// the pieces joined are the preprocessed text. A piece ends at a line end or at the end of the text,
/// or the next piece starts with a space, so no word spans two pieces.
///
/// - no preprocessing: the lines of `text`, each with its `\n`;
/// - `lowercase`: each line lowercased (the same as lowercasing the whole text: `Σ`'s final form
///   depends only on its neighbours within a line);
/// - `d2l`: `re.sub('[^A-Za-z]+', ' ', line).strip().lower()` per line, non-empty lines joined by a space.
///
/// # Errors
/// The first error of `f`, which stops the walk.
pub fn for_each_piece<E>(
    text: &str,
    pre: Preprocess,
    mut f: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    if pre.d2l {
        let mut cleaned = String::new();
        let mut first = true;
        for line in text.lines() {
            cleaned.clear();
            if !first {
                cleaned.push(' ');
            }
            let start = cleaned.len();
            let mut pending_space = false;
            for ch in line.chars() {
                if ch.is_ascii_alphabetic() {
                    if pending_space && cleaned.len() > start {
                        cleaned.push(' ');
                    }
                    pending_space = false;
                    cleaned.push(ch.to_ascii_lowercase());
                } else {
                    pending_space = true;
                }
            }
            if cleaned.len() == start {
                continue;
            }
            first = false;
            f(&cleaned)?;
        }
        return Ok(());
    }
    for line in text.split_inclusive('\n') {
        if pre.lowercase {
            f(&line.to_lowercase())?;
        } else {
            f(line)?;
        }
    }
    Ok(())
}

/// What one symbol of a model is: `--tokens chars|words`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Tokens {
    /// One Unicode scalar value.
    #[default]
    Chars,
    /// One whitespace-separated word.
    Words,
}

impl Tokens {
    /// The kind lstm-core's format records.
    pub fn kind(self) -> TokenKind {
        match self {
            Self::Chars => TokenKind::Chars,
            Self::Words => TokenKind::Words,
        }
    }

    /// The setting of a model file's kind.
    pub fn of_kind(kind: TokenKind) -> Self {
        match kind {
            TokenKind::Chars => Self::Chars,
            TokenKind::Words => Self::Words,
        }
    }

    /// `characters` or `words`, for messages.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Chars => "characters",
            Self::Words => "words",
        }
    }
}

/// The symbol that starts and ends every line of a word model in lines mode (a word vocabulary cannot
/// hold `\n`); `sample` prints it as a line break.
pub const LINE_WORD: &str = "<eol>";

/// The symbols of a model, in index order: characters, or words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    tokens: Tokens,
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    /// The sorted distinct chars of `text`, plus `extra` chars.
    pub fn from_text(text: &str, extra: &[char]) -> Self {
        let set: std::collections::BTreeSet<char> =
            text.chars().chain(extra.iter().copied()).collect();
        Self::from_chars(set.into_iter().collect())
    }

    /// A character vocabulary with exactly these symbols in this order (duplicates: the first wins).
    pub fn from_chars(chars: Vec<char>) -> Self {
        Self::build(Tokens::Chars, chars.into_iter().map(String::from).collect())
    }

    /// A word vocabulary with exactly these words in this order (duplicates: the first wins).
    pub fn from_words(words: Vec<String>) -> Self {
        Self::build(Tokens::Words, words)
    }

    /// The vocabulary a model file or checkpoint stores as one string ([`Vocab::as_string`]).
    pub fn from_stored(s: &str, tokens: Tokens) -> Self {
        match tokens {
            Tokens::Chars => Self::from_chars(s.chars().collect()),
            Tokens::Words if s.is_empty() => Self::from_words(Vec::new()),
            Tokens::Words => Self::from_words(s.split(' ').map(String::from).collect()),
        }
    }

    fn build(tokens: Tokens, symbols: Vec<String>) -> Self {
        let mut index = HashMap::with_capacity(symbols.len());
        for (i, s) in symbols.iter().enumerate() {
            index.entry(s.clone()).or_insert(i as u32);
        }
        Self {
            tokens,
            symbols,
            index,
        }
    }

    /// Characters or words.
    pub fn tokens(&self) -> Tokens {
        self.tokens
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Index of the character `c`, if it is a symbol.
    pub fn index(&self, c: char) -> Option<u32> {
        let mut buf = [0u8; 4];
        self.index_of(c.encode_utf8(&mut buf))
    }

    /// Index of the symbol whose text is `s` (a character or a word).
    pub fn index_of(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    /// The symbol that starts and ends a line in lines mode: `\n`, or [`LINE_WORD`].
    pub fn line_symbol(&self) -> Option<u32> {
        match self.tokens {
            Tokens::Chars => self.index('\n'),
            Tokens::Words => self.index_of(LINE_WORD),
        }
    }

    /// The text of symbol `i`.
    pub fn symbol(&self, i: usize) -> Option<&str> {
        self.symbols.get(i).map(String::as_str)
    }

    /// The symbol at `i` of a character vocabulary.
    pub fn char_at(&self, i: usize) -> Option<char> {
        match self.tokens {
            Tokens::Chars => self.symbol(i).and_then(|s| s.chars().next()),
            Tokens::Words => None,
        }
    }

    /// The symbols as one string, in index order: characters concatenated, words joined by one space
    /// (lstm-core's `vocab` field).
    pub fn as_string(&self) -> String {
        match self.tokens {
            Tokens::Chars => self.symbols.concat(),
            Tokens::Words => self.symbols.join(" "),
        }
    }

    /// The vocabulary for a console line: [`Vocab::as_string`] for characters; for words the first 20,
    /// then `…` and the count of the others.
    pub fn preview(&self) -> String {
        const SHOWN: usize = 20;
        match self.tokens {
            Tokens::Words if self.len() > SHOWN => format!(
                "{} … and {} more",
                self.symbols[..SHOWN].join(" "),
                self.len() - SHOWN
            ),
            _ => self.as_string(),
        }
    }

    /// Encodes `text` into indices: each character, or each whitespace-separated word.
    ///
    /// # Errors
    /// [`CorpusError::UnknownChar`] / [`CorpusError::UnknownWord`] for a symbol outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, CorpusError> {
        match self.tokens {
            Tokens::Chars => text
                .chars()
                .enumerate()
                .map(|(offset, ch)| {
                    self.index(ch)
                        .ok_or(CorpusError::UnknownChar { ch, offset })
                })
                .collect(),
            Tokens::Words => text
                .split_whitespace()
                .enumerate()
                .map(|(index, w)| {
                    self.index_of(w).ok_or_else(|| CorpusError::UnknownWord {
                        word: w.to_owned(),
                        index,
                    })
                })
                .collect(),
        }
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
    let mut h = Fnv1a::default();
    h.update(text.as_bytes());
    h.0
}

/// The 64-bit FNV-1a hash, fed in pieces; `.0` is the hash of everything fed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(pub u64);

impl Default for Fnv1a {
    /// The hash of nothing (the offset basis).
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
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
    fn word_vocab_round_trips_and_previews_its_first_words() {
        let words: Vec<String> = (0..25).map(|i| format!("w{i:02}")).collect();
        let v = Vocab::from_words(words.clone());
        assert_eq!(Vocab::from_stored(&v.as_string(), Tokens::Words), v);
        assert_eq!(v.index_of("w03"), Some(3));
        assert_eq!(v.index('w'), None);
        assert_eq!(v.char_at(0), None);
        assert_eq!(
            v.preview(),
            format!("{} … and 5 more", words[..20].join(" "))
        );
        let small = Vocab::from_words(vec!["a".into(), LINE_WORD.into()]);
        assert_eq!(small.preview(), "a <eol>");
        assert_eq!(small.line_symbol(), Some(1));
        assert_eq!(small.encode("a <eol>\n a").ok(), Some(vec![0, 1, 0]));
    }

    /// `\r\n` becomes `\n` (a lone `\r` stays); invalid UTF-8 is reported at the file's offset.
    #[test]
    fn load_normalises_crlf_and_names_the_first_invalid_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.txt");
        std::fs::write(&p, b"a\r\nb\rc\r\n\r\n").expect("write");
        assert_eq!(load(&p).expect("loads"), "a\nb\rc\n\n");
        std::fs::write(&p, b"a\r\nb\xffc").expect("write");
        assert!(matches!(
            load(&p),
            Err(CorpusError::NotUtf8 { offset: 4, .. })
        ));
        std::fs::write(&p, b"").expect("write");
        assert!(matches!(load(&p), Err(CorpusError::Empty { .. })));
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

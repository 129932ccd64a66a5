//! Text → symbol indices in one pass over the preprocessed text, piece by piece
//! ([`super::corpus::for_each_piece`]): neither the preprocessed text nor its characters are ever held
//! whole, and the indices are `u16` (lstm-core's format holds at most [`MAX_SYMBOLS`] symbols), so a
//! corpus costs its own bytes plus two bytes per token.
//!
//! Without a vocabulary, symbols get provisional indices in order of appearance and are renumbered in
//! sorted order at the end (one pass, in place).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use lstm_core::format::MAX_SYMBOLS;

use super::corpus::{CorpusError, Fnv1a, LINE_WORD, Preprocess, Tokens, Vocab, for_each_piece};

/// A text encoded as symbol indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The vocabulary: the one given, or the sorted distinct symbols (plus the line symbol in lines mode).
    pub vocab: Vocab,
    /// Every symbol's index (lines mode: the lines' symbols, without line ends).
    pub tokens: Vec<u16>,
    /// Lines mode: where each non-empty line ends in `tokens` (line `k` is `ends[k-1]..ends[k]`).
    pub ends: Option<Vec<u32>>,
    /// FNV-1a of the preprocessed text ([`super::corpus::fingerprint`]).
    pub fingerprint: u64,
    /// Whether the preprocessed text has anything but whitespace.
    pub nonblank: bool,
}

/// How to encode.
#[derive(Debug, Clone, Copy)]
pub struct EncodeSpec<'a> {
    /// The corpus (for messages).
    pub path: &'a Path,
    /// Normalisation.
    pub preprocess: Preprocess,
    /// Characters or words.
    pub tokens: Tokens,
    /// Cut into lines (`\n` separates, empty lines are dropped) instead of one stream.
    pub lines: bool,
}

/// Encodes `raw` (preprocessed on the way) with `vocab`, or with the vocabulary of its own symbols.
///
/// # Errors
/// A symbol outside `vocab`; more distinct symbols than the format holds; in lines mode over words,
/// the word [`LINE_WORD`]; a lines-mode text of more than `u32::MAX` tokens.
pub fn encode(
    raw: &str,
    spec: &EncodeSpec<'_>,
    vocab: Option<&Vocab>,
) -> Result<Encoded, CorpusError> {
    let mut e = Encoder::new(raw, spec, vocab);
    for_each_piece(raw, spec.preprocess, |piece| e.feed(piece))?;
    e.finish()
}

/// The pass's state.
struct Encoder<'a> {
    spec: EncodeSpec<'a>,
    fixed: Option<&'a Vocab>,
    /// Characters below U+10000: index + 1 (0: not seen).
    bmp: Vec<u16>,
    /// Other characters.
    astral: HashMap<char, u16>,
    /// Words.
    words: HashMap<Box<str>, u16>,
    /// Symbols in index order (provisional without a vocabulary).
    symbols: Vec<String>,
    /// Distinct symbols beyond the cap (counted for the message, not stored).
    overflow: HashSet<String>,
    tokens: Vec<u16>,
    ends: Vec<u32>,
    line_start: usize,
    hash: Fnv1a,
    nonblank: bool,
    /// Position of the next symbol in the text (chars: characters incl. `\n`; words: words).
    position: usize,
}

impl<'a> Encoder<'a> {
    fn new(raw: &str, spec: &EncodeSpec<'a>, fixed: Option<&'a Vocab>) -> Self {
        let mut e = Self {
            spec: *spec,
            fixed,
            bmp: vec![
                0;
                if spec.tokens == Tokens::Chars {
                    1 << 16
                } else {
                    0
                }
            ],
            astral: HashMap::new(),
            words: HashMap::new(),
            symbols: Vec::new(),
            overflow: HashSet::new(),
            // Characters: at most one per byte (pages never touched cost nothing).
            tokens: Vec::with_capacity(if spec.tokens == Tokens::Chars {
                raw.len()
            } else {
                0
            }),
            ends: Vec::new(),
            line_start: 0,
            hash: Fnv1a::default(),
            nonblank: false,
            position: 0,
        };
        if let Some(v) = fixed {
            for i in 0..v.len() {
                if let Some(s) = v.symbol(i) {
                    e.insert(s);
                }
            }
        }
        e
    }

    /// Most symbols the corpus itself may bring (the line symbol takes one place in lines mode).
    fn cap(&self) -> usize {
        MAX_SYMBOLS - usize::from(self.spec.lines)
    }

    /// Adds a new symbol; its index, or `None` when the cap is reached (it is only counted then).
    fn insert(&mut self, s: &str) -> Option<u16> {
        if self.symbols.len() >= self.cap() && self.fixed.is_none() {
            self.overflow.insert(s.to_owned());
            return None;
        }
        let id = u16::try_from(self.symbols.len()).ok()?;
        match self.spec.tokens {
            Tokens::Chars => {
                let ch = s.chars().next().unwrap_or('\0');
                match u16::try_from(u32::from(ch)) {
                    Ok(b) => self.bmp[usize::from(b)] = id + 1,
                    Err(_) => {
                        self.astral.insert(ch, id);
                    }
                }
            }
            Tokens::Words => {
                self.words.insert(s.into(), id);
            }
        }
        self.symbols.push(s.to_owned());
        Some(id)
    }

    fn char_id(&mut self, ch: char) -> Result<Option<u16>, CorpusError> {
        let known = match u16::try_from(u32::from(ch)) {
            Ok(b) => self.bmp[usize::from(b)].checked_sub(1),
            Err(_) => self.astral.get(&ch).copied(),
        };
        match (known, self.fixed) {
            (Some(id), _) => Ok(Some(id)),
            (None, Some(_)) => Err(CorpusError::UnknownChar {
                ch,
                offset: self.position,
            }),
            (None, None) => Ok(self.insert(ch.encode_utf8(&mut [0u8; 4]))),
        }
    }

    fn word_id(&mut self, w: &str) -> Result<Option<u16>, CorpusError> {
        if self.spec.lines && w == LINE_WORD {
            return Err(CorpusError::ReservedWord {
                path: self.spec.path.to_path_buf(),
            });
        }
        match (self.words.get(w).copied(), self.fixed) {
            (Some(id), _) => Ok(Some(id)),
            (None, Some(_)) => Err(CorpusError::UnknownWord {
                word: w.to_owned(),
                index: self.position,
            }),
            (None, None) => Ok(self.insert(w)),
        }
    }

    fn push(&mut self, id: Option<u16>) {
        // Past the cap nothing is stored: the run ends with an error once every symbol is counted.
        if let Some(id) = id.filter(|_| self.overflow.is_empty()) {
            self.tokens.push(id);
        }
    }

    fn end_line(&mut self) -> Result<(), CorpusError> {
        if self.tokens.len() > self.line_start {
            let end = u32::try_from(self.tokens.len()).map_err(|_| CorpusError::TooLarge {
                path: self.spec.path.to_path_buf(),
                max: u64::from(u32::MAX),
            })?;
            self.ends.push(end);
            self.line_start = self.tokens.len();
        }
        Ok(())
    }

    fn feed(&mut self, piece: &str) -> Result<(), CorpusError> {
        self.hash.update(piece.as_bytes());
        match self.spec.tokens {
            Tokens::Chars => {
                for ch in piece.chars() {
                    self.nonblank |= !ch.is_whitespace();
                    if self.spec.lines && ch == '\n' {
                        self.end_line()?;
                    } else {
                        let id = self.char_id(ch)?;
                        self.push(id);
                    }
                    self.position += 1;
                }
            }
            Tokens::Words => {
                for w in piece.split_whitespace() {
                    self.nonblank = true;
                    let id = self.word_id(w)?;
                    self.push(id);
                    self.position += 1;
                }
                // A piece ends at a line end, the text's end, or before a space (no word spans two).
                if self.spec.lines && piece.ends_with('\n') {
                    self.end_line()?;
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Encoded, CorpusError> {
        if self.spec.lines {
            self.end_line()?;
        }
        let line_symbol = match self.spec.tokens {
            Tokens::Chars => "\n",
            Tokens::Words => LINE_WORD,
        };
        let extra = usize::from(self.spec.lines && self.fixed.is_none());
        let count = self.symbols.len() + self.overflow.len() + extra;
        if count > MAX_SYMBOLS {
            return Err(CorpusError::TooManySymbols {
                path: self.spec.path.to_path_buf(),
                count,
                what: self.spec.tokens.plural(),
                cap: MAX_SYMBOLS,
            });
        }
        let vocab = match self.fixed {
            Some(v) => v.clone(),
            None => {
                // Renumber in sorted order (byte order of UTF-8 is code-point order).
                let mut sorted: Vec<(String, Option<u16>)> = std::mem::take(&mut self.symbols)
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (s, u16::try_from(i).ok()))
                    .collect();
                if self.spec.lines {
                    sorted.push((line_symbol.to_owned(), None));
                }
                sorted.sort_unstable();
                let mut remap = vec![0u16; sorted.len()];
                for (new, (_, old)) in sorted.iter().enumerate() {
                    if let Some(old) = old {
                        remap[usize::from(*old)] = new as u16;
                    }
                }
                for t in &mut self.tokens {
                    *t = remap[usize::from(*t)];
                }
                let symbols = sorted.into_iter().map(|(s, _)| s).collect();
                match self.spec.tokens {
                    Tokens::Chars => Vocab::from_chars(symbols_to_chars(symbols)),
                    Tokens::Words => Vocab::from_words(symbols),
                }
            }
        };
        Ok(Encoded {
            vocab,
            tokens: self.tokens,
            ends: self.spec.lines.then_some(self.ends),
            fingerprint: self.hash.0,
            nonblank: self.nonblank,
        })
    }
}

fn symbols_to_chars(symbols: Vec<String>) -> Vec<char> {
    symbols
        .into_iter()
        .filter_map(|s| s.chars().next())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::corpus::{fingerprint, preprocess};
    use proptest::prelude::*;

    fn spec(tokens: Tokens, lines: bool, pre: Preprocess) -> EncodeSpec<'static> {
        EncodeSpec {
            path: Path::new("c.txt"),
            preprocess: pre,
            tokens,
            lines,
        }
    }

    const ALL_PRE: [Preprocess; 3] = [
        Preprocess {
            lowercase: false,
            d2l: false,
        },
        Preprocess {
            lowercase: true,
            d2l: false,
        },
        Preprocess {
            lowercase: false,
            d2l: true,
        },
    ];

    proptest! {
        /// The one-pass encoding equals encoding the whole preprocessed text with its sorted vocabulary
        /// (as the trainer did before): same vocabulary, indices, lines and fingerprint.
        #[test]
        fn one_pass_equals_the_whole_text_encoding(
            text in "([a-cA-CΣσς é\n]|\u{1F600}){0,60}",
            pre_i in 0usize..3,
            lines in any::<bool>(),
        ) {
            let pre = ALL_PRE[pre_i];
            let whole = preprocess(&text, pre);
            let e = encode(&text, &spec(Tokens::Chars, lines, pre), None).expect("encodes");
            let extra: &[char] = if lines { &['\n'] } else { &[] };
            let vocab = Vocab::from_text(&whole, extra);
            prop_assert_eq!(&e.vocab, &vocab);
            prop_assert_eq!(e.fingerprint, fingerprint(&whole));
            prop_assert_eq!(e.nonblank, !whole.trim().is_empty());
            let all: Vec<u32> = vocab.encode(&whole).expect("in vocab");
            if lines {
                let nl = vocab.index('\n').expect("newline");
                let want: Vec<Vec<u32>> = all.split(|&t| t == nl).filter(|l| !l.is_empty()).map(<[u32]>::to_vec).collect();
                let ends = e.ends.expect("lines");
                let mut got = Vec::new();
                let mut start = 0;
                for &end in &ends {
                    got.push(e.tokens[start..end as usize].iter().map(|&t| u32::from(t)).collect::<Vec<u32>>());
                    start = end as usize;
                }
                prop_assert_eq!(got, want);
            } else {
                prop_assert_eq!(e.tokens.iter().map(|&t| u32::from(t)).collect::<Vec<u32>>(), all);
            }
            // With the vocabulary given, the same indices.
            let again = encode(&text, &spec(Tokens::Chars, lines, pre), Some(&e.vocab)).expect("known");
            prop_assert_eq!(again.tokens, e.tokens);
        }
    }

    #[test]
    fn lowercasing_by_lines_keeps_the_final_sigma_rule() {
        let text = "ΟΔΟΣ\nΣΑ ΟΔΟΣ.\nAΣ\nΣ";
        let pre = ALL_PRE[1];
        assert_eq!(preprocess(text, pre), text.to_lowercase());
    }

    #[test]
    fn words_are_whitespace_separated_and_sorted() {
        let e = encode(
            "the cat\tsat  on\nthe mat\n\n",
            &spec(Tokens::Words, false, ALL_PRE[0]),
            None,
        )
        .expect("encodes");
        assert_eq!(e.vocab.as_string(), "cat mat on sat the");
        assert_eq!(e.tokens, vec![4, 0, 3, 2, 4, 1]);
        let lines = encode(
            "the cat\n\n  \nsat the\n",
            &spec(Tokens::Words, true, ALL_PRE[0]),
            None,
        )
        .expect("encodes");
        assert_eq!(lines.vocab.as_string(), "<eol> cat sat the");
        assert_eq!(lines.tokens, vec![3, 1, 2, 3]);
        assert_eq!(lines.ends, Some(vec![2, 4]));
        assert_eq!(lines.vocab.line_symbol(), Some(0));
    }

    #[test]
    fn unknown_symbols_and_the_reserved_word_are_named() {
        let v = Vocab::from_words(vec!["a".into(), "b".into()]);
        let err = encode("a b c", &spec(Tokens::Words, false, ALL_PRE[0]), Some(&v))
            .expect_err("c is unknown");
        assert!(
            matches!(&err, CorpusError::UnknownWord { word, index: 2 } if word == "c"),
            "{err}"
        );
        let err = encode("a <eol> b\n", &spec(Tokens::Words, true, ALL_PRE[0]), None)
            .expect_err("reserved");
        assert!(err.to_string().contains("\"<eol>\""), "{err}");
        let v = Vocab::from_text("ab\n", &[]);
        let err = encode(
            "ab\nba\nax",
            &spec(Tokens::Chars, true, ALL_PRE[0]),
            Some(&v),
        )
        .expect_err("x is unknown");
        assert!(matches!(
            err,
            CorpusError::UnknownChar { ch: 'x', offset: 7 }
        ));
    }

    /// More distinct words than the format holds: the error names the count and the cap.
    #[test]
    fn the_vocabulary_is_capped_with_the_count_named() {
        let text: String = (0..MAX_SYMBOLS + 5).map(|i| format!("w{i} ")).collect();
        let err =
            encode(&text, &spec(Tokens::Words, false, ALL_PRE[0]), None).expect_err("too many");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{} distinct words", MAX_SYMBOLS + 5))
                && msg.contains(&format!("at most {MAX_SYMBOLS}")),
            "{msg}"
        );
        // Exactly the cap is fine; in lines mode the line symbol counts.
        let text: String = (0..MAX_SYMBOLS).map(|i| format!("w{i} ")).collect();
        let e = encode(&text, &spec(Tokens::Words, false, ALL_PRE[0]), None).expect("fits");
        assert_eq!(e.vocab.len(), MAX_SYMBOLS);
        let err = encode(&text, &spec(Tokens::Words, true, ALL_PRE[0]), None)
            .expect_err("line symbol too");
        assert!(
            err.to_string()
                .contains(&format!("{} distinct words", MAX_SYMBOLS + 1)),
            "{err}"
        );
    }
}

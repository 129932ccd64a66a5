//! The small enums a model file names: input kind, cell kind, weight dtype and token kind.

use super::{validate_vocab, validate_words};
use crate::Error;

/// How the model takes its input at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// A symbol index; `W_ih · x` is a column gather. Requires `n_x == n_y`.
    OneHot,
    /// A dense vector of `n_x` values (sensor-style sequences).
    Dense,
}

impl InputKind {
    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            InputKind::OneHot => 0,
            InputKind::Dense => 1,
        }
    }

    /// The kind stored under `code`.
    ///
    /// # Errors
    /// [`Error::UnsupportedInput`] for an unknown code.
    pub const fn from_code(code: u8) -> Result<Self, Error> {
        match code {
            0 => Ok(InputKind::OneHot),
            1 => Ok(InputKind::Dense),
            found => Err(Error::UnsupportedInput { found }),
        }
    }
}

/// The recurrent cell of every layer, with PyTorch's equations and gate order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CellKind {
    /// `nn.LSTM`: gates i, f, g, o; state (h, c).
    Lstm,
    /// `nn.GRU`: gates r, z, n, with `b_hn` inside the `r` product; state h.
    Gru,
    /// `nn.RNN(nonlinearity="tanh")`: one block; state h.
    Rnn,
}

impl CellKind {
    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            CellKind::Lstm => 0,
            CellKind::Gru => 1,
            CellKind::Rnn => 2,
        }
    }

    /// The kind stored under `code`.
    ///
    /// # Errors
    /// [`Error::UnsupportedCell`] for an unknown code.
    pub const fn from_code(code: u8) -> Result<Self, Error> {
        match code {
            0 => Ok(CellKind::Lstm),
            1 => Ok(CellKind::Gru),
            2 => Ok(CellKind::Rnn),
            found => Err(Error::UnsupportedCell { found }),
        }
    }

    /// Number of gate blocks `G`: 4 (lstm), 3 (gru), 1 (rnn).
    pub const fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
            CellKind::Rnn => 1,
        }
    }

    /// True if the state has a cell vector `c` beside `h` (lstm only).
    pub const fn has_cell_state(self) -> bool {
        matches!(self, CellKind::Lstm)
    }

    /// The name used in files, CLIs and errors: `lstm`, `gru`, `rnn`.
    pub const fn name(self) -> &'static str {
        match self {
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
            CellKind::Rnn => "rnn",
        }
    }
}

/// The element type of the weight matrices (biases are always f32), and for
/// int8 weights whether a layer's `w_ih` and `w_hh` share their scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// Little-endian IEEE-754 binary32.
    F32,
    /// Symmetric int8 in [-127, 127] with one f32 scale per output unit of each matrix.
    Q8,
    /// As [`Dtype::Q8`], but each layer's `w_ih` and `w_hh` share one scale
    /// per gate unit (stored once, with `w_ih`); `w_y` keeps its own.
    Q8Shared,
}

impl Dtype {
    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            Dtype::F32 => 0,
            Dtype::Q8 => 1,
            Dtype::Q8Shared => 2,
        }
    }

    /// The dtype stored under `code`.
    ///
    /// # Errors
    /// [`Error::UnsupportedDtype`] for an unknown code.
    pub const fn from_code(code: u8) -> Result<Self, Error> {
        match code {
            0 => Ok(Dtype::F32),
            1 => Ok(Dtype::Q8),
            2 => Ok(Dtype::Q8Shared),
            found => Err(Error::UnsupportedDtype { found }),
        }
    }

    /// Bytes per weight element: 4 (f32) or 1 (either q8).
    pub const fn weight_size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::Q8 | Dtype::Q8Shared => 1,
        }
    }

    /// True for int8 weights with f32 scales ([`Dtype::Q8`] or [`Dtype::Q8Shared`]).
    pub const fn is_q8(self) -> bool {
        matches!(self, Dtype::Q8 | Dtype::Q8Shared)
    }

    /// The dtype of the values the views and kernels step with: [`Dtype::Q8`]
    /// for both q8 dtypes (sharing is only how a file stores the scales).
    pub const fn kernel(self) -> Dtype {
        match self {
            Dtype::F32 => Dtype::F32,
            Dtype::Q8 | Dtype::Q8Shared => Dtype::Q8,
        }
    }

    /// True if each layer's `w_hh` uses its `w_ih`'s scales ([`Dtype::Q8Shared`]).
    pub const fn shares_scales(self) -> bool {
        matches!(self, Dtype::Q8Shared)
    }

    /// The name used in CLIs and errors: `f32`, `q8`, `q8-shared`.
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Q8 => "q8",
            Dtype::Q8Shared => "q8-shared",
        }
    }
}

/// What one vocabulary symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// One Unicode scalar value; the vocabulary string is the symbols concatenated.
    Chars,
    /// A whitespace-free word; the vocabulary string is the words joined by single spaces.
    Words,
}

impl TokenKind {
    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            TokenKind::Chars => 0,
            TokenKind::Words => 1,
        }
    }

    /// The kind stored under `code`.
    ///
    /// # Errors
    /// [`Error::UnsupportedTokens`] for an unknown code.
    pub const fn from_code(code: u8) -> Result<Self, Error> {
        match code {
            0 => Ok(TokenKind::Chars),
            1 => Ok(TokenKind::Words),
            found => Err(Error::UnsupportedTokens { found }),
        }
    }

    /// Checks `vocab` holds exactly `n_y` valid symbols of this kind, none repeated.
    ///
    /// # Errors
    /// As [`validate_vocab`] (chars) or [`validate_words`] (words).
    pub fn validate(self, vocab: &str, n_y: usize) -> Result<(), Error> {
        match self {
            TokenKind::Chars => validate_vocab(vocab, n_y),
            TokenKind::Words => validate_words(vocab, n_y),
        }
    }

    /// The symbols of `vocab` in index order (each `char` as a `&str`, or each word).
    pub fn symbols(self, vocab: &str) -> impl Iterator<Item = &str> + '_ {
        let mut chars = vocab.char_indices();
        let mut words = vocab.split(' ');
        core::iter::from_fn(move || match self {
            TokenKind::Chars => chars
                .next()
                .and_then(|(i, c)| vocab.get(i..i + c.len_utf8())),
            TokenKind::Words => words.next(),
        })
    }
}

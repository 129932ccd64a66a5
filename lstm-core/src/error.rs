//! The crate's one error type.

use core::fmt;

/// Everything that can go wrong when decoding, encoding or running a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes end before the structure they describe does.
    Truncated,
    /// The bytes are not a well-formed postcard encoding of the format.
    Malformed,
    /// The file does not start with the magic bytes `LSTM`.
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// The file's format version is not one this build reads.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Newest version this build reads.
        supported: u16,
    },
    /// The tensor element type is not supported.
    UnsupportedDtype {
        /// Dtype code in the file.
        found: u8,
    },
    /// The input-kind code is not known.
    UnsupportedInput {
        /// Input-kind code in the file.
        found: u8,
    },
    /// The CRC-32 trailer does not match the contents.
    Checksum {
        /// CRC-32 stored in the file.
        stored: u32,
        /// CRC-32 computed over the contents.
        computed: u32,
    },
    /// Bytes follow the checksum trailer.
    TrailingBytes {
        /// How many extra bytes.
        count: usize,
    },
    /// A varint is not in its shortest form (two files would decode to one model).
    NonCanonicalVarint {
        /// The field whose varint (value or byte-string length) is overlong.
        field: &'static str,
    },
    /// The cell-kind code is not known.
    UnsupportedCell {
        /// Cell-kind code in the file.
        found: u8,
    },
    /// The token-kind code is not known.
    UnsupportedTokens {
        /// Token-kind code in the file.
        found: u8,
    },
    /// A q8 model's product rows are too long for an exact i32 accumulator.
    AccumulatorBound {
        /// Which dimension is the row length (`n_h`, or `n_x` for dense input).
        name: &'static str,
        /// Its value.
        n: usize,
        /// The largest allowed row length.
        max: usize,
    },
    /// A q8 weight is -128 (the format is symmetric: values lie in [-127, 127]).
    QuantOutOfRange {
        /// Tensor name.
        tensor: &'static str,
        /// Index of the first bad element.
        index: usize,
    },
    /// A q8 scale is zero, negative, NaN or infinite.
    BadScale {
        /// Scale tensor name.
        tensor: &'static str,
        /// Index of the first bad scale.
        index: usize,
    },
    /// A word token is empty or contains whitespace.
    InvalidToken {
        /// Index of the token in the vocabulary.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A word token occurs twice in the vocabulary.
    DuplicateToken {
        /// Index of the repeat.
        index: usize,
        /// Index of its first occurrence.
        first: usize,
    },
    /// The model is valid but of a shape this reader does not take.
    UnsupportedModel {
        /// The feature it cannot take (e.g. "a gru cell", "more than one layer").
        what: &'static str,
    },
    /// A weight matrix's dtype differs from the header's.
    DtypeMismatch {
        /// Tensor name.
        tensor: &'static str,
    },
    /// A dimension is zero or larger than the format allows.
    DimensionOutOfRange {
        /// Which dimension (`n_x`, `n_h`, `n_y`).
        name: &'static str,
        /// Its value.
        value: usize,
        /// The largest allowed value.
        max: usize,
    },
    /// A dimension differs from the one required (by the const generics or by another dimension).
    DimensionMismatch {
        /// Which dimension.
        name: &'static str,
        /// The required value.
        expected: usize,
        /// The value found.
        found: usize,
    },
    /// A tensor has the wrong number of elements.
    TensorLength {
        /// Tensor name (`w_ih`, `w_hh`, `b`, `w_y`, `b_y`).
        tensor: &'static str,
        /// Required element count.
        expected: usize,
        /// Element count found.
        found: usize,
    },
    /// A tensor holds a NaN or an infinity.
    NonFinite {
        /// Tensor name.
        tensor: &'static str,
        /// Index of the first bad element.
        index: usize,
    },
    /// The vocabulary has the wrong number of symbols.
    VocabSize {
        /// Required number of symbols.
        expected: usize,
        /// Number found.
        found: usize,
    },
    /// A symbol occurs twice in the vocabulary.
    DuplicateSymbol {
        /// The repeated symbol.
        symbol: char,
    },
    /// A symbol is not in the vocabulary.
    UnknownSymbol {
        /// The symbol.
        symbol: char,
    },
    /// A word of a prime is not in a word model's vocabulary.
    UnknownWord {
        /// Position of the word in the prime (0-based, words split on whitespace).
        index: usize,
    },
    /// A token index is not below the vocabulary size.
    TokenOutOfRange {
        /// The index.
        token: usize,
        /// The vocabulary size.
        vocab: usize,
    },
    /// A dense input vector has the wrong length.
    InputLength {
        /// Required length.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// An output buffer is too small.
    BufferTooSmall {
        /// Bytes or elements needed.
        needed: usize,
        /// Bytes or elements available.
        available: usize,
    },
    /// A sampling setting is out of range (negative or non-finite temperature, top-p outside (0, 1]).
    InvalidSampling {
        /// Which setting.
        setting: &'static str,
    },
    /// The model takes dense input vectors, not symbols (or the other way round).
    WrongInputKind,
    /// Text meant as one symbol is not one (see [`crate::text::parse_symbol`]).
    BadSymbol {
        /// What is wrong.
        reason: &'static str,
    },
    /// Text meant as a number is not one this crate reads (see [`crate::text::parse_decimal`]).
    BadNumber {
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => write!(f, "model data is truncated"),
            Error::Malformed => write!(f, "model data is malformed (not a valid encoding)"),
            Error::BadMagic { found } => write!(
                f,
                "not an lstm-core model file: magic bytes are {found:02x?}, expected \"LSTM\""
            ),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                "model format version {found} is not supported (this build reads versions 1 to {supported})"
            ),
            Error::UnsupportedDtype { found } => {
                write!(
                    f,
                    "tensor dtype code {found} is not supported (0 = f32, 1 = q8)"
                )
            }
            Error::UnsupportedInput { found } => write!(
                f,
                "input kind code {found} is not supported (0 = one-hot, 1 = dense)"
            ),
            Error::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: file says {stored:#010x}, contents give {computed:#010x} (the file is corrupted)"
            ),
            Error::TrailingBytes { count } => {
                write!(f, "{count} unexpected bytes after the end of the model")
            }
            Error::NonCanonicalVarint { field } => write!(
                f,
                "the varint of {field} is not in its shortest form (non-canonical encoding)"
            ),
            Error::UnsupportedCell { found } => write!(
                f,
                "cell kind code {found} is not supported (0 = lstm, 1 = gru, 2 = rnn)"
            ),
            Error::UnsupportedTokens { found } => write!(
                f,
                "token kind code {found} is not supported (0 = chars, 1 = words)"
            ),
            Error::AccumulatorBound { name, n, max } => write!(
                f,
                "q8 model has {name} = {n}, but int8 x Q15 products of more than {max} terms can overflow the i32 accumulator"
            ),
            Error::QuantOutOfRange { tensor, index } => write!(
                f,
                "q8 tensor {tensor} holds -128 at index {index} (values must lie in -127..=127)"
            ),
            Error::BadScale { tensor, index } => write!(
                f,
                "q8 scale {tensor}[{index}] is not a positive finite number"
            ),
            Error::InvalidToken { index, reason } => {
                write!(f, "vocabulary token {index} is invalid: {reason}")
            }
            Error::DuplicateToken { index, first } => {
                write!(f, "vocabulary token {index} repeats token {first}")
            }
            Error::UnsupportedModel { what } => write!(
                f,
                "this reader takes single-layer f32 LSTM character models; the model has {what}"
            ),
            Error::DtypeMismatch { tensor } => {
                write!(f, "tensor {tensor} has a dtype other than the model's")
            }
            Error::DimensionOutOfRange { name, value, max } => {
                write!(f, "dimension {name} = {value} is out of range (1..={max})")
            }
            Error::DimensionMismatch {
                name,
                expected,
                found,
            } => write!(f, "dimension {name} is {found}, expected {expected}"),
            Error::TensorLength {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor {tensor} has {found} elements, expected {expected}"
            ),
            Error::NonFinite { tensor, index } => {
                write!(
                    f,
                    "tensor {tensor} holds a non-finite value at index {index}"
                )
            }
            Error::VocabSize { expected, found } => {
                write!(f, "vocabulary has {found} symbols, expected {expected}")
            }
            Error::DuplicateSymbol { symbol } => {
                write!(f, "symbol {symbol:?} occurs twice in the vocabulary")
            }
            Error::UnknownSymbol { symbol } => {
                write!(f, "symbol {symbol:?} is not in the model's vocabulary")
            }
            Error::UnknownWord { index } => {
                write!(
                    f,
                    "word {index} of the prime is not in the model's vocabulary"
                )
            }
            Error::TokenOutOfRange { token, vocab } => {
                write!(
                    f,
                    "token {token} is out of range for a vocabulary of {vocab}"
                )
            }
            Error::InputLength { expected, found } => {
                write!(f, "input vector has {found} elements, expected {expected}")
            }
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small: {needed} needed, {available} available"
            ),
            Error::InvalidSampling { setting } => write!(f, "invalid sampling setting: {setting}"),
            Error::WrongInputKind => write!(f, "the model's input kind does not match the call"),
            Error::BadSymbol { reason } => write!(f, "not a symbol: {reason}"),
            Error::BadNumber { reason } => write!(f, "not a number: {reason}"),
        }
    }
}

impl core::error::Error for Error {}

//! The weight file format, versions 1 and 2: reader and writer side by side.
//!
//! A file is a postcard encoding of its fields followed by a CRC-32 trailer;
//! `FORMAT.md` at the crate root documents both versions byte for byte.
//! Decoding borrows from the input (no copy, no allocation) and validates
//! everything before it hands out a view.
//!
//! Two entry points read a file:
//! - [`decode_family`] reads every model of the family (version 1 or 2: any
//!   cell kind, 1 to [`MAX_LAYERS`] layers, f32 or q8 weights, character or
//!   word tokens) into a [`FamilyView`];
//! - [`decode`] reads a single-layer f32 LSTM character model (version 1, or
//!   version 2 of that shape) into the version-1-shaped [`ModelView`].
//!
//! Two write one: [`encode_family`] writes version 2 for every model;
//! [`encode`] writes version 1 from a [`ModelParts`] (what the tools write
//! today, so shipped models keep their bytes).

mod header;
mod kinds;
mod tensor;
mod wire;

pub use tensor::{
    FamilyParts, FamilyView, LayerParts, LayerView, QTensor, Tensor, WeightLayout, WeightParts,
    Weights,
};

pub use header::{Dims, Header};
pub use kinds::{CellKind, Dtype, InputKind, TokenKind};

use crate::Error;

/// The four bytes every model file starts with.
pub const MAGIC: [u8; 4] = *b"LSTM";
/// The newest format version this build reads; [`encode_family`] writes it.
pub const FORMAT_VERSION: u16 = 2;
/// The version [`encode`] writes (single-layer f32 LSTM character models).
pub const FORMAT_VERSION_1: u16 = 1;
/// Largest vocabulary / input / output size a file may declare.
pub const MAX_SYMBOLS: usize = 8192;
/// Largest hidden size a file may declare.
pub const MAX_HIDDEN: usize = 4096;
/// Largest number of stacked layers a file may declare.
pub const MAX_LAYERS: usize = 4;
/// Longest product row of a q8 model: `n · 127 · 32767 < 2^31` (an exact i32 sum of int8 × Q15 terms) iff `n ≤ 516`.
pub const MAX_Q8_ROW: usize = 516;
/// Size of the CRC-32 trailer in bytes.
pub const TRAILER_LEN: usize = 4;

pub(crate) const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A single-layer f32 LSTM character model's parts, borrowed, in the file's
/// tensor layout; what [`encode`] writes (as version 1).
///
/// Layout (all row-major; gate blocks in PyTorch's order i, f, g, o):
/// - `w_ih`: `[4][n_x][n_h]`, `w_ih[g][x][k] = weight_ih_l0[g·n_h + k][x]`
///   (transposed per gate, so the one-hot gather reads `n_h` contiguous values);
/// - `w_hh`: `[4][n_h][n_h]`, `w_hh[g][k][j] = weight_hh_l0[g·n_h + k][j]`;
/// - `b`: `[4][n_h]`, `b[g][k] = bias_ih_l0[g·n_h + k] + bias_hh_l0[g·n_h + k]`;
/// - `w_y`: `[n_y][n_h]` (`nn.Linear.weight`); `b_y`: `[n_y]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelParts<'a> {
    /// Input kind.
    pub input: InputKind,
    /// Sizes.
    pub dims: Dims,
    /// The output symbols in index order, one `char` each.
    pub vocab: &'a str,
    /// Input weights, `[4][n_x][n_h]`.
    pub w_ih: &'a [f32],
    /// Recurrent weights, `[4][n_h][n_h]`.
    pub w_hh: &'a [f32],
    /// Gate biases, `[4][n_h]`.
    pub b: &'a [f32],
    /// Output weights, `[n_y][n_h]`.
    pub w_y: &'a [f32],
    /// Output bias, `[n_y]`.
    pub b_y: &'a [f32],
}

impl<'a> ModelParts<'a> {
    /// The family header of this model (one f32 LSTM layer over characters).
    pub const fn header(&self) -> Header {
        Header::plain(self.input, self.dims)
    }

    /// The one layer, as [`FamilyParts`] takes it.
    pub const fn layer(&self) -> LayerParts<'a> {
        LayerParts {
            w_ih: WeightParts::F32(self.w_ih),
            w_hh: WeightParts::F32(self.w_hh),
            b: self.b,
            b_hn: &[],
        }
    }

    /// The whole model as [`FamilyParts`] (for [`encode_family`]), given `layers = [self.layer()]`.
    pub const fn family(&self, layers: &'a [LayerParts<'a>]) -> FamilyParts<'a> {
        FamilyParts {
            header: self.header(),
            vocab: self.vocab,
            layers,
            w_y: WeightParts::F32(self.w_y),
            b_y: self.b_y,
        }
    }

    /// Checks dimensions, vocabulary, tensor lengths and that every value is finite.
    ///
    /// # Errors
    /// The first problem found, as [`decode`] would report it.
    pub fn validate(&self) -> Result<(), Error> {
        self.view().map(|_| ())
    }

    fn view(&self) -> Result<FamilyView<'a>, Error> {
        tensor::view_of(
            FORMAT_VERSION_1,
            self.header(),
            self.vocab,
            &[self.layer()],
            WeightParts::F32(self.w_y),
            self.b_y,
        )
    }
}

/// Checks the character vocabulary has exactly `n_y` symbols, none repeated.
///
/// # Errors
/// [`Error::VocabSize`], [`Error::DuplicateSymbol`].
pub fn validate_vocab(vocab: &str, n_y: usize) -> Result<(), Error> {
    let found = vocab.chars().count();
    if found != n_y {
        return Err(Error::VocabSize {
            expected: n_y,
            found,
        });
    }
    // Quadratic, but bounded by MAX_SYMBOLS and allocation-free.
    for (i, a) in vocab.char_indices() {
        let rest = vocab.get(i + a.len_utf8()..).unwrap_or("");
        if rest.contains(a) {
            return Err(Error::DuplicateSymbol { symbol: a });
        }
    }
    Ok(())
}

/// Checks the word vocabulary is exactly `n_y` tokens joined by single spaces,
/// none empty, none containing whitespace, none repeated.
///
/// # Errors
/// [`Error::VocabSize`], [`Error::InvalidToken`], [`Error::DuplicateToken`].
pub fn validate_words(vocab: &str, n_y: usize) -> Result<(), Error> {
    let found = vocab.split(' ').count();
    if found != n_y {
        return Err(Error::VocabSize {
            expected: n_y,
            found,
        });
    }
    for (index, t) in vocab.split(' ').enumerate() {
        if t.is_empty() {
            return Err(Error::InvalidToken {
                index,
                reason: "empty",
            });
        }
        if t.contains(char::is_whitespace) {
            return Err(Error::InvalidToken {
                index,
                reason: "contains whitespace",
            });
        }
    }
    // Quadratic, but bounded by MAX_SYMBOLS and allocation-free.
    for (index, t) in vocab.split(' ').enumerate() {
        if let Some(first) = vocab.split(' ').take(index).position(|u| u == t) {
            return Err(Error::DuplicateToken { index, first });
        }
    }
    Ok(())
}

/// A decoded, fully validated single-layer f32 LSTM character model borrowing the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelView<'a> {
    /// Input kind.
    pub input: InputKind,
    /// Sizes.
    pub dims: Dims,
    /// The output symbols in index order.
    pub vocab: &'a str,
    /// Input weights, `[4][n_x][n_h]`.
    pub w_ih: Tensor<'a>,
    /// Recurrent weights, `[4][n_h][n_h]`.
    pub w_hh: Tensor<'a>,
    /// Gate biases, `[4][n_h]`.
    pub b: Tensor<'a>,
    /// Output weights, `[n_y][n_h]`.
    pub w_y: Tensor<'a>,
    /// Output bias, `[n_y]`.
    pub b_y: Tensor<'a>,
}

impl ModelView<'_> {
    /// The family header of this model (one f32 LSTM layer over characters).
    pub const fn header(&self) -> Header {
        Header::plain(self.input, self.dims)
    }
}

/// Decodes and validates a single-layer f32 LSTM character model (a version-1
/// file, or a version-2 file of that shape).
///
/// # Errors
/// Everything [`decode_family`] refuses, and [`Error::UnsupportedModel`] for
/// a valid model of another shape (read it with [`decode_family`]).
pub fn decode(bytes: &[u8]) -> Result<ModelView<'_>, Error> {
    decode_family(bytes)?.plain()
}

/// Decodes and validates a model file of any version this build reads.
///
/// Version-1 files give a family view with cell lstm, one layer, dtype f32
/// and character tokens, and `version == 1`.
///
/// # Errors
/// Any deviation from the format (see `FORMAT.md`, "Validation on read"):
/// bad magic, unknown version, truncation, a non-canonical varint, a checksum
/// mismatch, trailing bytes, unknown cell/dtype/input/token codes,
/// out-of-range or inconsistent dimensions, a q8 model beyond the accumulator
/// bound, an invalid vocabulary, wrong tensor lengths, non-finite values,
/// int8 values of -128, scales that are not positive and finite.
pub fn decode_family(bytes: &[u8]) -> Result<FamilyView<'_>, Error> {
    wire::decode(bytes)
}

/// Number of bytes [`encode`] writes for `parts`.
///
/// # Errors
/// As [`ModelParts::validate`].
pub fn encoded_len(parts: &ModelParts<'_>) -> Result<usize, Error> {
    wire::encoded_len(&parts.view()?)
}

/// Validates `parts` and writes them as a version-1 file into `out`; returns the number of bytes written.
///
/// # Errors
/// As [`ModelParts::validate`], or [`Error::BufferTooSmall`].
pub fn encode(parts: &ModelParts<'_>, out: &mut [u8]) -> Result<usize, Error> {
    wire::encode(&parts.view()?, out)
}

/// Number of bytes [`encode_family`] writes for `parts`.
///
/// # Errors
/// As [`FamilyParts::validate`].
pub fn encoded_len_family(parts: &FamilyParts<'_>) -> Result<usize, Error> {
    wire::encoded_len(&parts.view()?)
}

/// Validates `parts` and writes them as a version-2 file into `out`; returns the number of bytes written.
///
/// # Errors
/// As [`FamilyParts::validate`], or [`Error::BufferTooSmall`].
pub fn encode_family(parts: &FamilyParts<'_>, out: &mut [u8]) -> Result<usize, Error> {
    wire::encode(&parts.view()?, out)
}

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

mod tensor;
mod wire;

pub use tensor::{
    FamilyParts, FamilyView, LayerParts, LayerView, QTensor, Tensor, WeightLayout, WeightParts,
    Weights,
};

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

/// The element type of the weight matrices (biases are always f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// Little-endian IEEE-754 binary32.
    F32,
    /// Symmetric int8 in [-127, 127] with one f32 scale per output unit.
    Q8,
}

impl Dtype {
    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            Dtype::F32 => 0,
            Dtype::Q8 => 1,
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
            found => Err(Error::UnsupportedDtype { found }),
        }
    }

    /// Bytes per weight element: 4 (f32) or 1 (q8).
    pub const fn weight_size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::Q8 => 1,
        }
    }

    /// The name used in CLIs and errors: `f32`, `q8`.
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Q8 => "q8",
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

/// The three sizes of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    /// Input size (the vocabulary size for one-hot input).
    pub n_x: usize,
    /// Hidden size (of every layer).
    pub n_h: usize,
    /// Output size (the vocabulary size).
    pub n_y: usize,
}

impl Dims {
    /// Element count of a single-layer LSTM's `w_ih`: 4 gates × `n_x` × `n_h`.
    pub const fn w_ih_len(&self) -> usize {
        4 * self.n_x * self.n_h
    }
    /// Element count of a single-layer LSTM's `w_hh`: 4 gates × `n_h` × `n_h`.
    pub const fn w_hh_len(&self) -> usize {
        4 * self.n_h * self.n_h
    }
    /// Element count of a single-layer LSTM's `b`: 4 gates × `n_h`.
    pub const fn b_len(&self) -> usize {
        4 * self.n_h
    }
    /// Element count of `w_y`: `n_y` × `n_h`.
    pub const fn w_y_len(&self) -> usize {
        self.n_y * self.n_h
    }
    /// Element count of `b_y`.
    pub const fn b_y_len(&self) -> usize {
        self.n_y
    }
    /// Total number of parameters of a single-layer LSTM.
    pub const fn param_count(&self) -> usize {
        self.w_ih_len() + self.w_hh_len() + self.b_len() + self.w_y_len() + self.b_y_len()
    }
    /// Multiply-accumulates per step of a single-layer LSTM with one-hot input: `4·H·H + 4·H + Y·H`.
    pub const fn macs_per_token(&self) -> usize {
        4 * self.n_h * self.n_h + 4 * self.n_h + self.n_y * self.n_h
    }

    /// Checks every dimension is in range and that they agree with `input`.
    pub fn validate(&self, input: InputKind) -> Result<(), Error> {
        check_range("n_x", self.n_x, MAX_SYMBOLS)?;
        check_range("n_h", self.n_h, MAX_HIDDEN)?;
        check_range("n_y", self.n_y, MAX_SYMBOLS)?;
        if input == InputKind::OneHot && self.n_x != self.n_y {
            return Err(Error::DimensionMismatch {
                name: "n_x",
                expected: self.n_y,
                found: self.n_x,
            });
        }
        Ok(())
    }
}

fn check_range(name: &'static str, value: usize, max: usize) -> Result<(), Error> {
    if value == 0 || value > max {
        Err(Error::DimensionOutOfRange { name, value, max })
    } else {
        Ok(())
    }
}

/// Everything about a model but its vocabulary and numbers: the family member it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Cell kind of every layer.
    pub cell: CellKind,
    /// Element type of the weight matrices.
    pub dtype: Dtype,
    /// Input kind of layer 0.
    pub input: InputKind,
    /// What a vocabulary symbol is.
    pub tokens: TokenKind,
    /// Input, hidden (every layer) and output sizes.
    pub dims: Dims,
    /// Number of stacked layers, `1..=MAX_LAYERS`.
    pub n_layers: usize,
}

impl Header {
    /// The header of a version-1 model: one f32 LSTM layer over characters.
    pub const fn plain(input: InputKind, dims: Dims) -> Self {
        Header {
            cell: CellKind::Lstm,
            dtype: Dtype::F32,
            input,
            tokens: TokenKind::Chars,
            dims,
            n_layers: 1,
        }
    }

    /// True for a model version 1 can hold (and [`ModelView`] can show): one f32 LSTM layer over characters.
    pub const fn is_plain(&self) -> bool {
        matches!(self.cell, CellKind::Lstm)
            && matches!(self.dtype, Dtype::F32)
            && matches!(self.tokens, TokenKind::Chars)
            && self.n_layers == 1
    }

    /// Number of gate blocks `G` of the cell.
    pub const fn gates(&self) -> usize {
        self.cell.gates()
    }

    /// Input size of `layer`: `n_x` for layer 0, `n_h` above it.
    pub const fn n_in(&self, layer: usize) -> usize {
        if layer == 0 {
            self.dims.n_x
        } else {
            self.dims.n_h
        }
    }

    /// Element count of `layer`'s `w_ih`: `G · n_in · n_h`.
    pub const fn w_ih_len(&self, layer: usize) -> usize {
        self.gates() * self.n_in(layer) * self.dims.n_h
    }

    /// Element count of each layer's `w_hh`: `G · n_h · n_h`.
    pub const fn w_hh_len(&self) -> usize {
        self.gates() * self.dims.n_h * self.dims.n_h
    }

    /// Element count of each layer's `b`: `G · n_h`.
    pub const fn b_len(&self) -> usize {
        self.gates() * self.dims.n_h
    }

    /// Element count of each layer's `b_hn`: `n_h` for gru, 0 otherwise.
    pub const fn b_hn_len(&self) -> usize {
        match self.cell {
            CellKind::Gru => self.dims.n_h,
            CellKind::Lstm | CellKind::Rnn => 0,
        }
    }

    /// Number of q8 scales of each layer's `w_ih` and `w_hh` (one per gate unit): `G · n_h`.
    pub const fn layer_scale_len(&self) -> usize {
        self.gates() * self.dims.n_h
    }

    /// Layout of `layer`'s `w_ih`: gate-transposed `[G][n_x][n_h]` for layer 0, row-major `[G·n_h][n_h]` above.
    pub const fn w_ih_layout(&self, layer: usize) -> WeightLayout {
        if layer == 0 {
            WeightLayout::GateTransposed {
                gates: self.gates(),
                n_in: self.dims.n_x,
                n_h: self.dims.n_h,
            }
        } else {
            WeightLayout::RowMajor {
                rows: self.gates() * self.dims.n_h,
                n_in: self.dims.n_h,
            }
        }
    }

    /// Layout of each layer's `w_hh`: row-major `[G·n_h][n_h]`.
    pub const fn w_hh_layout(&self) -> WeightLayout {
        WeightLayout::RowMajor {
            rows: self.gates() * self.dims.n_h,
            n_in: self.dims.n_h,
        }
    }

    /// Layout of `w_y`: row-major `[n_y][n_h]`.
    pub const fn w_y_layout(&self) -> WeightLayout {
        WeightLayout::RowMajor {
            rows: self.dims.n_y,
            n_in: self.dims.n_h,
        }
    }

    /// Number of weight-matrix elements (every layer's `w_ih` and `w_hh`, and `w_y`).
    pub const fn weight_count(&self) -> usize {
        let mut n = self.dims.n_y * self.dims.n_h;
        let mut l = 0;
        while l < self.n_layers {
            n += self.w_ih_len(l) + self.w_hh_len();
            l += 1;
        }
        n
    }

    /// Number of bias elements (every layer's `b` and `b_hn`, and `b_y`).
    pub const fn bias_count(&self) -> usize {
        self.n_layers * (self.b_len() + self.b_hn_len()) + self.dims.n_y
    }

    /// Number of q8 scales (0 for f32): `2 · G · n_h` per layer, plus `n_y`.
    pub const fn scale_count(&self) -> usize {
        match self.dtype {
            Dtype::F32 => 0,
            Dtype::Q8 => self.n_layers * 2 * self.layer_scale_len() + self.dims.n_y,
        }
    }

    /// Number of trainable parameters (weights and biases; scales are not parameters).
    pub const fn param_count(&self) -> usize {
        self.weight_count() + self.bias_count()
    }

    /// Bytes of tensor data in the file (weights at the dtype's size, f32 scales and biases).
    pub const fn weight_bytes(&self) -> usize {
        self.weight_count() * self.dtype.weight_size()
            + 4 * (self.scale_count() + self.bias_count())
    }

    /// Multiply-accumulates per step: every layer's `W_hh·h` and `W_ih·x`
    /// (one add per gate unit for a one-hot layer 0), and the output layer.
    pub const fn macs_per_token(&self) -> usize {
        let (g, h) = (self.gates(), self.dims.n_h);
        let input0 = match self.input {
            InputKind::OneHot => g * h,
            InputKind::Dense => g * self.dims.n_x * h,
        };
        self.n_layers * g * h * h
            + input0
            + self.n_layers.saturating_sub(1) * g * h * h
            + self.dims.n_y * h
    }

    /// Checks the layer count, every dimension, their agreement with the input
    /// kind, and (q8) the accumulator bound [`MAX_Q8_ROW`].
    ///
    /// # Errors
    /// [`Error::DimensionOutOfRange`], [`Error::DimensionMismatch`], [`Error::AccumulatorBound`].
    pub fn validate(&self) -> Result<(), Error> {
        check_range("n_layers", self.n_layers, MAX_LAYERS)?;
        self.dims.validate(self.input)?;
        if self.dtype == Dtype::Q8 {
            let mut rows = [("n_h", self.dims.n_h), ("n_x", 0)];
            if self.input == InputKind::Dense {
                rows[1].1 = self.dims.n_x;
            }
            for (name, n) in rows {
                if n > MAX_Q8_ROW {
                    return Err(Error::AccumulatorBound {
                        name,
                        n,
                        max: MAX_Q8_ROW,
                    });
                }
            }
        }
        Ok(())
    }
}

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

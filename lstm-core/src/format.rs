//! The weight file format, version 1: reader and writer side by side.
//!
//! A file is the postcard encoding of `FileV1`'s fields followed by a CRC-32
//! trailer; `FORMAT.md` at the crate root documents it byte for byte. Decoding
//! borrows from the input (no copy, no allocation) and validates everything
//! before it hands out a [`ModelView`].

use serde::{Deserialize, Serialize};

use crate::Error;

/// The four bytes every model file starts with.
pub const MAGIC: [u8; 4] = *b"LSTM";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest vocabulary / input / output size a file may declare.
pub const MAX_SYMBOLS: usize = 8192;
/// Largest hidden size a file may declare.
pub const MAX_HIDDEN: usize = 4096;
/// Size of the CRC-32 trailer in bytes.
pub const TRAILER_LEN: usize = 4;

pub(crate) const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Dtype code of little-endian IEEE-754 binary32 tensors.
const DTYPE_F32: u8 = 0;

/// How the model takes its input at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A symbol index; `W_ih · x` is a column gather. Requires `n_x == n_y`.
    OneHot,
    /// A dense vector of `n_x` values (sensor-style sequences).
    Dense,
}

impl InputKind {
    fn code(self) -> u8 {
        match self {
            InputKind::OneHot => 0,
            InputKind::Dense => 1,
        }
    }

    fn from_code(code: u8) -> Result<Self, Error> {
        match code {
            0 => Ok(InputKind::OneHot),
            1 => Ok(InputKind::Dense),
            found => Err(Error::UnsupportedInput { found }),
        }
    }
}

/// The three sizes of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Input size (the vocabulary size for one-hot input).
    pub n_x: usize,
    /// Hidden size.
    pub n_h: usize,
    /// Output size (the vocabulary size).
    pub n_y: usize,
}

impl Dims {
    /// Element count of `w_ih`: 4 gates × `n_x` × `n_h`.
    pub const fn w_ih_len(&self) -> usize {
        4 * self.n_x * self.n_h
    }
    /// Element count of `w_hh`: 4 gates × `n_h` × `n_h`.
    pub const fn w_hh_len(&self) -> usize {
        4 * self.n_h * self.n_h
    }
    /// Element count of `b`: 4 gates × `n_h`.
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
    /// Total number of parameters.
    pub const fn param_count(&self) -> usize {
        self.w_ih_len() + self.w_hh_len() + self.b_len() + self.w_y_len() + self.b_y_len()
    }
    /// Multiply-accumulates per step with one-hot input: `4·H·H + 4·H + Y·H`.
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

/// A model's parts, borrowed, in the file's tensor layout; what [`encode`] writes.
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

impl ModelParts<'_> {
    /// Checks dimensions, vocabulary, tensor lengths and that every value is finite.
    pub fn validate(&self) -> Result<(), Error> {
        self.dims.validate(self.input)?;
        validate_vocab(self.vocab, self.dims.n_y)?;
        let d = &self.dims;
        for (name, t, len) in [
            ("w_ih", self.w_ih, d.w_ih_len()),
            ("w_hh", self.w_hh, d.w_hh_len()),
            ("b", self.b, d.b_len()),
            ("w_y", self.w_y, d.w_y_len()),
            ("b_y", self.b_y, d.b_y_len()),
        ] {
            if t.len() != len {
                return Err(Error::TensorLength {
                    tensor: name,
                    expected: len,
                    found: t.len(),
                });
            }
            if let Some(index) = t.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    tensor: name,
                    index,
                });
            }
        }
        Ok(())
    }
}

/// Checks the vocabulary has exactly `n_y` symbols, none repeated.
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

/// The serialized body of a version-1 file, field by field (see `FORMAT.md`).
#[derive(Serialize, Deserialize)]
struct FileV1<'a> {
    magic: [u8; 4],
    version: u16,
    dtype: u8,
    input: u8,
    n_x: u32,
    n_h: u32,
    n_y: u32,
    #[serde(borrow)]
    vocab: &'a str,
    #[serde(borrow)]
    w_ih: &'a [u8],
    #[serde(borrow)]
    w_hh: &'a [u8],
    #[serde(borrow)]
    b: &'a [u8],
    #[serde(borrow)]
    w_y: &'a [u8],
    #[serde(borrow)]
    b_y: &'a [u8],
}

/// The first two fields of every version, read before anything else.
#[derive(Deserialize)]
struct Preamble {
    magic: [u8; 4],
    version: u16,
}

/// A borrowed tensor of little-endian f32 values, already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tensor<'a> {
    bytes: &'a [u8],
}

impl<'a> Tensor<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The raw little-endian bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The elements in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = f32> + 'a {
        self.bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// Copies the elements into `out`, which must have exactly [`Tensor::len`] elements.
    pub fn copy_to(&self, out: &mut [f32]) -> Result<(), Error> {
        if out.len() != self.len() {
            return Err(Error::BufferTooSmall {
                needed: self.len(),
                available: out.len(),
            });
        }
        for (o, v) in out.iter_mut().zip(self.iter()) {
            *o = v;
        }
        Ok(())
    }

    fn new(name: &'static str, bytes: &'a [u8], expected: usize) -> Result<Self, Error> {
        if !bytes.len().is_multiple_of(4) || bytes.len() / 4 != expected {
            return Err(Error::TensorLength {
                tensor: name,
                expected,
                found: bytes.len() / 4,
            });
        }
        let t = Tensor { bytes };
        if let Some(index) = t.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                tensor: name,
                index,
            });
        }
        Ok(t)
    }
}

/// A decoded, fully validated model borrowing the file's bytes.
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

fn map_postcard(e: postcard::Error) -> Error {
    match e {
        postcard::Error::DeserializeUnexpectedEnd => Error::Truncated,
        _ => Error::Malformed,
    }
}

/// Decodes and validates a model file.
///
/// # Errors
/// Any deviation from the format: bad magic, unknown version or dtype,
/// truncation, a checksum mismatch, trailing bytes, out-of-range or
/// inconsistent dimensions, wrong tensor lengths, non-finite values, a
/// vocabulary of the wrong size or with repeated symbols.
pub fn decode(bytes: &[u8]) -> Result<ModelView<'_>, Error> {
    let Some(head) = bytes.first_chunk::<4>() else {
        return Err(Error::Truncated);
    };
    if *head != MAGIC {
        return Err(Error::BadMagic { found: *head });
    }
    let (pre, _) = postcard::take_from_bytes::<Preamble>(bytes).map_err(map_postcard)?;
    debug_assert_eq!(pre.magic, MAGIC);
    if pre.version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: pre.version,
            supported: FORMAT_VERSION,
        });
    }
    let (file, rest) = postcard::take_from_bytes::<FileV1<'_>>(bytes).map_err(map_postcard)?;
    let body_len = bytes.len() - rest.len();
    let Some((trailer, extra)) = rest.split_first_chunk::<TRAILER_LEN>() else {
        return Err(Error::Truncated);
    };
    if !extra.is_empty() {
        return Err(Error::TrailingBytes { count: extra.len() });
    }
    let stored = u32::from_le_bytes(*trailer);
    let computed = CRC32.checksum(bytes.get(..body_len).ok_or(Error::Truncated)?);
    if stored != computed {
        return Err(Error::Checksum { stored, computed });
    }
    if file.dtype != DTYPE_F32 {
        return Err(Error::UnsupportedDtype { found: file.dtype });
    }
    let input = InputKind::from_code(file.input)?;
    let dims = Dims {
        n_x: file.n_x as usize,
        n_h: file.n_h as usize,
        n_y: file.n_y as usize,
    };
    dims.validate(input)?;
    validate_vocab(file.vocab, dims.n_y)?;
    Ok(ModelView {
        input,
        dims,
        vocab: file.vocab,
        w_ih: Tensor::new("w_ih", file.w_ih, dims.w_ih_len())?,
        w_hh: Tensor::new("w_hh", file.w_hh, dims.w_hh_len())?,
        b: Tensor::new("b", file.b, dims.b_len())?,
        w_y: Tensor::new("w_y", file.w_y, dims.w_y_len())?,
        b_y: Tensor::new("b_y", file.b_y, dims.b_y_len())?,
    })
}

fn to_file<'a>(parts: &ModelParts<'a>) -> Result<FileV1<'a>, Error> {
    parts.validate()?;
    let d = parts.dims;
    // Dimensions are bounded by MAX_SYMBOLS / MAX_HIDDEN, so they fit in u32.
    let u = |v: usize| u32::try_from(v).map_err(|_| Error::Malformed);
    Ok(FileV1 {
        magic: MAGIC,
        version: FORMAT_VERSION,
        dtype: DTYPE_F32,
        input: parts.input.code(),
        n_x: u(d.n_x)?,
        n_h: u(d.n_h)?,
        n_y: u(d.n_y)?,
        vocab: parts.vocab,
        w_ih: le_bytes(parts.w_ih),
        w_hh: le_bytes(parts.w_hh),
        b: le_bytes(parts.b),
        w_y: le_bytes(parts.w_y),
        b_y: le_bytes(parts.b_y),
    })
}

#[cfg(target_endian = "little")]
fn le_bytes(t: &[f32]) -> &[u8] {
    bytemuck::cast_slice(t)
}

#[cfg(not(target_endian = "little"))]
compile_error!(
    "lstm-core's encoder writes little-endian f32 tensors by reinterpreting memory; big-endian hosts are not supported"
);

/// Number of bytes [`encode`] writes for `parts`.
///
/// # Errors
/// As [`ModelParts::validate`].
pub fn encoded_len(parts: &ModelParts<'_>) -> Result<usize, Error> {
    let file = to_file(parts)?;
    let body = postcard::experimental::serialized_size(&file).map_err(|_| Error::Malformed)?;
    Ok(body + TRAILER_LEN)
}

/// Validates `parts` and writes the model file into `out`; returns the number of bytes written.
///
/// # Errors
/// As [`ModelParts::validate`], or [`Error::BufferTooSmall`].
pub fn encode(parts: &ModelParts<'_>, out: &mut [u8]) -> Result<usize, Error> {
    let needed = encoded_len(parts)?;
    if out.len() < needed {
        return Err(Error::BufferTooSmall {
            needed,
            available: out.len(),
        });
    }
    let available = out.len();
    let too_small = Error::BufferTooSmall { needed, available };
    let file = to_file(parts)?;
    let body_len = postcard::to_slice(&file, out).map_err(|_| too_small)?.len();
    let crc = CRC32.checksum(out.get(..body_len).ok_or(too_small)?);
    out.get_mut(body_len..body_len + TRAILER_LEN)
        .ok_or(too_small)?
        .copy_from_slice(&crc.to_le_bytes());
    Ok(body_len + TRAILER_LEN)
}

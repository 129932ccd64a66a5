//! Tensors and models as the format hands them out (views, borrowing a file)
//! and takes them in (parts, borrowing the writer's slices).

use super::wire::{self, RawLayer, RawWeights};
use super::{Dtype, Header, MAX_LAYERS, ModelView, TokenKind};
use crate::Error;

/// A borrowed tensor of little-endian f32 values, already validated.
///
/// The bytes sit wherever they sit in the file, so they need not be 4-byte
/// aligned: read them with [`Tensor::iter`] or [`Tensor::copy_to`], or ask
/// for a slice with [`Tensor::as_slice`], which succeeds when they are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

    /// The elements as a slice, if the bytes are 4-byte aligned (`None` otherwise).
    pub fn as_slice(&self) -> Option<&'a [f32]> {
        bytemuck::try_cast_slice(self.bytes).ok()
    }

    /// Element `i`, if in range.
    pub fn get(&self, i: usize) -> Option<f32> {
        let c = self.bytes.get(4 * i..4 * i + 4)?;
        Some(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
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

    /// Checks `bytes` hold exactly `expected` finite f32 values.
    pub(super) fn checked(
        name: &'static str,
        bytes: &'a [u8],
        expected: usize,
    ) -> Result<Self, Error> {
        if !bytes.len().is_multiple_of(4) || bytes.len() / 4 != expected {
            return Err(Error::TensorLength {
                tensor: name,
                expected,
                found: bytes.len().div_ceil(4),
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

/// A borrowed, validated q8 weight matrix: int8 values in [-127, 127] and one
/// positive finite f32 scale per output unit; element `i` is `q[i] · scale[unit(i)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QTensor<'a> {
    q: &'a [i8],
    scale: Tensor<'a>,
}

impl<'a> QTensor<'a> {
    /// The int8 values, in the matrix's layout.
    pub fn q(&self) -> &'a [i8] {
        self.q
    }

    /// The scales, one per output unit (see [`WeightLayout::unit_of`]).
    pub fn scale(&self) -> Tensor<'a> {
        self.scale
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// True if the matrix has no elements.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// A borrowed, validated weight matrix of either dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights<'a> {
    /// f32 values.
    F32(Tensor<'a>),
    /// int8 values with per-unit scales.
    Q8(QTensor<'a>),
}

impl Default for Weights<'_> {
    fn default() -> Self {
        Weights::F32(Tensor::default())
    }
}

impl<'a> Weights<'a> {
    /// The dtype of the values.
    pub fn dtype(&self) -> Dtype {
        match self {
            Weights::F32(_) => Dtype::F32,
            Weights::Q8(_) => Dtype::Q8,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Weights::F32(t) => t.len(),
            Weights::Q8(t) => t.len(),
        }
    }

    /// True if the matrix has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The f32 tensor, if the dtype is f32.
    pub fn as_f32(&self) -> Option<Tensor<'a>> {
        match *self {
            Weights::F32(t) => Some(t),
            Weights::Q8(_) => None,
        }
    }

    /// The q8 tensor, if the dtype is q8.
    pub fn as_q8(&self) -> Option<QTensor<'a>> {
        match *self {
            Weights::Q8(t) => Some(t),
            Weights::F32(_) => None,
        }
    }

    /// Writes the f32 value of every element (`q · scale` for q8) into `out`, in the same layout.
    ///
    /// # Errors
    /// [`Error::TensorLength`] if `layout` or `out` does not match the matrix's length.
    pub fn dequantize_into(&self, layout: WeightLayout, out: &mut [f32]) -> Result<(), Error> {
        if layout.len() != self.len() {
            return Err(Error::TensorLength {
                tensor: "layout",
                expected: self.len(),
                found: layout.len(),
            });
        }
        match self {
            Weights::F32(t) => t.copy_to(out),
            Weights::Q8(t) => {
                if out.len() != t.len() {
                    return Err(Error::BufferTooSmall {
                        needed: t.len(),
                        available: out.len(),
                    });
                }
                for (i, (o, &q)) in out.iter_mut().zip(t.q).enumerate() {
                    let s = t.scale.get(layout.unit_of(i)).unwrap_or(0.0);
                    *o = f32::from(q) * s;
                }
                Ok(())
            }
        }
    }
}

/// Where each element of a weight matrix sits, and which output unit (which scale) it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightLayout {
    /// `[gates][n_in][n_h]`: each gate block transposed (layer 0's `w_ih`); element `(g, j, k)` feeds unit `g·n_h + k`.
    GateTransposed {
        /// Number of gate blocks.
        gates: usize,
        /// Input size.
        n_in: usize,
        /// Hidden size.
        n_h: usize,
    },
    /// `[rows][n_in]`, row-major (out, in); element `(r, j)` feeds unit `r`.
    RowMajor {
        /// Number of output units.
        rows: usize,
        /// Input size (row length: the length of the dot product).
        n_in: usize,
    },
}

impl WeightLayout {
    /// Number of elements.
    pub const fn len(&self) -> usize {
        match *self {
            WeightLayout::GateTransposed { gates, n_in, n_h } => gates * n_in * n_h,
            WeightLayout::RowMajor { rows, n_in } => rows * n_in,
        }
    }

    /// True if the layout has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of output units, and so of q8 scales.
    pub const fn units(&self) -> usize {
        match *self {
            WeightLayout::GateTransposed { gates, n_h, .. } => gates * n_h,
            WeightLayout::RowMajor { rows, .. } => rows,
        }
    }

    /// Quantizes `w` (in this layout) to symmetric int8 with one scale per
    /// output unit: `scale[u] = max|w of u| / 127` (1 for an all-zero unit,
    /// at least `f32::MIN_POSITIVE` otherwise),
    /// `q = round(w / scale[u])` (half away from zero), so `|q·scale − w| ≤ scale/2`.
    ///
    /// # Errors
    /// [`Error::TensorLength`] if a slice length does not match the layout,
    /// [`Error::NonFinite`] for a NaN or infinite weight.
    pub fn quantize(&self, w: &[f32], q: &mut [i8], scale: &mut [f32]) -> Result<(), Error> {
        Self::quantize_shared(&mut [(*self, w, q)], scale)
    }

    /// Quantizes matrices that share one scale per output unit (a layer's
    /// `w_ih` and `w_hh` under [`Dtype::Q8Shared`]) by the rule of
    /// [`WeightLayout::quantize`], with `max|w of u|` taken over every
    /// matrix: each `(layout, w, q)` gets `q = round(w / scale[u])`.
    ///
    /// # Errors
    /// [`Error::TensorLength`] if a slice length does not match its layout
    /// (or `scale` a layout's units), [`Error::NonFinite`] for a NaN or
    /// infinite weight.
    pub fn quantize_shared(
        mats: &mut [(WeightLayout, &[f32], &mut [i8])],
        scale: &mut [f32],
    ) -> Result<(), Error> {
        for (layout, w, q) in mats.iter() {
            for (tensor, expected, found) in [
                ("w", layout.len(), w.len()),
                ("q", layout.len(), q.len()),
                ("scale", layout.units(), scale.len()),
            ] {
                if expected != found {
                    return Err(Error::TensorLength {
                        tensor,
                        expected,
                        found,
                    });
                }
            }
            if let Some(index) = w.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite { tensor: "w", index });
            }
        }
        scale.fill(0.0);
        for (layout, w, _) in mats.iter() {
            for (i, v) in w.iter().enumerate() {
                if let Some(m) = scale.get_mut(layout.unit_of(i)) {
                    *m = m.max(v.abs());
                }
            }
        }
        for s in scale.iter_mut() {
            // At least the smallest normal f32: a subnormal scale would lose
            // the precision that keeps every weight within half a step.
            let step = *s / 127.0;
            *s = if *s == 0.0 {
                1.0
            } else if step >= f32::MIN_POSITIVE {
                step
            } else {
                f32::MIN_POSITIVE
            };
        }
        for (layout, w, q) in mats.iter_mut() {
            for (i, (q, v)) in q.iter_mut().zip(w.iter()).enumerate() {
                let s = scale.get(layout.unit_of(i)).copied().unwrap_or(1.0);
                // In [-127, 127] by construction; the clamp only guards rounding at the edge.
                *q = libm::roundf(v / s).clamp(-127.0, 127.0) as i8;
            }
        }
        Ok(())
    }

    /// The output unit (scale index) element `index` feeds.
    pub const fn unit_of(&self, index: usize) -> usize {
        match *self {
            WeightLayout::GateTransposed { n_in, n_h, .. } => {
                match index.checked_div(n_in * n_h) {
                    // n_in · n_h ≠ 0, so n_h ≠ 0.
                    Some(gate) => gate * n_h + index % n_h,
                    None => 0,
                }
            }
            WeightLayout::RowMajor { n_in, .. } => match index.checked_div(n_in) {
                Some(row) => row,
                None => 0,
            },
        }
    }
}

/// A weight matrix as the writer holds it, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightParts<'a> {
    /// f32 values.
    F32(&'a [f32]),
    /// int8 values (in [-127, 127]) and one positive finite scale per output unit.
    Q8 {
        /// The values, in the matrix's layout.
        q: &'a [i8],
        /// The scales, indexed by [`WeightLayout::unit_of`].
        scale: &'a [f32],
    },
}

impl<'a> WeightParts<'a> {
    /// The dtype of the values.
    pub const fn dtype(&self) -> Dtype {
        match self {
            WeightParts::F32(_) => Dtype::F32,
            WeightParts::Q8 { .. } => Dtype::Q8,
        }
    }

    fn raw(&self, name: &'static str, dtype: Dtype) -> Result<RawWeights<'a>, Error> {
        if self.dtype() != dtype.kernel() {
            return Err(Error::DtypeMismatch { tensor: name });
        }
        Ok(match *self {
            WeightParts::F32(v) => RawWeights {
                data: wire::le_bytes(v),
                scale: &[],
            },
            WeightParts::Q8 { q, scale } => RawWeights {
                data: bytemuck::cast_slice(q),
                scale: wire::le_bytes(scale),
            },
        })
    }
}

/// One layer as the writer holds it, borrowed, in the file's layout (see `FORMAT.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerParts<'a> {
    /// Input weights: `[G][n_x][n_h]` (layer 0, gate-transposed) or `[G·n_h][n_h]` (layers above).
    pub w_ih: WeightParts<'a>,
    /// Recurrent weights, `[G·n_h][n_h]`. With [`Dtype::Q8Shared`] its `scale`
    /// is empty or exactly `w_ih`'s (written once, with `w_ih`).
    pub w_hh: WeightParts<'a>,
    /// Gate biases, `[G][n_h]` (lstm/rnn: `b_ih + b_hh`; gru: `b_ir + b_hr`, `b_iz + b_hz`, `b_in`).
    pub b: &'a [f32],
    /// The gru's `b_hn`, `[n_h]`; empty for lstm and rnn.
    pub b_hn: &'a [f32],
}

/// A whole model as the writer holds it, borrowed; what [`super::encode_family`] writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FamilyParts<'a> {
    /// Cell kind, dtype, input and token kinds, sizes and layer count.
    pub header: Header,
    /// The output symbols in index order (chars concatenated, or words joined by single spaces).
    pub vocab: &'a str,
    /// The layers, bottom first; exactly `header.n_layers` of them.
    pub layers: &'a [LayerParts<'a>],
    /// Output weights, `[n_y][n_h]`.
    pub w_y: WeightParts<'a>,
    /// Output bias, `[n_y]`.
    pub b_y: &'a [f32],
}

impl<'a> FamilyParts<'a> {
    /// Checks the header, vocabulary, layer count, dtypes, tensor lengths and values.
    ///
    /// # Errors
    /// The first problem found, as [`super::decode_family`] would report it,
    /// or [`Error::DtypeMismatch`] for a matrix of the other dtype.
    pub fn validate(&self) -> Result<(), Error> {
        self.view().map(|_| ())
    }

    pub(super) fn view(&self) -> Result<FamilyView<'a>, Error> {
        view_of(
            super::FORMAT_VERSION,
            self.header,
            self.vocab,
            self.layers,
            self.w_y,
            self.b_y,
        )
    }
}

/// Validates a model given as parts and builds its view (to be written as `version`).
pub(super) fn view_of<'a>(
    version: u16,
    h: Header,
    vocab: &'a str,
    layers: &[LayerParts<'a>],
    w_y: WeightParts<'a>,
    b_y: &'a [f32],
) -> Result<FamilyView<'a>, Error> {
    h.validate()?;
    if layers.len() != h.n_layers {
        return Err(Error::DimensionMismatch {
            name: "n_layers",
            expected: h.n_layers,
            found: layers.len(),
        });
    }
    let mut raw = [RawLayer::default(); MAX_LAYERS];
    for (l, (r, p)) in raw.iter_mut().zip(layers).enumerate() {
        let names = wire::LAYER_NAMES[l];
        let w_ih = p.w_ih.raw(names[0], h.dtype)?;
        let mut w_hh = p.w_hh.raw(names[2], h.dtype)?;
        if h.dtype.shares_scales() && w_hh.scale == w_ih.scale {
            // Given as the view hands them out (w_ih's scales): stored once.
            w_hh.scale = &[];
        }
        *r = RawLayer {
            w_ih,
            w_hh,
            b: wire::le_bytes(p.b),
            b_hn: wire::le_bytes(p.b_hn),
        };
    }
    let w_y = w_y.raw("w_y", h.dtype)?;
    wire::build(
        version,
        h,
        vocab,
        &raw[..h.n_layers],
        w_y,
        wire::le_bytes(b_y),
    )
}

/// One decoded, validated layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerView<'a> {
    /// Input weights: `[G][n_x][n_h]` (layer 0, gate-transposed) or `[G·n_h][n_h]` (layers above).
    pub w_ih: Weights<'a>,
    /// Recurrent weights, `[G·n_h][n_h]` (with [`Dtype::Q8Shared`], its scales are `w_ih`'s).
    pub w_hh: Weights<'a>,
    /// Gate biases, `[G][n_h]`.
    pub b: Tensor<'a>,
    /// The gru's `b_hn`, `[n_h]`; empty for lstm and rnn.
    pub b_hn: Tensor<'a>,
}

/// A decoded, fully validated model of any family member, borrowing the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyView<'a> {
    /// The format version of the file it was read from (2 when built from parts).
    pub version: u16,
    /// Cell kind, dtype, input and token kinds, sizes and layer count.
    pub header: Header,
    /// The output symbols in index order (see [`FamilyView::symbols`]).
    pub vocab: &'a str,
    layers: [LayerView<'a>; MAX_LAYERS],
    /// Output weights, `[n_y][n_h]`.
    pub w_y: Weights<'a>,
    /// Output bias, `[n_y]`.
    pub b_y: Tensor<'a>,
}

impl<'a> FamilyView<'a> {
    pub(super) fn new(
        version: u16,
        header: Header,
        vocab: &'a str,
        layers: [LayerView<'a>; MAX_LAYERS],
        w_y: Weights<'a>,
        b_y: Tensor<'a>,
    ) -> Self {
        FamilyView {
            version,
            header,
            vocab,
            layers,
            w_y,
            b_y,
        }
    }

    /// The layers, bottom first (`header.n_layers` of them).
    pub fn layers(&self) -> &[LayerView<'a>] {
        self.layers
            .get(..self.header.n_layers)
            .unwrap_or(&self.layers)
    }

    /// The vocabulary's symbols in index order (each char as a `&str`, or each word).
    pub fn symbols(&self) -> impl Iterator<Item = &'a str> + 'a {
        let tokens: TokenKind = self.header.tokens;
        tokens.symbols(self.vocab)
    }

    /// The version-1-shaped view of a single-layer f32 LSTM character model.
    ///
    /// # Errors
    /// [`Error::UnsupportedModel`] naming the first feature that shape cannot hold.
    pub fn plain(&self) -> Result<ModelView<'a>, Error> {
        let h = &self.header;
        let what = if h.cell != super::CellKind::Lstm {
            Some(match h.cell {
                super::CellKind::Gru => "a gru cell",
                _ => "an rnn cell",
            })
        } else if h.n_layers != 1 {
            Some("more than one layer")
        } else if h.dtype != Dtype::F32 {
            Some("q8 weights")
        } else if h.tokens != TokenKind::Chars {
            Some("word tokens")
        } else {
            None
        };
        let l = self.layers[0];
        match (what, l.w_ih, l.w_hh, self.w_y) {
            (None, Weights::F32(w_ih), Weights::F32(w_hh), Weights::F32(w_y)) => Ok(ModelView {
                input: h.input,
                dims: h.dims,
                vocab: self.vocab,
                w_ih,
                w_hh,
                b: l.b,
                w_y,
                b_y: self.b_y,
            }),
            (what, ..) => Err(Error::UnsupportedModel {
                what: what.unwrap_or("q8 weights"),
            }),
        }
    }
}

pub(super) fn qtensor_from<'a>(q: &'a [i8], scale: Tensor<'a>) -> QTensor<'a> {
    QTensor { q, scale }
}

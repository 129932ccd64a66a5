//! The bytes: a strict reader (canonical varints only) and the writer, for
//! both versions, and the one validation every model goes through.

use serde::Deserialize;
use serde::ser::{Serialize, SerializeTuple, Serializer};

use super::tensor::{self, FamilyView, LayerView, Tensor, Weights};
use super::{
    CRC32, CellKind, Dims, Dtype, FORMAT_VERSION, FORMAT_VERSION_1, Header, InputKind, MAGIC,
    MAX_LAYERS, TRAILER_LEN, TokenKind, WeightLayout,
};
use crate::Error;

/// Tensor names per layer, as errors report them: weights, their scales, `b`, `b_hn`.
pub(super) const LAYER_NAMES: [[&str; 6]; MAX_LAYERS] = [
    ["w_ih", "w_ih.scale", "w_hh", "w_hh.scale", "b", "b_hn"],
    [
        "l1.w_ih",
        "l1.w_ih.scale",
        "l1.w_hh",
        "l1.w_hh.scale",
        "l1.b",
        "l1.b_hn",
    ],
    [
        "l2.w_ih",
        "l2.w_ih.scale",
        "l2.w_hh",
        "l2.w_hh.scale",
        "l2.b",
        "l2.b_hn",
    ],
    [
        "l3.w_ih",
        "l3.w_ih.scale",
        "l3.w_hh",
        "l3.w_hh.scale",
        "l3.b",
        "l3.b_hn",
    ],
];

/// A weight matrix's two byte strings: values (f32 or i8) and scales (empty for f32).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RawWeights<'a> {
    pub data: &'a [u8],
    pub scale: &'a [u8],
}

/// A layer's byte strings, not yet validated.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RawLayer<'a> {
    pub w_ih: RawWeights<'a>,
    pub w_hh: RawWeights<'a>,
    pub b: &'a [u8],
    pub b_hn: &'a [u8],
}

#[cfg(target_endian = "little")]
pub(super) fn le_bytes(t: &[f32]) -> &[u8] {
    bytemuck::cast_slice(t)
}

#[cfg(not(target_endian = "little"))]
compile_error!(
    "lstm-core's format reinterprets little-endian f32 tensors in memory; big-endian targets are not supported"
);

/// Validates a model given as byte strings and builds its view: the one
/// check both the reader and the writers run.
pub(super) fn build<'a>(
    version: u16,
    header: Header,
    vocab: &'a str,
    layers: &[RawLayer<'a>],
    w_y: RawWeights<'a>,
    b_y: &'a [u8],
) -> Result<FamilyView<'a>, Error> {
    header.validate()?;
    header.tokens.validate(vocab, header.dims.n_y)?;
    let mut views = [LayerView::default(); MAX_LAYERS];
    for (l, (view, raw)) in views.iter_mut().zip(layers).enumerate() {
        let names = LAYER_NAMES[l];
        let w_ih = weights(
            names[0],
            names[1],
            raw.w_ih,
            header.dtype,
            header.w_ih_layout(l),
            None,
        )?;
        // Shared scales: w_hh's string is empty and its units use w_ih's.
        let shared = match w_ih {
            Weights::Q8(t) if header.dtype.shares_scales() => Some(t.scale()),
            _ => None,
        };
        *view = LayerView {
            w_ih,
            w_hh: weights(
                names[2],
                names[3],
                raw.w_hh,
                header.dtype,
                header.w_hh_layout(),
                shared,
            )?,
            b: Tensor::checked(names[4], raw.b, header.b_len())?,
            b_hn: Tensor::checked(names[5], raw.b_hn, header.b_hn_len())?,
        };
    }
    let w_y = weights(
        "w_y",
        "w_y.scale",
        w_y,
        header.dtype,
        header.w_y_layout(),
        None,
    )?;
    let b_y = Tensor::checked("b_y", b_y, header.dims.n_y)?;
    Ok(FamilyView::new(version, header, vocab, views, w_y, b_y))
}

/// Validates one weight matrix's strings. `shared`: the scales it uses
/// instead of its own (a shared-scale `w_hh`, whose scale string must be empty).
fn weights<'a>(
    name: &'static str,
    scale_name: &'static str,
    raw: RawWeights<'a>,
    dtype: Dtype,
    layout: WeightLayout,
    shared: Option<Tensor<'a>>,
) -> Result<Weights<'a>, Error> {
    match dtype {
        Dtype::F32 => {
            let t = Tensor::checked(name, raw.data, layout.len())?;
            Tensor::checked(scale_name, raw.scale, 0)?;
            Ok(Weights::F32(t))
        }
        Dtype::Q8 | Dtype::Q8Shared => {
            if raw.data.len() != layout.len() {
                return Err(Error::TensorLength {
                    tensor: name,
                    expected: layout.len(),
                    found: raw.data.len(),
                });
            }
            let q: &[i8] = bytemuck::cast_slice(raw.data);
            if let Some(index) = q.iter().position(|&v| v == i8::MIN) {
                return Err(Error::QuantOutOfRange {
                    tensor: name,
                    index,
                });
            }
            if let Some(scale) = shared {
                Tensor::checked(scale_name, raw.scale, 0)?;
                return Ok(Weights::Q8(tensor::qtensor_from(q, scale)));
            }
            let scale =
                Tensor::checked(scale_name, raw.scale, layout.units()).map_err(|e| match e {
                    Error::NonFinite { tensor, index } => Error::BadScale { tensor, index },
                    e => e,
                })?;
            if let Some(index) = scale.iter().position(|s| s <= 0.0) {
                return Err(Error::BadScale {
                    tensor: scale_name,
                    index,
                });
            }
            Ok(Weights::Q8(tensor::qtensor_from(q, scale)))
        }
    }
}

fn map_postcard(e: postcard::Error) -> Error {
    match e {
        postcard::Error::DeserializeUnexpectedEnd => Error::Truncated,
        _ => Error::Malformed,
    }
}

/// Length of the canonical (shortest) LEB128 encoding of `v`.
const fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    if bits == 0 { 1 } else { bits.div_ceil(7) }
}

/// Reads postcard fields one at a time, noting the first one whose varint is not canonical.
struct Reader<'a> {
    rest: &'a [u8],
    overlong: Option<&'static str>,
}

impl<'a> Reader<'a> {
    /// Takes one `T`; returns it and its canonical length, or records `field` as overlong.
    fn take<T: Deserialize<'a>>(&mut self) -> Result<(T, usize), Error> {
        let (v, rest) = postcard::take_from_bytes::<T>(self.rest).map_err(map_postcard)?;
        let used = self.rest.len() - rest.len();
        self.rest = rest;
        Ok((v, used))
    }

    fn check(&mut self, field: &'static str, used: usize, canonical: usize) {
        if used != canonical && self.overlong.is_none() {
            self.overlong = Some(field);
        }
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take::<u8>()?.0)
    }

    fn varint(&mut self, field: &'static str) -> Result<u32, Error> {
        let (v, used) = self.take::<u32>()?;
        self.check(field, used, varint_len(u64::from(v)));
        Ok(v)
    }

    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], Error> {
        let (v, used) = self.take::<&'a [u8]>()?;
        self.check(field, used, varint_len(v.len() as u64) + v.len());
        Ok(v)
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, Error> {
        let (v, used) = self.take::<&'a str>()?;
        self.check(field, used, varint_len(v.len() as u64) + v.len());
        Ok(v)
    }

    fn weights(
        &mut self,
        name: &'static str,
        scale: &'static str,
    ) -> Result<RawWeights<'a>, Error> {
        Ok(RawWeights {
            data: self.bytes(name)?,
            scale: self.bytes(scale)?,
        })
    }
}

/// Reads, checks and validates a file of version 1 or 2 (see `FORMAT.md`).
pub(super) fn decode(bytes: &[u8]) -> Result<FamilyView<'_>, Error> {
    let Some((head, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(Error::Truncated);
    };
    if *head != MAGIC {
        return Err(Error::BadMagic { found: *head });
    }
    let mut r = Reader {
        rest,
        overlong: None,
    };
    let (version, used) = r.take::<u16>()?;
    r.check("version", used, varint_len(u64::from(version)));
    if version != FORMAT_VERSION_1 && version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    // Structure: every field up to the trailer. Codes are only read here;
    // they are judged after the checksum, so corruption reports as such.
    let v2 = version == FORMAT_VERSION;
    let cell = if v2 { r.u8()? } else { CellKind::Lstm.code() };
    let dtype = r.u8()?;
    let input = r.u8()?;
    let tokens = if v2 { r.u8()? } else { TokenKind::Chars.code() };
    let n_x = r.varint("n_x")?;
    let n_h = r.varint("n_h")?;
    let n_y = r.varint("n_y")?;
    let n_layers = if v2 { r.varint("n_layers")? } else { 1 };
    let vocab = r.str("vocab")?;
    let mut layers = [RawLayer::default(); MAX_LAYERS];
    for l in 0..n_layers as usize {
        // Layers past MAX_LAYERS are walked (to find the trailer) but not kept.
        let names = LAYER_NAMES.get(l).copied().unwrap_or(["layer"; 6]);
        let raw = if v2 {
            RawLayer {
                w_ih: r.weights(names[0], names[1])?,
                w_hh: r.weights(names[2], names[3])?,
                b: r.bytes(names[4])?,
                b_hn: r.bytes(names[5])?,
            }
        } else {
            RawLayer {
                w_ih: RawWeights {
                    data: r.bytes(names[0])?,
                    scale: &[],
                },
                w_hh: RawWeights {
                    data: r.bytes(names[2])?,
                    scale: &[],
                },
                b: r.bytes(names[4])?,
                b_hn: &[],
            }
        };
        if let Some(slot) = layers.get_mut(l) {
            *slot = raw;
        }
    }
    let w_y = if v2 {
        r.weights("w_y", "w_y.scale")?
    } else {
        RawWeights {
            data: r.bytes("w_y")?,
            scale: &[],
        }
    };
    let b_y = r.bytes("b_y")?;

    // Trailer: exactly four bytes, the CRC-32 of everything before them.
    let body_len = bytes.len() - r.rest.len();
    let Some((trailer, extra)) = r.rest.split_first_chunk::<TRAILER_LEN>() else {
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
    if let Some(field) = r.overlong {
        return Err(Error::NonCanonicalVarint { field });
    }

    // Meaning: codes, sizes, vocabulary, tensors.
    let cell = CellKind::from_code(cell)?;
    let dtype = Dtype::from_code(dtype)?;
    if !v2 && dtype != Dtype::F32 {
        return Err(Error::UnsupportedDtype {
            found: dtype.code(),
        });
    }
    let header = Header {
        cell,
        dtype,
        input: InputKind::from_code(input)?,
        tokens: TokenKind::from_code(tokens)?,
        dims: Dims {
            n_x: n_x as usize,
            n_h: n_h as usize,
            n_y: n_y as usize,
        },
        n_layers: n_layers as usize,
    };
    header.validate()?;
    build(version, header, vocab, &layers[..header.n_layers], w_y, b_y)
}

/// A byte string, written as postcard writes `&[u8]` (varint length, then the bytes).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

fn weight_strings<'a>(w: &Weights<'a>) -> (Bytes<'a>, Bytes<'a>) {
    match *w {
        Weights::F32(t) => (Bytes(t.as_bytes()), Bytes(&[])),
        Weights::Q8(q) => (
            Bytes(bytemuck::cast_slice(q.q())),
            Bytes(q.scale().as_bytes()),
        ),
    }
}

/// A validated model and the version to write it as: the body of a file, before the trailer.
struct Body<'v, 'a> {
    view: &'v FamilyView<'a>,
    version: u16,
}

impl Serialize for Body<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = &self.view.header;
        let v2 = self.version == FORMAT_VERSION;
        // Sizes are validated (at most MAX_SYMBOLS, MAX_HIDDEN, MAX_LAYERS), so they fit in u32.
        let u = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut t = s.serialize_tuple(0)?;
        t.serialize_element(&MAGIC)?;
        t.serialize_element(&self.version)?;
        if v2 {
            t.serialize_element(&h.cell.code())?;
        }
        t.serialize_element(&h.dtype.code())?;
        t.serialize_element(&h.input.code())?;
        if v2 {
            t.serialize_element(&h.tokens.code())?;
        }
        t.serialize_element(&u(h.dims.n_x))?;
        t.serialize_element(&u(h.dims.n_h))?;
        t.serialize_element(&u(h.dims.n_y))?;
        if v2 {
            t.serialize_element(&u(h.n_layers))?;
        }
        t.serialize_element(self.view.vocab)?;
        for l in self.view.layers() {
            let (w_ih, w_ih_scale) = weight_strings(&l.w_ih);
            let (w_hh, mut w_hh_scale) = weight_strings(&l.w_hh);
            if h.dtype.shares_scales() {
                // Stored once, with w_ih.
                w_hh_scale = Bytes(&[]);
            }
            t.serialize_element(&w_ih)?;
            if v2 {
                t.serialize_element(&w_ih_scale)?;
            }
            t.serialize_element(&w_hh)?;
            if v2 {
                t.serialize_element(&w_hh_scale)?;
            }
            t.serialize_element(&Bytes(l.b.as_bytes()))?;
            if v2 {
                t.serialize_element(&Bytes(l.b_hn.as_bytes()))?;
            }
        }
        let (w_y, w_y_scale) = weight_strings(&self.view.w_y);
        t.serialize_element(&w_y)?;
        if v2 {
            t.serialize_element(&w_y_scale)?;
        }
        t.serialize_element(&Bytes(self.view.b_y.as_bytes()))?;
        t.end()
    }
}

/// Number of bytes [`encode`] writes for `view`.
pub(super) fn encoded_len(view: &FamilyView<'_>) -> Result<usize, Error> {
    let body = Body {
        view,
        version: view.version,
    };
    let n = postcard::experimental::serialized_size(&body).map_err(|_| Error::Malformed)?;
    Ok(n + TRAILER_LEN)
}

/// Writes `view` as a file of version `view.version` (validated already) into `out`.
pub(super) fn encode(view: &FamilyView<'_>, out: &mut [u8]) -> Result<usize, Error> {
    let needed = encoded_len(view)?;
    let available = out.len();
    let too_small = Error::BufferTooSmall { needed, available };
    if available < needed {
        return Err(too_small);
    }
    let body = Body {
        view,
        version: view.version,
    };
    let body_len = postcard::to_slice(&body, out).map_err(|_| too_small)?.len();
    let crc = CRC32.checksum(out.get(..body_len).ok_or(too_small)?);
    out.get_mut(body_len..body_len + TRAILER_LEN)
        .ok_or(too_small)?
        .copy_from_slice(&crc.to_le_bytes());
    Ok(body_len + TRAILER_LEN)
}

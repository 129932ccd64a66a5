//! Shared helpers of the format-version-2 tests: owned family models, the
//! wire written independently of the library, and a header strategy.

use lstm_core::Error;
use lstm_core::format::{
    self, CellKind, Dims, Dtype, FamilyParts, FamilyView, Header, InputKind, LayerParts, TokenKind,
    WeightParts, Weights,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- owned models

/// One weight matrix, owned: f32 values or q8 values with their scales.
#[derive(Debug, Clone, PartialEq)]
pub enum W {
    F32(Vec<f32>),
    Q8(Vec<i8>, Vec<f32>),
}

impl W {
    /// The borrowed parts `encode_family` takes.
    pub fn parts(&self) -> WeightParts<'_> {
        match self {
            W::F32(v) => WeightParts::F32(v),
            W::Q8(q, s) => WeightParts::Q8 { q, scale: s },
        }
    }

    /// An owned copy of a decoded matrix.
    pub fn from_view(w: Weights<'_>) -> Self {
        match w {
            Weights::F32(t) => W::F32(t.iter().collect()),
            Weights::Q8(t) => W::Q8(t.q().to_vec(), t.scale().iter().collect()),
        }
    }
}

/// One recurrent layer's tensors, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub w_ih: W,
    pub w_hh: W,
    pub b: Vec<f32>,
    pub b_hn: Vec<f32>,
}

/// A whole family member, owned, comparable field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub header: Header,
    pub vocab: String,
    pub layers: Vec<Layer>,
    pub w_y: W,
    pub b_y: Vec<f32>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 2.0
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
    fn weights(&mut self, dtype: Dtype, len: usize, units: usize) -> W {
        match dtype {
            Dtype::F32 => W::F32(self.f32s(len)),
            Dtype::Q8 | Dtype::Q8Shared => W::Q8(
                (0..len)
                    .map(|_| ((self.next() % 255) as i32 - 127) as i8)
                    .collect(),
                (0..units).map(|_| self.f32().abs() / 64.0 + 1e-6).collect(),
            ),
        }
    }
}

fn vocab_for(tokens: TokenKind, n: usize) -> String {
    match tokens {
        TokenKind::Chars => (0..n as u32)
            .map(|i| char::from_u32(0x61 + i).unwrap_or('?'))
            .collect(),
        TokenKind::Words => (0..n)
            .map(|i| format!("w{i}é"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl Model {
    /// A deterministic pseudo-random model (xorshift) of `header`.
    pub fn random(header: Header, seed: u64) -> Self {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let h = header;
        let layers = (0..h.n_layers)
            .map(|l| {
                let w_ih = r.weights(h.dtype, h.w_ih_len(l), h.layer_scale_len());
                let mut w_hh = r.weights(h.dtype, h.w_hh_len(), h.layer_scale_len());
                // Shared scales: w_hh's units use w_ih's (as the decoder hands them out).
                if let (true, W::Q8(_, s_ih), W::Q8(_, s_hh)) =
                    (h.dtype.shares_scales(), &w_ih, &mut w_hh)
                {
                    s_hh.clone_from(s_ih);
                }
                Layer {
                    w_ih,
                    w_hh,
                    b: r.f32s(h.b_len()),
                    b_hn: r.f32s(h.b_hn_len()),
                }
            })
            .collect();
        Model {
            header: h,
            vocab: vocab_for(h.tokens, h.dims.n_y),
            layers,
            w_y: r.weights(h.dtype, h.dims.n_y * h.dims.n_h, h.dims.n_y),
            b_y: r.f32s(h.dims.n_y),
        }
    }

    fn with_parts<T>(&self, f: impl FnOnce(&FamilyParts<'_>) -> T) -> T {
        let layers: Vec<LayerParts<'_>> = self
            .layers
            .iter()
            .map(|l| LayerParts {
                w_ih: l.w_ih.parts(),
                w_hh: l.w_hh.parts(),
                b: &l.b,
                b_hn: &l.b_hn,
            })
            .collect();
        f(&FamilyParts {
            header: self.header,
            vocab: &self.vocab,
            layers: &layers,
            w_y: self.w_y.parts(),
            b_y: &self.b_y,
        })
    }

    /// The version-2 bytes, or the writer's error.
    pub fn try_encode(&self) -> Result<Vec<u8>, Error> {
        self.with_parts(|p| {
            let mut out = vec![0u8; format::encoded_len_family(p)?];
            let n = format::encode_family(p, &mut out)?;
            assert_eq!(n, out.len());
            Ok(out)
        })
    }

    /// The version-2 bytes (panics on an encode error).
    pub fn encode(&self) -> Vec<u8> {
        self.try_encode().expect("encode")
    }

    /// An owned copy of a decoded model.
    pub fn from_view(v: &FamilyView<'_>) -> Self {
        Model {
            header: v.header,
            vocab: v.vocab.to_string(),
            layers: v
                .layers()
                .iter()
                .map(|l| Layer {
                    w_ih: W::from_view(l.w_ih),
                    w_hh: W::from_view(l.w_hh),
                    b: l.b.iter().collect(),
                    b_hn: l.b_hn.iter().collect(),
                })
                .collect(),
            w_y: W::from_view(v.w_y),
            b_y: v.b_y.iter().collect(),
        }
    }
}

/// A one-hot header with `n_x = n_y = 5`, `n_h = 4`.
pub fn header(cell: CellKind, dtype: Dtype, tokens: TokenKind, n_layers: usize) -> Header {
    Header {
        cell,
        dtype,
        input: InputKind::OneHot,
        tokens,
        dims: Dims {
            n_x: 5,
            n_h: 4,
            n_y: 5,
        },
        n_layers,
    }
}

/// A two-layer word model of `cell` and `dtype`.
pub fn small(cell: CellKind, dtype: Dtype) -> Model {
    Model::random(header(cell, dtype, TokenKind::Words, 2), 11)
}

/// FORMAT.md's two-layer q8 GRU over the words `hi`, `yo` (hidden size 1),
/// in `dtype`, with `hh_scale` for every unit of each layer's `w_hh`
/// (FORMAT.md's `v2-example` is `Q8` with 1; `v2-shared-example` is
/// `Q8Shared` with `w_ih`'s 0.5).
pub fn documented_gru(dtype: Dtype, hh_scale: f32) -> Model {
    let h = Header {
        cell: CellKind::Gru,
        dtype,
        input: InputKind::OneHot,
        tokens: TokenKind::Words,
        dims: Dims {
            n_x: 2,
            n_h: 1,
            n_y: 2,
        },
        n_layers: 2,
    };
    Model {
        header: h,
        vocab: "hi yo".into(),
        layers: vec![
            Layer {
                w_ih: W::Q8(vec![1, -1, 2, -2, 127, -127], vec![0.5; 3]),
                w_hh: W::Q8(vec![1, 2, 3], vec![hh_scale; 3]),
                b: vec![1.0, -1.0, 0.0],
                b_hn: vec![0.5],
            },
            Layer {
                w_ih: W::Q8(vec![4, 5, 6], vec![0.5; 3]),
                w_hh: W::Q8(vec![-4, -5, -6], vec![hh_scale; 3]),
                b: vec![0.0; 3],
                b_hn: vec![2.0],
            },
        ],
        w_y: W::Q8(vec![127, -127], vec![1.0, 2.0]),
        b_y: vec![0.0, 0.0],
    }
}

/// The hex bytes of FORMAT.md's fenced block tagged `hex {tag}` (`#` starts a comment).
pub fn documented_hex(tag: &str) -> Vec<u8> {
    let doc = include_str!("../../FORMAT.md");
    let fence = format!("```hex {tag}\n");
    let start = doc.find(&fence).expect("example block") + fence.len();
    let end = start + doc[start..].find("```").expect("block end");
    doc[start..end]
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

// ---------------------------------------------------------------- the wire, written independently

fn crc32(data: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(data)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Every field of a version-2 file, as raw values a test can corrupt.
#[derive(Debug, Clone)]
pub struct Fields {
    pub version: u64,
    pub codes: [u8; 4],
    pub sizes: [u64; 4],
    pub vocab: Vec<u8>,
    pub strings: Vec<Vec<u8>>,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn weight_strings(w: &W) -> [Vec<u8>; 2] {
    match w {
        W::F32(v) => [f32_bytes(v), vec![]],
        W::Q8(q, s) => [q.iter().map(|&v| v as u8).collect(), f32_bytes(s)],
    }
}

impl Fields {
    /// The fields `m` is written as.
    pub fn of(m: &Model) -> Self {
        let h = m.header;
        let mut strings = Vec::new();
        for l in &m.layers {
            strings.extend(weight_strings(&l.w_ih));
            let [w_hh, w_hh_scale] = weight_strings(&l.w_hh);
            // Shared scales are stored once, with w_ih: w_hh's string is empty.
            let w_hh_scale = if h.dtype.shares_scales() {
                vec![]
            } else {
                w_hh_scale
            };
            strings.extend([w_hh, w_hh_scale]);
            strings.push(f32_bytes(&l.b));
            strings.push(f32_bytes(&l.b_hn));
        }
        strings.extend(weight_strings(&m.w_y));
        strings.push(f32_bytes(&m.b_y));
        Fields {
            version: 2,
            codes: [
                h.cell.code(),
                h.dtype.code(),
                h.input.code(),
                h.tokens.code(),
            ],
            sizes: [h.dims.n_x, h.dims.n_h, h.dims.n_y, h.n_layers].map(|v| v as u64),
            vocab: m.vocab.as_bytes().to_vec(),
            strings,
        }
    }

    /// The bytes before the checksum.
    pub fn body(&self) -> Vec<u8> {
        let mut b = b"LSTM".to_vec();
        varint(&mut b, self.version);
        b.extend(self.codes);
        for s in self.sizes {
            varint(&mut b, s);
        }
        for s in std::iter::once(&self.vocab).chain(&self.strings) {
            varint(&mut b, s.len() as u64);
            b.extend(s);
        }
        b
    }

    /// The whole file: body and checksum.
    pub fn file(&self) -> Vec<u8> {
        with_crc(self.body())
    }
}

/// `body` followed by its CRC-32, little-endian.
pub fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32(&body);
    body.extend(crc.to_le_bytes());
    body
}

/// The error `decode_family` gives for `bytes` (panics if it decodes).
pub fn decode_err(bytes: &[u8]) -> Error {
    format::decode_family(bytes).expect_err("decoded")
}

// ---------------------------------------------------------------- round trips

/// Any valid header: every cell, dtype, token and input kind, 1 to 4 layers.
pub fn arb_header() -> impl Strategy<Value = Header> {
    (
        0u8..3,
        0u8..3,
        0u8..2,
        0u8..2,
        1usize..=4,
        1usize..9,
        1usize..7,
        1usize..6,
    )
        .prop_map(
            |(cell, dtype, tokens, input, n_layers, n_y, n_h, n_dense)| {
                let input = InputKind::from_code(input).expect("input");
                Header {
                    cell: CellKind::from_code(cell).expect("cell"),
                    dtype: Dtype::from_code(dtype).expect("dtype"),
                    input,
                    tokens: TokenKind::from_code(tokens).expect("tokens"),
                    dims: Dims {
                        n_x: if input == InputKind::OneHot {
                            n_y
                        } else {
                            n_dense
                        },
                        n_h,
                        n_y,
                    },
                    n_layers,
                }
            },
        )
}

/// Replaces the one-byte varint at `at` by its two-byte overlong form.
pub fn overlong_at(body: &[u8], at: usize) -> Vec<u8> {
    assert!(body[at] < 0x80);
    let mut b = body[..at].to_vec();
    b.extend([body[at] | 0x80, 0x00]);
    b.extend(&body[at + 1..]);
    with_crc(b)
}

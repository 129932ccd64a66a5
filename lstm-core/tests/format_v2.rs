//! Format version 2: round trips for every family member, the documented
//! bytes, version-1 compatibility, and one test per rejection.

use lstm_core::Error;
use lstm_core::format::{
    self, CellKind, Dims, Dtype, FamilyParts, FamilyView, Header, InputKind, LayerParts,
    MAX_Q8_ROW, TokenKind, WeightParts, Weights,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- owned models

#[derive(Debug, Clone, PartialEq)]
enum W {
    F32(Vec<f32>),
    Q8(Vec<i8>, Vec<f32>),
}

impl W {
    fn parts(&self) -> WeightParts<'_> {
        match self {
            W::F32(v) => WeightParts::F32(v),
            W::Q8(q, s) => WeightParts::Q8 { q, scale: s },
        }
    }

    fn from_view(w: Weights<'_>) -> Self {
        match w {
            Weights::F32(t) => W::F32(t.iter().collect()),
            Weights::Q8(t) => W::Q8(t.q().to_vec(), t.scale().iter().collect()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Layer {
    w_ih: W,
    w_hh: W,
    b: Vec<f32>,
    b_hn: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
struct Model {
    header: Header,
    vocab: String,
    layers: Vec<Layer>,
    w_y: W,
    b_y: Vec<f32>,
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
            Dtype::Q8 => W::Q8(
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
    fn random(header: Header, seed: u64) -> Self {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let h = header;
        let layers = (0..h.n_layers)
            .map(|l| Layer {
                w_ih: r.weights(h.dtype, h.w_ih_len(l), h.layer_scale_len()),
                w_hh: r.weights(h.dtype, h.w_hh_len(), h.layer_scale_len()),
                b: r.f32s(h.b_len()),
                b_hn: r.f32s(h.b_hn_len()),
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

    fn try_encode(&self) -> Result<Vec<u8>, Error> {
        self.with_parts(|p| {
            let mut out = vec![0u8; format::encoded_len_family(p)?];
            let n = format::encode_family(p, &mut out)?;
            assert_eq!(n, out.len());
            Ok(out)
        })
    }

    fn encode(&self) -> Vec<u8> {
        self.try_encode().expect("encode")
    }

    fn from_view(v: &FamilyView<'_>) -> Self {
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

fn header(cell: CellKind, dtype: Dtype, tokens: TokenKind, n_layers: usize) -> Header {
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

fn small(cell: CellKind, dtype: Dtype) -> Model {
    Model::random(header(cell, dtype, TokenKind::Words, 2), 11)
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
struct Fields {
    version: u64,
    codes: [u8; 4],
    sizes: [u64; 4],
    vocab: Vec<u8>,
    strings: Vec<Vec<u8>>,
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
    fn of(m: &Model) -> Self {
        let h = m.header;
        let mut strings = Vec::new();
        for l in &m.layers {
            strings.extend(weight_strings(&l.w_ih));
            strings.extend(weight_strings(&l.w_hh));
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

    fn body(&self) -> Vec<u8> {
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

    fn file(&self) -> Vec<u8> {
        with_crc(self.body())
    }
}

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32(&body);
    body.extend(crc.to_le_bytes());
    body
}

fn decode_err(bytes: &[u8]) -> Error {
    format::decode_family(bytes).expect_err("decoded")
}

// ---------------------------------------------------------------- round trips

fn arb_header() -> impl Strategy<Value = Header> {
    (
        0u8..3,
        0u8..2,
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

proptest! {
    #[test]
    fn every_family_member_round_trips(h in arb_header(), seed in any::<u64>()) {
        let m = Model::random(h, seed);
        let bytes = m.encode();
        // The bytes are exactly what FORMAT.md describes, field by field.
        prop_assert_eq!(&bytes, &Fields::of(&m).file());
        let v = format::decode_family(&bytes).expect("decode");
        prop_assert_eq!(v.version, 2);
        prop_assert_eq!(v.layers().len(), h.n_layers);
        let back = Model::from_view(&v);
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.encode(), bytes.clone());
        prop_assert_eq!(format::encoded_len_family(&FamilyParts {
            header: h, vocab: &m.vocab, layers: &[], w_y: m.w_y.parts(), b_y: &m.b_y,
        }).err(), Some(Error::DimensionMismatch { name: "n_layers", expected: h.n_layers, found: 0 }));
        // The symbols come back one by one.
        prop_assert_eq!(v.symbols().count(), h.dims.n_y);
        // weight_bytes counts exactly the tensor data: every string after the vocabulary.
        prop_assert_eq!(h.weight_bytes(), Fields::of(&m).strings.iter().map(Vec::len).sum::<usize>());
    }
}

// ---------------------------------------------------------------- the documented example

fn example() -> Model {
    let h = Header {
        cell: CellKind::Gru,
        dtype: Dtype::Q8,
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
                w_hh: W::Q8(vec![1, 2, 3], vec![1.0; 3]),
                b: vec![1.0, -1.0, 0.0],
                b_hn: vec![0.5],
            },
            Layer {
                w_ih: W::Q8(vec![4, 5, 6], vec![0.5; 3]),
                w_hh: W::Q8(vec![-4, -5, -6], vec![1.0; 3]),
                b: vec![0.0; 3],
                b_hn: vec![2.0],
            },
        ],
        w_y: W::Q8(vec![127, -127], vec![1.0, 2.0]),
        b_y: vec![0.0, 0.0],
    }
}

/// The hex bytes of the fenced block tagged `hex v2-example` in FORMAT.md.
fn documented_example() -> Vec<u8> {
    let doc = include_str!("../FORMAT.md");
    let start = doc.find("```hex v2-example").expect("example block") + 17;
    let end = start + doc[start..].find("```").expect("block end");
    doc[start..end]
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

#[test]
fn example_bytes_are_as_documented() {
    let bytes = example().encode();
    assert_eq!(bytes, documented_example());
    assert_eq!(bytes.len(), 151);
    let v = format::decode_family(&bytes).expect("decode");
    assert_eq!(v.symbols().collect::<Vec<_>>(), ["hi", "yo"]);
    // Dequantized: layer 0's w_ih[g][x][0] = q · scale[g].
    let mut w = [0.0f32; 6];
    v.layers()[0]
        .w_ih
        .dequantize_into(v.header.w_ih_layout(0), &mut w)
        .expect("dequantize");
    assert_eq!(w, [0.5, -0.5, 1.0, -1.0, 63.5, -63.5]);
    let mut y = [0.0f32; 2];
    v.w_y
        .dequantize_into(v.header.w_y_layout(), &mut y)
        .expect("dequantize");
    assert_eq!(y, [127.0, -254.0]);
}

#[test]
fn header_helpers_count_the_example() {
    let h = example().header;
    assert_eq!(h.gates(), 3);
    assert_eq!(h.weight_count(), 6 + 3 + 3 + 3 + 2);
    assert_eq!(h.bias_count(), 2 * (3 + 1) + 2);
    assert_eq!(h.scale_count(), 2 * 6 + 2);
    assert_eq!(h.param_count(), 17 + 10);
    assert_eq!(h.weight_bytes(), 17 + 4 * (14 + 10));
    // Layer 0 one-hot: 3 adds; each layer 3·1·1 recurrent MACs; layer 1 3 input MACs; output 2.
    assert_eq!(h.macs_per_token(), 3 + 2 * 3 + 3 + 2);
    let plain = Header::plain(
        InputKind::OneHot,
        Dims {
            n_x: 65,
            n_h: 128,
            n_y: 65,
        },
    );
    assert_eq!(plain.param_count(), plain.dims.param_count());
    assert_eq!(plain.macs_per_token(), plain.dims.macs_per_token());
    assert_eq!(plain.weight_bytes(), 4 * plain.dims.param_count());
}

// ---------------------------------------------------------------- version 1 stays readable

/// A version-1 file written by the version-1 tools (the fuzz seed `tiny` of commit
/// c89f2c3), kept byte for byte: it must stay readable forever.
const V1_FIXTURE: &[u8] = include_bytes!("data/v1_tiny_nv3_nh2.lstm");

#[test]
fn version_1_fixture_reads_as_a_plain_family_member() {
    let v = format::decode_family(V1_FIXTURE).expect("v1 decodes");
    assert_eq!(v.version, 1);
    assert_eq!(
        v.header,
        Header::plain(
            InputKind::OneHot,
            Dims {
                n_x: 3,
                n_h: 2,
                n_y: 3
            }
        )
    );
    assert!(v.header.is_plain());
    assert_eq!(v.vocab, "abc");
    assert_eq!(v.layers().len(), 1);
    assert!(v.layers()[0].b_hn.is_empty());
    let plain = format::decode(V1_FIXTURE).expect("v1 decodes as ModelView");
    assert_eq!(plain, v.plain().expect("plain"));
    // The first value, bytes 15..19 of the file: 10 58 30 3F.
    let w_ih: Vec<f32> = plain.w_ih.iter().collect();
    assert_eq!(w_ih.len(), 24);
    assert_eq!(w_ih[0].to_bits(), 0x3F30_5810);
    assert_eq!(plain.b_y.iter().count(), 3);
    // Re-encoding with the version-1 writer reproduces the file exactly.
    let (w_hh, b, w_y, b_y): (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) = (
        plain.w_hh.iter().collect(),
        plain.b.iter().collect(),
        plain.w_y.iter().collect(),
        plain.b_y.iter().collect(),
    );
    let parts = format::ModelParts {
        input: plain.input,
        dims: plain.dims,
        vocab: plain.vocab,
        w_ih: &w_ih,
        w_hh: &w_hh,
        b: &b,
        w_y: &w_y,
        b_y: &b_y,
    };
    let mut out = vec![0u8; format::encoded_len(&parts).expect("len")];
    format::encode(&parts, &mut out).expect("encode");
    assert_eq!(out, V1_FIXTURE);
    // The same model written as version 2 decodes to the same plain view.
    let layers = [parts.layer()];
    let family = parts.family(&layers);
    let mut v2 = vec![0u8; format::encoded_len_family(&family).expect("len")];
    format::encode_family(&family, &mut v2).expect("encode v2");
    assert_eq!(v2[4], 2);
    assert_eq!(format::decode(&v2).expect("v2 decodes as ModelView"), plain);
}

#[test]
fn decode_names_what_a_plain_view_cannot_hold() {
    let cases = [
        (CellKind::Gru, Dtype::F32, TokenKind::Chars, 1, "a gru cell"),
        (
            CellKind::Rnn,
            Dtype::F32,
            TokenKind::Chars,
            1,
            "an rnn cell",
        ),
        (
            CellKind::Lstm,
            Dtype::F32,
            TokenKind::Chars,
            2,
            "more than one layer",
        ),
        (CellKind::Lstm, Dtype::Q8, TokenKind::Chars, 1, "q8 weights"),
        (
            CellKind::Lstm,
            Dtype::F32,
            TokenKind::Words,
            1,
            "word tokens",
        ),
    ];
    for (cell, dtype, tokens, layers, what) in cases {
        let bytes = Model::random(header(cell, dtype, tokens, layers), 5).encode();
        assert!(format::decode_family(&bytes).is_ok());
        assert_eq!(
            format::decode(&bytes),
            Err(Error::UnsupportedModel { what }),
            "{what}"
        );
    }
}

// ---------------------------------------------------------------- rejections, one each

#[test]
fn rejects_unknown_cell_code() {
    let mut f = Fields::of(&small(CellKind::Gru, Dtype::F32));
    f.codes[0] = 3;
    assert_eq!(decode_err(&f.file()), Error::UnsupportedCell { found: 3 });
}

#[test]
fn rejects_unknown_dtype_code() {
    let mut f = Fields::of(&small(CellKind::Gru, Dtype::F32));
    f.codes[1] = 2;
    assert_eq!(decode_err(&f.file()), Error::UnsupportedDtype { found: 2 });
}

#[test]
fn rejects_unknown_input_code() {
    let mut f = Fields::of(&small(CellKind::Gru, Dtype::F32));
    f.codes[2] = 2;
    assert_eq!(decode_err(&f.file()), Error::UnsupportedInput { found: 2 });
}

#[test]
fn rejects_unknown_tokens_code() {
    let mut f = Fields::of(&small(CellKind::Gru, Dtype::F32));
    f.codes[3] = 2;
    assert_eq!(decode_err(&f.file()), Error::UnsupportedTokens { found: 2 });
}

#[test]
fn rejects_a_flipped_code_bit_as_corruption() {
    let mut b = small(CellKind::Gru, Dtype::Q8).encode();
    b[5] ^= 0x04; // the cell code: the checksum is checked before the codes are judged
    assert!(matches!(decode_err(&b), Error::Checksum { .. }));
}

#[test]
fn rejects_zero_layers() {
    let m = Model::random(header(CellKind::Rnn, Dtype::F32, TokenKind::Chars, 1), 3);
    let mut f = Fields::of(&m);
    f.sizes[3] = 0;
    f.strings.drain(..6);
    assert_eq!(
        decode_err(&f.file()),
        Error::DimensionOutOfRange {
            name: "n_layers",
            value: 0,
            max: 4
        }
    );
}

#[test]
fn rejects_five_layers() {
    let m = Model::random(header(CellKind::Rnn, Dtype::F32, TokenKind::Chars, 4), 3);
    let mut f = Fields::of(&m);
    f.sizes[3] = 5;
    let top: Vec<Vec<u8>> = f.strings[18..24].to_vec();
    f.strings.splice(24..24, top);
    assert_eq!(
        decode_err(&f.file()),
        Error::DimensionOutOfRange {
            name: "n_layers",
            value: 5,
            max: 4
        }
    );
}

#[test]
fn rejects_q8_beyond_the_accumulator_bound_on_write_and_read() {
    let mut h = header(CellKind::Rnn, Dtype::Q8, TokenKind::Chars, 1);
    h.dims.n_h = MAX_Q8_ROW + 1;
    let expected = Error::AccumulatorBound {
        name: "n_h",
        n: 517,
        max: 516,
    };
    assert_eq!(h.validate(), Err(expected));
    let m = Model::random(h, 1);
    assert_eq!(m.try_encode(), Err(expected));
    assert_eq!(decode_err(&Fields::of(&m).file()), expected);
    // 516 is fine, and f32 has no bound.
    h.dims.n_h = MAX_Q8_ROW;
    assert_eq!(h.validate(), Ok(()));
    h.dims.n_h = MAX_Q8_ROW + 1;
    h.dtype = Dtype::F32;
    assert_eq!(h.validate(), Ok(()));
    // Dense input: n_x is a product length too (one-hot n_x is a gather).
    let mut h = header(CellKind::Lstm, Dtype::Q8, TokenKind::Chars, 1);
    h.input = InputKind::Dense;
    h.dims.n_x = 600;
    assert_eq!(
        h.validate(),
        Err(Error::AccumulatorBound {
            name: "n_x",
            n: 600,
            max: 516
        })
    );
    // The bound is where the arithmetic says: 516·127·32767 fits in i32, 517 terms may not.
    assert!(516i64 * 127 * 32767 <= i64::from(i32::MAX));
    assert!(517i64 * 127 * 32767 > i64::from(i32::MAX));
}

#[test]
fn rejects_q8_value_minus_128() {
    let mut m = small(CellKind::Lstm, Dtype::Q8);
    if let W::Q8(q, _) = &mut m.layers[1].w_hh {
        q[7] = -128;
    }
    let expected = Error::QuantOutOfRange {
        tensor: "l1.w_hh",
        index: 7,
    };
    assert_eq!(m.try_encode(), Err(expected));
    assert_eq!(decode_err(&Fields::of(&m).file()), expected);
}

fn with_scale(value: f32) -> Model {
    let mut m = small(CellKind::Gru, Dtype::Q8);
    if let W::Q8(_, s) = &mut m.w_y {
        s[2] = value;
    }
    m
}

#[test]
fn rejects_zero_scale() {
    let m = with_scale(0.0);
    let expected = Error::BadScale {
        tensor: "w_y.scale",
        index: 2,
    };
    assert_eq!(m.try_encode(), Err(expected));
    assert_eq!(decode_err(&Fields::of(&m).file()), expected);
}

#[test]
fn rejects_negative_scale() {
    let m = with_scale(-0.25);
    let expected = Error::BadScale {
        tensor: "w_y.scale",
        index: 2,
    };
    assert_eq!(decode_err(&Fields::of(&m).file()), expected);
}

#[test]
fn rejects_nan_and_infinite_scale() {
    for v in [f32::NAN, f32::INFINITY] {
        let m = with_scale(v);
        assert_eq!(
            decode_err(&Fields::of(&m).file()),
            Error::BadScale {
                tensor: "w_y.scale",
                index: 2
            }
        );
    }
}

#[test]
fn rejects_wrong_scale_count() {
    let mut m = small(CellKind::Gru, Dtype::Q8);
    if let W::Q8(_, s) = &mut m.layers[0].w_ih {
        s.pop();
    }
    assert_eq!(
        decode_err(&Fields::of(&m).file()),
        Error::TensorLength {
            tensor: "w_ih.scale",
            expected: 12,
            found: 11
        }
    );
}

#[test]
fn rejects_scales_on_an_f32_matrix() {
    let m = small(CellKind::Lstm, Dtype::F32);
    let mut f = Fields::of(&m);
    f.strings[7] = 1.0f32.to_le_bytes().to_vec(); // layer 1's w_ih scale string
    assert_eq!(
        decode_err(&f.file()),
        Error::TensorLength {
            tensor: "l1.w_ih.scale",
            expected: 0,
            found: 1
        }
    );
}

#[test]
fn rejects_non_finite_f32_weight() {
    let mut m = Model::random(header(CellKind::Rnn, Dtype::F32, TokenKind::Chars, 3), 9);
    if let W::F32(v) = &mut m.layers[2].w_ih {
        v[3] = f32::NEG_INFINITY;
    }
    let expected = Error::NonFinite {
        tensor: "l2.w_ih",
        index: 3,
    };
    assert_eq!(m.try_encode(), Err(expected));
    assert_eq!(decode_err(&Fields::of(&m).file()), expected);
}

#[test]
fn rejects_nan_bias() {
    let mut m = small(CellKind::Gru, Dtype::Q8);
    m.layers[1].b_hn[0] = f32::NAN;
    assert_eq!(
        decode_err(&Fields::of(&m).file()),
        Error::NonFinite {
            tensor: "l1.b_hn",
            index: 0
        }
    );
}

#[test]
fn rejects_b_hn_on_an_lstm_and_missing_b_hn_on_a_gru() {
    let mut m = small(CellKind::Lstm, Dtype::F32);
    m.layers[0].b_hn = vec![0.0; 4];
    assert_eq!(
        m.try_encode(),
        Err(Error::TensorLength {
            tensor: "b_hn",
            expected: 0,
            found: 4
        })
    );
    let mut m = small(CellKind::Gru, Dtype::F32);
    m.layers[1].b_hn.clear();
    assert_eq!(
        decode_err(&Fields::of(&m).file()),
        Error::TensorLength {
            tensor: "l1.b_hn",
            expected: 4,
            found: 0
        }
    );
}

#[test]
fn rejects_wrong_layer_input_size() {
    // Layer 1's w_ih is [G·n_h][n_h]; one written with layer 0's shape [G][n_x][n_h] is refused.
    let mut m = small(CellKind::Lstm, Dtype::F32);
    m.layers[1].w_ih = m.layers[0].w_ih.clone();
    assert_eq!(
        m.try_encode(),
        Err(Error::TensorLength {
            tensor: "l1.w_ih",
            expected: 64,
            found: 80
        })
    );
}

#[test]
fn rejects_dtype_mismatch_on_write() {
    let mut m = small(CellKind::Lstm, Dtype::Q8);
    m.layers[0].w_hh = W::F32(vec![0.0; 64]);
    assert_eq!(m.try_encode(), Err(Error::DtypeMismatch { tensor: "w_hh" }));
}

#[test]
fn rejects_empty_word_token() {
    let mut m = small(CellKind::Lstm, Dtype::F32);
    m.vocab = "a  b c d".into();
    assert_eq!(
        m.try_encode(),
        Err(Error::InvalidToken {
            index: 1,
            reason: "empty"
        })
    );
    assert_eq!(
        decode_err(&Fields::of(&m).file()),
        Error::InvalidToken {
            index: 1,
            reason: "empty"
        }
    );
}

#[test]
fn rejects_word_token_with_whitespace() {
    let mut m = small(CellKind::Lstm, Dtype::F32);
    m.vocab = "a b c\td e f".into();
    assert_eq!(
        decode_err(&Fields::of(&m).file()),
        Error::InvalidToken {
            index: 2,
            reason: "contains whitespace"
        }
    );
}

#[test]
fn rejects_repeated_word_token() {
    let mut m = small(CellKind::Lstm, Dtype::F32);
    m.vocab = "to be or not to".into();
    assert_eq!(
        decode_err(&Fields::of(&m).file()),
        Error::DuplicateToken { index: 4, first: 0 }
    );
}

#[test]
fn rejects_wrong_word_count() {
    let mut m = small(CellKind::Lstm, Dtype::F32);
    m.vocab = "one two three four".into();
    assert_eq!(
        decode_err(&Fields::of(&m).file()),
        Error::VocabSize {
            expected: 5,
            found: 4
        }
    );
}

#[test]
fn rejects_every_truncation() {
    let b = small(CellKind::Gru, Dtype::Q8).encode();
    for n in 0..b.len() {
        let e = decode_err(&b[..n]);
        assert!(
            matches!(e, Error::Truncated | Error::Checksum { .. }),
            "prefix of {n} bytes: {e:?}"
        );
    }
}

#[test]
fn rejects_every_flipped_bit() {
    let b = small(CellKind::Rnn, Dtype::Q8).encode();
    for i in 0..b.len() {
        for bit in 0..8 {
            let mut c = b.clone();
            c[i] ^= 1 << bit;
            assert!(
                format::decode_family(&c).is_err(),
                "flipping bit {bit} of byte {i} went unnoticed"
            );
        }
    }
    let mut c = b.clone();
    c[b.len() / 2] ^= 0x01;
    assert!(matches!(decode_err(&c), Error::Checksum { .. }));
}

#[test]
fn rejects_trailing_bytes() {
    let mut b = small(CellKind::Lstm, Dtype::Q8).encode();
    b.extend([0, 0]);
    assert_eq!(decode_err(&b), Error::TrailingBytes { count: 2 });
}

/// Replaces the one-byte varint at `at` by its two-byte overlong form.
fn overlong_at(body: &[u8], at: usize) -> Vec<u8> {
    assert!(body[at] < 0x80);
    let mut b = body[..at].to_vec();
    b.extend([body[at] | 0x80, 0x00]);
    b.extend(&body[at + 1..]);
    with_crc(b)
}

#[test]
fn rejects_overlong_varint_in_v2_header() {
    let body = Fields::of(&small(CellKind::Gru, Dtype::F32)).body();
    // magic 0..4, version 4, codes 5..9, n_x 9, n_h 10, n_y 11, n_layers 12, vocab length 13.
    assert_eq!(body[10], 4);
    assert_eq!(
        decode_err(&overlong_at(&body, 10)),
        Error::NonCanonicalVarint { field: "n_h" }
    );
    assert_eq!(
        decode_err(&overlong_at(&body, 13)),
        Error::NonCanonicalVarint { field: "vocab" }
    );
    assert_eq!(
        decode_err(&overlong_at(&body, 4)),
        Error::NonCanonicalVarint { field: "version" }
    );
}

#[test]
fn rejects_overlong_varint_in_a_tensor_length() {
    let m = small(CellKind::Lstm, Dtype::F32);
    let body = Fields::of(&m).body();
    // Layer 0's b_hn is the empty string: its length byte follows b.
    let b_hn_at = 14 + m.vocab.len() + (2 + 320) + 1 + (2 + 256) + 1 + (1 + 64);
    assert_eq!(body[b_hn_at], 0);
    assert_eq!(
        decode_err(&overlong_at(&body, b_hn_at)),
        Error::NonCanonicalVarint { field: "b_hn" }
    );
}

#[test]
fn rejects_overlong_varint_in_v1() {
    let body = V1_FIXTURE[..V1_FIXTURE.len() - 4].to_vec();
    // v1: magic 0..4, version 4, dtype 5, input 6, n_x 7, n_h 8, n_y 9.
    assert_eq!(body[8], 2);
    let bytes = overlong_at(&body, 8);
    assert_eq!(
        format::decode(&bytes),
        Err(Error::NonCanonicalVarint { field: "n_h" })
    );
}

#[test]
fn rejects_v1_with_q8_dtype() {
    let mut body = V1_FIXTURE[..V1_FIXTURE.len() - 4].to_vec();
    body[5] = 1;
    assert_eq!(
        decode_err(&with_crc(body)),
        Error::UnsupportedDtype { found: 1 }
    );
}

#[test]
fn rejects_unknown_version() {
    let mut f = Fields::of(&small(CellKind::Lstm, Dtype::F32));
    f.version = 3;
    assert_eq!(
        decode_err(&f.file()),
        Error::UnsupportedVersion {
            found: 3,
            supported: 2
        }
    );
}

#[test]
fn errors_name_the_problem() {
    let text = Error::AccumulatorBound {
        name: "n_h",
        n: 600,
        max: 516,
    }
    .to_string();
    assert!(text.contains("n_h = 600") && text.contains("516"), "{text}");
    let text = Error::NonCanonicalVarint { field: "n_x" }.to_string();
    assert!(text.contains("n_x") && text.contains("shortest"), "{text}");
    let text = Error::BadScale {
        tensor: "w_y.scale",
        index: 2,
    }
    .to_string();
    assert!(text.contains("w_y.scale[2]"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn mutated_v2_files_never_panic(h in arb_header(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut b = Model::random(h, 2).encode();
        let i = pos.index(b.len());
        let changed = b[i] != byte;
        b[i] = byte;
        let n = cut.index(b.len() + 1);
        let r = format::decode_family(&b[..n]);
        if changed || n < b.len() {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn random_bytes_after_v2_preamble_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut b = b"LSTM\x02".to_vec();
        b.extend(bytes);
        prop_assert!(format::decode_family(&b).is_err());
    }
}

// ---------------------------------------------------------------- quantization

proptest! {
    #[test]
    fn quantize_is_within_half_a_step_and_encodes(h in arb_header(), seed in any::<u64>()) {
        let f = Model::random(Header { dtype: Dtype::F32, ..h }, seed);
        let quantize = |w: &W, layout: format::WeightLayout| -> W {
            let W::F32(w) = w else { unreachable!("f32 model") };
            let (mut q, mut s) = (vec![0i8; w.len()], vec![0f32; layout.units()]);
            layout.quantize(w, &mut q, &mut s).expect("quantize");
            for (i, (&q, &v)) in q.iter().zip(w.iter()).enumerate() {
                let step = s[layout.unit_of(i)];
                let error = (f32::from(q) * step - v).abs();
                assert!(error <= step * 0.5 * (1.0 + 1e-5), "{v} -> {q} x {step}");
            }
            W::Q8(q, s)
        };
        let mut m = f.clone();
        m.header.dtype = Dtype::Q8;
        for (l, layer) in m.layers.iter_mut().enumerate() {
            layer.w_ih = quantize(&layer.w_ih, h.w_ih_layout(l));
            layer.w_hh = quantize(&layer.w_hh, h.w_hh_layout());
        }
        m.w_y = quantize(&m.w_y, h.w_y_layout());
        let bytes = m.encode();
        prop_assert_eq!(Model::from_view(&format::decode_family(&bytes).expect("decode")), m);
    }
}

#[test]
fn quantize_maps_the_largest_weight_to_127_and_zero_units_to_scale_1() {
    let layout = format::WeightLayout::RowMajor { rows: 2, n_in: 3 };
    let (mut q, mut s) = ([0i8; 6], [0f32; 2]);
    layout
        .quantize(&[0.5, -1.27, 0.0, 0.0, 0.0, 0.0], &mut q, &mut s)
        .expect("quantize");
    assert_eq!(q, [50, -127, 0, 0, 0, 0]);
    assert_eq!(s, [0.01, 1.0]);
    assert_eq!(
        layout.quantize(&[f32::NAN; 6], &mut q, &mut s),
        Err(Error::NonFinite {
            tensor: "w",
            index: 0
        })
    );
    // Layer 0's gate-transposed layout: element (g, x, k) feeds unit g·n_h + k.
    let layout = format::WeightLayout::GateTransposed {
        gates: 2,
        n_in: 2,
        n_h: 2,
    };
    let units: Vec<usize> = (0..8).map(|i| layout.unit_of(i)).collect();
    assert_eq!(units, [0, 1, 0, 1, 2, 3, 2, 3]);
}

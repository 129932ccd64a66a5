//! Version 1 stays readable: the version-1 fixture through both decoders,
//! what a plain view cannot hold, and version-1 rejections.

mod common;

use common::family::{Model, decode_err, header, overlong_at, with_crc};
use lstm_core::Error;
use lstm_core::format::{self, CellKind, Dims, Dtype, Header, InputKind, TokenKind};

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

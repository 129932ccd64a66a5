//! Format version 2: one test per rejection of damaged or bad input, and
//! mutated files never panic.

mod common;

use common::family::{Fields, Model, W, arb_header, decode_err, header, overlong_at, small};
use lstm_core::Error;
use lstm_core::format::{self, CellKind, Dtype, InputKind, MAX_Q8_ROW, TokenKind};
use proptest::prelude::*;

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
    f.codes[1] = 3;
    assert_eq!(decode_err(&f.file()), Error::UnsupportedDtype { found: 3 });
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

//! Bad bytes give a typed error, never a panic.

mod common;

use common::random_model;
use lstm_core::Error;
use lstm_core::format::{self, InputKind, MAGIC};
use proptest::prelude::*;

fn valid() -> Vec<u8> {
    random_model(5, 4, 3, 1.0).encode()
}

#[test]
fn rejects_empty_input() {
    assert_eq!(format::decode(&[]), Err(Error::Truncated));
}

#[test]
fn rejects_bad_magic() {
    let mut b = valid();
    b[0] = b'X';
    assert_eq!(format::decode(&b), Err(Error::BadMagic { found: *b"XSTM" }));
}

#[test]
fn rejects_future_version() {
    let mut b = valid();
    b[4] = 3;
    assert_eq!(
        format::decode(&b),
        Err(Error::UnsupportedVersion {
            found: 3,
            supported: 2
        })
    );
}

#[test]
fn rejects_flipped_tensor_byte_by_checksum() {
    let mut b = valid();
    let i = b.len() / 2;
    b[i] ^= 0x10;
    assert!(matches!(format::decode(&b), Err(Error::Checksum { .. })));
}

#[test]
fn rejects_every_truncation() {
    let b = valid();
    for n in 0..b.len() {
        let r = format::decode(&b[..n]);
        assert!(r.is_err(), "prefix of {n} bytes decoded");
    }
}

#[test]
fn rejects_trailing_bytes() {
    let mut b = valid();
    b.push(0);
    assert_eq!(format::decode(&b), Err(Error::TrailingBytes { count: 1 }));
}

#[test]
fn encode_rejects_wrong_tensor_length() {
    let m = random_model(3, 2, 1, 1.0);
    let mut parts = m.parts();
    parts.w_hh = &m.w_hh[1..];
    assert_eq!(
        format::encoded_len(&parts),
        Err(Error::TensorLength {
            tensor: "w_hh",
            expected: 16,
            found: 15
        })
    );
}

#[test]
fn encode_rejects_non_finite() {
    let mut m = random_model(3, 2, 1, 1.0);
    m.b_y[2] = f32::NAN;
    assert_eq!(
        format::encoded_len(&m.parts()),
        Err(Error::NonFinite {
            tensor: "b_y",
            index: 2
        })
    );
}

#[test]
fn encode_rejects_duplicate_symbol_and_wrong_vocab_size() {
    let mut m = random_model(3, 2, 1, 1.0);
    m.vocab = "aba".into();
    assert_eq!(
        format::encoded_len(&m.parts()),
        Err(Error::DuplicateSymbol { symbol: 'a' })
    );
    m.vocab = "ab".into();
    assert_eq!(
        format::encoded_len(&m.parts()),
        Err(Error::VocabSize {
            expected: 3,
            found: 2
        })
    );
}

#[test]
fn encode_rejects_one_hot_with_mismatched_sizes_and_zero_dims() {
    let mut m = random_model(3, 2, 1, 1.0);
    m.dims.n_x = 4;
    assert!(matches!(
        format::encoded_len(&m.parts()),
        Err(Error::DimensionMismatch { name: "n_x", .. })
    ));
    m.input = InputKind::Dense;
    m.dims.n_h = 0;
    assert!(matches!(
        format::encoded_len(&m.parts()),
        Err(Error::DimensionOutOfRange {
            name: "n_x" | "n_h",
            ..
        })
    ));
}

#[test]
fn encode_rejects_small_buffer() {
    let m = random_model(3, 2, 1, 1.0);
    let mut buf = [0u8; 10];
    assert!(matches!(
        format::encode(&m.parts(), &mut buf),
        Err(Error::BufferTooSmall { .. })
    ));
}

/// Re-encodes a header with a field changed and a correct checksum, to reach the semantic checks.
fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn rejects_unknown_dtype_and_input_kind_with_valid_checksum() {
    let b = valid();
    let body = b[..b.len() - 4].to_vec();
    let mut d = body.clone();
    d[5] = 7;
    assert_eq!(
        format::decode(&with_crc(d)),
        Err(Error::UnsupportedDtype { found: 7 })
    );
    let mut d = body;
    d[6] = 9;
    assert_eq!(
        format::decode(&with_crc(d)),
        Err(Error::UnsupportedInput { found: 9 })
    );
}

#[test]
fn rejects_dimension_mismatch_with_valid_checksum() {
    let b = valid();
    let mut body = b[..b.len() - 4].to_vec();
    assert_eq!(body[8], 4); // n_h
    body[8] = 3;
    assert!(matches!(
        format::decode(&with_crc(body)),
        Err(Error::TensorLength {
            tensor: "w_ih",
            expected: 60,
            found: 80
        })
    ));
}

#[test]
fn rejects_nan_weight_with_valid_checksum() {
    let b = valid();
    let mut body = b[..b.len() - 4].to_vec();
    // w_ih data starts after "LSTM", version, dtype, input, n_x, n_h, n_y, the vocab (length 5 + "abcde") and its 2-byte varint length.
    let at = 4 + 3 + 3 + 1 + 5 + 2;
    body[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    assert_eq!(
        format::decode(&with_crc(body)),
        Err(Error::NonFinite {
            tensor: "w_ih",
            index: 0
        })
    );
}

/// Files start with the four bytes `LSTM`: encode writes them, and decode
/// refuses any other four (each byte changed in turn), reporting what it found.
#[test]
fn magic_is_lstm() {
    let good = valid();
    assert_eq!(&good[..4], b"LSTM");
    assert!(format::decode(&good).is_ok());
    for i in 0..4 {
        let mut b = good.clone();
        b[i] ^= 0x20; // LSTM -> lSTM, LsTM, …
        let mut found = *b"LSTM";
        found[i] ^= 0x20;
        assert_eq!(format::decode(&b), Err(Error::BadMagic { found }));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(format::decode(&bytes).is_err());
    }

    #[test]
    fn random_bytes_after_magic_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut b = MAGIC.to_vec();
        b.push(1);
        b.extend(bytes);
        prop_assert!(format::decode(&b).is_err());
    }

    #[test]
    fn mutated_valid_files_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut b = valid();
        let i = pos.index(b.len());
        let changed = b[i] != byte;
        b[i] = byte;
        let n = cut.index(b.len() + 1);
        let r = format::decode(&b[..n]);
        if changed || n < b.len() {
            prop_assert!(r.is_err());
        }
    }
}

//! Encoding then decoding gives back the same model, and the bytes are stable.

mod common;

use common::{Owned, random_model};
use lstm_core::format::{self, InputKind};
use proptest::prelude::*;

fn decode_owned(bytes: &[u8]) -> Owned {
    let m = format::decode(bytes).expect("decode");
    let get = |t: format::Tensor<'_>| t.iter().collect::<Vec<f32>>();
    Owned {
        input: m.input,
        dims: m.dims,
        vocab: m.vocab.to_string(),
        w_ih: get(m.w_ih),
        w_hh: get(m.w_hh),
        b: get(m.b),
        w_y: get(m.w_y),
        b_y: get(m.b_y),
    }
}

#[test]
fn header_bytes_are_as_documented() {
    let m = random_model(3, 2, 1, 1.0);
    let bytes = m.encode();
    // magic, version 1 (varint), dtype 0 (f32), input 0 (one-hot), n_x 3, n_h 2, n_y 3,
    // vocab "abc" (length 3 then UTF-8), then w_ih: 4·3·2 = 24 floats = 96 bytes (varint 0x60).
    assert_eq!(&bytes[..14], b"LSTM\x01\x00\x00\x03\x02\x03\x03abc");
    assert_eq!(bytes[14], 96);
    assert_eq!(
        bytes.len(),
        14 + 1 + 96 + 1 + 64 + 1 + 32 + 1 + 24 + 1 + 12 + 4
    );
}

#[test]
fn dense_input_model_round_trips() {
    let mut m = random_model(4, 3, 2, 0.5);
    m.input = InputKind::Dense;
    m.dims.n_x = 2;
    m.w_ih.truncate(m.dims.w_ih_len());
    let back = decode_owned(&m.encode());
    assert_eq!(back, m);
}

proptest! {
    #[test]
    fn decode_encode_is_identity(n_v in 1usize..12, n_h in 1usize..20, seed in any::<u64>()) {
        let m = random_model(n_v, n_h, seed, 3.0);
        let bytes = m.encode();
        let back = decode_owned(&bytes);
        prop_assert_eq!(&back, &m);
        // ...and encoding the decoded model reproduces the bytes exactly.
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn unicode_vocabularies_round_trip(chars in proptest::collection::btree_set(any::<char>(), 1..10), n_h in 1usize..5) {
        let mut m = random_model(chars.len(), n_h, 7, 1.0);
        m.vocab = chars.into_iter().collect();
        let back = decode_owned(&m.encode());
        prop_assert_eq!(back, m);
    }
}

//! Format version 2, dtype `02` (q8 with one scale per gate unit shared by
//! each layer's `w_ih` and `w_hh`): the documented bytes, round trips, the
//! size saved, quantization with shared scales, and the rejections.

mod common;

use common::family::{
    Fields, Model, W, arb_header, decode_err, documented_gru, documented_hex, small,
};
use lstm_core::Error;
use lstm_core::format::{self, CellKind, Dtype, Header, WeightLayout};
use lstm_core::quant::{quantize_weights, quantize_weights_shared};
use proptest::prelude::*;

/// The same two-layer GRU as FORMAT.md's q8 example, with shared scales:
/// each layer's `w_hh` uses its `w_ih`'s (0.5 per gate unit).
fn example() -> Model {
    documented_gru(Dtype::Q8Shared, 0.5)
}

/// The hex bytes of the block tagged `hex v2-shared-example` in FORMAT.md.
fn documented_example() -> Vec<u8> {
    documented_hex("v2-shared-example")
}

/// `m` with the other q8 dtype (the scales are kept as they are).
fn with_dtype(m: &Model, dtype: Dtype) -> Model {
    let mut m = m.clone();
    m.header.dtype = dtype;
    m
}

#[test]
fn shared_example_bytes_are_as_documented() {
    let m = example();
    let bytes = m.encode();
    assert_eq!(bytes, documented_example());
    // Two w_hh scale strings of 3 scales fewer than the per-matrix file (151 bytes).
    assert_eq!(bytes.len(), 151 - 2 * 4 * 3);
    assert_eq!(with_dtype(&m, Dtype::Q8).encode().len(), 151);
    let v = format::decode_family(&bytes).expect("decode");
    assert_eq!(v.header.dtype, Dtype::Q8Shared);
    // w_hh's units use w_ih's scales: 1 2 3 × 0.5.
    let mut w = [0.0f32; 3];
    v.layers()[0]
        .w_hh
        .dequantize_into(v.header.w_hh_layout(), &mut w)
        .expect("dequantize");
    assert_eq!(w, [0.5, 1.0, 1.5]);
    for l in v.layers() {
        let (ih, hh) = (l.w_ih.as_q8().expect("q8"), l.w_hh.as_q8().expect("q8"));
        assert_eq!(ih.scale(), hh.scale());
    }
    assert_eq!(Model::from_view(&v), m);
    let h = v.header;
    assert_eq!(h.scale_count(), 2 * 3 + 2);
    assert_eq!(h.weight_bytes(), 17 + 4 * (8 + 10));
}

proptest! {
    /// Any shared-scale model: the bytes are the documented fields (w_hh's
    /// scale string empty), decode back to the model, and are shorter than
    /// the same model as per-matrix q8 by exactly one scale string per layer.
    #[test]
    fn shared_models_round_trip_and_save_a_scale_string_per_layer(
        h in arb_header(), seed in any::<u64>(),
    ) {
        let h = Header { dtype: Dtype::Q8Shared, ..h };
        let m = Model::random(h, seed);
        let bytes = m.encode();
        prop_assert_eq!(&bytes, &Fields::of(&m).file());
        let v = format::decode_family(&bytes).expect("decode");
        prop_assert_eq!(&Model::from_view(&v), &m);
        let per_matrix = with_dtype(&m, Dtype::Q8).encode();
        let saved = 4 * h.layer_scale_len() * h.n_layers;
        // Each saved string also loses its length varint's extra bytes (one scale string
        // of 4·G·n_h bytes has a varint of 1 or 2 bytes, the empty one of 1).
        let varint = |n: usize| if n < 128 { 1 } else { 2 };
        prop_assert_eq!(
            per_matrix.len() - bytes.len(),
            h.n_layers * (4 * h.layer_scale_len() + varint(4 * h.layer_scale_len()) - 1)
        );
        prop_assert_eq!(
            Header { dtype: Dtype::Q8, ..h }.weight_bytes() - h.weight_bytes(),
            saved
        );
        // The writer also takes w_hh's scales as the file holds them: empty.
        let mut empty = m.clone();
        for l in &mut empty.layers {
            if let W::Q8(_, s) = &mut l.w_hh {
                s.clear();
            }
        }
        prop_assert_eq!(empty.encode(), bytes);
    }
}

#[test]
fn shared_quantization_takes_the_larger_of_the_two_matrices_per_unit() {
    // Layer 0: w_ih [G=1][n_x=2][n_h=2] (unit k = column k), w_hh [2][2] (unit = row).
    let ih = WeightLayout::GateTransposed {
        gates: 1,
        n_in: 2,
        n_h: 2,
    };
    let hh = WeightLayout::RowMajor { rows: 2, n_in: 2 };
    let w_ih = [1.27, 0.5, -0.635, 0.0];
    let w_hh = [0.1, -2.54, 0.0, 0.0];
    let (mut q_ih, mut q_hh, mut s) = ([0i8; 4], [0i8; 4], [0f32; 2]);
    let e = quantize_weights_shared(
        ["w_ih", "w_hh"],
        [&w_ih, &w_hh],
        [ih, hh],
        [&mut q_ih, &mut q_hh],
        &mut s,
    )
    .expect("quantize");
    // Unit 0: max(1.27, 0.635 | 0.1, 2.54) = 2.54; unit 1: max(0.5, 0.0 | 0, 0) = 0.5.
    assert_eq!(s, [2.54 / 127.0, 0.5 / 127.0]);
    assert_eq!(q_ih, [64, 127, -32, 0]);
    assert_eq!(q_hh, [5, -127, 0, 0]);
    for (w, q, layout, e) in [(&w_ih, &q_ih, ih, e[0]), (&w_hh, &q_hh, hh, e[1])] {
        let worst = w
            .iter()
            .zip(q)
            .enumerate()
            .map(|(i, (&w, &q))| (f32::from(q) * s[layout.unit_of(i)] - w).abs())
            .fold(0.0f32, f32::max);
        assert_eq!(e, worst);
        assert!(e <= s[0] / 2.0 * 1.0001);
    }
    // One matrix alone is the per-matrix rule.
    let (mut q1, mut s1) = ([0i8; 4], [0f32; 2]);
    let e1 = quantize_weights("w_ih", &w_ih, ih, &mut q1, &mut s1).expect("quantize");
    assert_eq!(s1, [1.27 / 127.0, 0.5 / 127.0]);
    assert_eq!(q1, [127, 127, -64, 0]);
    assert!(e1 < e[0]);
    // Errors name the matrix.
    let w_bad = [0.0, f32::NAN, 0.0, 0.0];
    assert_eq!(
        quantize_weights_shared(
            ["w_ih", "w_hh"],
            [&w_ih, &w_bad],
            [ih, hh],
            [&mut q_ih, &mut q_hh],
            &mut s,
        ),
        Err(Error::NonFinite {
            tensor: "w_hh",
            index: 1
        })
    );
    assert_eq!(
        quantize_weights_shared(
            ["w_ih", "w_hh"],
            [&w_ih, &w_hh[..3]],
            [ih, hh],
            [&mut q_ih, &mut q_hh],
            &mut s,
        ),
        Err(Error::TensorLength {
            tensor: "w_hh",
            expected: 4,
            found: 3
        })
    );
}

// ---------------------------------------------------------------- rejections

#[test]
fn rejects_a_w_hh_scale_string_under_shared_scales() {
    let m = with_dtype(&small(CellKind::Gru, Dtype::Q8), Dtype::Q8Shared);
    // Decoding: the per-matrix file's w_hh scales under the shared code.
    let f = Fields::of(&with_dtype(&m, Dtype::Q8));
    let mut f2 = f.clone();
    f2.codes[1] = Dtype::Q8Shared.code();
    let expected = Error::TensorLength {
        tensor: "w_hh.scale",
        expected: 0,
        found: 12,
    };
    assert_eq!(decode_err(&f2.file()), expected);
    // Encoding: w_hh's scales differ from w_ih's (small's are independent).
    assert_eq!(m.try_encode(), Err(expected));
    // Layer 1 alone.
    let mut m1 = small(CellKind::Lstm, Dtype::Q8Shared);
    if let W::Q8(_, s) = &mut m1.layers[1].w_hh {
        s[0] *= 2.0;
    }
    assert_eq!(
        m1.try_encode(),
        Err(Error::TensorLength {
            tensor: "l1.w_hh.scale",
            expected: 0,
            found: 16
        })
    );
}

#[test]
fn rejects_bad_shared_scales_and_minus_128() {
    for v in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let mut m = small(CellKind::Gru, Dtype::Q8Shared);
        let l1 = &mut m.layers[1];
        for w in [&mut l1.w_ih, &mut l1.w_hh] {
            if let W::Q8(_, s) = w {
                s[5] = v;
            }
        }
        let expected = Error::BadScale {
            tensor: "l1.w_ih.scale",
            index: 5,
        };
        assert_eq!(decode_err(&Fields::of(&m).file()), expected);
        if v == 0.0 {
            assert_eq!(m.try_encode(), Err(expected));
        }
    }
    let mut m = small(CellKind::Lstm, Dtype::Q8Shared);
    if let W::Q8(q, _) = &mut m.layers[0].w_hh {
        q[3] = -128;
    }
    let expected = Error::QuantOutOfRange {
        tensor: "w_hh",
        index: 3,
    };
    assert_eq!(m.try_encode(), Err(expected));
    assert_eq!(decode_err(&Fields::of(&m).file()), expected);
    // w_ih's scale string must still hold G·n_h scales.
    let mut f = Fields::of(&small(CellKind::Rnn, Dtype::Q8Shared));
    f.strings[1].truncate(4 * 3);
    assert_eq!(
        decode_err(&f.file()),
        Error::TensorLength {
            tensor: "w_ih.scale",
            expected: 4,
            found: 3
        }
    );
}

#[test]
fn rejects_every_truncation_and_flipped_bit_of_a_shared_file() {
    let b = small(CellKind::Lstm, Dtype::Q8Shared).encode();
    for n in 0..b.len() {
        let e = decode_err(&b[..n]);
        assert!(
            matches!(e, Error::Truncated | Error::Checksum { .. }),
            "prefix of {n} bytes: {e:?}"
        );
    }
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
}

#[test]
fn a_version_1_file_cannot_hold_shared_scales() {
    // Version 1's dtype field only knows f32; a v1 body with dtype 02 is refused.
    let v1 = include_bytes!("data/v1_tiny_nv3_nh2.lstm");
    let mut body = v1[..v1.len() - 4].to_vec();
    body[5] = Dtype::Q8Shared.code();
    assert_eq!(
        decode_err(&common::family::with_crc(body)),
        Error::UnsupportedDtype { found: 2 }
    );
}

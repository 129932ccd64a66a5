//! Format version 2: round trips for every family member, the documented
//! bytes, and quantization. Rejections are in `format_v2_rejects.rs`,
//! version-1 compatibility in `format_v1_compat.rs`.

mod common;

use common::family::{Fields, Model, W, arb_header, documented_gru, documented_hex};
use lstm_core::Error;
use lstm_core::format::{self, Dims, Dtype, FamilyParts, Header, InputKind};
use proptest::prelude::*;

// ---------------------------------------------------------------- round trips

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

/// FORMAT.md's `v2-example`: per-matrix scales, 1 for every `w_hh` unit.
fn example() -> Model {
    documented_gru(Dtype::Q8, 1.0)
}

/// The hex bytes of the block tagged `hex v2-example` in FORMAT.md.
fn documented_example() -> Vec<u8> {
    documented_hex("v2-example")
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

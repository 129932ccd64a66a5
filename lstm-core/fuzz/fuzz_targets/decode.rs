//! Fuzz the model decoder: any bytes must give `Ok` or a typed `Err`, never a
//! panic; a decoded model (version 1 or 2) must re-encode to the same bytes,
//! and a plain one must run one step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lstm_core::format::{self, FamilyParts, FamilyView, InputKind, LayerParts, ModelParts, WeightParts, Weights};
use lstm_core::{CellView, Input, Kernel};

fuzz_target!(|data: &[u8]| {
    check(data);
    // Also with a valid CRC-32 appended, so the fuzzer gets past the
    // checksum and exercises the structural and semantic checks.
    let mut fixed = data.to_vec();
    fixed.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    check(&fixed);
});

fn check(data: &[u8]) {
    let Ok(family) = format::decode_family(data) else {
        assert!(format::decode(data).is_err(), "decode accepted what decode_family refused");
        return;
    };
    if family.version == 2 {
        assert_eq!(reencode_v2(&family), data, "v2 round trip changed the bytes");
    }
    let Ok(m) = format::decode(data) else {
        assert!(!family.header.is_plain(), "a plain model did not decode as ModelView");
        return;
    };
    let v = |t: format::Tensor<'_>| t.iter().collect::<Vec<f32>>();
    let (w_ih, w_hh, b, w_y, b_y) = (v(m.w_ih), v(m.w_hh), v(m.b), v(m.w_y), v(m.b_y));
    let parts = ModelParts { input: m.input, dims: m.dims, vocab: m.vocab, w_ih: &w_ih, w_hh: &w_hh, b: &b, w_y: &w_y, b_y: &b_y };
    if family.version == 1 {
        let mut out = vec![0u8; data.len()];
        let n = format::encode(&parts, &mut out).expect("a decoded model re-encodes");
        assert_eq!(&out[..n], data, "v1 round trip changed the bytes");
    }
    let cell = CellView::from_stacked(m.dims, &w_ih, &w_hh, &b, &w_y, &b_y).expect("view");
    let (mut h, mut c, mut g) = (vec![0.0; m.dims.n_h], vec![0.0; m.dims.n_h], vec![0.0; 4 * m.dims.n_h]);
    let x = if m.input == InputKind::OneHot { Input::Token(0) } else { Input::Dense(&w_ih[..m.dims.n_x]) };
    Kernel::Portable.step(&cell, x, &mut h, &mut c, &mut g).expect("step");
}

/// Owned copies of one weight matrix: f32 values, or int8 values and scales.
type OwnedWeights = (Vec<f32>, Vec<i8>, Vec<f32>);

fn owned(w: Weights<'_>) -> OwnedWeights {
    match w {
        Weights::F32(t) => (t.iter().collect(), vec![], vec![]),
        Weights::Q8(t) => (vec![], t.q().to_vec(), t.scale().iter().collect()),
    }
}

fn parts(w: &OwnedWeights, q8: bool) -> WeightParts<'_> {
    if q8 { WeightParts::Q8 { q: &w.1, scale: &w.2 } } else { WeightParts::F32(&w.0) }
}

fn reencode_v2(m: &FamilyView<'_>) -> Vec<u8> {
    let q8 = m.header.dtype.is_q8();
    let layers: Vec<(OwnedWeights, OwnedWeights, Vec<f32>, Vec<f32>)> = m
        .layers()
        .iter()
        .map(|l| (owned(l.w_ih), owned(l.w_hh), l.b.iter().collect(), l.b_hn.iter().collect()))
        .collect();
    let layer_parts: Vec<LayerParts<'_>> = layers
        .iter()
        .map(|(w_ih, w_hh, b, b_hn)| LayerParts { w_ih: parts(w_ih, q8), w_hh: parts(w_hh, q8), b, b_hn })
        .collect();
    let (w_y, b_y) = (owned(m.w_y), m.b_y.iter().collect::<Vec<f32>>());
    let p = FamilyParts { header: m.header, vocab: m.vocab, layers: &layer_parts, w_y: parts(&w_y, q8), b_y: &b_y };
    let mut out = vec![0u8; format::encoded_len_family(&p).expect("a decoded model has a length")];
    let n = format::encode_family(&p, &mut out).expect("a decoded model re-encodes");
    out.truncate(n);
    out
}

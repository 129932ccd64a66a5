//! Shared helpers: random models and their encodings.
#![allow(dead_code)]

pub mod family;

use lstm_core::format::{self, Dims, InputKind, ModelParts};

/// An owned model in the file layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Owned {
    pub input: InputKind,
    pub dims: Dims,
    pub vocab: String,
    pub w_ih: Vec<f32>,
    pub w_hh: Vec<f32>,
    pub b: Vec<f32>,
    pub w_y: Vec<f32>,
    pub b_y: Vec<f32>,
}

impl Owned {
    pub fn parts(&self) -> ModelParts<'_> {
        ModelParts {
            input: self.input,
            dims: self.dims,
            vocab: &self.vocab,
            w_ih: &self.w_ih,
            w_hh: &self.w_hh,
            b: &self.b,
            w_y: &self.w_y,
            b_y: &self.b_y,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let parts = self.parts();
        let mut buf = vec![0u8; format::encoded_len(&parts).expect("len")];
        let n = format::encode(&parts, &mut buf).expect("encode");
        assert_eq!(n, buf.len());
        buf
    }

    pub fn cell(&self) -> lstm_core::CellView<'_> {
        lstm_core::CellView::from_stacked(
            self.dims, &self.w_ih, &self.w_hh, &self.b, &self.w_y, &self.b_y,
        )
        .expect("cell view")
    }
}

/// A deterministic pseudo-random model (xorshift), values in [-scale, scale].
pub fn random_model(n_v: usize, n_h: usize, seed: u64, scale: f32) -> Owned {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    };
    let dims = Dims {
        n_x: n_v,
        n_h,
        n_y: n_v,
    };
    let mut fill = |n: usize| (0..n).map(|_| next()).collect::<Vec<f32>>();
    let vocab: String = (0..n_v as u32)
        .map(|i| char::from_u32(0x61 + i).unwrap_or('?'))
        .collect();
    Owned {
        input: InputKind::OneHot,
        dims,
        vocab,
        w_ih: fill(dims.w_ih_len()),
        w_hh: fill(dims.w_hh_len()),
        b: fill(dims.b_len()),
        w_y: fill(dims.w_y_len()),
        b_y: fill(dims.b_y_len()),
    }
}

/// Prints a conformance run's line (`label: passed, failed, comparisons`) and fails the test with
/// the first 20 mismatches if there are any.
pub fn assert_conformant(
    label: &str,
    passed: usize,
    failed: usize,
    comparisons: usize,
    mismatches: &[String],
) {
    println!("{label}: {passed} passed, {failed} failed ({comparisons} comparisons)");
    assert!(
        mismatches.is_empty(),
        "{label}: {} mismatches, the first:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}

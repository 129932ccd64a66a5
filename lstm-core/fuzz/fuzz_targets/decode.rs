//! Fuzz the model decoder: any bytes must give `Ok` or a typed `Err`, never a
//! panic; a decoded model must re-encode to the same bytes and run one step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lstm_core::format::{self, InputKind, ModelParts};
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
    let Ok(m) = format::decode(data) else { return };
    let v = |t: format::Tensor<'_>| t.iter().collect::<Vec<f32>>();
    let (w_ih, w_hh, b, w_y, b_y) = (v(m.w_ih), v(m.w_hh), v(m.b), v(m.w_y), v(m.b_y));
    let parts = ModelParts { input: m.input, dims: m.dims, vocab: m.vocab, w_ih: &w_ih, w_hh: &w_hh, b: &b, w_y: &w_y, b_y: &b_y };
    let mut out = vec![0u8; data.len()];
    let n = format::encode(&parts, &mut out).expect("a decoded model re-encodes");
    assert_eq!(&out[..n], data, "round trip changed the bytes");
    let cell = CellView::from_stacked(m.dims, &w_ih, &w_hh, &b, &w_y, &b_y).expect("view");
    let (mut h, mut c, mut g) = (vec![0.0; m.dims.n_h], vec![0.0; m.dims.n_h], vec![0.0; 4 * m.dims.n_h]);
    let x = if m.input == InputKind::OneHot { Input::Token(0) } else { Input::Dense(&w_ih[..m.dims.n_x]) };
    Kernel::Portable.step(&cell, x, &mut h, &mut c, &mut g).expect("step");
}

//! The q8 product's conformance: every implementation compiled for this
//! target (portable, AVX2, AVX-VNNI, AVX-512 VNNI) against the portable
//! one, bit for bit, on the shared cases of `lstm_core::conformance::q8_cases`
//! (the Cortex-M4F's DSP routine runs the same cases under QEMU,
//! `conformance-m4f/`). An implementation this CPU cannot run prints a skip
//! line, or fails when `LSTM_REQUIRE_SIMD=1` (set on an AVX2 + FMA CPU) for
//! AVX2; AVX-VNNI and AVX-512 VNNI are extensions a CPU may lack even then.

mod common;

use lstm_core::Kernel;
use lstm_core::conformance::{self, SCRATCH_Q8_LEN};
use lstm_core::kernels::Q8Impl;
use lstm_core::quant::{ACC_SCALE, dot_q8, q8_output, q15};

#[test]
fn every_q8_implementation_is_bit_identical_to_portable() {
    let mut scratch = vec![0.0f32; SCRATCH_Q8_LEN];
    let mut ran = 0;
    let cases = conformance::q8_cases().count();
    for &imp in Q8Impl::ALL {
        if !imp.runs_here() {
            let reason = format!("q8 {} not available on this CPU", imp.name());
            // LSTM_REQUIRE_SIMD=1 promises AVX2 and FMA; the VNNI products need more.
            if imp.is_extension() {
                conformance::skip_extension(&reason);
            } else {
                conformance::skip(&reason);
            }
            continue;
        }
        let mut mismatches = Vec::new();
        let summary = conformance::run_q8(imp, &mut scratch, |m| mismatches.push(m.to_string()));
        common::assert_conformant(
            &format!("conformance q8 {}", imp.name()),
            summary.passed,
            summary.failed,
            summary.comparisons,
            &mismatches,
        );
        assert_eq!(summary.passed, cases);
        ran += 1;
    }
    assert!(ran >= 1);
}

/// The cases cover what the suite promises: every n in 1..=70 and the large
/// ones, row counts that are not multiples of the blocking, every
/// misalignment, and the extreme accumulator.
#[test]
fn q8_cases_cover_every_size_alignment_and_the_bound() {
    let cases: Vec<_> = conformance::q8_cases().collect();
    for n in (1..=70).chain([97, 130, 257, 516]) {
        assert!(
            cases.iter().any(|c| c.n == n && c.rows == n),
            "no square case for n {n}"
        );
    }
    for off in 0..4 {
        assert!(cases.iter().any(|c| c.w_offset == off), "no w offset {off}");
    }
    assert!(cases.iter().any(|c| c.x_offset == 1));
    for rem in 1..4 {
        assert!(cases.iter().any(|c| c.rows % 4 == rem && c.rows > 4));
    }
    assert!(cases.iter().any(|c| c.extreme && c.n == 516));
}

/// The portable reference itself against an independent i64 / f64 computation.
#[test]
fn the_reference_product_is_the_documented_formula() {
    let n = 516;
    let w: Vec<i8> = (0..3 * n)
        .map(|i| ((i * 37 % 255) as i16 - 127) as i8)
        .collect();
    let h: Vec<f32> = (0..n)
        .map(|j| ((j * 7919 % 65535) as f32 - 32767.0) / 32768.0)
        .collect();
    let scale = [0.5f32, 3.0e-3, 1.0];
    let mut x = vec![0i16; n];
    let mut out = [0.0f32; 3];
    Kernel::Portable.q15_state(&h, &mut x).expect("q15");
    Kernel::Portable
        .gemv_q8(&w, &scale, &x, &mut out)
        .expect("gemv_q8");
    for k in 0..3 {
        let exact: i64 = (0..n)
            .map(|j| i64::from(w[k * n + j]) * i64::from(q15(h[j])))
            .sum();
        assert_eq!(i64::from(dot_q8(&w[k * n..(k + 1) * n], &x)), exact);
        let want = ((exact as f32) * ACC_SCALE) * scale[k];
        assert_eq!(out[k].to_bits(), want.to_bits());
        assert_eq!(out[k], q8_output(exact as i32, scale[k]));
    }
}

/// Bad shapes are typed errors, and rows beyond the bound are refused.
#[test]
fn q8_products_refuse_bad_shapes_and_overlong_rows() {
    use lstm_core::Error;
    let kernel = Kernel::detect();
    let mut out = [0.0f32; 2];
    let x = [0i16; 3];
    assert!(matches!(
        kernel.gemv_q8(&[0; 5], &[1.0; 2], &x, &mut out),
        Err(Error::TensorLength { .. })
    ));
    assert!(matches!(
        kernel.gemv_q8(&[0; 6], &[1.0; 1], &x, &mut out),
        Err(Error::BufferTooSmall { .. })
    ));
    let long = vec![0i16; 517];
    assert!(matches!(
        kernel.gemv_q8(&vec![0; 2 * 517], &[1.0; 2], &long, &mut out),
        Err(Error::AccumulatorBound {
            n: 517,
            max: 516,
            ..
        })
    ));
    let mut xs = [0i16; 2];
    assert!(kernel.q15_state(&[0.0; 3], &mut xs).is_err());
    assert!(matches!(
        kernel.gemv_q8_add(
            &[0; 6], &[1.0; 2], &x, &[0; 1], &[1.0; 2], &[0.0; 2], &mut out
        ),
        Err(Error::BufferTooSmall { .. })
    ));
    // Zero columns: every output is 0 · scale.
    kernel
        .gemv_q8(&[], &[1.0, 2.0], &[], &mut out)
        .expect("empty rows");
    assert_eq!(out, [0.0, 0.0]);
}

/// Whole q8 networks (every cell kind, 1–3 layers): every kernel this CPU
/// runs against the portable one, bit for bit — steps, split steps and the
/// output layer. On x86-64 the AVX2 kernel's products take the best
/// `vpdpwssd` this CPU has (AVX-512 VNNI, AVX-VNNI, else AVX2); the test
/// above checks each of those products on its own.
#[test]
fn q8_networks_are_bit_identical_on_every_kernel() {
    let mut scratch = vec![0.0f32; conformance::SCRATCH_Q8_NET_LEN];
    let cases = conformance::q8_net_cases().count();
    let mut ran = 0;
    for &kernel in Kernel::ALL {
        if !kernel.runs_here() {
            conformance::skip(&format!(
                "kernel {} not available on this CPU",
                kernel.name()
            ));
            continue;
        }
        // Every product this kernel can run (x86-64: from the best down to AVX2).
        for &imp in Q8Impl::ALL.iter().rev() {
            imp.cap_best();
            if kernel.q8_impl() != imp {
                continue;
            }
            let mut mismatches = Vec::new();
            let summary =
                conformance::run_q8_net(kernel, &mut scratch, |m| mismatches.push(m.to_string()));
            common::assert_conformant(
                &format!(
                    "conformance q8 networks {} (products {})",
                    kernel.name(),
                    imp.name()
                ),
                summary.passed,
                summary.failed,
                summary.comparisons,
                &mismatches,
            );
            assert_eq!(summary.passed, cases);
            ran += 1;
        }
        // Back to the default: the best product this CPU has.
        if let Some(best) = Q8Impl::ALL.last() {
            best.cap_best();
        }
    }
    // The portable kernel, and the fast kernel with each product this CPU runs.
    let runnable = Q8Impl::ALL.iter().filter(|i| i.runs_here()).count();
    assert_eq!(ran, runnable);
}

/// The q8 network cases cover every kind, 1–3 layers, the hidden sizes the
/// suite promises (1..=70, 96, 97, 100, 128, 130, 256, 257; 13, 50 and 100
/// stacked too), dense input, misaligned weights and saturation.
#[test]
fn q8_network_cases_cover_kinds_layers_sizes() {
    use lstm_core::format::CellKind;
    let cases: Vec<_> = conformance::q8_net_cases().collect();
    for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        for n_h in (1..=70).chain([96, 97, 100, 128, 130, 256, 257]) {
            assert!(
                cases
                    .iter()
                    .any(|c| c.kind == kind && c.layers == 1 && c.n_h == n_h && !c.dense),
                "no {} case at n_h {n_h}",
                kind.name()
            );
        }
        for layers in [2, 3] {
            for n_h in [13, 50, 100] {
                assert!(
                    cases
                        .iter()
                        .any(|c| c.kind == kind && c.layers == layers && c.n_h == n_h),
                    "no {} x{layers} case at n_h {n_h}",
                    kind.name()
                );
            }
        }
    }
    assert!(cases.iter().any(|c| c.dense));
    for off in 1..4 {
        assert!(cases.iter().any(|c| c.offset == off), "no offset {off}");
    }
    assert!(cases.iter().any(|c| c.reach > 10.0));
    // Quad order: sizes not multiples of the blocking, every layer count,
    // aligned and not, one-hot and dense.
    for layers in [1, 2, 3] {
        for n_h in [1, 3, 5, 13, 50, 64, 100] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.quads && c.layers == layers && c.n_h == n_h),
                "no quads x{layers} case at n_h {n_h}"
            );
        }
    }
    for off in 0..4 {
        assert!(
            cases.iter().any(|c| c.quads && c.offset == off),
            "no quads offset {off}"
        );
    }
    assert!(cases.iter().any(|c| c.quads && c.dense));
    assert!(cases.iter().any(|c| c.quads && !c.dense));
}

/// The q8 dtype's table activations: every kernel this target has against
/// the portable definition, bit for bit, on the shared cases of
/// `lstm_core::conformance::table_cases` (edges, NaN, beyond the range).
#[test]
fn every_kernel_computes_the_table_activations_bit_for_bit() {
    let mut scratch = vec![0.0f32; conformance::SCRATCH_TABLE_LEN];
    let cases = conformance::table_cases().count();
    let mut ran = 0;
    for &kernel in Kernel::ALL {
        if !kernel.runs_here() {
            conformance::skip(&format!("{} not available on this CPU", kernel.name()));
            continue;
        }
        let mut mismatches = Vec::new();
        let summary =
            conformance::run_table(kernel, &mut scratch, |m| mismatches.push(m.to_string()));
        common::assert_conformant(
            &format!("conformance table activations {}", kernel.name()),
            summary.passed,
            summary.failed,
            summary.comparisons,
            &mismatches,
        );
        assert_eq!(summary.passed, cases);
        ran += 1;
    }
    assert!(ran >= 1);
}

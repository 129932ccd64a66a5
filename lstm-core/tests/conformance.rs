//! The kernel conformance suite: every kernel compiled for this target
//! against the portable one, bit for bit, on the shared cases of
//! `lstm_core::conformance` (the Cortex-M4F runs the same cases under QEMU,
//! `conformance-m4f/`). A kernel this CPU cannot run prints a skip line, or
//! fails when `LSTM_REQUIRE_SIMD=1`.

mod common;

use lstm_core::Kernel;
use lstm_core::conformance::{self, SCRATCH_LEN};
use lstm_core::format::CellKind;

#[test]
fn every_kernel_is_bit_identical_to_portable() {
    let mut scratch = vec![0.0f32; SCRATCH_LEN];
    let mut ran = 0;
    for &kernel in Kernel::ALL {
        if !kernel.runs_here() {
            conformance::skip(&format!("{} not available on this CPU", kernel.name()));
            continue;
        }
        let mut mismatches = Vec::new();
        let summary = conformance::run(kernel, &mut scratch, |m| mismatches.push(m.to_string()));
        common::assert_conformant(
            &format!("conformance {}", kernel.name()),
            summary.passed,
            summary.failed,
            summary.comparisons,
            &mismatches,
        );
        assert!(
            summary.passed >= 3 * 76 * 2 + 3 * 2 * 11 * 2,
            "only {} cases ran",
            summary.passed
        );
        ran += 1;
    }
    assert!(ran >= 1);
}

/// The cases cover what the suite promises.
#[test]
fn cases_cover_every_kind_size_and_input_kind() {
    let cases: Vec<_> = conformance::cases().collect();
    for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        // Every hidden size 1..=70 and the large ones, one-hot and dense, one layer.
        for n_h in (1..=70).chain([96, 97, 128, 130, 256, 257]) {
            for dense in [false, true] {
                assert!(
                    cases.iter().any(|c| c.kind == kind
                        && c.layers == 1
                        && c.n_h == n_h
                        && c.dense == dense),
                    "no case for {} n_h {n_h} dense {dense}",
                    kind.name()
                );
            }
        }
        for layers in [1, 2, 3] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.kind == kind && c.layers == layers && c.scale > 50.0),
                "no saturating {} case with {layers} layers",
                kind.name()
            );
        }
        // Stacks at sizes below, at and above a multiple of eight.
        for n_h in [1, 8, 9, 31, 33, 64] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.kind == kind && c.layers == 3 && c.n_h == n_h),
                "no three-layer {} case at n_h {n_h}",
                kind.name()
            );
        }
    }
}

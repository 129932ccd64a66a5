//! lstm-core's kernel conformance suite on the Cortex-M4F, under QEMU
//! (`cargo run --release` here; `cargo xtask test` runs it).
//!
//! Runs every case of `lstm_core::conformance` (the same cases as the host's
//! `tests/conformance.rs`) on `Kernel::CortexM4F` against `Kernel::Portable`,
//! bit for bit; prints each mismatch (the first 20) and a summary line
//! `conformance: N passed, M failed`, and exits QEMU with status 0 only if
//! every case passed. Then the same for the q8 product's cases
//! (`conformance::run_q8`, the DSP extension's `SXTB16` + `SMLAD` against
//! the portable sums), then whole q8 networks (`conformance::run_q8_net`:
//! every cell kind, 1–3 layers, steps, split steps and the output layer on
//! `Kernel::CortexM4F`, whose products are `SXTB16` + `SMLAD`), then the
//! q8 dtype's table activations (`conformance::run_table`), and a last
//! line `conformance: N passed, M failed` over all four.

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::hprintln;
use lstm_core::Kernel;
use lstm_core::conformance::{self, SCRATCH_LEN};
use lstm_core::kernels::Q8Impl;
// The panic handler: prints the message over semihosting, exits with failure.
use panic_semihosting as _;

/// The largest case's weights and buffers (about 1.1 MB of the board's 4 MB RAM, in `.bss`).
static SCRATCH: Mutex<RefCell<[f32; SCRATCH_LEN]>> = Mutex::new(RefCell::new([0.0; SCRATCH_LEN]));

/// Mismatches printed in full; the rest are only counted.
const SHOWN: usize = 20;

#[entry]
fn main() -> ! {
    let kernel = Kernel::CortexM4F;
    let mut shown = 0;
    let summary = interrupt::free(|cs| {
        let mut scratch = SCRATCH.borrow(cs).borrow_mut();
        conformance::run(kernel, &mut scratch[..], |m| {
            if shown < SHOWN {
                hprintln!("mismatch: {}", m);
                shown += 1;
            }
        })
    });
    hprintln!(
        "conformance: {} passed, {} failed ({} comparisons, kernel {} against portable)",
        summary.passed,
        summary.failed,
        summary.comparisons,
        kernel.name()
    );
    // The q8 product (int8 x Q15, SXTB16 + SMLAD) on the same scratch.
    let imp = kernel.q8_impl();
    let q8 = interrupt::free(|cs| {
        let mut scratch = SCRATCH.borrow(cs).borrow_mut();
        conformance::run_q8(imp, &mut scratch[..], |m| {
            if shown < SHOWN {
                hprintln!("mismatch: {}", m);
                shown += 1;
            }
        })
    });
    hprintln!(
        "conformance q8: {} passed, {} failed ({} comparisons, {} against portable)",
        q8.passed,
        q8.failed,
        q8.comparisons,
        imp.name()
    );
    // Whole q8 networks on the same scratch.
    let nets = interrupt::free(|cs| {
        let mut scratch = SCRATCH.borrow(cs).borrow_mut();
        conformance::run_q8_net(kernel, &mut scratch[..], |m| {
            if shown < SHOWN {
                hprintln!("mismatch: {}", m);
                shown += 1;
            }
        })
    });
    hprintln!(
        "conformance q8 networks: {} passed, {} failed ({} comparisons, kernel {} against portable)",
        nets.passed,
        nets.failed,
        nets.comparisons,
        kernel.name()
    );
    // The q8 dtype's table activations.
    let tables = interrupt::free(|cs| {
        let mut scratch = SCRATCH.borrow(cs).borrow_mut();
        conformance::run_table(kernel, &mut scratch[..], |m| {
            if shown < SHOWN {
                hprintln!("mismatch: {}", m);
                shown += 1;
            }
        })
    });
    hprintln!(
        "conformance table activations: {} passed, {} failed ({} comparisons, kernel {} against portable)",
        tables.passed,
        tables.failed,
        tables.comparisons,
        kernel.name()
    );
    hprintln!(
        "conformance: {} passed, {} failed",
        summary.passed + q8.passed + nets.passed + tables.passed,
        summary.failed + q8.failed + nets.failed + tables.failed
    );
    let ok = summary.failed == 0
        && summary.passed > 0
        && q8.failed == 0
        && q8.passed > 0
        && nets.failed == 0
        && nets.passed > 0
        && tables.failed == 0
        && tables.passed > 0
        && imp == Q8Impl::CortexM4Dsp
        && kernel.runs_here();
    debug::exit(if ok { EXIT_SUCCESS } else { EXIT_FAILURE });
    #[allow(clippy::empty_loop)]
    loop {}
}

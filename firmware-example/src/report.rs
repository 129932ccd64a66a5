//! What a run measures and prints besides the text: the per-token meter,
//! and the header, cost and report lines.

use firmware_example::out::Out;
use lstm_core::Kernel;

use crate::counter::{self, Counter};
use crate::image;
use crate::model::{self, HIDDEN, MACS_PER_TOKEN, OUTPUT};

/// The board this image is linked for.
#[cfg(not(feature = "black-pill"))]
const BOARD: &str = "QEMU mps2-an386 (Cortex-M4F)";
/// The board this image is linked for.
#[cfg(feature = "black-pill")]
const BOARD: &str = "STM32F411 Black Pill (Cortex-M4F)";

/// Per-token cost, from counter readings taken as each symbol is emitted.
///
/// `generate` calls `emit` once per symbol; between two calls it feeds the
/// previous symbol (one LSTM step) and, for a generated symbol, computes the
/// output layer and samples. The time spent inside `emit` (buffering and
/// writing text) is left out of every figure.
pub(crate) struct TokenMeter {
    /// Symbols emitted so far in this sample.
    emitted: usize,
    /// Index of the first generated (not prime) symbol.
    first_generated: usize,
    /// Counter reading when the last `emit` returned, and at the start.
    last_leave: u32,
    /// Model work over the whole `generate` call, outside `emit`.
    pub(crate) total: u64,
    /// Generated tokens timed, and their sum, min and max.
    tokens: u64,
    sum: u64,
    min: u64,
    max: u64,
}

impl TokenMeter {
    pub(crate) fn new(first_generated: usize) -> Self {
        TokenMeter {
            emitted: 0,
            first_generated,
            last_leave: 0,
            total: 0,
            tokens: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Before each call of `generate`.
    pub(crate) fn start_sample(&mut self, now: u32) {
        self.emitted = 0;
        self.last_leave = now;
    }

    /// At the start of `emit`.
    pub(crate) fn enter(&mut self, counter: &Counter, now: u32) {
        let work = counter.units(self.last_leave, now);
        self.total += work;
        // A generated symbol that follows another symbol: the interval is one
        // step (feeding the previous symbol), the output layer and sampling.
        // A sample's first symbol's interval also holds set-up, so it is left out.
        if self.emitted >= self.first_generated && self.emitted > 0 {
            self.tokens += 1;
            self.sum += work;
            self.min = self.min.min(work);
            self.max = self.max.max(work);
        }
        self.emitted += 1;
    }

    /// At the end of `emit`.
    pub(crate) fn leave(&mut self, now: u32) {
        self.last_leave = now;
    }

    /// After `generate` returns.
    pub(crate) fn finish(&mut self, counter: &Counter, now: u32) {
        self.total += counter.units(self.last_leave, now);
    }
}

/// The first lines: board, kernel, model.
#[inline(never)]
pub(crate) fn header(out: &mut impl Out, kernel: Kernel) {
    out.str("# lstm-core firmware-example on ");
    out.str(BOARD);
    out.str(", kernel ");
    out.line(kernel.name());
    out.str("# model: ");
    out.str(model::MODEL_PATH);
    out.str(" (");
    out.u64(model::MODEL_FILE_BYTES as u64);
    out.line(" bytes)");
    out.str("# model: vocab ");
    out.u64(OUTPUT as u64);
    out.str(", hidden ");
    out.u64(HIDDEN as u64);
    out.str(", ");
    out.u64(model::PARAMS as u64);
    out.str(" parameters, ");
    out.u64(MACS_PER_TOKEN as u64);
    out.str(" MACs per token (");
    out.str(model::KIND_TEXT);
    out.line(")");
}

/// The per-token lines.
#[inline(never)]
pub(crate) fn cost(out: &mut impl Out, meter: &TokenMeter) {
    if meter.tokens == 0 {
        return;
    }
    let unit = counter::UNIT;
    out.str("# ");
    out.str(unit);
    out.str(" per token: ");
    out.ratio(meter.sum, meter.tokens);
    out.str(" mean over ");
    out.u64(meter.tokens);
    out.str(" tokens (min ");
    out.u64(meter.min);
    out.str(", max ");
    out.u64(meter.max);
    out.line("): one step, output layer, softmax and sampling");
    out.str("# ");
    out.str(unit);
    out.str(" per MAC: ");
    out.ratio(meter.sum, meter.tokens * MACS_PER_TOKEN as u64);
    out.str(" (");
    out.u64(MACS_PER_TOKEN as u64);
    out.line(" MACs per token)");
}

/// The counter check and the flash / RAM lines.
#[inline(never)]
pub(crate) fn report(out: &mut impl Out, counter: &Counter) {
    #[cfg(not(feature = "black-pill"))]
    {
        const N: u32 = 1000;
        let extra = counter::self_check(counter, N);
        out.str("# icount self-check: 2000 more loop instructions measured as ");
        out.u64(extra);
        if extra == 2 * u64::from(N) {
            out.line(": -icount is on, counts are exact");
        } else {
            out.line(": -icount is OFF, the figures above follow the host's clock and vary from run to run");
        }
    }

    #[cfg(feature = "black-pill")]
    {
        let (t0, t1) = (counter.now(), counter.now());
        out.str("# counter: DWT_CYCCNT, core clock cycles at the reset clock (16 MHz HSI); ");
        out.u64(counter.units(t0, t1));
        out.line(" cycles between two reads");
    }

    let sizes = image::sizes();
    out.str("# flash: ");
    out.u64(sizes.flash as u64);
    out.str(" bytes from ");
    out.hex32(sizes.flash_start as u32);
    out.str(" (vector table, code, constants incl. ");
    out.u64(model::WEIGHT_BYTES as u64);
    out.str(" bytes of weights, .data init); weights in flash: ");
    out.line(if model::weights_in_flash(image::in_flash::<f32>) {
        "yes"
    } else {
        "NO"
    });
    let stack = image::stack_high_water();
    out.str("# RAM: ");
    out.u64(sizes.static_ram as u64);
    out.str(" bytes static (.data + .bss + .uninit), stack high-water mark ");
    out.u64(stack as u64);
    out.str(" bytes of ");
    out.u64(sizes.stack_available as u64);
    out.str(" (painted), ");
    out.u64((sizes.static_ram + stack) as u64);
    out.line(" bytes in all");
    out.line("# sizes from cortex-m-rt's linker symbols: flash = __sidata - __vector_table + (__edata - __sdata), static RAM = __euninit - __sdata");
}

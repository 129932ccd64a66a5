//! The cost counter: instructions under QEMU, cycles on a board.
//!
//! QEMU does not model the DWT cycle counter (`DWT_CYCCNT` reads 0), but with
//! `-icount shift=7,align=off,sleep=off` its virtual clock advances by exactly
//! 128 ns per executed instruction and by nothing else. The CMSDK APB timer 0
//! of the MPS2 board counts that clock down at 25 MHz: 3.2 ticks per
//! instruction, so `instructions = round(ticks / 3.2)`, exact for any one
//! interval shorter than the counter's wrap (~1.34e9 instructions). This is
//! the method of `MCU-COUNTING.md` (verified against an execution trace).
//!
//! On a real STM32F411 (`black-pill` feature) the DWT cycle counter runs, and
//! the figures are core clock cycles instead.

/// A free-running counter; [`Counter::now`] increases (modulo 2^32).
pub struct Counter {
    _private: (),
}

/// What one unit of [`Counter::units`] is.
#[cfg(not(feature = "black-pill"))]
pub const UNIT: &str = "instructions";
/// What one unit of [`Counter::units`] is.
#[cfg(feature = "black-pill")]
pub const UNIT: &str = "cycles";

#[cfg(not(feature = "black-pill"))]
mod cmsdk {
    //! CMSDK APB timer 0 of the MPS2 board (Arm DDI 0479, "APB timer").

    use core::ptr;

    /// Base address of timer 0 on the MPS2 AN385/AN386 (QEMU hw/arm/mps2.c).
    const BASE: usize = 0x4000_0000;
    /// Control register: bit 0 enables the counter.
    const CTRL: *mut u32 = BASE as *mut u32;
    /// Current value, counting down.
    const VALUE: *const u32 = (BASE + 0x4) as *const u32;
    /// Value loaded when the counter reaches zero.
    const RELOAD: *mut u32 = (BASE + 0x8) as *mut u32;

    /// Starts the down-counter from 0xFFFF_FFFF, free running.
    pub fn start() {
        // SAFETY: CTRL, VALUE and RELOAD are the timer's 32-bit, word-aligned
        // MMIO registers on this board; nothing else in this program touches
        // the timer, and its interrupt stays disabled (CTRL bit 3 = 0).
        unsafe {
            ptr::write_volatile(CTRL, 0);
            ptr::write_volatile(RELOAD, 0xFFFF_FFFF);
            ptr::write_volatile(VALUE as *mut u32, 0xFFFF_FFFF);
            ptr::write_volatile(CTRL, 1);
        }
    }

    /// The counter, inverted so that it increases.
    #[inline(always)]
    pub fn now() -> u32 {
        // SAFETY: a volatile read of the timer's VALUE register (see `start`);
        // reading has no side effect.
        !unsafe { ptr::read_volatile(VALUE) }
    }
}

impl Counter {
    /// Starts the counter; `None` if called twice.
    #[cfg(not(feature = "black-pill"))]
    pub fn start() -> Option<Counter> {
        cortex_m::Peripherals::take()?;
        cmsdk::start();
        Some(Counter { _private: () })
    }

    /// Starts the counter; `None` if called twice.
    #[cfg(feature = "black-pill")]
    pub fn start() -> Option<Counter> {
        let mut p = cortex_m::Peripherals::take()?;
        p.DCB.enable_trace();
        p.DWT.enable_cycle_counter();
        Some(Counter { _private: () })
    }

    /// The current count (timer ticks or cycles).
    #[inline(always)]
    pub fn now(&self) -> u32 {
        #[cfg(not(feature = "black-pill"))]
        {
            cmsdk::now()
        }
        #[cfg(feature = "black-pill")]
        {
            cortex_m::peripheral::DWT::cycle_count()
        }
    }

    /// Converts the count between two readings into [`UNIT`]s.
    pub fn units(&self, from: u32, to: u32) -> u64 {
        let ticks = u64::from(to.wrapping_sub(from));
        #[cfg(not(feature = "black-pill"))]
        {
            // 25 MHz ticks, 128 ns per instruction: ticks / 3.2, rounded.
            (ticks * 10 + 16) / 32
        }
        #[cfg(feature = "black-pill")]
        {
            ticks
        }
    }
}

/// Runs `subs r0, #1; bne` `n` times: exactly `2·n` instructions.
#[cfg(not(feature = "black-pill"))]
#[inline(never)]
pub fn known_loop(n: u32) {
    if n == 0 {
        return;
    }
    // SAFETY: the loop only counts a register down to zero; it reads and
    // writes no memory and leaves the stack alone.
    unsafe {
        core::arch::asm!(
            "1:",
            "subs {0}, #1",
            "bne 1b",
            inout(reg) n => _,
            options(nomem, nostack),
        );
    }
}

/// The self-check: time loops of `n` and `2·n` iterations and return the
/// difference, which is `2·n` instructions exactly when `-icount` is on.
#[cfg(not(feature = "black-pill"))]
pub fn self_check(counter: &Counter, n: u32) -> u64 {
    time_loop(counter, 2 * n).wrapping_sub(time_loop(counter, n))
}

/// Times one `known_loop(n)`, through the same instructions whatever `n`
/// (`black_box` keeps the compiler from specialising either call).
#[cfg(not(feature = "black-pill"))]
#[inline(never)]
fn time_loop(counter: &Counter, n: u32) -> u64 {
    let n = core::hint::black_box(n);
    let t0 = counter.now();
    known_loop(n);
    let t1 = counter.now();
    counter.units(t0, t1)
}

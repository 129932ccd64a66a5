//! Flash, RAM and stack figures of the running image, from linker symbols.
//!
//! cortex-m-rt's `link.x` defines a symbol at each section boundary:
//! `__vector_table` (start of flash), `.text`, `.rodata`, then the initial
//! values of `.data` at `__sidata` (its load address, in flash);
//! in RAM `__sdata..__edata` (`.data`), `__sbss..__ebss` (`.bss`),
//! `__suninit..__euninit` (`.uninit`), and the stack from `_stack_start`
//! (top of RAM) down to `_stack_end` (the end of the statics). So
//!
//! - flash used = `__sidata - __vector_table + (__edata - __sdata)`,
//! - static RAM = `__euninit - __sdata`,
//! - stack available = `_stack_start - _stack_end`.
//!
//! With the `paint-stack` feature cortex-m-rt fills the whole stack area with
//! `0xCCCC_CCCC` before `main`; the lowest word that no longer holds the paint
//! marks the deepest the stack has reached (the high-water mark).

use cortex_m_rt::STACK_PAINT_VALUE;

// Only the addresses of these symbols mean anything. Declared as zero-sized
// arrays they have no contents to read, so declaring them `safe` is sound.
unsafe extern "C" {
    safe static __vector_table: [u32; 0];
    safe static __sidata: [u32; 0];
    safe static __sdata: [u32; 0];
    safe static __edata: [u32; 0];
    safe static __euninit: [u32; 0];
    safe static _stack_start: [u32; 0];
    safe static _stack_end: [u32; 0];
}

fn addr(symbol: &[u32; 0]) -> usize {
    symbol.as_ptr() as usize
}

/// Flash and RAM occupied by the image, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Start of flash (the vector table).
    pub flash_start: usize,
    /// Vector table, code, constants (the weights) and `.data`'s initial values.
    pub flash: usize,
    /// `.data`, `.bss` and `.uninit`.
    pub static_ram: usize,
    /// Bytes between the end of the statics and the top of RAM.
    pub stack_available: usize,
}

/// The sizes, from the linker symbols.
pub fn sizes() -> Sizes {
    let data = addr(&__edata) - addr(&__sdata);
    Sizes {
        flash_start: addr(&__vector_table),
        flash: addr(&__sidata) - addr(&__vector_table) + data,
        static_ram: addr(&__euninit) - addr(&__sdata),
        stack_available: addr(&_stack_start) - addr(&_stack_end),
    }
}

/// True if `p` points into the flash part of the image (code and constants).
pub fn in_flash<T>(p: *const T) -> bool {
    let p = p as usize;
    (addr(&__vector_table)..addr(&__sidata)).contains(&p)
}

/// The most stack used since reset, in bytes: scans up from the bottom of
/// the stack area for the first word that is no longer the paint.
#[inline(never)]
pub fn stack_high_water() -> usize {
    let bottom = addr(&_stack_end);
    let top = addr(&_stack_start);
    let mut p = bottom;
    while p < top {
        // SAFETY: `p` is word-aligned (link.x asserts `_stack_end % 4 == 0`)
        // and inside the stack area, which is RAM; the words below the
        // deepest stack frame belong to no Rust object, and the scan stops at
        // the first word that was written, so it only reads dead stack.
        let word = unsafe { core::ptr::read_volatile(p as *const u32) };
        if word != STACK_PAINT_VALUE {
            break;
        }
        p += 4;
    }
    top - p
}

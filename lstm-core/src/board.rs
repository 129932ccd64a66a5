//! Will a model fit a board? The boards the firmware example links for, and
//! the flash and RAM a model needs there.
//!
//! One home for the budget, so the firmware's build script (which refuses a
//! model that cannot fit, before compiling) and `host-trainer inspect
//! --board` print the same figures.
//!
//! ```
//! use lstm_core::board::{self, Board};
//! use lstm_core::Dims;
//! // hidden 256, 69 symbols, f32: 1.4 MB of weights, more than the Black Pill's flash.
//! let dims = Dims { n_x: 69, n_h: 256, n_y: 69 };
//! let fit = board::fit(&Board::BLACK_PILL, dims, 4 * dims.param_count());
//! assert!(!fit.fits());
//! ```

use core::fmt;

use crate::Dims;

/// A microcontroller board's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// The name used on command lines (`black-pill`, `mps2-an386`).
    pub name: &'static str,
    /// Flash in bytes (code, constants, the weights).
    pub flash: usize,
    /// RAM in bytes (statics and the stack).
    pub ram: usize,
}

impl Board {
    /// QEMU's `mps2-an386` (Cortex-M4F): 4 MiB of SSRAM used as flash, 4 MiB of RAM
    /// (`firmware-example/memory-mps2-an386.x`).
    pub const MPS2_AN386: Board = Board {
        name: "mps2-an386",
        flash: 4 << 20,
        ram: 4 << 20,
    };
    /// STM32F411CEU6 "Black Pill": 512 KiB of flash, 128 KiB of RAM
    /// (`firmware-example/memory-black-pill.x`).
    pub const BLACK_PILL: Board = Board {
        name: "black-pill",
        flash: 512 << 10,
        ram: 128 << 10,
    };
    /// Every board, for `--board` value lists.
    pub const ALL: [Board; 2] = [Board::MPS2_AN386, Board::BLACK_PILL];

    /// The board called `name`.
    pub fn by_name(name: &str) -> Option<Board> {
        Board::ALL.into_iter().find(|b| b.name == name)
    }
}

/// Flash the firmware example takes besides the model (vector table, code,
/// constants), rounded up from its measured size with the serial console.
pub const FIRMWARE_FLASH: usize = 64 << 10;
/// RAM the firmware example takes besides the model's state buffers (statics,
/// the console's line buffer, call frames), rounded up from its measured stack.
pub const FIRMWARE_RAM: usize = 4 << 10;

/// The flash and RAM a model needs on a board, against the board's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The board.
    pub board: Board,
    /// Bytes of weights and vocabulary in flash.
    pub model_flash: usize,
    /// Model plus [`FIRMWARE_FLASH`].
    pub flash_needed: usize,
    /// Bytes of state buffers (h, c, gates, logits, sort order) on the stack.
    pub model_ram: usize,
    /// Model plus [`FIRMWARE_RAM`].
    pub ram_needed: usize,
}

impl Fit {
    /// True if both flash and RAM suffice.
    pub fn fits(&self) -> bool {
        self.flash_needed <= self.board.flash && self.ram_needed <= self.board.ram
    }
}

/// The fit of a model of `dims` whose weights take `weight_bytes` in flash
/// (`4 · params` for f32).
pub fn fit(board: &Board, dims: Dims, weight_bytes: usize) -> Fit {
    // The vocabulary is stored as UTF-8 text: at most 4 bytes a symbol.
    let model_flash = weight_bytes.saturating_add(dims.n_y.saturating_mul(4));
    // h, c and 4 gate rows of f32; logits (f32) and order (u16) per symbol.
    let model_ram = dims
        .n_h
        .saturating_mul(6 * 4)
        .saturating_add(dims.n_y.saturating_mul(4 + 2));
    Fit {
        board: *board,
        model_flash,
        flash_needed: model_flash.saturating_add(FIRMWARE_FLASH),
        model_ram,
        ram_needed: model_ram.saturating_add(FIRMWARE_RAM),
    }
}

impl fmt::Display for Fit {
    /// One line when it fits; otherwise what is over and what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.board;
        write!(
            f,
            "{}: flash {} of {} bytes (model {} + firmware {}), RAM {} of {} bytes (model {} + firmware {})",
            b.name,
            self.flash_needed,
            b.flash,
            self.model_flash,
            FIRMWARE_FLASH,
            self.ram_needed,
            b.ram,
            self.model_ram,
            FIRMWARE_RAM
        )?;
        if self.fits() {
            f.write_str(": fits")
        } else {
            f.write_str(
                ": DOES NOT FIT; train a smaller model (a smaller --hidden: the weights grow as \
                 4·H·(V + H + 1) + V·(H + 1)) or quantize it to int8 (`host-trainer quantize`, \
                 about a quarter of the bytes)",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(n_h: usize, v: usize) -> Dims {
        Dims {
            n_x: v,
            n_h,
            n_y: v,
        }
    }

    #[test]
    fn shipped_and_hidden_128_fit_the_black_pill_hidden_256_does_not() {
        let d = dims(64, 27);
        let f = fit(&Board::BLACK_PILL, d, 4 * d.param_count());
        assert_eq!(f.model_flash, 101_228 + 108);
        assert_eq!(f.model_ram, 64 * 24 + 27 * 6);
        assert!(f.fits());
        let d = dims(128, 27);
        assert!(fit(&Board::BLACK_PILL, d, 4 * d.param_count()).fits());
        let d = dims(256, 69);
        let f = fit(&Board::BLACK_PILL, d, 4 * d.param_count());
        assert_eq!(f.model_flash, 4 * 351_557 + 69 * 4);
        assert!(!f.fits());
        let text = f.to_string();
        assert!(
            text.contains("DOES NOT FIT") && text.contains("quantize"),
            "{text}"
        );
        assert!(fit(&Board::MPS2_AN386, d, 4 * d.param_count()).fits());
    }

    #[test]
    fn ram_alone_can_refuse() {
        let small = Board {
            name: "small",
            flash: 4 << 20,
            ram: 8 << 10,
        };
        let d = dims(256, 8);
        let f = fit(&small, d, 4 * d.param_count());
        assert!(f.flash_needed <= small.flash);
        assert_eq!(f.ram_needed, 256 * 24 + 8 * 6 + FIRMWARE_RAM);
        assert!(!f.fits());
    }

    #[test]
    fn boards_by_name() {
        assert_eq!(Board::by_name("black-pill"), Some(Board::BLACK_PILL));
        assert_eq!(Board::by_name("mps2-an386"), Some(Board::MPS2_AN386));
        assert_eq!(Board::by_name("pico"), None);
    }
}

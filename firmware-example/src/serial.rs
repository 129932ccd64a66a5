//! The console's serial port: polled, 115200 baud, 8N1.
//!
//! - QEMU `mps2-an386`: the CMSDK APB UART 0 at `0x4000_4000` (Arm DDI 0479,
//!   "APB UART"; QEMU hw/char/cmsdk-apb-uart.c), which QEMU connects to its
//!   first `-serial` (standard input and output with `-nographic`).
//! - STM32F411 Black Pill: USART1 on PA9 (TX) and PA10 (RX), alternate
//!   function 7 (RM0383 sections 6, 8 and 19; datasheet table 9), from the
//!   16 MHz HSI reset clock.

use core::ptr::{read_volatile, write_volatile};

use firmware_example::out::Out;

/// A 32-bit MMIO register at `addr`.
fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

/// Reads the register at `addr`.
fn read(addr: usize) -> u32 {
    // SAFETY: called only with the addresses of this board's UART / RCC /
    // GPIO registers below: word-aligned MMIO, readable at any time.
    unsafe { read_volatile(reg(addr)) }
}

/// Writes the register at `addr`.
fn write(addr: usize, v: u32) {
    // SAFETY: as `read`; nothing else in this program touches these peripherals.
    unsafe { write_volatile(reg(addr), v) }
}

#[cfg(not(feature = "black-pill"))]
mod regs {
    //! CMSDK APB UART 0.
    const BASE: usize = 0x4000_4000;
    pub const DATA: usize = BASE;
    pub const STATE: usize = BASE + 0x4;
    pub const CTRL: usize = BASE + 0x8;
    pub const BAUDDIV: usize = BASE + 0x10;
    /// STATE: transmit buffer full.
    pub const TX_FULL: u32 = 1 << 0;
    /// STATE: receive buffer full.
    pub const RX_FULL: u32 = 1 << 1;
}

#[cfg(feature = "black-pill")]
mod regs {
    //! STM32F411 USART1, GPIOA and the RCC enables.
    pub const RCC_AHB1ENR: usize = 0x4002_3830;
    pub const RCC_APB2ENR: usize = 0x4002_3844;
    pub const GPIOA_MODER: usize = 0x4002_0000;
    pub const GPIOA_AFRH: usize = 0x4002_0024;
    const BASE: usize = 0x4001_1000;
    pub const SR: usize = BASE;
    pub const DR: usize = BASE + 0x4;
    pub const BRR: usize = BASE + 0x8;
    pub const CR1: usize = BASE + 0xC;
    /// SR: a byte was received.
    pub const RXNE: u32 = 1 << 5;
    /// SR: the transmit register is empty.
    pub const TXE: u32 = 1 << 7;
}

/// The console's port.
pub struct Serial {
    _private: (),
}

impl Serial {
    /// Enables the port, transmitter and receiver.
    #[cfg(not(feature = "black-pill"))]
    pub fn start() -> Serial {
        // 25 MHz / 217 = 115200 baud (QEMU ignores the rate, but wants >= 16).
        write(regs::BAUDDIV, 217);
        write(regs::CTRL, 0b11); // TX and RX enable
        Serial { _private: () }
    }

    /// Enables the port, transmitter and receiver.
    #[cfg(feature = "black-pill")]
    pub fn start() -> Serial {
        write(regs::RCC_AHB1ENR, read(regs::RCC_AHB1ENR) | 1); // GPIOA
        write(regs::RCC_APB2ENR, read(regs::RCC_APB2ENR) | (1 << 4)); // USART1
        // PA9, PA10: alternate function mode (0b10), AF7.
        let moder = read(regs::GPIOA_MODER) & !(0b1111 << 18);
        write(regs::GPIOA_MODER, moder | (0b1010 << 18));
        let afrh = read(regs::GPIOA_AFRH) & !(0xff << 4);
        write(regs::GPIOA_AFRH, afrh | (0x77 << 4));
        // 16 MHz / (16 · 8.6875) = 115108 baud (0.08 % off): mantissa 8, fraction 11.
        write(regs::BRR, (8 << 4) | 11);
        write(regs::CR1, (1 << 13) | (1 << 3) | (1 << 2)); // UE, TE, RE
        Serial { _private: () }
    }

    /// Waits for and returns the next received byte.
    pub fn read(&mut self) -> u8 {
        #[cfg(not(feature = "black-pill"))]
        {
            while read(regs::STATE) & regs::RX_FULL == 0 {}
            read(regs::DATA) as u8
        }
        #[cfg(feature = "black-pill")]
        {
            while read(regs::SR) & regs::RXNE == 0 {}
            read(regs::DR) as u8
        }
    }

    #[inline(never)]
    fn put(&mut self, b: u8) {
        #[cfg(not(feature = "black-pill"))]
        {
            while read(regs::STATE) & regs::TX_FULL != 0 {}
            write(regs::DATA, u32::from(b));
        }
        #[cfg(feature = "black-pill")]
        {
            while read(regs::SR) & regs::TXE == 0 {}
            write(regs::DR, u32::from(b));
        }
    }

    /// Echoes a typed byte so a person sees the line: line ends as a
    /// newline, backspace and DEL as erasing the last character.
    pub fn echo(&mut self, b: u8) {
        match b {
            b'\r' | b'\n' => self.bytes(b"\n"),
            0x08 | 0x7f => self.bytes(b"\x08 \x08"),
            _ => self.put(b),
        }
    }
}

impl Out for Serial {
    #[inline(never)]
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // A terminal wants CR LF.
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
    }
}

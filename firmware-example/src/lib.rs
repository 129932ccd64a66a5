//! The firmware's platform-independent parts, tested on the host:
//! `cargo test --lib --target x86_64-unknown-linux-gnu` (see README.md).
//!
//! - [`console`]: the serial console's line protocol (bytes to commands);
//! - [`out`]: text output without `core::fmt` (numbers, escapes), to keep
//!   the formatting machinery out of flash.

#![cfg_attr(not(test), no_std)]

pub mod console;
pub mod out;

//! The reference architecture: plain Rust, one scalar fused multiply-add at a
//! time, and every other primitive [`Arch`]'s scalar default.
//!
//! Every other architecture must reproduce its results bit for bit.

use super::arch::Arch;

/// The portable primitives (any CPU).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

impl Arch for Portable {
    /// `f32::mul_add` with `std`, else `libm::fmaf`: both round once.
    #[inline(always)]
    fn fma(self, a: f32, b: f32, c: f32) -> f32 {
        #[cfg(feature = "std")]
        {
            a.mul_add(b, c)
        }
        #[cfg(not(feature = "std"))]
        {
            libm::fmaf(a, b, c)
        }
    }
}

//! The reference architecture: plain Rust, one scalar fused multiply-add at a
//! time, and every other primitive [`Arch`]'s scalar default.
//!
//! Every other architecture must reproduce its results bit for bit.

use super::arch::Arch;

/// The portable primitives (any CPU).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

impl Arch for Portable {
    /// `f32::mul_add` with `std`; on the Cortex-M4F the FPU's `VFMA.F32`
    /// (`libm::fmaf` would link ~2.7 KB of soft-float `f64` helpers into
    /// the firmware); else `libm::fmaf`. All round once, so all give the
    /// same bits.
    #[inline(always)]
    fn fma(self, a: f32, b: f32, c: f32) -> f32 {
        #[cfg(feature = "std")]
        {
            a.mul_add(b, c)
        }
        #[cfg(all(
            not(feature = "std"),
            target_arch = "arm",
            target_abi = "eabihf",
            target_os = "none"
        ))]
        {
            super::cortex_m::fmaf(a, b, c)
        }
        #[cfg(all(
            not(feature = "std"),
            not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))
        ))]
        {
            libm::fmaf(a, b, c)
        }
    }
}

//! The scalar types the trainer computes in: `f32` for speed, `f64` for gradient checks and golden parity.
//!
//! This layer knows numbers only: no matrices, no cells (those are [`crate::linalg`] and [`crate::cell`]).

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar with the handful of functions BPTT needs.
pub trait Float:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Converts from `f64` (rounding to nearest).
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Hyperbolic tangent (`f32`: a faster formula via `exp`, relative error below ~2e-6).
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Whether the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
}

macro_rules! impl_float {
    ($t:ty, $tanh:path, $exp:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}

impl_float!(f32, tanh_f32, exp_f32);
impl_float!(f64, f64::tanh, f64::exp);

/// `tanh` for `f32` without libm's `expm1f` (the profile's hot spot): `1 − 2/(e^{2x} + 1)`, and the Taylor
/// series `x − x³/3 + 2x⁵/15` near zero where that formula cancels. Relative error below ~2e-6. Branch-free
/// (both sides are computed), so loops over it vectorise.
#[inline]
fn tanh_f32(x: f32) -> f32 {
    let x2 = x * x;
    let small = x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0)));
    let big = 1.0 - 2.0 / (exp_f32(2.0 * x) + 1.0);
    if x.abs() < 0.0625 { small } else { big }
}

/// `e^x` for `f32` without a libm call, vectorisable: Cody–Waite reduction `x = n·ln2 + r` and Cephes'
/// degree-6 polynomial for `e^r` (about 1 ulp). Inputs are clamped to `[−87.3, 88]`, so the result is never
/// 0 or ∞ (below `e^−87.3 ≈ 1.2e−38` it returns that; the callers only add it to 1 or normalise by a sum ≥ 1).
#[inline]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding it rounds to an integer (ties to even) and leaves that integer in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let t = x * LOG2E + SHIFTER;
    let n = t - SHIFTER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    // 2^n from the integer in t's low bits: n ∈ [−126, 127], a normal exponent.
    let bits = (t.to_bits().wrapping_sub(SHIFTER.to_bits()) as i32 + 127) << 23;
    e * f32::from_bits(bits as u32)
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline]
pub fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_is_close_to_libm() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let want = f64::from(x).tanh();
            let got = f64::from(Float::tanh(x));
            worst = worst.max((got - want).abs() / want.abs().max(1e-30));
        }
        assert!(worst < 2e-6, "worst relative error {worst:e}");
        assert_eq!(Float::tanh(100.0f32), 1.0);
        assert_eq!(Float::tanh(-100.0f32), -1.0);
        assert_eq!(Float::tanh(0.0f32), 0.0);
    }

    /// The polynomial `exp` is within 2 ulp-ish of libm over the range the trainer uses, and saturates.
    #[test]
    fn fast_exp_is_close_to_libm() {
        let mut worst = 0.0f64;
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let want = f64::from(x).exp();
            let got = f64::from(exp_f32(x));
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite());
        assert_eq!(exp_f32(0.0), 1.0);
    }
}

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

/// `tanh` for `f32`: lstm-core's definition (`1 − 2/(e^{2x} + 1)` over [`exp_f32`]), so the trainer's
/// activations have the inference core's bits. Branch-free, so loops over it vectorise.
#[inline]
fn tanh_f32(x: f32) -> f32 {
    lstm_core::math::tanh_with_fma(x, f32::mul_add)
}

/// `e^x` for `f32`: lstm-core's one definition (Cody–Waite reduction, degree-7 polynomial in fused
/// multiply-adds, 0 below about −87.7 and ∞ above about 88.4, no clamp) over `f32::mul_add`, which the
/// vectorised loops of [`crate::linalg::wide`] turn into hardware FMA. Same bits as
/// `lstm_core::math::exp` and every inference kernel.
#[inline]
pub fn exp_f32(x: f32) -> f32 {
    lstm_core::math::exp_with_fma(x, f32::mul_add)
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline]
pub fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trainer's `f32` activations are the inference core's, bit for bit (including saturation).
    #[test]
    fn f32_activations_are_the_cores_bits() {
        let mut xs: Vec<f32> = (-1_000_000..=1_000_000).map(|i| i as f32 * 1e-4).collect();
        xs.extend([
            -1000.0, -90.0, -88.5, -87.5, 87.5, 88.5, 90.0, 1000.0, 0.0, -0.0, 1e-30,
        ]);
        for x in xs {
            assert_eq!(
                exp_f32(x).to_bits(),
                lstm_core::math::exp(x).to_bits(),
                "exp({x})"
            );
            assert_eq!(
                Float::tanh(x).to_bits(),
                lstm_core::math::tanh(x).to_bits(),
                "tanh({x})"
            );
            assert_eq!(
                sigmoid(x).to_bits(),
                lstm_core::math::sigmoid(x).to_bits(),
                "sigmoid({x})"
            );
        }
    }

    /// Close to libm: `exp` to 2e-7 relative where the result is normal, `tanh` to 2e-7 absolute.
    #[test]
    fn f32_activations_are_close_to_libm() {
        let mut worst_exp = 0.0f64;
        let mut worst_tanh = 0.0f64;
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let want = f64::from(x).exp();
            worst_exp = worst_exp.max((f64::from(exp_f32(x)) - want).abs() / want);
            let t = f64::from(Float::tanh(x)) - f64::from(x).tanh();
            worst_tanh = worst_tanh.max(t.abs());
        }
        assert!(worst_exp < 2e-7, "exp: worst relative error {worst_exp:e}");
        assert!(
            worst_tanh < 2e-7,
            "tanh: worst absolute error {worst_tanh:e}"
        );
        assert_eq!(Float::tanh(100.0f32), 1.0);
        assert_eq!(Float::tanh(-100.0f32), -1.0);
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert_eq!(exp_f32(1000.0), f32::INFINITY);
    }
}

//! The reference scalar maths every kernel reproduces bit for bit: `exp`,
//! and `sigmoid` and `tanh` built on it.
//!
//! - `exp` is a Cody–Waite range reduction and a degree-7 polynomial, all in
//!   fused multiply-adds (relative error below 2e-7 where the result is a
//!   normal f32; it is 0 below about -87.7 and infinite above about 88.4,
//!   which `sigmoid`, `tanh` and softmax turn into exact 0, ±1 and 0; no
//!   clamp, so a kernel only checks the exponent it builds anyway);
//! - `sigmoid(x) = 1 / (1 + exp(-x))` and `tanh(x) = 1 - 2 / (exp(2x) + 1)`,
//!   each with one IEEE division.
//!
//! The functions here are defined once, generically over an architecture's
//! fused multiply-add (`exp_with` and friends, crate-private); [`exp`],
//! [`sigmoid`] and [`tanh`] are those definitions with the portable
//! `fmaf`, public so other crates (the trainer) compute the same bits.

use crate::kernels::{Arch, Portable};

/// exp(x), the reference approximation (see the module docs).
#[inline]
pub fn exp(x: f32) -> f32 {
    exp_with(Portable, x)
}

/// sigmoid(x) = 1 / (1 + exp(-x)), with this module's [`exp`].
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    sigmoid_with(Portable, x)
}

/// tanh(x) = 1 - 2 / (exp(2x) + 1), with this module's [`exp`].
#[inline]
pub fn tanh(x: f32) -> f32 {
    tanh_with(Portable, x)
}

/// Constants of the `exp` approximation, shared by every kernel (the vector
/// and assembly versions load the same values).
pub(crate) mod expc {
    /// log2(e).
    pub const LOG2E: f32 = core::f32::consts::LOG2_E;
    /// 1.5 · 2^23: adding and subtracting it rounds to the nearest integer.
    pub const ROUND: f32 = 12_582_912.0;
    /// The bits of `ROUND + n` minus `n + 127` (the biased exponent of 2^n).
    pub const BIAS_BITS: u32 = ROUND.to_bits() - 127;
    /// High part of ln 2 (exact in 16 bits, so `n · LN2_HI` is exact).
    pub const LN2_HI: f32 = 0.693_145_75;
    /// Low part of ln 2.
    pub const LN2_LO: f32 = 1.428_606_8e-6;
    /// Taylor coefficients 1/7! … 1/2!, then 1, 1.
    pub const C: [f32; 8] = [
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
}

/// exp(x) by Cody–Waite reduction and a degree-7 polynomial in `arch`'s
/// fused multiply-add: the one definition of the scalar `exp`.
#[inline(always)]
pub(crate) fn exp_with<A: Arch>(arch: A, x: f32) -> f32 {
    // t = ROUND + n with n = round(x / ln 2); its low mantissa bits are n.
    let t = x * expc::LOG2E + expc::ROUND;
    let biased = t.to_bits().wrapping_sub(expc::BIAS_BITS);
    if biased > 255 {
        // n outside [-127, 128]: x <= -88.4 (underflow), x >= 89.1
        // (overflow), or x is NaN.
        return exp_saturated(x);
    }
    let n = t - expc::ROUND;
    let r = arch.fma(n, -expc::LN2_HI, x);
    let r = arch.fma(n, -expc::LN2_LO, r);
    let mut p = expc::C[0];
    for &c in &expc::C[1..] {
        p = arch.fma(p, r, c);
    }
    // 2^n from its exponent bits: 0 for n = -127, infinity for n = 128.
    p * f32::from_bits(biased << 23)
}

/// sigmoid(x) = 1 / (1 + exp(-x)) over `arch`'s fused multiply-add.
#[inline(always)]
pub(crate) fn sigmoid_with<A: Arch>(arch: A, x: f32) -> f32 {
    1.0 / (1.0 + exp_with(arch, -x))
}

/// tanh(x) = 1 - 2 / (exp(2x) + 1) over `arch`'s fused multiply-add.
#[inline(always)]
pub(crate) fn tanh_with<A: Arch>(arch: A, x: f32) -> f32 {
    1.0 - 2.0 / (exp_with(arch, 2.0 * x) + 1.0)
}

/// exp(x) where `x · log2(e)` rounds outside `[-127, 128]`: 0 below, infinity above, NaN for NaN.
#[inline]
pub(crate) fn exp_saturated(x: f32) -> f32 {
    if x > 0.0 {
        f32::INFINITY
    } else if x < 0.0 {
        0.0
    } else {
        x
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::exp;

    /// Every f32 in `[lo, hi)` stepping by `step` ulps.
    pub(crate) fn sweep(lo: f32, hi: f32, step: u32) -> impl Iterator<Item = f32> {
        let mut x = lo;
        core::iter::from_fn(move || {
            if x >= hi {
                return None;
            }
            let cur = x;
            let bits = x.to_bits();
            x = if x < 0.0 {
                f32::from_bits(bits.saturating_sub(step))
            } else if x == 0.0 {
                f32::MIN_POSITIVE
            } else {
                f32::from_bits(bits + step)
            };
            if x < 0.0 && x > -f32::MIN_POSITIVE {
                x = 0.0;
            }
            Some(cur)
        })
    }

    #[test]
    fn exp_is_accurate_where_the_result_is_normal() {
        let mut worst = 0.0f64;
        for x in sweep(-87.3, 88.3, 997) {
            let want = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - want) / want).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 2e-7, "worst relative error {worst:e}");
    }

    #[test]
    fn sigmoid_and_tanh_are_close_to_f64() {
        for x in sweep(-30.0, 30.0, 4999) {
            let xd = f64::from(x);
            let s = 1.0 / (1.0 + (-xd).exp());
            assert!(
                (f64::from(super::sigmoid(x)) - s).abs() < 3e-7,
                "sigmoid({x})"
            );
            assert!(
                (f64::from(super::tanh(x)) - xd.tanh()).abs() < 5e-7,
                "tanh({x})"
            );
        }
        assert_eq!(super::sigmoid(-100.0), 0.0);
        assert_eq!(super::sigmoid(100.0), 1.0);
        assert_eq!(super::tanh(-100.0), -1.0);
        assert_eq!(super::tanh(100.0), 1.0);
    }

    #[test]
    fn exp_saturates_outside_the_exponent_range() {
        for x in [-88.4f32, -100.0, -1e30, f32::NEG_INFINITY, f32::MIN] {
            assert_eq!(exp(x).to_bits(), 0, "exp({x})");
        }
        for x in [89.1f32, 100.0, 1e30, f32::INFINITY, f32::MAX] {
            assert_eq!(exp(x), f32::INFINITY, "exp({x})");
        }
        assert!(exp(f32::NAN).is_nan());
        // The edges: n = -127 flushes to zero, n = 128 overflows, in between
        // the results stay ordered and positive.
        assert_eq!(exp(-88.0), 0.0);
        assert_eq!(exp(88.5), f32::INFINITY);
        assert!(exp(-87.5) > 0.0 && exp(-87.5) < f32::MIN_POSITIVE);
        assert!(exp(88.3).is_finite() && exp(88.3) > 1.9e38);
        let mut last = 0.0f32;
        for x in sweep(-90.0, 90.0, 40_009) {
            let e = exp(x);
            assert!(e >= last, "exp not monotone at {x}: {e} < {last}");
            last = e;
        }
    }
}

//! The scalar types the trainer computes in: `f32` for speed, `f64` for gradient checks and golden parity.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar with the handful of functions BPTT needs and a GEMM.
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
    /// Hyperbolic tangent (`f32`: a faster formula via `exp`, relative error below ~1e-6).
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Whether the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// The raw GEMM `C = alpha·A·B + beta·C` (matrixmultiply's `sgemm`/`dgemm`).
    ///
    /// # Safety
    /// The pointers and strides must describe matrices inside live allocations, `c` writable and not aliasing
    /// `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_float {
    ($t:ty, $gemm:path, $tanh:path) => {
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
                <$t>::exp(self)
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
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_float!(f32, matrixmultiply::sgemm, tanh_f32);
impl_float!(f64, matrixmultiply::dgemm, f64::tanh);

/// `tanh` for `f32` without libm's `expm1f` (the profile's hot spot): `1 − 2/(e^{2x} + 1)`, and the Taylor
/// series `x − x³/3 + 2x⁵/15` near zero where that formula cancels. Relative error below ~1e-6.
#[inline]
fn tanh_f32(x: f32) -> f32 {
    if x.abs() < 0.0625 {
        let x2 = x * x;
        x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0)))
    } else {
        1.0 - 2.0 / ((2.0 * x).exp() + 1.0)
    }
}

/// A strided read-only matrix view: element (r, c) is `data[r·rs + c·cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    /// Backing storage.
    pub data: &'a [T],
    /// Row count.
    pub rows: usize,
    /// Column count.
    pub cols: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows × cols` view of `data`.
    pub fn rm(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `C = A·B + beta·C` on row-major `c` (`a.rows × b.cols`), with `A` and `B` any strided views.
///
/// # Panics
/// If the shapes disagree or a view does not fit in its slice (a programming error, not a user one).
pub fn gemm<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions {k} and {}", b.rows);
    assert!(c.len() >= m * n, "gemm: output {} < {m}×{n}", c.len());
    assert!(a.fits() && b.fits(), "gemm: view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for v in &mut c[..m * n] {
            *v *= beta;
        }
        return;
    }
    // SAFETY: the asserts above keep every index of A, B and C inside their slices; `c` is a unique borrow.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            T::ONE,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Products with `k·n` at least this large are split in two column halves by [`gemm_split`].
pub const SPLIT_MIN: usize = 32 * 1024;

/// `C = A·B + beta·C` like [`gemm`], computed as two column halves under `rayon::join` when `B` is large.
///
/// The per-step recurrent products have a small `m` (the batch), where matrixmultiply's own threading finds
/// nothing to split and repacks all of `B` on every call; two halves halve both the packing and the
/// arithmetic per core. The split depends only on the shapes, so results do not depend on the thread count.
/// `scratch` is reused across calls (it grows once).
pub fn gemm_split<T: Float>(
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: &mut [T],
    scratch: &mut Vec<T>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if n < 2 || k * n < SPLIT_MIN {
        return gemm(a, b, beta, c);
    }
    let (n1, n2) = (n / 2, n - n / 2);
    if scratch.len() < m * n {
        scratch.resize(m * n, T::ZERO);
    }
    let (t1, t2) = scratch.split_at_mut(m * n1);
    let left = MatRef { cols: n1, ..b };
    let right = MatRef {
        data: &b.data[n1 * b.cs..],
        cols: n2,
        ..b
    };
    rayon::join(
        || gemm(a, left, T::ZERO, t1),
        || gemm(a, right, T::ZERO, &mut t2[..m * n2]),
    );
    for r in 0..m {
        let row = &mut c[r * n..(r + 1) * n];
        let halves = t1[r * n1..(r + 1) * n1]
            .iter()
            .chain(&t2[r * n2..(r + 1) * n2]);
        if beta == T::ZERO {
            for (dst, &v) in row.iter_mut().zip(halves) {
                *dst = v;
            }
        } else {
            for (dst, &v) in row.iter_mut().zip(halves) {
                *dst = beta * *dst + v;
            }
        }
    }
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

    /// The split product equals the plain one (same kernel per column, same summation order).
    #[test]
    fn split_gemm_matches_plain_gemm_bitwise() {
        let mut rng = crate::rng::Rng::new(5);
        let (m, k, n) = (7, 200, 333);
        let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        for (bv, beta) in [
            (MatRef::rm(&b, k, n), 1.0f32),
            (MatRef::rm(&b, n, k).t(), 0.0),
        ] {
            let (mut plain, mut split) = (c0.clone(), c0.clone());
            gemm(MatRef::rm(&a, m, k), bv, beta, &mut plain);
            gemm_split(MatRef::rm(&a, m, k), bv, beta, &mut split, &mut Vec::new());
            assert_eq!(plain, split);
        }
    }

    /// [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]; with A transposed: [[26,30],[38,44]].
    #[test]
    fn gemm_matches_hand_product() {
        let a = [1.0f64, 2.0, 3.0, 4.0];
        let b = [5.0f64, 6.0, 7.0, 8.0];
        let mut c = [0.0f64; 4];
        gemm(MatRef::rm(&a, 2, 2), MatRef::rm(&b, 2, 2), 0.0, &mut c);
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        gemm(MatRef::rm(&a, 2, 2).t(), MatRef::rm(&b, 2, 2), 0.0, &mut c);
        assert_eq!(c, [26.0, 30.0, 38.0, 44.0]);
    }
}

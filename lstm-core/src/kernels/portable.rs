//! The reference kernel: plain Rust, one scalar fused multiply-add at a time.
//!
//! Every other kernel must reproduce these results bit for bit.

use super::expc;

/// a·b + c with a single rounding.
#[inline]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        a.mul_add(b, c)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::fmaf(a, b, c)
    }
}

super::scalar_exp!();

/// Eight-lane dot product (lane j takes elements j, j+8, …; fixed reduction tree).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] = fma(x[l], y[l], acc[l]);
        }
    }
    for ((l, x), y) in ta.iter().enumerate().zip(tb) {
        acc[l] = fma(*x, *y, acc[l]);
    }
    reduce8(acc)
}

/// The fixed reduction of eight lanes: `((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))`.
#[inline]
pub(crate) fn reduce8(l: [f32; 8]) -> f32 {
    let s = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    let t = [s[0] + s[2], s[1] + s[3]];
    t[0] + t[1]
}

/// out[k] = dot(row k of `w`, x), rows of `x.len()` values.
#[inline]
fn gemv(w: &[f32], x: &[f32], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(x.len().max(1))) {
        *o = dot(row, x);
    }
}

super::scalar_elementwise!();
super::scalar_activations!();
super::scalar_arrays!();
super::gemv_then_add!();
super::kernel_body!();

//! The portable micro-kernel of [`super::gemm_panels`]: plain multiply-add, any [`Float`].

use super::{MR, NR, PanelJob};
use crate::scalar::Float;

/// Portable micro-kernel (plain multiply-add, any `Float`).
///
/// # Safety
/// `job` satisfies the invariants [`gemm_panels`] checks.
pub(super) unsafe fn panels<T: Float>(job: &PanelJob<T>, p0: usize, p1: usize) {
    for p in p0..p1 {
        let j0 = p * NR;
        let w = NR.min(job.n - j0);
        let mut i0 = 0;
        while i0 < job.m {
            let rows = MR.min(job.m - i0);
            let mut acc = [[T::ZERO; NR]; MR];
            for kk in 0..job.k {
                // SAFETY: row kk, columns 0..w of panel p are inside B (checked by `gemm_panels`).
                let brow = unsafe {
                    std::slice::from_raw_parts(job.b.add(p * job.panel_stride + kk * job.ldb), w)
                };
                for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
                    // SAFETY: (i0 + r, kk) is inside A.
                    let av = unsafe {
                        if job.rsa == 0 {
                            *job.a.add(i0 * job.k + kk * rows + r)
                        } else {
                            *job.a.add((i0 + r) * job.rsa + kk)
                        }
                    };
                    for (s, &bv) in acc_r.iter_mut().zip(brow) {
                        *s += av * bv;
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(rows) {
                // SAFETY: row i0 + r, columns j0..j0 + w of C are inside `c`, and only this call writes them.
                let crow =
                    unsafe { std::slice::from_raw_parts_mut(job.c.add((i0 + r) * job.n + j0), w) };
                for (d, &s) in crow.iter_mut().zip(acc_r) {
                    *d = if job.accumulate { *d + s } else { s };
                }
            }
            i0 += rows;
        }
    }
}

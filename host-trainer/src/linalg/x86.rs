//! The x86-64 SIMD micro-kernels of [`super::gemm_panels`] (`f32`): AVX2 + FMA tiles of 6 × 16 and
//! AVX-512 tiles of up to 6 × 64, each element the same chain of fused multiply-adds (so the same bits);
//! and [`with_avx2`], which compiles an element-wise pass for AVX2.

use super::{MR, NR, PanelJob};
use std::arch::x86_64::*;

/// Runs `pass` inside a function compiled for AVX2 (its `run` is `#[inline(always)]`, so its loops are
/// compiled here, with 8-lane vectors).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn with_avx2<P: super::RowPass>(pass: P) {
    pass.run();
}

/// AVX2 + FMA driver: panels outer (a panel stays in cache across row blocks), row blocks of `MR` inner.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `job` satisfies the invariants [`super::gemm_panels`] checks.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn panels_avx2(job: &PanelJob<f32>, p0: usize, p1: usize) {
    let mut p0 = p0;
    if job.m == 1 {
        // A single row: one row per panel would leave two FMA chains, latency-bound; take four full
        // panels at once (eight chains).
        while p0 + 4 <= p1 && (p0 + 4) * NR <= job.n {
            // SAFETY: panels p0..p0+4 are full and inside B; row 0 of A and C exist.
            unsafe { row_x4(job, p0) };
            p0 += 4;
        }
    }
    for p in p0..p1 {
        let w = NR.min(job.n - p * NR);
        let mut i0 = 0;
        while i0 < job.m {
            let rows = MR.min(job.m - i0);
            // SAFETY: forwarded; the kernel reads rows i0..i0+rows of A and panel p, writes that tile of C.
            unsafe {
                if w == NR {
                    match rows {
                        6 => tile::<6, true>(job, i0, p, w),
                        5 => tile::<5, true>(job, i0, p, w),
                        4 => tile::<4, true>(job, i0, p, w),
                        3 => tile::<3, true>(job, i0, p, w),
                        2 => tile::<2, true>(job, i0, p, w),
                        _ => tile::<1, true>(job, i0, p, w),
                    }
                } else {
                    match rows {
                        6 => tile::<6, false>(job, i0, p, w),
                        5 => tile::<5, false>(job, i0, p, w),
                        4 => tile::<4, false>(job, i0, p, w),
                        3 => tile::<3, false>(job, i0, p, w),
                        2 => tile::<2, false>(job, i0, p, w),
                        _ => tile::<1, false>(job, i0, p, w),
                    }
                }
            }
            i0 += rows;
        }
    }
}

/// Row 0 of C over four full panels `p..p+4`: eight accumulators, one broadcast and eight loads per `k`.
///
/// # Safety
/// As [`panels_avx2`]; `m = 1`, panels `p..p+4` full-width.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn row_x4(job: &PanelJob<f32>, p: usize) {
    let mut acc = [_mm256_setzero_ps(); 8];
    // SAFETY (whole block): `gemm_panels` checked row 0 of A, rows 0..k of the four panels and row 0 of C.
    unsafe {
        let mut bp = job.b.add(p * job.panel_stride);
        let ps = job.panel_stride;
        // Packed or in place, row 0 of A is k-contiguous (a packed block of one row is k-major, 1 wide).
        let mut ap = job.a;
        for _ in 0..job.k {
            let av = _mm256_broadcast_ss(&*ap);
            for (q, pair) in acc.chunks_exact_mut(2).enumerate() {
                let b = bp.add(q * ps);
                pair[0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), pair[0]);
                pair[1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b.add(8)), pair[1]);
            }
            bp = bp.add(job.ldb);
            ap = ap.add(1);
        }
        for (q, pair) in acc.chunks_exact(2).enumerate() {
            let cp = job.c.add((p + q) * NR);
            let (mut v0, mut v1) = (pair[0], pair[1]);
            if job.accumulate {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cp));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cp.add(8)));
            }
            _mm256_storeu_ps(cp, v0);
            _mm256_storeu_ps(cp.add(8), v1);
        }
    }
}

/// AVX-512 driver: groups of up to four panels (64 columns) outer, row blocks of `MR` inner; each
/// tile keeps 4·R sixteen-lane accumulators in the 32 registers.
///
/// # Safety
/// The CPU must support AVX-512F; `job` satisfies the invariants [`super::gemm_panels`] checks.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn panels_avx512(job: &PanelJob<f32>, p0: usize, p1: usize) {
    let mut p = p0;
    while p < p1 {
        let group = match p1 - p {
            1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        let last = NR.min(job.n - (p + group - 1) * NR);
        let mut i0 = 0;
        while i0 < job.m {
            let rows = MR.min(job.m - i0);
            // SAFETY: forwarded; the tile reads rows i0..i0+rows of A and panels p..p+group, writes
            // that tile of C.
            unsafe {
                match (group, rows) {
                    (4, 6) => tile512::<6, 4>(job, i0, p, last),
                    (4, 5) => tile512::<5, 4>(job, i0, p, last),
                    (4, 4) => tile512::<4, 4>(job, i0, p, last),
                    (4, 3) => tile512::<3, 4>(job, i0, p, last),
                    (4, 2) => tile512::<2, 4>(job, i0, p, last),
                    (4, _) => tile512::<1, 4>(job, i0, p, last),
                    (2, 6) => tile512::<6, 2>(job, i0, p, last),
                    (2, 5) => tile512::<5, 2>(job, i0, p, last),
                    (2, 4) => tile512::<4, 2>(job, i0, p, last),
                    (2, 3) => tile512::<3, 2>(job, i0, p, last),
                    (2, 2) => tile512::<2, 2>(job, i0, p, last),
                    (2, _) => tile512::<1, 2>(job, i0, p, last),
                    (_, 6) => tile512::<6, 1>(job, i0, p, last),
                    (_, 5) => tile512::<5, 1>(job, i0, p, last),
                    (_, 4) => tile512::<4, 1>(job, i0, p, last),
                    (_, 3) => tile512::<3, 1>(job, i0, p, last),
                    (_, 2) => tile512::<2, 1>(job, i0, p, last),
                    (_, _) => tile512::<1, 1>(job, i0, p, last),
                }
            }
            i0 += rows;
        }
        p += group;
    }
}

/// One `R × (P·NR)` tile of C: P panels of 16 columns, one sixteen-lane accumulator per row and panel,
/// per `k` P loads of B, R broadcasts of A and P·R fused multiply-adds — the same per-element
/// operations as [`tile`] (a chain of FMAs over `k` from zero, then `+ C`). The last panel has `last`
/// valid columns (masked loads and stores); the others are full.
///
/// # Safety
/// As [`panels_avx512`]; `i0 + R ≤ m`, panels `p..p+P` valid, all but the last full.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile512<const R: usize, const P: usize>(
    job: &PanelJob<f32>,
    i0: usize,
    p: usize,
    last: usize,
) {
    let mut masks = [0xffffu16; P];
    masks[P - 1] = ((1u32 << last) - 1) as u16;
    let mut acc = [[_mm512_setzero_ps(); P]; R];
    // SAFETY (whole block): `gemm_panels` checked that rows i0..i0+R of A, rows 0..k of panels
    // p..p+P (masked lanes are not accessed) and the tile of C are in bounds.
    unsafe {
        let mut bp = job.b.add(p * job.panel_stride);
        let (mut ap, rstep, kstep) = if job.rsa == 0 {
            (job.a.add(i0 * job.k), 1, R)
        } else {
            (job.a.add(i0 * job.rsa), job.rsa, 1)
        };
        for _ in 0..job.k {
            let mut b = [_mm512_setzero_ps(); P];
            for (q, (bq, &mask)) in b.iter_mut().zip(&masks).enumerate() {
                *bq = _mm512_maskz_loadu_ps(mask, bp.add(q * job.panel_stride));
            }
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r * rstep));
                for (a, bq) in acc_r.iter_mut().zip(&b) {
                    *a = _mm512_fmadd_ps(av, *bq, *a);
                }
            }
            bp = bp.add(job.ldb);
            ap = ap.add(kstep);
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (q, (v, &mask)) in acc_r.iter().zip(&masks).enumerate() {
                let cp = job.c.add((i0 + r) * job.n + (p + q) * NR);
                let mut v = *v;
                if job.accumulate {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, cp));
                }
                _mm512_mask_storeu_ps(cp, mask, v);
            }
        }
    }
}

/// One `R × NR` tile of C (`NR` = 16, two 8-lane registers): 2·R accumulators, R broadcasts of A and two
/// loads of B per `k`, one fused multiply-add per product. `FULL`: all 16 columns exist (no masking).
///
/// # Safety
/// As [`panels_avx2`]; `i0 + R ≤ m`, `p` a valid panel, `w` its valid width.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const R: usize, const FULL: bool>(
    job: &PanelJob<f32>,
    i0: usize,
    p: usize,
    w: usize,
) {
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(w as i32), lanes);
    let m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(w as i32 - 8), lanes);
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    // SAFETY (whole block): `gemm_panels` checked that rows i0..i0+R of A, rows 0..k of panel p
    // (columns 0..w; masked lanes are not accessed) and the tile of C are in bounds.
    unsafe {
        let mut bp = job.b.add(p * job.panel_stride);
        // Packed A: block i0 is k-major, R wide; in place: rows rsa apart, k contiguous.
        let (mut ap, rstep, kstep) = if job.rsa == 0 {
            (job.a.add(i0 * job.k), 1, R)
        } else {
            (job.a.add(i0 * job.rsa), job.rsa, 1)
        };
        for _ in 0..job.k {
            let (b0, b1) = if FULL {
                (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)))
            } else {
                (
                    _mm256_maskload_ps(bp, m0),
                    _mm256_maskload_ps(bp.add(8), m1),
                )
            };
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*ap.add(r * rstep));
                acc_r[0] = _mm256_fmadd_ps(av, b0, acc_r[0]);
                acc_r[1] = _mm256_fmadd_ps(av, b1, acc_r[1]);
            }
            bp = bp.add(job.ldb);
            ap = ap.add(kstep);
        }
        for (r, acc_r) in acc.iter().enumerate() {
            let cp = job.c.add((i0 + r) * job.n + p * NR);
            let (mut v0, mut v1) = (acc_r[0], acc_r[1]);
            if FULL {
                if job.accumulate {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cp));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cp.add(8)));
                }
                _mm256_storeu_ps(cp, v0);
                _mm256_storeu_ps(cp.add(8), v1);
            } else {
                if job.accumulate {
                    v0 = _mm256_add_ps(v0, _mm256_maskload_ps(cp, m0));
                    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(cp.add(8), m1));
                }
                _mm256_maskstore_ps(cp, m0, v0);
                _mm256_maskstore_ps(cp.add(8), m1, v1);
            }
        }
    }
}

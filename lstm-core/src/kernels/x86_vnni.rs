//! The q8 product with `vpdpwssd` (int16 pairs multiplied and added onto
//! i32 lanes in one instruction): AVX-512 VNNI on 512-bit registers, or
//! AVX-VNNI (its VEX form) on 256-bit ones, chosen at run time by
//! [`best`]. The sums are exact integers, so every path gives the bits of
//! [`crate::quant::dot_q8`]; `Avx2Fma`'s [`Arch::gemv_q8`](super::arch::Arch::gemv_q8) calls the best.
//!
//! The intrinsics and target features are stable since Rust 1.89.

use core::arch::x86_64::*;
use core::sync::atomic::{AtomicU8, Ordering};

use super::x86_64::{dot_q8_rows, gemv_q8_blocked};

/// Which `vpdpwssd` the CPU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// AVX-512 F, BW, VL and VNNI (512-bit `vpdpwssd`).
    Avx512,
    /// AVX-VNNI (the 256-bit VEX `vpdpwssd`).
    AvxVnni,
    /// Neither: AVX2's `vpmaddwd` + `vpaddd`.
    None,
}

/// True if this CPU has the features of `level` (and AVX2 + FMA).
pub(crate) fn supported(level: Level) -> bool {
    if !super::x86_64::supported() {
        return false;
    }
    match level {
        Level::None => true,
        Level::Avx512 => {
            #[cfg(all(
                target_feature = "avx512f",
                target_feature = "avx512bw",
                target_feature = "avx512vl",
                target_feature = "avx512vnni"
            ))]
            {
                true
            }
            #[cfg(all(
                not(all(
                    target_feature = "avx512f",
                    target_feature = "avx512bw",
                    target_feature = "avx512vl",
                    target_feature = "avx512vnni"
                )),
                feature = "std"
            ))]
            {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(all(
                not(all(
                    target_feature = "avx512f",
                    target_feature = "avx512bw",
                    target_feature = "avx512vl",
                    target_feature = "avx512vnni"
                )),
                not(feature = "std")
            ))]
            {
                false
            }
        }
        Level::AvxVnni => {
            #[cfg(target_feature = "avxvnni")]
            {
                true
            }
            #[cfg(all(not(target_feature = "avxvnni"), feature = "std"))]
            {
                std::is_x86_feature_detected!("avxvnni")
            }
            #[cfg(all(not(target_feature = "avxvnni"), not(feature = "std")))]
            {
                false
            }
        }
    }
}

/// The highest level [`best`] may choose (2 = AVX-512 VNNI, 1 = AVX-VNNI,
/// 0 = AVX2): lowered only by the conformance suite, to run whole networks
/// through every product this CPU has (all give the same bits).
static CAP: AtomicU8 = AtomicU8::new(2);

/// Sets the highest level [`best`] may choose.
pub(crate) fn set_cap(level: Level) {
    let cap = match level {
        Level::Avx512 => 2,
        Level::AvxVnni => 1,
        Level::None => 0,
    };
    CAP.store(cap, Ordering::Relaxed);
}

/// The best level this CPU supports, up to the cap (`std`'s detection
/// caches the CPUID answers, so this is a few loads per call).
#[inline]
pub(crate) fn best() -> Level {
    let cap = CAP.load(Ordering::Relaxed);
    if cap >= 2 && supported(Level::Avx512) {
        Level::Avx512
    } else if cap >= 1 && supported(Level::AvxVnni) {
        Level::AvxVnni
    } else {
        Level::None
    }
}

/// `R` rows' exact sums, 32 columns per 512-bit `vpdpwssd`, the rest by
/// the 256-bit [`dot_q8_rows`] (with the EVEX 256-bit `vpdpwssd`).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn dot_q8_rows_512<const R: usize>(rows: [&[i8]; R], x: &[i16]) -> [i32; R] {
    let n = x.len();
    let madd = |acc, a, b| _mm256_dpwssd_epi32(acc, a, b);
    if rows.iter().any(|r| r.len() < n) {
        // Unreachable through `gemv_q8_512`; keeps the loads below in bounds regardless.
        return dot_q8_rows(rows, x, madd);
    }
    let m = n / 32 * 32;
    let mut acc = [_mm512_setzero_si512(); R];
    let ptrs = rows.map(<[i8]>::as_ptr);
    let mut j = 0;
    while j < m {
        // SAFETY: j + 32 <= m <= n <= every row's length (checked above) and
        // x's length: each unaligned load reads 32 i16s of x or 32 i8s of a row.
        unsafe {
            let xv = _mm512_loadu_si512(x.as_ptr().add(j).cast());
            for (a, p) in acc.iter_mut().zip(&ptrs) {
                let wv = _mm512_cvtepi8_epi16(_mm256_loadu_si256(p.add(j).cast()));
                *a = _mm512_dpwssd_epi32(*a, wv, xv);
            }
        }
        j += 32;
    }
    let mut out = [0i32; R];
    for (o, a) in out.iter_mut().zip(acc) {
        *o = _mm512_reduce_add_epi32(a);
    }
    if m < n {
        // The tail only when there is one: at n = 256 an empty tail call cost
        // a `vzeroupper`, two out-of-line calls and a store-forwarding stall
        // per group of rows (perf, `bench/latency --dtype q8`).
        let mut tails: [&[i8]; R] = [&[]; R];
        for (t, r) in tails.iter_mut().zip(&rows) {
            *t = &r[m..n];
        }
        let rest = dot_q8_rows(tails, &x[m..], madd);
        for (o, r) in out.iter_mut().zip(rest) {
            *o = o.wrapping_add(r);
        }
    }
    out
}

/// [`Arch::gemv_q8`](super::arch::Arch::gemv_q8) with AVX-512 VNNI.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) fn gemv_q8_512(w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
    gemv_q8_blocked(
        w,
        scale,
        x,
        out,
        |r| dot_q8_rows_512(r, x),
        |r| dot_q8_rows_512([r], x)[0],
    );
}

/// [`Arch::gemv_q8`](super::arch::Arch::gemv_q8) with AVX-VNNI (256-bit, VEX-encoded `vpdpwssd`).
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(crate) fn gemv_q8_vex(w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
    let madd = |acc, a, b| _mm256_dpwssd_avx_epi32(acc, a, b);
    gemv_q8_blocked(
        w,
        scale,
        x,
        out,
        |r| dot_q8_rows(r, x, madd),
        |r| dot_q8_rows([r], x, madd)[0],
    );
}

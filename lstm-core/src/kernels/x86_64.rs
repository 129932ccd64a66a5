//! AVX2 + FMA on x86-64: eight lanes per register, eight rows at a time.
//!
//! Bit-identical to the portable primitives: each `__m256` accumulator *is*
//! the eight lanes of [`Arch::dot`], tails go to the same lanes with scalar
//! FMAs, horizontal sums fold in the same order, and the vector `exp` does
//! [`crate::math::exp`]'s operations lane by lane.
//!
//! Every function here is compiled with `avx2,fma` enabled. The entry points
//! at the bottom ([`step`], [`logits`], …) instantiate the generic cell
//! bodies with [`Avx2Fma`], so the whole step inlines into one function
//! compiled with those features; `Kernel` calls them only after checking the
//! CPU supports both.

use core::arch::x86_64::*;
use core::ops::Range;

use super::arch::{
    Arch, gru_update_scalar, lstm_update_scalar, lstm_update_table_scalar, reduce8, units,
};
use super::cell;
use crate::lut::{
    INTERVALS, LIMIT, SIGMOID_TABLE, STEPS_PER_UNIT, sigmoid_table_with, tanh_table_with,
};
use crate::math::{expc, sigmoid_with, tanh_with};
use crate::view::{Input, OutputView, RecurrentView};

/// True if this CPU has AVX2 and FMA.
pub(crate) fn supported() -> bool {
    #[cfg(all(target_feature = "avx2", target_feature = "fma"))]
    {
        true
    }
    #[cfg(all(
        not(all(target_feature = "avx2", target_feature = "fma")),
        feature = "std"
    ))]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(all(
        not(all(target_feature = "avx2", target_feature = "fma")),
        not(feature = "std")
    ))]
    {
        false
    }
}

/// The AVX2 + FMA primitives. A value exists only inside this module's
/// `#[target_feature(enable = "avx2,fma")]` entry points, which run only on
/// CPUs with both features; that is what makes the calls below sound.
#[derive(Clone, Copy)]
pub(crate) struct Avx2Fma(());

impl Arch for Avx2Fma {
    #[inline(always)]
    fn fma(self, a: f32, b: f32, c: f32) -> f32 {
        // SAFETY: an `Avx2Fma` exists only on a CPU with AVX2 and FMA (type docs).
        unsafe { fma_ss(a, b, c) }
    }

    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as in `fma`.
        unsafe { dot8(a, b) }
    }

    #[inline(always)]
    fn gemv(self, w: &[f32], x: &[f32], out: &mut [f32]) {
        // SAFETY: as in `fma`.
        unsafe { gemv(w, x, out) }
    }

    #[inline(always)]
    fn sigmoid_in_place(self, v: &mut [f32]) {
        // SAFETY: as in `fma`.
        unsafe { sigmoid_in_place(self, v) }
    }

    #[inline(always)]
    fn tanh_in_place(self, v: &mut [f32]) {
        // SAFETY: as in `fma`.
        unsafe { tanh_in_place(self, v) }
    }

    #[inline(always)]
    fn exp_shifted(self, v: &mut [f32], max: f32, t: f32) {
        // SAFETY: as in `fma`.
        unsafe { exp_shifted(self, v, max, t) }
    }

    #[inline(always)]
    fn lstm_update(self, i: &[f32], f: &[f32], g: &[f32], o: &[f32], c: &mut [f32], h: &mut [f32]) {
        // SAFETY: as in `fma`.
        unsafe { lstm_update(self, false, i, f, g, o, c, h) }
    }

    #[inline(always)]
    fn sigmoid_table_in_place(self, v: &mut [f32]) {
        // SAFETY: as in `fma`.
        unsafe { sigmoid_table_in_place(self, v) }
    }

    #[inline(always)]
    fn tanh_table_in_place(self, v: &mut [f32]) {
        // SAFETY: as in `fma`.
        unsafe { tanh_table_in_place(self, v) }
    }

    #[inline(always)]
    fn lstm_update_table(
        self,
        i: &[f32],
        f: &[f32],
        g: &[f32],
        o: &[f32],
        c: &mut [f32],
        h: &mut [f32],
    ) {
        // SAFETY: as in `fma`.
        unsafe { lstm_update(self, true, i, f, g, o, c, h) }
    }
    /// The fastest product this CPU has: AVX-512 VNNI, AVX-VNNI, else AVX2
    /// (all exact integer sums, so all the same bits).
    #[inline(always)]
    fn gemv_q8(self, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
        use super::x86_vnni::{Level, best, gemv_q8_512, gemv_q8_vex};
        match best() {
            // SAFETY: `best` returned the level only after checking the CPU has its features.
            Level::Avx512 => unsafe { gemv_q8_512(w, scale, x, out) },
            // SAFETY: as above.
            Level::AvxVnni => unsafe { gemv_q8_vex(w, scale, x, out) },
            // SAFETY: as in `fma`.
            Level::None => unsafe { gemv_q8_avx2(w, scale, x, out) },
        }
    }

    #[inline(always)]
    fn gru_update(self, z: &[f32], n: &[f32], h: &mut [f32]) {
        // SAFETY: as in `fma`.
        unsafe { gru_update(self, z, n, h) }
    }
}

/// a·b + c with a single rounding.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn fma_ss(a: f32, b: f32, c: f32) -> f32 {
    _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)))
}

/// Eight-wide exp, lane for lane equal to [`crate::math::exp`].
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp8(x: __m256) -> __m256 {
    let round = _mm256_set1_ps(expc::ROUND);
    let t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(expc::LOG2E)), round);
    let biased = _mm256_sub_epi32(
        _mm256_castps_si256(t),
        _mm256_set1_epi32(expc::BIAS_BITS as i32),
    );
    let n = _mm256_sub_ps(t, round);
    let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-expc::LN2_HI), x);
    let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-expc::LN2_LO), r);
    let mut p = _mm256_set1_ps(expc::C[0]);
    for &c in &expc::C[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let e = _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased)));
    // Lanes whose biased exponent is outside [0, 255] saturate, as `exp` does.
    let outside = _mm256_andnot_si256(_mm256_set1_epi32(255), biased);
    if _mm256_testz_si256(outside, outside) != 0 {
        return e;
    }
    let zero = _mm256_setzero_ps();
    let inf = _mm256_set1_ps(f32::INFINITY);
    let sat = _mm256_blendv_ps(
        _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(x, zero), inf),
        x,
        _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x),
    );
    let in_range = _mm256_castsi256_ps(_mm256_cmpeq_epi32(outside, _mm256_setzero_si256()));
    _mm256_blendv_ps(sat, e, in_range)
}

/// Eight-wide [`crate::lut::sigmoid_table`]: the same clamp (`max` returns
/// its second operand for NaN, as `f32::max` returns the non-NaN one), the
/// same fused multiply-adds, the table read by two gathers.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid_table8(x: __m256) -> __m256 {
    let x = _mm256_max_ps(x, _mm256_set1_ps(-LIMIT));
    let x = _mm256_min_ps(x, _mm256_set1_ps(LIMIT));
    let t = _mm256_fmadd_ps(
        x,
        _mm256_set1_ps(STEPS_PER_UNIT),
        _mm256_set1_ps(LIMIT * STEPS_PER_UNIT),
    );
    let i = _mm256_min_epi32(
        _mm256_cvttps_epi32(t),
        _mm256_set1_epi32(INTERVALS as i32 - 1),
    );
    let f = _mm256_sub_ps(t, _mm256_cvtepi32_ps(i));
    let table = SIGMOID_TABLE.as_ptr();
    // SAFETY: every lane of `i` is in [0, 511] (t is in [0, 512]), so both
    // gathers read entries 0..=512 of the table.
    let (lo, hi) = unsafe {
        (
            _mm256_i32gather_ps::<4>(table, i),
            _mm256_i32gather_ps::<4>(table.add(1), i),
        )
    };
    _mm256_fmadd_ps(f, _mm256_sub_ps(hi, lo), lo)
}

/// Eight-wide [`crate::lut::tanh_table`].
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh_table8(x: __m256) -> __m256 {
    let two = _mm256_set1_ps(2.0);
    _mm256_fmadd_ps(
        two,
        sigmoid_table8(_mm256_mul_ps(two, x)),
        _mm256_set1_ps(-1.0),
    )
}

/// Eight-wide [`crate::math::sigmoid`].
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid8(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    _mm256_div_ps(
        one,
        _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))),
    )
}

/// Eight-wide [`crate::math::tanh`].
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh8(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    let two = _mm256_set1_ps(2.0);
    _mm256_sub_ps(
        one,
        _mm256_div_ps(two, _mm256_add_ps(exp8(_mm256_mul_ps(two, x)), one)),
    )
}

/// The eight lanes of `v`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lanes(v: __m256) -> [f32; 8] {
    let mut out = [0.0f32; 8];
    // SAFETY: `out` holds eight f32s; unaligned stores are allowed.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
    out
}

/// The fixed reduction of [`reduce8`] after the tail elements `tail · x_tail`
/// went to lanes 0, 1, …: fold 256 -> 128 -> 64 -> 32 bits.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn reduce(acc: __m256, tail: &[f32], x_tail: &[f32]) -> f32 {
    if tail.is_empty() {
        let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let u = _mm_add_ss(t, _mm_shuffle_ps::<0b01>(t, t));
        _mm_cvtss_f32(u)
    } else {
        let mut l = lanes(acc);
        for ((lane, a), b) in l.iter_mut().zip(tail).zip(x_tail) {
            *lane = fma_ss(*a, *b, *lane);
        }
        reduce8(l)
    }
}

/// [`Arch::dot`]: one 256-bit accumulator, then [`reduce`].
#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: lengths differ");
    let len = a.len().min(b.len());
    let n = len / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i < n {
        // SAFETY: i + 8 <= n <= both lengths: eight f32s inside each slice.
        unsafe {
            let (x, y) = (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
            );
            acc = _mm256_fmadd_ps(x, y, acc);
        }
        i += 8;
    }
    reduce(acc, &a[n..len], &b[n..len])
}

/// `R` dot products against the same vector `h` (each row exactly as long):
/// each load of `h` feeds `R` FMAs, and `R` independent accumulators hide the
/// FMA latency.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot_rows<const R: usize>(rows: [&[f32]; R], h: &[f32]) -> [f32; R] {
    debug_assert!(rows.iter().all(|r| r.len() == h.len()), "dot_rows: lengths");
    if rows.iter().any(|r| r.len() < h.len()) {
        // Unreachable through `gemv`; keeps the loads below in bounds regardless.
        return rows.map(|r| dot8(r, h));
    }
    let n = h.len() / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); R];
    let ptrs = rows.map(<[f32]>::as_ptr);
    let mut i = 0;
    while i < n {
        // SAFETY: i + 8 <= n <= h.len() <= every row's length (checked above),
        // so each unaligned load reads eight f32s inside its slice.
        unsafe {
            let x = _mm256_loadu_ps(h.as_ptr().add(i));
            for (a, p) in acc.iter_mut().zip(&ptrs) {
                *a = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(i)), x, *a);
            }
        }
        i += 8;
    }
    let ht = &h[n..];
    let mut out = [0.0f32; R];
    for ((o, a), r) in out.iter_mut().zip(acc).zip(&rows) {
        *o = reduce(a, &r[n..h.len()], ht);
    }
    out
}

/// The next `R` rows from `rows` (an empty slice for any row the iterator
/// lacks, which `dot_rows`/`dot4` send to their checked slow path).
///
/// Taken one at a time from the row iterator on purpose: when the rows are
/// written as `block[r * n..]` (by `core::array::from_fn` or a loop over one
/// block), LLVM derives every row's address from one base inside the inner
/// loop (18 instructions per eight FMAs instead of 12), and the closure of
/// `from_fn` was not even inlined into these `#[target_feature]` callers:
/// together 23 % more instructions per token at hidden 256 (callgrind,
/// `host-trainer sample`: 88,276 before the redesign, 108,351 with `from_fn`).
#[inline(always)]
fn next_rows<'a, T, const R: usize>(rows: &mut impl Iterator<Item = &'a [T]>) -> [&'a [T]; R] {
    let mut out: [&[T]; R] = [&[]; R];
    for slot in &mut out {
        *slot = rows.next().unwrap_or(&[]);
    }
    out
}

/// [`Arch::gemv`]: eight rows per pass over `x`, then four, then one at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn gemv(w: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len();
    debug_assert_eq!(w.len(), out.len() * n, "gemv: matrix size");
    if n == 0 {
        out.fill(0.0);
        return;
    }
    let mut rows = w.chunks_exact(n);
    let mut outs = out.chunks_exact_mut(8);
    for o in &mut outs {
        o.copy_from_slice(&dot_rows(next_rows::<_, 8>(&mut rows), x));
    }
    let mut outs = outs.into_remainder().chunks_exact_mut(4);
    for o in &mut outs {
        o.copy_from_slice(&dot_rows(next_rows::<_, 4>(&mut rows), x));
    }
    for (o, row) in outs.into_remainder().iter_mut().zip(rows) {
        *o = dot8(row, x);
    }
}

/// The horizontal sum of eight i32 lanes (exact, wrapping: any order).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// `R` rows' exact int8 × Q15 sums against `x`, sixteen columns per step:
/// each row's bytes sign-extended to i16 (`vpmovsxbw`), multiplied by `x`
/// and added in pairs into eight i32 lanes by `madd(acc, w, x)`
/// (`vpmaddwd` + `vpaddd`, or one `vpdpwssd`); the last `n % 16` columns by
/// [`crate::quant::dot_q8`]. Every row must be at least `x.len()` long.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn dot_q8_rows<const R: usize>(
    rows: [&[i8]; R],
    x: &[i16],
    madd: impl Fn(__m256i, __m256i, __m256i) -> __m256i,
) -> [i32; R] {
    let n = x.len();
    if rows.iter().any(|r| r.len() < n) {
        // Unreachable through `gemv_q8_blocked`; keeps the loads below in bounds regardless.
        return rows.map(|r| crate::quant::dot_q8(r, x));
    }
    let m = n / 16 * 16;
    let mut acc = [_mm256_setzero_si256(); R];
    let ptrs = rows.map(<[i8]>::as_ptr);
    let mut j = 0;
    while j < m {
        // SAFETY: j + 16 <= m <= n <= every row's length (checked above) and
        // x's length: each unaligned load reads 16 i16s of x or 16 i8s of a row.
        unsafe {
            let xv = _mm256_loadu_si256(x.as_ptr().add(j).cast());
            for (a, p) in acc.iter_mut().zip(&ptrs) {
                let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(j).cast()));
                *a = madd(*a, wv, xv);
            }
        }
        j += 16;
    }
    let mut out = [0i32; R];
    for ((o, a), r) in out.iter_mut().zip(acc).zip(&rows) {
        *o = hsum_epi32(a).wrapping_add(crate::quant::dot_q8(&r[m..n], &x[m..]));
    }
    out
}

/// [`Arch::gemv_q8`] by blocks of rows: `dot4` gives four rows' exact sums
/// (one pass over `x`), `dot1` one row's; each output `q8_output(acc, scale)`.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn gemv_q8_blocked(
    w: &[i8],
    scale: &[f32],
    x: &[i16],
    out: &mut [f32],
    dot4: impl Fn([&[i8]; 4]) -> [i32; 4],
    dot1: impl Fn(&[i8]) -> i32,
) {
    use crate::quant::q8_output;
    let n = x.len();
    debug_assert!(
        w.len() == out.len() * n && scale.len() == out.len(),
        "gemv_q8: matrix size"
    );
    if n == 0 || w.len() < out.len() * n || scale.len() < out.len() {
        // The reference handles the degenerate shapes (and debug-asserts bad ones).
        super::Portable.gemv_q8(w, scale, x, out);
        return;
    }
    let mut rows = w.chunks_exact(n);
    let mut outs = out.chunks_exact_mut(4);
    let mut scales = scale.chunks_exact(4);
    for (o, s) in (&mut outs).zip(&mut scales) {
        let acc = dot4(next_rows::<_, 4>(&mut rows));
        for ((o, a), s) in o.iter_mut().zip(acc).zip(s) {
            *o = q8_output(a, *s);
        }
    }
    for ((o, row), s) in outs
        .into_remainder()
        .iter_mut()
        .zip(rows)
        .zip(scales.remainder())
    {
        *o = q8_output(dot1(row), *s);
    }
}

/// [`Arch::gemv_q8`] with AVX2: `vpmaddwd` then `vpaddd`.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn gemv_q8_avx2(w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
    let madd = |acc, a, b| _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
    gemv_q8_blocked(
        w,
        scale,
        x,
        out,
        |r| dot_q8_rows(r, x, madd),
        |r| dot_q8_rows([r], x, madd)[0],
    );
}

/// Applies `f8` to full chunks of eight and `f1` to the tail.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn map_in_place(v: &mut [f32], f8: impl Fn(__m256) -> __m256, f1: impl Fn(f32) -> f32) {
    let n = v.len() / 8 * 8;
    let p = v.as_mut_ptr();
    let mut i = 0;
    while i < n {
        // SAFETY: i + 8 <= n <= v.len(): eight f32s inside `v`.
        unsafe { _mm256_storeu_ps(p.add(i), f8(_mm256_loadu_ps(p.add(i)))) };
        i += 8;
    }
    for x in &mut v[n..] {
        *x = f1(*x);
    }
}

/// [`Arch::sigmoid_in_place`], eight at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid_in_place(arch: Avx2Fma, v: &mut [f32]) {
    map_in_place(v, |x| sigmoid8(x), |x| sigmoid_with(arch, x));
}

/// [`Arch::tanh_in_place`], eight at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh_in_place(arch: Avx2Fma, v: &mut [f32]) {
    map_in_place(v, |x| tanh8(x), |x| tanh_with(arch, x));
}

/// [`Arch::sigmoid_table_in_place`], eight at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid_table_in_place(arch: Avx2Fma, v: &mut [f32]) {
    map_in_place(v, |x| sigmoid_table8(x), |x| sigmoid_table_with(arch, x));
}

/// [`Arch::tanh_table_in_place`], eight at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh_table_in_place(arch: Avx2Fma, v: &mut [f32]) {
    map_in_place(v, |x| tanh_table8(x), |x| tanh_table_with(arch, x));
}

/// [`Arch::exp_shifted`], eight at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp_shifted(arch: Avx2Fma, v: &mut [f32], max: f32, t: f32) {
    let vm = _mm256_set1_ps(max);
    let vt = _mm256_set1_ps(t);
    map_in_place(
        v,
        |x| exp8(_mm256_div_ps(_mm256_sub_ps(x, vm), vt)),
        |x| crate::math::exp_with(arch, (x - max) / t),
    );
}

/// [`Arch::lstm_update`] (`table`: [`Arch::lstm_update_table`]), eight
/// units at a time; the tail by the scalar definition.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn lstm_update(
    arch: Avx2Fma,
    table: bool,
    i: &[f32],
    f: &[f32],
    g: &[f32],
    o: &[f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    let len = units(i, f, g, o, c, h);
    let n = len / 8 * 8;
    let mut k = 0;
    while k < n {
        // SAFETY: k + 8 <= n <= every slice's length: eight f32s inside each.
        unsafe {
            let ld = |s: &[f32]| _mm256_loadu_ps(s.as_ptr().add(k));
            let cn = _mm256_fmadd_ps(ld(f), ld(c), _mm256_mul_ps(ld(i), ld(g)));
            _mm256_storeu_ps(c.as_mut_ptr().add(k), cn);
            let t = if table { tanh_table8(cn) } else { tanh8(cn) };
            _mm256_storeu_ps(h.as_mut_ptr().add(k), _mm256_mul_ps(ld(o), t));
        }
        k += 8;
    }
    let tail = if table {
        lstm_update_table_scalar
    } else {
        lstm_update_scalar
    };
    tail(
        arch,
        &i[n..len],
        &f[n..len],
        &g[n..len],
        &o[n..len],
        &mut c[n..len],
        &mut h[n..len],
    );
}

/// [`Arch::gru_update`], eight units at a time; the tail by the scalar definition.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn gru_update(arch: Avx2Fma, z: &[f32], n: &[f32], h: &mut [f32]) {
    debug_assert!(
        z.len() == h.len() && n.len() == h.len(),
        "gru_update: lengths"
    );
    let len = h.len().min(z.len()).min(n.len());
    let end = len / 8 * 8;
    let mut k = 0;
    while k < end {
        // SAFETY: k + 8 <= end <= every slice's length: eight f32s inside each.
        unsafe {
            let (zv, nv) = (
                _mm256_loadu_ps(z.as_ptr().add(k)),
                _mm256_loadu_ps(n.as_ptr().add(k)),
            );
            let hv = _mm256_loadu_ps(h.as_ptr().add(k));
            let hn = _mm256_fmadd_ps(zv, _mm256_sub_ps(hv, nv), nv);
            _mm256_storeu_ps(h.as_mut_ptr().add(k), hn);
        }
        k += 8;
    }
    gru_update_scalar(arch, &z[end..len], &n[end..len], &mut h[end..len]);
}

/// One layer step ([`cell::layer_step_of`], every cell kind) with AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn layer_step(
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    h: &mut [f32],
    c: &mut [f32],
    scratch: &mut [f32],
) {
    cell::layer_step_of::<_, { super::ANY }>(Avx2Fma(()), layer, x, h, c, scratch);
}

/// Units `rows` of one layer step ([`cell::layer_step_rows`]) with AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_step_rows(
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h_prev: &[f32],
    c: &mut [f32],
    h_next: &mut [f32],
    scratch: &mut [f32],
) {
    cell::layer_step_rows(Avx2Fma(()), layer, x, rows, h_prev, c, h_next, scratch);
}

/// The output layer ([`cell::logits`]) with AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn logits(output: &OutputView<'_>, h: &[f32], hq: &mut [i16], out: &mut [f32]) {
    cell::logits(Avx2Fma(()), output, h, hq, out);
}

/// Softmax ([`cell::softmax`]) with AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn softmax(v: &mut [f32], temperature: f32) {
    cell::softmax(Avx2Fma(()), v, temperature);
}

/// [`Arch::dot`] with AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot8(a, b)
}

/// [`exp8`] for the unit tests.
#[cfg(test)]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn exp8_for_tests(x: __m256) -> __m256 {
    exp8(x)
}

/// [`Arch::sigmoid_table_in_place`] (`tanh`: [`Arch::tanh_table_in_place`]) with AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn activate_table(v: &mut [f32], tanh: bool) {
    if tanh {
        Avx2Fma(()).tanh_table_in_place(v);
    } else {
        Avx2Fma(()).sigmoid_table_in_place(v);
    }
}

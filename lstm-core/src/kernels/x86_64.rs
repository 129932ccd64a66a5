//! AVX2 + FMA kernel for x86-64: eight lanes per register, eight rows at a time.
//!
//! Bit-identical to [`super::portable`]: each `__m256` accumulator *is* the
//! portable kernel's eight lanes, tails go to the same lanes with scalar
//! FMAs, and horizontal sums fold in the same order. Every function here is
//! compiled with `avx2,fma` enabled; the safe wrappers in `super` call them
//! only after checking the CPU supports both.

use core::arch::x86_64::*;

use super::expc;

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

/// a·b + c with a single rounding.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)))
}

super::scalar_exp!(target_feature(enable = "avx2,fma"));

/// Eight-wide exp, lane for lane equal to [`exp`].
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

#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid8(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    _mm256_div_ps(
        one,
        _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))),
    )
}

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

#[target_feature(enable = "avx2,fma")]
#[inline]
fn load(s: &[f32]) -> __m256 {
    let a: &[f32; 8] = s.first_chunk().unwrap_or(&[0.0; 8]);
    // SAFETY: `a` is a reference to eight initialised f32s; unaligned loads are allowed.
    unsafe { _mm256_loadu_ps(a.as_ptr()) }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn store(v: __m256, out: &mut [f32]) {
    if let Some(a) = out.first_chunk_mut::<8>() {
        // SAFETY: `a` is a mutable reference to eight f32s; unaligned stores are allowed.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) }
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn lanes(v: __m256) -> [f32; 8] {
    let mut out = [0.0f32; 8];
    store(v, &mut out);
    out
}

/// The fixed reduction: fold 256 -> 128 -> 64 -> 32 bits, as `portable::reduce8`.
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
            *lane = fma(*a, *b, *lane);
        }
        super::portable::reduce8(l)
    }
}

/// Eight-lane dot product.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    let mut acc = _mm256_setzero_ps();
    for (x, y) in ca.zip(cb) {
        acc = _mm256_fmadd_ps(load(x), load(y), acc);
    }
    reduce(acc, ta, tb)
}

/// `R` dot products against the same vector: each load of `h` feeds `R`
/// FMAs, and `R` independent accumulators hide the FMA latency.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot_rows<const R: usize>(rows: [&[f32]; R], h: &[f32]) -> [f32; R] {
    let n = h.len() / 8 * 8;
    if rows.iter().any(|r| r.len() < h.len()) {
        return rows.map(|r| dot(r, h));
    }
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
    let ht = h.get(n..).unwrap_or(&[]);
    let mut out = [0.0f32; R];
    for ((o, a), r) in out.iter_mut().zip(acc).zip(&rows) {
        *o = reduce(a, r.get(n..h.len()).unwrap_or(&[]), ht);
    }
    out
}

/// out[k] = dot(row k of `w`, x), eight rows per pass over `x`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn gemv(w: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len().max(1);
    let mut rows = w.chunks_exact(n);
    let mut outs = out.chunks_exact_mut(8);
    for o in &mut outs {
        let mut r: [&[f32]; 8] = [&[]; 8];
        for slot in &mut r {
            *slot = rows.next().unwrap_or(&[]);
        }
        o.copy_from_slice(&dot_rows(r, x));
    }
    let mut rest = outs.into_remainder().chunks_exact_mut(4);
    for o in &mut rest {
        let mut r: [&[f32]; 4] = [&[]; 4];
        for slot in &mut r {
            *slot = rows.next().unwrap_or(&[]);
        }
        o.copy_from_slice(&dot_rows(r, x));
    }
    for (o, row) in rest.into_remainder().iter_mut().zip(rows) {
        *o = dot(row, x);
    }
}

/// Applies `f8` to full chunks of eight and `f1` to the tail.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn map_in_place(v: &mut [f32], f8: impl Fn(__m256) -> __m256, f1: impl Fn(f32) -> f32) {
    let mut chunks = v.chunks_exact_mut(8);
    for c in &mut chunks {
        store(f8(load(c)), c);
    }
    for x in chunks.into_remainder() {
        *x = f1(*x);
    }
}

/// Gate activations in place: i, f, o through sigmoid, g through tanh.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn activate(pi: &mut [f32], pf: &mut [f32], pg: &mut [f32], po: &mut [f32]) {
    for v in [pi, pf, po] {
        map_in_place(v, |x| sigmoid8(x), |x| sigmoid(x));
    }
    map_in_place(pg, |x| tanh8(x), |x| tanh(x));
}

/// c = f ⊙ c + i ⊙ g, h = o ⊙ tanh(c).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn update_state(pi: &[f32], pf: &[f32], pg: &[f32], po: &[f32], h: &mut [f32], c: &mut [f32]) {
    let mut hc = h.chunks_exact_mut(8);
    let mut cc = c.chunks_exact_mut(8);
    let mut n = 0;
    for (hh, cc) in (&mut hc).zip(&mut cc) {
        let (Some(i), Some(f), Some(g), Some(o)) =
            (pi.get(n..), pf.get(n..), pg.get(n..), po.get(n..))
        else {
            return;
        };
        let cn = _mm256_fmadd_ps(load(f), load(cc), _mm256_mul_ps(load(i), load(g)));
        store(cn, cc);
        store(_mm256_mul_ps(load(o), tanh8(cn)), hh);
        n += 8;
    }
    let tails = (pi.get(n..), pf.get(n..), pg.get(n..), po.get(n..));
    if let (Some(i), Some(f), Some(g), Some(o)) = tails {
        let it = i.iter().zip(f).zip(g).zip(o);
        for ((((i, f), g), o), (h, c)) in
            it.zip(hc.into_remainder().iter_mut().zip(cc.into_remainder()))
        {
            *c = fma(*f, *c, *i * *g);
            *h = *o * tanh(*c);
        }
    }
}

/// v = exp((v - max) / t).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp_shifted(v: &mut [f32], max: f32, t: f32) {
    let vm = _mm256_set1_ps(max);
    let vt = _mm256_set1_ps(t);
    map_in_place(
        v,
        |x| exp8(_mm256_div_ps(_mm256_sub_ps(x, vm), vt)),
        |x| exp((x - max) / t),
    );
}

super::scalar_activations!(target_feature(enable = "avx2,fma"));
super::gemv_then_add!(target_feature(enable = "avx2,fma"));
super::kernel_body!(target_feature(enable = "avx2,fma"));

/// [`exp8`] for the unit tests.
#[cfg(test)]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn exp8_for_tests(x: __m256) -> __m256 {
    exp8(x)
}

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
    /// Runs the register-blocked micro-kernel of [`gemm_panels`] over column panels `p0..p1` of `job`.
    ///
    /// # Safety
    /// `job` must satisfy the invariants [`gemm_panels`] checks before building it.
    #[doc(hidden)]
    unsafe fn panels_raw(job: &PanelJob<Self>, p0: usize, p1: usize) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { panels_portable(job, p0, p1) }
    }
    /// The fused LSTM cell forward over one batch row (see [`cell_forward_row`]).
    fn cell_forward(
        a: &mut [Self],
        c_prev: &[Self],
        c: &mut [Self],
        tc: &mut [Self],
        h: &mut [Self],
    ) {
        cell_forward_row(a, c_prev, c, tc, h);
    }
    /// The LSTM cell backward over one batch row (see [`cell_backward_row`]).
    fn cell_backward(
        gates: &[Self],
        tc: &[Self],
        c_prev: &[Self],
        d_h_out: &[Self],
        d_h_next: &[Self],
        d_c: &mut [Self],
        d_a: &mut [Self],
    ) {
        cell_backward_row(gates, tc, c_prev, d_h_out, d_h_next, d_c, d_a);
    }
}

macro_rules! impl_float {
    ($t:ty, $tanh:path, $exp:path, { $($extra:tt)* }) => {
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
            $($extra)*
        }
    };
}

impl_float!(f32, tanh_f32, exp_f32, {
    unsafe fn panels_raw(job: &PanelJob<Self>, p0: usize, p1: usize) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above); the job's invariants come from the caller.
            unsafe { x86::panels_avx512(job, p0, p1) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the job's invariants come from the caller.
            unsafe { x86::panels_avx2(job, p0, p1) };
            return;
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { panels_portable(job, p0, p1) }
    }
    fn cell_forward(
        a: &mut [Self],
        c_prev: &[Self],
        c: &mut [Self],
        tc: &mut [Self],
        h: &mut [Self],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above); the function only computes on its slices.
            unsafe { x86::cell_forward_avx2(a, c_prev, c, tc, h) };
            return;
        }
        cell_forward_row(a, c_prev, c, tc, h);
    }
    fn cell_backward(
        gates: &[Self],
        tc: &[Self],
        c_prev: &[Self],
        d_h_out: &[Self],
        d_h_next: &[Self],
        d_c: &mut [Self],
        d_a: &mut [Self],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above); the function only computes on its slices.
            unsafe { x86::cell_backward_avx2(gates, tc, c_prev, d_h_out, d_h_next, d_c, d_a) };
            return;
        }
        cell_backward_row(gates, tc, c_prev, d_h_out, d_h_next, d_c, d_a);
    }
});
impl_float!(f64, f64::tanh, f64::exp, {});

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

/// The fused LSTM cell for one batch row: `a` holds the pre-activations `[i | f | g | o]` (each `H = c.len()`
/// wide) and is overwritten with the activations; `c = f⊙c_prev + i⊙g`, `tc = tanh(c)`, `h = o⊙tc`.
#[inline(always)]
pub fn cell_forward_row<T: Float>(
    a: &mut [T],
    c_prev: &[T],
    c: &mut [T],
    tc: &mut [T],
    h: &mut [T],
) {
    let n = c.len();
    let (ai, rest) = a.split_at_mut(n);
    let (af, rest) = rest.split_at_mut(n);
    let (ag, ao) = rest.split_at_mut(n);
    let (ao, c_prev, tc, h) = (&mut ao[..n], &c_prev[..n], &mut tc[..n], &mut h[..n]);
    for k in 0..n {
        let i = sigmoid(ai[k]);
        let f = sigmoid(af[k]);
        let g = ag[k].tanh();
        let o = sigmoid(ao[k]);
        ai[k] = i;
        af[k] = f;
        ag[k] = g;
        ao[k] = o;
        let cv = f * c_prev[k] + i * g;
        let t = cv.tanh();
        c[k] = cv;
        tc[k] = t;
        h[k] = o * t;
    }
}

/// The LSTM cell backward for one batch row (`H = d_c.len()`): from the cached activations `gates`
/// (`[i | f | g | o]`), `tc = tanh(c)`, `c_prev`, ∂/∂h from the output layer (`d_h_out`) and from the next
/// step (`d_h_next`), and ∂/∂c from the next step (in `d_c`, replaced by ∂/∂c_prev), writes ∂/∂pre-activations
/// into `d_a`.
#[inline(always)]
pub fn cell_backward_row<T: Float>(
    gates: &[T],
    tc: &[T],
    c_prev: &[T],
    d_h_out: &[T],
    d_h_next: &[T],
    d_c: &mut [T],
    d_a: &mut [T],
) {
    let n = d_c.len();
    let (gi, gf, gg, go) = (
        &gates[..n],
        &gates[n..2 * n],
        &gates[2 * n..3 * n],
        &gates[3 * n..4 * n],
    );
    let (tc, c_prev, d_h_out, d_h_next) = (&tc[..n], &c_prev[..n], &d_h_out[..n], &d_h_next[..n]);
    let (dai, rest) = d_a.split_at_mut(n);
    let (daf, rest) = rest.split_at_mut(n);
    let (dag, dao) = rest.split_at_mut(n);
    let dao = &mut dao[..n];
    for k in 0..n {
        let (i, f, g, o) = (gi[k], gf[k], gg[k], go[k]);
        let dh = d_h_out[k] + d_h_next[k];
        let t = tc[k];
        // backprop through h = o ⊙ tanh(c)
        let dc = d_c[k] + dh * o * (T::ONE - t * t);
        let d_o = dh * t;
        // backprop through c = f ⊙ c_prev + i ⊙ g
        let d_i = dc * g;
        let d_g = dc * i;
        let d_f = dc * c_prev[k];
        d_c[k] = dc * f;
        // backprop through the gate nonlinearities
        dai[k] = d_i * i * (T::ONE - i);
        daf[k] = d_f * f * (T::ONE - f);
        dag[k] = d_g * (T::ONE - g * g);
        dao[k] = d_o * o * (T::ONE - o);
    }
}

/// Adam's per-update constants (see `optim.rs`).
#[derive(Debug, Clone, Copy)]
pub struct AdamConsts {
    /// β1.
    pub b1: f32,
    /// β2.
    pub b2: f32,
    /// `1 − β1^t`.
    pub c1: f32,
    /// `1 − β2^t`.
    pub c2: f32,
    /// Learning rate.
    pub lr: f32,
    /// ε.
    pub eps: f32,
}

/// One Adam update of a tensor: `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
/// `w ← w − lr·(m/c1)/(√(v/c2) + ε)`.
#[inline(always)]
fn adam_row(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &AdamConsts) {
    let n = w.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for k in 0..n {
        let d = g[k];
        let mm = c.b1 * m[k] + (1.0 - c.b1) * d;
        let vv = c.b2 * v[k] + (1.0 - c.b2) * d * d;
        m[k] = mm;
        v[k] = vv;
        let m_hat = mm / c.c1;
        let v_hat = vv / c.c2;
        w[k] -= c.lr * m_hat / (v_hat.sqrt() + c.eps);
    }
}

/// One Adam update of `w` from `g` (moments `m`, `v`), with the widest vectors the CPU has (the same operations on every path, so the same results).
pub fn adam_update(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &AdamConsts) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above); the function only computes on its slices.
        unsafe { x86::adam_avx2(w, g, m, v, c) };
        return;
    }
    adam_row(w, g, m, v, c);
}

/// Width of a column panel of the micro-kernel (two 8-lane AVX registers of `f32`).
pub const NR: usize = 16;

/// The `B` operand of [`gemm_panels`]: column panels `NR` wide, panel `p` starting at `data[p·panel_stride]`,
/// row `k` of a panel at `+k·ldb`. Either `B` packed by [`pack_b`] (`ldb = NR`, zero-padded), or a row-major
/// `B` read in place (`ldb = n`, `panel_stride = NR`; the last panel's missing columns are never read).
#[derive(Clone, Copy)]
pub struct Panels<'a, T> {
    data: &'a [T],
    k: usize,
    n: usize,
    ldb: usize,
    panel_stride: usize,
}

impl<'a, T> Panels<'a, T> {
    /// A row-major `k × n` matrix used in place (good when `n` is small, so rows `k` apart do not alias in
    /// cache; large ones should be packed).
    pub fn rm(data: &'a [T], k: usize, n: usize) -> Self {
        assert!(data.len() >= k * n, "Panels::rm: {} < {k}×{n}", data.len());
        Self {
            data,
            k,
            n,
            ldb: n,
            panel_stride: NR,
        }
    }
    /// A `k × n` matrix used in place whose rows are `ldb ≥ n` apart.
    pub fn strided(data: &'a [T], k: usize, n: usize, ldb: usize) -> Self {
        assert!(ldb >= n, "Panels::strided: row stride {ldb} < {n}");
        assert!(
            k == 0 || data.len() >= (k - 1) * ldb + n,
            "Panels::strided: buffer too small"
        );
        Self {
            data,
            k,
            n,
            ldb,
            panel_stride: NR,
        }
    }
    /// A matrix packed by [`pack_b`] into `data`.
    pub fn packed(data: &'a [T], k: usize, n: usize) -> Self {
        assert!(
            data.len() >= n.div_ceil(NR) * NR * k,
            "Panels::packed: buffer too small"
        );
        Self {
            data,
            k,
            n,
            ldb: NR,
            panel_stride: NR * k,
        }
    }
    /// Column count.
    pub fn cols(&self) -> usize {
        self.n
    }
}

/// Copies the `k × n` view `b` into column panels `NR` wide (`out` grows once and is reused); use with
/// [`Panels::packed`].
pub fn pack_b<T: Float>(b: MatRef<'_, T>, out: &mut Vec<T>) {
    let (k, n) = (b.rows, b.cols);
    assert!(b.fits(), "pack_b: view out of bounds");
    let np = n.div_ceil(NR);
    if out.len() < np * NR * k {
        out.resize(np * NR * k, T::ZERO);
    }
    for p in 0..np {
        let panel = &mut out[p * NR * k..(p + 1) * NR * k];
        let j0 = p * NR;
        let w = NR.min(n - j0);
        if b.cs == 1 {
            for kk in 0..k {
                let src = &b.data[kk * b.rs + j0..kk * b.rs + j0 + w];
                let dst = &mut panel[kk * NR..(kk + 1) * NR];
                dst[..w].copy_from_slice(src);
                dst[w..].fill(T::ZERO);
            }
        } else {
            // Transposed source: walk it along its contiguous direction (k when rs = 1).
            for kk in 0..k {
                panel[kk * NR + w..(kk + 1) * NR].fill(T::ZERO);
            }
            for j in 0..w {
                let col = (j0 + j) * b.cs;
                if b.rs == 1 {
                    let src = &b.data[col..col + k];
                    for (dst, &v) in panel.chunks_exact_mut(NR).zip(src) {
                        dst[j] = v;
                    }
                } else {
                    for kk in 0..k {
                        panel[kk * NR + j] = b.data[col + kk * b.rs];
                    }
                }
            }
        }
    }
}

/// What the micro-kernel works on (raw parts of a checked [`gemm_panels`] call).
#[doc(hidden)]
pub struct PanelJob<T> {
    m: usize,
    k: usize,
    n: usize,
    a: *const T,
    /// Row stride of A read in place; 0 when A is packed in row blocks.
    rsa: usize,
    b: *const T,
    ldb: usize,
    panel_stride: usize,
    c: *mut T,
    accumulate: bool,
}

// SAFETY: a job is only shared between the two halves of one `gemm_panels` call, which write disjoint
// column panels of `c` and only read `a` and `b`.
unsafe impl<T: Sync> Sync for PanelJob<T> {}

/// Products with `m·k·n` at least this large are split between two threads by [`gemm_panels`].
pub const PAR_MIN: usize = 1 << 21;

/// `C = A·B` (or `C += A·B` with `accumulate`) on row-major `c` (`a.rows × b.cols`), with `B` in column
/// panels. Every output element is a sum over `k` in order with fused multiply-adds on the AVX2 path,
/// whatever the split (and with fused multiply-adds on the AVX2 path): large products go to two threads as two ranges of panels, so results do not depend
/// on the thread count.
///
/// # Panics
/// If the shapes disagree or a view does not fit in its slice (a programming error, not a user one).
pub fn gemm_panels<T: Float>(
    a: MatRef<'_, T>,
    b: Panels<'_, T>,
    accumulate: bool,
    c: &mut [T],
    scratch: &mut Vec<T>,
) {
    gemm_panels_with(a, b, accumulate, c, scratch, true);
}

/// [`gemm_panels`], splitting between two threads only if `allow_split` (the caller may already be one
/// of two threads). The bits are the same either way.
///
/// # Panics
/// As [`gemm_panels`].
pub fn gemm_panels_with<T: Float>(
    a: MatRef<'_, T>,
    b: Panels<'_, T>,
    accumulate: bool,
    c: &mut [T],
    scratch: &mut Vec<T>,
    allow_split: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.n);
    assert_eq!(b.k, k, "gemm_panels: inner dimensions {k} and {}", b.k);
    assert!(
        c.len() >= m * n,
        "gemm_panels: output {} < {m}×{n}",
        c.len()
    );
    assert!(a.fits(), "gemm_panels: A out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(T::ZERO);
        }
        return;
    }
    let np = n.div_ceil(NR);
    // The last element any panel reads: packed buffers are padded, in-place ones end at column n−1.
    let last = (np - 1) * b.panel_stride + (k - 1) * b.ldb + (n - (np - 1) * NR) - 1;
    assert!(last < b.data.len(), "gemm_panels: B out of bounds");
    // A in row blocks of MR, k-major inside a block: the kernel's broadcasts then read one contiguous stream.
    // A row-major A is read in place unless its rows are a multiple of 4 KiB apart (they would alias in cache).
    let pack_a = a.cs != 1 || (m > 1 && (a.rs * std::mem::size_of::<T>()).is_multiple_of(4096));
    if pack_a {
        if scratch.len() < m * k {
            scratch.resize(m * k, T::ZERO);
        }
        let mut i0 = 0;
        while i0 < m {
            let rows = MR.min(m - i0);
            let block = &mut scratch[i0 * k..(i0 + rows) * k];
            if a.cs == 1 {
                for r in 0..rows {
                    let src = &a.data[(i0 + r) * a.rs..(i0 + r) * a.rs + k];
                    for (kk, &v) in src.iter().enumerate() {
                        block[kk * rows + r] = v;
                    }
                }
            } else {
                for kk in 0..k {
                    for r in 0..rows {
                        block[kk * rows + r] = a.data[(i0 + r) * a.rs + kk * a.cs];
                    }
                }
            }
            i0 += rows;
        }
    }
    let job = PanelJob {
        m,
        k,
        n,
        a: if pack_a {
            scratch.as_ptr()
        } else {
            a.data.as_ptr()
        },
        rsa: if pack_a { 0 } else { a.rs },
        b: b.data.as_ptr(),
        ldb: b.ldb,
        panel_stride: b.panel_stride,
        c: c.as_mut_ptr(),
        accumulate,
    };
    // Split only on a pool thread (where `bptt::loss_and_grads` runs large passes): there the other half is
    // a local fork; from outside the pool, injecting and waiting costs more than small products gain.
    if allow_split && np >= 2 && m * k * n >= PAR_MIN && on_pool() {
        let half = np / 2;
        // SAFETY: the asserts above keep every access in bounds; the halves write disjoint panels of `c`,
        // which is uniquely borrowed for the duration of the call.
        rayon::join(
            || unsafe { T::panels_raw(&job, 0, half) },
            || unsafe { T::panels_raw(&job, half, np) },
        );
    } else {
        // SAFETY: as above, one thread.
        unsafe { T::panels_raw(&job, 0, np) };
    }
}

/// Whether this is a worker of a rayon pool with more than one thread.
pub fn on_pool() -> bool {
    rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1
}

/// Rows per micro-kernel call (2·MR accumulators + 2 B registers + 1 broadcast fit the 16 AVX registers).
const MR: usize = 6;

/// Portable micro-kernel (plain multiply-add, any `Float`).
///
/// # Safety
/// `job` satisfies the invariants [`gemm_panels`] checks.
unsafe fn panels_portable<T: Float>(job: &PanelJob<T>, p0: usize, p1: usize) {
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

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR, PanelJob, cell_backward_row, cell_forward_row};
    use std::arch::x86_64::*;

    /// [`cell_forward_row`] compiled for AVX2 (wider vectors for the same operations: no FMA
    /// contraction, so the results equal the portable build's).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn cell_forward_avx2(
        a: &mut [f32],
        c_prev: &[f32],
        c: &mut [f32],
        tc: &mut [f32],
        h: &mut [f32],
    ) {
        cell_forward_row(a, c_prev, c, tc, h);
    }

    /// [`cell_backward_row`] compiled for AVX2 (same operations, same results).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn cell_backward_avx2(
        gates: &[f32],
        tc: &[f32],
        c_prev: &[f32],
        d_h_out: &[f32],
        d_h_next: &[f32],
        d_c: &mut [f32],
        d_a: &mut [f32],
    ) {
        cell_backward_row(gates, tc, c_prev, d_h_out, d_h_next, d_c, d_a);
    }

    /// [`super::adam_row`] compiled for AVX2 (same operations, same results).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn adam_avx2(
        w: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        c: &super::AdamConsts,
    ) {
        super::adam_row(w, g, m, v, c);
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

    fn random(rng: &mut crate::rng::Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    /// `C (+)= A·B` by the definition, in f64.
    fn naive(a: MatRef<'_, f64>, b: &[f64], n: usize, c: &mut [f64], accumulate: bool) {
        for i in 0..a.rows {
            for j in 0..n {
                let mut s = 0.0;
                for kk in 0..a.cols {
                    s += a.data[i * a.rs + kk * a.cs] * b[kk * n + j];
                }
                c[i * n + j] = if accumulate { c[i * n + j] + s } else { s };
            }
        }
    }

    /// Every A layout (in place, packed because of 4 KiB rows, transposed) and B layout (in place, strided,
    /// packed from row-major and from a transpose), with and without accumulation, in f32 (the SIMD kernel
    /// where the CPU has it) and f64 (the portable one), against the definition.
    #[test]
    fn panel_gemm_matches_definition() {
        let mut rng = crate::rng::Rng::new(11);
        for &(m, k, n) in &[
            (1, 50, 200),
            (7, 33, 45),
            (13, 1024, 70),
            (32, 64, 33),
            (25, 5, 1),
        ] {
            let a_rows = random(&mut rng, m * 1024.max(k));
            let b = random(&mut rng, k * n);
            let c0 = random(&mut rng, m * n);
            let b_t: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let b_pad: Vec<f64> = (0..k * (n + 3))
                .map(|i| {
                    if i % (n + 3) < n {
                        b[(i / (n + 3)) * n + i % (n + 3)]
                    } else {
                        9.0
                    }
                })
                .collect();
            let a_views = [
                MatRef::rm(&a_rows[..m * k], m, k),
                MatRef {
                    data: &a_rows[..],
                    rows: m,
                    cols: k,
                    rs: 1024.max(k),
                    cs: 1,
                },
                MatRef::rm(&a_rows[..m * k], k, m).t(),
            ];
            for a in a_views {
                for accumulate in [false, true] {
                    let mut want = c0.clone();
                    naive(a, &b, n, &mut want, accumulate);
                    let a32: Vec<f32> = a.data.iter().map(|&v| v as f32).collect();
                    let a32v = MatRef {
                        data: &a32[..],
                        rows: a.rows,
                        cols: a.cols,
                        rs: a.rs,
                        cs: a.cs,
                    };
                    let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                    let (b32, bt32, bpad32) = (to32(&b), to32(&b_t), to32(&b_pad));
                    for layout in 0..4 {
                        let (mut packed64, mut packed32) = (Vec::new(), Vec::new());
                        let (p64, p32) = match layout {
                            0 => (Panels::rm(&b, k, n), Panels::rm(&b32, k, n)),
                            1 => (
                                Panels::strided(&b_pad, k, n, n + 3),
                                Panels::strided(&bpad32, k, n, n + 3),
                            ),
                            2 => {
                                pack_b(MatRef::rm(&b, k, n), &mut packed64);
                                pack_b(MatRef::rm(&b32, k, n), &mut packed32);
                                (
                                    Panels::packed(&packed64, k, n),
                                    Panels::packed(&packed32, k, n),
                                )
                            }
                            _ => {
                                pack_b(MatRef::rm(&b_t, n, k).t(), &mut packed64);
                                pack_b(MatRef::rm(&bt32, n, k).t(), &mut packed32);
                                (
                                    Panels::packed(&packed64, k, n),
                                    Panels::packed(&packed32, k, n),
                                )
                            }
                        };
                        let mut got64 = c0.clone();
                        gemm_panels(a, p64, accumulate, &mut got64, &mut Vec::new());
                        let mut got32 = to32(&c0);
                        gemm_panels(a32v, p32, accumulate, &mut got32, &mut Vec::new());
                        for ((w, g64), g32) in want.iter().zip(&got64).zip(&got32) {
                            assert!(
                                (w - g64).abs() < 1e-12 * (k as f64),
                                "f64 {m}×{k}×{n} layout {layout}"
                            );
                            let tol = 1e-5 * (k as f64).sqrt() * (1.0 + w.abs());
                            assert!(
                                (w - f64::from(*g32)).abs() < tol,
                                "f32 {m}×{k}×{n} layout {layout}: {w} vs {g32}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The AVX-512 tiles give the AVX2 tiles' bits (same FMA chain per element), for every tile shape:
    /// partial panels, 1 to 7+ rows, A packed or in place, accumulating or not.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_tiles_equal_avx2_tiles() {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        let mut rng = crate::rng::Rng::new(77);
        for &(m, k, n) in &[
            (1, 9, 70),
            (1, 64, 64),
            (5, 17, 15),
            (6, 33, 16),
            (7, 8, 17),
            (13, 40, 100),
            (12, 3, 33),
            (32, 256, 130),
        ] {
            let a: Vec<f32> = random(&mut rng, m * k).iter().map(|&v| v as f32).collect();
            let b: Vec<f32> = random(&mut rng, k * n).iter().map(|&v| v as f32).collect();
            let c0: Vec<f32> = random(&mut rng, m * n).iter().map(|&v| v as f32).collect();
            let mut packed_b = Vec::new();
            pack_b(MatRef::rm(&b, k, n), &mut packed_b);
            // A packed as `gemm_panels` packs it: row blocks of MR, k-major inside a block.
            let mut packed_a = vec![0.0f32; m * k];
            let mut i0 = 0;
            while i0 < m {
                let rows = MR.min(m - i0);
                for r in 0..rows {
                    for kk in 0..k {
                        packed_a[i0 * k + kk * rows + r] = a[(i0 + r) * k + kk];
                    }
                }
                i0 += rows;
            }
            let np = n.div_ceil(NR);
            for (a_ptr, rsa) in [(a.as_ptr(), k), (packed_a.as_ptr(), 0)] {
                for accumulate in [false, true] {
                    let run = |wide: bool| {
                        let mut c = c0.clone();
                        let job = PanelJob {
                            m,
                            k,
                            n,
                            a: a_ptr,
                            rsa,
                            b: packed_b.as_ptr(),
                            ldb: NR,
                            panel_stride: NR * k,
                            c: c.as_mut_ptr(),
                            accumulate,
                        };
                        // SAFETY: the CPU has the features (checked above); A, B (packed) and C have the
                        // shapes the job describes, and nothing else touches `c` during the call.
                        unsafe {
                            if wide {
                                x86::panels_avx512(&job, 0, np);
                            } else {
                                x86::panels_avx2(&job, 0, np);
                            }
                        }
                        c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
                    };
                    assert_eq!(
                        run(true),
                        run(false),
                        "{m}×{k}×{n} rsa {rsa} accumulate {accumulate}"
                    );
                }
            }
        }
    }

    /// A product big enough to be split between two threads gives the same bits on one thread and on two.
    #[test]
    fn panel_gemm_is_bitwise_independent_of_threads() {
        let mut rng = crate::rng::Rng::new(12);
        let (m, k, n) = (32, 256, 1000);
        assert!(m * k * n >= PAR_MIN);
        let a: Vec<f32> = random(&mut rng, m * k).iter().map(|&v| v as f32).collect();
        let b: Vec<f32> = random(&mut rng, k * n).iter().map(|&v| v as f32).collect();
        let mut packed = Vec::new();
        pack_b(MatRef::rm(&b, k, n), &mut packed);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            pool.install(|| {
                assert_eq!(on_pool(), threads > 1);
                let mut c = vec![0.5f32; m * n];
                gemm_panels(
                    MatRef::rm(&a, m, k),
                    Panels::packed(&packed, k, n),
                    true,
                    &mut c,
                    &mut Vec::new(),
                );
                c
            })
        };
        assert_eq!(run(1), run(2));
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

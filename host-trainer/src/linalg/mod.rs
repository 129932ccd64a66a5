//! Dense linear algebra for the trainer: a strided matrix view, `B` operands in column panels, and a
//! register-blocked GEMM with portable, AVX2 + FMA and AVX-512 micro-kernels.
//!
//! This is the only module of host-trainer with `unsafe` code: the micro-kernels read and write through raw
//! pointers after [`gemm_panels`] has checked every bound, and the SIMD paths call `#[target_feature]`
//! functions after checking the CPU. Each block says why it is sound (`SAFETY:`).
//!
//! Files: `mod.rs` (views, packing, the checked driver, [`wide`]), `portable.rs` (the micro-kernel in
//! plain Rust, any [`Float`]), `x86.rs` (the AVX2 + FMA and AVX-512 tiles, `f32` only).

#![allow(unsafe_code)]

use std::any::Any;

use crate::scalar::Float;

mod portable;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

/// An element-wise pass over slices (a cell row, an optimiser row) that [`wide`] compiles for the widest
/// vectors. Implementations mark [`RowPass::run`] `#[inline(always)]`, so that its loops are compiled
/// inside the AVX2 function (a closure would stay a call to a baseline-x86-64 function).
pub trait RowPass {
    /// Does the pass.
    fn run(self);
}

/// Runs `pass` compiled for AVX2 where the CPU has it, so its loops use 8-lane vectors. FMA is not
/// enabled and Rust never contracts `a·b + c`, so the results are the plain build's bit for bit; only
/// the speed differs.
#[inline]
pub fn wide(pass: impl RowPass) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above); the pass is safe code.
        unsafe { x86::with_avx2(pass) };
        return;
    }
    pass.run();
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
struct PanelJob<T> {
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
/// panels. Every output element is one sum over `k` in order (fused multiply-adds on the SIMD paths,
/// multiply then add on the portable one). Large products go to two threads as two ranges of panels,
/// which changes no element's sum, so the results do not depend on the thread count.
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
            || unsafe { run_panels(&job, 0, half) },
            || unsafe { run_panels(&job, half, np) },
        );
    } else {
        // SAFETY: as above, one thread.
        unsafe { run_panels(&job, 0, np) };
    }
}

/// Whether this is a worker of a rayon pool with more than one thread.
pub fn on_pool() -> bool {
    rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1
}

/// Runs the micro-kernel over column panels `p0..p1` of `job`: for `f32` the widest SIMD tiles the CPU
/// has (AVX-512, else AVX2 + FMA), otherwise the portable kernel.
///
/// # Safety
/// `job` satisfies the invariants [`gemm_panels`] checks before building it.
unsafe fn run_panels<T: Float>(job: &PanelJob<T>, p0: usize, p1: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(job32) = (job as &dyn Any).downcast_ref::<PanelJob<f32>>() {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above); the job's invariants come from the caller.
            unsafe { x86::panels_avx512(job32, p0, p1) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the job's invariants come from the caller.
            unsafe { x86::panels_avx2(job32, p0, p1) };
            return;
        }
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe { portable::panels(job, p0, p1) }
}

/// Rows per micro-kernel call (2·MR accumulators + 2 B registers + 1 broadcast fit the 16 AVX registers).
const MR: usize = 6;

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

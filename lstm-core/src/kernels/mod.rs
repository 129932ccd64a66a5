//! The only place the maths gets fast: dot products, activations, softmax.
//!
//! Every kernel computes exactly the same floating-point operations in the
//! same order, so all kernels give **bit-identical** results:
//!
//! - a dot product keeps eight independent accumulators; lane `j` sums the
//!   products of elements `j, j + 8, j + 16, …` with fused multiply-adds, in
//!   increasing index order, and the lanes are reduced as
//!   `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))` — the shape of an
//!   8-wide SIMD register folded in halves;
//! - `exp` is a Cody–Waite range reduction and a degree-7 polynomial, all in
//!   fused multiply-adds (relative error below 2e-7 where the result is a
//!   normal f32; it is 0 below about -87.7 and infinite above about 88.4,
//!   which `sigmoid`, `tanh` and softmax turn into exact 0, ±1 and 0; no
//!   clamp, so a kernel only checks the exponent it builds anyway);
//!   `sigmoid` and `tanh` are built on it with one IEEE division;
//! - sums that are not dot products run left to right.
//!
//! [`portable`] is the reference; [`x86_64`] (AVX2 + FMA) and `cortex_m`
//! (the Cortex-M4F FPU's `VFMA`) give the same bits faster. Host and
//! microcontroller therefore generate the same text for the same weights and
//! seed.

#![allow(unsafe_code)]

pub mod portable;

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
pub mod cortex_m;

use crate::Error;

/// A validated, borrowed view of one LSTM cell and its output layer.
///
/// Tensor layout (all row-major, gate order i, f, g, o as PyTorch):
/// `w_ih[g]` is `[n_x][n_h]`, `w_hh[g]` is `[n_h][n_h]`, `b[g]` is `[n_h]`,
/// `w_y` is `[n_y][n_h]`, `b_y` is `[n_y]`.
#[derive(Debug, Clone, Copy)]
pub struct CellView<'a> {
    pub(crate) n_x: usize,
    pub(crate) n_h: usize,
    pub(crate) n_y: usize,
    pub(crate) w_ih: [&'a [f32]; 4],
    pub(crate) w_hh: [&'a [f32]; 4],
    pub(crate) b: [&'a [f32]; 4],
    pub(crate) w_y: &'a [f32],
    pub(crate) b_y: &'a [f32],
}

impl<'a> CellView<'a> {
    /// Builds a view from per-gate slices, checking every length against the dimensions.
    ///
    /// # Errors
    /// [`Error::TensorLength`] if a slice has the wrong length, [`Error::DimensionOutOfRange`] for a zero size.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_x: usize,
        n_h: usize,
        n_y: usize,
        w_ih: [&'a [f32]; 4],
        w_hh: [&'a [f32]; 4],
        b: [&'a [f32]; 4],
        w_y: &'a [f32],
        b_y: &'a [f32],
    ) -> Result<Self, Error> {
        for (name, v) in [("n_x", n_x), ("n_h", n_h), ("n_y", n_y)] {
            if v == 0 {
                return Err(Error::DimensionOutOfRange {
                    name,
                    value: 0,
                    max: usize::MAX,
                });
            }
        }
        let check = |tensor: &'static str, t: &[f32], expected: usize| {
            if t.len() == expected {
                Ok(())
            } else {
                Err(Error::TensorLength {
                    tensor,
                    expected,
                    found: t.len(),
                })
            }
        };
        for g in 0..4 {
            check("w_ih", w_ih[g], n_x * n_h)?;
            check("w_hh", w_hh[g], n_h * n_h)?;
            check("b", b[g], n_h)?;
        }
        check("w_y", w_y, n_y * n_h)?;
        check("b_y", b_y, n_y)?;
        Ok(CellView {
            n_x,
            n_h,
            n_y,
            w_ih,
            w_hh,
            b,
            w_y,
            b_y,
        })
    }

    /// Builds a view from gate-stacked slices in the file layout (`w_ih` `[4][n_x][n_h]`, …).
    ///
    /// # Errors
    /// As [`CellView::new`].
    pub fn from_stacked(
        dims: crate::Dims,
        w_ih: &'a [f32],
        w_hh: &'a [f32],
        b: &'a [f32],
        w_y: &'a [f32],
        b_y: &'a [f32],
    ) -> Result<Self, Error> {
        let (n_x, n_h, n_y) = (dims.n_x, dims.n_h, dims.n_y);
        CellView::new(
            n_x,
            n_h,
            n_y,
            four_blocks("w_ih", w_ih, n_x * n_h)?,
            four_blocks("w_hh", w_hh, n_h * n_h)?,
            four_blocks("b", b, n_h)?,
            w_y,
            b_y,
        )
    }

    /// The sizes `(n_x, n_h, n_y)`.
    pub fn dims(&self) -> crate::Dims {
        crate::Dims {
            n_x: self.n_x,
            n_h: self.n_h,
            n_y: self.n_y,
        }
    }
}

/// Splits a gate-stacked tensor into its four gate blocks of `each` elements.
fn four_blocks<'a>(
    tensor: &'static str,
    t: &'a [f32],
    each: usize,
) -> Result<[&'a [f32]; 4], Error> {
    let err = Error::TensorLength {
        tensor,
        expected: 4 * each,
        found: t.len(),
    };
    if each == 0 || t.len() != 4 * each {
        return Err(err);
    }
    let mut it = t.chunks_exact(each);
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(a), Some(b), Some(c), Some(d)) => Ok([a, b, c, d]),
        _ => Err(err),
    }
}

/// The input of one step.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A symbol index (one-hot input): `W_ih · x` is column gather.
    Token(usize),
    /// A dense input vector of `n_x` values.
    Dense(&'a [f32]),
}

/// Which kernel runs the maths. All give bit-identical results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kernel {
    /// The portable reference kernel (plain Rust, `libm::fmaf`).
    Portable,
    /// AVX2 + FMA on x86-64.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// The Cortex-M4F FPU (`VFMA.F32`, `VLDM`).
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    CortexM4F,
}

impl Kernel {
    /// The fastest kernel the compile-time target features allow.
    pub const fn compiled() -> Kernel {
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        {
            Kernel::Avx2Fma
        }
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        {
            Kernel::CortexM4F
        }
        #[cfg(not(any(
            all(
                target_arch = "x86_64",
                target_feature = "avx2",
                target_feature = "fma"
            ),
            all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
        )))]
        {
            Kernel::Portable
        }
    }

    /// The fastest kernel this CPU supports, detected at run time.
    #[cfg(feature = "std")]
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Kernel::Avx2Fma;
            }
        }
        Kernel::compiled()
    }

    /// All kernels this CPU can run (for conformance tests and benchmarks).
    #[cfg(feature = "std")]
    pub fn available() -> heapless::Vec<Kernel, 3> {
        let mut v = heapless::Vec::new();
        let _ = v.push(Kernel::Portable);
        let best = Kernel::detect();
        if best != Kernel::Portable {
            let _ = v.push(best);
        }
        v
    }

    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => "avx2+fma",
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => "cortex-m4f",
        }
    }

    /// Returns the kernel if the running CPU supports it, else [`Kernel::Portable`].
    fn usable(self) -> Kernel {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => {
                if x86_64::supported() {
                    self
                } else {
                    Kernel::Portable
                }
            }
            k => k,
        }
    }

    /// One LSTM step: updates `h` and `c` in place; `gates` is scratch of `4·n_h` values.
    ///
    /// # Errors
    /// Wrong buffer lengths, a token out of range or a dense input of the wrong length.
    pub fn step(
        self,
        cell: &CellView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        gates: &mut [f32],
    ) -> Result<(), Error> {
        check_len(h.len(), cell.n_h)?;
        check_len(c.len(), cell.n_h)?;
        check_len(gates.len(), 4 * cell.n_h)?;
        check_input(cell, x)?;
        match self.usable() {
            Kernel::Portable => portable::step(cell, x, h, c, gates),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` returned Avx2Fma only after checking the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::step(cell, x, h, c, gates) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::step(cell, x, h, c, gates),
        }
        Ok(())
    }

    /// Hidden units `rows` of one step: reads the whole previous hidden state
    /// `h_prev` and writes only those units' cell state `c` and new hidden
    /// state `h_next` (both `rows.len()` long); `gates` is scratch of
    /// `4·rows.len()`. The units' bits equal [`Kernel::step`]'s, so two
    /// cores can each take part of the units of one step.
    ///
    /// # Errors
    /// Rows outside `0..n_h`, wrong buffer lengths, a token out of range or a
    /// dense input of the wrong length.
    #[allow(clippy::too_many_arguments)]
    pub fn step_rows(
        self,
        cell: &CellView<'_>,
        x: Input<'_>,
        rows: core::ops::Range<usize>,
        h_prev: &[f32],
        c: &mut [f32],
        h_next: &mut [f32],
        gates: &mut [f32],
    ) -> Result<(), Error> {
        if rows.start > rows.end || rows.end > cell.n_h {
            return Err(Error::DimensionOutOfRange {
                name: "rows",
                value: rows.end,
                max: cell.n_h,
            });
        }
        let m = rows.len();
        check_len(h_prev.len(), cell.n_h)?;
        check_len(c.len(), m)?;
        check_len(h_next.len(), m)?;
        check_len(gates.len(), 4 * m)?;
        check_input(cell, x)?;
        let (r0, r1) = (rows.start, rows.end);
        match self.usable() {
            Kernel::Portable => portable::step_rows(cell, x, r0, r1, h_prev, c, h_next, gates),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` returned Avx2Fma only after checking the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe {
                x86_64::step_rows(cell, x, r0, r1, h_prev, c, h_next, gates)
            },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::step_rows(cell, x, r0, r1, h_prev, c, h_next, gates),
        }
        Ok(())
    }

    /// Output layer: `logits = W_y · h + b_y`.
    ///
    /// # Errors
    /// Wrong buffer lengths.
    pub fn logits(self, cell: &CellView<'_>, h: &[f32], logits: &mut [f32]) -> Result<(), Error> {
        check_len(h.len(), cell.n_h)?;
        check_len(logits.len(), cell.n_y)?;
        match self.usable() {
            Kernel::Portable => portable::logits(cell, h, logits),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::logits(cell, h, logits) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::logits(cell, h, logits),
        }
        Ok(())
    }

    /// Replaces `v` by `softmax(v / temperature)`; `temperature` must be positive and finite.
    pub fn softmax(self, v: &mut [f32], temperature: f32) {
        match self.usable() {
            Kernel::Portable => portable::softmax(v, temperature),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::softmax(v, temperature) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::softmax(v, temperature),
        }
    }

    /// Dot product with the eight-lane summation order described in the module docs.
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        match self.usable() {
            Kernel::Portable => portable::dot(a, b),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::dot(a, b) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::dot(a, b),
        }
    }
}

/// A token inside the vocabulary, or a dense input of `n_x` values.
fn check_input(cell: &CellView<'_>, x: Input<'_>) -> Result<(), Error> {
    match x {
        Input::Token(t) if t >= cell.n_x => Err(Error::TokenOutOfRange {
            token: t,
            vocab: cell.n_x,
        }),
        Input::Dense(v) if v.len() != cell.n_x => Err(Error::InputLength {
            expected: cell.n_x,
            found: v.len(),
        }),
        _ => Ok(()),
    }
}

fn check_len(found: usize, expected: usize) -> Result<(), Error> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::BufferTooSmall {
            needed: expected,
            available: found,
        })
    }
}

/// Constants of the `exp` approximation, shared by every kernel.
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

/// Writes the body of one kernel module: the step, logits and softmax on top
/// of the module's own `fma`, `gemv` and `exp` (and optional vector
/// versions of the element-wise passes). Keeps the algorithm in one place.
macro_rules! kernel_body {
    ($($attr:meta),*) => {
        /// One step; lengths were checked by the caller.
        $(#[$attr])*
        pub(crate) fn step(
            cell: &$crate::kernels::CellView<'_>,
            x: $crate::kernels::Input<'_>,
            h: &mut [f32],
            c: &mut [f32],
            gates: &mut [f32],
        ) {
            preact(cell, x, 0, cell.n_h, h, gates);
            update(gates, c, h);
        }

        /// Hidden units `r0..r1` of one step from the whole previous hidden
        /// state: `c` and `h_next` are those units' parts, `gates` their
        /// scratch (`4·(r1 - r0)`); lengths were checked by the caller.
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn step_rows(
            cell: &$crate::kernels::CellView<'_>,
            x: $crate::kernels::Input<'_>,
            r0: usize,
            r1: usize,
            h_prev: &[f32],
            c: &mut [f32],
            h_next: &mut [f32],
            gates: &mut [f32],
        ) {
            preact(cell, x, r0, r1, h_prev, gates);
            update(gates, c, h_next);
        }

        /// Pre-activations of units `r0..r1`, gate by gate into four blocks of
        /// `gates`: a[g] = W_hh[g]·h + (x-part[g] + b[g]).
        $(#[$attr])*
        #[inline]
        fn preact(
            cell: &$crate::kernels::CellView<'_>,
            x: $crate::kernels::Input<'_>,
            r0: usize,
            r1: usize,
            h: &[f32],
            gates: &mut [f32],
        ) {
            let n_h = cell.n_h;
            let m = r1 - r0;
            for (g, out) in gates.chunks_exact_mut(m.max(1)).take(4).enumerate() {
                let w_hh = cell.w_hh[g].get(r0 * n_h..r1 * n_h).unwrap_or(&[]);
                let b = cell.b[g].get(r0..r1).unwrap_or(&[]);
                match x {
                    $crate::kernels::Input::Token(t) => {
                        let col = cell.w_ih[g].get(t * n_h + r0..t * n_h + r1).unwrap_or(&[]);
                        gemv_add(w_hh, h, col, b, out);
                    }
                    $crate::kernels::Input::Dense(v) => {
                        gemv(w_hh, h, out);
                        for (k, (a, b)) in (r0..r1).zip(out.iter_mut().zip(b)) {
                            let mut acc = 0.0f32;
                            for (j, &vj) in v.iter().enumerate() {
                                let w = cell.w_ih[g].get(j * n_h + k).copied().unwrap_or(0.0);
                                acc = fma(w, vj, acc);
                            }
                            *a += acc + *b;
                        }
                    }
                }
            }
        }

        /// Activations and the state update of the units whose pre-activations are in `gates`.
        $(#[$attr])*
        #[inline]
        fn update(gates: &mut [f32], c: &mut [f32], h: &mut [f32]) {
            let m = c.len();
            let (ga, rest) = gates.split_at_mut(m);
            let (gb, rest) = rest.split_at_mut(m);
            let (gc, gd) = rest.split_at_mut(m);
            activate(ga, gb, gc, gd);
            // c = f ⊙ c_prev + i ⊙ g;  h = o ⊙ tanh(c)
            update_state(ga, gb, gc, gd, h, c);
        }

        /// logits = W_y · h + b_y.
        $(#[$attr])*
        pub(crate) fn logits(cell: &$crate::kernels::CellView<'_>, h: &[f32], out: &mut [f32]) {
            gemv(cell.w_y, h, out);
            for (o, b) in out.iter_mut().zip(cell.b_y) {
                *o += *b;
            }
        }

        /// v = softmax(v / temperature): max-subtracted, summed left to right.
        $(#[$attr])*
        pub(crate) fn softmax(v: &mut [f32], temperature: f32) {
            // A plain comparison (NaNs are skipped), not `f32::max`, which is a
            // libm call on the Cortex-M4F.
            let max = v
                .iter()
                .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
            exp_shifted(v, max, temperature);
            let mut sum = 0.0f32;
            for &e in v.iter() {
                sum += e;
            }
            for e in v.iter_mut() {
                *e /= sum;
            }
        }
    };
}
pub(crate) use kernel_body;

/// Writes `gemv_add` (a gate's pre-activation for a one-hot input) on top of the module's `gemv`.
macro_rules! gemv_then_add {
    ($($attr:meta),*) => {
        /// out[k] = dot(row k of `w`, x) + (a[k] + b[k]).
        $(#[$attr])*
        #[inline]
        fn gemv_add(w: &[f32], x: &[f32], a: &[f32], b: &[f32], out: &mut [f32]) {
            gemv(w, x, out);
            for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
                *o += *a + *b;
            }
        }
    };
}
pub(crate) use gemv_then_add;

/// Writes the scalar element-wise passes (exp, activations, state update,
/// softmax numerators) on top of the module's own `fma`.
macro_rules! scalar_elementwise {
    () => {
        $crate::kernels::scalar_activate!();

        /// c = f ⊙ c + i ⊙ g (one fused multiply-add), h = o ⊙ tanh(c);
        /// `pg` is reused for tanh(c).
        #[inline]
        fn update_state(
            pi: &[f32],
            pf: &[f32],
            pg: &mut [f32],
            po: &[f32],
            h: &mut [f32],
            c: &mut [f32],
        ) {
            for (((i, f), g), c) in pi.iter().zip(pf).zip(pg.iter_mut()).zip(c.iter_mut()) {
                *c = fma(*f, *c, *i * *g);
                *g = *c;
            }
            tanh_in_place(pg);
            for ((h, o), t) in h.iter_mut().zip(po).zip(pg.iter()) {
                *h = *o * *t;
            }
        }
    };
}
pub(crate) use scalar_elementwise;

/// Writes `activate` (the gate activations) on top of the module's array passes.
macro_rules! scalar_activate {
    () => {
        /// Gate activations in place: i, f, o through sigmoid, g through tanh.
        #[inline]
        fn activate(pi: &mut [f32], pf: &mut [f32], pg: &mut [f32], po: &mut [f32]) {
            sigmoid_in_place(pi);
            sigmoid_in_place(pf);
            sigmoid_in_place(po);
            tanh_in_place(pg);
        }
    };
}
pub(crate) use scalar_activate;

/// Writes the scalar array passes (sigmoid, tanh, softmax numerators) on
/// top of the module's own `exp`.
macro_rules! scalar_arrays {
    () => {
        /// v = sigmoid(v).
        #[inline]
        fn sigmoid_in_place(v: &mut [f32]) {
            for x in v.iter_mut() {
                *x = sigmoid(*x);
            }
        }

        /// v = tanh(v).
        #[inline]
        fn tanh_in_place(v: &mut [f32]) {
            for x in v.iter_mut() {
                *x = tanh(*x);
            }
        }

        /// v = exp((v - max) / t).
        #[inline]
        fn exp_shifted(v: &mut [f32], max: f32, t: f32) {
            for e in v.iter_mut() {
                *e = exp((*e - max) / t);
            }
        }
    };
}
pub(crate) use scalar_arrays;

/// Writes scalar `sigmoid` and `tanh` on top of the module's own `exp`.
macro_rules! scalar_activations {
    ($($attr:meta),*) => {
        /// sigmoid(x) = 1 / (1 + exp(-x)).
        $(#[$attr])*
        #[inline]
        pub(crate) fn sigmoid(x: f32) -> f32 {
            1.0 / (1.0 + exp(-x))
        }

        /// tanh(x) = 1 - 2 / (exp(2x) + 1).
        $(#[$attr])*
        #[inline]
        pub(crate) fn tanh(x: f32) -> f32 {
            1.0 - 2.0 / (exp(2.0 * x) + 1.0)
        }

    };
}
pub(crate) use scalar_activations;

/// Writes the scalar `exp` (Cody–Waite reduction, degree-7 polynomial, all
/// in the module's own `fma`): the one definition every kernel reproduces.
macro_rules! scalar_exp {
    ($($attr:meta),*) => {
        /// exp(x) by Cody–Waite reduction and a degree-7 polynomial (see the module docs of `kernels`).
        $(#[$attr])*
        #[inline]
        pub(crate) fn exp(x: f32) -> f32 {
            // t = ROUND + n with n = round(x / ln 2); its low mantissa bits are n.
            let t = x * expc::LOG2E + expc::ROUND;
            let biased = t.to_bits().wrapping_sub(expc::BIAS_BITS);
            if biased > 255 {
                // n outside [-127, 128]: x <= -88.4 (underflow), x >= 89.1
                // (overflow), or x is NaN.
                return $crate::kernels::exp_saturated(x);
            }
            let n = t - expc::ROUND;
            let r = fma(n, -expc::LN2_HI, x);
            let r = fma(n, -expc::LN2_LO, r);
            let mut p = expc::C[0];
            for &c in &expc::C[1..] {
                p = fma(p, r, c);
            }
            // 2^n from its exponent bits: 0 for n = -127, infinity for n = 128.
            p * f32::from_bits(biased << 23)
        }
    };
}
pub(crate) use scalar_exp;

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
mod tests {
    use super::portable::exp;

    /// Every f32 in `[lo, hi)` stepping by `step` ulps.
    fn sweep(lo: f32, hi: f32, step: u32) -> impl Iterator<Item = f32> {
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_exp_equals_scalar_bit_for_bit() {
        use core::arch::x86_64::*;
        if !super::x86_64::supported() {
            return;
        }
        let mut xs: std::vec::Vec<f32> = sweep(-120.0, 120.0, 50_021).collect();
        xs.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            0.0,
            -0.0,
        ]);
        xs.extend([-88.0, -88.4, 88.5, 89.1, -1e30, 1e30]);
        for chunk in xs.chunks(8) {
            let mut lanes = [1.0f32; 8];
            lanes[..chunk.len()].copy_from_slice(chunk);
            let mut got = [0.0f32; 8];
            // SAFETY: the CPU supports AVX2 and FMA (checked above); the
            // loads and stores touch eight f32s of local arrays.
            unsafe {
                let v = super::x86_64::exp8_for_tests(_mm256_loadu_ps(lanes.as_ptr()));
                _mm256_storeu_ps(got.as_mut_ptr(), v);
            }
            for (x, g) in lanes.iter().zip(got) {
                let want = exp(*x);
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "exp8({x}) = {g}, exp = {want}"
                );
            }
        }
    }
}

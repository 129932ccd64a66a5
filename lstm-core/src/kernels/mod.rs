//! The only place the maths gets fast: the cell steps, the output layer,
//! softmax and dot products, on every architecture, with bit-identical results.
//!
//! # Layout
//!
//! - `cell`: the maths, written once — `layer_step_of` / `layer_step_rows`
//!   (one body per cell kind: lstm, gru, tanh rnn; a rows-layout input, the
//!   layer below's new h in a stack, goes through `gemv`), `logits`,
//!   `softmax` — generic over an architecture's
//!   primitives; the weights are read in one place there (its products
//!   section), so a new dtype changes those functions, not the bodies;
//! - `arch`: the trait `Arch` naming those primitives, each with its
//!   contract (lengths, and the exact operations and their order), and its
//!   scalar reference definition as the default method:
//!   `fma`; `dot` (eight lanes: lane `j` sums the products of elements
//!   `j, j + 8, …` with fused multiply-adds in increasing index order, the
//!   lanes reduced as `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))`,
//!   the shape of an 8-wide register folded in halves); `gemv`; `gemv_add`
//!   (product, then input part plus bias); `sigmoid_in_place`,
//!   `tanh_in_place` and `exp_shifted` (softmax numerators) over
//!   [`crate::math::exp`]; `lstm_update` (`c = fma(f, c, i·g)`,
//!   `h = o·tanh(c)`) and `gru_update` (`h = fma(z, h − n, n)`); the q8
//!   dtype's `sigmoid_table_in_place`, `tanh_table_in_place` and
//!   `lstm_update_table` over [`crate::lut`]; each written once per
//!   architecture that has a faster version;
//! - one module per architecture implementing `Arch`: `portable` (only
//!   `fma`; every other method is the scalar default — the reference),
//!   `x86_64` (AVX2 + FMA; its `#[target_feature]` entry points instantiate
//!   the generic bodies so they inline with the features) and `cortex_m`
//!   (the Cortex-M4F FPU's `VFMA` in `global_asm!` routines; `gru_update`
//!   is the scalar default over `VFMA`);
//! - `network`: [`Kernel::network_step`] and [`Kernel::network_logits`]
//!   (and their `_of` forms), a stack of layers over the layer entry points;
//! - `q8`: the q8 dtype's dispatch ([`Kernel::gemv_q8`] & co., [`Q8Impl`]);
//! - `split_step` (`std` feature): `SplitStep`, one step split between two
//!   cores (here because it needs `unsafe`).
//!
//! [`Kernel`] picks the architecture and checks every length before the
//! generic body runs; the bodies and primitives `debug_assert!` them.
//! Because every architecture keeps each primitive's contract, host and
//! microcontroller generate the same text for the same weights and seed;
//! the conformance suite (`tests/conformance.rs`, and the same cases on the
//! Cortex-M4F under QEMU in `conformance-m4f/`) checks it bit for bit for
//! every cell kind and for stacks of two and three layers, f32 and q8.
//!
//! # Where the next dtype goes
//!
//! - **GRU** (`r, z, n` with `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`)
//!   and the **vanilla tanh RNN**: a new generic body in `cell`
//!   (`gru_step_rows`, `rnn_step_rows`) over the same primitives — `gemv`,
//!   `gemv_add`, the activations — plus, like `lstm_update`, one new
//!   primitive for the GRU's state update (`h = (1 - z) ⊙ n + z ⊙ h`) with a
//!   scalar default and optional vector versions; a view type beside
//!   [`CellView`] with its weights.
//! - **int8 weights × Q15 state** (the q8 dtype): the primitives are in
//!   place — `q15_pack` (the state as Q15, [`crate::quant::q15`], in the
//!   architecture's order), `gemv_q8` (int8 rows × Q15, exact i32 sums, then
//!   `((acc as f32) · 2^-15) · scale`, [`crate::quant`] has the definition)
//!   and `gemv_q8_quads` (the same over a matrix in quad order,
//!   [`crate::weight_order`]) — with the scalar default as reference, AVX2 / AVX-VNNI / AVX-512 VNNI on x86-64
//!   (`x86_vnni`, chosen at run time inside `Avx2Fma`'s `gemv_q8`) and
//!   `SXTB16` + `SMLAD` on the Cortex-M4F (x86-64 runs quad order by the
//!   scalar default: host views are row-major). [`Kernel::q15_state`],
//!   [`Kernel::gemv_q8`], [`Kernel::gemv_q8_in`] and [`Kernel::gemv_q8_add`]
//!   expose them;
//!   [`Q8Impl`] names each implementation for the conformance suite
//!   (`tests/conformance_q8.rs`, and `conformance-m4f/` under QEMU) and the
//!   benchmark (`benches/q8.rs`). The cell bodies run q8 layers with no
//!   second copy: `cell`'s `pack` writes a q8 layer's Q15 operands (the
//!   previous h, and a rows-layout input) once per step into the end of the
//!   caller's scratch, and its products section calls `gemv_q8` /
//!   `gemv_q8_quads` (then adds a gathered column) where f32 calls
//!   `gemv_add` / `gemv`; the tail after the
//!   products is the same code for both dtypes. The conformance suite runs
//!   whole q8 networks on every kernel (and, on x86-64, with each product
//!   this CPU has: `Q8Impl::cap_best`).

#![allow(unsafe_code)]

mod arch;
mod cell;
mod network;
mod portable;
mod q8;
#[cfg(feature = "std")]
pub(crate) mod split_step;

#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "x86_64")]
mod x86_vnni;

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod cortex_m;

pub(crate) use arch::Arch;
pub(crate) use portable::Portable;
pub use q8::Q8Impl;

use crate::Error;
use crate::format::Dtype;
use crate::view::{CellView, Input, InputLayout, OutputView, RecurrentView};

/// The `CELL` or `DTYPE` of [`Kernel::network_step_of`],
/// [`Kernel::network_logits_of`] and [`OneCell`](crate::OneCell) that
/// compiles in every cell kind's body, or both dtypes' products (what
/// [`Kernel::network_step`] and [`Kernel::network_logits`] run).
pub const ANY: u8 = u8::MAX;

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
    /// Every kernel compiled for this target, whether or not this CPU can run it.
    #[cfg(target_arch = "x86_64")]
    pub const ALL: &'static [Kernel] = &[Kernel::Portable, Kernel::Avx2Fma];
    /// Every kernel compiled for this target, whether or not this CPU can run it.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    pub const ALL: &'static [Kernel] = &[Kernel::Portable, Kernel::CortexM4F];
    /// Every kernel compiled for this target, whether or not this CPU can run it.
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
    )))]
    pub const ALL: &'static [Kernel] = &[Kernel::Portable];

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

    /// Whether the running CPU executes this kernel itself (a kernel it
    /// cannot run falls back to [`Kernel::Portable`]).
    pub fn runs_here(self) -> bool {
        self.usable() == self
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
        check_len(gates.len(), 4 * cell.n_h)?;
        self.layer_step(&cell.layer(), x, h, c, gates)
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
        check_len(gates.len(), 4 * rows.len())?;
        self.layer_step_rows(&cell.layer(), x, rows, h_prev, c, h_next, gates)
    }

    /// One step of a recurrent layer of any kind: updates `h` (`n_h`) and,
    /// for lstm, `c` (`n_h`; empty for gru and rnn) in place; `scratch` has
    /// at least [`RecurrentView::scratch_len`]`(n_h)` values.
    ///
    /// # Errors
    /// Wrong buffer lengths, a token out of range (or for a rows-layout
    /// layer), or a dense input of the wrong length.
    pub fn layer_step(
        self,
        layer: &RecurrentView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.layer_step_of::<ANY, ANY>(layer, x, h, c, scratch)
    }

    /// [`Kernel::layer_step`] with only cell kind `CELL`'s body and dtype
    /// `DTYPE`'s products compiled in (every one for [`ANY`]).
    fn layer_step_of<const CELL: u8, const DTYPE: u8>(
        self,
        layer: &RecurrentView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        check_compiled::<CELL, DTYPE>(layer.kind.code(), layer.dtype())?;
        let layer = &only_dtype::<DTYPE>(layer);
        check_len(h.len(), layer.n_h)?;
        check_len(c.len(), layer.cell_state_len())?;
        check_at_least(scratch.len(), layer.scratch_len(layer.n_h))?;
        check_input(layer, x)?;
        match self.usable() {
            Kernel::Portable => cell::layer_step_of::<_, CELL>(Portable, layer, x, h, c, scratch),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` returned Avx2Fma only after checking the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::layer_step(layer, x, h, c, scratch) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::layer_step_of::<CELL>(layer, x, h, c, scratch),
        }
        Ok(())
    }

    /// Hidden units `rows` of one step of a layer of any kind: reads the
    /// whole previous hidden state `h_prev` (`n_h`), updates those units'
    /// cell state `c` (lstm: `rows.len()`; empty otherwise) and writes their
    /// new hidden state `h_next` (`rows.len()`); `scratch` has at least
    /// [`RecurrentView::scratch_len`]`(rows.len())` values. The units' bits
    /// equal [`Kernel::layer_step`]'s.
    ///
    /// # Errors
    /// As [`Kernel::layer_step`], and rows outside `0..n_h`.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_step_rows(
        self,
        layer: &RecurrentView<'_>,
        x: Input<'_>,
        rows: core::ops::Range<usize>,
        h_prev: &[f32],
        c: &mut [f32],
        h_next: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        if rows.start > rows.end || rows.end > layer.n_h {
            return Err(Error::DimensionOutOfRange {
                name: "rows",
                value: rows.end,
                max: layer.n_h,
            });
        }
        let m = rows.len();
        check_len(h_prev.len(), layer.n_h)?;
        check_len(c.len(), if layer.kind.has_cell_state() { m } else { 0 })?;
        check_len(h_next.len(), m)?;
        check_at_least(scratch.len(), layer.scratch_len(m))?;
        check_input(layer, x)?;
        match self.usable() {
            Kernel::Portable => {
                cell::layer_step_rows(Portable, layer, x, rows, h_prev, c, h_next, scratch)
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` returned Avx2Fma only after checking the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe {
                x86_64::layer_step_rows(layer, x, rows, h_prev, c, h_next, scratch)
            },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => {
                cortex_m::layer_step_rows(layer, x, rows, h_prev, c, h_next, scratch)
            }
        }
        Ok(())
    }

    /// Output layer: `logits = W_y · h + b_y`.
    ///
    /// # Errors
    /// Wrong buffer lengths.
    pub fn logits(self, cell: &CellView<'_>, h: &[f32], logits: &mut [f32]) -> Result<(), Error> {
        self.output_logits(&cell.output(), h, logits)
    }

    /// Output layer: `logits = W_y · h + b_y`, `h` the last layer's hidden state (`n_h`).
    /// A q8 output packs `h` as Q15 into a stack buffer of
    /// [`crate::format::MAX_Q8_ROW`] values (1 KiB);
    /// [`Kernel::network_logits`] uses the caller's scratch instead.
    ///
    /// # Errors
    /// Wrong buffer lengths.
    pub fn output_logits(
        self,
        output: &OutputView<'_>,
        h: &[f32],
        logits: &mut [f32],
    ) -> Result<(), Error> {
        if output.q8.is_none() {
            return self.logits_with(output, h, &mut [], logits);
        }
        /// Word-aligned, for the Cortex-M4F's word loads.
        #[repr(C, align(4))]
        struct Q15Buf([i16; crate::format::MAX_Q8_ROW]);
        let mut buf = Q15Buf([0; crate::format::MAX_Q8_ROW]);
        self.logits_with(output, h, &mut buf.0, logits)
    }

    /// [`Kernel::output_logits`] with `hq` (at least `n_h` values for a q8
    /// output) for the Q15 state.
    fn logits_with(
        self,
        output: &OutputView<'_>,
        h: &[f32],
        hq: &mut [i16],
        logits: &mut [f32],
    ) -> Result<(), Error> {
        check_len(h.len(), output.n_h)?;
        check_len(logits.len(), output.n_y)?;
        if output.q8.is_some() {
            check_at_least(hq.len(), output.n_h)?;
        }
        match self.usable() {
            Kernel::Portable => cell::logits(Portable, output, h, hq, logits),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::logits(output, h, hq, logits) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::logits(output, h, hq, logits),
        }
        Ok(())
    }

    /// Replaces `v` by `softmax(v / temperature)`; `temperature` must be positive and finite.
    pub fn softmax(self, v: &mut [f32], temperature: f32) {
        match self.usable() {
            Kernel::Portable => cell::softmax(Portable, v, temperature),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::softmax(v, temperature) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::softmax(v, temperature),
        }
    }

    /// Replaces `v` by the q8 dtype's table activation, [`crate::lut::tanh_table`]
    /// if `tanh`, else [`crate::lut::sigmoid_table`], element by element.
    pub fn activate_table(self, v: &mut [f32], tanh: bool) {
        match self.usable() {
            Kernel::Portable if tanh => Portable.tanh_table_in_place(v),
            Kernel::Portable => Portable.sigmoid_table_in_place(v),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::activate_table(v, tanh) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::activate_table(v, tanh),
        }
    }

    /// Dot product of the first `min(a.len(), b.len())` elements, with the
    /// eight-lane summation order described in the module docs.
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        match self.usable() {
            Kernel::Portable => Portable.dot(a, b),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { x86_64::dot(a, b) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => cortex_m::dot(a, b),
        }
    }
}

/// A layer of cell kind `cell` (a [`CellKind::code`](crate::format::CellKind::code))
/// and dtype `dtype` whose body and products are compiled in (see
/// [`Kernel::network_step_of`]).
fn check_compiled<const CELL: u8, const DTYPE: u8>(cell: u8, dtype: Dtype) -> Result<(), Error> {
    if CELL != ANY && CELL != cell {
        return Err(Error::UnsupportedModel {
            what: "a cell kind this step was not compiled for",
        });
    }
    if DTYPE != ANY && DTYPE != dtype.code() {
        return Err(Error::UnsupportedModel {
            what: "a dtype this step was not compiled for",
        });
    }
    Ok(())
}

/// `layer` as an f32-only step (`DTYPE` f32) sees it: a copy without q8
/// weights (an f32 layer has none), so the compiler leaves the q8 arms of
/// the products out.
#[inline(always)]
fn only_dtype<'a, const DTYPE: u8>(layer: &RecurrentView<'a>) -> RecurrentView<'a> {
    let mut v = *layer;
    if DTYPE == Dtype::F32.code() {
        v.q8 = None;
    }
    v
}

/// A token inside the vocabulary (for a gather-layout layer), or a dense
/// input of `n_in` values.
fn check_input(layer: &RecurrentView<'_>, x: Input<'_>) -> Result<(), Error> {
    match x {
        Input::Token(_) if layer.layout == InputLayout::Rows => Err(Error::WrongInputKind),
        Input::Token(t) if t >= layer.n_in => Err(Error::TokenOutOfRange {
            token: t,
            vocab: layer.n_in,
        }),
        Input::Dense(v) if v.len() != layer.n_in => Err(Error::InputLength {
            expected: layer.n_in,
            found: v.len(),
        }),
        _ => Ok(()),
    }
}

fn check_at_least(found: usize, needed: usize) -> Result<(), Error> {
    if found >= needed {
        Ok(())
    } else {
        Err(Error::BufferTooSmall {
            needed,
            available: found,
        })
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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use crate::math::{exp, tests::sweep};

    #[test]
    fn avx2_exp_equals_scalar_bit_for_bit() {
        use core::arch::x86_64::*;
        if !super::x86_64::supported() {
            crate::conformance::skip("avx2+fma not available on this CPU");
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
        let mut checked = 0;
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
                checked += 1;
            }
        }
        assert!(checked > 1000, "only {checked} values checked");
    }
}

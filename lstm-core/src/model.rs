//! The statically sized model: nalgebra matrices whose sizes are const generics.
//!
//! Firmware keeps the weights in `static`s (flash) and builds an [`Lstm`] of
//! references to them; nothing is copied to RAM. Storage is column-major, so
//! each matrix holds the *transpose* of the PyTorch block: column `k` of
//! `w_h` is row `k` of `W_hh` for that gate, and the one-hot gather of
//! symbol `x` is column `x` of `w_x` — both contiguous.

use nalgebra::{SMatrix, SVector};

use crate::format::{InputKind, ModelView};
use crate::sample::{GeneratorBuffers, Sampler};
use crate::{CellView, Error, Generator, Input, Kernel};

/// One gate's weights: `a = w_hᵀ·h + w_xᵀ·x + b`.
#[derive(Debug, Clone, Copy)]
pub struct GateWeights<'w, const INPUT: usize, const HIDDEN: usize> {
    /// Input weights; column `x` is the gate's weights for input `x` (`W_ih` block transposed).
    pub w_x: &'w SMatrix<f32, HIDDEN, INPUT>,
    /// Recurrent weights; column `k` is row `k` of the `W_hh` block.
    pub w_h: &'w SMatrix<f32, HIDDEN, HIDDEN>,
    /// Bias (`b_ih + b_hh`).
    pub b: &'w SVector<f32, HIDDEN>,
}

/// An LSTM cell and its output layer over borrowed, statically sized matrices.
#[derive(Debug, Clone, Copy)]
pub struct Lstm<'w, const INPUT: usize, const HIDDEN: usize, const OUTPUT: usize> {
    /// The gates in PyTorch's order: input, forget, cell candidate, output.
    pub gates: [GateWeights<'w, INPUT, HIDDEN>; 4],
    /// Output weights; column `y` is row `y` of `W_y`.
    pub w_y: &'w SMatrix<f32, HIDDEN, OUTPUT>,
    /// Output bias.
    pub b_y: &'w SVector<f32, OUTPUT>,
    /// The output symbols in index order (empty for a dense-output model).
    pub vocab: &'w str,
    /// One-hot or dense input.
    pub input: InputKind,
}

/// The recurrent state (h, c).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State<const HIDDEN: usize> {
    /// Hidden state.
    pub h: SVector<f32, HIDDEN>,
    /// Cell state.
    pub c: SVector<f32, HIDDEN>,
}

impl<const HIDDEN: usize> Default for State<HIDDEN> {
    fn default() -> Self {
        Self::zeros()
    }
}

impl<const HIDDEN: usize> State<HIDDEN> {
    /// The zero state.
    pub fn zeros() -> Self {
        State {
            h: SVector::zeros(),
            c: SVector::zeros(),
        }
    }

    /// Sets h and c to zero.
    pub fn reset(&mut self) {
        self.h.fill(0.0);
        self.c.fill(0.0);
    }
}

impl<'w, const INPUT: usize, const HIDDEN: usize, const OUTPUT: usize>
    Lstm<'w, INPUT, HIDDEN, OUTPUT>
{
    /// The same weights as slices, for the shared kernels.
    pub fn view(&self) -> CellView<'w> {
        let g = &self.gates;
        CellView {
            n_x: INPUT,
            n_h: HIDDEN,
            n_y: OUTPUT,
            w_ih: [
                g[0].w_x.as_slice(),
                g[1].w_x.as_slice(),
                g[2].w_x.as_slice(),
                g[3].w_x.as_slice(),
            ],
            w_hh: [
                g[0].w_h.as_slice(),
                g[1].w_h.as_slice(),
                g[2].w_h.as_slice(),
                g[3].w_h.as_slice(),
            ],
            b: [
                g[0].b.as_slice(),
                g[1].b.as_slice(),
                g[2].b.as_slice(),
                g[3].b.as_slice(),
            ],
            w_y: self.w_y.as_slice(),
            b_y: self.b_y.as_slice(),
        }
    }

    /// One step with a symbol index as input.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] if `token >= INPUT`.
    pub fn step_token(
        &self,
        kernel: Kernel,
        state: &mut State<HIDDEN>,
        token: usize,
    ) -> Result<(), Error> {
        let mut gates = [[0.0f32; HIDDEN]; 4];
        kernel.step(
            &self.view(),
            Input::Token(token),
            state.h.as_mut_slice(),
            state.c.as_mut_slice(),
            gates.as_flattened_mut(),
        )
    }

    /// One step with a dense input vector.
    pub fn step_dense(&self, kernel: Kernel, state: &mut State<HIDDEN>, x: &SVector<f32, INPUT>) {
        let mut gates = [[0.0f32; HIDDEN]; 4];
        // Every length is fixed by the const generics, so this cannot fail.
        let _ = kernel.step(
            &self.view(),
            Input::Dense(x.as_slice()),
            state.h.as_mut_slice(),
            state.c.as_mut_slice(),
            gates.as_flattened_mut(),
        );
    }

    /// The output layer: `W_y h + b_y`.
    pub fn logits(&self, kernel: Kernel, state: &State<HIDDEN>, out: &mut SVector<f32, OUTPUT>) {
        // Lengths are fixed by the const generics, so this cannot fail.
        let _ = kernel.logits(&self.view(), state.h.as_slice(), out.as_mut_slice());
    }

    /// Primes with `prime` and generates up to `length` symbols, with stack
    /// buffers; see [`Generator::generate`] for the rules.
    ///
    /// # Errors
    /// A vocabulary that does not have `OUTPUT` distinct symbols, a dense-input
    /// model, or a prime symbol outside the vocabulary.
    pub fn generate(
        &self,
        kernel: Kernel,
        sampler: &mut Sampler,
        prime: &str,
        length: usize,
        stop_at: Option<char>,
        emit: impl FnMut(char),
    ) -> Result<usize, Error> {
        self.with_generator(kernel, |g| {
            g.generate(sampler, prime, length, stop_at, emit)
        })?
    }

    /// Runs `f` with a [`Generator`] over stack buffers (zero state) and returns its result.
    ///
    /// # Errors
    /// A vocabulary that does not have `OUTPUT` distinct symbols or a dense-input model.
    pub fn with_generator<R>(
        &self,
        kernel: Kernel,
        f: impl FnOnce(&mut Generator<'w, '_>) -> R,
    ) -> Result<R, Error> {
        let mut h = [0.0f32; HIDDEN];
        let mut c = [0.0f32; HIDDEN];
        let mut gates = [[0.0f32; HIDDEN]; 4];
        let mut logits = [0.0f32; OUTPUT];
        let mut order = [0u16; OUTPUT];
        let mut g = Generator::new(
            self.view(),
            self.input,
            self.vocab,
            kernel,
            GeneratorBuffers {
                h: &mut h,
                c: &mut c,
                gates: gates.as_flattened_mut(),
                logits: &mut logits,
                order: &mut order,
            },
        )?;
        Ok(f(&mut g))
    }
}

/// Owned, statically sized weights, filled from a decoded file.
///
/// Large: keep it in a `static` or a `Box`, not on a small stack.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedLstm<const INPUT: usize, const HIDDEN: usize, const OUTPUT: usize> {
    /// Per gate (i, f, g, o): input weights, `w_x` of [`GateWeights`].
    pub w_x: [SMatrix<f32, HIDDEN, INPUT>; 4],
    /// Per gate: recurrent weights.
    pub w_h: [SMatrix<f32, HIDDEN, HIDDEN>; 4],
    /// Per gate: bias.
    pub b: [SVector<f32, HIDDEN>; 4],
    /// Output weights (transposed).
    pub w_y: SMatrix<f32, HIDDEN, OUTPUT>,
    /// Output bias.
    pub b_y: SVector<f32, OUTPUT>,
    /// Input kind.
    pub input: InputKind,
}

impl<const INPUT: usize, const HIDDEN: usize, const OUTPUT: usize>
    OwnedLstm<INPUT, HIDDEN, OUTPUT>
{
    /// All-zero weights.
    pub fn zeros() -> Self {
        OwnedLstm {
            w_x: [SMatrix::zeros(); 4],
            w_h: [SMatrix::zeros(); 4],
            b: [SVector::zeros(); 4],
            w_y: SMatrix::zeros(),
            b_y: SVector::zeros(),
            input: InputKind::OneHot,
        }
    }

    /// Copies a decoded model in, after checking its dimensions equal the const generics.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] naming the first dimension that differs.
    pub fn fill_from(&mut self, model: &ModelView<'_>) -> Result<(), Error> {
        for (name, expected, found) in [
            ("n_x", INPUT, model.dims.n_x),
            ("n_h", HIDDEN, model.dims.n_h),
            ("n_y", OUTPUT, model.dims.n_y),
        ] {
            if expected != found {
                return Err(Error::DimensionMismatch {
                    name,
                    expected,
                    found,
                });
            }
        }
        let copy = |src: &mut dyn Iterator<Item = f32>, dst: &mut [f32]| {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s;
            }
        };
        let mut w_ih = model.w_ih.iter();
        let mut w_hh = model.w_hh.iter();
        let mut b = model.b.iter();
        for g in 0..4 {
            copy(&mut w_ih, self.w_x[g].as_mut_slice());
            copy(&mut w_hh, self.w_h[g].as_mut_slice());
            copy(&mut b, self.b[g].as_mut_slice());
        }
        copy(&mut model.w_y.iter(), self.w_y.as_mut_slice());
        copy(&mut model.b_y.iter(), self.b_y.as_mut_slice());
        self.input = model.input;
        Ok(())
    }

    /// Borrows the weights as an [`Lstm`].
    pub fn as_lstm<'w>(&'w self, vocab: &'w str) -> Lstm<'w, INPUT, HIDDEN, OUTPUT> {
        let gate = |g: usize| GateWeights {
            w_x: &self.w_x[g],
            w_h: &self.w_h[g],
            b: &self.b[g],
        };
        Lstm {
            gates: [gate(0), gate(1), gate(2), gate(3)],
            w_y: &self.w_y,
            b_y: &self.b_y,
            vocab,
            input: self.input,
        }
    }
}

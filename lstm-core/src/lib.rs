//! # lstm-core
//!
//! A `no_std`, heap-free character-level LSTM: one cell step, the output
//! layer, softmax and sampling over statically sized matrices, and a
//! versioned, validated weight format.
//!
//! One step, with PyTorch's gate order (i, f, g, o) and `x` one-hot or dense:
//!
//! ```text
//! i = σ(W_ii x + W_hi h + b_i)      f = σ(W_if x + W_hf h + b_f)
//! g = tanh(W_ig x + W_hg h + b_g)   o = σ(W_io x + W_ho h + b_o)
//! c' = f ⊙ c + i ⊙ g                h' = o ⊙ tanh(c')
//! p = softmax(W_y h' + b_y)
//! ```
//!
//! With a one-hot input, `W_i· x` is a column gather, not a product.
//!
//! The family: a [`NetworkView`] stacks 1 to 4 layers of one cell kind —
//! LSTM, GRU (`r, z, n` with `b_hn` inside the `r` product) or tanh RNN,
//! PyTorch's equations — under the output layer, with f32 weights or q8
//! ones (int8 with one f32 scale per output unit, the state entering the
//! products as Q15; see [`quant`]); [`Kernel::network_step`] steps every
//! layer and [`Generator`] primes and samples over it, with character or
//! word vocabularies, the same calls for both dtypes.
//!
//! Two shapes, one kernel: [`Lstm`] holds references to nalgebra `SMatrix`es
//! whose sizes are const generics (what firmware uses, weights in `static`s),
//! and [`CellView`] borrows slices whose sizes come from a file at run time
//! (what the host uses). Both run the same [`Kernel`], so host and
//! microcontroller produce the same bits.
//!
//! | feature | what it adds |
//! |---|---|
//! | `std` | `Kernel::detect`: AVX2 + FMA chosen at run time on x86-64 |
//! | `conformance` | the kernel conformance cases (hidden; for this crate's tests and `conformance-m4f`) |
//!
//! The maths: [`math`] holds the reference scalar `exp`, `sigmoid` and
//! `tanh`; [`quant`] the q8 maths (the Q15 state, the exact int8 × Q15
//! product and its f32 tail, post-training quantization); [`kernels`] the
//! cell step written once over each architecture's primitives (see its
//! docs for the layout).
//!
//! ```
//! use lstm_core::format;
//!
//! // A model with 2 symbols and 1 hidden unit, encoded then decoded.
//! let dims = format::Dims { n_x: 2, n_h: 1, n_y: 2 };
//! let parts = format::ModelParts {
//!     input: format::InputKind::OneHot,
//!     dims,
//!     vocab: "ab",
//!     w_ih: &[0.5, -0.5, 0.1, 0.2, 0.3, 0.4, -0.1, 0.0],
//!     w_hh: &[0.1, 0.2, 0.3, 0.4],
//!     b: &[0.0; 4],
//!     w_y: &[1.0, -1.0],
//!     b_y: &[0.0, 0.0],
//! };
//! let mut bytes = [0u8; 256];
//! let len = format::encode(&parts, &mut bytes)?;
//! let model = format::decode(&bytes[..len])?;
//! assert_eq!(model.dims, dims);
//! # Ok::<(), lstm_core::Error>(())
//! ```

#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod board;
#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod conformance;
mod error;
pub mod format;
pub mod kernels;
pub mod lut;
pub mod math;
mod model;
pub mod quant;
mod sample;
pub mod text;
mod view;
pub mod weight_order;

pub use error::Error;
pub use format::{Dims, InputKind};
pub use kernels::Kernel;
#[cfg(feature = "std")]
pub use kernels::split_step::{SplitStep, with_split_step};
pub use model::{GateWeights, Lstm, OwnedLstm, State};
pub use sample::{
    Generator, GeneratorBuffers, InlineStep, OneCell, Sampler, SamplerConfig, StepRunner,
    sample_argmax, sample_multinomial, sample_truncated,
};
pub use view::{CellView, Input, InputLayout, NetworkView, OutputView, RecurrentView};

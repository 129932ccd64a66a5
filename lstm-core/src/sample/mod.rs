//! Sampling the next symbol, and the prime-then-generate loop.
//!
//! The rules (`sample_argmax`, `sample_multinomial`, `sample_truncated`) take
//! a `coin` in `[0, 1)`; the [`Sampler`] owns the seeded RNG that flips it,
//! so host and firmware draw the same coins for the same seed.

mod generator;
mod sampler;

pub use generator::{Generator, GeneratorBuffers, InlineStep, OneCell, StepRunner};
pub use sampler::{Sampler, SamplerConfig, sample_argmax, sample_multinomial, sample_truncated};

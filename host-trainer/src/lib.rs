//! Host-side trainer for character-level LSTMs: corpus and vocabulary, batched BPTT in f32/f64, SGD /
//! Adagrad / Adam with clipping, gradient check, PyTorch golden parity, checkpoints, and export to
//! lstm-core's weight format.
//!
//! Layers, each using only those before it:
//! - [`data`]: corpus → vocabulary and tokens → minibatches;
//! - [`scalar`] and [`linalg`]: the number types, and the GEMM engine (the only `unsafe` code);
//! - [`cell`]: forward and backward of one batch row per cell kind;
//! - [`model`] parameters, [`bptt`] (the batched pass through time), [`optim`] (the update rules);
//! - [`train`]: the loop, with [`config`], [`history`], [`checkpoint`], [`plot`], and [`evaluate`];
//! - [`cmd`]: one file per subcommand (arguments, validation, console output), [`cli`] their shared checks.
//!
//! Beside them: [`files`] (output-path checks and the one atomic write), [`layout`] (gate layouts of PyTorch, the trainer and the file), [`model_file`] (the
//! file, owned), [`generate`] (sampling through lstm-core), [`quantize`] (q8 model files), [`eval_core`] (loss
//! through lstm-core's step), [`pytorch`], [`golden`], [`gradcheck`].

#![deny(unsafe_code)]

pub mod bptt;
pub mod cell;
pub mod checkpoint;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod data;
pub mod eval_core;
pub mod evaluate;
pub mod files;
pub mod generate;
pub mod golden;
pub mod gradcheck;
pub mod history;
pub mod layout;
pub mod linalg;
pub mod model;
pub mod model_file;
pub mod optim;
pub mod plot;
pub mod pytorch;
pub mod quantize;
pub mod rng;
pub mod scalar;
pub mod sidecar;
pub mod train;

//! Host-side trainer for character-level LSTMs: corpus and vocabulary, batched BPTT in f32/f64, SGD /
//! Adagrad / Adam with clipping, gradient check, PyTorch golden parity, checkpoints, and export to
//! lstm-core's weight format.
//!
//! Data flow: [`corpus`] → [`batch`] → [`bptt`] (with [`model`] parameters) → [`optim`] → [`export`];
//! [`train`] runs the loop, [`cli`] turns arguments into validated configs.

pub mod batch;
pub mod bptt;
pub mod checkpoint;
pub mod cli;
pub mod corpus;
pub mod export;
pub mod float;
pub mod generate;
pub mod golden;
pub mod gradcheck;
pub mod model;
pub mod optim;
pub mod plot;
pub mod pytorch;
pub mod rng;
pub mod train;

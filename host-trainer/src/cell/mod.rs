//! The recurrent cells: for each kind, the forward and backward maths of one batch row, element-wise on
//! slices (the matrix products around them are [`crate::bptt`]'s, through [`crate::linalg`]).
//!
//! A cell kind is a file here providing, generic over [`crate::scalar::Float`]:
//! - `forward(pre, state_prev, …)`: the gate pre-activations of one row → activations and next state,
//!   keeping what the backward pass needs;
//! - `backward(cached, ∂state, …)`: ∂loss/∂pre-activations and ∂loss/∂previous state for that row.
//!
//! Today there is one kind, [`lstm`]; a GRU or plain RNN cell goes beside it as `gru.rs` / `rnn.rs`.

pub mod lstm;

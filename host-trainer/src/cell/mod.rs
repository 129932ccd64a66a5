//! The recurrent cells: for each kind, the forward and backward maths of one batch row, element-wise on
//! slices (the matrix products around them are [`crate::bptt`]'s, through [`crate::linalg`]).
//!
//! A cell kind is a file here providing, generic over [`crate::scalar::Float`]:
//! - `forward(pre, state_prev, …)`: the gate pre-activations of one row → activations and next state,
//!   keeping what the backward pass needs;
//! - `backward(cached, ∂state, …)`: ∂loss/∂pre-activations and ∂loss/∂previous state for that row.
//!
//! The kinds: [`lstm`], [`gru`], [`rnn`] (tanh), with PyTorch's equations.

pub mod gru;
pub mod lstm;
pub mod rnn;

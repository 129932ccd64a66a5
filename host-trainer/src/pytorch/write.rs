//! Export: one path writes every cell kind and layer count as the tensors `load_state_dict(strict=True)`
//! expects; [`export`] takes an owned version-1 model, [`export_any`] model-file bytes of either version.

use lstm_core::Dims;
use lstm_core::format::{CellKind, InputKind, TokenKind};

use super::tensors::{Tensor, serialize_f32};
use super::{Prefixes, PytorchError, default_rnn_prefix};
use crate::layout::layer_to_pytorch;
use crate::model::Stack;
use crate::model_file::{ModelFile, decode_stack};

/// Writes a model as safetensors (F32) that `nn.LSTM` + `nn.Linear` load with
/// `load_state_dict(strict=True)`; the whole bias goes to `bias_ih_l0`
/// (`bias_hh_l0` is zero).
///
/// # Errors
/// A dense-input model (PyTorch's one-hot layout needs a vocabulary input).
pub fn export(model: &ModelFile, prefixes: &Prefixes) -> Result<Vec<u8>, PytorchError> {
    check_one_hot(model.input)?;
    let (params, _) = model.to_params().map_err(PytorchError::Stack)?;
    let stack = Stack::from_params(&params);
    serialize_f32(&tensors(&stack, &prefixes.lstm, &prefixes.linear), &[])
}

/// Writes a model file of any version as safetensors (F32) that the matching `nn.LSTM` / `nn.GRU` /
/// `nn.RNN` (`num_layers` = its layers) + `nn.Linear` load strictly; returns it with the vocabulary.
/// `rnn_prefix` `None` is the cell kind's [`default_rnn_prefix`] (`lstm.` for a version-1 file).
///
/// # Errors
/// Invalid bytes, a dense-input or q8 model, a words model.
pub fn export_any(
    model_bytes: &[u8],
    rnn_prefix: Option<&str>,
    linear: &str,
) -> Result<(Vec<u8>, String), PytorchError> {
    let family = lstm_core::format::decode_family(model_bytes)?;
    check_one_hot(family.header.input)?;
    let (stack, vocab, tokens) = decode_stack(model_bytes).map_err(PytorchError::Stack)?;
    if tokens != TokenKind::Chars {
        return Err(PytorchError::Unsupported(
            "a words model: the PyTorch vocabulary JSON holds single characters".into(),
        ));
    }
    let p = rnn_prefix.unwrap_or(default_rnn_prefix(stack.kind));
    // A version-2 file names its cell and layer count in the metadata (a tanh RNN's tensors look like
    // a relu one's); a version-1 file's export carries only `format` and `producer`, as it always has.
    let meta = if family.plain().is_ok() {
        Vec::new()
    } else {
        let cell = match stack.kind {
            CellKind::Rnn => "rnn_tanh",
            k => k.name(),
        };
        vec![
            ("cell", cell.to_string()),
            ("num_layers", stack.layers.len().to_string()),
        ]
    };
    Ok((serialize_f32(&tensors(&stack, p, linear), &meta)?, vocab))
}

/// Refuses a dense-input model: PyTorch's layout here is one-hot over a vocabulary.
fn check_one_hot(input: InputKind) -> Result<(), PytorchError> {
    if input == InputKind::OneHot {
        Ok(())
    } else {
        Err(PytorchError::Unsupported(
            "dense-input model: export supports one-hot character models".into(),
        ))
    }
}

/// The model's tensors under PyTorch's names, shapes and layout: per layer `{p}weight_ih_l{k}`,
/// `weight_hh`, `bias_ih` (the merged bias), `bias_hh` (zero but a GRU's `b_hn`), then the output layer.
fn tensors(stack: &Stack<f32>, p: &str, linear: &str) -> Vec<Tensor> {
    let Dims { n_x, n_h, n_y } = stack.dims;
    let g = stack.kind.gates() * n_h;
    let mut tensors = Vec::with_capacity(4 * stack.layers.len() + 2);
    for (k, l) in stack.layers.iter().enumerate() {
        let n_in = if k == 0 { n_x } else { n_h };
        let [w_ih, w_hh, b_ih, b_hh] = layer_to_pytorch(stack.kind, n_in, n_h, l);
        tensors.push((format!("{p}weight_ih_l{k}"), vec![g, n_in], w_ih));
        tensors.push((format!("{p}weight_hh_l{k}"), vec![g, n_h], w_hh));
        tensors.push((format!("{p}bias_ih_l{k}"), vec![g], b_ih));
        tensors.push((format!("{p}bias_hh_l{k}"), vec![g], b_hh));
    }
    tensors.push((format!("{linear}weight"), vec![n_y, n_h], stack.w_y.clone()));
    tensors.push((format!("{linear}bias"), vec![n_y], stack.b_y.clone()));
    tensors
}

//! Import: one path reads every cell kind and layer count; [`import`] is that path limited to the
//! single-layer `nn.LSTM` of a version-1 model file.

use lstm_core::Dims;
use lstm_core::format::{CellKind, InputKind};
use safetensors::SafeTensors;

use super::names::{
    check_one_direction, find_rnn_prefix, kind_of_gates, list_names, missing_hint, rnn_params,
};
use super::tensors::to_f32;
use super::{Imported, Prefixes, PytorchError};
use crate::layout::{Layout, Matrix, convert, layer_from_pytorch, merged_bias};
use crate::model::{MAX_LAYERS, Stack};
use crate::model_file::ModelFile;

/// Which models a caller takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A single-layer `nn.LSTM` ([`import`]).
    PlainLstm,
    /// Any cell kind, 1 to [`MAX_LAYERS`] layers ([`import_any`]).
    Any,
}

impl Scope {
    /// The flag that sets the recurrent module's prefix, for hints.
    fn flag(self) -> &'static str {
        match self {
            Scope::PlainLstm => "--lstm-prefix",
            Scope::Any => "--rnn-prefix",
        }
    }

    /// Refuses more layers than the scope takes; `example` is a tensor of a layer above the first.
    fn check_layers(self, n_layers: usize, example: &str) -> Result<(), PytorchError> {
        let message = match self {
            Scope::PlainLstm if n_layers > 1 => format!(
                "multi-layer LSTM (num_layers={n_layers}, e.g. {example:?}); only num_layers=1 is supported"
            ),
            Scope::Any if n_layers > MAX_LAYERS => format!(
                "{n_layers} layers (num_layers={n_layers}); at most {MAX_LAYERS} layers are supported"
            ),
            _ => return Ok(()),
        };
        Err(PytorchError::Unsupported(message))
    }

    /// The cell kind of a recurrent matrix of shape `shape`, and its hidden size.
    fn kind_of(self, shape: &[usize]) -> Option<(CellKind, usize)> {
        let [rows, cols] = shape[..] else {
            return None;
        };
        let kind = kind_of_gates(rows / cols.max(1)).filter(|k| {
            cols > 0 && rows % cols == 0 && (self == Scope::Any || *k == CellKind::Lstm)
        })?;
        Some((kind, cols))
    }

    /// The shape [`Scope::kind_of`] takes, described.
    fn recurrent_shape(self) -> &'static str {
        match self {
            Scope::PlainLstm => "(4·H, H) with H ≥ 1",
            Scope::Any => "(G·H, H) with H ≥ 1 and G = 4 (LSTM), 3 (GRU) or 1 (RNN)",
        }
    }
}

/// Reads a safetensors single-layer `nn.LSTM` + `nn.Linear` and a vocabulary into a version-1 model.
///
/// # Errors
/// Missing, unexpected or unsupported tensors (another cell kind, more layers), wrong dtypes or
/// shapes, a vocabulary of the wrong size, non-finite weights, a damaged file.
pub fn import(
    safetensors_bytes: &[u8],
    vocab: &str,
    prefixes: &Prefixes,
) -> Result<ModelFile, PytorchError> {
    let read = read(
        safetensors_bytes,
        vocab,
        Some(&prefixes.lstm),
        &prefixes.linear,
        Scope::PlainLstm,
    )?;
    match read {
        Imported::Plain(m) => Ok(m),
        // `Scope::PlainLstm` admits one LSTM layer only, which is a plain model.
        Imported::Stack(s, _) => Err(PytorchError::Unsupported(format!(
            "a {} model of {} layers; only a single-layer LSTM is supported here",
            s.kind.name(),
            s.layers.len()
        ))),
    }
}

/// Reads a safetensors `nn.LSTM`, `nn.GRU` or tanh `nn.RNN` of 1–4 layers plus an `nn.Linear`, with a
/// vocabulary; the cell kind and layer count come from the tensors. `rnn_prefix` `None` looks for
/// `lstm.`, `gru.` and `rnn.`. A single-layer LSTM is imported exactly as [`import`] does.
///
/// # Errors
/// What [`import`] refuses, and a bidirectional, projected or relu model, a missing layer, layers of
/// different cell kinds, two recurrent modules, more than [`MAX_LAYERS`] layers.
pub fn import_any(
    bytes: &[u8],
    vocab: &str,
    rnn_prefix: Option<&str>,
    linear: &str,
) -> Result<Imported, PytorchError> {
    read(bytes, vocab, rnn_prefix, linear, Scope::Any)
}

/// Refuses a relu RNN named by the safetensors metadata (its tensors look like a tanh RNN's).
fn check_metadata(bytes: &[u8]) -> Result<(), PytorchError> {
    let (_, meta) = SafeTensors::read_metadata(bytes)?;
    if let Some(m) = meta.metadata() {
        let relu = m.get("cell").is_some_and(|c| c.contains("relu"))
            || m.get("nonlinearity").is_some_and(|n| n == "relu");
        if relu {
            return Err(PytorchError::Unsupported(
                "nn.RNN with nonlinearity='relu' (metadata); only the tanh RNN is supported".into(),
            ));
        }
    }
    Ok(())
}

/// The one import path: names, then layer 0's recurrent matrix (cell kind and H), the output layer
/// (V), every layer's four tensors, no other tensor, the vocabulary; lstm-core validates the result.
fn read(
    bytes: &[u8],
    vocab: &str,
    rnn_prefix: Option<&str>,
    linear: &str,
    scope: Scope,
) -> Result<Imported, PytorchError> {
    let st = SafeTensors::deserialize(bytes)?;
    check_metadata(bytes)?;
    let mut names = st.names();
    names.sort_unstable();
    let p = find_rnn_prefix(&names, rnn_prefix)?;
    check_one_direction(&names, &p)?;
    let params = rnn_params(&names, &p);
    let Some(top) = params.iter().map(|(_, (_, l, _))| *l).max() else {
        return Err(PytorchError::MissingTensor {
            name: format!("{p}weight_ih_l0"),
            hint: missing_hint(&names, "weight_ih_l0", "--lstm-prefix", &p),
        });
    };
    let n_layers = top + 1;
    let example = params
        .iter()
        .find(|(_, (_, l, _))| *l > 0)
        .map_or("", |(n, _)| n);
    scope.check_layers(n_layers, example)?;
    if let Some(layer) = (0..n_layers).find(|k| !params.iter().any(|(_, (_, l, _))| l == k)) {
        return Err(PytorchError::MissingLayer {
            layer,
            name: format!("{p}weight_ih_l{layer}"),
            top,
        });
    }
    let get = |name: &str,
               suffix: &str,
               flag: &str,
               current: &str|
     -> Result<(Vec<usize>, Vec<f32>), PytorchError> {
        let t = st.tensor(name).map_err(|_| PytorchError::MissingTensor {
            name: name.into(),
            hint: missing_hint(&names, suffix, flag, current),
        })?;
        Ok((t.shape().to_vec(), to_f32(name, &t)?))
    };
    let rnn = |suffix: &str| get(&format!("{p}{suffix}"), suffix, scope.flag(), &p);
    let lin = |suffix: &str| {
        get(
            &format!("{linear}{suffix}"),
            suffix,
            "--linear-prefix",
            linear,
        )
    };

    // Layer 0's recurrent matrix fixes H and the cell kind.
    let hh0 = format!("{p}weight_hh_l0");
    let (s_hh0, _) = rnn("weight_hh_l0")?;
    let Some((kind, n_h)) = scope.kind_of(&s_hh0) else {
        return Err(PytorchError::Shape {
            name: hh0,
            expected: scope.recurrent_shape().into(),
            found: s_hh0,
        });
    };
    let g = kind.gates() * n_h;
    let (s_wy, w_y) = lin("weight")?;
    let n_y = match s_wy[..] {
        [rows, cols] if cols == n_h && rows > 0 => rows,
        _ => {
            return Err(PytorchError::Shape {
                name: format!("{linear}weight"),
                expected: format!("(V, {n_h}) (H = {n_h} from {hh0})"),
                found: s_wy,
            });
        }
    };
    let check = |name: &str, found: &[usize], expected: &[usize]| {
        if found == expected {
            return Ok(());
        }
        let one_hot = name == format!("{p}weight_ih_l0") && found.len() == 2 && found[0] == g;
        let expected = if one_hot {
            format!(
                "{expected:?}: the input must be one-hot over the {n_y} output symbols (input_size = vocabulary size)"
            )
        } else {
            format!("{expected:?} ({} cell, H = {n_h}, V = {n_y})", kind.name())
        };
        Err(PytorchError::Shape {
            name: name.into(),
            expected,
            found: found.to_vec(),
        })
    };
    let (s_by, b_y) = lin("bias")?;
    check(&format!("{linear}bias"), &s_by, &[n_y])?;
    let mut wanted = vec![format!("{linear}weight"), format!("{linear}bias")];
    let mut layers = Vec::with_capacity(n_layers);
    for k in 0..n_layers {
        let n_in = if k == 0 { n_y } else { n_h };
        let mut t: [Vec<f32>; 4] = Default::default();
        for (m, slot) in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
            .into_iter()
            .zip(&mut t)
        {
            let suffix = format!("{m}_l{k}");
            let name = format!("{p}{suffix}");
            let (shape, v) = rnn(&suffix)?;
            if m == "weight_hh"
                && let [rows, cols] = shape[..]
                && cols == n_h
                && rows != g
                && rows % n_h == 0
            {
                let other = kind_of_gates(rows / n_h).map_or("unknown", CellKind::name);
                return Err(PytorchError::Unsupported(format!(
                    "mixed cell kinds: layer 0 is a {} cell but {name:?} has {rows} rows, a {other} cell; every layer must have the same kind",
                    kind.name()
                )));
            }
            let expected = match m {
                "weight_ih" => vec![g, n_in],
                "weight_hh" => vec![g, n_h],
                _ => vec![g],
            };
            check(&name, &shape, &expected)?;
            wanted.push(name);
            *slot = v;
        }
        layers.push(t);
    }
    let extra: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !wanted.iter().any(|w| w == n))
        .collect();
    if !extra.is_empty() {
        return Err(PytorchError::UnexpectedTensors {
            names: list_names(&extra),
        });
    }
    let found = vocab.chars().count();
    if found != n_y {
        return Err(PytorchError::VocabSize {
            expected: n_y,
            found,
        });
    }
    let imported = to_model(kind, Dims { n_x: n_y, n_h, n_y }, layers, w_y, b_y, vocab);
    // Runs lstm-core's validation (sizes, finite values, no repeated symbol).
    imported.to_bytes()?;
    Ok(imported)
}

/// PyTorch's tensors (per layer `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`) as a model: a
/// single-layer LSTM in the version-1 file layout, anything else as a trainer [`Stack`].
fn to_model(
    kind: CellKind,
    dims: Dims,
    layers: Vec<[Vec<f32>; 4]>,
    w_y: Vec<f32>,
    b_y: Vec<f32>,
    vocab: &str,
) -> Imported {
    let Dims { n_x, n_h, .. } = dims;
    if let [[w_ih, w_hh, b_ih, b_hh]] = &layers[..]
        && kind == CellKind::Lstm
    {
        let (from, to) = (Layout::PyTorch, Layout::File);
        return Imported::Plain(ModelFile {
            input: InputKind::OneHot,
            dims,
            vocab: vocab.to_string(),
            w_ih: convert(w_ih, Matrix::Input, n_x, n_h, from, to),
            w_hh: convert(w_hh, Matrix::Recurrent, n_h, n_h, from, to),
            b: merged_bias(b_ih, b_hh),
            w_y,
            b_y,
        });
    }
    let layers = layers
        .iter()
        .enumerate()
        .map(|(k, [w_ih, w_hh, b_ih, b_hh])| {
            let n_in = if k == 0 { n_x } else { n_h };
            layer_from_pytorch(kind, n_in, n_h, [w_ih, w_hh, b_ih, b_hh])
        })
        .collect();
    let stack = Stack {
        kind,
        dims,
        layers,
        w_y,
        b_y,
    };
    Imported::Stack(stack, vocab.to_string())
}

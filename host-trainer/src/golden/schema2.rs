//! `rnn-golden/2` (stacked `nn.LSTM` / `nn.GRU` / tanh `nn.RNN`, see golden/v2/SCHEMA.md), checked
//! against [`crate::bptt::stack`], the pass of every cell kind and layer count.

use std::path::Path;

use lstm_core::Dims;
use lstm_core::format::CellKind;

use super::compare::{Row, element_wise, field_scaled, rows};
use super::json::{Reader, read_case_json};
use super::{Comparison, GoldenError, batch_of, cast_in, cast_out};
use crate::bptt::stack::{self, StackWorkspace};
use crate::layout::{layer_from_pytorch, layer_to_pytorch};
use crate::model::{MAX_LAYERS, Stack};
use crate::scalar::Float;

/// A reference case of schema `rnn-golden/2` (stacked LSTM, GRU or tanh RNN), in flat row-major arrays.
#[derive(Debug, Clone)]
pub struct GoldenCase2 {
    /// Case name.
    pub case: String,
    /// Cell kind.
    pub kind: CellKind,
    /// Layers.
    pub layers: usize,
    /// Sizes.
    pub dims: Dims,
    /// Time steps.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// PyTorch's tensors by name (`weight_ih_l0`, …, `linear_weight`, `linear_bias`), state-dict order.
    pub params: Vec<(String, Vec<f64>)>,
    /// Inputs `[T][m]`.
    pub x_index: Vec<u32>,
    /// Targets `[T][m]`.
    pub y_index: Vec<u32>,
    /// Initial hidden states `[L][m][H]`.
    pub h0: Vec<f64>,
    /// Initial cell states `[L][m][H]` (LSTM; empty otherwise).
    pub c0: Vec<f64>,
    /// Named expected forward arrays and `loss`.
    pub forward: Vec<(String, Vec<f64>)>,
    /// Named expected gradients (PyTorch's names, then `h0`, `c0`).
    pub grads: Vec<(String, Vec<f64>)>,
}

/// Reads and validates an `rnn-golden/2` file (see the golden v2 SCHEMA.md).
///
/// # Errors
/// Unreadable or malformed files, missing fields, wrong shapes, out-of-range indices.
pub fn load2(path: &Path) -> Result<GoldenCase2, GoldenError> {
    load_v2(&read_case_json(path)?, path)
}

/// Reads an already parsed `rnn-golden/2` file.
pub(super) fn load_v2(root: &serde_json::Value, path: &Path) -> Result<GoldenCase2, GoldenError> {
    let r = Reader { root, path };
    r.expect_schema("rnn-golden/2")?;
    let kind = match r.str("cell")? {
        "lstm" => CellKind::Lstm,
        "gru" => CellKind::Gru,
        "rnn_tanh" => CellKind::Rnn,
        other => return Err(r.err("cell", format!("{other:?}: expected lstm, gru or rnn_tanh"))),
    };
    let (n_x, n_h, n_y) = (
        r.usize("dims.n_x")?,
        r.usize("dims.n_h")?,
        r.usize("dims.n_y")?,
    );
    let (t, m, nl) = (r.usize("dims.T")?, r.usize("dims.m")?, r.usize("dims.L")?);
    if n_x == 0 || n_h == 0 || t == 0 || m == 0 || n_x != n_y || !(1..=MAX_LAYERS).contains(&nl) {
        return Err(r.err(
            "dims",
            format!("sizes must be non-zero with n_x == n_y and 1..={MAX_LAYERS} layers"),
        ));
    }
    if r.usize("dims.G")? != kind.gates() {
        return Err(r.err("dims.G", "does not match the cell"));
    }
    let g = kind.gates() * n_h;
    let lstm = kind == CellKind::Lstm;
    let mut shapes: Vec<(String, Vec<usize>)> = Vec::new();
    for k in 0..nl {
        let n_in = if k == 0 { n_x } else { n_h };
        shapes.push((format!("weight_ih_l{k}"), vec![g, n_in]));
        shapes.push((format!("weight_hh_l{k}"), vec![g, n_h]));
        shapes.push((format!("bias_ih_l{k}"), vec![g]));
        shapes.push((format!("bias_hh_l{k}"), vec![g]));
    }
    shapes.push(("linear_weight".into(), vec![n_y, n_h]));
    shapes.push(("linear_bias".into(), vec![n_y]));
    let mut params = Vec::new();
    let mut grads = Vec::new();
    for (name, shape) in &shapes {
        params.push((name.clone(), r.array(&format!("params.{name}"), shape)?));
        grads.push((name.clone(), r.array(&format!("grads.{name}"), shape)?));
    }
    let state = [nl, m, n_h];
    grads.push(("h0".into(), r.array("grads.h0", &state)?));
    if lstm {
        grads.push(("c0".into(), r.array("grads.c0", &state)?));
    }
    let seq = [nl, t, m, n_h];
    let mut forward = Vec::new();
    let gate_names: &[&str] = match kind {
        CellKind::Lstm => &["gate_i", "gate_f", "gate_g", "gate_o"],
        CellKind::Gru => &["gate_r", "gate_z", "gate_n"],
        CellKind::Rnn => &[],
    };
    for name in gate_names {
        forward.push((name.to_string(), r.array(&format!("forward.{name}"), &seq)?));
    }
    if lstm {
        forward.push(("c".into(), r.array("forward.c", &seq)?));
    }
    forward.push(("h".into(), r.array("forward.h", &seq)?));
    forward.push(("probs".into(), r.array("forward.probs", &[t, m, n_y])?));
    forward.push(("nll".into(), r.array("forward.nll", &[t, m])?));
    forward.push(("loss".into(), r.array("forward.loss", &[])?));
    Ok(GoldenCase2 {
        case: r.str("case")?.to_owned(),
        kind,
        layers: nl,
        dims: Dims { n_x, n_h, n_y },
        steps: t,
        batch: m,
        params,
        x_index: r.indices("inputs.x_index", &[t, m], n_x)?,
        y_index: r.indices("inputs.y_index", &[t, m], n_y)?,
        h0: r.array("inputs.h0", &state)?,
        c0: if lstm {
            r.array("inputs.c0", &state)?
        } else {
            Vec::new()
        },
        forward,
        grads,
    })
}

/// The case's PyTorch tensors as a trainer [`Stack`] (see [`crate::layout::layer_from_pytorch`]).
pub fn stack_from_pytorch(case: &GoldenCase2) -> Stack<f64> {
    let Dims { n_x, n_h, .. } = case.dims;
    let t = |i: usize| &case.params[i].1[..];
    let layers = (0..case.layers)
        .map(|k| {
            let n_in = if k == 0 { n_x } else { n_h };
            let i = 4 * k;
            layer_from_pytorch(case.kind, n_in, n_h, [t(i), t(i + 1), t(i + 2), t(i + 3)])
        })
        .collect();
    let n = case.params.len();
    Stack {
        kind: case.kind,
        dims: case.dims,
        layers,
        w_y: t(n - 2).to_vec(),
        b_y: t(n - 1).to_vec(),
    }
}

/// Runs a v2 case in scalar type `T`; returns (name, mine, golden) for every forward value and gradient.
fn compute2<T: Float>(case: &GoldenCase2) -> Vec<Row> {
    let p: Stack<T> = stack_from_pytorch(case).cast();
    let s = case.dims;
    let (h, m, steps, nl) = (s.n_h, case.batch, case.steps, case.layers);
    let gates = case.kind.gates();
    let (to_t, to_f) = (cast_in::<T>, cast_out::<T>);
    let batch = batch_of(steps, m, &case.x_index, &case.y_index);
    let mut ws = StackWorkspace::new();
    let stats = stack::forward(&p, &mut ws, &batch, &to_t(&case.h0), &to_t(&case.c0), None);
    let mut mine: Vec<Vec<f64>> = Vec::new();
    if case.kind != CellKind::Rnn {
        for gi in 0..gates {
            let mut v = Vec::new();
            for k in 0..nl {
                for row in ws.gates(k).chunks_exact(gates * h) {
                    v.extend(to_f(&row[gi * h..(gi + 1) * h]));
                }
            }
            mine.push(v);
        }
    }
    if case.kind == CellKind::Lstm {
        mine.push((0..nl).flat_map(|k| to_f(ws.c(k))).collect());
    }
    mine.push((0..nl).flat_map(|k| to_f(ws.h(k))).collect());
    let probs = to_f(&ws.probs[..steps * m * s.n_y]);
    let nll = (0..steps * m)
        .map(|r| -probs[r * s.n_y + case.y_index[r] as usize].ln())
        .collect();
    mine.push(probs);
    mine.push(nll);
    mine.push(vec![stats.loss_sum]);
    let mut g = Stack::<T>::zeros(case.kind, s, nl);
    stack::backward(&p, &mut ws, &batch, T::ONE, &mut g);
    let mut grads: Vec<Vec<f64>> = Vec::new();
    for (k, l) in g.layers.iter().enumerate() {
        let n_in = if k == 0 { s.n_x } else { h };
        let [w_ih, w_hh, b_ih, mut b_hh] = layer_to_pytorch(case.kind, n_in, h, l);
        // ∂/∂b_hh equals ∂/∂b_ih except on a GRU's n block, where it is ∂/∂b_hn.
        let shared = if case.kind == CellKind::Gru {
            2 * h
        } else {
            b_ih.len()
        };
        b_hh[..shared].copy_from_slice(&b_ih[..shared]);
        grads.extend([to_f(&w_ih), to_f(&w_hh), to_f(&b_ih), to_f(&b_hh)]);
    }
    grads.push(to_f(&g.w_y));
    grads.push(to_f(&g.b_y));
    grads.push(to_f(&ws.dh0));
    if case.kind == CellKind::Lstm {
        grads.push(to_f(&ws.dc0));
    }
    rows(mine, &case.forward, grads, &case.grads)
}

/// Compares the trainer's f64 computation with a v2 case: element-wise
/// `|mine − golden| ≤ 1e-12 + 1e-10·|golden|` (SCHEMA.md's float64 tolerance).
pub fn check2_f64(case: &GoldenCase2) -> Vec<Comparison> {
    element_wise(compute2::<f64>(case), |_, a, b| {
        (a - b).abs() <= 1e-12 + 1e-10 * b.abs()
    })
}

/// Compares an all-f32 computation with a v2 case: field-scaled
/// `|mine − golden| ≤ 1e-5 + 1e-4·max|golden over the field|` (SCHEMA.md's float32 tolerance).
pub fn check2_f32(case: &GoldenCase2) -> Vec<Comparison> {
    field_scaled(compute2::<f32>(case))
}

//! `lstm-golden/1` (one `nn.LSTM` layer, see the golden SCHEMA.md), checked against [`crate::bptt`],
//! the single-layer pass that `train` runs.

use std::path::Path;

use lstm_core::Dims;
use lstm_core::format::CellKind;

use super::compare::{Row, element_wise, field_scaled, rows};
use super::json::{Reader, read_case_json};
use super::{
    Comparison, FORWARD_TOL, GRAD_ABS_TOL, GRAD_REL_TOL, GoldenError, batch_of, cast_in, cast_out,
};
use crate::bptt::{Workspace, backward, forward};
use crate::layout::{layer_from_pytorch, layer_to_pytorch};
use crate::model::{Params, Stack};
use crate::scalar::Float;

/// A reference case, read into flat row-major arrays.
#[derive(Debug, Clone)]
pub struct GoldenCase {
    /// Case name.
    pub case: String,
    /// Sizes.
    pub dims: Dims,
    /// Time steps.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// `weight_ih_l0`, `[4H][X]`.
    pub weight_ih: Vec<f64>,
    /// `weight_hh_l0`, `[4H][H]`.
    pub weight_hh: Vec<f64>,
    /// `bias_ih_l0`.
    pub bias_ih: Vec<f64>,
    /// `bias_hh_l0`.
    pub bias_hh: Vec<f64>,
    /// `linear_weight`, `[Y][H]`.
    pub linear_weight: Vec<f64>,
    /// `linear_bias`.
    pub linear_bias: Vec<f64>,
    /// Inputs `[T][m]`.
    pub x_index: Vec<u32>,
    /// Targets `[T][m]`.
    pub y_index: Vec<u32>,
    /// Initial hidden state `[m][H]`.
    pub h0: Vec<f64>,
    /// Initial cell state `[m][H]`.
    pub c0: Vec<f64>,
    /// Named expected forward arrays (`h`, `c`, `probs`, `gate_*`) and `loss`.
    pub forward: Vec<(&'static str, Vec<f64>)>,
    /// Named expected gradients, PyTorch layout.
    pub grads: Vec<(&'static str, Vec<f64>)>,
}

/// Reads and validates a golden file.
///
/// # Errors
/// Unreadable or malformed files, missing fields, wrong shapes, out-of-range indices.
pub fn load(path: &Path) -> Result<GoldenCase, GoldenError> {
    load_v1(&read_case_json(path)?, path)
}

/// Reads an already parsed `lstm-golden/1` file.
pub(super) fn load_v1(root: &serde_json::Value, path: &Path) -> Result<GoldenCase, GoldenError> {
    let r = Reader { root, path };
    r.expect_schema("lstm-golden/1")?;
    let (n_x, n_h, n_y) = (
        r.usize("dims.n_x")?,
        r.usize("dims.n_h")?,
        r.usize("dims.n_y")?,
    );
    let (t, m) = (r.usize("dims.T")?, r.usize("dims.m")?);
    if n_x == 0 || n_h == 0 || n_y == 0 || t == 0 || m == 0 || n_x != n_y {
        return Err(r.err(
            "dims",
            "sizes must be non-zero with n_x == n_y (one-hot input)",
        ));
    }
    let g = 4 * n_h;
    let mut forward = Vec::new();
    for name in ["gate_i", "gate_f", "gate_g", "gate_o", "c", "h"] {
        forward.push((name, r.array(&format!("forward.{name}"), &[t, m, n_h])?));
    }
    forward.push(("probs", r.array("forward.probs", &[t, m, n_y])?));
    forward.push(("loss", r.array("forward.loss", &[])?));
    let grads = vec![
        ("weight_ih_l0", r.array("grads.weight_ih_l0", &[g, n_x])?),
        ("weight_hh_l0", r.array("grads.weight_hh_l0", &[g, n_h])?),
        ("bias_ih_l0", r.array("grads.bias_ih_l0", &[g])?),
        ("bias_hh_l0", r.array("grads.bias_hh_l0", &[g])?),
        (
            "linear_weight",
            r.array("grads.linear_weight", &[n_y, n_h])?,
        ),
        ("linear_bias", r.array("grads.linear_bias", &[n_y])?),
        ("h0", r.array("grads.h0", &[m, n_h])?),
        ("c0", r.array("grads.c0", &[m, n_h])?),
    ];
    Ok(GoldenCase {
        case: r.str("case")?.to_owned(),
        dims: Dims { n_x, n_h, n_y },
        steps: t,
        batch: m,
        weight_ih: r.array("params.weight_ih_l0", &[g, n_x])?,
        weight_hh: r.array("params.weight_hh_l0", &[g, n_h])?,
        bias_ih: r.array("params.bias_ih_l0", &[g])?,
        bias_hh: r.array("params.bias_hh_l0", &[g])?,
        linear_weight: r.array("params.linear_weight", &[n_y, n_h])?,
        linear_bias: r.array("params.linear_bias", &[n_y])?,
        x_index: r.indices("inputs.x_index", &[t, m], n_x)?,
        y_index: r.indices("inputs.y_index", &[t, m], n_y)?,
        h0: r.array("inputs.h0", &[m, n_h])?,
        c0: r.array("inputs.c0", &[m, n_h])?,
        forward,
        grads,
    })
}

/// Converts PyTorch's tensors to the trainer's layout (see [`crate::layout`]).
pub fn params_from_pytorch(case: &GoldenCase) -> Params<f64> {
    let Dims { n_x, n_h, .. } = case.dims;
    let l = layer_from_pytorch(
        CellKind::Lstm,
        n_x,
        n_h,
        [
            &case.weight_ih,
            &case.weight_hh,
            &case.bias_ih,
            &case.bias_hh,
        ],
    );
    Params {
        dims: case.dims,
        w_x: l.w_x,
        w_h: l.w_h,
        b: l.b,
        w_y: case.linear_weight.clone(),
        b_y: case.linear_bias.clone(),
    }
}

/// Runs the case in scalar type `T` and returns (name, mine, golden) for every forward value and gradient.
fn compute<T: Float>(case: &GoldenCase) -> Vec<Row> {
    let p: Params<T> = params_from_pytorch(case).cast();
    let s = case.dims;
    let (h, m, steps, g4) = (s.n_h, case.batch, case.steps, 4 * s.n_h);
    let (to_t, to_f) = (cast_in::<T>, cast_out::<T>);
    let batch = batch_of(steps, m, &case.x_index, &case.y_index);
    let mut ws = Workspace::new();
    let stats = forward(&p, &mut ws, &batch, &to_t(&case.h0), &to_t(&case.c0));
    let bh = m * h;
    let mut mine: Vec<Vec<f64>> = Vec::new();
    for gi in 0..4 {
        let mut v = Vec::with_capacity(steps * bh);
        for r in 0..steps * m {
            v.extend(to_f(&ws.gates[r * g4 + gi * h..r * g4 + (gi + 1) * h]));
        }
        mine.push(v);
    }
    mine.push(to_f(&ws.cs[bh..(steps + 1) * bh]));
    mine.push(to_f(&ws.hs[bh..(steps + 1) * bh]));
    mine.push(to_f(&ws.probs[..steps * m * s.n_y]));
    mine.push(vec![stats.loss_sum]);
    let mut g = Params::<T>::zeros(s);
    backward(&p, &mut ws, &batch, T::ONE, &mut g);
    // Back to PyTorch's layout; both biases get ∂b.
    let g = Stack::from_params(&g);
    let [d_ih, d_hh, d_b, _] = layer_to_pytorch(CellKind::Lstm, s.n_x, h, &g.layers[0]);
    let grads = vec![
        to_f(&d_ih),
        to_f(&d_hh),
        to_f(&d_b),
        to_f(&d_b),
        to_f(&g.w_y),
        to_f(&g.b_y),
        to_f(&ws.dh0[..bh]),
        to_f(&ws.dc0[..bh]),
    ];
    rows(mine, &case.forward, grads, &case.grads)
}

/// Compares the trainer's f64 computation with the case, using the tolerances: per element,
/// a forward value within [`FORWARD_TOL`], a gradient within [`GRAD_ABS_TOL`] or [`GRAD_REL_TOL`].
pub fn check_f64(case: &GoldenCase) -> Vec<Comparison> {
    element_wise(compute::<f64>(case), |is_grad, a, b| {
        let d = (a - b).abs();
        if !is_grad {
            return d <= FORWARD_TOL;
        }
        let rel = if b == 0.0 {
            if d == 0.0 { 0.0 } else { f64::INFINITY }
        } else {
            d / b.abs()
        };
        d <= GRAD_ABS_TOL || rel <= GRAD_REL_TOL
    })
}

/// Compares an all-f32 computation with the case, with SCHEMA.md's f32 bound `|d| ≤ 1e-5 + 1e-4·|golden|`
/// (applied as max-abs ≤ 1e-5 + 1e-4·max|golden| per quantity).
pub fn check_f32(case: &GoldenCase) -> Vec<Comparison> {
    field_scaled(compute::<f32>(case))
}

//! Parity with PyTorch reference vectors: `nn.LSTM` (`lstm-golden/1`, see the golden SCHEMA.md) and
//! stacked `nn.LSTM` / `nn.GRU` / `nn.RNN` (`rnn-golden/2`, golden/v2/SCHEMA.md): weights
//! converted from PyTorch's layout, forward and backward with the SUM loss, every value compared.

use std::path::{Path, PathBuf};

use serde_json::Value;

use lstm_core::Dims;

use lstm_core::format::CellKind;

use crate::bptt::stack::{self, StackWorkspace};
use crate::bptt::{Workspace, backward, forward};
use crate::data::batch::BatchRef;
use crate::layout::{Layout, Matrix, convert, layer_from_pytorch, layer_to_pytorch, merged_bias};
use crate::model::{MAX_LAYERS, Params, Stack};
use crate::scalar::Float;

/// Why a golden file could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path} is not valid JSON")]
    Json {
        /// File.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// The file is the directory's `index.json` (it lists cases; it is not one).
    #[error("{path} is an index of golden files, not a case")]
    Index {
        /// File.
        path: PathBuf,
    },
    /// A field is missing or has the wrong shape or type.
    #[error("{path}: field {field}: {problem}")]
    Field {
        /// File.
        path: PathBuf,
        /// Dotted field name.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// Largest absolute error accepted on a forward value.
pub const FORWARD_TOL: f64 = 1e-5;
/// Largest relative error accepted on a gradient (unless its absolute error is under [`GRAD_ABS_TOL`]).
pub const GRAD_REL_TOL: f64 = 1e-4;
/// Absolute error under which a gradient passes whatever its relative error (near-zero values).
pub const GRAD_ABS_TOL: f64 = 1e-7;

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

/// One compared quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What was compared.
    pub name: String,
    /// Whether it is a gradient (other tolerance).
    pub is_grad: bool,
    /// Largest absolute error.
    pub max_abs: f64,
    /// Largest relative error (`|d| / |golden|`, over non-zero golden values).
    pub max_rel: f64,
    /// Whether it is within tolerance.
    pub pass: bool,
}

fn flatten(
    v: &Value,
    out: &mut Vec<f64>,
    shape: &mut Vec<usize>,
    depth: usize,
) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            } else if shape[depth] != items.len() {
                return Err("ragged array".into());
            }
            for it in items {
                flatten(it, out, shape, depth + 1)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            if shape.len() != depth {
                return Err("ragged array".into());
            }
            out.push(n.as_f64().ok_or("not a number")?);
            Ok(())
        }
        _ => Err("expected numbers".into()),
    }
}

struct Reader<'a> {
    root: &'a Value,
    path: &'a Path,
}

impl Reader<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> GoldenError {
        GoldenError::Field {
            path: self.path.to_path_buf(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    fn get(&self, field: &str) -> Result<&Value, GoldenError> {
        field
            .split('.')
            .try_fold(self.root, |v, k| v.get(k))
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn usize(&self, field: &str) -> Result<usize, GoldenError> {
        self.get(field)?
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| self.err(field, "not an integer"))
    }

    fn array(&self, field: &str, want: &[usize]) -> Result<Vec<f64>, GoldenError> {
        let v = self.get(field)?;
        let (mut out, mut shape) = (Vec::new(), Vec::new());
        if let Value::Number(n) = v {
            out.push(n.as_f64().ok_or_else(|| self.err(field, "not a number"))?);
        } else {
            flatten(v, &mut out, &mut shape, 0).map_err(|e| self.err(field, e))?;
        }
        if shape != want {
            return Err(self.err(field, format!("shape {shape:?}, expected {want:?}")));
        }
        Ok(out)
    }

    fn indices(&self, field: &str, want: &[usize], limit: usize) -> Result<Vec<u32>, GoldenError> {
        let vals = self.array(field, want)?;
        vals.iter()
            .map(|&v| {
                if v >= 0.0 && v.fract() == 0.0 && (v as usize) < limit {
                    Ok(v as u32)
                } else {
                    Err(self.err(field, format!("index {v} outside 0..{limit}")))
                }
            })
            .collect()
    }
}

/// Reads and validates a golden file.
///
/// # Errors
/// Unreadable or malformed files, missing fields, wrong shapes, out-of-range indices.
pub fn load(path: &Path) -> Result<GoldenCase, GoldenError> {
    let text = std::fs::read_to_string(path).map_err(|source| GoldenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let root: Value = serde_json::from_str(&text).map_err(|source| GoldenError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let r = Reader { root: &root, path };
    if root.get("cases").is_some_and(Value::is_array) && root.get("params").is_none() {
        return Err(GoldenError::Index {
            path: path.to_path_buf(),
        });
    }
    let schema = r.get("schema")?.as_str().unwrap_or_default();
    if schema != "lstm-golden/1" {
        return Err(r.err("schema", format!("{schema:?}, expected \"lstm-golden/1\"")));
    }
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
        case: r.get("case")?.as_str().unwrap_or_default().to_owned(),
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
    let (from, to) = (Layout::PyTorch, Layout::Trainer);
    Params {
        dims: case.dims,
        w_x: convert(&case.weight_ih, Matrix::Input, n_x, n_h, from, to),
        w_h: convert(&case.weight_hh, Matrix::Recurrent, n_h, n_h, from, to),
        b: merged_bias(&case.bias_ih, &case.bias_hh),
        w_y: case.linear_weight.clone(),
        b_y: case.linear_bias.clone(),
    }
}

/// Runs the case in scalar type `T` and returns (name, mine, golden) for every forward value and gradient.
fn compute<T: Float>(case: &GoldenCase) -> Vec<(String, bool, Vec<f64>, Vec<f64>)> {
    let p: Params<T> = params_from_pytorch(case).cast();
    let s = case.dims;
    let (h, m, steps, g4) = (s.n_h, case.batch, case.steps, 4 * s.n_h);
    let to_t = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
    let to_f = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
    let batch = BatchRef {
        steps,
        batch: m,
        x: &case.x_index,
        y: &case.y_index,
        mask: None,
    };
    let mut ws = Workspace::new();
    let stats = forward(&p, &mut ws, &batch, &to_t(&case.h0), &to_t(&case.c0));
    let bh = m * h;
    let mut mine: Vec<(&str, Vec<f64>)> = Vec::new();
    for (gi, name) in ["gate_i", "gate_f", "gate_g", "gate_o"]
        .into_iter()
        .enumerate()
    {
        let mut v = Vec::with_capacity(steps * bh);
        for r in 0..steps * m {
            v.extend(to_f(&ws.gates[r * g4 + gi * h..r * g4 + (gi + 1) * h]));
        }
        mine.push((name, v));
    }
    mine.push(("c", to_f(&ws.cs[bh..(steps + 1) * bh])));
    mine.push(("h", to_f(&ws.hs[bh..(steps + 1) * bh])));
    mine.push(("probs", to_f(&ws.probs[..steps * m * s.n_y])));
    mine.push(("loss", vec![stats.loss_sum]));
    let mut g = Params::<T>::zeros(s);
    backward(&p, &mut ws, &batch, T::ONE, &mut g);
    // Back to PyTorch's layout; both biases get ∂b.
    let (from, to) = (Layout::Trainer, Layout::PyTorch);
    let d_ih = to_f(&convert(&g.w_x, Matrix::Input, s.n_x, h, from, to));
    let d_hh = to_f(&convert(&g.w_h, Matrix::Recurrent, h, h, from, to));
    let grads: Vec<(&str, Vec<f64>)> = vec![
        ("weight_ih_l0", d_ih),
        ("weight_hh_l0", d_hh),
        ("bias_ih_l0", to_f(&g.b)),
        ("bias_hh_l0", to_f(&g.b)),
        ("linear_weight", to_f(&g.w_y)),
        ("linear_bias", to_f(&g.b_y)),
        ("h0", to_f(&ws.dh0[..bh])),
        ("c0", to_f(&ws.dc0[..bh])),
    ];
    let mut out = Vec::new();
    for ((name, v), (_, want)) in mine.into_iter().zip(&case.forward) {
        out.push((name.to_owned(), false, v, want.clone()));
    }
    for ((name, v), (_, want)) in grads.into_iter().zip(&case.grads) {
        out.push((format!("d{name}"), true, v, want.clone()));
    }
    out
}

/// Compares the trainer's f64 computation with the case, using the tolerances.
pub fn check_f64(case: &GoldenCase) -> Vec<Comparison> {
    compare(compute::<f64>(case), |is_grad, abs, rel| {
        if is_grad {
            abs <= GRAD_ABS_TOL || rel <= GRAD_REL_TOL
        } else {
            abs <= FORWARD_TOL
        }
    })
}

/// Compares an all-f32 computation with the case, with SCHEMA.md's f32 bound `|d| ≤ 1e-5 + 1e-4·|golden|`
/// (applied as max-abs ≤ 1e-5 + 1e-4·max|golden| per quantity).
pub fn check_f32(case: &GoldenCase) -> Vec<Comparison> {
    field_scaled(compute::<f32>(case))
}

/// Each field passes if its max-abs error is at most `1e-5 + 1e-4·max|golden|` over the field.
fn field_scaled(rows: Vec<(String, bool, Vec<f64>, Vec<f64>)>) -> Vec<Comparison> {
    rows.into_iter()
        .map(|(name, is_grad, mine, want)| {
            let (max_abs, max_rel) = errors(&mine, &want);
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            Comparison {
                name,
                is_grad,
                max_abs,
                max_rel,
                pass: max_abs <= 1e-5 + 1e-4 * scale,
            }
        })
        .collect()
}

fn errors(mine: &[f64], want: &[f64]) -> (f64, f64) {
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    for (&a, &b) in mine.iter().zip(want) {
        let d = (a - b).abs();
        max_abs = max_abs.max(d);
        if b != 0.0 {
            max_rel = max_rel.max(d / b.abs());
        }
    }
    if mine.len() != want.len() || mine.iter().any(|v| !v.is_finite()) {
        return (f64::INFINITY, f64::INFINITY);
    }
    (max_abs, max_rel)
}

fn compare(
    rows: Vec<(String, bool, Vec<f64>, Vec<f64>)>,
    ok: impl Fn(bool, f64, f64) -> bool,
) -> Vec<Comparison> {
    rows.into_iter()
        .map(|(name, is_grad, mine, want)| {
            // Per element: a gradient passes on absolute OR relative error.
            let pass = mine.len() == want.len()
                && mine.iter().zip(&want).all(|(&a, &b)| {
                    let d = (a - b).abs();
                    let rel = if b == 0.0 {
                        if d == 0.0 { 0.0 } else { f64::INFINITY }
                    } else {
                        d / b.abs()
                    };
                    d.is_finite() && ok(is_grad, d, rel)
                });
            let (max_abs, max_rel) = errors(&mine, &want);
            Comparison {
                name,
                is_grad,
                max_abs,
                max_rel,
                pass,
            }
        })
        .collect()
}

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

/// A golden file of either schema.
#[derive(Debug, Clone)]
pub enum AnyCase {
    /// `lstm-golden/1`.
    V1(GoldenCase),
    /// `rnn-golden/2`.
    V2(GoldenCase2),
}

impl AnyCase {
    /// One line naming the case and its sizes.
    pub fn describe(&self) -> String {
        match self {
            AnyCase::V1(c) => format!(
                "{}: lstm-golden/1, n_x {} n_h {} T {} m {}",
                c.case, c.dims.n_x, c.dims.n_h, c.steps, c.batch
            ),
            AnyCase::V2(c) => format!(
                "{}: rnn-golden/2, {:?} L {} n_x {} n_h {} T {} m {}",
                c.case, c.kind, c.layers, c.dims.n_x, c.dims.n_h, c.steps, c.batch
            ),
        }
    }

    /// Compares the trainer's f64 computation with the case, at its schema's f64 tolerance.
    pub fn check_f64(&self) -> Vec<Comparison> {
        match self {
            AnyCase::V1(c) => check_f64(c),
            AnyCase::V2(c) => check2_f64(c),
        }
    }

    /// Compares the trainer's f32 computation with the case, at its schema's f32 tolerance.
    pub fn check_f32(&self) -> Vec<Comparison> {
        match self {
            AnyCase::V1(c) => check_f32(c),
            AnyCase::V2(c) => check2_f32(c),
        }
    }
}

fn read_json(path: &Path) -> Result<Value, GoldenError> {
    let text = std::fs::read_to_string(path).map_err(|source| GoldenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| GoldenError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a golden file of either schema (`lstm-golden/1` or `rnn-golden/2`).
///
/// # Errors
/// As [`load`], and an unknown schema.
pub fn load_any(path: &Path) -> Result<AnyCase, GoldenError> {
    let root = read_json(path)?;
    if root.get("cases").is_some_and(Value::is_array) && root.get("params").is_none() {
        return Err(GoldenError::Index {
            path: path.to_path_buf(),
        });
    }
    if root.get("schema").and_then(Value::as_str) == Some("rnn-golden/2") {
        load_v2(&root, path).map(AnyCase::V2)
    } else {
        load(path).map(AnyCase::V1)
    }
}

/// Reads and validates an `rnn-golden/2` file (see the golden v2 SCHEMA.md).
///
/// # Errors
/// Unreadable or malformed files, missing fields, wrong shapes, out-of-range indices.
pub fn load2(path: &Path) -> Result<GoldenCase2, GoldenError> {
    load_v2(&read_json(path)?, path)
}

fn load_v2(root: &Value, path: &Path) -> Result<GoldenCase2, GoldenError> {
    let r = Reader { root, path };
    let schema = r.get("schema")?.as_str().unwrap_or_default();
    if schema != "rnn-golden/2" {
        return Err(r.err("schema", format!("{schema:?}, expected \"rnn-golden/2\"")));
    }
    let kind = match r.get("cell")?.as_str().unwrap_or_default() {
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
        case: r.get("case")?.as_str().unwrap_or_default().to_owned(),
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
fn compute2<T: Float>(case: &GoldenCase2) -> Vec<(String, bool, Vec<f64>, Vec<f64>)> {
    let p: Stack<T> = stack_from_pytorch(case).cast();
    let s = case.dims;
    let (h, m, steps, nl) = (s.n_h, case.batch, case.steps, case.layers);
    let gates = case.kind.gates();
    let to_t = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
    let to_f = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
    let batch = BatchRef {
        steps,
        batch: m,
        x: &case.x_index,
        y: &case.y_index,
        mask: None,
    };
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
    let mut out = Vec::new();
    for (v, (name, want)) in mine.into_iter().zip(&case.forward) {
        out.push((name.clone(), false, v, want.clone()));
    }
    for (v, (name, want)) in grads.into_iter().zip(&case.grads) {
        out.push((format!("d{name}"), true, v, want.clone()));
    }
    out
}

/// Compares the trainer's f64 computation with a v2 case: element-wise
/// `|mine − golden| ≤ 1e-12 + 1e-10·|golden|` (SCHEMA.md's float64 tolerance).
pub fn check2_f64(case: &GoldenCase2) -> Vec<Comparison> {
    compute2::<f64>(case)
        .into_iter()
        .map(|(name, is_grad, mine, want)| {
            let pass = mine.len() == want.len()
                && mine
                    .iter()
                    .zip(&want)
                    .all(|(&a, &b)| (a - b).abs() <= 1e-12 + 1e-10 * b.abs());
            let (max_abs, max_rel) = errors(&mine, &want);
            Comparison {
                name,
                is_grad,
                max_abs,
                max_rel,
                pass,
            }
        })
        .collect()
}

/// Compares an all-f32 computation with a v2 case: field-scaled
/// `|mine − golden| ≤ 1e-5 + 1e-4·max|golden over the field|` (SCHEMA.md's float32 tolerance).
pub fn check2_f32(case: &GoldenCase2) -> Vec<Comparison> {
    field_scaled(compute2::<f32>(case))
}

//! Parity with PyTorch `nn.LSTM` reference vectors (`lstm-golden/1`, see the golden SCHEMA.md): weights
//! converted from PyTorch's layout, forward and backward with the SUM loss, every value compared.

use std::path::{Path, PathBuf};

use serde_json::Value;

use lstm_core::Dims;

use crate::bptt::{Workspace, backward, forward};
use crate::data::batch::BatchRef;
use crate::layout::{Layout, Matrix, convert, merged_bias};
use crate::model::Params;
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
    let rows = compute::<f32>(case);
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

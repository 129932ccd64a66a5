//! Numerical gradient check: analytic BPTT gradients against f64 central differences, for every tensor
//! and for the initial state.

use lstm_core::Dims;
use lstm_core::format::CellKind;

use crate::bptt::stack::{Dropout, StackWorkspace, backward, forward};
use crate::data::batch::BatchRef;
use crate::model::Stack;
use crate::rng::Rng;

/// Sizes of the random problem to check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradcheckSpec {
    /// Cell kind.
    pub cell: CellKind,
    /// Layers (1–4).
    pub layers: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Time steps.
    pub seq_len: usize,
    /// Sequences in the batch.
    pub batch: usize,
    /// Dropout probability (the masks are fixed by the seed, so the loss stays a smooth function).
    pub dropout: f64,
    /// RNG seed.
    pub seed: u64,
}

/// The worst disagreement found in one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorCheck {
    /// Tensor name (`l0.w_x`, …, `w_y`, `b_y`, `h0`, `c0`).
    pub name: String,
    /// Elements checked.
    pub count: usize,
    /// Largest `|analytic − numeric| / max(|analytic|, |numeric|, FLOOR)`.
    pub max_rel: f64,
    /// Largest `|analytic − numeric|`.
    pub max_abs: f64,
}

/// Denominator floor of the relative error: gradients smaller than this are compared absolutely
/// (the numeric estimate carries ~1e-12 of round-off and truncation error, which is not a bug).
pub const FLOOR: f64 = 1e-3;
/// Finite-difference step of the fourth-order central difference
/// `(−L(θ+2ε) + 8L(θ+ε) − 8L(θ−ε) + L(θ−2ε)) / 12ε`: truncation error O(ε⁴) allows a large ε, which keeps
/// round-off (~1e-16·L/ε) small.
pub const EPS: f64 = 1e-3;
/// Largest relative error accepted.
pub const MAX_REL: f64 = 1e-6;

/// Runs the check on a random model with random inputs, targets, a padding mask and a non-zero initial
/// state (every layer's), for every tensor of the model and the initial states.
pub fn run(spec: &GradcheckSpec) -> Vec<TensorCheck> {
    let mut rng = Rng::new(spec.seed);
    let shape = Dims {
        n_x: spec.vocab,
        n_h: spec.hidden,
        n_y: spec.vocab,
    };
    let mut p = Stack::<f64>::init_uniform(spec.cell, shape, spec.layers, &mut rng);
    // Larger weights than the default init so every gate is exercised away from its linear regime.
    for t in p.tensors_mut() {
        for v in t.iter_mut() {
            *v *= 2.0;
        }
    }
    let n = spec.seq_len * spec.batch;
    let x: Vec<u32> = (0..n).map(|_| rng.below(spec.vocab) as u32).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.below(spec.vocab) as u32).collect();
    let mut mask: Vec<u8> = (0..n).map(|_| u8::from(rng.next_f64() > 0.2)).collect();
    mask[0] = 1;
    let bh = spec.layers * spec.batch * spec.hidden;
    let h0: Vec<f64> = (0..bh).map(|_| rng.uniform(-0.5, 0.5)).collect();
    let c0: Vec<f64> = if spec.cell == CellKind::Lstm {
        (0..bh).map(|_| rng.uniform(-0.5, 0.5)).collect()
    } else {
        Vec::new()
    };
    let batch = BatchRef {
        steps: spec.seq_len,
        batch: spec.batch,
        x: &x,
        y: &y,
        mask: Some(&mask),
    };
    let dropout = (spec.dropout > 0.0).then_some(Dropout {
        p: spec.dropout,
        seed: spec.seed ^ 0x5eed,
    });

    let mut ws = StackWorkspace::new();
    let mut grads = Stack::zeros(spec.cell, shape, spec.layers);
    forward(&p, &mut ws, &batch, &h0, &c0, dropout);
    backward(&p, &mut ws, &batch, 1.0, &mut grads);
    let (dh0, dc0) = (ws.dh0.clone(), ws.dc0.clone());

    let mut loss = |p: &Stack<f64>, h0: &[f64], c0: &[f64]| {
        forward(p, &mut ws, &batch, h0, c0, dropout).loss_sum
    };
    let mut out = Vec::new();
    for (ti, name) in p.tensor_names().into_iter().enumerate() {
        let analytic = grads.tensors()[ti].to_vec();
        let mut check = TensorCheck {
            name,
            count: analytic.len(),
            max_rel: 0.0,
            max_abs: 0.0,
        };
        for (i, &a) in analytic.iter().enumerate() {
            let orig = p.tensors()[ti][i];
            let mut at = |d: f64| {
                p.tensors_mut()[ti][i] = orig + d;
                loss(&p, &h0, &c0)
            };
            let numeric = five_point(&mut at);
            p.tensors_mut()[ti][i] = orig;
            record(&mut check, a, numeric);
        }
        out.push(check);
    }
    for (name, analytic, is_h) in [("h0", &dh0, true), ("c0", &dc0, false)] {
        if analytic.is_empty() {
            continue;
        }
        let mut check = TensorCheck {
            name: name.to_owned(),
            count: analytic.len(),
            max_rel: 0.0,
            max_abs: 0.0,
        };
        for (i, &a) in analytic.iter().enumerate() {
            let orig = if is_h { h0[i] } else { c0[i] };
            let mut at = |d: f64| {
                let (mut h, mut c) = (h0.clone(), c0.clone());
                if is_h {
                    h[i] = orig + d
                } else {
                    c[i] = orig + d
                }
                loss(&p, &h, &c)
            };
            let numeric = five_point(&mut at);
            record(&mut check, a, numeric);
        }
        out.push(check);
    }
    out
}

/// `(−f(2ε) + 8f(ε) − 8f(−ε) + f(−2ε)) / 12ε`.
fn five_point(f: &mut impl FnMut(f64) -> f64) -> f64 {
    (-f(2.0 * EPS) + 8.0 * f(EPS) - 8.0 * f(-EPS) + f(-2.0 * EPS)) / (12.0 * EPS)
}

fn record(check: &mut TensorCheck, analytic: f64, numeric: f64) {
    let abs = (analytic - numeric).abs();
    let rel = abs / analytic.abs().max(numeric.abs()).max(FLOOR);
    check.max_abs = check.max_abs.max(abs);
    check.max_rel = check.max_rel.max(rel);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cell: CellKind, layers: usize, dropout: f64) -> GradcheckSpec {
        GradcheckSpec {
            cell,
            layers,
            vocab: 5,
            hidden: 4,
            seq_len: 5,
            batch: 3,
            dropout,
            seed: 11,
        }
    }

    fn assert_passes(s: &GradcheckSpec, tensors: usize) {
        let checks = run(s);
        assert_eq!(checks.len(), tensors, "{s:?}");
        for c in &checks {
            assert!(c.count > 0);
            assert!(
                c.max_rel < MAX_REL,
                "{s:?} {}: relative error {:e}",
                c.name,
                c.max_rel
            );
        }
    }

    #[test]
    fn lstm_gradients_match_central_differences() {
        // 3 tensors per layer + w_y, b_y + h0, c0.
        assert_passes(&spec(CellKind::Lstm, 1, 0.0), 7);
        assert_passes(&spec(CellKind::Lstm, 2, 0.0), 10);
    }

    #[test]
    fn gru_gradients_match_central_differences() {
        // 4 tensors per layer (b_hn) + w_y, b_y + h0.
        assert_passes(&spec(CellKind::Gru, 1, 0.0), 7);
        assert_passes(&spec(CellKind::Gru, 2, 0.0), 11);
    }

    #[test]
    fn rnn_gradients_match_central_differences() {
        assert_passes(&spec(CellKind::Rnn, 1, 0.0), 6);
        assert_passes(&spec(CellKind::Rnn, 3, 0.0), 12);
    }

    #[test]
    fn gradients_with_dropout_match_central_differences() {
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            let s = spec(cell, 2, 0.3);
            let n = if cell == CellKind::Gru { 4 } else { 3 };
            let states = if cell == CellKind::Lstm { 2 } else { 1 };
            assert_passes(&s, 2 * n + 2 + states);
        }
    }
}

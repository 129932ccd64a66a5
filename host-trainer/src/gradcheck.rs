//! Numerical gradient check: analytic BPTT gradients against f64 central differences, for every tensor
//! and for the initial state.

use lstm_core::Dims;

use crate::bptt::{Workspace, backward, forward};
use crate::data::batch::BatchRef;
use crate::model::{Params, TENSOR_NAMES};
use crate::rng::Rng;

/// Sizes of the random problem to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradcheckSpec {
    /// Vocabulary size.
    pub vocab: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Time steps.
    pub seq_len: usize,
    /// Sequences in the batch.
    pub batch: usize,
    /// RNG seed.
    pub seed: u64,
}

/// The worst disagreement found in one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorCheck {
    /// Tensor name (`w_x`, …, `h0`, `c0`).
    pub name: &'static str,
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

/// Runs the check on a random model with random inputs, targets, a padding mask and a non-zero initial state.
pub fn run(spec: &GradcheckSpec) -> Vec<TensorCheck> {
    let mut rng = Rng::new(spec.seed);
    let shape = Dims {
        n_x: spec.vocab,
        n_h: spec.hidden,
        n_y: spec.vocab,
    };
    let mut p = Params::<f64>::init_uniform(shape, &mut rng);
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
    let bh = spec.batch * spec.hidden;
    let h0: Vec<f64> = (0..bh).map(|_| rng.uniform(-0.5, 0.5)).collect();
    let c0: Vec<f64> = (0..bh).map(|_| rng.uniform(-0.5, 0.5)).collect();
    let batch = BatchRef {
        steps: spec.seq_len,
        batch: spec.batch,
        x: &x,
        y: &y,
        mask: Some(&mask),
    };

    let mut ws = Workspace::new();
    let mut grads = Params::zeros(shape);
    forward(&p, &mut ws, &batch, &h0, &c0);
    backward(&p, &mut ws, &batch, 1.0, &mut grads);
    let (dh0, dc0) = (ws.dh0.clone(), ws.dc0.clone());

    let mut loss =
        |p: &Params<f64>, h0: &[f64], c0: &[f64]| forward(p, &mut ws, &batch, h0, c0).loss_sum;
    let mut out = Vec::new();
    for (ti, name) in TENSOR_NAMES.iter().enumerate() {
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
        let mut check = TensorCheck {
            name,
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

    #[test]
    fn analytic_gradients_match_central_differences() {
        let spec = GradcheckSpec {
            vocab: 5,
            hidden: 4,
            seq_len: 5,
            batch: 3,
            seed: 11,
        };
        let checks = run(&spec);
        assert_eq!(checks.len(), 7);
        for c in &checks {
            assert!(
                c.max_rel < MAX_REL,
                "{}: relative error {:e}",
                c.name,
                c.max_rel
            );
        }
    }
}

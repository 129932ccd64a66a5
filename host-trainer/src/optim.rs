//! Optimisers (SGD, Adagrad, Adam) and gradient clipping. Moments are [`Stack`]s shaped like the gradients,
//! so `adam.m.layers[k].w_h` pairs with `grads.layers[k].w_h` (min-char-rnn's `zip(params, dparams, mems)`).

use serde::{Deserialize, Serialize};

use crate::linalg::{RowPass, wide};
use crate::model::Stack;

/// Which update rule to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum OptimizerKind {
    /// `θ ← θ − lr·g`.
    Sgd,
    /// `m ← m + g²; θ ← θ − lr·g/√(m + 1e-8)` (min-char-rnn's form).
    Adagrad,
    /// Bias-corrected Adam, β1 = 0.9, β2 = 0.999, ε = 1e-8.
    Adam,
}

/// Adam's first-moment decay.
pub const ADAM_BETA1: f64 = 0.9;
/// Adam's second-moment decay.
pub const ADAM_BETA2: f64 = 0.999;
/// Adam's ε.
pub const ADAM_EPS: f64 = 1e-8;
/// Adagrad's ε under the square root.
pub const ADAGRAD_EPS: f64 = 1e-8;

/// An optimiser with its state.
#[derive(Debug, Clone, PartialEq)]
pub enum Optimizer {
    /// Plain gradient descent.
    Sgd {
        /// Learning rate.
        lr: f32,
    },
    /// Adagrad.
    Adagrad {
        /// Learning rate.
        lr: f32,
        /// Accumulated squared gradients.
        mem: Stack<f32>,
    },
    /// Adam.
    Adam {
        /// Learning rate.
        lr: f32,
        /// Updates done so far (for bias correction).
        t: u64,
        /// First moments.
        m: Stack<f32>,
        /// Second moments.
        v: Stack<f32>,
    },
}

impl Optimizer {
    /// A fresh optimiser of `kind` for parameters shaped like `p`.
    pub fn new(kind: OptimizerKind, lr: f32, p: &Stack<f32>) -> Self {
        match kind {
            OptimizerKind::Sgd => Self::Sgd { lr },
            OptimizerKind::Adagrad => Self::Adagrad {
                lr,
                mem: p.zeros_like(),
            },
            OptimizerKind::Adam => Self::Adam {
                lr,
                t: 0,
                m: p.zeros_like(),
                v: p.zeros_like(),
            },
        }
    }

    /// Applies one update to `p` from `g`.
    pub fn step(&mut self, p: &mut Stack<f32>, g: &Stack<f32>) {
        match self {
            Self::Sgd { lr } => {
                let lr = *lr;
                for (pt, gt) in p.tensors_mut().into_iter().zip(g.tensors()) {
                    for (w, &d) in pt.iter_mut().zip(gt) {
                        *w -= lr * d;
                    }
                }
            }
            Self::Adagrad { lr, mem } => {
                let lr = *lr;
                let eps = ADAGRAD_EPS as f32;
                for ((pt, gt), mt) in p
                    .tensors_mut()
                    .into_iter()
                    .zip(g.tensors())
                    .zip(mem.tensors_mut())
                {
                    for ((w, &d), m) in pt.iter_mut().zip(gt).zip(mt.iter_mut()) {
                        *m += d * d;
                        *w -= lr * d / (*m + eps).sqrt();
                    }
                }
            }
            Self::Adam { lr, t, m, v } => {
                *t += 1;
                let (b1, b2) = (ADAM_BETA1 as f32, ADAM_BETA2 as f32);
                // Bias corrections folded into the step size, computed in f64 then rounded once.
                let c1 = (1.0 - ADAM_BETA1.powf(*t as f64)) as f32;
                let c2 = (1.0 - ADAM_BETA2.powf(*t as f64)) as f32;
                let consts = AdamConsts {
                    b1,
                    b2,
                    c1,
                    c2,
                    lr: *lr,
                    eps: ADAM_EPS as f32,
                };
                let tensors = p
                    .tensors_mut()
                    .into_iter()
                    .zip(g.tensors())
                    .zip(m.tensors_mut())
                    .zip(v.tensors_mut());
                for (((pt, gt), mt), vt) in tensors {
                    adam_update(pt, gt, mt, vt, &consts);
                }
            }
        }
    }

    /// Sets the learning rate of the next updates (a schedule's value for the coming step).
    pub fn set_lr(&mut self, new: f32) {
        match self {
            Self::Sgd { lr } | Self::Adagrad { lr, .. } | Self::Adam { lr, .. } => *lr = new,
        }
    }

    /// The kind of this optimiser.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            Self::Sgd { .. } => OptimizerKind::Sgd,
            Self::Adagrad { .. } => OptimizerKind::Adagrad,
            Self::Adam { .. } => OptimizerKind::Adam,
        }
    }
}

/// Adam's per-update constants (see [`Optimizer::Adam`]).
#[derive(Debug, Clone, Copy)]
pub struct AdamConsts {
    /// β1.
    pub b1: f32,
    /// β2.
    pub b2: f32,
    /// `1 − β1^t`.
    pub c1: f32,
    /// `1 − β2^t`.
    pub c2: f32,
    /// Learning rate.
    pub lr: f32,
    /// ε.
    pub eps: f32,
}

/// One Adam update of a tensor: `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
/// `w ← w − lr·(m/c1)/(√(v/c2) + ε)`.
#[inline(always)]
fn adam_row(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &AdamConsts) {
    let n = w.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for k in 0..n {
        let d = g[k];
        let mm = c.b1 * m[k] + (1.0 - c.b1) * d;
        let vv = c.b2 * v[k] + (1.0 - c.b2) * d * d;
        m[k] = mm;
        v[k] = vv;
        let m_hat = mm / c.c1;
        let v_hat = vv / c.c2;
        w[k] -= c.lr * m_hat / (v_hat.sqrt() + c.eps);
    }
}

/// One Adam update of `w` from `g` (moments `m`, `v`), with the widest vectors the CPU has (the same operations on every path, so the same results).
pub fn adam_update(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &AdamConsts) {
    struct Pass<'a>(
        &'a mut [f32],
        &'a [f32],
        &'a mut [f32],
        &'a mut [f32],
        &'a AdamConsts,
    );
    impl RowPass for Pass<'_> {
        #[inline(always)]
        fn run(self) {
            adam_row(self.0, self.1, self.2, self.3, self.4);
        }
    }
    wide(Pass(w, g, m, v, c));
}

/// Decoupled weight decay (AdamW; Loshchilov & Hutter): every weight matrix (each layer's `w_x`, `w_h`,
/// and `w_y`; not the biases) is scaled by `1 − lr·decay` before the optimiser's update, as PyTorch's
/// `AdamW` does.
pub fn decay_weights(p: &mut Stack<f32>, lr: f32, decay: f32) {
    let keep = 1.0 - lr * decay;
    for t in p.weights_mut() {
        for w in t.iter_mut() {
            *w *= keep;
        }
    }
}

/// How the learning rate changes over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `step_size` steps.
    Step,
    /// Half a cosine from the base rate down to `lr_min` over the run.
    Cosine,
}

/// A learning-rate schedule with its parameters (all stored in checkpoints; the position is the step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The shape.
    pub kind: LrSchedule,
    /// Base learning rate.
    pub lr: f32,
    /// Linear warm-up over this many steps, from `lr / warmup` to `lr`.
    pub warmup: u64,
    /// Cosine: the rate at the end.
    pub lr_min: f32,
    /// Step: steps between decays.
    pub step_size: u64,
    /// Step: the factor of each decay.
    pub gamma: f32,
    /// Cosine: the run's length in steps (fixed when the run starts).
    pub total: u64,
}

impl Schedule {
    /// The learning rate of update number `t` (0-based), computed in f64 and rounded once.
    pub fn lr_at(&self, t: u64) -> f32 {
        let lr = f64::from(self.lr);
        if t < self.warmup {
            return (lr * (t + 1) as f64 / self.warmup as f64) as f32;
        }
        let t = t - self.warmup;
        match self.kind {
            LrSchedule::Constant => self.lr,
            LrSchedule::Step => {
                let k = t / self.step_size.max(1);
                (lr * f64::from(self.gamma).powf(k as f64)) as f32
            }
            LrSchedule::Cosine => {
                let span = self.total.saturating_sub(self.warmup).max(1);
                let p = (t as f64 / span as f64).min(1.0);
                let min = f64::from(self.lr_min);
                (min + (lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())) as f32
            }
        }
    }
}

/// Clamps every gradient component to `[-limit, limit]` (min-char-rnn's `np.clip(d, -5, 5)`).
pub fn clip_by_value(g: &mut Stack<f32>, limit: f32) {
    for t in g.tensors_mut() {
        for v in t.iter_mut() {
            *v = v.clamp(-limit, limit);
        }
    }
}

/// The global L2 norm over every gradient tensor (accumulated in f64).
pub fn global_norm(g: &Stack<f32>) -> f64 {
    g.tensors()
        .iter()
        .flat_map(|t| t.iter())
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

/// Rescales all gradients so their global L2 norm is at most `max_norm` (d2l's `grad_clipping`); returns the
/// norm before clipping.
pub fn clip_by_norm(g: &mut Stack<f32>, max_norm: f32) -> f64 {
    let norm = global_norm(g);
    if norm > f64::from(max_norm) {
        let s = (f64::from(max_norm) / norm) as f32;
        for t in g.tensors_mut() {
            for v in t.iter_mut() {
                *v *= s;
            }
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use lstm_core::Dims;
    use lstm_core::format::CellKind;

    fn one(v: f32) -> Stack<f32> {
        let dims = Dims {
            n_x: 1,
            n_h: 1,
            n_y: 1,
        };
        let mut p = Stack::zeros(CellKind::Lstm, dims, 1);
        p.b_y[0] = v;
        p
    }

    /// SGD: θ = 1 − 0.1·0.5 = 0.95.
    #[test]
    fn sgd_step_matches_hand_value() {
        let mut p = one(1.0);
        let mut o = Optimizer::new(OptimizerKind::Sgd, 0.1, &p);
        o.step(&mut p, &one(0.5));
        assert!((p.b_y[0] - 0.95).abs() < 1e-7);
    }

    /// Adagrad: m = 0.25, θ = 1 − 0.1·0.5/√(0.25 + 1e-8) ≈ 0.9; second step m = 0.5, θ −= 0.1·0.5/√0.5.
    #[test]
    fn adagrad_steps_match_hand_values() {
        let mut p = one(1.0);
        let mut o = Optimizer::new(OptimizerKind::Adagrad, 0.1, &p);
        o.step(&mut p, &one(0.5));
        assert!((f64::from(p.b_y[0]) - (1.0 - 0.05 / (0.25f64 + 1e-8).sqrt())).abs() < 1e-6);
        o.step(&mut p, &one(0.5));
        let want = 1.0 - 0.05 / (0.25f64 + 1e-8).sqrt() - 0.05 / (0.5f64 + 1e-8).sqrt();
        assert!((f64::from(p.b_y[0]) - want).abs() < 1e-6);
    }

    /// Adam, step 1: m = 0.1g, v = 0.001g², m̂ = g, v̂ = g², so θ moves by lr·g/(|g| + ε) ≈ lr.
    /// Step 2 with g2 = −1 after g1 = 2: m = 0.9·0.2 − 0.1 = 0.08, v = 0.999·0.004 + 0.001 = 0.004996,
    /// m̂ = 0.08/0.19, v̂ = 0.004996/0.001999.
    #[test]
    fn adam_steps_match_hand_values() {
        let mut p = one(0.0);
        let mut o = Optimizer::new(OptimizerKind::Adam, 0.01, &p);
        o.step(&mut p, &one(2.0));
        assert!((f64::from(p.b_y[0]) + 0.01 * 2.0 / (2.0 + 1e-8)).abs() < 1e-7);
        o.step(&mut p, &one(-1.0));
        let m_hat = 0.08 / 0.19;
        let v_hat = 0.004996f64 / 0.001999;
        let want = -0.01 * 2.0 / (2.0 + 1e-8) - 0.01 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!(
            (f64::from(p.b_y[0]) - want).abs() < 1e-6,
            "{} vs {want}",
            p.b_y[0]
        );
    }

    /// Warm-up climbs linearly; step halves every 10; cosine is halfway at the middle and `lr_min` at
    /// the end.
    #[test]
    fn schedules_match_hand_values() {
        let base = Schedule {
            kind: LrSchedule::Constant,
            lr: 0.1,
            warmup: 4,
            lr_min: 0.01,
            step_size: 10,
            gamma: 0.5,
            total: 104,
        };
        assert_eq!(base.lr_at(0), 0.025);
        assert_eq!(base.lr_at(3), 0.1);
        assert_eq!(base.lr_at(500), 0.1);
        let step = Schedule {
            kind: LrSchedule::Step,
            ..base
        };
        assert_eq!(step.lr_at(4 + 9), 0.1);
        assert_eq!(step.lr_at(4 + 10), 0.05);
        assert_eq!(step.lr_at(4 + 25), 0.025);
        let cos = Schedule {
            kind: LrSchedule::Cosine,
            ..base
        };
        assert!((cos.lr_at(4 + 50) - 0.055).abs() < 1e-7);
        assert!((cos.lr_at(104) - 0.01).abs() < 1e-9);
        assert!((cos.lr_at(10_000) - 0.01).abs() < 1e-9);
    }

    /// AdamW: the weight is first scaled by 1 − lr·decay; biases are not decayed.
    #[test]
    fn weight_decay_scales_weights_not_biases() {
        let mut p = one(2.0);
        p.w_y[0] = 2.0;
        p.layers[0].w_h[1] = 2.0;
        p.layers[0].b[1] = 2.0;
        decay_weights(&mut p, 0.1, 0.5);
        assert_eq!(p.w_y[0], 2.0 * (1.0 - 0.05));
        assert_eq!(p.layers[0].w_h[1], 2.0 * (1.0 - 0.05));
        assert_eq!((p.b_y[0], p.layers[0].b[1]), (2.0, 2.0));
    }

    /// Gradients (3, 4) have norm 5; clipped to 1 they become (0.6, 0.8). Value clipping at 3.5 gives (3, 3.5).
    #[test]
    fn clipping_matches_hand_values() {
        let mut g = one(3.0);
        g.layers[0].b[0] = 4.0;
        let mut g2 = g.clone();
        assert!((clip_by_norm(&mut g, 1.0) - 5.0).abs() < 1e-12);
        assert!((g.b_y[0] - 0.6).abs() < 1e-6 && (g.layers[0].b[0] - 0.8).abs() < 1e-6);
        clip_by_value(&mut g2, 3.5);
        assert_eq!((g2.b_y[0], g2.layers[0].b[0]), (3.0, 3.5));
    }
}

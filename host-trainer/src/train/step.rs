//! One optimiser update on the next minibatch: the epoch plan, the carried state, BPTT with dropout,
//! divergence, clipping, the learning-rate schedule, weight decay, the update and the history.

/// The seed of step `step`'s dropout masks: a function of the run's seed and the step alone, so a resumed
/// run draws the same masks (the step is in the checkpoint) and the thread count plays no part.
pub fn dropout_seed(seed: u64, step: u64) -> u64 {
    // SplitMix64's finaliser over the pair; distinct steps give unrelated streams.
    let mut z = seed ^ step.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

use lstm_core::format::CellKind;

use super::{TrainError, Trainer};
use crate::bptt::stack::{Dropout, loss_and_grads};
use crate::checkpoint::HexF32;
use crate::data::batch::Dataset;
use crate::history::{HistoryRow, MAX_HISTORY, smooth, thin};
use crate::optim::{clip_by_norm, clip_by_value, decay_weights};

impl Trainer {
    /// One optimiser update on the next minibatch; returns the minibatch's mean loss, or `None` at the end
    /// of an epoch (after which the next call starts a new one).
    pub fn step(&mut self) -> Result<Option<f64>, TrainError> {
        let (batch, seq_len, h) = (self.cfg.batch, self.cfg.seq_len, self.cfg.hidden);
        if self.state.plan.is_none() {
            let span = if self.cfg.fixed_offset { 1 } else { seq_len };
            self.state.plan = Some(self.prep.train.plan(
                &mut self.state.rng,
                span,
                self.cfg.fixed_offset,
            ));
            self.state.batch_in_epoch = 0;
            // Each epoch starts from a zero state (stream mode carries it within the epoch only).
            let n = self.cfg.layers * batch * h;
            let lstm = self.params.kind == CellKind::Lstm;
            self.state.carried_h = HexF32(vec![0.0; n]);
            self.state.carried_c = HexF32(vec![0.0; if lstm { n } else { 0 }]);
        }
        let Some(plan) = self.state.plan.as_ref() else {
            return Ok(None);
        };
        if self.state.batch_in_epoch >= self.prep.train.num_batches(plan, batch, seq_len) {
            self.state.plan = None;
            return Ok(None);
        }
        self.prep.train.fill(
            plan,
            self.state.batch_in_epoch,
            batch,
            seq_len,
            &mut self.buf,
        );
        let stream = matches!(self.prep.train, Dataset::Stream { .. });
        let lstm = self.params.kind == CellKind::Lstm;
        let nl = self.params.layers.len();
        // The state of a minibatch of `rows` rows, `[L][rows][H]`: the carried one (stream mode; a short
        // last minibatch uses each layer's first rows) or zeros (lines mode).
        let rows = self.buf.batch;
        let state = |carried: &[f32], on: bool| -> Vec<f32> {
            if !on {
                return Vec::new();
            }
            let mut v = vec![0.0f32; nl * rows * h];
            if stream {
                for k in 0..nl {
                    v[k * rows * h..(k + 1) * rows * h]
                        .copy_from_slice(&carried[k * batch * h..k * batch * h + rows * h]);
                }
            }
            v
        };
        let h0 = state(&self.state.carried_h.0, true);
        let c0 = state(&self.state.carried_c.0, lstm);
        let dropout = (self.cfg.dropout > 0.0).then(|| Dropout {
            p: self.cfg.dropout,
            seed: dropout_seed(self.cfg.seed, self.state.step),
        });
        let stats = loss_and_grads(
            &self.params,
            &mut self.ws,
            &self.buf.as_ref(),
            [&h0, &c0],
            dropout,
            &mut self.grads,
        );
        if stream {
            // Carry the final state into the next minibatch, detached (no gradient flows back into it).
            for k in 0..nl {
                let dst = k * batch * h..k * batch * h + rows * h;
                self.state.carried_h.0[dst.clone()].copy_from_slice(self.ws.h_last(k));
                if lstm {
                    self.state.carried_c.0[dst].copy_from_slice(self.ws.c_last(k));
                }
            }
        }
        let loss = stats.mean();
        let limit = self.loss_limit();
        if !(loss.is_finite() && loss <= limit) {
            return Err(TrainError::Diverged {
                step: self.state.step + 1,
                loss,
                limit,
                last: String::new(),
            });
        }
        if let Some(v) = self.cfg.clip_value {
            clip_by_value(&mut self.grads, v);
        }
        if let Some(n) = self.cfg.clip_norm {
            clip_by_norm(&mut self.grads, n);
        }
        // The schedule is a function of the step, which the checkpoint holds: resuming is exact.
        let lr = self
            .cfg
            .schedule
            .map_or(self.cfg.lr, |s| s.lr_at(self.state.step));
        self.opt.set_lr(lr);
        if self.cfg.weight_decay > 0.0 {
            decay_weights(&mut self.params, lr, self.cfg.weight_decay);
        }
        self.opt.step(&mut self.params, &self.grads);
        let s = &mut self.state;
        s.step += 1;
        s.batch_in_epoch += 1;
        s.tokens += stats.count as u64;
        let smoothed = smooth(s.smoothed, s.step, loss);
        s.smoothed = Some(smoothed);
        s.history.push(HistoryRow {
            step: s.step,
            epoch: s.epoch,
            loss,
            smoothed,
            val_loss: None,
        });
        thin(&mut s.history, MAX_HISTORY);
        Ok(Some(loss))
    }
}

//! The loss history of a run: its rows, the smoothed loss and the CSV log.

use serde::{Deserialize, Serialize};

/// Weight of the newest loss in the smoothed training loss: an exponential
/// moving average `m ← 0.98·m + 0.02·loss` from `m = 0`, reported
/// bias-corrected as `m / (1 − 0.98^step)` (as Adam corrects its moments), so
/// it follows the recent losses from the first step instead of dragging the
/// first, untrained loss along for hundreds of steps.
pub const SMOOTHING: f64 = 0.02;

/// One row of the loss history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Optimiser updates done.
    pub step: u64,
    /// Epoch the step belongs to (0-based).
    pub epoch: u64,
    /// Mean cross-entropy of the minibatch.
    pub loss: f64,
    /// Smoothed training loss after the step.
    pub smoothed: f64,
    /// Validation loss, on the last step of an epoch.
    pub val_loss: Option<f64>,
}

/// The bias-corrected smoothed loss after step `step` (1-based) with minibatch loss `loss`, from the
/// previous corrected value `prev` (see [`SMOOTHING`]).
pub fn smooth(prev: Option<f64>, step: u64, loss: f64) -> f64 {
    // Recover the raw average from the previous corrected value, update it, correct it again.
    let beta = 1.0 - SMOOTHING;
    let t = i32::try_from(step).unwrap_or(i32::MAX);
    let raw_prev = prev.map_or(0.0, |prev| prev * (1.0 - beta.powi(t - 1)));
    (beta * raw_prev + SMOOTHING * loss) / (1.0 - beta.powi(t))
}

/// The CSV log: `step,epoch,loss,smoothed,perplexity,val_loss,val_perplexity`.
pub fn write_csv(history: &[HistoryRow]) -> String {
    let mut out = String::from("step,epoch,loss,smoothed,perplexity,val_loss,val_perplexity\n");
    for r in history {
        let (v, vp) = r.val_loss.map_or((String::new(), String::new()), |v| {
            (format!("{v:.6}"), format!("{:.4}", v.exp()))
        });
        out.push_str(&format!(
            "{},{},{:.6},{:.6},{:.4},{v},{vp}\n",
            r.step,
            r.epoch,
            r.loss,
            r.smoothed,
            r.smoothed.exp()
        ));
    }
    out
}

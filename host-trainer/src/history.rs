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

/// Most rows a history keeps (about 1 MB in a checkpoint); see [`thin`].
pub const MAX_HISTORY: usize = 20_000;

/// Bounds a history to `max` rows: once it holds more, every second row of its older half is dropped,
/// so old steps are kept at a coarser spacing and the recent ones exactly; rows with a validation
/// loss are kept while there are others to drop. Deterministic (resumed runs thin identically).
pub fn thin(history: &mut Vec<HistoryRow>, max: usize) {
    if history.len() <= max.max(4) {
        return;
    }
    let half = history.len() / 2;
    let droppable = |i: usize, r: &HistoryRow, keep_val: bool| {
        i < half && i % 2 == 1 && !(keep_val && r.val_loss.is_some())
    };
    let before = history.len();
    let mut i = 0;
    history.retain(|r| {
        i += 1;
        !droppable(i - 1, r, true)
    });
    if history.len() == before {
        let mut i = 0;
        history.retain(|r| {
            i += 1;
            !droppable(i - 1, r, false)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64, val_every: u64) -> Vec<HistoryRow> {
        (1..=n)
            .map(|step| HistoryRow {
                step,
                epoch: 0,
                loss: 1.0,
                smoothed: 1.0,
                val_loss: step.is_multiple_of(val_every).then_some(0.5),
            })
            .collect()
    }

    #[test]
    fn thinning_bounds_the_history_and_keeps_recent_and_validation_rows() {
        let mut h = Vec::new();
        for r in rows(100_000, 1000) {
            h.push(r);
            thin(&mut h, 1000);
            assert!(h.len() <= 1001);
        }
        // The newest rows are all there, in order; every validation row survived.
        let steps: Vec<u64> = h.iter().map(|r| r.step).collect();
        assert!(steps.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(&steps[steps.len() - 3..], &[99_998, 99_999, 100_000]);
        assert_eq!(h.iter().filter(|r| r.val_loss.is_some()).count(), 100);
        assert_eq!(h[0].step, 1);
    }
}

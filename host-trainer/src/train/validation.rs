//! Validation during training and the best model: the loss on held-out data, its history, and which
//! parameters the model file receives.

use super::{TrainError, Trainer};
use crate::checkpoint::{Best, StoredParams};
use crate::config::Keep;
use crate::evaluate::evaluate_stack;
use crate::model::Stack;

impl Trainer {
    /// Validation loss of the current parameters, if there is validation data.
    pub fn validate(&self) -> Option<f64> {
        self.prep
            .val
            .as_ref()
            .map(|v| evaluate_stack(&self.params, v, self.cfg.batch, self.cfg.seq_len).mean())
    }

    /// Validates the current parameters (once per step: a second call at the same step reuses the
    /// result), records the loss in the history and keeps the best parameters.
    pub(super) fn validate_and_track(&mut self) -> Option<f64> {
        let step = self.state.step;
        if let Some(row) = self.state.history.last()
            && row.step == step
            && row.val_loss.is_some()
        {
            return row.val_loss;
        }
        let val = self.validate()?;
        if let Some(row) = self.state.history.last_mut() {
            row.val_loss = Some(val);
        }
        let s = &mut self.state;
        if s.best.as_ref().is_none_or(|b| val < b.loss) {
            s.best = Some(Best {
                step,
                loss: val,
                params: StoredParams::from_stack(&self.params),
            });
            s.evals_since_best = 0;
        } else {
            s.evals_since_best += 1;
        }
        Some(val)
    }

    pub(super) fn end_epoch(&mut self) -> Option<f64> {
        let val = self.validate_and_track();
        self.state.epoch += 1;
        val
    }

    /// The best validation loss so far and its step, if there is validation data.
    pub fn best(&self) -> Option<(f64, u64)> {
        self.state.best.as_ref().map(|b| (b.loss, b.step))
    }

    /// The parameters the model file receives: the best validated ones (with validation data and
    /// `keep best`), else the current ones.
    ///
    /// # Errors
    /// A damaged best-parameter record.
    pub fn model_params(&self) -> Result<std::borrow::Cow<'_, Stack<f32>>, TrainError> {
        match (&self.state.best, self.cfg.keep) {
            (Some(b), Keep::Best) => Ok(std::borrow::Cow::Owned(
                b.params.to_stack().map_err(TrainError::Mismatch)?,
            )),
            _ => Ok(std::borrow::Cow::Borrowed(&self.params)),
        }
    }
}

//! The loop: steps until a stopping rule, an interrupt or a step limit; validation, checkpoints, the log and
//! the plot along the way; the model file at the end.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Controls, Observer, Outcome, TrainError, Trainer, encode_trained};
use crate::config::Every;
use crate::data::batch::EpochPlan;
use crate::files::write_atomic;
use crate::history::write_csv;

impl Trainer {
    /// Why the run should stop now, if a stopping rule is met.
    fn stop_reason(&self) -> Option<String> {
        let s = &self.state;
        if let Some(n) = self.cfg.steps.filter(|&n| s.step >= n) {
            return Some(format!("reached {n} steps"));
        }
        if let Some(n) = self.cfg.epochs.filter(|&n| s.epoch >= n) {
            return Some(format!("reached {n} epochs"));
        }
        if let (Some(t), Some(sm)) = (self.cfg.target_loss, s.smoothed)
            && sm < t
        {
            return Some(format!("smoothed loss {sm:.5} below target {t}"));
        }
        if let (Some(k), Some(b)) = (self.cfg.patience, &s.best)
            && s.evals_since_best >= k
        {
            return Some(format!(
                "no better validation loss in {k} evaluations (best {:.4} at step {})",
                b.loss, b.step
            ));
        }
        None
    }

    /// Runs until a stopping rule, an interrupt or `controls.stop_after`, silently.
    ///
    /// # Errors
    /// Divergence, or failing to write the model, checkpoint, log or plot.
    pub fn run(&mut self, controls: &Controls<'_>) -> Result<Outcome, TrainError> {
        self.run_observed(controls, &mut ())
    }

    /// As [`Trainer::run`], reporting to `observer`.
    ///
    /// # Errors
    /// As [`Trainer::run`].
    pub fn run_observed(
        &mut self,
        controls: &Controls<'_>,
        observer: &mut dyn Observer,
    ) -> Result<Outcome, TrainError> {
        let start = Instant::now();
        let tokens_at_start = self.state.tokens;
        let steps_at_start = self.state.step;
        observer.start(self);
        // Checkpoints, log and plot at epoch ends are throttled: tiny corpora have thousands of epochs a
        // minute. Everything is written once more at the end.
        let mut last_save = Instant::now();
        let mut last_epoch_save = Instant::now();
        let outcome = loop {
            if let Some(reason) = self.stop_reason() {
                break Outcome::Finished(reason);
            }
            let interrupted = controls.interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
            let limit = controls
                .stop_after
                .is_some_and(|n| self.state.step - steps_at_start >= n);
            if interrupted || limit {
                let checkpoint = self.save_checkpoint()?;
                break Outcome::Interrupted { checkpoint };
            }
            let stepped = match self.step() {
                Ok(s) => s,
                Err(TrainError::Diverged {
                    step, loss, limit, ..
                }) => {
                    observer.finish();
                    // The log and plot show the run up to the divergence; model and checkpoint stay.
                    let _ = self.write_outputs();
                    let last = match &self.last_checkpoint {
                        Some((p, s)) => format!(
                            "the last good checkpoint is {} (step {s}; it was left intact)",
                            p.display()
                        ),
                        None => "no checkpoint had been written yet".into(),
                    };
                    return Err(TrainError::Diverged {
                        step,
                        loss,
                        limit,
                        last,
                    });
                }
                Err(e) => return Err(e),
            };
            match stepped {
                Some(loss) => {
                    let tokens_per_s = (self.state.tokens - tokens_at_start) as f64
                        / start.elapsed().as_secs_f64().max(1e-9);
                    if self
                        .cfg
                        .val_every
                        .is_some_and(|n| self.state.step.is_multiple_of(n))
                        && let Some(v) = self.validate_and_track()
                    {
                        observer.validation(self, v);
                    }
                    observer.step(self, loss, tokens_per_s);
                    let due = match self.cfg.checkpoint_every {
                        Every::Steps(n) => self.state.step.is_multiple_of(n),
                        Every::Seconds(n) => last_save.elapsed().as_secs() >= n,
                    };
                    if due {
                        last_save = Instant::now();
                        self.save_checkpoint()?;
                    }
                }
                None => {
                    let val = self.end_epoch();
                    observer.epoch(self, val);
                    if last_epoch_save.elapsed().as_secs_f64() >= 30.0 {
                        last_epoch_save = Instant::now();
                        last_save = Instant::now();
                        self.save_checkpoint()?;
                        self.write_outputs()?;
                    }
                }
            }
        };
        observer.finish();
        let bytes = encode_trained(self.model_params()?.as_ref(), &self.prep.vocab)?;
        write_atomic(&self.cfg.out, &bytes)?;
        if let Outcome::Finished(_) = &outcome {
            self.save_checkpoint()?;
        }
        self.write_outputs()?;
        Ok(outcome)
    }

    /// Minibatches per epoch of the current (or, between epochs, the next) epoch plan.
    pub fn batches_per_epoch(&self) -> u64 {
        let (batch, seq_len) = (self.cfg.batch, self.cfg.seq_len);
        let count = |p: &EpochPlan| self.prep.train.num_batches(p, batch, seq_len) as u64;
        self.state.plan.as_ref().map_or_else(
            || {
                count(&self.prep.train.plan(
                    &mut self.state.rng.clone(),
                    seq_len,
                    self.cfg.fixed_offset,
                ))
            },
            count,
        )
    }

    /// Writes the CSV log and the plot, if configured.
    ///
    /// # Errors
    /// I/O or plotting failures.
    pub fn write_outputs(&self) -> Result<(), TrainError> {
        if let Some(path) = &self.cfg.log {
            write_atomic(path, write_csv(&self.state.history).as_bytes())?;
        }
        if let Some(path) = &self.cfg.plot {
            crate::plot::plot_losses(path, &self.state.history).map_err(|reason| {
                TrainError::Output {
                    path: path.clone(),
                    reason,
                }
            })?;
        }
        Ok(())
    }
}

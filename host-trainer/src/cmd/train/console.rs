//! What `train` shows on the console: a progress bar, throttled epoch summaries, validation lines and
//! samples every `--sample-every` steps.

use std::time::Instant;

use crate::data::batch::Mode;
use crate::generate::{SampleOptions, sample_text};
use crate::train::{Observer, Trainer};

/// The console side of a run: a progress bar, throttled epoch summaries, samples every
/// `--sample-every` steps.
#[derive(Default)]
pub(super) struct Console {
    bar: Option<indicatif::ProgressBar>,
    last_print: Option<Instant>,
    samples_broken: bool,
}

impl Observer for Console {
    fn start(&mut self, t: &Trainer) {
        self.bar = Some(progress_bar(t));
    }

    fn step(&mut self, t: &Trainer, loss: f64, tokens_per_s: f64) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(t.state.step);
        bar.set_message(format!(
            "epoch {} loss {loss:.4} smoothed {:.4} {tokens_per_s:.0} tok/s",
            t.state.epoch + 1,
            t.state.smoothed.unwrap_or(loss),
        ));
        if t.cfg
            .sample_every
            .is_some_and(|n| t.state.step.is_multiple_of(n))
            && !self.samples_broken
        {
            self.samples_broken = !print_samples(t, bar);
        }
    }

    fn epoch(&mut self, t: &Trainer, val: Option<f64>) {
        // Throttled: tiny corpora have thousands of epochs a minute.
        let print_due = self
            .last_print
            .is_none_or(|p| p.elapsed().as_secs_f64() >= 2.0);
        let Some(bar) = self.bar.as_ref().filter(|_| print_due) else {
            return;
        };
        self.last_print = Some(Instant::now());
        let sm = t.state.smoothed.unwrap_or(f64::NAN);
        let msg = match val {
            Some(v) => format!(
                "epoch {}: smoothed train loss {sm:.4} (ppl {:.2}), val loss {v:.4} (ppl {:.2})",
                t.state.epoch,
                sm.exp(),
                v.exp()
            ),
            None => format!(
                "epoch {}: smoothed train loss {sm:.4} (ppl {:.2})",
                t.state.epoch,
                sm.exp()
            ),
        };
        bar.suspend(|| eprintln!("{msg}"));
    }

    fn validation(&mut self, t: &Trainer, v: f64) {
        if let Some(bar) = &self.bar {
            bar.suspend(|| {
                eprintln!(
                    "step {}: val loss {v:.4} (ppl {:.2})",
                    t.state.step,
                    v.exp()
                );
            });
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// A progress bar over the run's steps (a spinner when no step or epoch limit is set).
fn progress_bar(t: &Trainer) -> indicatif::ProgressBar {
    let per_epoch = t.batches_per_epoch();
    let total = match (t.cfg.steps, t.cfg.epochs) {
        (Some(s), Some(e)) => Some(s.min(e * per_epoch)),
        (Some(s), None) => Some(s),
        (None, Some(e)) => Some(e * per_epoch),
        (None, None) => None,
    };
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} steps (ETA {eta}) {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(t.state.step);
    bar
}

/// Prints samples of the current model through lstm-core; returns false if sampling is unavailable.
fn print_samples(t: &Trainer, bar: &indicatif::ProgressBar) -> bool {
    let Ok(bytes) = t.model_bytes() else {
        return false;
    };
    let lines = t.cfg.mode == Mode::Lines;
    let opts = SampleOptions {
        prime: if lines {
            String::new()
        } else {
            t.prep
                .vocab
                .char_at(0)
                .map(String::from)
                .unwrap_or_default()
        },
        length: if lines { 40 } else { 120 },
        temperature: 1.0,
        top_k: None,
        top_p: None,
        seed: t.state.step,
        stop_at: lines.then_some('\n'),
        count: 3,
        cores_per_step: 1,
    };
    match sample_text(&bytes, &opts) {
        Ok(samples) => {
            bar.suspend(|| {
                eprintln!("--- samples at step {} ---", t.state.step);
                for s in samples.texts {
                    eprintln!("{}", s.trim_end_matches('\n'));
                }
            });
            true
        }
        Err(e) => {
            bar.suspend(|| eprintln!("(samples disabled: {e})"));
            false
        }
    }
}

//! The training loop end to end on a tiny corpus: resumption is bit-exact, schedules, validation, the
//! best model, every cell kind.

use super::*;
use crate::checkpoint::Checkpoint;
use crate::cli::CellArg;
use crate::config::Keep;
use crate::config::default_config;
use crate::data::batch::Dataset;
use crate::data::batch::Mode;
use crate::evaluate::evaluate;
use crate::evaluate::evaluate_stack;
use crate::optim::LrSchedule;
use crate::optim::OptimizerKind;
use std::path::Path;

fn corpus() -> String {
    let mut s = String::new();
    for i in 0..60 {
        s.push_str(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"][i % 6]);
        s.push_str(&"xyz"[..i % 3]);
        s.push('\n');
    }
    s
}

fn config(dir: &Path, mode: Mode, optimizer: OptimizerKind) -> TrainConfig {
    TrainConfig {
        mode,
        hidden: 8,
        seq_len: 7,
        batch: 3,
        optimizer,
        lr: 0.05,
        clip_norm: Some(1.0),
        clip_value: Some(2.0),
        epochs: Some(3),
        val_fraction: 0.1,
        seed: 42,
        checkpoint: Some(dir.join("run.ckpt")),
        ..default_config(&dir.join("corpus.txt"), &dir.join("model.bin"))
    }
}

/// Interrupt after `stop` steps, reload the checkpoint from disk, finish: same model bytes and history
/// as the uninterrupted run (epoch boundaries, RNG, optimiser moments and carried state all restored).
fn resume_equals_uninterrupted(
    mode: Mode,
    optimizer: OptimizerKind,
    stop: u64,
    fixed_offset: bool,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TrainConfig {
        fixed_offset,
        ..config(dir.path(), mode, optimizer)
    };
    resume_equals_uninterrupted_with(cfg, stop);
}

fn resume_equals_uninterrupted_with(cfg: TrainConfig, stop: u64) {
    let text = corpus();
    let mut full = Trainer::new(cfg.clone(), &text).expect("trainer");
    assert!(matches!(
        full.run(&Controls::default()),
        Ok(Outcome::Finished(_))
    ));
    assert!(full.state.epoch == 3 && full.state.step > stop);

    let mut part = Trainer::new(cfg.clone(), &text).expect("trainer");
    let controls = Controls {
        stop_after: Some(stop),
        ..Controls::default()
    };
    let Ok(Outcome::Interrupted { checkpoint }) = part.run(&controls) else {
        panic!("expected an interruption")
    };
    assert_eq!(part.state.step, stop);
    let ckpt = Checkpoint::load(&checkpoint).expect("checkpoint loads");
    let mut resumed = Trainer::resume(ckpt, cfg, &text).expect("resumes");
    assert!(matches!(
        resumed.run(&Controls::default()),
        Ok(Outcome::Finished(_))
    ));

    assert_eq!(resumed.state.history, full.state.history);
    assert_eq!(
        resumed.model_bytes().expect("encodes"),
        full.model_bytes().expect("encodes")
    );
}

#[test]
fn resume_equals_uninterrupted_stream_adam() {
    resume_equals_uninterrupted(Mode::Stream, OptimizerKind::Adam, 25, false);
}

#[test]
fn resume_equals_uninterrupted_lines_adagrad() {
    resume_equals_uninterrupted(Mode::Lines, OptimizerKind::Adagrad, 23, false);
}

#[test]
fn resume_equals_uninterrupted_stream_fixed_offset_with_tail() {
    resume_equals_uninterrupted(Mode::Stream, OptimizerKind::Adagrad, 30, true);
}

/// Stopping exactly at the end of the first epoch (18 batches of 3 out of 54 training lines).
#[test]
fn resume_equals_uninterrupted_at_epoch_boundary_sgd() {
    resume_equals_uninterrupted(Mode::Lines, OptimizerKind::Sgd, 18, false);
}

/// A cosine schedule with warm-up and AdamW weight decay, validation every 5 steps and the best
/// model kept: an interrupted and resumed run is bit-identical to an uninterrupted one.
#[test]
fn resume_equals_uninterrupted_cosine_weight_decay_best() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = config(dir.path(), Mode::Lines, OptimizerKind::Adam);
    let cfg = TrainConfig {
        schedule: Some(crate::optim::Schedule {
            kind: LrSchedule::Cosine,
            lr: base.lr,
            warmup: 5,
            lr_min: 0.001,
            step_size: 1,
            gamma: 0.5,
            total: 0,
        }),
        weight_decay: 0.1,
        val_every: Some(5),
        ..base
    };
    resume_equals_uninterrupted_with(cfg, 29);
}

/// A 2-layer GRU with dropout in stream mode (state carried per layer, masks drawn per step) and a
/// 2-layer LSTM with dropout in lines mode with validation and the best model kept: an interrupted
/// and resumed run is bit-identical to an uninterrupted one.
#[test]
fn resume_equals_uninterrupted_stacks_with_dropout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gru = TrainConfig {
        cell: CellArg::Gru,
        layers: 2,
        dropout: 0.3,
        ..config(dir.path(), Mode::Stream, OptimizerKind::Adam)
    };
    resume_equals_uninterrupted_with(gru, 25);
    let lstm = TrainConfig {
        cell: CellArg::Lstm,
        layers: 2,
        dropout: 0.2,
        val_every: Some(4),
        ..config(dir.path(), Mode::Lines, OptimizerKind::Adagrad)
    };
    resume_equals_uninterrupted_with(lstm, 23);
}

/// Dropout changes the trained model; the written file holds exactly the trained stack (format
/// version 2 for a GRU), and its validation loss is the dropout-free pass's.
#[test]
fn dropout_changes_training_and_the_file_holds_the_stack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = TrainConfig {
        checkpoint: None,
        cell: CellArg::Gru,
        layers: 2,
        keep: Keep::Last,
        ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
    };
    let train = |cfg: TrainConfig| {
        let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
        t.run(&Controls::default()).expect("runs");
        t
    };
    let plain = train(base.clone());
    let dropped = train(TrainConfig {
        dropout: 0.5,
        ..base.clone()
    });
    let other_seed = train(TrainConfig {
        dropout: 0.5,
        seed: 43,
        ..base.clone()
    });
    assert_ne!(plain.params, dropped.params);
    assert_ne!(dropped.params, other_seed.params);
    let bytes = std::fs::read(&base.out).expect("model");
    let (stack, vocab, _) = crate::model_file::decode_stack(&bytes).expect("decodes");
    assert_eq!(stack, other_seed.params);
    assert_eq!(vocab, other_seed.prep.vocab.as_string());
    let v = other_seed.prep.val.as_ref().expect("val");
    assert_eq!(
        other_seed.validate(),
        Some(evaluate_stack(&stack, v, base.batch, base.seq_len).mean())
    );
}

/// Every cell kind, one and two layers, learns the tiny corpus well below its unigram entropy.
#[test]
fn every_kind_and_depth_lowers_the_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (cell, layers) in [
        (CellArg::Rnn, 1),
        (CellArg::Gru, 1),
        (CellArg::Gru, 2),
        (CellArg::Lstm, 2),
    ] {
        let cfg = TrainConfig {
            checkpoint: None,
            cell,
            layers,
            epochs: Some(40),
            lr: 0.02,
            hidden: 16,
            ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
        };
        let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
        let first = t.step().expect("steps").expect("a batch");
        t.run(&Controls::default()).expect("runs");
        let smoothed = t.state.smoothed.expect("trained");
        assert!(
            smoothed < 0.5 * t.prep.unigram_entropy && smoothed < 0.5 * first,
            "{cell:?} × {layers}: {smoothed} (first {first}, unigram {})",
            t.prep.unigram_entropy
        );
    }
}

#[test]
fn cosine_schedule_and_weight_decay_change_the_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = TrainConfig {
        checkpoint: None,
        ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
    };
    let bytes = |cfg: TrainConfig| {
        let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
        t.run(&Controls::default()).expect("runs");
        (t.model_bytes().expect("encodes"), t.cfg.schedule)
    };
    let (plain, _) = bytes(base.clone());
    let (decayed, _) = bytes(TrainConfig {
        weight_decay: 0.5,
        ..base.clone()
    });
    let (cosine, sched) = bytes(TrainConfig {
        schedule: Some(crate::optim::Schedule {
            kind: LrSchedule::Cosine,
            lr: base.lr,
            warmup: 0,
            lr_min: 0.0,
            step_size: 1,
            gamma: 0.5,
            total: 0,
        }),
        ..base.clone()
    });
    assert_ne!(plain, decayed);
    assert_ne!(plain, cosine);
    // 3 epochs of 18 minibatches (54 training lines, batch 3).
    assert_eq!(sched.map(|s| s.total), Some(54));
}

/// The held-out lines are a seeded random set, not the tail; another seed draws another set.
#[test]
fn validation_lines_are_a_seeded_random_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text: String = (0..200).map(|i| format!("line{i:03}\n")).collect();
    let split = |seed| {
        let cfg = TrainConfig {
            seed,
            ..config(dir.path(), Mode::Lines, OptimizerKind::Sgd)
        };
        Trainer::new(cfg, &text).expect("trainer").prep.split
    };
    let (a, b) = (split(1), split(2));
    assert_eq!(a, split(1));
    assert_eq!(a.units, 200);
    assert_eq!(a.val_units.len(), 20);
    assert_ne!(a.val_units, b.val_units);
    let tail: Vec<u32> = (180..200).collect();
    assert_ne!(a.val_units, tail);
    assert!(a.val_units.iter().any(|&i| i < 100), "{:?}", a.val_units);
}

/// Stream mode holds out whole chunks, at random, about the requested fraction.
#[test]
fn validation_stream_chunks_are_random_and_sized() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text: String = (0..2000).map(|i| format!("w{} ", i % 97)).collect();
    let cfg = config(dir.path(), Mode::Stream, OptimizerKind::Sgd);
    let t = Trainer::new(cfg, &text).expect("trainer");
    let sp = &t.prep.split;
    assert_eq!(sp.val_units.len(), 10);
    assert!(sp.val_units.iter().any(|&u| (u as usize) < sp.units - 10));
    let Some(Dataset::Stream { tokens }) = &t.prep.val else {
        panic!("stream validation data")
    };
    assert_eq!(tokens.len(), 10 * sp.chunk_len);
}

/// With validation, the model file holds the parameters of the best validation loss; --keep last
/// the last ones; --patience stops after K evaluations without improvement.
#[test]
fn best_model_is_written_and_patience_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TrainConfig {
        checkpoint: None,
        epochs: Some(60),
        lr: 0.05,
        hidden: 24,
        val_fraction: 0.2,
        ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
    };
    let mut t = Trainer::new(cfg.clone(), &corpus()).expect("trainer");
    t.run(&Controls::default()).expect("runs");
    let (best_loss, best_step) = t.best().expect("validated");
    let vals: Vec<f64> = t.state.history.iter().filter_map(|r| r.val_loss).collect();
    assert_eq!(vals.len(), 60);
    assert_eq!(
        vals.iter().copied().fold(f64::INFINITY, f64::min),
        best_loss
    );
    let written = std::fs::read(&cfg.out).expect("model");
    let (p, _) = crate::model_file::decode_model(&written).expect("decodes");
    let v = t.prep.val.as_ref().expect("val");
    let loss = evaluate(&p, v, cfg.batch, cfg.seq_len).mean();
    assert_eq!(
        loss, best_loss,
        "the file holds the best model (step {best_step})"
    );
    assert!(best_step < t.state.step, "overfits: best before the end");
    assert_ne!(written, t.model_bytes().expect("encodes"));

    let mut last = Trainer::new(
        TrainConfig {
            keep: Keep::Last,
            ..cfg.clone()
        },
        &corpus(),
    )
    .expect("trainer");
    last.run(&Controls::default()).expect("runs");
    assert_eq!(
        std::fs::read(&cfg.out).expect("model"),
        last.model_bytes().expect("encodes")
    );

    let mut patient = Trainer::new(
        TrainConfig {
            patience: Some(3),
            ..cfg.clone()
        },
        &corpus(),
    )
    .expect("trainer");
    let out = patient.run(&Controls::default()).expect("runs");
    assert!(
        matches!(&out, Outcome::Finished(r) if r.contains("3 evaluations")),
        "{out:?}"
    );
    let (_, step) = patient.best().expect("validated");
    assert_eq!(patient.state.evals_since_best, 3);
    assert!(patient.state.epoch < 60 && step < patient.state.step);
}

#[test]
fn same_seed_same_model_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TrainConfig {
        checkpoint: None,
        ..config(dir.path(), Mode::Stream, OptimizerKind::Sgd)
    };
    let run = || {
        let mut t = Trainer::new(cfg.clone(), &corpus()).expect("trainer");
        t.run(&Controls::default()).expect("runs");
        t.model_bytes().expect("encodes")
    };
    assert_eq!(run(), run());
}

#[test]
fn training_lowers_the_loss_below_unigram_entropy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TrainConfig {
        checkpoint: None,
        epochs: Some(40),
        lr: 0.02,
        hidden: 16,
        ..config(dir.path(), Mode::Lines, OptimizerKind::Adam)
    };
    let mut t = Trainer::new(cfg, &corpus()).expect("trainer");
    t.run(&Controls::default()).expect("runs");
    let smoothed = t.state.smoothed.expect("trained");
    assert!(
        smoothed < 0.5 * t.prep.unigram_entropy,
        "{smoothed} vs {}",
        t.prep.unigram_entropy
    );
}

#[test]
fn rejects_corpus_shorter_than_one_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TrainConfig {
        seq_len: 50,
        ..config(dir.path(), Mode::Stream, OptimizerKind::Sgd)
    };
    assert!(matches!(
        Trainer::new(cfg, "short text"),
        Err(TrainError::Data(DataError::TooShort { .. }))
    ));
}

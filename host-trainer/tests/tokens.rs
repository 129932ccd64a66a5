//! Word tokens (`train --tokens words`) through the real binary — lines and stream mode, the model
//! file's token kind, `sample`, `eval`, resume, the vocabulary cap, unknown prime words — and the
//! record `train` writes beside its model (`m.lstm.json`) that `inspect` reads.

use std::path::{Path, PathBuf};

mod common;
use common::{assert_user_error, run, s, stderr};

const WORDS: [&str; 8] = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran"];

/// 120 short sentences of [`WORDS`], one a line, with irregular spacing (tabs, doubled spaces).
fn sentences(dir: &Path) -> PathBuf {
    let path = dir.join("sentences.txt");
    let text: String = (0..120)
        .map(|i| {
            let n = 3 + i % 4;
            let words: Vec<&str> = (0..n)
                .map(|k| WORDS[(i * 3 + k * 5) % WORDS.len()])
                .collect();
            let sep = if i % 5 == 0 { " \t " } else { " " };
            format!("{}\n", words.join(sep))
        })
        .collect();
    std::fs::write(&path, text).expect("write corpus");
    path
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "stderr: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn train(corpus: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--corpus",
        s(corpus),
        "--out",
        s(out),
        "--tokens",
        "words",
        "--hidden",
        "8",
        "--seed",
        "3",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Every printed word is one of the corpus's, separated by exactly one space.
fn assert_words(text: &str) {
    for line in text.lines() {
        for w in line.split(' ') {
            assert!(WORDS.contains(&w), "{w:?} in {text:?}");
        }
    }
}

#[test]
fn words_model_in_lines_mode_trains_samples_and_evaluates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = sentences(dir.path());
    let model = dir.path().join("w.lstm");
    let o = train(&corpus, &model, &["--steps", "40", "--val-fraction", "0.1"]);
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("vocabulary 9"), "8 words and <eol>: {err}");
    // The file records word tokens (format version 2) and its vocabulary.
    let bytes = std::fs::read(&model).expect("model");
    let view = lstm_core::format::decode_family(&bytes).expect("decodes");
    assert_eq!(view.header.tokens, lstm_core::format::TokenKind::Words);
    assert_eq!(view.vocab, "<eol> a cat dog mat on ran sat the");
    let info = ok(&run(&["inspect", s(&model)]));
    assert!(info.contains("word tokens"), "{info}");
    // Samples: one line each (the line symbol ends it), words separated by one space.
    let out = ok(&run(&[
        "sample",
        "--model",
        s(&model),
        "--count",
        "4",
        "--length",
        "30",
        "--stop-at",
        "\\n",
        "--seed",
        "1",
    ]));
    assert_eq!(out.lines().count(), 4, "{out:?}");
    assert_words(&out);
    // A prime is printed first, word by word (any whitespace in it becomes one space).
    let out = ok(&run(&[
        "sample",
        "--model",
        s(&model),
        "--prime",
        "the  cat",
        "--length",
        "5",
    ]));
    assert!(out.starts_with("the cat"), "{out:?}");
    assert_words(&out);
    // A prime word outside the vocabulary: one clear line naming it.
    let o = run(&["sample", "--model", s(&model), "--prime", "the zebra"]);
    assert_user_error(&o, "\"zebra\"");
    // eval: per word, over the words plus one line end per line.
    let out = ok(&run(&[
        "eval",
        "--model",
        s(&model),
        "--corpus",
        s(&corpus),
    ]));
    assert!(out.contains("nats/word"), "{out}");
    let text = std::fs::read_to_string(&corpus).expect("corpus");
    let count = text.split_whitespace().count() + text.lines().count();
    assert!(out.contains(&format!("over {count} words")), "{out}");
    // eval on the held-out split agrees with the checkpoint's run.
    let ckpt = dir.path().join("w.lstm.ckpt");
    let out = ok(&run(&[
        "eval",
        "--model",
        s(&model),
        "--checkpoint",
        s(&ckpt),
    ]));
    assert!(out.starts_with("loss "), "{out}");
    // A corpus word the model never saw.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "the cat flew\n").expect("write");
    let o = run(&["eval", "--model", s(&model), "--corpus", s(&other)]);
    assert_user_error(&o, "\"flew\"");
}

#[test]
fn words_model_in_stream_mode_trains_and_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = sentences(dir.path());
    let model = dir.path().join("w.lstm");
    ok(&train(
        &corpus,
        &model,
        &[
            "--mode",
            "stream",
            "--batch",
            "4",
            "--seq-len",
            "10",
            "--steps",
            "20",
        ],
    ));
    let bytes = std::fs::read(&model).expect("model");
    let view = lstm_core::format::decode_family(&bytes).expect("decodes");
    assert_eq!(view.header.tokens, lstm_core::format::TokenKind::Words);
    assert_eq!(view.vocab, "a cat dog mat on ran sat the", "no line symbol");
    let out = ok(&run(&[
        "sample",
        "--model",
        s(&model),
        "--length",
        "25",
        "--prime",
        "dog",
    ]));
    assert_eq!(out.trim_end().split(' ').count(), 26, "{out:?}");
    assert_words(out.trim_end());
    let out = ok(&run(&[
        "eval",
        "--model",
        s(&model),
        "--corpus",
        s(&corpus),
        "--mode",
        "stream",
    ]));
    assert!(out.contains("nats/word"), "{out}");
}

/// Stopped and resumed, a words run ends with the bytes of the uninterrupted run; the token kind is
/// the checkpoint's and cannot change.
#[test]
fn words_runs_resume_exactly_and_keep_their_token_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = sentences(dir.path());
    let whole = dir.path().join("whole.lstm");
    let recipe = ["--batch", "4", "--val-fraction", "0.2", "--val-every", "4"];
    ok(&train(
        &corpus,
        &whole,
        &[&recipe[..], &["--steps", "12"]].concat(),
    ));
    let part = dir.path().join("part.lstm");
    ok(&train(
        &corpus,
        &part,
        &[&recipe[..], &["--steps", "5"]].concat(),
    ));
    let ckpt = dir.path().join("part.lstm.ckpt");
    // The file is exactly `seal` of its body (written without a second copy of the body).
    let file = std::fs::read(&ckpt).expect("checkpoint");
    let nl = file.iter().position(|&b| b == b'\n').expect("header line");
    assert_eq!(host_trainer::checkpoint::seal(&file[nl + 1..]), file);
    let o = run(&[
        "train",
        "--resume",
        s(&ckpt),
        "--tokens",
        "chars",
        "--steps",
        "12",
    ]);
    assert_user_error(&o, "--tokens cannot change");
    ok(&run(&["train", "--resume", s(&ckpt), "--steps", "12"]));
    assert_eq!(
        std::fs::read(&part).expect("resumed"),
        std::fs::read(&whole).expect("whole")
    );
    // The records agree too: the same best step and validation loss.
    let record = |p: &Path| std::fs::read_to_string(p).expect("record");
    assert_eq!(
        record(&dir.path().join("part.lstm.json")),
        record(&dir.path().join("whole.lstm.json"))
    );
}

#[test]
fn too_many_distinct_words_are_refused_naming_the_count_and_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("many.txt");
    let text: String = (0..8200).map(|i| format!("w{i}\n")).collect();
    std::fs::write(&corpus, text).expect("write");
    let model = dir.path().join("m.lstm");
    let o = train(&corpus, &model, &["--mode", "stream", "--steps", "1"]);
    assert_user_error(&o, "8200 distinct words");
    assert_user_error(&o, "at most 8192");
    assert!(!model.exists());
    // Lines mode over words reserves <eol>.
    std::fs::write(&corpus, "a <eol> b\n").expect("write");
    let o = train(&corpus, &model, &["--steps", "1"]);
    assert_user_error(&o, "\"<eol>\"");
    assert!(!model.exists());
}

/// `train` writes `m.lstm.json`; `inspect` shows the step and validation loss the model was saved at
/// (the ones the end of training named) and says when the record no longer matches the model.
#[test]
fn inspect_shows_the_validation_loss_the_model_was_saved_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = sentences(dir.path());
    let model = dir.path().join("m.lstm");
    let o = run(&[
        "train",
        "--corpus",
        s(&corpus),
        "--out",
        s(&model),
        "--hidden",
        "8",
        "--steps",
        "60",
        "--val-fraction",
        "0.2",
        "--val-every",
        "10",
    ]);
    ok(&o);
    let err = stderr(&o);
    // "model written to …: the best validation loss, 2.123456 at step 50"
    let line = err
        .lines()
        .find(|l| l.contains("the best validation loss"))
        .unwrap_or_else(|| panic!("{err}"));
    let tail = line.rsplit(", ").next().unwrap_or_default();
    let (loss, step) = tail
        .split_once(" at step ")
        .unwrap_or_else(|| panic!("{line}"));
    let info_path = dir.path().join("m.lstm.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info_path).expect("sidecar")).expect("json");
    assert_eq!(record["step"].as_u64(), step.parse().ok());
    let out = ok(&run(&["inspect", s(&model)]));
    assert!(
        out.contains(&format!("saved at step {step}, validation loss {loss}")),
        "{out}\n{line}"
    );
    // Another model put in its place: the record is stale, and inspect says so.
    let other = dir.path().join("other.lstm");
    ok(&run(&[
        "train",
        "--corpus",
        s(&corpus),
        "--out",
        s(&other),
        "--hidden",
        "8",
        "--steps",
        "3",
    ]));
    std::fs::copy(&other, &model).expect("replace");
    let out = ok(&run(&["inspect", s(&model)]));
    assert!(out.contains("is stale"), "{out}");
    assert!(!out.contains("saved at step"), "{out}");
    // Without validation data the record says so.
    let out = ok(&run(&["inspect", s(&other)]));
    assert!(out.contains("saved at step 3, no validation data"), "{out}");
}

/// The record's path is checked like every output: naming an input is refused before any work.
#[test]
fn the_record_path_may_not_name_an_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("m.lstm.json");
    std::fs::write(&corpus, "the cat sat\n".repeat(20)).expect("write");
    let before = std::fs::read(&corpus).expect("read");
    let model = dir.path().join("m.lstm");
    let o = run(&[
        "train",
        "--corpus",
        s(&corpus),
        "--out",
        s(&model),
        "--steps",
        "1",
    ]);
    assert_user_error(&o, "same file as --corpus");
    assert_eq!(std::fs::read(&corpus).expect("read"), before);
    assert!(!model.exists());
}

//! Training a user can leave running: nothing destroyed (output paths checked before any work),
//! nothing lost (signals checkpoint, divergence stops), bounded resources, validation, best model and
//! schedules — on the real binary, with real signals.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::{assert_user_error, bin, export, import, ok, run, run_ok, s, stderr, train, train_ok};

/// The trust tests' corpus: the ten names in a stride-7 order, 200 lines (40 held out at 0.2).
fn names_corpus(dir: &Path) -> PathBuf {
    common::names_corpus(dir, 200, |i| (i * 7) % 10)
}

/// Every file in `dir` with its bytes, sorted by name.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            let bytes = if e.path().is_file() {
                std::fs::read(e.path()).expect("read")
            } else {
                Vec::new()
            };
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn outputs_naming_an_input_or_a_non_file_are_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let corpus = names_corpus(d);
    let link = d.join("link.txt");
    std::os::unix::fs::symlink(&corpus, &link).expect("symlink");
    let sub = d.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let dotted = format!("{}/./names.txt", s(d));
    let model = d.join("m.lstm");
    let before = snapshot(d);
    // Every run names its own --out (or none).
    let train_with = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--corpus",
            s(&corpus),
            "--hidden",
            "4",
            "--steps",
            "3",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (extra, needle) in [
        (vec!["--out", s(&corpus)], "same file as --corpus"),
        (vec!["--out", dotted.as_str()], "same file as --corpus"),
        (vec!["--out", s(&link)], "same file as --corpus"),
        (
            vec!["--out", s(&model), "--log", s(&link)],
            "same file as --corpus",
        ),
        (
            vec!["--out", s(&model), "--plot", s(&corpus)],
            "same file as --corpus",
        ),
        (
            vec!["--out", s(&model), "--checkpoint", s(&corpus)],
            "same file as --corpus",
        ),
        (
            vec!["--out", s(&model), "--log", s(&model)],
            "are the same file",
        ),
        (vec!["--out", s(&sub)], "is a directory"),
        (vec!["--out", "/dev/null"], "is a device"),
        (
            vec!["--out", s(&d.join("missing/m.lstm"))],
            "does not exist",
        ),
        (
            vec!["--out", s(&model), "--log", s(&d.join("nope/log.csv"))],
            "does not exist",
        ),
    ] {
        assert_user_error(&train_with(&extra), needle);
    }
    assert_eq!(snapshot(d), before, "nothing on disk changed");

    // A model to export / import with.
    ok(train_with(&["--out", s(&model)]));
    let model_alias = format!("{}/./m.lstm", s(d));
    let st = d.join("m.safetensors");
    let vocab = d.join("vocab.json");
    let before = snapshot(d);
    let o = export(s(&model), &model_alias, s(&vocab));
    assert_user_error(&o, "same file as --model");
    let o = export(s(&model), s(&st), s(&st));
    assert_user_error(&o, "are the same file");
    assert_eq!(snapshot(d), before);
    ok(export(s(&model), s(&st), s(&vocab)));
    let before = snapshot(d);
    let o = import(s(&st), s(&vocab), s(&st), &[]);
    assert_user_error(&o, "same file as --safetensors");
    let o = import(s(&st), s(&vocab), "/dev/null", &[]);
    assert_user_error(&o, "is a device");
    assert_eq!(snapshot(d), before);
}

#[test]
fn a_corpus_the_format_cannot_hold_is_refused_before_training() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("wide.txt");
    // 9000 distinct symbols: more than the format's 8192.
    let text: String = (0..9000u32)
        .filter_map(|i| char::from_u32(0x4e00 + i))
        .chain(['\n'])
        .collect();
    std::fs::write(&corpus, text).expect("write");
    let model = dir.path().join("m.lstm");
    let o = train(&corpus, &model, &["--hidden", "2", "--steps", "1000000"]);
    assert_user_error(&o, "cannot be stored");
    assert!(!model.exists());
}

#[test]
fn eval_batch_and_seq_len_are_bounded_like_train() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let model = dir.path().join("m.lstm");
    train_ok(&corpus, &model, &["--hidden", "4", "--steps", "2"]);
    let eval = |b: &str, t: &str| {
        run(&[
            "eval",
            "--model",
            s(&model),
            "--corpus",
            s(&corpus),
            "--batch",
            b,
            "--seq-len",
            t,
        ])
    };
    assert_user_error(
        &eval("100000000", "35"),
        "--batch 100000000 is out of range",
    );
    assert_user_error(&eval("32", "0"), "--seq-len 0");
    assert_user_error(&eval("60000", "60000"), "too large");
}

/// A checkpoint of a short run, its text, and the directory.
fn short_checkpoint(dir: &Path) -> (PathBuf, PathBuf) {
    let corpus = names_corpus(dir);
    let model = dir.join("m.lstm");
    let ckpt = dir.join("m.ckpt");
    train_ok(
        &corpus,
        &model,
        &["--hidden", "4", "--steps", "5", "--checkpoint", s(&ckpt)],
    );
    (ckpt, corpus)
}

#[test]
fn damaged_checkpoints_are_refused_with_a_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ckpt, _) = short_checkpoint(dir.path());
    let bytes = std::fs::read(&ckpt).expect("checkpoint");
    let nl = bytes.iter().position(|&b| b == b'\n').expect("header line");
    let body = &bytes[nl + 1..];
    let bad = dir.path().join("bad.ckpt");
    let resume = || run(&["train", "--resume", s(&bad)]);

    // One changed digit anywhere in the body.
    let mut flipped = bytes.clone();
    let at = nl + 1 + body.len() / 2;
    flipped[at] = if flipped[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&bad, &flipped).expect("write");
    assert_user_error(&resume(), "checksum mismatch");
    // Truncated.
    std::fs::write(&bad, &bytes[..bytes.len() - 10]).expect("write");
    assert_user_error(&resume(), "truncated");
    // Another version.
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    std::fs::write(&bad, text.replacen("\"version\":2", "\"version\":9", 1)).expect("write");
    assert_user_error(&resume(), "version 9");

    // Edited and re-sealed with a valid checksum: still refused, naming the problem.
    let resealed = |edit: &dyn Fn(&mut serde_json::Value), needle: &str| {
        let mut v: serde_json::Value = serde_json::from_slice(body).expect("json");
        edit(&mut v);
        let sealed = host_trainer::checkpoint::seal(v.to_string().as_bytes());
        std::fs::write(&bad, sealed).expect("write");
        assert_user_error(&resume(), needle);
    };
    // Absurd shapes: refused before anything is allocated.
    resealed(
        &|v| {
            v["params"]["shape"]["n_h"] = serde_json::json!(1u64 << 40);
            v["config"]["hidden"] = serde_json::json!(1u64 << 40);
        },
        "not a valid checkpoint",
    );
    resealed(
        &|v| v["config"]["batch"] = serde_json::json!(1u64 << 40),
        "--batch",
    );
    resealed(
        &|v| v["params"]["tensors"][1] = serde_json::json!("00000000"),
        "tensor w_h has 1 values",
    );
    // A tampered plan does not match the corpus.
    resealed(
        &|v| v["state"]["plan"] = serde_json::json!({"Lines": {"order": [0, 1, 999999]}}),
        "does not match",
    );
}

#[test]
fn divergence_stops_naming_the_step_and_keeps_the_last_good_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let model = dir.path().join("m.lstm");
    let ckpt = dir.path().join("m.ckpt");
    // A good model and checkpoint first.
    train_ok(
        &corpus,
        &model,
        &[
            "--hidden",
            "16",
            "--steps",
            "20",
            "--checkpoint",
            s(&ckpt),
            "--optimizer",
            "sgd",
            "--lr",
            "0.1",
        ],
    );
    let (good_model, good_ckpt) = (
        std::fs::read(&model).expect("m"),
        std::fs::read(&ckpt).expect("c"),
    );
    // SGD at lr 1000 without clipping explodes; the model and checkpoint must stay as they were.
    let o = train(
        &corpus,
        &model,
        &[
            "--hidden",
            "16",
            "--steps",
            "2000",
            "--checkpoint",
            s(&ckpt),
            "--optimizer",
            "sgd",
            "--lr",
            "1000",
            "--checkpoint-every",
            "1000",
        ],
    );
    assert_user_error(&o, "training diverged at step");
    let err = stderr(&o);
    assert!(err.contains("no checkpoint had been written yet"), "{err}");
    assert_eq!(std::fs::read(&model).expect("m"), good_model);
    assert_eq!(std::fs::read(&ckpt).expect("c"), good_ckpt);
}

/// Starts a long training run and waits until it is in the training loop (its first stderr line).
fn start_long_run(dir: &Path, extra: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let corpus = names_corpus(dir);
    let mut child = bin()
        .args([
            "train",
            "--corpus",
            s(&corpus),
            "--out",
            s(&dir.join("m.lstm")),
        ])
        .args([
            "--hidden",
            "16",
            "--steps",
            "100000000",
            "--seed",
            "5",
            "--batch",
            "4",
        ])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the run starts");
        if line.starts_with("corpus ") {
            break;
        }
    }
    // Some steps in.
    std::thread::sleep(Duration::from_millis(300));
    (child, rx)
}

fn kill(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig}");
}

/// The step a checkpoint holds.
fn checkpoint_step(path: &Path) -> u64 {
    let bytes = std::fs::read(path).expect("checkpoint");
    let nl = bytes.iter().position(|&b| b == b'\n').expect("header");
    let v: serde_json::Value = serde_json::from_slice(&bytes[nl + 1..]).expect("json");
    v["state"]["step"].as_u64().expect("step")
}

/// After `signals`, the run exits with `code` having written a checkpoint; resuming it to a few steps
/// further gives the same model bytes as an uninterrupted run of that length.
fn interrupted_run_resumes_exactly(signals: &[&str], code: i32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ckpt = d.join("m.lstm.ckpt");
    let (mut child, rx) = start_long_run(d, &[]);
    for sig in signals {
        kill(&child, sig);
    }
    let status = child.wait().expect("wait");
    // Until EOF: the reader thread may still hold the last lines.
    let lines: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(code), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("checkpoint saved to")),
        "{lines:?}"
    );
    let step = checkpoint_step(&ckpt);
    assert!(step > 0);
    let target = (step + 7).to_string();
    run_ok(&["train", "--resume", s(&ckpt), "--steps", &target]);
    let resumed = std::fs::read(d.join("m.lstm")).expect("model");
    let full = d.join("full.lstm");
    train_ok(
        &d.join("names.txt"),
        &full,
        &[
            "--hidden", "16", "--steps", &target, "--seed", "5", "--batch", "4",
        ],
    );
    assert_eq!(
        std::fs::read(full).expect("model"),
        resumed,
        "bit-identical after resume"
    );
    let leftovers: Vec<_> = snapshot(d)
        .into_iter()
        .filter(|(n, _)| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sigterm_checkpoints_and_exits_143() {
    interrupted_run_resumes_exactly(&["-TERM"], 143);
}

#[test]
fn sighup_checkpoints_and_exits_129() {
    interrupted_run_resumes_exactly(&["-HUP"], 129);
}

#[test]
fn double_sigint_still_checkpoints_and_exits_130() {
    interrupted_run_resumes_exactly(&["-INT", "-INT"], 130);
}

#[test]
fn checkpoint_every_steps_writes_during_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (mut child, _rx) = start_long_run(d, &["--checkpoint-every", "50"]);
    let ckpt = d.join("m.lstm.ckpt");
    let mut seen = 0;
    for _ in 0..600 {
        if ckpt.exists() {
            seen = checkpoint_step(&ckpt);
            if seen > 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(&child, "-KILL");
    let _ = child.wait();
    assert!(seen > 0 && seen % 50 == 0, "checkpoint at step {seen}");
    // The killed run's checkpoint resumes.
    run_ok(&[
        "train",
        "--resume",
        s(&ckpt),
        "--steps",
        &(seen + 1).to_string(),
    ]);
}

/// The acceptance flow on a small corpus: validation with patience; the model file's validation
/// loss is the best one of the log, and `eval --checkpoint` on the held-out part confirms it.
#[test]
fn best_model_is_written_and_eval_on_the_held_out_split_confirms_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let corpus = names_corpus(d);
    let (model, log) = (d.join("m.lstm"), d.join("log.csv"));
    let o = train_ok(
        &corpus,
        &model,
        &[
            "--log",
            s(&log),
            "--hidden",
            "32",
            "--lr",
            "0.03",
            "--val-fraction",
            "0.2",
            "--patience",
            "3",
            "--val-every",
            "50",
            "--epochs",
            "200",
            "--seed",
            "2",
        ],
    );
    let err = stderr(&o);
    assert!(
        err.contains("validation: 40 of 200 lines held out at random"),
        "{err}"
    );
    let best: f64 = err
        .lines()
        .find_map(|l| l.split("the best validation loss, ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no best line: {err}"));
    let csv = std::fs::read_to_string(&log).expect("log");
    let vals: Vec<f64> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(5).and_then(|v| v.parse().ok()))
        .collect();
    assert!(vals.len() >= 4, "{csv}");
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        (min - best).abs() < 5e-7,
        "log minimum {min} vs reported {best}"
    );
    let o = run_ok(&[
        "eval",
        "--model",
        s(&model),
        "--checkpoint",
        s(&d.join("m.lstm.ckpt")),
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let evaluated: f64 = out
        .strip_prefix("loss ")
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(format!("{evaluated:.6}"), format!("{best:.6}"));
    // The flags that need validation data say so.
    let o = train(&corpus, &model, &["--patience", "3"]);
    assert_user_error(&o, "need validation data");
}

#[test]
fn schedule_flags_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let m = dir.path().join("m.lstm");
    let short = |extra: &[&str]| {
        train(
            &corpus,
            &m,
            &[&["--hidden", "4", "--steps", "3"], extra].concat(),
        )
    };
    assert_user_error(&short(&["--lr-schedule", "step"]), "--lr-step-size");
    assert_user_error(&short(&["--lr-min", "0.001"]), "--lr-schedule cosine");
    assert_user_error(&short(&["--weight-decay", "-1"]), "--weight-decay -1");
    for ok in [
        vec![
            "--lr-schedule",
            "cosine",
            "--warmup",
            "2",
            "--lr-min",
            "0.001",
            "--weight-decay",
            "0.01",
        ],
        vec![
            "--lr-schedule",
            "step",
            "--lr-step-size",
            "2",
            "--lr-gamma",
            "0.9",
        ],
    ] {
        let o = short(&ok);
        assert!(o.status.success(), "{ok:?}: {}", stderr(&o));
    }
    let o = run(&[
        "train",
        "--resume",
        s(&dir.path().join("m.lstm.ckpt")),
        "--warmup",
        "3",
    ]);
    assert_user_error(&o, "--warmup cannot change when resuming");
}

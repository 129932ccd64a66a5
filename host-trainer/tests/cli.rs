//! The `host-trainer` binary end to end: happy paths and every user error (one clear line, no panic).

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{assert_user_error, run, run_ok, s, stderr, train, train_ok};

/// The CLI tests' corpus: the first six names in turn, 40 lines.
fn names_corpus(dir: &Path) -> PathBuf {
    common::names_corpus(dir, 40, |i| i % 6)
}

#[test]
fn train_writes_model_log_plot_then_inspect_and_eval_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let (model, log, plot) = (
        dir.path().join("m.bin"),
        dir.path().join("log.csv"),
        dir.path().join("loss.png"),
    );
    train_ok(
        &corpus,
        &model,
        &[
            "--hidden",
            "8",
            "--steps",
            "30",
            "--val-fraction",
            "0.1",
            "--log",
            s(&log),
            "--plot",
            s(&plot),
            "--epochs",
            "1",
        ],
    );
    assert!(model.exists() && plot.exists());
    let csv = std::fs::read_to_string(&log).expect("log");
    assert!(csv.starts_with("step,epoch,loss,smoothed"));
    assert!(csv.lines().count() > 10);

    let o = run_ok(&["inspect", s(&model)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("n_h 8"), "{out}");

    let o = run_ok(&["eval", "--model", s(&model), "--corpus", s(&corpus)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("perplexity"));
}

#[test]
fn same_seed_gives_identical_model_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let mut files = Vec::new();
    for name in ["a.bin", "b.bin"] {
        let out = dir.path().join(name);
        train_ok(
            &corpus,
            &out,
            &["--hidden", "8", "--steps", "20", "--seed", "9"],
        );
        files.push(std::fs::read(out).expect("model"));
    }
    assert_eq!(files[0], files[1]);
}

#[test]
fn resume_via_cli_matches_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let full = dir.path().join("full.bin");
    let base = ["--hidden", "8", "--batch", "4", "--seed", "3"];
    train_ok(&corpus, &full, &[&["--steps", "25"][..], &base].concat());
    let part = dir.path().join("part.bin");
    let ckpt = dir.path().join("part.ckpt");
    train_ok(
        &corpus,
        &part,
        &[&["--steps", "12", "--checkpoint", s(&ckpt)][..], &base].concat(),
    );
    run_ok(&["train", "--resume", s(&ckpt), "--steps", "25"]);
    assert_eq!(
        std::fs::read(full).expect("full"),
        std::fs::read(part).expect("part")
    );

    let o = run(&["train", "--resume", s(&ckpt), "--lr", "0.5"]);
    assert_user_error(&o, "--lr cannot change when resuming");

    // Damaged checkpoints: truncated, future version, tampered carried state.
    let text = std::fs::read_to_string(&ckpt).expect("checkpoint");
    let bad = dir.path().join("bad.ckpt");
    std::fs::write(&bad, &text[..text.len() / 2]).expect("write");
    assert_user_error(
        &run(&["train", "--resume", s(&bad)]),
        "not a valid checkpoint",
    );
    std::fs::write(&bad, text.replacen("\"version\":2", "\"version\":9", 1)).expect("write");
    assert_user_error(&run(&["train", "--resume", s(&bad)]), "version 9");
    // A changed body without a new checksum (more damage cases: tests/trust.rs).
    std::fs::write(&bad, text.replacen("\"epoch\":0", "\"epoch\":1", 1)).expect("write");
    assert_user_error(&run(&["train", "--resume", s(&bad)]), "checksum mismatch");
}

#[test]
fn rejects_missing_corpus() {
    let o = run(&[
        "train",
        "--corpus",
        "/nonexistent/corpus.txt",
        "--out",
        "/tmp/x.bin",
    ]);
    assert_user_error(&o, "does not exist");
}

/// `train` on a corpus file holding `text`, with `extra` flags.
fn train_on_text(text: &[u8], extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = dir.path().join("corpus.txt");
    std::fs::write(&c, text).expect("write");
    train(&c, &dir.path().join("m.bin"), extra)
}

#[test]
fn rejects_empty_corpus() {
    assert_user_error(&train_on_text(b"", &[]), "is empty");
}

#[test]
fn rejects_non_utf8_corpus() {
    assert_user_error(&train_on_text(b"caf\xe9\n", &[]), "not UTF-8");
}

#[test]
fn rejects_corpus_shorter_than_one_sequence() {
    let o = train_on_text(
        b"just a few characters",
        &["--mode", "stream", "--seq-len", "35"],
    );
    assert_user_error(&o, "too short");
}

#[test]
fn rejects_zero_and_absurd_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = names_corpus(dir.path());
    let m = dir.path().join("m.bin");
    for (flag, value, needle) in [
        ("--hidden", "0", "--hidden 0 is out of range"),
        ("--hidden", "1000000", "--hidden 1000000 is out of range"),
        ("--batch", "0", "--batch 0"),
        ("--seq-len", "0", "--seq-len 0"),
        ("--lr", "0", "--lr 0"),
        ("--lr", "NaN", "--lr NaN"),
        ("--lr", "-1", "--lr -1"),
        ("--steps", "0", "--steps 0"),
        ("--clip-norm", "inf", "--clip-norm inf"),
    ] {
        let o = train(&c, &m, &[flag, value]);
        assert_user_error(&o, needle);
    }
}

#[test]
fn usage_errors_exit_2() {
    let o = run(&[
        "train",
        "--corpus",
        "c.txt",
        "--out",
        "m.bin",
        "--no-such-flag",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "train", "--corpus", "c.txt", "--out", "m.bin", "--hidden", "lots",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn rejects_bad_model_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let good = dir.path().join("good.bin");
    train_ok(&corpus, &good, &["--hidden", "4", "--steps", "2"]);
    let bytes = std::fs::read(&good).expect("model");

    let truncated = dir.path().join("truncated.bin");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let corrupted = dir.path().join("corrupted.bin");
    std::fs::write(&corrupted, &flipped).expect("write");
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"definitely not a model").expect("write");
    let mut future = bytes.clone();
    future[4] = 0x7f; // the version field follows the 4 magic bytes
    let version = dir.path().join("version.bin");
    std::fs::write(&version, &future).expect("write");
    let missing = dir.path().join("missing.bin");

    for bad in [&truncated, &corrupted, &garbage, &version, &missing] {
        assert_user_error(&run(&["inspect", s(bad)]), "");
        assert_user_error(
            &run(&["eval", "--model", s(bad), "--corpus", s(&corpus)]),
            "",
        );
        assert_user_error(&run(&["sample", "--model", s(bad)]), "");
    }
}

#[test]
fn rejects_prime_with_unknown_character() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let model = dir.path().join("m.bin");
    train_ok(&corpus, &model, &["--hidden", "4", "--steps", "2"]);
    let o = run(&["sample", "--model", s(&model), "--prime", "Q"]);
    assert_user_error(&o, "'Q'");
}

#[test]
fn gradcheck_and_golden_commands_pass() {
    let o = run_ok(&[
        "gradcheck",
        "--vocab",
        "6",
        "--hidden",
        "5",
        "--seq-len",
        "4",
        "--batch",
        "2",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    for name in ["w_x", "w_h", "b ", "w_y", "b_y", "h0", "c0"] {
        assert!(out.contains(name), "{name} missing in {out}");
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden");
    let o = run_ok(&[
        "golden",
        s(&data.join("tiny_nx3_nh2_T2_m1_seed1.json")),
        s(&data.join("small_nx27_nh16_T5_m2_seed2.json")),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).matches("pass").count(),
        2
    );
}

#[test]
fn golden_fails_on_a_tampered_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/golden/tiny_nx3_nh2_T2_m1_seed1.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src).expect("read")).expect("json");
    let x = v["grads"]["h0"][0][0].as_f64().expect("number");
    v["grads"]["h0"][0][0] = serde_json::json!(x * 1.01 + 1e-3);
    let bad = dir.path().join("tampered.json");
    std::fs::write(&bad, v.to_string()).expect("write");
    let o = run(&["golden", s(&bad)]);
    assert_user_error(&o, "golden check failed");
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL"));
}

#[test]
fn sample_digest_is_reproducible_and_tracks_the_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let model = dir.path().join("m.bin");
    train_ok(&corpus, &model, &["--hidden", "8", "--steps", "20"]);
    let sample = |seed: &str, threads: &str| {
        let o = run_ok(&[
            "sample",
            "--model",
            s(&model),
            "--seed",
            seed,
            "--length",
            "30",
            "--digest",
            "--cores-per-step",
            threads,
        ]);
        let err = stderr(&o);
        let digest = err
            .lines()
            .find_map(|l| l.strip_prefix("state digest: 0x"))
            .unwrap_or_else(|| panic!("no digest line: {err}"))
            .to_string();
        assert_eq!(digest.len(), 8, "eight hex digits: {digest}");
        assert!(u32::from_str_radix(&digest, 16).is_ok(), "{digest}");
        let out = String::from_utf8(o.stdout).expect("utf-8 text");
        assert!(
            !out.contains("digest"),
            "the digest stays off stdout: {out}"
        );
        (out, digest)
    };
    let (a, b, c) = (sample("1", "1"), sample("1", "1"), sample("2", "1"));
    assert_eq!(a, b, "same seed, same text and digest");
    assert_ne!(a.1, c.1, "another seed ends in another state");
    assert_eq!(
        sample("1", "2"),
        a,
        "two cores per step: the same text and bits"
    );
    assert_user_error(
        &run(&["sample", "--model", s(&model), "--cores-per-step", "3"]),
        "--cores-per-step",
    );
}

#[test]
fn gradcheck_covers_every_cell_kind_and_layer_count() {
    for (cell, layers, names) in [
        ("gru", "2", &["l1.b_hn", "h0"][..]),
        ("rnn", "3", &["l2.w_x", "h0"][..]),
        ("lstm", "2", &["l1.w_h", "c0"][..]),
    ] {
        let o = run(&[
            "gradcheck",
            "--cell",
            cell,
            "--layers",
            layers,
            "--dropout",
            "0.25",
        ]);
        assert!(o.status.success(), "{cell}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("ok: worst relative error"), "{out}");
        for n in names {
            assert!(out.contains(n), "{n} missing in {out}");
        }
    }
    let o = run(&["gradcheck", "--layers", "0"]);
    assert_user_error(&o, "--layers 0");
    let o = run(&["gradcheck", "--layers", "5"]);
    assert_user_error(&o, "--layers 5");
    let o = run(&["gradcheck", "--dropout", "1"]);
    assert_user_error(&o, "--dropout 1");
    let o = run(&["gradcheck", "--cell", "lru"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("lru"), "{}", stderr(&o));
}

//! End-to-end: train a tiny model with `host-trainer`, sample it on the host,
//! build the firmware with it and run it under QEMU, and check the firmware
//! prints the same text, character for character; and check that a damaged
//! model file stops the firmware build with a clear message.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target (from
//! `rust-toolchain.toml`). The first run compiles the firmware's
//! dependencies (about a minute on two cores); later runs rebuild only the
//! firmware crate (seconds). `host-trainer` is built with
//! `cargo build --release -p host-trainer` unless `HOST_TRAINER` names a
//! binary. Helpers are in `support/` (crate `lstm_e2e`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use lstm_e2e::{
    firmware_cargo, firmware_lock, firmware_report, firmware_text, host_trainer_ok, require_qemu,
};

/// Text the tiny model learns: short, repetitive, with spaces and newlines.
const CORPUS: &str = "the quick brown fox jumps over the lazy dog.\n\
                      a lazy dog sleeps in the sun all day.\n\
                      the fox runs home to the den at night.\n";

/// Sampling settings shared by host and firmware.
const LENGTH: &str = "120";
const TEMPERATURE: &str = "0.9";
const PRIME: &str = "the ";

/// A model trained once for all tests, in a directory kept for the run.
fn trained_model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let corpus = dir.path().join("corpus.txt");
        std::fs::write(&corpus, CORPUS.repeat(20)).expect("writing the corpus");
        let model = dir.path().join("tiny.lstm");
        host_trainer_ok(
            dir.path(),
            &[
                "train",
                "--corpus",
                path_str(&corpus),
                "--out",
                path_str(&model),
                "--mode",
                "stream",
                "--hidden",
                "16",
                "--seq-len",
                "16",
                "--batch",
                "4",
                "--steps",
                "40",
                "--seed",
                "1",
            ],
            Duration::from_secs(120),
        );
        assert!(
            model.is_file(),
            "host-trainer train wrote no {}",
            model.display()
        );
        (dir, model)
    });
    path
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// `host-trainer sample`'s stdout.
fn host_sample(model: &Path, seed: &str) -> String {
    let out = host_trainer_ok(
        model.parent().expect("model has a directory"),
        &[
            "sample",
            "--model",
            path_str(model),
            "--seed",
            seed,
            "--prime",
            PRIME,
            "--length",
            LENGTH,
            "--temperature",
            TEMPERATURE,
        ],
        Duration::from_secs(60),
    );
    out.stdout
}

/// Builds the firmware with `model` and `seed`, runs it under QEMU, and
/// returns its text and its `# ` report lines.
fn firmware_sample(model: &Path, seed: &str) -> (String, Vec<String>) {
    let env = [
        ("LSTM_MODEL", path_str(model)),
        ("LSTM_SEED", seed),
        ("LSTM_PRIME", PRIME),
        ("LSTM_LENGTH", LENGTH),
        ("LSTM_TEMPERATURE", TEMPERATURE),
    ];
    let _lock = firmware_lock();
    // Build first (slow the first time), then run (QEMU takes well under a second).
    let build = firmware_cargo("build", &env, Duration::from_secs(900));
    assert!(
        build.status.success(),
        "firmware build failed:\n{}",
        build.both()
    );
    let run = firmware_cargo("run", &env, Duration::from_secs(120));
    assert!(
        run.status.success(),
        "firmware run under QEMU failed (exit status should be 0):\n{}",
        run.both()
    );
    let text = firmware_text(&run).unwrap_or_else(|| {
        panic!(
            "no `# text begins` / `# text ends` in the firmware output:\n{}",
            run.both()
        )
    });
    (text, firmware_report(&run))
}

#[test]
fn firmware_text_matches_host_sample_for_two_seeds() {
    require_qemu();
    let model = trained_model();
    let mut texts = Vec::new();
    for seed in ["7", "12345"] {
        let host = host_sample(model, seed);
        let (firmware, report) = firmware_sample(model, seed);
        // The firmware's text is byte for byte what host-trainer prints on stdout.
        assert!(
            host == firmware,
            "seed {seed}: firmware text differs from host-trainer sample\n--- host ---\n{host:?}\n--- firmware ---\n{firmware:?}"
        );
        assert!(
            firmware.starts_with(PRIME),
            "the text starts with the prime: {firmware:?}"
        );
        assert!(
            report.iter().any(|l| l.contains("per token")),
            "the firmware reports its cost per token: {report:#?}"
        );
        texts.push(firmware);
    }
    assert_ne!(texts[0], texts[1], "two seeds gave the same text");
}

/// Builds the firmware with a damaged copy of the trained model and returns
/// the build's error output.
fn build_with_damaged_model(name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> (String, PathBuf) {
    let model = trained_model();
    let mut bytes = std::fs::read(model).expect("reading the trained model");
    damage(&mut bytes);
    let bad = model.with_file_name(name);
    std::fs::write(&bad, &bytes).expect("writing the damaged model");
    let _lock = firmware_lock();
    let out = firmware_cargo(
        "build",
        &[("LSTM_MODEL", path_str(&bad))],
        Duration::from_secs(900),
    );
    assert!(
        !out.status.success(),
        "the firmware built with a damaged model file:\n{}",
        out.both()
    );
    (out.stderr, bad)
}

#[test]
fn corrupted_model_fails_firmware_build() {
    let (stderr, bad) = build_with_damaged_model("corrupted.lstm", |b| {
        let mid = b.len() / 2;
        b[mid] ^= 0x01;
    });
    assert!(
        stderr.contains(&format!("model file {}", bad.display())) && stderr.contains("checksum"),
        "the build error names the file and the checksum:\n{stderr}"
    );
}

#[test]
fn truncated_model_fails_firmware_build() {
    let (stderr, bad) = build_with_damaged_model("truncated.lstm", |b| {
        let keep = b.len() * 2 / 3;
        b.truncate(keep);
    });
    assert!(
        stderr.contains(&format!("model file {}", bad.display())) && stderr.contains("truncated"),
        "the build error names the file and says it is truncated:\n{stderr}"
    );
}

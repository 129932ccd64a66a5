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
    ConsoleBlock, console_blocks, firmware_cargo, firmware_cargo_args, firmware_cargo_input,
    firmware_digest, firmware_lock, firmware_report, firmware_sample_env, host_sample_digest,
    host_trainer_ok, require_qemu,
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

/// `host-trainer sample --digest`'s stdout and state digest.
fn host_sample(model: &Path, seed: &str) -> (String, String) {
    host_sample_digest(
        model,
        &[
            "--seed",
            seed,
            "--prime",
            PRIME,
            "--length",
            LENGTH,
            "--temperature",
            TEMPERATURE,
        ],
    )
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
    firmware_sample_env(&env)
}

#[test]
fn firmware_text_matches_host_sample_for_two_seeds() {
    require_qemu();
    let model = trained_model();
    let mut texts = Vec::new();
    for seed in ["7", "12345"] {
        let (host, host_digest) = host_sample(model, seed);
        let (firmware, report) = firmware_sample(model, seed);
        // The firmware's text is byte for byte what host-trainer prints on stdout.
        assert!(
            host == firmware,
            "seed {seed}: firmware text differs from host-trainer sample\n--- host ---\n{host:?}\n--- firmware ---\n{firmware:?}"
        );
        // And the state behind it is bit for bit the same: the Cortex-M4F
        // kernel computed exactly what the host's kernel computed.
        assert_eq!(
            firmware_digest(&report),
            host_digest,
            "seed {seed}: same text, but the final state's bits differ"
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

/// A model with weights so large that gate pre-activations and logits leave
/// exp's range (|x| > 89): the firmware's saturating path must give the
/// host's bits too.
#[test]
fn firmware_matches_host_when_activations_saturate() {
    require_qemu();
    let dir = tempfile::tempdir().expect("temporary directory");
    let model = dir.path().join("wild.lstm");
    std::fs::write(&model, wild_model(17, 32)).expect("writing the model");
    let (host, host_digest) = host_sample(&model, "3");
    let (firmware, report) = firmware_sample(&model, "3");
    assert_eq!(
        host, firmware,
        "firmware text differs from host-trainer sample"
    );
    assert_eq!(
        firmware_digest(&report),
        host_digest,
        "the final state's bits differ"
    );
}

/// A one-hot model over `n_v` symbols (space, `t`, `h`, `e`, the other
/// lowercase letters, then uppercase letters, digits and punctuation) with
/// weights uniform in ±300: most activations saturate.
fn wild_model(n_v: usize, n_h: usize) -> Vec<u8> {
    use lstm_core::format::{self, InputKind, ModelParts};
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut fill = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 300.0
            })
            .collect()
    };
    let vocab: String = " the"
        .chars()
        .chain(('a'..='z').filter(|c| !"the".contains(*c)))
        .chain('A'..='Z')
        .chain('0'..='9')
        .chain(".,;:!?'-()\"".chars())
        .take(n_v)
        .collect();
    let dims = lstm_core::Dims {
        n_x: n_v,
        n_h,
        n_y: n_v,
    };
    let (w_ih, w_hh, b) = (
        fill(dims.w_ih_len()),
        fill(dims.w_hh_len()),
        fill(dims.b_len()),
    );
    let (w_y, b_y) = (fill(dims.w_y_len()), fill(dims.b_y_len()));
    let parts = ModelParts {
        input: InputKind::OneHot,
        dims,
        vocab: &vocab,
        w_ih: &w_ih,
        w_hh: &w_hh,
        b: &b,
        w_y: &w_y,
        b_y: &b_y,
    };
    let mut out = vec![0u8; format::encoded_len(&parts).expect("sizes")];
    let n = format::encode(&parts, &mut out).expect("encoding");
    out.truncate(n);
    out
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

/// The serial console under QEMU: a script of commands piped into the
/// firmware; every generated text and state digest equals `host-trainer
/// sample`'s for the same settings (power-on defaults from the build, a
/// second `gen` continuing the random stream, `reset`, a new seed and
/// sampling settings, greedy), and each bad line gives exactly one error
/// line and leaves the console working.
#[test]
fn console_matches_host_sample_and_survives_bad_input() {
    require_qemu();
    let model = trained_model();
    // Power-on defaults.
    let env = [
        ("LSTM_MODEL", path_str(model)),
        ("LSTM_SEED", "7"),
        ("LSTM_PRIME", PRIME),
        ("LSTM_LENGTH", LENGTH),
        ("LSTM_TEMPERATURE", TEMPERATURE),
    ];
    let mut script: Vec<u8> = Vec::new();
    let mut line = |l: &[u8]| {
        script.extend_from_slice(l);
        script.push(b'\n');
    };
    line(b"info");
    line(b"gen"); // 1: power-on settings and prime
    line(b"gen the "); // 2: the random stream continues
    line(b"reset");
    line(b"gen the "); // 3: = 1
    line(b"seed 12345");
    line(b"topk 5");
    line(b"topp 0.9");
    line(b"len 60");
    line(b"stop \\n");
    line(b"gen a"); // 4
    // Bad input: one error line each.
    let bad: [&[u8]; 10] = [
        &[b'x'; 300],
        b"\xff\xfe gen",
        b"temp -1",
        b"temp nan",
        b"topp 0",
        b"topp 1.5",
        b"len 100000001",
        b"gen THE",
        b"frobnicate",
        b"topk 12abc",
    ];
    for b in bad {
        line(b);
    }
    line(b"temp 0");
    line(b"gen the "); // 5: greedy
    line(b"quit");

    let _lock = firmware_lock();
    let build = firmware_cargo_args(
        &["build", "--features", "console"],
        &env,
        Duration::from_secs(900),
    );
    assert!(
        build.status.success(),
        "console build failed:\n{}",
        build.both()
    );
    let run = firmware_cargo_input(
        &[
            "run",
            "--features",
            "console",
            "--config",
            ".cargo/console.toml",
        ],
        &env,
        Some(script),
        Duration::from_secs(120),
    );
    assert!(
        run.status.success(),
        "the console did not exit with 0 after quit:\n{}",
        run.both()
    );
    let blocks = console_blocks(&run.stdout);
    assert_eq!(
        blocks.len(),
        5,
        "five gens, five text blocks:\n{}",
        run.both()
    );

    let block = |args: &[&str]| {
        let (text, digest) = host_sample_digest(model, args);
        ConsoleBlock { text, digest }
    };
    let first = block(&[
        "--seed",
        "7",
        "--prime",
        PRIME,
        "--length",
        LENGTH,
        "--temperature",
        TEMPERATURE,
    ]);
    assert_eq!(blocks[0], first, "gen with the power-on settings");
    // Two gens in a row are `--count 2`: the text of both, the digest of the last.
    let two = block(&[
        "--seed",
        "7",
        "--prime",
        PRIME,
        "--length",
        LENGTH,
        "--temperature",
        TEMPERATURE,
        "--count",
        "2",
    ]);
    assert_eq!(
        format!("{}{}", blocks[0].text, blocks[1].text),
        two.text,
        "a second gen continues the random stream"
    );
    assert_eq!(blocks[1].digest, two.digest);
    assert_eq!(blocks[2], first, "reset restarts the random stream");
    let sampling = [
        "--seed",
        "12345",
        "--top-k",
        "5",
        "--top-p",
        "0.9",
        "--length",
        "60",
        "--stop-at",
        "\\n",
    ];
    let mut args = sampling.to_vec();
    args.extend_from_slice(&["--temperature", TEMPERATURE, "--prime", "a"]);
    assert_eq!(
        blocks[3],
        block(&args),
        "new seed, top-k, top-p, length, stop"
    );
    let mut args = sampling.to_vec();
    args.extend_from_slice(&["--temperature", "0", "--prime", PRIME]);
    assert_eq!(blocks[4], block(&args), "greedy after the bad lines");

    let errors = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("# error:"))
        .count();
    assert_eq!(
        errors,
        bad.len(),
        "one error line per bad line:\n{}",
        run.stdout
    );
}

/// A hidden-256 f32 model over 69 symbols (1.4 MB of weights) is refused by
/// the build script for the Black Pill with the fit and what to do, before
/// anything is compiled or linked.
#[test]
fn model_too_big_for_the_black_pill_fails_with_the_fit() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let model = dir.path().join("big.lstm");
    std::fs::write(&model, wild_model(69, 256)).expect("writing the model");
    let _lock = firmware_lock();
    let out = firmware_cargo_args(
        &["build", "--features", "black-pill"],
        &[("LSTM_MODEL", path_str(&model))],
        Duration::from_secs(900),
    );
    assert!(
        !out.status.success(),
        "a 1.4 MB model built for the Black Pill"
    );
    let e = &out.stderr;
    assert!(
        e.contains("does not fit the board: black-pill")
            && e.contains("524288")
            && e.contains("quantize")
            && e.contains("--hidden")
            && !e.contains("overflowed"),
        "the build error gives the fit and what to do, not a link error:\n{e}"
    );
}

/// Settings outside the host's ranges stop the build with their name,
/// before any code is generated (a length of 2^32 or more included).
#[test]
fn out_of_range_settings_fail_the_firmware_build() {
    let model = trained_model();
    for (var, value, expect) in [
        ("LSTM_LENGTH", "5000000000", "out of range"),
        ("LSTM_TOP_K", "4294967296", "out of range"),
        ("LSTM_COUNT", "0", "out of range"),
        ("LSTM_TEMPERATURE", "101", "out of range"),
        ("LSTM_STOP_AT", "ab", "not a symbol"),
    ] {
        let _lock = firmware_lock();
        let out = firmware_cargo(
            "build",
            &[("LSTM_MODEL", path_str(model)), (var, value)],
            Duration::from_secs(900),
        );
        assert!(!out.status.success(), "{var}={value} built");
        assert!(
            out.stderr.contains(var) && out.stderr.contains(expect),
            "{var}={value}: the error names the setting:\n{}",
            out.stderr
        );
    }
}

/// `cd firmware-example && cargo run --release` with no settings: the shipped
/// model's final state is pinned, so a change to any kernel's bits, the
/// sampler or the default settings shows here (recorded before the kernels
/// became one generic body; unchanged by it and by the model family).
#[test]
fn shipped_model_digest_is_pinned() {
    require_qemu();
    let _lock = firmware_lock();
    let run = firmware_cargo("run", &[], Duration::from_secs(900));
    assert!(
        run.status.success(),
        "firmware run under QEMU failed:\n{}",
        run.both()
    );
    assert_eq!(
        firmware_digest(&firmware_report(&run)),
        "0x656b0f99",
        "the shipped model's state digest changed:\n{}",
        run.both()
    );
}

/// `cargo xtask demo`, the README's first command, end to end: it trains on
/// the shipped corpus, samples on the host and under QEMU, checks both agree,
/// and the final state it reports is pinned — the demo's text cannot change
/// without this test noticing (recorded after the one deliberate change of
/// the trainer's arithmetic, when its activations became lstm-core's).
#[test]
fn demo_runs_end_to_end_and_its_digest_is_pinned() {
    require_qemu();
    let _lock = firmware_lock();
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.current_dir(lstm_e2e::workspace_root())
        .args(["xtask", "demo"]);
    let out = lstm_e2e::run(cmd, "cargo xtask demo", Duration::from_secs(1800));
    assert!(
        out.status.success(),
        "cargo xtask demo failed:\n{}",
        out.both()
    );
    let both = out.both();
    let checked = both
        .lines()
        .find(|l| l.starts_with("Checked: the firmware printed the host's text"))
        .unwrap_or_else(|| panic!("the demo did not check firmware against host:\n{both}"));
    assert!(
        checked.contains("(0x780d30ce)"),
        "the demo's final state changed: {checked}"
    );
}

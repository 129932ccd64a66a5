//! End-to-end: models of the format's family beyond the shipped LSTM run
//! on the firmware under QEMU and print exactly what `host-trainer sample`
//! prints for the same model file and settings, with the same final state
//! digest: a 2-layer GRU, a 1-layer tanh RNN, a word-token model (tokens
//! separated by one space; also through the serial console), a
//! quantized (q8) hidden-256 model, which also builds for the Black Pill,
//! and q8-shared models (one scale per gate unit for `w_ih` and `w_hh`).
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target, as
//! `e2e.rs`; helpers are in `support/` (crate `lstm_e2e`).

use std::path::Path;
use std::time::Duration;

use lstm_core::format::{
    self, CellKind, Dtype, FamilyParts, Header, InputKind, LayerParts, MAX_LAYERS, TokenKind,
    WeightParts,
};
use lstm_core::quant::quantize_family_to;
use lstm_e2e::{
    ConsoleBlock, console_blocks, firmware_cargo, firmware_cargo_args, firmware_cargo_input,
    firmware_digest, firmware_lock, firmware_sample_env, host_sample_digest, require_qemu,
};

/// The characters of the character models.
const CHARS: &str = " abcdefghijklmnopqrstuvwxyz\n";

/// The words of the word model, joined by single spaces.
const WORDS: &str = "the time machine was a story of travel into future and past i saw it";

/// What [`family_model`] writes.
struct Spec<'v> {
    cell: CellKind,
    layers: usize,
    n_h: usize,
    seed: u64,
    tokens: TokenKind,
    /// Characters, or words joined by single spaces.
    vocab: &'v str,
    /// The weights are uniform in ±`scale`.
    scale: f32,
    /// The weights' dtype: f32, or quantized to q8 or q8-shared
    /// (`lstm_core::quant::quantize_family_to`).
    dtype: Dtype,
}

/// A version-2 family model (one-hot input) with seeded weights, written by
/// `encode_family`.
fn family_model(spec: &Spec<'_>) -> Vec<u8> {
    let Spec {
        cell,
        layers: n_layers,
        n_h,
        seed,
        tokens,
        vocab,
        scale,
        dtype,
    } = *spec;
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut fill = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    };
    let n_v = tokens.symbols(vocab).count();
    let header = Header {
        cell,
        dtype: Dtype::F32,
        input: InputKind::OneHot,
        tokens,
        dims: lstm_core::Dims {
            n_x: n_v,
            n_h,
            n_y: n_v,
        },
        n_layers,
    };
    let tensors: Vec<[Vec<f32>; 4]> = (0..n_layers)
        .map(|l| {
            [
                fill(header.w_ih_len(l)),
                fill(header.w_hh_len()),
                fill(header.b_len()),
                fill(header.b_hn_len()),
            ]
        })
        .collect();
    let layers: Vec<LayerParts<'_>> = tensors
        .iter()
        .map(|t| LayerParts {
            w_ih: WeightParts::F32(&t[0]),
            w_hh: WeightParts::F32(&t[1]),
            b: &t[2],
            b_hn: &t[3],
        })
        .collect();
    let (w_y, b_y) = (fill(n_v * n_h), fill(n_v));
    let parts = FamilyParts {
        header,
        vocab,
        layers: &layers,
        w_y: WeightParts::F32(&w_y),
        b_y: &b_y,
    };
    let q8h = Header { dtype, ..header };
    let (nq, ns) = (q8h.weight_count(), q8h.scale_count());
    let (mut q, mut scales) = (vec![0i8; nq], vec![0f32; ns]);
    let mut q8_layers = [layers[0]; MAX_LAYERS];
    let parts = if dtype.is_q8() {
        quantize_family_to(&parts, dtype, &mut q, &mut scales, &mut q8_layers)
            .expect("quantizing")
            .0
    } else {
        parts
    };
    let mut out = vec![0u8; format::encoded_len_family(&parts).expect("sizes")];
    let n = format::encode_family(&parts, &mut out).expect("encoding");
    out.truncate(n);
    out
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Writes `bytes` as `name` in `dir`, then checks that the firmware built
/// with it prints `host-trainer sample`'s text and state digest for the
/// same settings (`(flag, value)` pairs, each also an `LSTM_*` variable);
/// returns the firmware's report lines.
fn check_like_host(dir: &Path, name: &str, bytes: &[u8], settings: &[(&str, &str)]) -> Vec<String> {
    let model = dir.join(name);
    std::fs::write(&model, bytes).expect("writing the model");
    let mut args = Vec::new();
    let mut env = vec![("LSTM_MODEL", path_str(&model))];
    for (flag, value) in settings {
        args.extend([*flag, *value]);
        let var = match *flag {
            "--seed" => "LSTM_SEED",
            "--prime" => "LSTM_PRIME",
            "--length" => "LSTM_LENGTH",
            "--temperature" => "LSTM_TEMPERATURE",
            "--count" => "LSTM_COUNT",
            "--stop-at" => "LSTM_STOP_AT",
            other => panic!("no firmware setting for {other}"),
        };
        env.push((var, *value));
    }
    let (host, host_digest) = host_sample_digest(&model, &args);
    let (firmware, report) = firmware_sample_env(&env);
    assert_eq!(
        host, firmware,
        "{name}: firmware text differs from host-trainer sample"
    );
    assert_eq!(
        firmware_digest(&report),
        host_digest,
        "{name}: same text, but the final state's bits differ"
    );
    report
}

/// A 2-layer GRU and a 1-layer tanh RNN: the firmware prints
/// `host-trainer sample`'s text and digest, and names the model's kind.
#[test]
fn firmware_runs_gru_and_rnn_models_like_host_trainer_sample() {
    require_qemu();
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, cell, layers, n_h) in [
        ("gru2.lstm", CellKind::Gru, 2, 24),
        ("rnn1.lstm", CellKind::Rnn, 1, 33),
    ] {
        let bytes = family_model(&Spec {
            cell,
            layers,
            n_h,
            seed: n_h as u64,
            tokens: TokenKind::Chars,
            vocab: CHARS,
            scale: 1.5,
            dtype: Dtype::F32,
        });
        let settings = [
            ("--seed", "5"),
            ("--prime", "the "),
            ("--length", "120"),
            ("--temperature", "0.9"),
        ];
        let report = check_like_host(dir.path(), name, &bytes, &settings);
        let kind = format!("({} x{layers})", cell.name());
        assert!(
            report.iter().any(|l| l.contains(&kind)),
            "{name}: the report names the model {kind}: {report:#?}"
        );
    }
}

/// A word-token model (2-layer LSTM): the firmware prints the prime's and
/// the generated words separated by one space, two samples, exactly as
/// `host-trainer sample`, with the same digest.
#[test]
fn firmware_prints_word_models_like_host_trainer_sample() {
    require_qemu();
    let dir = tempfile::tempdir().expect("temporary directory");
    let bytes = family_model(&Spec {
        cell: CellKind::Lstm,
        layers: 2,
        n_h: 20,
        seed: 11,
        tokens: TokenKind::Words,
        vocab: WORDS,
        scale: 1.5,
        dtype: Dtype::F32,
    });
    let settings = [
        ("--seed", "8"),
        ("--prime", "the  time\tmachine"),
        ("--length", "25"),
        ("--temperature", "1.0"),
        ("--count", "2"),
    ];
    let report = check_like_host(dir.path(), "words.lstm", &bytes, &settings);
    assert!(
        report.iter().any(|l| l.contains("(lstm x2)")),
        "the report names the model: {report:#?}"
    );
    assert!(
        report
            .iter()
            .any(|l| l.contains("each after a prime of 3 symbols")),
        "the prime is three words: {report:#?}"
    );
}

/// The console with a word model: each `gen` prints `host-trainer
/// sample`'s words and digest (a prime, then a stop word with the power-on
/// empty prime), and a prime word outside the vocabulary gets one error
/// line while the console carries on.
#[test]
fn console_prints_word_models_like_host_trainer_sample() {
    require_qemu();
    let dir = tempfile::tempdir().expect("temporary directory");
    let model = dir.path().join("words-gru.lstm");
    let bytes = family_model(&Spec {
        cell: CellKind::Gru,
        layers: 1,
        n_h: 20,
        seed: 5,
        tokens: TokenKind::Words,
        vocab: WORDS,
        scale: 1.5,
        dtype: Dtype::F32,
    });
    std::fs::write(&model, bytes).expect("writing the model");
    let env = [("LSTM_MODEL", path_str(&model))];
    let script =
        b"seed 7\nlen 12\ntemp 0.9\ngen the time\ngen the zebra\nstop a\ngen\nquit\n".to_vec();
    let _lock = firmware_lock();
    let args = [
        "run",
        "--features",
        "console",
        "--config",
        ".cargo/console.toml",
    ];
    let run = firmware_cargo_input(&args, &env, Some(script), Duration::from_secs(900));
    assert!(
        run.status.success(),
        "the console did not exit with 0 after quit:\n{}",
        run.both()
    );
    let blocks = console_blocks(&run.stdout);
    assert_eq!(
        blocks.len(),
        2,
        "two gens, two text blocks:\n{}",
        run.both()
    );
    assert!(
        run.stdout
            .contains("# error: a prime word is not in the model's vocabulary"),
        "the unknown prime word gets an error line:\n{}",
        run.both()
    );
    let host = |extra: &[&str]| {
        let mut args = vec!["--seed", "7", "--length", "12", "--temperature", "0.9"];
        args.extend_from_slice(extra);
        let (text, digest) = host_sample_digest(&model, &args);
        ConsoleBlock { text, digest }
    };
    assert_eq!(
        blocks[0],
        host(&["--prime", "the time"]),
        "gen with a prime"
    );
    assert_eq!(blocks[1], host(&["--stop-at", "a"]), "gen with a stop word");
}

/// A word model's prime with a word outside the vocabulary stops the build,
/// naming the word.
#[test]
fn unknown_prime_word_fails_the_firmware_build() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let model = dir.path().join("words.lstm");
    let bytes = family_model(&Spec {
        cell: CellKind::Gru,
        layers: 1,
        n_h: 8,
        seed: 3,
        tokens: TokenKind::Words,
        vocab: WORDS,
        scale: 1.5,
        dtype: Dtype::F32,
    });
    std::fs::write(&model, bytes).expect("writing the model");
    let _lock = firmware_lock();
    let out = firmware_cargo(
        "build",
        &[
            ("LSTM_MODEL", path_str(&model)),
            ("LSTM_PRIME", "the zebra"),
        ],
        Duration::from_secs(900),
    );
    assert!(
        !out.status.success(),
        "the build succeeded:\n{}",
        out.both()
    );
    assert!(
        out.both()
            .contains("LSTM_PRIME contains the word \"zebra\""),
        "the error names the word:\n{}",
        out.both()
    );
}

/// A 69-symbol vocabulary.
const CHARS69: &str = "\n !',-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The quantized hidden-256, 69-symbol model (whose f32 form does not fit
/// the Black Pill, `e2e.rs`): under QEMU it prints `host-trainer sample`'s
/// text and digest, and the Black Pill build links it.
#[test]
fn quantized_hidden_256_model_runs_like_the_host_and_builds_for_the_black_pill() {
    require_qemu();
    assert_eq!(CHARS69.chars().count(), 69);
    let dir = tempfile::tempdir().expect("temporary directory");
    let bytes = family_model(&Spec {
        cell: CellKind::Lstm,
        layers: 1,
        n_h: 256,
        seed: 256,
        tokens: TokenKind::Chars,
        vocab: CHARS69,
        scale: 0.15,
        dtype: Dtype::Q8,
    });
    let settings = [
        ("--seed", "3"),
        ("--prime", "The "),
        ("--length", "100"),
        ("--temperature", "0.9"),
    ];
    let report = check_like_host(dir.path(), "h256.q8.lstm", &bytes, &settings);
    assert!(
        report.iter().any(|l| l.contains("(lstm x1, q8)")),
        "the report names the dtype: {report:#?}"
    );
    let model = dir.path().join("h256.q8.lstm");
    let _lock = firmware_lock();
    let out = firmware_cargo_args(
        &["build", "--features", "black-pill"],
        &[("LSTM_MODEL", path_str(&model))],
        Duration::from_secs(900),
    );
    assert!(
        out.status.success(),
        "the quantized hidden-256 model does not build for the Black Pill:\n{}",
        out.both()
    );
}

/// q8-shared models (each layer's `w_ih` and `w_hh` on one set of scales,
/// emitted once): a 2-layer GRU (both `w_ih` layouts) and a 1-layer LSTM
/// print `host-trainer sample`'s text and digest, and the report names the
/// dtype.
#[test]
fn shared_scale_q8_models_run_like_the_host() {
    require_qemu();
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, cell, layers, n_h) in [
        ("gru2.q8s.lstm", CellKind::Gru, 2, 24),
        ("lstm1.q8s.lstm", CellKind::Lstm, 1, 40),
    ] {
        let bytes = family_model(&Spec {
            cell,
            layers,
            n_h,
            seed: 7 + n_h as u64,
            tokens: TokenKind::Chars,
            vocab: CHARS,
            scale: 0.6,
            dtype: Dtype::Q8Shared,
        });
        let settings = [
            ("--seed", "11"),
            ("--prime", "the "),
            ("--length", "100"),
            ("--temperature", "0.8"),
        ];
        let report = check_like_host(dir.path(), name, &bytes, &settings);
        let kind = format!("({} x{layers}, q8-shared)", cell.name());
        assert!(
            report.iter().any(|l| l.contains(&kind)),
            "{name}: the report names the model {kind}: {report:#?}"
        );
    }
}

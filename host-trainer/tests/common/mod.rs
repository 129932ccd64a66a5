//! Helpers shared by the integration tests: run the binary, check one-line user errors, write a small
//! corpus and train a model on it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `host-trainer` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host-trainer"))
}

/// Runs the binary with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

/// Asserts that a run succeeded (the message shows its stderr); returns it.
pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// Runs the binary with `args` and asserts that it succeeded (the message shows the args and stderr).
pub fn run_ok(args: &[&str]) -> Output {
    let o = run(args);
    assert!(o.status.success(), "host-trainer {args:?}: {}", stderr(&o));
    o
}

/// The run's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A temporary path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Exit code 1 with exactly one `error:` line mentioning `needle`, and no panic.
pub fn assert_user_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in {err}");
}

/// The names the test corpora are made of.
pub const NAMES: [&str; 10] = [
    "aardonyx",
    "abelisaurus",
    "abrictosaurus",
    "acanthopholis",
    "achelousaurus",
    "bambiraptor",
    "camarasaurus",
    "diplodocus",
    "edmontosaurus",
    "gallimimus",
];

/// Writes `dir/names.txt`, `lines` lines, line `i` being `NAMES[pick(i)]`; returns its path.
pub fn names_corpus(dir: &Path, lines: usize, pick: impl Fn(usize) -> usize) -> PathBuf {
    let path = dir.join("names.txt");
    let text: String = (0..lines)
        .map(|i| format!("{}\n", NAMES[pick(i)]))
        .collect();
    std::fs::write(&path, text).expect("write corpus");
    path
}

/// `train --corpus corpus --out out` with `extra` flags.
pub fn train(corpus: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--corpus", s(corpus), "--out", s(out)];
    args.extend_from_slice(extra);
    run(&args)
}

/// [`train`], asserted to succeed.
pub fn train_ok(corpus: &Path, out: &Path, extra: &[&str]) -> Output {
    ok(train(corpus, out, extra))
}

/// `import --safetensors st --vocab vocab --out out` with `extra` flags.
pub fn import(st: &str, vocab: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "import",
        "--safetensors",
        st,
        "--vocab",
        vocab,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// `export --model model --safetensors st --vocab vocab`.
pub fn export(model: &str, st: &str, vocab: &str) -> Output {
    run(&[
        "export",
        "--model",
        model,
        "--safetensors",
        st,
        "--vocab",
        vocab,
    ])
}

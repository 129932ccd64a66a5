//! Helpers shared by the CLI tests: run the binary, check one-line user errors.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The `host-trainer` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host-trainer"))
}

/// Runs the binary with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
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

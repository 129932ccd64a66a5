//! Helpers for the end-to-end tests: run the `host-trainer` binary, build and
//! run the firmware under QEMU, with time limits, and read the firmware's
//! output.
//!
//! How the pieces are found:
//!
//! - **host-trainer**: the path in `HOST_TRAINER` if set; otherwise the tests
//!   run `cargo build --release -p host-trainer` in the workspace (cargo
//!   compiles only what changed) and use `<target dir>/release/host-trainer`.
//!   Cargo gives a test the paths of its *own* package's binaries only
//!   (`CARGO_BIN_EXE_*`), so a dev-dependency on host-trainer would not do.
//! - **firmware**: `cargo run --release` in `firmware-example/` (its own
//!   `.cargo/config.toml` picks the target and the QEMU runner), with
//!   `CARGO_TARGET_DIR=<target dir>/e2e-firmware` so it neither fights the
//!   host build over a lock nor mixes host and firmware artefacts.
//! - **QEMU**: `qemu-system-arm` on `PATH`; if it is missing the tests fail
//!   and say how to install it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root (the parent of this package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package sits inside the workspace")
        .to_path_buf()
}

/// The workspace's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => workspace_root().join(d),
        _ => workspace_root().join("target"),
    }
}

/// The `cargo` that runs the tests (cargo sets `CARGO` for them).
fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // Flags meant for the host build must not reach the firmware build:
    // RUSTFLAGS would replace its linker-script flags from .cargo/config.toml.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "LSTM_MODEL",
        "LSTM_SEED",
        "LSTM_PRIME",
        "LSTM_LENGTH",
        "LSTM_TEMPERATURE",
        "LSTM_TOP_K",
        "LSTM_TOP_P",
        "LSTM_STOP_AT",
        "LSTM_COUNT",
        "LSTM_CONSOLE",
    ] {
        c.env_remove(var);
    }
    c
}

/// What a finished process left behind.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to standard output.
    pub stdout: String,
    /// Everything written to standard error.
    pub stderr: String,
}

impl Output {
    /// Both streams, for failure messages.
    pub fn both(&self) -> String {
        format!(
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
///
/// # Panics
/// If it cannot start, or runs over `limit` (the message names `what`).
pub fn run(cmd: Command, what: &str, limit: Duration) -> Output {
    run_with_input(cmd, None, what, limit)
}

/// As [`run`], writing `input` (if any) to the child's standard input, then closing it.
///
/// # Panics
/// As [`run`].
pub fn run_with_input(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    what: &str,
    limit: Duration,
) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
    // Read both pipes on threads, so a chatty child never blocks on a full pipe.
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let in_t = child.stdin.take().zip(input).map(|(mut w, bytes)| {
        std::thread::spawn(move || {
            use std::io::Write;
            // The child may exit before reading everything: not an error here.
            let _ = w.write_all(&bytes);
        })
    });
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for the child") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {} s and was killed ({cmd:?})",
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(t) = in_t {
        let _ = t.join();
    }
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// The host-trainer binary: `HOST_TRAINER`, or built once with
/// `cargo build --release -p host-trainer`.
///
/// # Panics
/// If the build fails.
pub fn host_trainer() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("HOST_TRAINER") {
            return PathBuf::from(p);
        }
        let mut c = cargo();
        c.current_dir(workspace_root())
            .args(["build", "--release", "-p", "host-trainer"])
            .env("CARGO_TARGET_DIR", target_dir());
        let out = run(c, "cargo build -p host-trainer", Duration::from_secs(1200));
        assert!(
            out.status.success(),
            "building host-trainer failed:\n{}",
            out.both()
        );
        target_dir()
            .join("release")
            .join(format!("host-trainer{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Runs `host-trainer` with `args` in `dir`.
///
/// # Panics
/// If it fails or takes longer than `limit`.
pub fn host_trainer_ok(dir: &Path, args: &[&str], limit: Duration) -> Output {
    let mut c = Command::new(host_trainer());
    c.current_dir(dir).args(args);
    let out = run(c, &format!("host-trainer {}", args.join(" ")), limit);
    assert!(
        out.status.success(),
        "host-trainer {} failed:\n{}",
        args.join(" "),
        out.both()
    );
    out
}

/// Fails with install instructions if `qemu-system-arm` is not on `PATH`.
///
/// # Panics
/// If QEMU is missing.
pub fn require_qemu() {
    let found = Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "qemu-system-arm is not installed, and the firmware tests run the firmware under it. \
         Install it (Debian/Ubuntu: `apt-get install qemu-system-arm`; macOS: `brew install qemu`) \
         and make sure `qemu-system-arm` is on PATH."
    );
}

/// The firmware crate's directory.
pub fn firmware_dir() -> PathBuf {
    workspace_root().join("firmware-example")
}

/// Serialises the firmware builds: they share one target directory, and a
/// test waiting on cargo's lock would spend its time limit waiting.
pub fn firmware_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `cargo <subcommand> --release` in `firmware-example/` with the
/// `LSTM_*` settings in `env` (e.g. `("LSTM_MODEL", path)`).
///
/// Call with [`firmware_lock`] held.
pub fn firmware_cargo(subcommand: &str, env: &[(&str, &str)], limit: Duration) -> Output {
    firmware_cargo_args(&[subcommand], env, limit)
}

/// As [`firmware_cargo`], with more arguments after the subcommand (e.g.
/// `["build", "--features", "black-pill"]`); `--release` is added.
pub fn firmware_cargo_args(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    firmware_cargo_input(args, env, None, limit)
}

/// As [`firmware_cargo_args`], with `input` on the standard input (the
/// console's serial port under QEMU, for `run --features console`).
pub fn firmware_cargo_input(
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<Vec<u8>>,
    limit: Duration,
) -> Output {
    let subcommand = args.join(" ");
    let mut c = cargo();
    c.current_dir(firmware_dir())
        .args(args)
        .arg("--release")
        .env("CARGO_TARGET_DIR", target_dir().join("e2e-firmware"));
    for (k, v) in env {
        c.env(k, v);
    }
    run_with_input(
        c,
        input,
        &format!("cargo {subcommand} --release in firmware-example"),
        limit,
    )
}

/// The text the firmware generated, from its output (see the contract in
/// `firmware-example/src/main.rs`): the N bytes that follow the line
/// `# text begins`, where N is given by the line `# text ends (N bytes)`.
///
/// Semihosting output lands on QEMU's stdout or stderr depending on the QEMU
/// version and options, so both are searched.
pub fn firmware_text(out: &Output) -> Option<String> {
    [&out.stdout, &out.stderr]
        .into_iter()
        .find_map(|s| text_between_markers(s))
}

/// The text between `# text begins` and `# text ends (N bytes)` in one output stream: exactly N bytes.
pub fn text_between_markers(s: &str) -> Option<String> {
    const BEGIN: &str = "# text begins\n";
    let start = s.find(BEGIN)? + BEGIN.len();
    let rest = &s[start..];
    // The end line comes after the text, so search for the last one.
    let end_line = rest.rfind("# text ends (")?;
    let tail = &rest[end_line + "# text ends (".len()..];
    let n: usize = tail.split(' ').next()?.parse().ok()?;
    rest.get(..n).map(str::to_owned)
}

/// One `gen` of the console: its text and its `# state digest: 0x…` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleBlock {
    /// The text, as in [`text_between_markers`].
    pub text: String,
    /// The digest, e.g. `0x656b0f99`.
    pub digest: String,
}

/// The text blocks of a console session's output (the serial port writes
/// each newline as CR LF; they are turned back into newlines first).
pub fn console_blocks(serial: &str) -> Vec<ConsoleBlock> {
    const BEGIN: &str = "# text begins\n";
    let s = serial.replace("\r\n", "\n");
    let starts: Vec<usize> = s.match_indices(BEGIN).map(|(i, _)| i).collect();
    let mut blocks = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(s.len());
        let part = &s[start..end];
        if let Some(text) = text_between_markers(part) {
            let digest = part
                .lines()
                .find_map(|l| l.strip_prefix("# state digest: "))
                .unwrap_or_default()
                .to_string();
            blocks.push(ConsoleBlock { text, digest });
        }
    }
    blocks
}

/// The `# ` lines of the firmware's output.
pub fn firmware_report(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| l.starts_with("# ") && !l.starts_with("# text "))
        .map(str::to_owned)
        .collect()
}

/// `host-trainer sample --model MODEL --digest ARGS…` (run in the model's
/// directory): its standard output and the state digest it prints on
/// standard error (`0x…`).
///
/// # Panics
/// If it fails or prints no digest.
pub fn host_sample_digest(model: &Path, args: &[&str]) -> (String, String) {
    let model_str = model.to_str().expect("model paths are UTF-8");
    let mut all = vec!["sample", "--model", model_str, "--digest"];
    all.extend_from_slice(args);
    let out = host_trainer_ok(
        model.parent().expect("model has a directory"),
        &all,
        Duration::from_secs(60),
    );
    let digest = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("state digest: "))
        .unwrap_or_else(|| panic!("no `state digest:` line from host-trainer:\n{}", out.both()))
        .to_string();
    (out.stdout, digest)
}

/// The digest from the firmware's `# state digest: 0x…` report line.
///
/// # Panics
/// If there is none.
pub fn firmware_digest(report: &[String]) -> String {
    report
        .iter()
        .find_map(|l| l.strip_prefix("# state digest: "))
        .unwrap_or_else(|| panic!("no `# state digest:` line from the firmware: {report:#?}"))
        .to_string()
}

/// Builds the firmware with the `LSTM_*` settings in `env`, runs it under
/// QEMU, and returns its text and its `# ` report lines (takes
/// [`firmware_lock`]).
///
/// # Panics
/// If the build or the run fails, or the output has no text markers.
pub fn firmware_sample_env(env: &[(&str, &str)]) -> (String, Vec<String>) {
    let _lock = firmware_lock();
    // Build first (slow the first time), then run (QEMU takes well under a second).
    let build = firmware_cargo("build", env, Duration::from_secs(900));
    assert!(
        build.status.success(),
        "firmware build failed:\n{}",
        build.both()
    );
    let run = firmware_cargo("run", env, Duration::from_secs(120));
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

#[cfg(test)]
mod tests {
    use super::text_between_markers;

    #[test]
    fn extracts_text_with_newlines_and_marker_lookalikes() {
        let text = "ab\n# text ends (3 bytes)\nc";
        let s = format!(
            "# head\n# text begins\n{text}\n# text ends ({} bytes)\n# tail\n",
            text.len()
        );
        assert_eq!(text_between_markers(&s).as_deref(), Some(text));
    }
}

//! Project automation, the `cargo xtask` convention:
//!
//! - `cargo xtask demo [--corpus PATH] [--steps N]`: train a small model on
//!   the default corpus, export it, sample on the host, then build the
//!   firmware with it, run it on an emulated Cortex-M4F under QEMU and check
//!   it printed the host's text with the same state digest;
//! - `cargo xtask test`: everything CI checks (fmt, clippy, docs, the whole
//!   workspace's tests including the QEMU end-to-end test, the no_std build
//!   and the board build of the firmware, lstm-core's kernel conformance
//!   suite on the Cortex-M4F under QEMU, and lstm-core built with its
//!   declared rust-version when that toolchain is installed). On an x86-64
//!   CPU with AVX2 and FMA it sets `LSTM_REQUIRE_SIMD=1`, so a test that
//!   would skip the SIMD kernel fails instead.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(),
        _ => {
            eprintln!(
                "usage: cargo xtask demo [--corpus PATH] [--steps N]\n       cargo xtask test"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("\n==> {what}");
    let status = cmd.status().with_context(|| format!("starting: {what}"))?;
    if !status.success() {
        bail!("failed: {what} ({status})");
    }
    Ok(())
}

/// Makes sure `qemu-system-arm` is on the PATH, installing it with apt when it can.
fn ensure_qemu() -> Result<()> {
    let have = |c: &str| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have("qemu-system-arm") {
        return Ok(());
    }
    eprintln!("qemu-system-arm is missing; trying to install it with apt-get");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let sudo = if is_root { None } else { Some("sudo") };
    if have("apt-get") && (is_root || have("sudo")) {
        let apt = |args: &[&str]| {
            let mut c = match sudo {
                Some(s) => {
                    let mut c = Command::new(s);
                    c.arg("apt-get");
                    c
                }
                None => Command::new("apt-get"),
            };
            c.args(args);
            c
        };
        run("apt-get update", &mut apt(&["update", "-qq"]))?;
        run(
            "apt-get install qemu-system-arm",
            &mut apt(&["install", "-y", "-qq", "qemu-system-arm"]),
        )?;
        if have("qemu-system-arm") {
            return Ok(());
        }
    }
    bail!(
        "qemu-system-arm is not installed. Install it with:\n  sudo apt-get install qemu-system-arm   (Debian/Ubuntu)\n  brew install qemu                      (macOS)\n  sudo dnf install qemu-system-arm       (Fedora)"
    )
}

fn demo(args: &[String]) -> Result<()> {
    let root = root();
    let mut corpus = root.join("data/timemachine.txt");
    // Under a minute on a 2-core laptop (~170k tokens/s); the same steps and seed give the same model.
    let mut steps = 4000u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--corpus" => corpus = it.next().context("--corpus needs a path")?.into(),
            "--steps" => {
                steps = it
                    .next()
                    .context("--steps needs a number")?
                    .parse()
                    .context("--steps needs a whole number")?
            }
            other => bail!("unknown argument {other:?} (expected --corpus PATH or --steps N)"),
        }
    }
    ensure_qemu()?;
    let out = root.join("target/demo");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let model = out.join("model.lstm");
    let plot = out.join("loss.png");
    let log = out.join("loss.csv");
    run(
        "building host-trainer (release)",
        cargo()
            .current_dir(&root)
            .args(["build", "--release", "-p", "host-trainer"]),
    )?;
    let trainer = root.join("target/release/host-trainer");
    run(
        &format!("training on {} for {steps} steps", corpus.display()),
        Command::new(&trainer)
            .arg("train")
            .arg("--corpus")
            .arg(&corpus)
            .arg("--out")
            .arg(&model)
            .args(["--mode", "stream", "--hidden", "128", "--seq-len", "64"])
            .args(["--batch", "32", "--optimizer", "adam", "--lr", "0.005"])
            .args(["--clip-norm", "5", "--val-fraction", "0.05", "--seed", "1"])
            .args(["--steps", &steps.to_string()])
            .args(["--sample-every", "200"])
            .arg("--plot")
            .arg(&plot)
            .arg("--log")
            .arg(&log),
    )?;
    run(
        "sampling three texts on the host",
        Command::new(&trainer)
            .arg("sample")
            .arg("--model")
            .arg(&model)
            .args([
                "--prime",
                "The Time ",
                "--length",
                "200",
                "--temperature",
                "0.6",
            ])
            .args(["--seed", "7", "--count", "3"]),
    )?;
    let firmware_env = [
        ("LSTM_MODEL", model.as_os_str()),
        ("LSTM_PRIME", "The Time ".as_ref()),
        ("LSTM_TEMPERATURE", "0.6".as_ref()),
        ("LSTM_SEED", "7".as_ref()),
        ("LSTM_LENGTH", "200".as_ref()),
    ];
    run(
        "building the firmware with this model (Cortex-M4F, weights in flash)",
        cargo()
            .current_dir(root.join("firmware-example"))
            .envs(firmware_env)
            .args(["build", "--release"]),
    )?;
    let firmware = capture(
        "running it under QEMU (mps2-an386)",
        cargo()
            .current_dir(root.join("firmware-example"))
            .envs(firmware_env)
            .args(["run", "--release", "--quiet"]),
    )?;
    print!("{}", firmware.stdout);
    // The firmware's one sample against the host's, with the same settings:
    // the same text, and the same bits behind it.
    let host = capture(
        "the same sample on the host, with the digest of its final state",
        Command::new(&trainer)
            .arg("sample")
            .arg("--model")
            .arg(&model)
            .args(["--prime", "The Time ", "--length", "200"])
            .args(["--temperature", "0.6", "--seed", "7", "--digest"]),
    )?;
    let fw_text = [&firmware.stdout, &firmware.stderr]
        .into_iter()
        .find_map(|s| lstm_e2e::text_between_markers(s))
        .context("the firmware printed no `# text begins` / `# text ends` block")?;
    let digest = |s: &str, prefix: &str| -> Option<String> {
        s.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
    };
    let fw_digest = digest(&firmware.stdout, "# state digest: ")
        .or_else(|| digest(&firmware.stderr, "# state digest: "))
        .context("the firmware printed no `# state digest:` line")?;
    let host_digest = digest(&host.stderr, "state digest: ")
        .context("host-trainer sample --digest printed no `state digest:` line")?;
    if fw_text != host.stdout || fw_digest != host_digest {
        bail!(
            "the firmware and the host disagree:\n  host:     {:?} (digest {host_digest})\n  firmware: {fw_text:?} (digest {fw_digest})",
            host.stdout
        );
    }
    eprintln!("\nmodel:     {}", model.display());
    eprintln!("loss plot: {}", plot.display());
    eprintln!("loss log:  {}", log.display());
    eprintln!(
        "\nChecked: the firmware printed the host's text for the same settings, and the same state digest ({fw_digest}): same kernels, same bits."
    );
    Ok(())
}

/// A finished command's output, as text.
struct Captured {
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to the end and returns what it printed; fails (showing its stderr) if it fails.
fn capture(what: &str, cmd: &mut Command) -> Result<Captured> {
    eprintln!("\n==> {what}");
    let out = cmd.output().with_context(|| format!("starting: {what}"))?;
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let (stdout, stderr) = (text(out.stdout), text(out.stderr));
    if !out.status.success() {
        bail!("failed: {what} ({})\n{stderr}", out.status);
    }
    Ok(Captured { stdout, stderr })
}

/// Whether this CPU runs the x86-64 SIMD kernel (AVX2 + FMA).
fn cpu_has_simd_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The `rust-version` declared in `lstm-core/Cargo.toml`.
fn lstm_core_rust_version(root: &Path) -> Result<String> {
    let path = root.join("lstm-core/Cargo.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "rust-version").then(|| value.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("no rust-version in {}", path.display()))
}

/// Builds lstm-core (host and no_std) with the toolchain of its declared
/// rust-version if rustup has it; otherwise prints a skip line saying why.
fn msrv_build(root: &Path) -> Result<()> {
    let version = lstm_core_rust_version(root)?;
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let toolchain = listed.as_deref().ok().and_then(|list| {
        list.lines()
            .filter_map(|l| l.split_whitespace().next())
            .find(|t| {
                t.strip_prefix(version.as_str())
                    .is_some_and(|rest| rest.starts_with('-') || rest.starts_with(".0-"))
            })
            .map(str::to_owned)
    });
    let Some(toolchain) = toolchain else {
        let why = match listed {
            Ok(_) => "`rustup toolchain list` has no such toolchain".to_owned(),
            Err(e) => format!("`rustup toolchain list` failed: {e}"),
        };
        eprintln!(
            "\n==> skip: lstm-core's declared rust-version {version} not built: {why} (install it with `rustup toolchain add {version} --target thumbv7em-none-eabihf`)"
        );
        return Ok(());
    };
    let plus = format!("+{toolchain}");
    run(
        &format!("lstm-core with its declared rust-version ({toolchain})"),
        Command::new("cargo").current_dir(root).args([
            plus.as_str(),
            "build",
            "-p",
            "lstm-core",
            "--features",
            "std",
        ]),
    )?;
    run(
        &format!("lstm-core for thumbv7em-none-eabihf with {toolchain}"),
        Command::new("cargo").current_dir(root).args([
            plus.as_str(),
            "build",
            "-p",
            "lstm-core",
            "--target",
            "thumbv7em-none-eabihf",
        ]),
    )
}

/// The host's target triple (`rustc -vV`), for running the firmware's library tests on the host.
fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host line")
}

fn test() -> Result<()> {
    let root = root();
    let fw = root.join("firmware-example");
    let m4f = root.join("conformance-m4f");
    ensure_qemu()?;
    run(
        "cargo fmt --check",
        cargo().current_dir(&root).args(["fmt", "--all", "--check"]),
    )?;
    run(
        "cargo fmt --check (firmware-example)",
        cargo().current_dir(&fw).args(["fmt", "--check"]),
    )?;
    run(
        "cargo fmt --check (conformance-m4f)",
        cargo().current_dir(&m4f).args(["fmt", "--check"]),
    )?;
    run(
        "cargo clippy (workspace)",
        cargo().current_dir(&root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "cargo clippy (firmware-example)",
        cargo()
            .current_dir(&fw)
            .args(["clippy", "--release", "--", "-D", "warnings"]),
    )?;
    run(
        "cargo clippy (conformance-m4f)",
        cargo()
            .current_dir(&m4f)
            .args(["clippy", "--release", "--", "-D", "warnings"]),
    )?;
    run(
        "cargo clippy (firmware-example, console on the board)",
        cargo().current_dir(&fw).args([
            "clippy",
            "--release",
            "--features",
            "black-pill,console",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The console's line protocol, unit- and property-tested (arbitrary
    // bytes never panic, valid commands round-trip) on the host.
    let host = host_triple()?;
    run(
        "firmware-example console parser tests (host, proptest)",
        cargo()
            .current_dir(&fw)
            .args(["test", "--lib", "--target", &host]),
    )?;
    run(
        "cargo doc",
        cargo()
            .current_dir(&root)
            .env("RUSTDOCFLAGS", "-D warnings")
            .args(["doc", "--no-deps", "--workspace"]),
    )?;
    run(
        "lstm-core for thumbv7em-none-eabihf (no_std)",
        cargo().current_dir(&root).args([
            "build",
            "-p",
            "lstm-core",
            "--release",
            "--target",
            "thumbv7em-none-eabihf",
        ]),
    )?;
    run(
        "firmware for the STM32F411 board",
        cargo()
            .current_dir(&fw)
            .args(["build", "--release", "--features", "black-pill"]),
    )?;
    msrv_build(&root)?;
    let mut tests = cargo();
    tests
        .current_dir(&root)
        .args(["test", "--workspace", "--release"]);
    if cpu_has_simd_kernel() {
        eprintln!("\nthis CPU has AVX2 and FMA: LSTM_REQUIRE_SIMD=1 (a skipped SIMD test fails)");
        tests.env("LSTM_REQUIRE_SIMD", "1");
    }
    run(
        "firmware for the STM32F411 board, with the console",
        cargo()
            .current_dir(&fw)
            .args(["build", "--release", "--features", "black-pill,console"]),
    )?;
    run(
        "cargo test (workspace, including QEMU end-to-end)",
        &mut tests,
    )?;
    run(
        "kernel conformance suite on the Cortex-M4F (QEMU mps2-an386)",
        cargo().current_dir(&m4f).args(["run", "--release"]),
    )?;
    eprintln!("\nall checks passed");
    Ok(())
}

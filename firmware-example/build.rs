//! Turns a model file into firmware, at build time.
//!
//! A microcontroller has no file system, and its RAM is far smaller than its
//! flash, so the model has to become part of the program image. This script
//! reads the file named by `LSTM_MODEL` (default `models/default.lstm`,
//! relative to this crate), validates it with the same decoder the host uses
//! (`lstm_core::format::decode_family`: version 1 or 2), checks that it fits
//! the board, and has `build/emit.rs` write `$OUT_DIR/model.rs`: the
//! dimensions as `const`s; for a single-layer f32 LSTM character model,
//! every weight matrix as a `static` nalgebra `SMatrix` built by a `const
//! fn` (the `Lstm`'s const generics); for any other model of the family (1
//! to 4 layers of lstm, gru or tanh rnn, over characters or words, f32 or
//! q8) each layer's tensors as `static` arrays in the file's layout (q8:
//! word-aligned int8 values and their scales), run through
//! `lstm_core::NetworkView` — either way in `.rodata`, in flash, never
//! copied to RAM; `Runner`, the `lstm_core::OneCell` of the model's cell
//! kind and dtype; `with_generator` over the model; and the generation
//! settings (`LSTM_SEED`, `LSTM_PRIME`, `LSTM_LENGTH`, `LSTM_TEMPERATURE`,
//! `LSTM_TOP_K`, `LSTM_TOP_P`, `LSTM_STOP_AT`, `LSTM_COUNT`, as
//! `host-trainer sample`'s flags). A missing, corrupted, truncated or
//! unusable file, a model that does not fit, or a bad setting stops the
//! build with one message naming the file and the problem.
//!
//! It also copies the memory layout of the chosen board into `$OUT_DIR` as
//! `memory.x`, where cortex-m-rt's `link.x` finds it, as cortex-m-quickstart's
//! build script does.

use std::path::{Path, PathBuf};
use std::{env, fs};

use lstm_core::board::{self, Board};
use lstm_core::format::{self, FamilyView, InputKind, TokenKind};
use lstm_core::{SamplerConfig, text};

/// Writing `model.rs`.
#[path = "build/emit.rs"]
mod emit;

/// The model built in when `LSTM_MODEL` is not set (relative to this crate).
const DEFAULT_MODEL: &str = "models/default.lstm";

/// The generation settings, with their defaults.
struct Settings {
    seed: u64,
    prime: String,
    length: usize,
    temperature: f32,
    top_k: usize,
    top_p: f32,
    stop_at: Option<char>,
    count: usize,
}

fn main() {
    if let Err(message) = run() {
        // `cargo::error` shows exactly this message (no backtrace, no dump of
        // the script's output) and fails the build.
        for line in message.lines() {
            println!("cargo::error={line}");
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);

    let board = copy_memory_x(&manifest_dir, &out_dir)?;

    println!("cargo::rerun-if-env-changed=LSTM_MODEL");
    // Relative paths are relative to this crate (where cargo runs build scripts).
    let model_path = match env::var_os("LSTM_MODEL") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_MODEL),
    };
    println!(
        "cargo::rerun-if-changed={}",
        manifest_dir.join(&model_path).display()
    );
    let settings = read_settings()?;

    let bytes = fs::read(manifest_dir.join(&model_path)).map_err(|e| {
        format!(
            "cannot read model file {}: {e} (set LSTM_MODEL to a file exported by `host-trainer train`)",
            model_path.display()
        )
    })?;
    let family = format::decode_family(&bytes)
        .map_err(|e| format!("model file {} is not usable: {e}", model_path.display()))?;
    let header = family.header;
    check_family(&family, &settings)
        .map_err(|e| format!("model file {}: {e}", model_path.display()))?;
    // Refuse a model the board cannot hold now, not with a linker error later.
    let fit = board::fit(&board, header.dims, header.weight_bytes());
    if !fit.fits() {
        return Err(format!(
            "model file {} does not fit the board: {fit}",
            model_path.display()
        ));
    }

    // A single-layer f32 LSTM character model keeps the nalgebra
    // const-generic path (what the shipped model has always run); every
    // other family member runs through `lstm_core::NetworkView`.
    let source = match family.plain() {
        Ok(model) => emit::model_rs(&model, &settings, &model_path, bytes.len()),
        Err(_) => emit::network_rs(&family, &settings, &model_path, bytes.len())
            .map_err(|e| format!("model file {}: {e}", model_path.display()))?,
    };
    let dest = out_dir.join("model.rs");
    fs::write(&dest, source).map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

fn env_var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("{name} is not set (is this running under cargo?)"))
}

/// Copies `memory-<board>.x` to `$OUT_DIR/memory.x`, puts it on the linker's
/// search path, and returns the board (after checking the file's FLASH and
/// RAM lengths are `lstm_core::board`'s, which the fit check uses).
fn copy_memory_x(manifest_dir: &Path, out_dir: &Path) -> Result<Board, String> {
    let board = if env::var_os("CARGO_FEATURE_BLACK_PILL").is_some() {
        Board::BLACK_PILL
    } else {
        Board::MPS2_AN386
    };
    let src = manifest_dir.join(format!("memory-{}.x", board.name));
    let layout =
        fs::read_to_string(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    for (region, expected) in [("FLASH", board.flash), ("RAM", board.ram)] {
        let found = region_length(&layout, region);
        if found != Some(expected) {
            return Err(format!(
                "{}: the {region} length ({found:?} bytes) differs from lstm_core::board's {} ({expected} bytes); change both together",
                src.display(),
                board.name
            ));
        }
    }
    fs::write(out_dir.join("memory.x"), layout)
        .map_err(|e| format!("cannot write memory.x: {e}"))?;
    println!("cargo::rustc-link-search={}", out_dir.display());
    println!("cargo::rerun-if-changed=memory-mps2-an386.x");
    println!("cargo::rerun-if-changed=memory-black-pill.x");
    Ok(board)
}

/// The `LENGTH = 512K` (or `4M`, or a plain number) of `region` in a linker script's MEMORY block.
fn region_length(layout: &str, region: &str) -> Option<usize> {
    let line = layout
        .lines()
        .find(|l| l.trim_start().starts_with(region) && l.contains("LENGTH"))?;
    let v = line
        .split("LENGTH")
        .nth(1)?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    let (digits, scale) = match v.chars().last()? {
        'K' => (&v[..v.len() - 1], 1 << 10),
        'M' => (&v[..v.len() - 1], 1 << 20),
        _ => (v, 1),
    };
    digits.trim().parse::<usize>().ok().map(|n| n * scale)
}

/// Reads one `LSTM_*` setting, or returns `default` if it is unset or empty.
fn setting<T: std::str::FromStr>(name: &str, default: T, what: &str) -> Result<T, String> {
    println!("cargo::rerun-if-env-changed={name}");
    match env::var(name) {
        Err(env::VarError::NotPresent) => Ok(default),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
        Ok(v) if v.trim().is_empty() => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not {what}")),
    }
}

/// Reads a whole-number setting and checks it is in `min..=max` (the ranges
/// of `host-trainer sample`, from `lstm_core::text`; all below 2^32, so the
/// value is a `usize` on the 32-bit target too).
fn count_setting(name: &str, default: usize, min: usize, max: usize) -> Result<usize, String> {
    let what = format!("a whole number in {min}..={max}");
    let v: u64 = setting(name, default as u64, &what)?;
    if (min as u64..=max as u64).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("{name}={v} is out of range: expected {what}"))
    }
}

fn read_settings() -> Result<Settings, String> {
    println!("cargo::rerun-if-env-changed=LSTM_PRIME");
    let prime = match env::var("LSTM_PRIME") {
        Ok(p) => p,
        Err(env::VarError::NotPresent) => String::new(),
        Err(env::VarError::NotUnicode(_)) => return Err("LSTM_PRIME is not valid UTF-8".into()),
    };
    println!("cargo::rerun-if-env-changed=LSTM_STOP_AT");
    let stop_at = match env::var("LSTM_STOP_AT") {
        Ok(v) if v.is_empty() => None,
        Ok(v) => Some(text::parse_symbol(&v).map_err(|e| format!("LSTM_STOP_AT={v:?}: {e}"))?),
        Err(env::VarError::NotPresent) => None,
        Err(env::VarError::NotUnicode(_)) => return Err("LSTM_STOP_AT is not valid UTF-8".into()),
    };
    let temperature: f32 = setting("LSTM_TEMPERATURE", 0.8, "a number")?;
    if !(0.0..=text::MAX_TEMPERATURE).contains(&temperature) {
        return Err(format!(
            "LSTM_TEMPERATURE={temperature} is out of range: expected 0..={} (0 is greedy)",
            text::MAX_TEMPERATURE
        ));
    }
    let s = Settings {
        stop_at,
        count: count_setting("LSTM_COUNT", 1, 1, text::MAX_COUNT)?,
        seed: setting(
            "LSTM_SEED",
            42,
            "a whole number in 0..=18446744073709551615",
        )?,
        prime,
        length: count_setting("LSTM_LENGTH", 200, 0, text::MAX_LENGTH)?,
        temperature,
        top_k: count_setting("LSTM_TOP_K", 0, 0, text::MAX_TOP_K)?,
        top_p: setting("LSTM_TOP_P", 1.0, "a number in (0, 1]")?,
    };
    SamplerConfig {
        temperature: s.temperature,
        top_k: s.top_k,
        top_p: s.top_p,
    }
    .validate()
    .map_err(|e| format!("LSTM_TEMPERATURE / LSTM_TOP_P: {e}"))?;
    Ok(s)
}

/// What the firmware needs beyond what `decode_family` checks: a model
/// with one-hot input (characters or words, f32 or q8) and a prime made of
/// its symbols.
fn check_family(family: &FamilyView<'_>, s: &Settings) -> Result<(), String> {
    let h = &family.header;
    if h.input != InputKind::OneHot {
        return Err(
            "it takes dense input vectors; this firmware generates text and needs a \
             character model (one-hot input)"
                .into(),
        );
    }
    let unknown = match h.tokens {
        TokenKind::Chars => s
            .prime
            .chars()
            .find(|&c| !family.vocab.contains(c))
            .map(|c| format!("{c:?}")),
        TokenKind::Words => s
            .prime
            .split_whitespace()
            .find(|w| !h.tokens.symbols(family.vocab).any(|v| v == *w))
            .map(|w| format!("the word {w:?}")),
    };
    if let Some(what) = unknown {
        return Err(format!(
            "LSTM_PRIME contains {what}, which is not in the model's vocabulary {:?}",
            family.vocab
        ));
    }
    Ok(())
}

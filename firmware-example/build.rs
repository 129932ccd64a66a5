//! Turns a model file into firmware, at build time.
//!
//! A microcontroller has no file system, and its RAM is far smaller than its
//! flash, so the model has to become part of the program image. This script
//! reads the file named by `LSTM_MODEL` (default `models/default.lstm`,
//! relative to this crate), validates it with the same decoder the host uses
//! (`lstm_core::format::decode_family`: version 1 or 2), and writes
//! `$OUT_DIR/model.rs`: the dimensions as `const`s; for a single-layer f32
//! LSTM character model, every weight matrix as a `static` nalgebra `SMatrix` built by a
//! `const fn` (the `Lstm`'s const generics), for any other f32 model of
//! the family (1 to 4 layers of lstm, gru or tanh rnn, over characters or
//! words) each
//! layer's tensors as `static` `[f32; N]` arrays in the file's layout, run
//! through `lstm_core::NetworkView` — either way in `.rodata`, in flash,
//! never copied to RAM; `with_generator` over the model; and the
//! generation settings (`LSTM_SEED`, `LSTM_PRIME`, `LSTM_LENGTH`,
//! `LSTM_TEMPERATURE`, `LSTM_TOP_K`, `LSTM_TOP_P`, `LSTM_STOP_AT`,
//! `LSTM_COUNT`, as `host-trainer sample`'s flags). A missing, corrupted,
//! truncated or unusable file, or a bad setting, stops the build with one
//! message naming the file and the problem.
//!
//! It also copies the memory layout of the chosen board into `$OUT_DIR` as
//! `memory.x`, where cortex-m-rt's `link.x` finds it, as cortex-m-quickstart's
//! build script does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

use lstm_core::NetworkView;
use lstm_core::board::{self, Board};
use lstm_core::format::{
    self, CellKind, Dtype, FamilyView, Header, InputKind, ModelView, TokenKind,
};
use lstm_core::{SamplerConfig, text};

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
        Ok(model) => model_rs(&model, &settings, &model_path, bytes.len()),
        Err(_) => network_rs(&family, &settings, &model_path, bytes.len())
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

/// What the firmware needs beyond what `decode_family` checks: an f32
/// model with one-hot input (characters or words) and a prime made of its
/// symbols.
fn check_family(family: &FamilyView<'_>, s: &Settings) -> Result<(), String> {
    let h = &family.header;
    if h.input != InputKind::OneHot {
        return Err(
            "it takes dense input vectors; this firmware generates text and needs a \
             character model (one-hot input)"
                .into(),
        );
    }
    if h.dtype != Dtype::F32 {
        return Err("it has q8 weights; this firmware runs f32 models only".into());
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

/// Writes `values` (a tensor's elements in file order) as an `ArrayStorage`
/// of `cols` columns of `rows` values: nalgebra is column-major, so the
/// file's row-major `[cols][rows]` block is exactly the column-major storage
/// of a `rows × cols` matrix.
fn storage(out: &mut String, values: &mut dyn Iterator<Item = f32>, rows: usize, cols: usize) {
    out.push_str("ArrayStorage([");
    for _ in 0..cols {
        out.push('[');
        for _ in 0..rows {
            // `{:?}` prints the shortest decimal that parses back to the same
            // bits; the array's type makes each literal an f32.
            let v = values.next().unwrap_or(f32::NAN);
            let _ = write!(out, "{v:?},");
        }
        out.push_str("],\n");
    }
    out.push_str("])");
}

fn model_rs(m: &ModelView<'_>, s: &Settings, path: &Path, file_len: usize) -> String {
    let d = m.dims;
    let mut o = String::with_capacity(16 * d.param_count() + 4096);
    consts_rs(&mut o, &m.header(), m.vocab, s, path, file_len);
    lstm_statics_rs(&mut o, m);
    o
}

/// The model's and the settings' `const`s (every model).
fn consts_rs(o: &mut String, h: &Header, vocab: &str, s: &Settings, path: &Path, file_len: usize) {
    let d = h.dims;
    let _ = writeln!(
        o,
        "// Generated by build.rs from {} — do not edit.\n",
        path.display()
    );
    let consts: [(&str, &str, String); 20] = [
        (
            "Path of the model file.",
            "&str",
            format!("{:?}", path.display().to_string()),
        ),
        (
            "Size of the model file in bytes.",
            "usize",
            file_len.to_string(),
        ),
        (
            "Input size (the vocabulary size: one-hot input).",
            "usize",
            d.n_x.to_string(),
        ),
        ("Hidden size.", "usize", d.n_h.to_string()),
        (
            "Output size (the vocabulary size).",
            "usize",
            d.n_y.to_string(),
        ),
        (
            "Number of parameters.",
            "usize",
            h.param_count().to_string(),
        ),
        (
            "Multiply-accumulates per token (every layer's products, the output layer).",
            "usize",
            h.macs_per_token().to_string(),
        ),
        ("The symbols, in index order.", "&str", format!("{vocab:?}")),
        ("RNG seed (`LSTM_SEED`).", "u64", s.seed.to_string()),
        (
            "Text fed before generating, and printed (`LSTM_PRIME`).",
            "&str",
            format!("{:?}", s.prime),
        ),
        (
            "Symbols to generate (`LSTM_LENGTH`).",
            "usize",
            s.length.to_string(),
        ),
        (
            "Softmax temperature, 0 = greedy (`LSTM_TEMPERATURE`).",
            "f32",
            format!("f32::from_bits({:#010x})", s.temperature.to_bits()),
        ),
        (
            "Keep the k most probable symbols, 0 = all (`LSTM_TOP_K`).",
            "usize",
            s.top_k.to_string(),
        ),
        (
            "Nucleus mass, 1 = all (`LSTM_TOP_P`).",
            "f32",
            format!("f32::from_bits({:#010x})", s.top_p.to_bits()),
        ),
        (
            "`TEMPERATURE` as text (no float formatting on the target).",
            "&str",
            format!("\"{:?}\"", s.temperature),
        ),
        ("`TOP_P` as text.", "&str", format!("\"{:?}\"", s.top_p)),
        (
            "`PRIME` quoted and escaped, for the report.",
            "&str",
            format!("{:?}", format!("{:?}", s.prime)),
        ),
        (
            "End a sample after this symbol (`LSTM_STOP_AT`).",
            "Option<char>",
            format!("{:?}", s.stop_at),
        ),
        (
            "`STOP_AT` for the report.",
            "&str",
            format!(
                "{:?}",
                s.stop_at.map_or("none".to_string(), |c| format!("{c:?}"))
            ),
        ),
        (
            "Number of samples, each from a zero state (`LSTM_COUNT`).",
            "usize",
            s.count.to_string(),
        ),
    ];
    let names = [
        "MODEL_PATH",
        "MODEL_FILE_BYTES",
        "INPUT",
        "HIDDEN",
        "OUTPUT",
        "PARAMS",
        "MACS_PER_TOKEN",
        "VOCAB",
        "SEED",
        "PRIME",
        "LENGTH",
        "TEMPERATURE",
        "TOP_K",
        "TOP_P",
        "TEMPERATURE_TEXT",
        "TOP_P_TEXT",
        "PRIME_TEXT",
        "STOP_AT",
        "STOP_AT_TEXT",
        "COUNT",
    ];
    for (name, (doc, ty, value)) in names.iter().zip(consts) {
        let _ = writeln!(o, "/// {doc}\npub const {name}: {ty} = {value};");
    }
    let _ = writeln!(
        o,
        "/// The model's cell kind and layer count, for the report.\npub const KIND_TEXT: &str = \"{} x{}\";",
        h.cell.name(),
        h.n_layers
    );
    let _ = writeln!(
        o,
        "/// What a symbol is: a character, or a word (printed separated by one space).\n\
         pub const TOKENS: lstm_core::format::TokenKind = lstm_core::format::TokenKind::{:?};\n\
         /// Symbols in `PRIME` (characters, or whitespace-separated words).\n\
         pub const PRIME_SYMBOLS: usize = {};",
        h.tokens,
        match h.tokens {
            TokenKind::Chars => s.prime.chars().count(),
            TokenKind::Words => s.prime.split_whitespace().count(),
        }
    );
    // Only this kind's cell body is linked (`lstm_core::OneCell`).
    let _ = writeln!(
        o,
        "/// Steps the model with only its cell kind's body compiled in.\n\
         pub type Runner = lstm_core::OneCell<{}>;",
        h.cell.code()
    );
}

/// The single-layer LSTM's weights as nalgebra statics, `MODEL`, and
/// `with_generator` / `weights_in_flash` over it.
fn lstm_statics_rs(o: &mut String, m: &ModelView<'_>) {
    let d = m.dims;

    // Gate order i, f, g, o, as in the file and PyTorch.
    let gates = ["I", "F", "G", "O"];
    let (mut w_ih, mut w_hh, mut b) = (m.w_ih.iter(), m.w_hh.iter(), m.b.iter());
    for g in gates {
        let _ = write!(
            o,
            "\n/// Gate {g}: input weights, column x = the gate's weights for symbol x.\n\
             static W_X_{g}: SMatrix<f32, HIDDEN, INPUT> = SMatrix::from_array_storage("
        );
        storage(o, &mut w_ih, d.n_h, d.n_x);
        let _ = write!(
            o,
            ");\n/// Gate {g}: recurrent weights, column k = row k of W_hh.\n\
             static W_H_{g}: SMatrix<f32, HIDDEN, HIDDEN> = SMatrix::from_array_storage("
        );
        storage(o, &mut w_hh, d.n_h, d.n_h);
        let _ = write!(
            o,
            ");\n/// Gate {g}: bias (b_ih + b_hh).\n\
             static B_{g}: SVector<f32, HIDDEN> = SVector::from_array_storage("
        );
        storage(o, &mut b, d.n_h, 1);
        o.push_str(");\n");
    }
    o.push_str(
        "\n/// Output weights, column y = row y of W_y.\n\
         static W_Y: SMatrix<f32, HIDDEN, OUTPUT> = SMatrix::from_array_storage(",
    );
    storage(o, &mut m.w_y.iter(), d.n_h, d.n_y);
    o.push_str(
        ");\n/// Output bias.\nstatic B_Y: SVector<f32, OUTPUT> = SVector::from_array_storage(",
    );
    storage(o, &mut m.b_y.iter(), d.n_y, 1);
    o.push_str(");\n\n");

    o.push_str(
        "/// The model: references to the weights above, in flash.\n\
         pub static MODEL: Lstm<'static, INPUT, HIDDEN, OUTPUT> = Lstm {\n    gates: [\n",
    );
    for g in gates {
        let _ = writeln!(
            o,
            "        GateWeights {{ w_x: &W_X_{g}, w_h: &W_H_{g}, b: &B_{g} }},"
        );
    }
    o.push_str(
        "    ],\n    w_y: &W_Y,\n    b_y: &B_Y,\n    vocab: VOCAB,\n    input: InputKind::OneHot,\n};\n",
    );
    o.push_str(
        "\n/// Runs `f` with a generator over `MODEL` (stack buffers, zero state).\n\
         pub fn with_generator<R>(\n    kernel: lstm_core::Kernel,\n    \
         f: impl FnOnce(&mut lstm_core::Generator<'static, '_, Runner>) -> R,\n) -> Result<R, lstm_core::Error> {\n    \
         let mut h = [0.0f32; HIDDEN];\n    let mut c = [0.0f32; HIDDEN];\n    \
         let mut gates = [0.0f32; 4 * HIDDEN];\n    let mut logits = [0.0f32; OUTPUT];\n    \
         let mut order = [0u16; OUTPUT];\n    let mut g = lstm_core::Generator::with_runner(\n        \
         MODEL.view(),\n        InputKind::OneHot,\n        VOCAB,\n        kernel,\n        \
         lstm_core::GeneratorBuffers { h: &mut h, c: &mut c, gates: &mut gates, logits: &mut logits, order: &mut order },\n        \
         Runner::default(),\n    )?;\n    Ok(f(&mut g))\n}\n\
         /// Whether the weights were linked into flash.\n\
         pub fn weights_in_flash(in_flash: fn(*const f32) -> bool) -> bool {\n    \
         in_flash(MODEL.w_y.as_ptr()) && in_flash(MODEL.gates[0].w_h.as_ptr())\n}\n",
    );
}

/// Writes `values` as a `static NAME: [f32; N]` (flash).
fn flat_static(o: &mut String, name: &str, doc: &str, values: &[f32]) {
    let _ = write!(o, "/// {doc}\nstatic {name}: [f32; {}] = [", values.len());
    for (i, v) in values.iter().enumerate() {
        // `{:?}` prints the shortest decimal that parses back to the same bits.
        let _ = write!(o, "{v:?},");
        if i % 16 == 15 {
            o.push('\n');
        }
    }
    o.push_str("];\n");
}

/// Any f32 character model of the family (stacked layers, gru, rnn): each
/// layer's tensors as flat statics in the file's layout, and
/// `with_generator` building a `NetworkView` over them.
fn network_rs(
    family: &FamilyView<'_>,
    s: &Settings,
    path: &Path,
    file_len: usize,
) -> Result<String, String> {
    let h = family.header;
    // The view checks every length; its sizes give the buffers' lengths.
    let mut storage = vec![0.0f32; NetworkView::storage_len(family)];
    let net = NetworkView::from_family(family, &mut storage).map_err(|e| e.to_string())?;
    let (state, cell_state, scratch) = (net.state_len(), net.cell_state_len(), net.scratch_len());
    let mut o = String::with_capacity(16 * h.param_count() + 8192);
    consts_rs(&mut o, &h, family.vocab, s, path, file_len);
    let mut rest = &storage[..];
    let mut next = |len: usize| {
        let (head, tail) = rest.split_at(len);
        rest = tail;
        head
    };
    for l in 0..h.n_layers {
        flat_static(
            &mut o,
            &format!("L{l}_W_IH"),
            "Input weights (file layout).",
            next(h.w_ih_len(l)),
        );
        flat_static(
            &mut o,
            &format!("L{l}_W_HH"),
            "Recurrent weights, [G·n_h][n_h].",
            next(h.w_hh_len()),
        );
        flat_static(
            &mut o,
            &format!("L{l}_B"),
            "Gate biases, [G][n_h].",
            next(h.b_len()),
        );
        flat_static(
            &mut o,
            &format!("L{l}_B_HN"),
            "The gru's b_hn (empty otherwise).",
            next(h.b_hn_len()),
        );
    }
    flat_static(
        &mut o,
        "W_Y",
        "Output weights, [n_y][n_h].",
        next(h.dims.n_y * h.dims.n_h),
    );
    flat_static(&mut o, "B_Y", "Output bias.", next(h.dims.n_y));
    let cell = match h.cell {
        CellKind::Lstm => "Lstm",
        CellKind::Gru => "Gru",
        CellKind::Rnn => "Rnn",
    };
    let _ = write!(
        o,
        "\n/// Runs `f` with a generator over the network (stack buffers, zero state).\n\
         pub fn with_generator<R>(\n    kernel: lstm_core::Kernel,\n    \
         f: impl FnOnce(&mut lstm_core::Generator<'static, '_, Runner>) -> R,\n) -> Result<R, lstm_core::Error> {{\n    \
         use lstm_core::{{InputLayout, RecurrentView}};\n    \
         use lstm_core::format::CellKind;\n    let layers = [\n"
    );
    for l in 0..h.n_layers {
        let (layout, n_in) = if l == 0 {
            ("Gather", "INPUT")
        } else {
            ("Rows", "HIDDEN")
        };
        let _ = writeln!(
            o,
            "        RecurrentView::new(CellKind::{cell}, InputLayout::{layout}, {n_in}, HIDDEN, &L{l}_W_IH, &L{l}_W_HH, &L{l}_B, &L{l}_B_HN)?,"
        );
    }
    let _ = write!(
        o,
        "    ];\n    let output = lstm_core::OutputView::new(HIDDEN, OUTPUT, &W_Y, &B_Y)?;\n    \
         let net = lstm_core::NetworkView::new(InputKind::OneHot, &layers, output)?;\n    \
         let mut h = [0.0f32; {state}];\n    let mut c = [0.0f32; {cell_state}];\n    \
         let mut gates = [0.0f32; {scratch}];\n    let mut logits = [0.0f32; OUTPUT];\n    \
         let mut order = [0u16; OUTPUT];\n    let mut g = lstm_core::Generator::for_network(\n        \
         net,\n        TOKENS,\n        VOCAB,\n        kernel,\n        \
         lstm_core::GeneratorBuffers {{ h: &mut h, c: &mut c, gates: &mut gates, logits: &mut logits, order: &mut order }},\n        \
         Runner::default(),\n    )?;\n    Ok(f(&mut g))\n}}\n\
         /// Whether the weights were linked into flash.\n\
         pub fn weights_in_flash(in_flash: fn(*const f32) -> bool) -> bool {{\n    \
         in_flash(W_Y.as_ptr()) && in_flash(L0_W_HH.as_ptr())\n}}\n"
    );
    Ok(o)
}

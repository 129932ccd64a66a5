//! `host-trainer quantize` and every command that reads a q8 model, end to end through the binary:
//! happy paths (every cell kind, stacked layers, version-1 and imported models), the refusals (input
//! bytes unchanged, nothing written) and bad q8 files (one clear error line naming the problem).

use std::path::{Path, PathBuf};

mod common;
use common::{assert_user_error, export, import, run, s, stderr};

use host_trainer::data::corpus::Vocab;
use host_trainer::model::{Params, Stack};
use host_trainer::model_file::{encode_model, encode_stack};
use host_trainer::rng::Rng;
use lstm_core::Dims;
use lstm_core::format::{CellKind, Dtype, TokenKind, decode_family};

const VOCAB: &str = "\nabcdeinorst";

fn dims(n_h: usize) -> Dims {
    let n = VOCAB.chars().count();
    Dims {
        n_x: n,
        n_h,
        n_y: n,
    }
}

/// A random model of `kind` × `layers` (version 2), written to `dir/name`.
fn stack_model(dir: &Path, name: &str, kind: CellKind, layers: usize, n_h: usize) -> PathBuf {
    let p = Stack::<f32>::init_uniform(kind, dims(n_h), layers, &mut Rng::new(layers as u64));
    let path = dir.join(name);
    std::fs::write(
        &path,
        encode_stack(&p, VOCAB, TokenKind::Chars).expect("encodes"),
    )
    .expect("w");
    path
}

/// A random single-layer LSTM written as a version-1 file.
fn v1_model(dir: &Path) -> PathBuf {
    let p = Params::<f32>::init_uniform(dims(16), &mut Rng::new(5));
    let path = dir.join("v1.lstm");
    let vocab = Vocab::from_chars(VOCAB.chars().collect());
    std::fs::write(&path, encode_model(&p, &vocab).expect("encodes")).expect("write");
    path
}

fn corpus(dir: &Path) -> PathBuf {
    let path = dir.join("text.txt");
    let words = ["rest", "stone", "notes", "cider", "rain", "scared"];
    let text: String = (0..60).map(|i| format!("{}\n", words[i % 6])).collect();
    std::fs::write(&path, text).expect("write corpus");
    path
}

fn quantize(model: &Path, out: &Path) -> std::process::Output {
    run(&["quantize", "--model", s(model), "--out", s(out)])
}

/// Bytes of the canonical LEB128 varint of `n`.
fn varint_len(n: usize) -> usize {
    (usize::BITS - n.max(1).leading_zeros()).div_ceil(7) as usize
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The loss `eval` prints.
fn eval_loss(model: &Path, corpus: &Path, mode: &str) -> f64 {
    let o = run(&[
        "eval",
        "--model",
        s(model),
        "--corpus",
        s(corpus),
        "--mode",
        mode,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    out.strip_prefix("loss ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no loss in {out:?}"))
}

#[test]
fn quantize_any_model_then_inspect_eval_and_export_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let text = corpus(d);
    let mut models = vec![v1_model(d)];
    for (kind, layers) in [
        (CellKind::Lstm, 2),
        (CellKind::Gru, 1),
        (CellKind::Gru, 3),
        (CellKind::Rnn, 4),
    ] {
        models.push(stack_model(
            d,
            &format!("{}{layers}.lstm", kind.name()),
            kind,
            layers,
            24,
        ));
    }
    for m in &models {
        // The default: scales shared by each layer's w_ih and w_hh.
        let q = m.with_extension("q8.lstm");
        let o = quantize(m, &q);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("bytes f32 ->"), "{out}");
        assert!(out.contains("dtype q8-shared"), "{out}");
        assert!(out.contains("largest rounding error"), "{out}");
        let view_bytes = std::fs::read(&q).expect("q8 written");
        let view = decode_family(&view_bytes).expect("decodes");
        let h = view.header;
        assert_eq!(h.dtype, Dtype::Q8Shared);
        assert_eq!(
            out.matches("largest rounding error").count(),
            2 * h.n_layers + 1
        );
        assert_eq!(out.matches("scales (w_ih's)").count(), h.n_layers, "{out}");

        // Per-matrix scales: dtype q8, one more scale string of G·n_h per layer.
        let qp = m.with_extension("q8pm.lstm");
        let o = run(&[
            "quantize",
            "--model",
            s(m),
            "--out",
            s(&qp),
            "--scales",
            "per-matrix",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("dtype q8)"), "{}", stdout(&o));
        let pm_bytes = std::fs::read(&qp).expect("q8 written");
        let pm = decode_family(&pm_bytes).expect("decodes").header;
        assert_eq!(pm.dtype, Dtype::Q8);
        let scale_string = 4 * h.gates() * h.dims.n_h;
        assert_eq!(
            pm.weight_bytes() - h.weight_bytes(),
            scale_string * h.n_layers
        );
        assert_eq!(
            pm_bytes.len() - view_bytes.len(),
            (scale_string + varint_len(scale_string) - 1) * h.n_layers
        );

        let o = run(&["inspect", s(&q), "--board", "black-pill"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let info = stdout(&o);
        assert!(info.contains("q8-shared weights"), "{info}");
        assert!(info.contains(&format!("{} bytes (q8-shared:", h.weight_bytes())));
        assert_eq!(info.matches("rounding:").count(), 2 * h.n_layers + 1);
        assert_eq!(info.matches("shared with w_ih").count(), h.n_layers);
        assert!(info.contains("fit:"), "{info}");
        let o = run(&["inspect", s(&qp)]);
        let info = stdout(&o);
        assert!(info.contains("q8 weights"), "{info}");
        assert!(info.contains(&format!("{} bytes (q8)", pm.weight_bytes())));
        assert_eq!(info.matches("shared with w_ih").count(), 0);

        // The cost shows in eval: a random model's loss moves, but only a little, either way.
        let (f, q8) = (eval_loss(m, &text, "lines"), eval_loss(&q, &text, "lines"));
        assert!(f.is_finite() && q8.is_finite());
        assert!((f - q8).abs() < 0.05, "{}: f32 {f} vs q8 {q8}", m.display());
        let q8pm = eval_loss(&qp, &text, "lines");
        assert!(
            (f - q8pm).abs() < 0.05,
            "{}: f32 {f} vs q8 {q8pm}",
            m.display()
        );
        assert_ne!(q8, q8pm, "shared and per-matrix scales round differently");
        let (f, q8) = (
            eval_loss(m, &text, "stream"),
            eval_loss(&q, &text, "stream"),
        );
        assert!((f - q8).abs() < 0.05, "{}: f32 {f} vs q8 {q8}", m.display());

        // Export writes the dequantized weights, saying so; import then reads them as f32.
        let (st, vj) = (q.with_extension("safetensors"), q.with_extension("json"));
        let o = export(s(&q), s(&st), s(&vj));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("dequantized"), "{}", stderr(&o));
        let back = q.with_extension("back.lstm");
        let o = import(s(&st), s(&vj), s(&back), &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        // The imported f32 model holds exactly the q8 model's values: it evaluates the same.
        let (a, b) = (
            eval_loss(&back, &text, "lines"),
            eval_loss(&q, &text, "lines"),
        );
        assert!((a - b).abs() < 1e-4, "dequantized {a} vs q8 {b}");
    }
}

#[test]
fn import_then_quantize_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let m = stack_model(d, "gru2.lstm", CellKind::Gru, 2, 12);
    let (st, vj) = (d.join("m.safetensors"), d.join("v.json"));
    let o = export(s(&m), s(&st), s(&vj));
    assert!(o.status.success(), "{}", stderr(&o));
    let imported = d.join("imported.lstm");
    let o = import(s(&st), s(&vj), s(&imported), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let q = d.join("imported.q8.lstm");
    let o = quantize(&imported, &q);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&q).expect("written");
    let view = decode_family(&bytes).expect("decodes");
    assert_eq!(
        (view.header.dtype, view.header.cell, view.header.n_layers),
        (Dtype::Q8Shared, CellKind::Gru, 2)
    );
}

/// Runs `quantize` expecting a refusal naming `needle`; the input's bytes stay as they were and no
/// output (nor temporary file) appears.
fn assert_refused(input: &Path, out: &Path, needle: &str) {
    let before = std::fs::read(input).expect("read input");
    let existed = out.exists();
    let o = quantize(input, out);
    assert_user_error(&o, needle);
    assert_eq!(std::fs::read(input).expect("read input"), before);
    if !existed {
        assert!(!out.exists(), "{} was written", out.display());
    }
    let dir = out.parent().expect("dir");
    let temps = std::fs::read_dir(dir)
        .expect("list")
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with("host-trainer-tmp")
            })
        })
        .count();
    assert_eq!(temps, 0);
}

#[test]
fn quantize_refuses_before_any_work_and_leaves_the_input_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let m = stack_model(d, "m.lstm", CellKind::Lstm, 1, 8);
    let q = d.join("m.q8.lstm");
    assert!(quantize(&m, &q).status.success());
    assert_refused(&q, &d.join("again.lstm"), "already quantized");
    let text = corpus(d);
    assert_refused(&text, &d.join("t.lstm"), "not a valid model file");
    assert_refused(&m, &m, "refusing to overwrite an input");
    assert_refused(&m, &d.join(".").join("m.lstm"), "refusing to overwrite");
    #[cfg(unix)]
    {
        let link = d.join("link.lstm");
        std::os::unix::fs::symlink(&m, &link).expect("symlink");
        assert_refused(&m, &link, "refusing to overwrite");
        assert_refused(&link, &m, "refusing to overwrite");
    }
    // Hidden 517: an int8 × Q15 row of 517 terms could overflow the i32 accumulator.
    let wide = stack_model(d, "wide.lstm", CellKind::Rnn, 1, 517);
    assert_refused(&wide, &d.join("wide.q8.lstm"), "n_h = 517");
    let o = quantize(&d.join("missing.lstm"), &d.join("x.lstm"));
    assert_user_error(&o, "reading model");
    assert!(!d.join("x.lstm").exists());
}

/// A q8 file with `edit` applied to its bytes (the CRC recomputed when `fix_crc`).
fn edited(q8: &[u8], fix_crc: bool, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = q8.to_vec();
    edit(&mut b);
    if fix_crc {
        let n = b.len() - 4;
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

/// The offset of `w_y`'s first scale in a q8 file (its little-endian bytes occur once).
fn w_y_scale_offset(q8: &[u8]) -> usize {
    let view = decode_family(q8).expect("decodes");
    let scale = view.w_y.as_q8().expect("q8").scale().get(0).expect("scale");
    let needle = scale.to_le_bytes();
    let hits: Vec<usize> = q8
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "scale bytes not unique");
    hits[0]
}

#[test]
fn bad_q8_files_are_refused_with_the_problem_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let text = corpus(d);
    let m = stack_model(d, "m.lstm", CellKind::Lstm, 2, 8);
    let q = d.join("m.q8.lstm");
    assert!(quantize(&m, &q).status.success());
    let good = std::fs::read(&q).expect("read");
    let at = w_y_scale_offset(&good);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        (
            "flipped",
            edited(&good, false, |b| b[at + 1] ^= 0x10),
            "checksum mismatch",
        ),
        (
            "dtype",
            edited(&good, true, |b| b[6] = 7),
            "dtype code 7 is not supported",
        ),
    ];
    // A per-matrix file relabelled q8-shared: its w_hh scale string must be empty.
    let pm = d.join("m.q8pm.lstm");
    let o = run(&[
        "quantize",
        "--model",
        s(&m),
        "--out",
        s(&pm),
        "--scales",
        "per-matrix",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pm = std::fs::read(&pm).expect("read");
    assert_eq!(pm[6], Dtype::Q8.code());
    cases.push((
        "w_hh_scales",
        edited(&pm, true, |b| b[6] = Dtype::Q8Shared.code()),
        "tensor w_hh.scale has 32 elements, expected 0",
    ));
    for (name, v) in [("zero", 0.0f32), ("negative", -0.01), ("nan", f32::NAN)] {
        let b = edited(&good, true, |b| {
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        });
        cases.push((
            name,
            b,
            "scale w_y.scale[0] is not a positive finite number",
        ));
    }
    for (name, bytes, needle) in cases {
        let path = d.join(format!("{name}.lstm"));
        std::fs::write(&path, bytes).expect("write");
        let (st, vj) = (d.join("x.safetensors"), d.join("x.json"));
        for args in [
            vec!["inspect", s(&path)],
            vec!["sample", "--model", s(&path), "--length", "5"],
            vec!["eval", "--model", s(&path), "--corpus", s(&text)],
            vec![
                "export",
                "--model",
                s(&path),
                "--safetensors",
                s(&st),
                "--vocab",
                s(&vj),
            ],
        ] {
            assert_user_error(&run(&args), needle);
            assert!(!st.exists() && !vj.exists());
        }
        assert_refused(&path, &d.join(format!("{name}.out.lstm")), needle);
    }
}

fn sample(model: &Path, seed: &str) -> (String, String) {
    let o = run(&[
        "sample",
        "--model",
        s(model),
        "--prime",
        "st",
        "--length",
        "60",
        "--temperature",
        "0.8",
        "--seed",
        seed,
        "--digest",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (stdout(&o), stderr(&o))
}

/// `sample` runs q8 models of every kind through lstm-core: the prime starts the text, the state
/// digest is printed, the same seed gives the same text and digest, and the q8 state is not the f32
/// model's (its products run on Q15 states).
#[test]
fn sample_runs_q8_models_reproducibly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut models = vec![v1_model(d)];
    models.push(stack_model(d, "gru2.lstm", CellKind::Gru, 2, 20));
    models.push(stack_model(d, "rnn3.lstm", CellKind::Rnn, 3, 20));
    for m in &models {
        let q = m.with_extension("q8.lstm");
        assert!(quantize(m, &q).status.success());
        let (text, err) = sample(&q, "3");
        assert!(text.starts_with("st"), "{text:?}");
        assert_eq!(text.trim_end_matches('\n').chars().count(), 62, "{text:?}");
        assert!(text.chars().all(|c| VOCAB.contains(c)), "{text:?}");
        assert!(err.contains("state digest: 0x"), "{err}");
        assert_eq!(sample(&q, "3"), (text.clone(), err.clone()));
        let (_, f32_err) = sample(m, "3");
        assert_ne!(
            err,
            f32_err,
            "{}: q8 and f32 end in the same state",
            m.display()
        );
    }
}

/// `eval --checkpoint` of a q8 model reads the training run's held-out split, as for its f32 model.
#[test]
fn eval_checkpoint_split_takes_q8_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let text = corpus(d);
    let (m, ckpt) = (d.join("m.lstm"), d.join("m.ckpt"));
    let o = run(&[
        "train",
        "--corpus",
        s(&text),
        "--out",
        s(&m),
        "--checkpoint",
        s(&ckpt),
        "--hidden",
        "16",
        "--steps",
        "40",
        "--val-fraction",
        "0.2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let q = d.join("m.q8.lstm");
    assert!(quantize(&m, &q).status.success());
    let eval = |model: &Path| {
        let o = run(&[
            "eval",
            "--model",
            s(model),
            "--checkpoint",
            s(&ckpt),
            "--split",
            "val",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let (f, q8) = (eval(&m), eval(&q));
    let count = |out: &str| out.rsplit("over ").next().map(str::to_owned);
    assert_eq!(count(&f), count(&q8), "{f} / {q8}");
    let loss = |out: &str| -> f64 {
        out.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("loss")
    };
    assert!((loss(&f) - loss(&q8)).abs() < 0.05, "{f} / {q8}");
}

/// Issue 11's motivating case: a hidden-256, 69-symbol f32 model does not fit the Black Pill's
/// 512 KiB of flash; quantized, it does (`inspect --board`, the firmware build script's check).
#[test]
fn a_hidden_256_model_fits_the_black_pill_once_quantized() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let vocab: String = (0..69u32)
        .map(|i| char::from_u32(0x21 + i).expect("ascii"))
        .collect();
    let n = Dims {
        n_x: 69,
        n_h: 256,
        n_y: 69,
    };
    let p = Stack::<f32>::init_uniform(CellKind::Lstm, n, 1, &mut Rng::new(1));
    let m = d.join("big.lstm");
    std::fs::write(
        &m,
        encode_stack(&p, &vocab, TokenKind::Chars).expect("encodes"),
    )
    .expect("write");
    let q = d.join("big.q8.lstm");
    assert!(quantize(&m, &q).status.success());
    let fit = |model: &Path| {
        let o = run(&["inspect", s(model), "--board", "black-pill"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert!(fit(&m).contains("DOES NOT FIT"), "{}", fit(&m));
    assert!(fit(&q).contains(": fits"), "{}", fit(&q));
}

/// A reader that goes away (`| head`) ends `inspect` and `quantize` quietly: exit 0, no panic.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tempdir");
    let model = stack_model(dir.path(), "m.lstm", CellKind::Lstm, 2, 8);
    let q8 = dir.path().join("m.q8.lstm");
    let runs: [Vec<&str>; 2] = [
        vec!["inspect", s(&model)],
        vec!["quantize", "--model", s(&model), "--out", s(&q8)],
    ];
    for args in runs {
        let mut child = common::bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        // Close the reading end before the child writes its first line.
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(o.status.success(), "{args:?}: {err}");
    }
}

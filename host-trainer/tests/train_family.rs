//! `train --cell --layers --dropout` end to end: GRU, RNN and stacked LSTM models train, sample and
//! evaluate; the model bytes do not depend on the thread count; nonsense is refused before any work.

use std::path::{Path, PathBuf};

mod common;
use common::{assert_user_error, run, s, stderr};

/// Dinosaur-like names, one per line.
fn names_corpus(dir: &Path) -> PathBuf {
    let path = dir.join("names.txt");
    let names = [
        "aardonyx",
        "abelisaurus",
        "abrictosaurus",
        "acanthopholis",
        "achelousaurus",
        "bambiraptor",
        "carnotaurus",
        "diplodocus",
    ];
    let text: String = (0..64)
        .map(|i| format!("{}\n", names[i % names.len()]))
        .collect();
    std::fs::write(&path, text).expect("write corpus");
    path
}

/// The value after `label` on the line of `out` that contains it (e.g. "perplexity").
fn number_after(out: &str, label: &str) -> f64 {
    let rest = &out[out
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {out}"))
        + label.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("a number after {label:?} in {out}"))
}

/// Each kind trains (with dropout for the stacks), `inspect` names the kind and layers, `sample` is
/// reproducible and starts with the prime, and `eval` of the held-out names beats a uniform guess.
#[test]
fn gru_rnn_and_stacked_lstm_train_sample_and_eval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    for (cell, layers, dropout, shown) in [
        ("gru", "2", "0.2", "gru × 2 layers"),
        ("rnn", "1", "0", "rnn × 1 layer"),
        ("lstm", "2", "0.3", "lstm × 2 layers"),
    ] {
        let model = dir.path().join(format!("{cell}{layers}.lstm"));
        let o = run(&[
            "train",
            "--corpus",
            s(&corpus),
            "--out",
            s(&model),
            "--cell",
            cell,
            "--layers",
            layers,
            "--dropout",
            dropout,
            "--hidden",
            "16",
            "--batch",
            "4",
            "--epochs",
            "12",
            "--lr",
            "0.02",
            "--val-fraction",
            "0.125",
            "--seed",
            "2",
        ]);
        assert!(o.status.success(), "{cell}: {}", stderr(&o));
        assert!(model.exists());

        let o = run(&["inspect", s(&model)]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(out.contains(shown), "{shown:?} missing in\n{out}");

        let args = [
            "sample",
            "--model",
            s(&model),
            "--prime",
            "a",
            "--length",
            "30",
            "--seed",
            "4",
        ];
        let (a, b) = (run(&args), run(&args));
        assert!(a.status.success(), "{}", stderr(&a));
        assert_eq!(a.stdout, b.stdout);
        assert!(String::from_utf8_lossy(&a.stdout).starts_with('a'));

        let o = run(&["eval", "--model", s(&model), "--corpus", s(&corpus)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        // 20 symbols: a uniform guess has perplexity 20; the names repeat, so a trained model is far
        // below it.
        let ppl = number_after(&out, "perplexity");
        assert!(ppl < 6.0, "{cell}: perplexity {ppl} in {out}");
    }
}

/// Model bytes of a stack at sizes where two threads split the batch and the products are the same
/// as on one thread, for a 2-layer LSTM with dropout and a 2-layer GRU.
#[test]
fn stacked_model_bytes_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("stream.txt");
    let text: String = (0..400)
        .map(|i| format!("the {} fox {} ", i % 7, i % 11))
        .collect();
    std::fs::write(&corpus, text).expect("write");
    // Batch 32 · hidden 160 · 3·160 (GRU) and · 4·160 (LSTM) are above the split threshold.
    for (cell, dropout) in [("lstm", "0.25"), ("gru", "0")] {
        let bytes = |threads: &str| {
            let out = dir.path().join(format!("{cell}-{threads}.lstm"));
            let o = run(&[
                "train",
                "--corpus",
                s(&corpus),
                "--out",
                s(&out),
                "--mode",
                "stream",
                "--cell",
                cell,
                "--layers",
                "2",
                "--dropout",
                dropout,
                "--hidden",
                "160",
                "--batch",
                "32",
                "--seq-len",
                "12",
                "--steps",
                "3",
                "--threads",
                threads,
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            std::fs::read(&out).expect("model")
        };
        assert_eq!(bytes("1"), bytes("2"), "{cell}");
    }
}

/// Bad `--cell`, `--layers` and `--dropout` values, and a resume with another cell or depth: one clear
/// error, a non-zero exit, no model and no checkpoint.
#[test]
fn bad_family_flags_are_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let out = dir.path().join("m.lstm");
    let ckpt = dir.path().join("m.lstm.ckpt");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--corpus",
            s(&corpus),
            "--out",
            s(&out),
            "--steps",
            "2",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (extra, needle) in [
        (&["--layers", "0"][..], "--layers 0"),
        (&["--layers", "5"], "--layers 5"),
        (&["--dropout", "1"], "--dropout"),
        (&["--dropout", "-0.1"], "--dropout"),
        (&["--dropout", "NaN"], "--dropout"),
    ] {
        let o = train(extra);
        assert_user_error(&o, needle);
        assert!(!out.exists() && !ckpt.exists(), "{extra:?} wrote a file");
    }
    let o = train(&["--cell", "transformer"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--cell"), "{}", stderr(&o));
    assert!(!out.exists());

    // A 2-layer GRU checkpoint resumed as an LSTM or with 3 layers.
    let o = train(&["--cell", "gru", "--layers", "2", "--hidden", "8"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(&out).expect("rm model");
    let before = std::fs::read(&ckpt).expect("checkpoint");
    for (extra, needle) in [
        (&["--cell", "lstm"][..], "--cell differs"),
        (&["--layers", "3"], "--layers differs"),
        (&["--dropout", "0.5"], "--dropout differs"),
    ] {
        let mut args = vec!["train", "--resume", s(&ckpt), "--steps", "4"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_user_error(&o, needle);
        assert!(!out.exists());
        assert_eq!(std::fs::read(&ckpt).expect("checkpoint"), before);
    }
    // The same values are accepted.
    let o = run(&[
        "train",
        "--resume",
        s(&ckpt),
        "--steps",
        "4",
        "--cell",
        "gru",
        "--layers",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.exists());
}

/// A checkpoint of a 1-layer LSTM written before cell kinds and layers existed (no `cell`, `layers`,
/// `dropout` fields) resumes, and continues exactly as the checkpoint with the fields does.
#[test]
fn checkpoints_without_the_family_fields_still_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = names_corpus(dir.path());
    let out = dir.path().join("m.lstm");
    let ckpt = dir.path().join("m.lstm.ckpt");
    let o = run(&[
        "train",
        "--corpus",
        s(&corpus),
        "--out",
        s(&out),
        "--hidden",
        "8",
        "--steps",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&ckpt).expect("checkpoint");
    let nl = bytes.iter().position(|&b| b == b'\n').expect("header line");
    let mut v: serde_json::Value = serde_json::from_slice(&bytes[nl + 1..]).expect("json");
    for key in ["cell", "layers", "dropout"] {
        assert!(
            v["config"][key].is_string() || v["config"][key].is_number(),
            "{key}"
        );
        v["config"].as_object_mut().expect("object").remove(key);
    }
    for name in ["params", "m", "v"] {
        let obj = if name == "params" {
            &mut v["params"]
        } else {
            &mut v["optimizer"][name]
        };
        let o = obj.as_object_mut().expect("stored params");
        assert!(o.remove("cell").is_some() && o.remove("layers").is_some());
    }
    let old = dir.path().join("old.ckpt");
    std::fs::write(
        &old,
        host_trainer::checkpoint::seal(v.to_string().as_bytes()),
    )
    .expect("write");
    let resume = |from: &Path, to: &Path| {
        let o = run(&[
            "train",
            "--resume",
            s(from),
            "--steps",
            "9",
            "--out",
            s(to),
            "--checkpoint",
            s(&dir.path().join("next.ckpt")),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(to).expect("model")
    };
    let a = resume(&ckpt, &dir.path().join("a.lstm"));
    let b = resume(&old, &dir.path().join("b.lstm"));
    assert_eq!(a, b);
}

/// `eval --checkpoint` of a stacked GRU reads the run's held-out split and gives the best validation
/// loss training reported; its quantized form evaluates on the same split (issue 11: `eval` of both
/// files is how a user sees what quantizing costs).
#[test]
fn eval_checkpoint_takes_stacked_gru_models_and_their_q8_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let corpus = names_corpus(d);
    let (model, ckpt) = (d.join("g.lstm"), d.join("g.ckpt"));
    let o = run(&[
        "train",
        "--corpus",
        s(&corpus),
        "--out",
        s(&model),
        "--checkpoint",
        s(&ckpt),
        "--cell",
        "gru",
        "--layers",
        "2",
        "--hidden",
        "12",
        "--steps",
        "60",
        "--val-fraction",
        "0.25",
        "--val-every",
        "20",
        "--seed",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let best = number_after(&stderr(&o), "the best validation loss, ");
    let eval = |m: &Path| {
        let o = run(&[
            "eval",
            "--model",
            s(m),
            "--checkpoint",
            s(&ckpt),
            "--split",
            "val",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let f = eval(&model);
    assert_eq!(
        format!("{:.6}", number_after(&f, "loss ")),
        format!("{best:.6}"),
        "{f}"
    );
    let q = d.join("g.q8.lstm");
    let o = run(&["quantize", "--model", s(&model), "--out", s(&q)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let q8 = eval(&q);
    let count = |out: &str| out.rsplit("over ").next().map(str::to_owned);
    assert_eq!(count(&f), count(&q8), "{f} / {q8}");
    assert!(
        (number_after(&f, "loss ") - number_after(&q8, "loss ")).abs() < 0.05,
        "{f} / {q8}"
    );
}

//! Models of other cell kinds and several layers through the CLI: `inspect` of a format-version-2 file.

use std::process::Command;

use host_trainer::model::Stack;
use host_trainer::model_file::encode_stack;
use host_trainer::rng::Rng;
use lstm_core::Dims;
use lstm_core::format::{CellKind, TokenKind};

#[test]
fn inspect_shows_cell_layers_dtype_tokens_and_weight_bytes_of_a_v2_file() {
    let dims = Dims {
        n_x: 3,
        n_h: 4,
        n_y: 3,
    };
    let p = Stack::<f32>::init_uniform(CellKind::Gru, dims, 2, &mut Rng::new(1));
    let bytes = encode_stack(&p, "the cat sat", TokenKind::Words).expect("encodes");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gru2.lstm");
    std::fs::write(&path, &bytes).expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_host-trainer"))
        .arg("inspect")
        .arg(&path)
        .output()
        .expect("runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for want in [
        "format version 2",
        "gru × 2 layers",
        "f32 weights",
        "word tokens",
        "3 symbols",
        "weights:",
    ] {
        assert!(out.contains(want), "{want:?} missing in\n{out}");
    }
}

/// `sample` and `eval` run single-layer LSTM character models only (lstm-core's family inference is not
/// merged yet): a GRU model is refused with a message naming the cell, non-zero exit.
#[test]
fn sample_and_eval_refuse_a_gru_model_naming_the_cell() {
    let dims = Dims {
        n_x: 3,
        n_h: 4,
        n_y: 3,
    };
    let p = Stack::<f32>::init_uniform(CellKind::Gru, dims, 1, &mut Rng::new(2));
    let bytes = encode_stack(&p, "abc", TokenKind::Chars).expect("encodes");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gru.lstm");
    std::fs::write(&path, &bytes).expect("write");
    let corpus = dir.path().join("c.txt");
    std::fs::write(&corpus, "abcabcabc\nabcabc\n").expect("write");
    for args in [
        vec!["sample", "--model", path.to_str().expect("utf-8")],
        vec![
            "eval",
            "--model",
            path.to_str().expect("utf-8"),
            "--corpus",
            corpus.to_str().expect("utf-8"),
        ],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_host-trainer"))
            .args(&args)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("gru"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

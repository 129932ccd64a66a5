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

fn bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_host-trainer"))
        .args(args)
        .output()
        .expect("runs")
}

fn write_model(
    dir: &std::path::Path,
    kind: CellKind,
    layers: usize,
    vocab: &str,
    tokens: TokenKind,
) -> String {
    let n = tokens.symbols(vocab).count();
    let dims = Dims {
        n_x: n,
        n_h: 6,
        n_y: n,
    };
    let p = Stack::<f32>::init_uniform(kind, dims, layers, &mut Rng::new(layers as u64));
    let bytes = encode_stack(&p, vocab, tokens).expect("encodes");
    let path = dir.join(format!("{kind:?}{layers}.lstm"));
    std::fs::write(&path, &bytes).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

/// `sample` runs GRU, RNN and stacked models through lstm-core's network: reproducible per seed, the
/// prime first; a words model prints vocabulary tokens separated by one space.
#[test]
fn sample_runs_family_models_chars_and_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (kind, layers) in [(CellKind::Gru, 2), (CellKind::Rnn, 1), (CellKind::Lstm, 3)] {
        let m = write_model(dir.path(), kind, layers, "abc\n", TokenKind::Chars);
        let args = [
            "sample", "--model", &m, "--prime", "ab", "--length", "20", "--seed", "3",
        ];
        let (a, b) = (bin(&args), bin(&args));
        assert!(
            a.status.success(),
            "{kind:?}: {}",
            String::from_utf8_lossy(&a.stderr)
        );
        assert_eq!(a.stdout, b.stdout);
        let out = String::from_utf8_lossy(&a.stdout);
        assert!(out.starts_with("ab"), "{out}");
    }
    let vocab = "the cat sat on a mat";
    let m = write_model(dir.path(), CellKind::Gru, 2, vocab, TokenKind::Words);
    let o = bin(&[
        "sample", "--model", &m, "--prime", "the cat", "--length", "7", "--seed", "5",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let text = out.lines().next().expect("a line");
    let words: Vec<&str> = text.split(' ').collect();
    assert_eq!(words.len(), 9, "{text:?}");
    assert_eq!(&words[..2], &["the", "cat"]);
    let known: Vec<&str> = vocab.split(' ').collect();
    assert!(words.iter().all(|w| known.contains(w)), "{text:?}");
    let o = bin(&["sample", "--model", &m, "--prime", "the dog"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--prime"));
}

/// `eval` of family models: a 1-layer LSTM written as version 2 (through the stack pass) gives exactly
/// the version-1 file's line (the training pass), in lines and stream modes; a 2-layer GRU evaluates;
/// a words model evaluates over words.
#[test]
fn eval_runs_family_models_and_agrees_with_the_plain_pass() {
    use host_trainer::data::corpus::Vocab;
    use host_trainer::model::Params;
    use host_trainer::model_file::encode_model;
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("c.txt");
    std::fs::write(&corpus, "abcab\ncab\nbca\nabcabcab\n").expect("write");
    let c = corpus.to_str().expect("utf-8");
    let vocab = Vocab::from_text("\nabc", &[]);
    let dims = Dims {
        n_x: 4,
        n_h: 5,
        n_y: 4,
    };
    let p = Params::<f32>::init_uniform(dims, &mut Rng::new(6));
    let v1 = dir.path().join("v1.lstm");
    std::fs::write(&v1, encode_model(&p, &vocab).expect("v1")).expect("write");
    let v2 = dir.path().join("v2.lstm");
    let s = Stack::from_params(&p);
    std::fs::write(
        &v2,
        encode_stack(&s, &vocab.as_string(), TokenKind::Chars).expect("v2"),
    )
    .expect("write");
    for mode in ["lines", "stream"] {
        let run = |m: &std::path::Path| {
            bin(&[
                "eval",
                "--model",
                m.to_str().expect("utf-8"),
                "--corpus",
                c,
                "--mode",
                mode,
            ])
        };
        let (a, b) = (run(&v1), run(&v2));
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        assert_eq!(a.stdout, b.stdout, "{mode}");
        assert!(String::from_utf8_lossy(&a.stdout).contains("perplexity"));
    }
    let gru = write_model(dir.path(), CellKind::Gru, 2, "\nabc", TokenKind::Chars);
    let o = bin(&["eval", "--model", &gru, "--corpus", c]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("perplexity"));
    // A words model evaluates over words (lines mode needs its line symbol <eol>).
    let words = write_model(dir.path(), CellKind::Rnn, 1, "<eol> a b", TokenKind::Words);
    let wc = dir.path().join("w.txt");
    std::fs::write(&wc, "a b a\nb  a\n").expect("write");
    let o = bin(&[
        "eval",
        "--model",
        &words,
        "--corpus",
        wc.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nats/word, perplexity"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("over 7 words"));
    let no_eol = write_model(dir.path(), CellKind::Rnn, 1, "a b", TokenKind::Words);
    let o = bin(&["eval", "--model", &no_eol, "--corpus", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no line symbol"));
}

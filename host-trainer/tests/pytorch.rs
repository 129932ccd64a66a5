//! The PyTorch bridge: the committed fixture (made by `tools/pytorch/make_fixture.py`)
//! imports and runs through lstm-core with PyTorch's probabilities; export and import
//! round-trip exactly; every bad input is a clear error; the CLI does the same end to end.

use std::path::{Path, PathBuf};

use host_trainer::model_file::ModelFile;
use host_trainer::pytorch::{self, Prefixes, PytorchError};
use lstm_core::format::InputKind;
use lstm_core::{Input, Kernel};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

mod common;
use common::{assert_user_error, export, import, ok, run_ok, s};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pytorch")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).expect("fixture file")
}

fn vocab() -> String {
    let json = std::fs::read_to_string(data("vocab.json")).expect("vocab.json");
    pytorch::parse_vocab(&json).expect("fixture vocabulary parses")
}

struct Expected {
    tokens: Vec<usize>,
    input: String,
    probs: serde_json::Value,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(data("expected.json")).expect("expected.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("expected.json is JSON");
    Expected {
        tokens: serde_json::from_value(v["tokens"].clone()).expect("tokens"),
        input: serde_json::from_value(v["input"].clone()).expect("input"),
        probs: v["probs"].clone(),
    }
}

fn import_fixture(file: &str) -> ModelFile {
    pytorch::import(&read(file), &vocab(), &Prefixes::default())
        .unwrap_or_else(|e| panic!("{file} imports: {e}"))
}

/// Runs the tokens from a zero state through `kernel`; the softmax after each step.
fn run_kernel(model: &ModelFile, kernel: Kernel, tokens: &[usize]) -> Vec<Vec<f32>> {
    let cell = model.cell().expect("cell view");
    let d = model.dims;
    let (mut h, mut c, mut gates) = (vec![0.0; d.n_h], vec![0.0; d.n_h], vec![0.0; 4 * d.n_h]);
    let mut out = Vec::new();
    for &t in tokens {
        kernel
            .step(&cell, Input::Token(t), &mut h, &mut c, &mut gates)
            .expect("step");
        let mut p = vec![0.0; d.n_y];
        kernel.logits(&cell, &h, &mut p).expect("logits");
        kernel.softmax(&mut p, 1.0);
        out.push(p);
    }
    out
}

fn assert_matches_pytorch(model: &ModelFile, variant: &str, tol: f64) {
    let e = expected();
    let want: Vec<Vec<f64>> =
        serde_json::from_value(e.probs[variant].clone()).expect("probabilities");
    assert_eq!(want.len(), e.tokens.len());
    // The tokens are the input text through the vocabulary.
    let vocab: Vec<char> = model.vocab.chars().collect();
    let decoded: String = e.tokens.iter().map(|&t| vocab[t]).collect();
    assert_eq!(decoded, e.input);
    for kernel in Kernel::available() {
        let got = run_kernel(model, kernel, &e.tokens);
        let mut worst = 0.0f64;
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len());
            for (a, b) in g.iter().zip(w) {
                worst = worst.max((f64::from(*a) - b).abs());
            }
        }
        assert!(
            worst <= tol,
            "{variant} via {}: max |p - p_torch| = {worst:e} > {tol:e}",
            kernel.name()
        );
    }
}

#[test]
fn f32_fixture_matches_pytorch_probabilities() {
    let m = import_fixture("model.safetensors");
    assert_eq!(m.input, InputKind::OneHot);
    assert_eq!((m.dims.n_x, m.dims.n_h, m.dims.n_y), (10, 8, 10));
    assert_eq!(m.vocab, "\n abelnséλ");
    assert_matches_pytorch(&m, "f32", 1e-6);
}

#[test]
fn f64_fixture_is_the_same_model_as_f32() {
    let m32 = import_fixture("model.safetensors");
    let m64 = import_fixture("model_f64.safetensors");
    assert_eq!(
        m64.to_bytes().expect("encode"),
        m32.to_bytes().expect("encode")
    );
    assert_matches_pytorch(&m64, "f32", 1e-6);
}

#[test]
fn f16_and_bf16_fixtures_match_pytorch_on_their_rounded_weights() {
    for (file, variant) in [
        ("model_f16.safetensors", "f16"),
        ("model_bf16.safetensors", "bf16"),
    ] {
        let m = import_fixture(file);
        assert_matches_pytorch(&m, variant, 1e-6);
        // And they are close to the f32 model: rounding changed the weights, not the layout.
        assert_matches_pytorch(&m, "f32", if variant == "f16" { 1e-3 } else { 5e-3 });
    }
}

#[test]
fn export_then_import_gives_identical_model_bytes() {
    let m = import_fixture("model.safetensors");
    let bytes = m.to_bytes().expect("encode");
    for prefixes in [
        Prefixes::default(),
        Prefixes {
            lstm: "rnn.".into(),
            linear: "out.".into(),
        },
    ] {
        let st = pytorch::export(&m, &prefixes).expect("export");
        let back = pytorch::import(&st, &m.vocab, &prefixes).expect("re-import");
        assert_eq!(back.to_bytes().expect("encode"), bytes);
        assert_eq!(back, m);
    }
    // A negative zero in the summed bias survives too.
    let mut z = m.clone();
    z.b[0] = -0.0;
    let st = pytorch::export(&z, &Prefixes::default()).expect("export");
    let back = pytorch::import(&st, &z.vocab, &Prefixes::default()).expect("re-import");
    assert_eq!(
        back.to_bytes().expect("encode"),
        z.to_bytes().expect("encode")
    );
}

#[test]
fn export_has_exactly_nn_lstm_state_dict_names_shapes_and_dtypes() {
    let m = import_fixture("model.safetensors");
    let st_bytes = pytorch::export(&m, &Prefixes::default()).expect("export");
    let st = SafeTensors::deserialize(&st_bytes).expect("valid safetensors");
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "fc.bias",
            "fc.weight",
            "lstm.bias_hh_l0",
            "lstm.bias_ih_l0",
            "lstm.weight_hh_l0",
            "lstm.weight_ih_l0"
        ]
    );
    // The original file has the same names and shapes (the fixture was written by PyTorch).
    let orig_bytes = read("model.safetensors");
    let orig = SafeTensors::deserialize(&orig_bytes).expect("fixture");
    for (name, t) in st.tensors() {
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        let o = orig.tensor(&name).expect("same name in the PyTorch file");
        assert_eq!(t.shape(), o.shape(), "{name}");
    }
    // weight_ih, weight_hh and the output layer are bit-identical to PyTorch's.
    for name in [
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "fc.weight",
        "fc.bias",
    ] {
        assert_eq!(
            st.tensor(name).expect("exported").data(),
            orig.tensor(name).expect("original").data(),
            "{name}"
        );
    }
    let (_, meta) = SafeTensors::read_metadata(&st_bytes).expect("metadata");
    let meta = meta.metadata().clone().expect("metadata map");
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
}

// ---- error cases, built from the fixture with the safetensors crate ----

type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

fn fixture_tensors() -> Tensors {
    let bytes = read("model.safetensors");
    let st = SafeTensors::deserialize(&bytes).expect("fixture");
    let mut v: Tensors = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn serialize(tensors: &Tensors) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                TensorView::new(*d, s.clone(), b).expect("consistent test tensor"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serialize")
}

fn f32_bytes(n: usize, value: f32) -> Vec<u8> {
    (0..n).flat_map(|_| value.to_le_bytes()).collect()
}

fn import_err(tensors: &Tensors) -> PytorchError {
    import_err_with(&serialize(tensors), &vocab(), &Prefixes::default())
}

fn import_err_with(bytes: &[u8], vocab: &str, prefixes: &Prefixes) -> PytorchError {
    match pytorch::import(bytes, vocab, prefixes) {
        Ok(_) => panic!("import should fail"),
        Err(e) => e,
    }
}

fn modify(f: impl FnOnce(&mut Tensors)) -> Tensors {
    let mut t = fixture_tensors();
    f(&mut t);
    t
}

fn tensor<'a>(t: &'a mut Tensors, name: &str) -> &'a mut (String, Dtype, Vec<usize>, Vec<u8>) {
    t.iter_mut()
        .find(|x| x.0 == name)
        .expect("tensor in fixture")
}

#[test]
fn rebuilt_fixture_still_imports() {
    // The helpers themselves do not change the model.
    let m = pytorch::import(
        &serialize(&fixture_tensors()),
        &vocab(),
        &Prefixes::default(),
    )
    .expect("import");
    assert_eq!(m, import_fixture("model.safetensors"));
}

#[test]
fn wrong_prefix_names_the_missing_tensor_and_the_fix() {
    let e = import_err_with(
        &read("model.safetensors"),
        &vocab(),
        &Prefixes {
            lstm: "rnn.".into(),
            linear: "fc.".into(),
        },
    );
    let msg = e.to_string();
    assert!(matches!(e, PytorchError::MissingTensor { .. }), "{msg}");
    assert!(msg.contains("\"rnn.weight_ih_l0\" is missing"), "{msg}");
    assert!(msg.contains("--lstm-prefix \"lstm.\""), "{msg}");

    // A file with other names (the bench's `rnn` / `out`): the hint names the prefix to use.
    let renamed = modify(|t| {
        for x in t.iter_mut() {
            x.0 = x.0.replace("lstm.", "rnn.").replace("fc.", "out.");
        }
    });
    let msg = import_err(&renamed).to_string();
    assert!(msg.contains("--lstm-prefix \"rnn.\""), "{msg}");
    let msg = import_err_with(
        &serialize(&renamed),
        &vocab(),
        &Prefixes {
            lstm: "rnn.".into(),
            linear: "fc.".into(),
        },
    )
    .to_string();
    assert!(msg.contains("\"fc.weight\" is missing"), "{msg}");
    assert!(msg.contains("--linear-prefix \"out.\""), "{msg}");
    let ok = pytorch::import(
        &serialize(&renamed),
        &vocab(),
        &Prefixes {
            lstm: "rnn.".into(),
            linear: "out.".into(),
        },
    )
    .expect("imports with the right prefixes");
    assert_eq!(ok, import_fixture("model.safetensors"));
}

#[test]
fn extra_tensors_are_rejected() {
    let t = modify(|t| {
        t.push((
            "emb.weight".into(),
            Dtype::F32,
            vec![10, 10],
            f32_bytes(100, 0.5),
        ))
    });
    let e = import_err(&t);
    let msg = e.to_string();
    assert!(matches!(e, PytorchError::UnexpectedTensors { .. }), "{msg}");
    assert!(msg.contains("\"emb.weight\""), "{msg}");
}

#[test]
fn multi_layer_bidirectional_and_projected_lstms_are_unsupported() {
    for (added, needle) in [
        ("lstm.weight_ih_l1", "multi-layer LSTM (num_layers=2"),
        ("lstm.weight_hh_l0_reverse", "bidirectional"),
        ("lstm.weight_hr_l0", "projection"),
    ] {
        let t = modify(|t| t.push((added.into(), Dtype::F32, vec![32, 8], f32_bytes(256, 0.1))));
        let e = import_err(&t);
        let msg = e.to_string();
        assert!(matches!(e, PytorchError::Unsupported(_)), "{msg}");
        assert!(msg.contains(needle) && msg.contains(added), "{msg}");
    }
}

#[test]
fn wrong_shapes_are_rejected() {
    // weight_hh (4H, H) stored as (H, 4H).
    let t = modify(|t| tensor(t, "lstm.weight_hh_l0").2 = vec![8, 32]);
    let e = import_err(&t);
    let msg = e.to_string();
    assert!(matches!(e, PytorchError::Shape { .. }), "{msg}");
    assert!(
        msg.contains("lstm.weight_hh_l0") && msg.contains("[8, 32]"),
        "{msg}"
    );

    // fc.weight for another hidden size.
    let t = modify(|t| {
        let w = tensor(t, "fc.weight");
        w.2 = vec![8, 10];
    });
    let msg = import_err(&t).to_string();
    assert!(msg.contains("fc.weight") && msg.contains("(V, 8)"), "{msg}");

    // A bias of the wrong length.
    let t = modify(|t| {
        let b = tensor(t, "lstm.bias_hh_l0");
        b.2 = vec![16];
        b.3.truncate(16 * 4);
    });
    let msg = import_err(&t).to_string();
    assert!(
        msg.contains("lstm.bias_hh_l0") && msg.contains("[16]") && msg.contains("[32]"),
        "{msg}"
    );

    // An input size other than the vocabulary (e.g. an embedding in front).
    let t = modify(|t| {
        let w = tensor(t, "lstm.weight_ih_l0");
        w.2 = vec![32, 4];
        w.3.truncate(32 * 4 * 4);
    });
    let msg = import_err(&t).to_string();
    assert!(msg.contains("one-hot"), "{msg}");
}

#[test]
fn non_float_dtype_is_rejected() {
    let t = modify(|t| tensor(t, "fc.bias").1 = Dtype::I32);
    let e = import_err(&t);
    let msg = e.to_string();
    assert!(matches!(e, PytorchError::Dtype { .. }), "{msg}");
    assert!(msg.contains("fc.bias") && msg.contains("I32"), "{msg}");
}

#[test]
fn non_finite_weight_is_rejected_by_lstm_core() {
    let t = modify(|t| tensor(t, "fc.bias").3[..4].copy_from_slice(&f32::NAN.to_le_bytes()));
    let e = import_err(&t);
    assert!(matches!(e, PytorchError::Model(_)), "{e}");
}

#[test]
fn vocabulary_errors_are_clear() {
    let st = read("model.safetensors");
    let e = import_err_with(&st, "\n abelnsé", &Prefixes::default());
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            PytorchError::VocabSize {
                expected: 10,
                found: 9
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("9 symbols") && msg.contains("10"), "{msg}");

    // A repeated symbol: lstm-core's validation.
    let e = import_err_with(&st, "\n abelnsee", &Prefixes::default());
    assert!(e.to_string().contains("'e'"), "{e}");

    let e = pytorch::parse_vocab(r#"["a", "ab", "c"]"#).expect_err("two characters");
    assert!(e.to_string().contains("entry 1 is \"ab\""), "{e}");
    let e = pytorch::parse_vocab("abc").expect_err("not JSON");
    assert!(matches!(e, PytorchError::VocabJson(_)), "{e}");
    let e = pytorch::parse_vocab("[1, 2]").expect_err("not strings");
    assert!(matches!(e, PytorchError::VocabJson(_)), "{e}");
}

#[test]
fn truncated_or_damaged_files_are_rejected() {
    let st = read("model.safetensors");
    for len in [0, 4, 8, 100, st.len() / 2, st.len() - 1] {
        let e = import_err_with(&st[..len], &vocab(), &Prefixes::default());
        let msg = e.to_string();
        assert!(matches!(e, PytorchError::Safetensors(_)), "{len}: {msg}");
        assert!(msg.starts_with("not a valid safetensors file"), "{msg}");
    }
    let e = import_err_with(b"not a model at all", &vocab(), &Prefixes::default());
    assert!(matches!(e, PytorchError::Safetensors(_)), "{e}");
}

#[test]
fn dense_models_cannot_be_exported() {
    let mut m = import_fixture("model.safetensors");
    m.input = InputKind::Dense;
    let e = pytorch::export(&m, &Prefixes::default()).expect_err("dense");
    assert!(e.to_string().contains("dense-input"), "{e}");
}

// ---- the binary ----

#[test]
fn cli_import_sample_export_import_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (m1, st, vj, m2) = (
        dir.path().join("a.lstm"),
        dir.path().join("b.safetensors"),
        dir.path().join("b.vocab.json"),
        dir.path().join("c.lstm"),
    );
    ok(import(
        s(&data("model.safetensors")),
        s(&data("vocab.json")),
        s(&m1),
        &[],
    ));
    let first = std::fs::read(&m1).expect("model written");
    assert_eq!(
        first,
        import_fixture("model.safetensors")
            .to_bytes()
            .expect("encode")
    );

    let o = run_ok(&[
        "sample",
        "--model",
        s(&m1),
        "--prime",
        "λ",
        "--length",
        "20",
    ]);
    let text = String::from_utf8(o.stdout).expect("utf-8");
    assert!(
        text.starts_with('λ') && text.chars().count() >= 21,
        "{text:?}"
    );

    ok(export(s(&m1), s(&st), s(&vj)));
    let vocab_text = std::fs::read_to_string(&vj).expect("vocab written");
    assert_eq!(
        pytorch::parse_vocab(&vocab_text).expect("vocab JSON"),
        vocab()
    );

    ok(import(s(&st), s(&vj), s(&m2), &[]));
    assert_eq!(std::fs::read(&m2).expect("model written"), first);
}

#[test]
fn cli_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.lstm");
    let o = import(
        s(&data("model.safetensors")),
        s(&data("vocab.json")),
        s(&out),
        &["--lstm-prefix", "rnn."],
    );
    assert_user_error(&o, "--lstm-prefix \"lstm.\"");
    assert!(!out.exists());

    let truncated = dir.path().join("t.safetensors");
    let st = read("model.safetensors");
    std::fs::write(&truncated, &st[..st.len() / 2]).expect("write");
    let o = import(s(&truncated), s(&data("vocab.json")), s(&out), &[]);
    assert_user_error(&o, "not a valid safetensors file");

    let bad_vocab = dir.path().join("v.json");
    std::fs::write(&bad_vocab, r#"["a", "bc"]"#).expect("write");
    let o = import(s(&data("model.safetensors")), s(&bad_vocab), s(&out), &[]);
    assert_user_error(&o, "not a single character");

    let o = import(
        s(&dir.path().join("absent.safetensors")),
        s(&data("vocab.json")),
        s(&out),
        &[],
    );
    assert_user_error(&o, "absent.safetensors");

    let o = export(
        s(&dir.path().join("absent.lstm")),
        s(&dir.path().join("x.safetensors")),
        s(&dir.path().join("x.json")),
    );
    assert_user_error(&o, "absent.lstm");

    let o = export(s(&out), "same", "same");
    assert_user_error(&o, "are the same file");
}

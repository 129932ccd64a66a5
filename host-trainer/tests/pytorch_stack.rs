//! The PyTorch bridge for stacked LSTMs, GRUs and tanh RNNs: the fixtures of
//! `tests/data/pytorch2` (tools/pytorch/make_fixture.py) imported, run through lstm-core and
//! compared with PyTorch's float64 next-symbol probabilities; export round trips; refusals.

use host_trainer::pytorch::{self, Imported};
use lstm_core::format::decode_family;
use lstm_core::{Input, Kernel, NetworkView};

fn data(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pytorch2")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn vocab() -> String {
    pytorch::parse_vocab(std::str::from_utf8(&data("vocab.json")).expect("utf-8")).expect("vocab")
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&data(name)).expect("json")
}

/// Next-symbol probabilities after each symbol of `input`, from a zero state, through lstm-core.
fn probs(model: &[u8], vocab: &str, input: &str) -> Vec<Vec<f64>> {
    let family = decode_family(model).expect("decode");
    let mut storage = vec![0.0f32; NetworkView::storage_len(&family)];
    let net = NetworkView::from_family(&family, &mut storage).expect("view");
    let (mut h, mut c) = (vec![0.0; net.state_len()], vec![0.0; net.cell_state_len()]);
    let mut scratch = vec![0.0; net.scratch_len()];
    let n_h = net.dims().n_h;
    let mut logits = vec![0.0f32; net.dims().n_y];
    let k = Kernel::Portable;
    input
        .chars()
        .map(|ch| {
            let t = vocab
                .chars()
                .position(|v| v == ch)
                .expect("symbol in vocabulary");
            k.network_step(&net, Input::Token(t), &mut h, &mut c, &mut scratch)
                .expect("step");
            let top = &h[h.len() - n_h..];
            k.output_logits(net.output(), top, &mut logits)
                .expect("logits");
            let m = logits
                .iter()
                .fold(f64::NEG_INFINITY, |a, &l| a.max(f64::from(l)));
            let e: Vec<f64> = logits.iter().map(|&l| (f64::from(l) - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|x| x / s).collect()
        })
        .collect()
}

#[test]
fn fixtures_match_pytorch_probabilities_and_round_trip() {
    let vocab = vocab();
    for (name, kind, layers) in [("lstm2", "lstm", 2), ("gru2", "gru", 2), ("rnn1", "rnn", 1)] {
        let st = data(&format!("{name}.safetensors"));
        let reference = json(&format!("{name}.json"));
        let imported = pytorch::import_any(&st, &vocab, None, "fc.").expect("import");
        let Imported::Stack(stack, _) = &imported else {
            panic!("{name}: expected a version-2 model");
        };
        assert_eq!(stack.kind.name(), kind, "{name}");
        assert_eq!(stack.layers.len(), layers, "{name}");
        let bytes = imported.to_bytes().expect("encode");
        let input = reference["input"].as_str().expect("input");
        let got = probs(&bytes, &vocab, input);
        let want = reference["probs"].as_array().expect("probs");
        assert_eq!(got.len(), want.len(), "{name}");
        let mut worst = 0.0f64;
        for (g, w) in got.iter().zip(want) {
            for (a, b) in g.iter().zip(w.as_array().expect("row")) {
                worst = worst.max((a - b.as_f64().expect("number")).abs());
            }
        }
        assert!(
            worst < 1e-5,
            "{name}: worst probability difference {worst:e}"
        );

        let (exported, v) = pytorch::export_any(&bytes, None, "fc.").expect("export");
        assert_eq!(v, vocab);
        let again = pytorch::import_any(&exported, &v, None, "fc.").expect("re-import");
        assert_eq!(
            again.to_bytes().expect("encode"),
            bytes,
            "{name}: round trip"
        );
    }
}

#[test]
fn negative_fixtures_are_refused_naming_the_problem() {
    let vocab = vocab();
    let neg = json("negative.json");
    let files = neg["files"].as_array().expect("files");
    assert_eq!(files.len(), 8);
    for f in files {
        let file = f["file"].as_str().expect("file");
        let word = f["error_mentions"].as_str().expect("word");
        let err = pytorch::import_any(&data(file), &vocab, None, "fc.")
            .expect_err(file)
            .to_string();
        assert!(
            err.contains(word),
            "{file}: {err:?} does not mention {word:?}"
        );
    }
}

/// `import` (the version-1 API) is the same reader limited to one LSTM layer: a stacked LSTM or a GRU
/// is refused by name; a missing output layer names the linear prefix flag on both entry points.
#[test]
fn single_layer_import_refuses_stacks_and_every_hint_names_its_flag() {
    use host_trainer::pytorch::Prefixes;
    let vocab = vocab();
    let prefixes = |rnn: &str| Prefixes {
        lstm: rnn.into(),
        linear: "fc.".into(),
    };
    let e = pytorch::import(&data("lstm2.safetensors"), &vocab, &prefixes("lstm."))
        .expect_err("two layers")
        .to_string();
    assert!(
        e.contains("multi-layer LSTM (num_layers=2, e.g. \"lstm.bias_hh_l1\")"),
        "{e}"
    );
    let e = pytorch::import(&data("rnn1.safetensors"), &vocab, &prefixes("rnn."))
        .expect_err("an RNN")
        .to_string();
    assert!(
        e.contains("rnn.weight_hh_l0") && e.contains("(4·H, H)"),
        "{e}"
    );
    for st in ["lstm2", "gru2", "rnn1"] {
        let e = pytorch::import_any(&data(&format!("{st}.safetensors")), &vocab, None, "out.")
            .expect_err("no out. tensors")
            .to_string();
        assert!(
            e.contains("\"out.weight\" is missing") && e.contains("--linear-prefix \"fc.\""),
            "{st}: {e}"
        );
    }
}

//! Forward parity with PyTorch `nn.LSTM` (stacked), `nn.GRU` and `nn.RNN`:
//! every layer's hidden state (and cell state), at every step, and the
//! output probabilities of the `rnn-golden/2` reference vectors
//! (`testdata/golden/v2/`, see its SCHEMA.md), run in f32 through the
//! network view on every kernel this CPU runs, within SCHEMA.md's float32
//! tolerance: `|mine − golden| ≤ 1e-5 + 1e-4 · max |golden|` over each field.
//!
//! The models also go through the file format (`encode_family`, then
//! `decode_family` and `NetworkView::from_family`) and must give the same bits.

use lstm_core::format::{
    self, CellKind, Dims, Dtype, FamilyParts, Header, InputKind, LayerParts, TokenKind, WeightParts,
};
use lstm_core::{Input, InputLayout, Kernel, NetworkView, OutputView, RecurrentView};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../testdata/golden/v2/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every number of a nested array, in row-major order.
fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number")],
        other => panic!("not a number or array: {other}"),
    }
}

fn dim(g: &Value, name: &str) -> usize {
    g["dims"][name].as_u64().expect(name) as usize
}

/// One layer in the file layout (`w_ih` gather for layer 0, rows above).
struct Layer {
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b: Vec<f32>,
    b_hn: Vec<f32>,
}

/// A golden file's model in the file layout.
struct Model {
    kind: CellKind,
    dims: Dims,
    layers: Vec<Layer>,
    w_y: Vec<f32>,
    b_y: Vec<f32>,
}

fn model(g: &Value) -> Model {
    let kind = match g["cell"].as_str().expect("cell") {
        "lstm" => CellKind::Lstm,
        "gru" => CellKind::Gru,
        "rnn_tanh" => CellKind::Rnn,
        other => panic!("unknown cell {other}"),
    };
    let dims = Dims {
        n_x: dim(g, "n_x"),
        n_h: dim(g, "n_h"),
        n_y: dim(g, "n_y"),
    };
    let (n_h, gates) = (dims.n_h, kind.gates());
    assert_eq!(dim(g, "G"), gates);
    let p = &g["params"];
    let layers = (0..dim(g, "L"))
        .map(|l| {
            let wih = flat(&p[format!("weight_ih_l{l}")]);
            let n_in = if l == 0 { dims.n_x } else { n_h };
            assert_eq!(wih.len(), gates * n_h * n_in);
            let w_ih = if l == 0 {
                // [G·n_h][n_x] -> [G][n_x][n_h]
                let mut w = Vec::with_capacity(wih.len());
                for q in 0..gates {
                    for x in 0..n_in {
                        for k in 0..n_h {
                            w.push(wih[(q * n_h + k) * n_in + x] as f32);
                        }
                    }
                }
                w
            } else {
                wih.iter().map(|&v| v as f32).collect()
            };
            let w_hh = flat(&p[format!("weight_hh_l{l}")])
                .iter()
                .map(|&v| v as f32)
                .collect();
            let bih = flat(&p[format!("bias_ih_l{l}")]);
            let bhh = flat(&p[format!("bias_hh_l{l}")]);
            // Summed in f64, rounded once; the gru's n block keeps b_in and b_hn apart.
            let (b, b_hn) = match kind {
                CellKind::Gru => (
                    (0..3 * n_h)
                        .map(|i| if i < 2 * n_h { bih[i] + bhh[i] } else { bih[i] } as f32)
                        .collect(),
                    bhh[2 * n_h..].iter().map(|&v| v as f32).collect(),
                ),
                _ => (
                    bih.iter().zip(&bhh).map(|(a, b)| (a + b) as f32).collect(),
                    Vec::new(),
                ),
            };
            Layer {
                w_ih,
                w_hh,
                b,
                b_hn,
            }
        })
        .collect();
    let w_y = flat(&p["linear_weight"])
        .iter()
        .map(|&v| v as f32)
        .collect();
    let b_y = flat(&p["linear_bias"]).iter().map(|&v| v as f32).collect();
    Model {
        kind,
        dims,
        layers,
        w_y,
        b_y,
    }
}

fn network(m: &Model) -> NetworkView<'_> {
    let layers: Vec<_> = m
        .layers
        .iter()
        .enumerate()
        .map(|(l, w)| {
            let (layout, n_in) = if l == 0 {
                (InputLayout::Gather, m.dims.n_x)
            } else {
                (InputLayout::Rows, m.dims.n_h)
            };
            RecurrentView::new(
                m.kind, layout, n_in, m.dims.n_h, &w.w_ih, &w.w_hh, &w.b, &w.b_hn,
            )
            .expect("layer")
        })
        .collect();
    let out = OutputView::new(m.dims.n_h, m.dims.n_y, &m.w_y, &m.b_y).expect("output");
    NetworkView::new(InputKind::OneHot, &layers, out).expect("network")
}

/// The model written with `encode_family` (vocabulary "a", "b", … as words).
fn encoded(m: &Model) -> Vec<u8> {
    let vocab: Vec<String> = (0..m.dims.n_y).map(|i| format!("w{i}")).collect();
    let vocab = vocab.join(" ");
    let layers: Vec<LayerParts<'_>> = m
        .layers
        .iter()
        .map(|l| LayerParts {
            w_ih: WeightParts::F32(&l.w_ih),
            w_hh: WeightParts::F32(&l.w_hh),
            b: &l.b,
            b_hn: &l.b_hn,
        })
        .collect();
    let parts = FamilyParts {
        header: Header {
            cell: m.kind,
            dtype: Dtype::F32,
            input: InputKind::OneHot,
            tokens: TokenKind::Words,
            dims: m.dims,
            n_layers: m.layers.len(),
        },
        vocab: &vocab,
        layers: &layers,
        w_y: WeightParts::F32(&m.w_y),
        b_y: &m.b_y,
    };
    let mut out = vec![0u8; format::encoded_len_family(&parts).expect("length")];
    let n = format::encode_family(&parts, &mut out).expect("encode");
    out.truncate(n);
    out
}

/// Field-scaled float32 tolerance of SCHEMA.md.
fn tolerance(golden: &[f64]) -> f64 {
    1e-5 + 1e-4 * golden.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Runs the golden inputs through `net` on `kernel`; returns every layer's
/// h (and c) at every step and the probabilities, as the golden fields' layouts.
fn run(g: &Value, net: &NetworkView<'_>, kernel: Kernel) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (t_len, m, n_l) = (dim(g, "T"), dim(g, "m"), dim(g, "L"));
    let (n_h, n_y) = (net.dims().n_h, net.dims().n_y);
    let lstm = net.kind() == CellKind::Lstm;
    let h0 = flat(&g["inputs"]["h0"]);
    let c0 = if lstm {
        flat(&g["inputs"]["c0"])
    } else {
        Vec::new()
    };
    let x_index = flat(&g["inputs"]["x_index"]);
    // [L][T][m][n_h] and [T][m][n_y]
    let mut hs = vec![0.0f32; n_l * t_len * m * n_h];
    let mut cs = vec![0.0f32; if lstm { hs.len() } else { 0 }];
    let mut probs = vec![0.0f32; t_len * m * n_y];
    for b in 0..m {
        let mut h = vec![0.0f32; net.state_len()];
        let mut c = vec![0.0f32; net.cell_state_len()];
        for l in 0..n_l {
            for k in 0..n_h {
                h[l * n_h + k] = h0[(l * m + b) * n_h + k] as f32;
                if lstm {
                    c[l * n_h + k] = c0[(l * m + b) * n_h + k] as f32;
                }
            }
        }
        let mut scratch = vec![0.0f32; net.scratch_len()];
        for t in 0..t_len {
            let x = x_index[t * m + b] as usize;
            kernel
                .network_step(net, Input::Token(x), &mut h, &mut c, &mut scratch)
                .expect("step");
            for l in 0..n_l {
                let at = ((l * t_len + t) * m + b) * n_h;
                hs[at..at + n_h].copy_from_slice(&h[l * n_h..(l + 1) * n_h]);
                if lstm {
                    cs[at..at + n_h].copy_from_slice(&c[l * n_h..(l + 1) * n_h]);
                }
            }
            let p = &mut probs[(t * m + b) * n_y..(t * m + b + 1) * n_y];
            kernel
                .output_logits(net.output(), &h[(n_l - 1) * n_h..], p)
                .expect("logits");
            kernel.softmax(p, 1.0);
        }
    }
    (hs, cs, probs)
}

fn check_case(name: &str) {
    let g = load(name);
    assert_eq!(g["schema"], "rnn-golden/2");
    let m = model(&g);
    let net = network(&m);
    let bytes = encoded(&m);
    let family = format::decode_family(&bytes).expect("decode");
    let mut storage = vec![0.0f32; NetworkView::storage_len(&family)];
    let from_file = NetworkView::from_family(&family, &mut storage).expect("from_family");
    assert_eq!(from_file.n_layers(), m.layers.len());
    assert_eq!(from_file.kind(), m.kind);
    let fwd = &g["forward"];
    let mut fields = vec![("h", flat(&fwd["h"])), ("probs", flat(&fwd["probs"]))];
    if m.kind == CellKind::Lstm {
        fields.push(("c", flat(&fwd["c"])));
    }
    for &kernel in Kernel::available().iter() {
        let (hs, cs, probs) = run(&g, &net, kernel);
        for (what, golden) in &fields {
            let mine = match *what {
                "h" => &hs,
                "c" => &cs,
                _ => &probs,
            };
            assert_eq!(mine.len(), golden.len(), "{name} {what}: length");
            let tol = tolerance(golden);
            let mut worst = 0.0f64;
            for (i, (&a, &e)) in mine.iter().zip(golden).enumerate() {
                let err = (f64::from(a) - e).abs();
                worst = worst.max(err);
                assert!(
                    err <= tol,
                    "{name} [{}]: {what}[{i}] = {a}, PyTorch {e} (|err| {err:e} > {tol:e})",
                    kernel.name()
                );
            }
            eprintln!(
                "{name} [{}]: {what} worst |err| {worst:e} (tolerance {tol:e})",
                kernel.name()
            );
        }
        // Through the file: the same bits.
        let again = run(&g, &from_file, kernel);
        assert!(
            again.0 == hs && again.1 == cs && again.2 == probs,
            "{name} [{}]: the decoded model computes other bits",
            kernel.name()
        );
    }
}

#[test]
fn gru_two_layers_tiny_matches_pytorch() {
    check_case("gru2_tiny_nx3_nh2_T3_m1_seed24.json");
}

#[test]
fn gru_one_layer_small_matches_pytorch() {
    check_case("gru1_small_nx27_nh16_T5_m2_seed22.json");
}

#[test]
fn rnn_one_layer_small_matches_pytorch() {
    check_case("rnn1_small_nx27_nh16_T5_m2_seed23.json");
}

#[test]
fn lstm_two_layers_small_matches_pytorch() {
    check_case("lstm2_small_nx27_nh16_T5_m2_seed21.json");
}

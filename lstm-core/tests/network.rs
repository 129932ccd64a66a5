//! The network view and the generator over it: hand-worked GRU and RNN
//! steps, stacked layers equal to layer-by-layer steps, the single-layer
//! LSTM path unchanged, word vocabularies, and every construction error.

mod common;

use common::random_model;
use lstm_core::format::{
    self, CellKind, Dims, Dtype, FamilyParts, Header, InputKind, LayerParts, TokenKind, WeightParts,
};
use lstm_core::lut::tanh_table;
use lstm_core::quant::{dequantize, dot_q8, q8_output, q15};
use lstm_core::{
    Error, Generator, GeneratorBuffers, InlineStep, Input, InputLayout, Kernel, NetworkView,
    OutputView, RecurrentView, Sampler, SamplerConfig,
};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One GRU step of one unit, token 1, h = 0.5, against PyTorch's equations in f64.
#[test]
fn gru_step_matches_the_equations() {
    // w_ih [3][2][1] (gather): r (0.3, -0.2), z (0.1, 0.4), n (0.5, 0.6)
    let w_ih = [0.3, -0.2, 0.1, 0.4, 0.5, 0.6];
    let w_hh = [0.7, -0.3, 0.2];
    let b = [0.1, 0.0, -0.1]; // b_ir + b_hr, b_iz + b_hz, b_in
    let b_hn = [0.05];
    let layer = RecurrentView::new(
        CellKind::Gru,
        InputLayout::Gather,
        2,
        1,
        &w_ih,
        &w_hh,
        &b,
        &b_hn,
    )
    .expect("layer");
    let h0 = 0.5f64;
    let r = sigmoid(0.7 * h0 + (-0.2 + 0.1));
    let z = sigmoid(-0.3 * h0 + 0.4);
    let n = (0.6 - 0.1 + r * (0.2 * h0 + 0.05)).tanh();
    let want = (1.0 - z) * n + z * h0;
    for &k in Kernel::available().iter() {
        let mut h = [0.5f32];
        let mut scratch = [0.0f32; 4];
        k.layer_step(&layer, Input::Token(1), &mut h, &mut [], &mut scratch)
            .expect("step");
        assert!(
            (f64::from(h[0]) - want).abs() < 1e-6,
            "{}: h = {}, want {want}",
            k.name(),
            h[0]
        );
    }
}

/// One tanh-RNN step of two units, dense input, against the equation in f64.
#[test]
fn rnn_step_matches_the_equation() {
    // Rows layout: w_ih [2][3], w_hh [2][2].
    let w_ih = [0.1, -0.2, 0.3, 0.4, 0.5, -0.6];
    let w_hh = [0.7, 0.8, -0.9, 0.25];
    let b = [0.05, -0.05];
    let layer = RecurrentView::new(
        CellKind::Rnn,
        InputLayout::Rows,
        3,
        2,
        &w_ih,
        &w_hh,
        &b,
        &[],
    )
    .expect("layer");
    let (x, h0) = ([1.0f32, -0.5, 0.25], [0.3f32, -0.7]);
    for &k in Kernel::available().iter() {
        let mut h = h0;
        let mut scratch = [0.0f32; 4];
        k.layer_step(&layer, Input::Dense(&x), &mut h, &mut [], &mut scratch)
            .expect("step");
        for (u, &got) in h.iter().enumerate() {
            let mut a = f64::from(b[u]);
            for j in 0..3 {
                a += f64::from(w_ih[u * 3 + j]) * f64::from(x[j]);
            }
            for j in 0..2 {
                a += f64::from(w_hh[u * 2 + j]) * f64::from(h0[j]);
            }
            assert!(
                (f64::from(got) - a.tanh()).abs() < 1e-6,
                "{}: unit {u}",
                k.name()
            );
        }
    }
}

/// Seeded weights of an `n_l`-layer network in the file layout.
struct Weights {
    kind: CellKind,
    dims: Dims,
    layers: Vec<[Vec<f32>; 4]>,
    w_y: Vec<f32>,
    b_y: Vec<f32>,
}

fn weights(kind: CellKind, n_l: usize, n_v: usize, n_h: usize, seed: u64) -> Weights {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1.6
            })
            .collect()
    };
    let g = kind.gates();
    let layers = (0..n_l)
        .map(|l| {
            let n_in = if l == 0 { n_v } else { n_h };
            let b_hn = if kind == CellKind::Gru { n_h } else { 0 };
            [v(g * n_in * n_h), v(g * n_h * n_h), v(g * n_h), v(b_hn)]
        })
        .collect();
    Weights {
        kind,
        dims: Dims {
            n_x: n_v,
            n_h,
            n_y: n_v,
        },
        layers,
        w_y: v(n_v * n_h),
        b_y: v(n_v),
    }
}

fn layer_views(w: &Weights) -> Vec<RecurrentView<'_>> {
    w.layers
        .iter()
        .enumerate()
        .map(|(l, t)| {
            let (layout, n_in) = if l == 0 {
                (InputLayout::Gather, w.dims.n_x)
            } else {
                (InputLayout::Rows, w.dims.n_h)
            };
            RecurrentView::new(w.kind, layout, n_in, w.dims.n_h, &t[0], &t[1], &t[2], &t[3])
                .expect("layer")
        })
        .collect()
}

fn network(w: &Weights) -> NetworkView<'_> {
    let out = OutputView::new(w.dims.n_h, w.dims.n_y, &w.w_y, &w.b_y).expect("output");
    NetworkView::new(InputKind::OneHot, &layer_views(w), out).expect("network")
}

/// `network_step` is each layer's `layer_step` in turn, layer k fed layer k−1's new h.
#[test]
fn network_step_equals_layer_by_layer_steps() {
    for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let w = weights(kind, 3, 7, 11, 5);
        let net = network(&w);
        let n_h = 11;
        let c_len = if kind == CellKind::Lstm { n_h } else { 0 };
        assert_eq!(net.state_len(), 3 * n_h);
        assert_eq!(net.cell_state_len(), 3 * c_len);
        for &k in Kernel::available().iter() {
            let mut h: Vec<f32> = (0..3 * n_h).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut c: Vec<f32> = (0..3 * c_len).map(|i| (i as f32 * 0.11).cos()).collect();
            let (mut h2, mut c2) = (h.clone(), c.clone());
            let mut scratch = vec![0.0f32; net.scratch_len()];
            k.network_step(&net, Input::Token(4), &mut h, &mut c, &mut scratch)
                .expect("network step");
            for (l, layer) in net.layers().iter().enumerate() {
                let (below, here) = h2.split_at_mut(l * n_h);
                let x = if l == 0 {
                    Input::Token(4)
                } else {
                    Input::Dense(&below[(l - 1) * n_h..])
                };
                k.layer_step(
                    layer,
                    x,
                    &mut here[..n_h],
                    &mut c2[l * c_len..(l + 1) * c_len],
                    &mut scratch,
                )
                .expect("layer step");
            }
            assert_eq!(h, h2, "{} {}", kind.name(), k.name());
            assert_eq!(c, c2, "{} {}", kind.name(), k.name());
        }
    }
}

/// The single-layer LSTM through the network path has `Kernel::step`'s bits,
/// and a generator built either way gives the same text and digest.
#[test]
fn single_layer_lstm_network_equals_cell_path() {
    let m = random_model(6, 13, 3, 1.0);
    let cell = m.cell();
    let net = cell.network(InputKind::OneHot);
    assert!(net.cell_view().is_some());
    for &k in Kernel::available().iter() {
        let (mut h, mut c, mut g) = (vec![0.2f32; 13], vec![-0.1f32; 13], vec![0.0f32; 52]);
        let (mut h2, mut c2) = (h.clone(), c.clone());
        k.step(&cell, Input::Token(2), &mut h, &mut c, &mut g)
            .expect("step");
        k.network_step(&net, Input::Token(2), &mut h2, &mut c2, &mut g)
            .expect("network step");
        assert_eq!(h, h2);
        assert_eq!(c, c2);
    }
    let vocab = "abcdef";
    let run = |via_network: bool| {
        let (mut h, mut c, mut gates) = (vec![0.0; 13], vec![0.0; 13], vec![0.0; 52]);
        let (mut logits, mut order) = (vec![0.0; 6], vec![0u16; 6]);
        let buffers = GeneratorBuffers {
            h: &mut h,
            c: &mut c,
            gates: &mut gates,
            logits: &mut logits,
            order: &mut order,
        };
        let kernel = Kernel::Portable;
        let mut g = if via_network {
            Generator::for_network(net, TokenKind::Chars, vocab, kernel, buffers, InlineStep)
        } else {
            Generator::new(cell, InputKind::OneHot, vocab, kernel, buffers)
        }
        .expect("generator");
        let mut sampler = Sampler::new(SamplerConfig::default(), 9).expect("sampler");
        let mut text = String::new();
        g.generate(&mut sampler, "ab", 40, None, |ch| text.push(ch))
            .expect("generate");
        (text, g.state_digest())
    };
    assert_eq!(run(true), run(false));
}

/// A two-layer GRU over words: whole tokens out, reproducible, the digest
/// covering every layer, and unknown prime words refused before anything is emitted.
#[test]
fn word_model_generates_whole_tokens() {
    let w = weights(CellKind::Gru, 2, 5, 9, 17);
    let net = network(&w);
    let vocab = "the cat sat on mat";
    let run = |seed: u64| -> Result<(Vec<usize>, u32, Vec<f32>), Error> {
        let mut h = vec![0.0; net.state_len()];
        let mut c = vec![0.0; net.cell_state_len()];
        let mut gates = vec![0.0; net.scratch_len()];
        let (mut logits, mut order) = (vec![0.0; 5], vec![0u16; 5]);
        let mut g = Generator::for_network(
            net,
            TokenKind::Words,
            vocab,
            Kernel::detect(),
            GeneratorBuffers {
                h: &mut h,
                c: &mut c,
                gates: &mut gates,
                logits: &mut logits,
                order: &mut order,
            },
            InlineStep,
        )?;
        assert_eq!(g.symbol_text(1)?, "cat");
        assert_eq!(g.symbol_index("mat")?, 4);
        let mut sampler = Sampler::new(SamplerConfig::default(), seed)?;
        let mut out = Vec::new();
        g.generate_symbols(&mut sampler, "the  cat\non", 12, None, |t| out.push(t))?;
        Ok((out, g.state_digest(), g.hidden().to_vec()))
    };
    let (a, digest, hidden) = run(3).expect("run");
    assert_eq!(&a[..3], &[0, 1, 3], "the prime's words come first");
    assert_eq!(a.len(), 3 + 12);
    assert!(a.iter().all(|&t| t < 5));
    assert_eq!(hidden.len(), 18);
    assert!(hidden[..9] != hidden[9..], "two layers, two states");
    assert_eq!(run(3).expect("again").1, digest, "same seed, same bits");
    // Unknown word: the error names its position.
    let mut h = vec![0.0; 18];
    let mut gates = vec![0.0; net.scratch_len()];
    let (mut logits, mut order) = (vec![0.0; 5], vec![0u16; 5]);
    let mut g = Generator::for_network(
        net,
        TokenKind::Words,
        vocab,
        Kernel::Portable,
        GeneratorBuffers {
            h: &mut h,
            c: &mut [],
            gates: &mut gates,
            logits: &mut logits,
            order: &mut order,
        },
        InlineStep,
    )
    .expect("generator");
    let mut sampler = Sampler::new(SamplerConfig::default(), 1).expect("sampler");
    let mut emitted = 0;
    assert_eq!(
        g.generate_symbols(&mut sampler, "the dog sat", 5, None, |_| emitted += 1),
        Err(Error::UnknownWord { index: 1 })
    );
    assert_eq!(emitted, 0);
    assert!(g.generate(&mut sampler, "", 3, None, |_| ()).is_err());
    assert_eq!(
        g.symbol_text(5),
        Err(Error::TokenOutOfRange { token: 5, vocab: 5 })
    );
}

/// Wrong buffer lengths and vocabularies are refused by name.
#[test]
fn generator_rejects_bad_buffers_and_vocabularies() {
    let w = weights(CellKind::Lstm, 2, 4, 6, 2);
    let net = network(&w);
    assert_eq!(
        net.scratch_len(),
        5 * 6,
        "a rows-layout lstm layer needs 5·n_h"
    );
    let attempt = |vocab: &str, tokens, h_len: usize, c_len: usize, gates_len: usize| {
        let mut h = vec![0.0; h_len];
        let mut c = vec![0.0; c_len];
        let mut gates = vec![0.0; gates_len];
        let (mut logits, mut order) = (vec![0.0; 4], vec![0u16; 4]);
        Generator::for_network(
            net,
            tokens,
            vocab,
            Kernel::Portable,
            GeneratorBuffers {
                h: &mut h,
                c: &mut c,
                gates: &mut gates,
                logits: &mut logits,
                order: &mut order,
            },
            InlineStep,
        )
        .map(|_| ())
    };
    assert_eq!(attempt("abcd", TokenKind::Chars, 12, 12, 30), Ok(()));
    assert_eq!(
        attempt("abcd", TokenKind::Chars, 6, 12, 30),
        Err(Error::BufferTooSmall {
            needed: 12,
            available: 6
        })
    );
    assert_eq!(
        attempt("abcd", TokenKind::Chars, 12, 12, 24),
        Err(Error::BufferTooSmall {
            needed: 30,
            available: 24
        })
    );
    assert!(attempt("abc", TokenKind::Chars, 12, 12, 30).is_err());
    assert!(attempt("a b c c", TokenKind::Words, 12, 12, 30).is_err());
    assert_eq!(attempt("a b c d", TokenKind::Words, 12, 12, 30), Ok(()));
}

#[test]
fn views_reject_bad_shapes() {
    let lstm = weights(CellKind::Lstm, 2, 4, 3, 1);
    let gru = weights(CellKind::Gru, 2, 4, 3, 1);
    let out = OutputView::new(3, 4, &lstm.w_y, &lstm.b_y).expect("output");
    let (l, g) = (layer_views(&lstm), layer_views(&gru));
    assert!(matches!(
        NetworkView::new(InputKind::OneHot, &[], out),
        Err(Error::DimensionOutOfRange {
            name: "n_layers",
            ..
        })
    ));
    assert!(matches!(
        NetworkView::new(InputKind::OneHot, &[l[0], l[1], l[1], l[1], l[1]], out),
        Err(Error::DimensionOutOfRange {
            name: "n_layers",
            ..
        })
    ));
    assert!(matches!(
        NetworkView::new(InputKind::OneHot, &[l[0], g[1]], out),
        Err(Error::UnsupportedModel { .. })
    ));
    assert!(matches!(
        NetworkView::new(InputKind::OneHot, &[l[0], l[0]], out),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        NetworkView::new(InputKind::OneHot, &[l[1]], out),
        Err(Error::DimensionMismatch { .. })
    ));
    let t = &gru.layers[0];
    let bad = |w_ih: &[f32], b_hn: &[f32]| {
        RecurrentView::new(
            CellKind::Gru,
            InputLayout::Gather,
            4,
            3,
            w_ih,
            &t[1],
            &t[2],
            b_hn,
        )
        .map(|_| ())
    };
    assert!(matches!(bad(&t[0], &t[3]), Ok(())));
    assert!(matches!(
        bad(&t[0][1..], &t[3]),
        Err(Error::TensorLength { tensor: "w_ih", .. })
    ));
    assert!(matches!(
        bad(&t[0], &[]),
        Err(Error::TensorLength { tensor: "b_hn", .. })
    ));
    assert!(matches!(
        OutputView::new(3, 4, &lstm.w_y[1..], &lstm.b_y),
        Err(Error::TensorLength { tensor: "w_y", .. })
    ));
    // A token for a rows-layout layer, and a too-short scratch.
    let mut scratch = [0.0f32; 20];
    assert_eq!(
        Kernel::Portable.layer_step(
            &l[1],
            Input::Token(0),
            &mut [0.0; 3],
            &mut [0.0; 3],
            &mut scratch
        ),
        Err(Error::WrongInputKind)
    );
    assert!(
        Kernel::Portable
            .layer_step(
                &l[1],
                Input::Dense(&[0.0; 3]),
                &mut [0.0; 3],
                &mut [0.0; 3],
                &mut scratch[..14]
            )
            .is_err()
    );
}

/// `from_family` reads every family member, f32 and q8 (whose step is the
/// `quant` definition: exact int8 × Q15 sums, scaled, then the f32 tail); a
/// wrong storage length is refused.
#[test]
fn from_family_copies_f32_and_q8_models() {
    let w = weights(CellKind::Rnn, 2, 3, 4, 8);
    let layers: Vec<LayerParts<'_>> = w
        .layers
        .iter()
        .map(|t| LayerParts {
            w_ih: WeightParts::F32(&t[0]),
            w_hh: WeightParts::F32(&t[1]),
            b: &t[2],
            b_hn: &t[3],
        })
        .collect();
    let mut header = Header {
        cell: CellKind::Rnn,
        dtype: Dtype::F32,
        input: InputKind::OneHot,
        tokens: TokenKind::Chars,
        dims: w.dims,
        n_layers: 2,
    };
    let parts = FamilyParts {
        header,
        vocab: "xyz",
        layers: &layers,
        w_y: WeightParts::F32(&w.w_y),
        b_y: &w.b_y,
    };
    let mut bytes = vec![0u8; format::encoded_len_family(&parts).expect("len")];
    format::encode_family(&parts, &mut bytes).expect("encode");
    let family = format::decode_family(&bytes).expect("decode");
    let mut storage = vec![0.0; NetworkView::storage_len(&family)];
    assert!(matches!(
        NetworkView::from_family(&family, &mut storage[1..]),
        Err(Error::BufferTooSmall { .. })
    ));
    let net = NetworkView::from_family(&family, &mut storage).expect("view");
    let direct = network(&w);
    let mut scratch = vec![0.0; net.scratch_len()];
    let (mut h1, mut h2) = (vec![0.1; 8], vec![0.1; 8]);
    let k = Kernel::Portable;
    k.network_step(&net, Input::Token(2), &mut h1, &mut [], &mut scratch)
        .expect("step");
    k.network_step(&direct, Input::Token(2), &mut h2, &mut [], &mut scratch)
        .expect("step");
    assert_eq!(h1, h2);

    // q8: the view runs the q8 step.
    header.dtype = Dtype::Q8;
    let q = |n: usize, k: i32| {
        (0..n)
            .map(|i| ((i as i32 * k) % 255 - 127) as i8)
            .collect::<Vec<_>>()
    };
    let s = |n: usize| (0..n).map(|i| 0.01 + i as f32 / 64.0).collect::<Vec<_>>();
    let (q0, q1, q2, q3, qy) = (q(4 * 3, 37), q(16, 53), q(16, 71), q(16, 89), q(12, 101));
    let (s4, sy) = (s(4), s(3));
    let ql = [
        LayerParts {
            w_ih: WeightParts::Q8 { q: &q0, scale: &s4 },
            w_hh: WeightParts::Q8 { q: &q1, scale: &s4 },
            b: &w.layers[0][2],
            b_hn: &[],
        },
        LayerParts {
            w_ih: WeightParts::Q8 { q: &q2, scale: &s4 },
            w_hh: WeightParts::Q8 { q: &q3, scale: &s4 },
            b: &w.layers[1][2],
            b_hn: &[],
        },
    ];
    let qparts = FamilyParts {
        header,
        vocab: "xyz",
        layers: &ql,
        w_y: WeightParts::Q8 { q: &qy, scale: &sy },
        b_y: &w.b_y,
    };
    let mut bytes = vec![0u8; format::encoded_len_family(&qparts).expect("len")];
    format::encode_family(&qparts, &mut bytes).expect("encode q8");
    let family = format::decode_family(&bytes).expect("decode q8");
    // Each matrix packed four int8 to a word, then its scales; biases f32.
    let words = 3 + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 3 + 3 + 3;
    assert_eq!(NetworkView::storage_len(&family), words);
    let mut storage = vec![0.0; NetworkView::storage_len(&family)];
    let net = NetworkView::from_family(&family, &mut storage).expect("q8 view");
    assert_eq!(net.dtype(), Dtype::Q8);
    assert!(net.cell_view().is_none());
    let mut scratch = vec![0.0; net.scratch_len()];
    // f32 rnn x2: h + h; q8 adds the Q15 h (2 words) and, from layer 1, the Q15 input.
    assert_eq!(net.scratch_len(), 2 * 4 + 2 + 2);
    let h0: Vec<f32> = (0..8).map(|i| 0.9 - 0.23 * i as f32).collect();
    let mut h = h0.clone();
    k.network_step(&net, Input::Token(2), &mut h, &mut [], &mut scratch)
        .expect("q8 step");
    // The definition, unit by unit: a = W_hh·h + (W_ih·x + b), h' = tanh(a)
    // with q8's table tanh.
    let row = |m: &[i8], k: usize, v: &[f32], sc: f32| {
        let hq: Vec<i16> = v.iter().map(|&x| q15(x)).collect();
        q8_output(dot_q8(&m[k * 4..k * 4 + 4], &hq), sc)
    };
    let mut want = vec![0.0f32; 8];
    for u in 0..4 {
        let col = dequantize(q0[2 * 4 + u], s4[u]);
        let a = row(&q1, u, &h0[..4], s4[u]) + (col + w.layers[0][2][u]);
        want[u] = tanh_table(a);
    }
    for u in 0..4 {
        let ih = row(&q2, u, &want[..4], s4[u]);
        let a = row(&q3, u, &h0[4..], s4[u]) + (ih + w.layers[1][2][u]);
        want[4 + u] = tanh_table(a);
    }
    assert_eq!(h, want);
    let mut logits = vec![0.0; 3];
    k.network_logits(&net, &h, &mut logits, &mut scratch)
        .expect("logits");
    let want_y: Vec<f32> = (0..3)
        .map(|y| row(&qy, y, &h[4..], sy[y]) + w.b_y[y])
        .collect();
    assert_eq!(logits, want_y);
    let mut direct = vec![0.0; 3];
    k.output_logits(net.output(), &h[4..], &mut direct)
        .expect("logits");
    assert_eq!(direct, want_y);

    // q8-shared: the same parts (each w_hh on its w_ih's scales) stored with
    // one scale string per layer; the view passes that one slice to both
    // products and steps bit for bit as the q8 file.
    let shared = FamilyParts {
        header: Header {
            dtype: Dtype::Q8Shared,
            ..header
        },
        ..qparts
    };
    let mut sbytes = vec![0u8; format::encoded_len_family(&shared).expect("len")];
    format::encode_family(&shared, &mut sbytes).expect("encode q8-shared");
    assert_eq!(bytes.len() - sbytes.len(), 2 * 4 * 4);
    let family = format::decode_family(&sbytes).expect("decode q8-shared");
    assert_eq!(NetworkView::storage_len(&family), words - 2 * 4);
    let mut storage = vec![0.0; NetworkView::storage_len(&family)];
    let snet = NetworkView::from_family(&family, &mut storage).expect("q8-shared view");
    let mut hs = h0.clone();
    k.network_step(&snet, Input::Token(2), &mut hs, &mut [], &mut scratch)
        .expect("q8-shared step");
    assert_eq!(hs, want);
    let mut slogits = vec![0.0; 3];
    k.network_logits(&snet, &hs, &mut slogits, &mut scratch)
        .expect("logits");
    assert_eq!(slogits, want_y);
}

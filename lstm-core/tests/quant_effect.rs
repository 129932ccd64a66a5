//! What quantization does to a model: post-training quantization
//! (`quant::quantize_family`) of f32 models — the shipped firmware model and
//! random stacks of every cell kind — then f32 and q8 steps from the same
//! state. Each q8 step's state and output stay within a bound derived from
//! the weights' rounding bound (`quant::rounding_bound`, half a scale step)
//! and the Q15 state's rounding (2^-15), propagated through the cell's
//! Lipschitz constants; and a q8 model generates the same text and state
//! digest on every kernel.

use lstm_core::format::{
    self, CellKind, Dims, Dtype, FamilyParts, FamilyView, Header, InputKind, LayerParts,
    MAX_LAYERS, TokenKind, WeightParts,
};
use lstm_core::quant::{q8_buffer_lens, quantize_family, rounding_bound};
use lstm_core::{
    Generator, GeneratorBuffers, InlineStep, Input, Kernel, NetworkView, Sampler, SamplerConfig,
};
use proptest::prelude::*;

/// An f32 model in the file layout, owned.
struct Owned {
    header: Header,
    vocab: String,
    /// Per layer: w_ih, w_hh, b, b_hn.
    layers: Vec<[Vec<f32>; 4]>,
    w_y: Vec<f32>,
    b_y: Vec<f32>,
}

impl Owned {
    /// Copies an f32 model out of a decoded file.
    fn from_view(v: &FamilyView<'_>) -> Owned {
        let f = |w: format::Weights<'_>| w.as_f32().expect("f32").iter().collect::<Vec<f32>>();
        Owned {
            header: v.header,
            vocab: v.vocab.to_string(),
            layers: v
                .layers()
                .iter()
                .map(|l| {
                    [
                        f(l.w_ih),
                        f(l.w_hh),
                        l.b.iter().collect(),
                        l.b_hn.iter().collect(),
                    ]
                })
                .collect(),
            w_y: f(v.w_y),
            b_y: v.b_y.iter().collect(),
        }
    }

    /// The f32 file and its post-training quantized q8 file.
    fn encode_both(&self) -> (Vec<u8>, Vec<u8>) {
        let layers: Vec<LayerParts<'_>> = self
            .layers
            .iter()
            .map(|t| LayerParts {
                w_ih: WeightParts::F32(&t[0]),
                w_hh: WeightParts::F32(&t[1]),
                b: &t[2],
                b_hn: &t[3],
            })
            .collect();
        let parts = FamilyParts {
            header: self.header,
            vocab: &self.vocab,
            layers: &layers,
            w_y: WeightParts::F32(&self.w_y),
            b_y: &self.b_y,
        };
        let f32_bytes = encode(&parts);
        let (nq, ns) = q8_buffer_lens(&self.header);
        let (mut q, mut s) = (vec![0i8; nq], vec![0f32; ns]);
        let mut out = [layers[0]; MAX_LAYERS];
        let (q8, _) = quantize_family(&parts, &mut q, &mut s, &mut out).expect("quantize");
        assert_eq!(q8.header.dtype, Dtype::Q8);
        (f32_bytes, encode(&q8))
    }
}

fn encode(parts: &FamilyParts<'_>) -> Vec<u8> {
    let mut bytes = vec![0u8; format::encoded_len_family(parts).expect("len")];
    format::encode_family(parts, &mut bytes).expect("encode");
    bytes
}

/// A random f32 model with "trained-looking" weights: uniform in ±`reach`/√fan-in.
fn random(kind: CellKind, n_layers: usize, n_h: usize, n_v: usize, reach: f32, seed: u64) -> Owned {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |scale: f32| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    };
    let header = Header {
        cell: kind,
        dtype: Dtype::F32,
        input: InputKind::OneHot,
        tokens: TokenKind::Chars,
        dims: Dims {
            n_x: n_v,
            n_h,
            n_y: n_v,
        },
        n_layers,
    };
    let mut fill = |n: usize, scale: f32| (0..n).map(|_| next(scale)).collect::<Vec<f32>>();
    let w = reach / (n_h as f32).sqrt();
    let layers = (0..n_layers)
        .map(|l| {
            [
                fill(header.w_ih_len(l), if l == 0 { reach } else { w }),
                fill(header.w_hh_len(), w),
                fill(header.b_len(), 0.5),
                fill(header.b_hn_len(), 0.5),
            ]
        })
        .collect();
    Owned {
        header,
        vocab: (0..n_v as u32)
            .map(|i| char::from_u32(0x61 + i).expect("char"))
            .collect(),
        layers,
        w_y: fill(n_v * n_h, 2.0 * w),
        b_y: fill(n_v, 0.5),
    }
}

/// Largest rounding error and largest dequantized magnitude of a q8 matrix.
fn matrix_stats(w: format::Weights<'_>) -> (f32, f32) {
    let q = w.as_q8().expect("q8");
    // The rounding bound, widened by the dequantized product's own rounding.
    let e = rounding_bound(q.scale().iter()) * (1.0 + 1e-6);
    let smax = q.scale().iter().fold(0.0f32, f32::max);
    (e, 127.0 * smax)
}

/// One f32 and one q8 step from the same state, token after token, with the
/// bound on the difference of every layer's h and of the logits.
fn check_steps(f32_bytes: &[u8], q8_bytes: &[u8], tokens: &[usize]) -> (f32, f32) {
    let ff = format::decode_family(f32_bytes).expect("f32 file");
    let fq = format::decode_family(q8_bytes).expect("q8 file");
    let mut sf = vec![0.0; NetworkView::storage_len(&ff)];
    let mut sq = vec![0.0; NetworkView::storage_len(&fq)];
    let nf = NetworkView::from_family(&ff, &mut sf).expect("f32 view");
    let nq = NetworkView::from_family(&fq, &mut sq).expect("q8 view");
    let h = ff.header;
    let (n_h, n_y, n_l) = (h.dims.n_h, h.dims.n_y, h.n_layers);
    let k = Kernel::detect();
    let (mut hf, mut cf) = (
        vec![0.0f32; nf.state_len()],
        vec![0.0f32; nf.cell_state_len()],
    );
    let mut scratch = vec![0.0f32; nf.scratch_len().max(nq.scratch_len())];
    let (mut zf, mut zq) = (vec![0.0f32; n_y], vec![0.0f32; n_y]);
    let q15 = 1.0f32 / 32768.0; // a Q15 state is within 2^-15 of h (clamped at ±1)
    let (mut worst_h, mut worst_p) = (0.0f32, 0.0f32);
    for &t in tokens {
        let (h0, c0) = (hf.clone(), cf.clone());
        let (mut hq, mut cq) = (h0.clone(), c0.clone());
        k.network_step(&nf, Input::Token(t), &mut hf, &mut cf, &mut scratch)
            .expect("f32 step");
        k.network_step(&nq, Input::Token(t), &mut hq, &mut cq, &mut scratch)
            .expect("q8 step");
        let mut dh_below = 0.0f32;
        for (l, layer) in fq.layers().iter().enumerate() {
            let (e_ih, w_ih) = matrix_stats(layer.w_ih);
            let (e_hh, w_hh) = matrix_stats(layer.w_hh);
            let n = n_h as f32;
            // Pre-activation: the input part (a gathered column, or a row
            // product on the lower layer's h) plus the recurrent product.
            let input = if l == 0 {
                e_ih
            } else {
                n * (e_ih + w_ih * (q15 + dh_below))
            };
            let rec = n * (e_hh + w_hh * q15);
            let da = input + rec;
            let range = l * n_h..(l + 1) * n_h;
            let c_max = c0
                .get(range.clone())
                .map_or(0.0, |c| c.iter().fold(0.0f32, |m, v| m.max(v.abs())));
            let b_hn_max = layer.b_hn.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let dh = match h.cell {
                // σ' ≤ 1/4, tanh' ≤ 1, |i|, |f|, |o|, |g| ≤ 1.
                CellKind::Lstm => da / 4.0 + (da / 4.0 * c_max + da / 4.0 + da),
                CellKind::Rnn => da,
                CellKind::Gru => {
                    let hn_max = n * w_hh + b_hn_max;
                    let dn = da + da / 4.0 * hn_max;
                    2.0 * dn + da / 2.0
                }
            };
            // f32 evaluation in two different orders: a little slack.
            let dh = dh * (1.0 + 1e-3) + 1e-5;
            for (j, (a, b)) in hf[range.clone()].iter().zip(&hq[range.clone()]).enumerate() {
                let d = (a - b).abs();
                worst_h = worst_h.max(d);
                assert!(
                    d <= dh,
                    "layer {l} unit {j}: |h_f32 - h_q8| = {d} > bound {dh}"
                );
            }
            dh_below = dh;
        }
        let top = (n_l - 1) * n_h..n_l * n_h;
        k.output_logits(nf.output(), &hf[top.clone()], &mut zf)
            .expect("f32 logits");
        k.output_logits(nq.output(), &hq[top], &mut zq)
            .expect("q8 logits");
        let (e_y, w_y) = matrix_stats(fq.w_y);
        let wy_abs: f32 = ff
            .w_y
            .as_f32()
            .expect("f32")
            .iter()
            .map(f32::abs)
            .fold(0.0, f32::max);
        let dz = n_h as f32 * (e_y + w_y * (q15 + dh_below)) + 1e-5 * (1.0 + n_h as f32 * wy_abs);
        for (y, (a, b)) in zf.iter().zip(&zq).enumerate() {
            assert!((a - b).abs() <= dz, "logit {y}: |{a} - {b}| > bound {dz}");
        }
        // Softmax moves each probability by at most twice the largest logit change.
        k.softmax(&mut zf, 1.0);
        k.softmax(&mut zq, 1.0);
        for (y, (a, b)) in zf.iter().zip(&zq).enumerate() {
            let d = (a - b).abs();
            worst_p = worst_p.max(d);
            assert!(
                d <= 2.0 * dz + 1e-6,
                "p[{y}]: |{a} - {b}| > bound {}",
                2.0 * dz
            );
        }
    }
    (worst_h, worst_p)
}

/// Generates from a q8 file on `kernel`: the text and the state digest.
fn generate(bytes: &[u8], kernel: Kernel, seed: u64) -> (Vec<usize>, u32) {
    let family = format::decode_family(bytes).expect("decode");
    let mut storage = vec![0.0; NetworkView::storage_len(&family)];
    let net = NetworkView::from_family(&family, &mut storage).expect("view");
    let n_y = net.dims().n_y;
    let (mut h, mut c) = (vec![0.0; net.state_len()], vec![0.0; net.cell_state_len()]);
    let (mut gates, mut logits, mut order) = (
        vec![0.0; net.scratch_len()],
        vec![0.0; n_y],
        vec![0u16; n_y],
    );
    let buffers = GeneratorBuffers {
        h: &mut h,
        c: &mut c,
        gates: &mut gates,
        logits: &mut logits,
        order: &mut order,
    };
    let mut g = Generator::for_network(
        net,
        family.header.tokens,
        family.vocab,
        kernel,
        buffers,
        InlineStep,
    )
    .expect("generator");
    let config = SamplerConfig {
        temperature: 0.8,
        top_k: 0,
        top_p: 0.95,
    };
    let mut sampler = Sampler::new(config, seed).expect("sampler");
    let mut out = Vec::new();
    g.generate_symbols(&mut sampler, "", 120, None, |t| out.push(t))
        .expect("generate");
    (out, g.state_digest())
}

/// The same q8 text and digest on every kernel this CPU runs.
fn same_on_every_kernel(q8_bytes: &[u8]) {
    let (text, digest) = generate(q8_bytes, Kernel::Portable, 7);
    assert_eq!(text.len(), 120);
    for &k in &Kernel::available() {
        assert_eq!(
            generate(q8_bytes, k, 7),
            (text.clone(), digest),
            "kernel {}",
            k.name()
        );
    }
}

/// The shipped firmware model (a trained 27-symbol, hidden-64 LSTM), quantized.
#[test]
fn the_shipped_model_quantized_stays_within_the_bound() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../firmware-example/models/default.lstm"
    );
    let bytes = std::fs::read(path).expect("firmware-example/models/default.lstm");
    let model = Owned::from_view(&format::decode_family(&bytes).expect("decode"));
    let (f32_bytes, q8_bytes) = model.encode_both();
    // A passage of its vocabulary ("abc…z "): every symbol, then a walk.
    let n_y = model.header.dims.n_y;
    let tokens: Vec<usize> = (0..n_y)
        .chain((0..300).map(|i| (i * 7 + i / 5) % n_y))
        .collect();
    let (dh, dp) = check_steps(&f32_bytes, &q8_bytes, &tokens);
    // What the bound allows is loose; the observed change is small.
    println!("shipped model: largest |Δh| {dh}, largest |Δp| {dp}");
    assert!(dh < 0.05 && dp < 0.05, "|Δh| {dh}, |Δp| {dp}");
    same_on_every_kernel(&q8_bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random models of every kind, 1–3 layers: every step within the bound,
    /// and the same q8 bits on every kernel.
    #[test]
    fn quantized_steps_stay_within_the_rounding_bound(
        kind in prop_oneof![Just(CellKind::Lstm), Just(CellKind::Gru), Just(CellKind::Rnn)],
        n_layers in 1usize..=3,
        n_h in 1usize..=40,
        n_v in 2usize..=12,
        reach in 0.2f32..3.0,
        seed in any::<u64>(),
    ) {
        let model = random(kind, n_layers, n_h, n_v, reach, seed);
        let (f32_bytes, q8_bytes) = model.encode_both();
        let tokens: Vec<usize> = (0..24).map(|i| (i * 5 + (seed as usize % 7)) % n_v).collect();
        check_steps(&f32_bytes, &q8_bytes, &tokens);
        same_on_every_kernel(&q8_bytes);
    }
}

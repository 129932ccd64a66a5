//! `OneCell<cell, dtype>`, the step runner a firmware uses to link one cell
//! body and one dtype's products: the same text and state digest as
//! `InlineStep` for networks of its kind and dtype (f32 and q8, one and two
//! layers), and a clear refusal of any other kind, dtype or kernel.

use lstm_core::format::{CellKind, Dtype, InputKind, TokenKind};
use lstm_core::{
    Error, Generator, GeneratorBuffers, InlineStep, InputLayout, Kernel, NetworkView, OneCell,
    OutputView, RecurrentView, Sampler, SamplerConfig, StepRunner,
};

const LSTM: u8 = CellKind::Lstm.code();
const GRU: u8 = CellKind::Gru.code();
const RNN: u8 = CellKind::Rnn.code();
const F32: u8 = Dtype::F32.code();
const Q8: u8 = Dtype::Q8.code();

const VOCAB: &str = "abcdef";
const N_V: usize = 6;
const N_H: usize = 10;

/// Seeded values uniform in ±0.8.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1.6
        })
        .collect()
}

/// Seeded int8 values in [-127, 127].
fn int8s(n: usize, seed: u64) -> Vec<i8> {
    values(n, seed)
        .iter()
        .map(|v| (v * 158.0).clamp(-127.0, 127.0) as i8)
        .collect()
}

/// The tensors of a network of `layers` layers of `kind`: per layer
/// (w_ih, w_hh, b, b_hn) as f32 and as int8 with scales, then the output.
struct Tensors {
    kind: CellKind,
    f32s: Vec<[Vec<f32>; 4]>,
    q8s: Vec<[Vec<i8>; 2]>,
    scales: Vec<[Vec<f32>; 2]>,
    w_y: (Vec<f32>, Vec<i8>, Vec<f32>),
    b_y: Vec<f32>,
}

fn tensors(kind: CellKind, layers: usize, seed: u64) -> Tensors {
    let g = kind.gates();
    let b_hn = if kind == CellKind::Gru { N_H } else { 0 };
    let mut f32s = Vec::new();
    let (mut q8s, mut scales) = (Vec::new(), Vec::new());
    for l in 0..layers {
        let n_in = if l == 0 { N_V } else { N_H };
        let s = seed + 10 * l as u64;
        f32s.push([
            values(g * n_in * N_H, s),
            values(g * N_H * N_H, s + 1),
            values(g * N_H, s + 2),
            values(b_hn, s + 3),
        ]);
        q8s.push([int8s(g * n_in * N_H, s + 4), int8s(g * N_H * N_H, s + 5)]);
        let scale = |n, s| {
            values(n, s)
                .iter()
                .map(|v| 0.002 + v.abs() / 64.0)
                .collect()
        };
        scales.push([scale(g * N_H, s + 6), scale(g * N_H, s + 7)]);
    }
    let w_y = (
        values(N_V * N_H, seed + 100),
        int8s(N_V * N_H, seed + 101),
        values(N_V, seed + 102)
            .iter()
            .map(|v| 0.01 + v.abs() / 50.0)
            .collect(),
    );
    Tensors {
        kind,
        f32s,
        q8s,
        scales,
        w_y,
        b_y: values(N_V, seed + 103),
    }
}

/// The network over `t`, f32 or q8.
fn network(t: &Tensors, q8: bool) -> NetworkView<'_> {
    let layers: Vec<RecurrentView<'_>> = (0..t.f32s.len())
        .map(|l| {
            let (layout, n_in) = if l == 0 {
                (InputLayout::Gather, N_V)
            } else {
                (InputLayout::Rows, N_H)
            };
            let [w_ih, w_hh, b, b_hn] = &t.f32s[l];
            if q8 {
                let ([q_ih, q_hh], [s_ih, s_hh]) = (&t.q8s[l], &t.scales[l]);
                RecurrentView::new_q8(t.kind, layout, n_in, N_H, q_ih, s_ih, q_hh, s_hh, b, b_hn)
            } else {
                RecurrentView::new(t.kind, layout, n_in, N_H, w_ih, w_hh, b, b_hn)
            }
            .expect("layer")
        })
        .collect();
    let output = if q8 {
        OutputView::new_q8(N_H, N_V, &t.w_y.1, &t.w_y.2, &t.b_y)
    } else {
        OutputView::new(N_H, N_V, &t.w_y.0, &t.b_y)
    }
    .expect("output");
    NetworkView::new(InputKind::OneHot, &layers, output).expect("network")
}

/// Text and digest of 30 symbols after the prime "ab" from `net` with
/// `runner` and `kernel`, or the first error.
fn generated<S: StepRunner>(
    net: NetworkView<'_>,
    kernel: Kernel,
    runner: S,
) -> Result<(String, u32), Error> {
    let mut h = vec![0.0; net.state_len()];
    let mut c = vec![0.0; net.cell_state_len()];
    let mut gates = vec![0.0; net.scratch_len()];
    let (mut logits, mut order) = (vec![0.0; N_V], vec![0u16; N_V]);
    let buffers = GeneratorBuffers {
        h: &mut h,
        c: &mut c,
        gates: &mut gates,
        logits: &mut logits,
        order: &mut order,
    };
    let mut g = Generator::for_network(net, TokenKind::Chars, VOCAB, kernel, buffers, runner)?;
    assert_eq!(g.kernel(), kernel);
    let mut sampler = Sampler::new(SamplerConfig::default(), 4)?;
    let mut text = String::new();
    g.generate(&mut sampler, "ab", 30, None, |ch| text.push(ch))?;
    Ok((text, g.state_digest()))
}

/// Runs `net` with `OneCell<cell, dtype>` for run-time `cell` and `dtype` codes.
fn with_one_cell(net: NetworkView<'_>, cell: u8, dtype: u8) -> Result<(String, u32), Error> {
    let k = Kernel::compiled();
    match (cell, dtype == Q8) {
        (LSTM, false) => generated(net, k, OneCell::<LSTM, F32>),
        (GRU, false) => generated(net, k, OneCell::<GRU, F32>),
        (RNN, false) => generated(net, k, OneCell::<RNN, F32>),
        (LSTM, true) => generated(net, k, OneCell::<LSTM, Q8>),
        (GRU, true) => generated(net, k, OneCell::<GRU, Q8>),
        _ => generated(net, k, OneCell::<RNN, Q8>),
    }
}

fn refused(r: Result<(String, u32), Error>, what: &str) {
    assert!(
        matches!(r, Err(Error::UnsupportedModel { .. })),
        "{what}: expected a refusal, got {r:?}"
    );
}

#[test]
fn one_cell_equals_inline_step_for_its_kind_and_dtype_and_refuses_others() {
    let compiled = Kernel::compiled();
    for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        for layers in [1, 2] {
            let t = tensors(kind, layers, 23 + layers as u64);
            for (q8, dtype) in [(false, F32), (true, Q8)] {
                let net = network(&t, q8);
                let what = format!("{} x{layers} {}", kind.name(), net.dtype().name());
                let want = generated(net, compiled, InlineStep).expect("inline");
                assert_eq!(
                    with_one_cell(net, kind.code(), dtype).expect("one cell"),
                    want,
                    "{what}"
                );
                for other in [LSTM, GRU, RNN].into_iter().filter(|&c| c != kind.code()) {
                    refused(
                        with_one_cell(net, other, dtype),
                        &format!("{what}, cell {other}"),
                    );
                }
                let other_dtype = if q8 { F32 } else { Q8 };
                refused(
                    with_one_cell(net, kind.code(), other_dtype),
                    &format!("{what}, dtype {other_dtype}"),
                );
            }
        }
    }
    // A kernel other than the compiled one is refused at construction.
    let t = tensors(CellKind::Lstm, 1, 5);
    for &k in Kernel::ALL.iter().filter(|&&k| k != compiled) {
        refused(
            generated(network(&t, false), k, OneCell::<LSTM, F32>),
            &format!("kernel {} (compiled: {})", k.name(), compiled.name()),
        );
    }
}

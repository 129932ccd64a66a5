//! The q8 product against the f32 one at 256 × 256: `gemv_q8` (int8 rows ×
//! Q15 state) for every q8 implementation this CPU runs (portable, AVX2,
//! AVX-VNNI, AVX-512 VNNI), and the f32 matrix-vector product (the output
//! layer, `W·h + b`) for every kernel; then one token of a hidden-256 LSTM
//! over 65 symbols (`network_step` + `network_logits`), f32 against its
//! post-training quantized q8 copy, for every kernel.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lstm_core::format::{self, FamilyParts, Header, LayerParts, MAX_LAYERS, WeightParts};
use lstm_core::kernels::Q8Impl;
use lstm_core::quant::{q8_buffer_lens, quantize_family};
use lstm_core::{CellView, Dims, Input, InputKind, Kernel, NetworkView};

const N: usize = 256;

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemv_256x256");
    group.throughput(Throughput::Elements((N * N) as u64));
    let h = values(N, 7);
    let w_f32 = values(N * N, 3);
    let w_q8: Vec<i8> = w_f32.iter().map(|v| (v * 127.0) as i8).collect();
    let scale = vec![1.0f32 / 127.0; N];
    let mut out = vec![0.0f32; N];
    for &imp in Q8Impl::ALL {
        if !imp.runs_here() {
            eprintln!("skip: q8 {} not available on this CPU", imp.name());
            continue;
        }
        let mut x = vec![0i16; N];
        imp.q15_state(&h, &mut x).expect("q15");
        group.bench_with_input(BenchmarkId::new("q8", imp.name()), &N, |b, _| {
            b.iter(|| {
                imp.gemv_q8(&w_q8, &scale, &x, &mut out).expect("gemv_q8");
                out[0]
            })
        });
        group.bench_with_input(BenchmarkId::new("q15+q8", imp.name()), &N, |b, _| {
            b.iter(|| {
                imp.q15_state(&h, &mut x).expect("q15");
                imp.gemv_q8(&w_q8, &scale, &x, &mut out).expect("gemv_q8");
                out[0]
            })
        });
    }
    let dims = Dims {
        n_x: 1,
        n_h: N,
        n_y: N,
    };
    let (w_ih, w_hh, b) = (
        vec![0.0f32; dims.w_ih_len()],
        vec![0.0f32; dims.w_hh_len()],
        vec![0.0f32; dims.b_len()],
    );
    let b_y = vec![0.0f32; N];
    let cell = CellView::from_stacked(dims, &w_ih, &w_hh, &b, &w_f32, &b_y).expect("cell");
    for &kernel in Kernel::available().iter() {
        group.bench_with_input(BenchmarkId::new("f32", kernel.name()), &N, |bch, _| {
            bch.iter(|| {
                kernel.logits(&cell, &h, &mut out).expect("logits");
                out[0]
            })
        });
    }
    group.finish();
}

/// The bytes of a model file.
fn encode(parts: &FamilyParts<'_>) -> Vec<u8> {
    let mut bytes = vec![0u8; format::encoded_len_family(parts).expect("len")];
    format::encode_family(parts, &mut bytes).expect("encode");
    bytes
}

fn bench_token(c: &mut Criterion) {
    const V: usize = 65;
    let mut group = c.benchmark_group("token_f32_vs_q8_h256");
    let header = Header::plain(
        InputKind::OneHot,
        Dims {
            n_x: V,
            n_h: N,
            n_y: V,
        },
    );
    let scaled =
        |n: usize, seed: u32| -> Vec<f32> { values(n, seed).iter().map(|v| v * 0.1).collect() };
    let (w_ih, w_hh, b) = (scaled(4 * V * N, 1), scaled(4 * N * N, 2), scaled(4 * N, 3));
    let (w_y, b_y) = (scaled(V * N, 4), scaled(V, 5));
    let layers = [LayerParts {
        w_ih: WeightParts::F32(&w_ih),
        w_hh: WeightParts::F32(&w_hh),
        b: &b,
        b_hn: &[],
    }];
    let vocab: String = (0..V as u32)
        .map(|i| char::from_u32(0x30 + i).expect("char"))
        .collect();
    let parts = FamilyParts {
        header,
        vocab: &vocab,
        layers: &layers,
        w_y: WeightParts::F32(&w_y),
        b_y: &b_y,
    };
    let (nq, ns) = q8_buffer_lens(&header);
    let (mut q, mut s) = (vec![0i8; nq], vec![0f32; ns]);
    let mut out = [layers[0]; MAX_LAYERS];
    let (q8, _) = quantize_family(&parts, &mut q, &mut s, &mut out).expect("quantize");
    for (name, bytes) in [("f32", encode(&parts)), ("q8", encode(&q8))] {
        let family = format::decode_family(&bytes).expect("decode");
        let mut storage = vec![0.0f32; NetworkView::storage_len(&family)];
        let net = NetworkView::from_family(&family, &mut storage).expect("view");
        for &kernel in Kernel::available().iter() {
            let (mut h, mut cs) = (vec![0.0f32; N], vec![0.0f32; N]);
            let (mut scratch, mut logits) = (vec![0.0f32; net.scratch_len()], vec![0.0f32; V]);
            let mut token = 0;
            let id = BenchmarkId::new(name, kernel.name());
            group.bench_with_input(id, &N, |bch, _| {
                bch.iter(|| {
                    kernel
                        .network_step(&net, Input::Token(token), &mut h, &mut cs, &mut scratch)
                        .expect("step");
                    kernel
                        .network_logits(&net, &h, &mut logits, &mut scratch)
                        .expect("logits");
                    token = (token + 7) % V;
                    logits[0]
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, bench_token);
criterion_main!(benches);

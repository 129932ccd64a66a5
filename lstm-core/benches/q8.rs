//! The q8 product against the f32 one at 256 × 256: `gemv_q8` (int8 rows ×
//! Q15 state) for every q8 implementation this CPU runs (portable, AVX2,
//! AVX-VNNI, AVX-512 VNNI), and the f32 matrix-vector product (the output
//! layer, `W·h + b`) for every kernel.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lstm_core::kernels::Q8Impl;
use lstm_core::{CellView, Dims, Kernel};

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

criterion_group!(benches, bench);
criterion_main!(benches);

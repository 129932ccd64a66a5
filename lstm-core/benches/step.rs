//! One token of inference: gather + cell + output layer + softmax + sample,
//! batch 1, vocabulary 65, hidden 64 / 128 / 256, for every kernel this CPU runs,
//! and for the SIMD kernel also with each step split between two cores.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use aligned_vec::{AVec, ConstAlign};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lstm_core::{
    CellView, Dims, InlineStep, Input, Kernel, Sampler, SamplerConfig, StepRunner, with_split_step,
};

/// `n` values uniform in ±0.1, starting on a cache line (as host-trainer's sampler lays tensors out).
fn weights(n: usize, seed: u32) -> AVec<f32, ConstAlign<64>> {
    let mut s = seed | 1;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 * 0.2 - 0.1
        })
        .collect();
    AVec::from_slice(64, &v)
}

fn bench(c: &mut Criterion) {
    const VOCAB: usize = 65;
    let mut group = c.benchmark_group("token_step");
    for n_h in [64usize, 128, 256] {
        let dims = Dims {
            n_x: VOCAB,
            n_h,
            n_y: VOCAB,
        };
        let (w_ih, w_hh, b) = (
            weights(dims.w_ih_len(), 1),
            weights(dims.w_hh_len(), 2),
            weights(dims.b_len(), 3),
        );
        let (w_y, b_y) = (weights(dims.w_y_len(), 4), weights(dims.b_y_len(), 5));
        let cell = CellView::from_stacked(dims, &w_ih, &w_hh, &b, &w_y, &b_y).expect("cell");
        // FLOPs per token: 2 per multiply-accumulate.
        group.throughput(Throughput::Elements(2 * dims.macs_per_token() as u64));
        for &kernel in Kernel::available().iter() {
            let (mut h, mut cs, mut gates) =
                (vec![0.0f32; n_h], vec![0.0f32; n_h], vec![0.0f32; 4 * n_h]);
            let (mut logits, mut order) = (vec![0.0f32; VOCAB], vec![0u16; VOCAB]);
            let mut sampler = Sampler::new(
                SamplerConfig {
                    temperature: 1.0,
                    top_k: 0,
                    top_p: 1.0,
                },
                1,
            )
            .expect("sampler");
            let mut token = 0usize;
            let mut run = |name: String, runner: &mut dyn StepRunner| {
                group.bench_with_input(BenchmarkId::new(name, n_h), &n_h, |bench, _| {
                    bench.iter(|| {
                        runner
                            .step(
                                kernel,
                                &cell,
                                Input::Token(token),
                                &mut h,
                                &mut cs,
                                &mut gates,
                            )
                            .expect("step");
                        kernel.logits(&cell, &h, &mut logits).expect("logits");
                        token = sampler
                            .sample(kernel, &mut logits, &mut order)
                            .expect("sample");
                        token
                    })
                });
            };
            run(kernel.name().to_string(), &mut InlineStep);
            if kernel != Kernel::Portable {
                // Each step's units split between this thread and a helper.
                with_split_step(cell, |two| run(format!("{}_two_cores", kernel.name()), two));
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! One training step (forward, BPTT, clipping, optimiser update) at the two reference sizes:
//! the time-machine recipe (H 256, B 32, T 35, SGD, clip-norm) and dinosaur names (H 50, one name per step,
//! Adam). Throughput is reported in tokens (targets) per second.

use criterion::{Criterion, Throughput};
use host_trainer::bptt::stack::{StackWorkspace, loss_and_grads};
use host_trainer::data::batch::BatchRef;
use host_trainer::linalg::{MatRef, Panels, gemm_panels, pack_b};
use host_trainer::model::Stack;
use host_trainer::optim::{Optimizer, OptimizerKind, clip_by_norm, clip_by_value};
use host_trainer::rng::Rng;
use lstm_core::Dims;
use lstm_core::format::CellKind;

fn bench_step(
    c: &mut Criterion,
    name: &str,
    vocab: usize,
    hidden: usize,
    batch: usize,
    steps: usize,
    kind: OptimizerKind,
) {
    let mut rng = Rng::new(1);
    let shape = Dims {
        n_x: vocab,
        n_h: hidden,
        n_y: vocab,
    };
    let mut p = Stack::<f32>::init_uniform(CellKind::Lstm, shape, 1, &mut rng);
    let mut g = p.zeros_like();
    let mut opt = Optimizer::new(kind, 0.01, &p);
    let n = batch * steps;
    let x: Vec<u32> = (0..n).map(|_| rng.below(vocab) as u32).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.below(vocab) as u32).collect();
    let h0 = vec![0.0f32; batch * hidden];
    let mut ws = StackWorkspace::new();
    let b = BatchRef {
        steps,
        batch,
        x: &x,
        y: &y,
        mask: None,
    };
    let mut group = c.benchmark_group("train_step");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(name, |bench| {
        bench.iter(|| {
            let stats = loss_and_grads(&p, &mut ws, &b, [&h0, &h0], None, &mut g);
            if kind == OptimizerKind::Sgd {
                clip_by_norm(&mut g, 1.0);
            } else {
                clip_by_value(&mut g, 5.0);
            }
            opt.step(&mut p, &g);
            stats.loss_sum
        });
    });
    group.finish();
}

/// The recurrent product of the time-machine recipe alone: `[32 × 256] · [256 × 1024]` with `w_h` packed
/// once (forward), and `[32 × 1024] · [1024 × 256]` (backward, `w_hᵀ` packed). Throughput in FLOP.
fn bench_recurrent_product(c: &mut Criterion) {
    let mut rng = Rng::new(2);
    let (b, h) = (32, 256);
    let g4 = 4 * h;
    let w_h: Vec<f32> = (0..h * g4).map(|_| rng.uniform(-0.1, 0.1) as f32).collect();
    let x: Vec<f32> = (0..b * g4).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let (mut fwd, mut bwd, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    pack_b(MatRef::rm(&w_h, h, g4), &mut fwd);
    pack_b(MatRef::rm(&w_h, h, g4).t(), &mut bwd);
    let mut out = vec![0.0f32; b * g4];
    let mut group = c.benchmark_group("recurrent_product");
    group.throughput(Throughput::Elements((2 * b * h * g4) as u64));
    group.bench_function("forward_b32_h256", |bench| {
        bench.iter(|| {
            gemm_panels(
                MatRef::rm(&x[..b * h], b, h),
                Panels::packed(&fwd, h, g4),
                true,
                &mut out,
                &mut scratch,
            );
        });
    });
    group.bench_function("backward_b32_h256", |bench| {
        bench.iter(|| {
            gemm_panels(
                MatRef::rm(&x, b, g4),
                Panels::packed(&bwd, g4, h),
                false,
                &mut out[..b * h],
                &mut scratch,
            );
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_recurrent_product(c);
    bench_step(
        c,
        "timemachine_h256_b32_t35_sgd",
        28,
        256,
        32,
        35,
        OptimizerKind::Sgd,
    );
    bench_step(
        c,
        "dinos_h50_b1_t10_adam",
        27,
        50,
        1,
        10,
        OptimizerKind::Adam,
    );
    bench_step(
        c,
        "dinos_h50_b32_t12_adam",
        27,
        50,
        32,
        12,
        OptimizerKind::Adam,
    );
}

// The macro generates an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(train_step, super::benches);
}
use group::train_step;
fn main() {
    // As the CLI does: parallelism comes from rayon's panel split (on pool threads only, so these benches are
    // single-threaded).
    train_step();
    Criterion::default().configure_from_args().final_summary();
}

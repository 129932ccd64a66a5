//! The stacked pass against itself: thread-count independence (the batch split between two threads and
//! the column split of the products), dropout's seeding.

use super::*;
use crate::linalg::PAR_MIN;
use lstm_core::Dims;

fn problem(nb: usize, steps: usize, vocab: usize, seed: u64) -> (Vec<u32>, Vec<u32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let x = (0..steps * nb).map(|_| rng.below(vocab) as u32).collect();
    let y = (0..steps * nb).map(|_| rng.below(vocab) as u32).collect();
    let mask = (0..steps * nb).map(|i| u8::from(i % 5 != 3)).collect();
    (x, y, mask)
}

/// One pass of `loss_and_grads` on a pool of `threads` threads from a random state: loss, gradients,
/// ∂/∂h0, ∂/∂c0 and the last states, every value's bits widened to f64.
#[allow(clippy::type_complexity)]
fn pass<T: Float>(
    threads: usize,
    kind: CellKind,
    layers: usize,
    (nb, h): (usize, usize),
    drop: Option<Dropout>,
) -> (ForwardStats, Vec<Vec<u64>>) {
    let dims = Dims {
        n_x: 11,
        n_h: h,
        n_y: 11,
    };
    let steps = 7;
    let (x, y, mask) = problem(nb, steps, 11, 4);
    let batch = BatchRef {
        steps,
        batch: nb,
        x: &x,
        y: &y,
        mask: Some(&mask),
    };
    let mut rng = Rng::new(5);
    let p = Stack::<f64>::init_uniform(kind, dims, layers, &mut rng).cast::<T>();
    let n = layers * nb * h;
    let h0: Vec<T> = (0..n).map(|_| T::from_f64(rng.next_f64() - 0.5)).collect();
    let c0: Vec<T> = if kind == CellKind::Lstm {
        (0..n).map(|_| T::from_f64(rng.next_f64() - 0.5)).collect()
    } else {
        Vec::new()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let mut ws = StackWorkspace::new();
        let mut g = p.zeros_like();
        let stats = loss_and_grads(&p, &mut ws, &batch, [&h0, &c0], drop, &mut g);
        let mut out: Vec<Vec<T>> = g.tensors().iter().map(|t| t.to_vec()).collect();
        out.push(ws.dh0.clone());
        out.push(ws.dc0.clone());
        for k in 0..layers {
            out.push(ws.h_last(k).to_vec());
        }
        let bits = out
            .iter()
            .map(|t| t.iter().map(|v| v.to_f64().to_bits()).collect())
            .collect();
        (stats, bits)
    })
}

/// Two threads split the batch rows of every layer's recurrence (one fork per layer and pass) and the
/// large products' columns: the bits are one thread's, for every kind, in f32 and f64, with an odd batch
/// so the halves differ in size.
#[test]
fn two_threads_give_the_same_bits_as_one() {
    let size = (33, 256);
    // The RNN's products are large enough to split.
    const { assert!(33 * 256 * 256 >= PAR_MIN) };
    for (kind, layers) in [(CellKind::Lstm, 1), (CellKind::Gru, 2), (CellKind::Rnn, 2)] {
        let drop = Some(Dropout { p: 0.3, seed: 9 });
        let one = pass::<f32>(1, kind, layers, size, drop);
        let two = pass::<f32>(2, kind, layers, size, drop);
        assert_eq!(one, two, "{kind:?} f32");
        assert!(
            one.1[1].iter().any(|&v| v != 0),
            "{kind:?}: w_h gradient is not all zero"
        );
        let one = pass::<f64>(1, kind, layers, size, None);
        let two = pass::<f64>(2, kind, layers, size, None);
        assert_eq!(one, two, "{kind:?} f64");
    }
}

/// Dropout: another seed, another loss; `p = 0` is no dropout at all; dropout changes the loss.
#[test]
fn dropout_is_seeded() {
    let size = (6, 9);
    let run = |drop| pass::<f64>(1, CellKind::Gru, 3, size, drop);
    let d = Some(Dropout { p: 0.4, seed: 17 });
    let one = run(d);
    assert_eq!(one, run(d));
    let other = run(Some(Dropout { p: 0.4, seed: 18 }));
    assert_ne!(one.0, other.0);
    let none = run(None);
    let zero = run(Some(Dropout { p: 0.0, seed: 17 }));
    assert_eq!(none, zero);
    assert_ne!(none.0, one.0);
}

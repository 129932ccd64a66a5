//! The kernels: hand-computed values, accuracy of the activations, and the
//! conformance suite that holds every kernel to the portable one, bit for bit.

mod common;

use common::random_model;
use lstm_core::{CellView, Dims, Input, Kernel, OwnedLstm, State};
use proptest::prelude::*;

/// One step of a 1-unit cell with two symbols, worked by hand (f64, then compared in f32).
///
/// Input token 1, h0 = 0.5, c0 = 1, biases 0; per gate (w_ih[g][1], w_hh[g]):
/// i: (-0.5, 0.1), f: (0.2, 0.2), g: (0.4, 0.3), o: (0.0, 0.4), so
/// a_i = -0.5 + 0.1·0.5 = -0.45 -> i = σ(-0.45) = 0.3893608,
/// a_f = 0.2 + 0.1 = 0.3 -> f = 0.5744425, a_g = 0.55 -> g = tanh(0.55) = 0.5005202,
/// a_o = 0.2 -> o = 0.5498340; c = f·1 + i·g = 0.7693254; h = o·tanh(c) = 0.3554880.
/// Output weights (1, -1): logits (h, -h), softmax = (0.6706168, 0.3293832).
#[test]
fn step_matches_hand_computed_values() {
    let dims = Dims {
        n_x: 2,
        n_h: 1,
        n_y: 2,
    };
    let w_ih = [0.5, -0.5, 0.1, 0.2, 0.3, 0.4, -0.1, 0.0];
    let w_hh = [0.1, 0.2, 0.3, 0.4];
    let b = [0.0; 4];
    let (w_y, b_y) = ([1.0, -1.0], [0.0, 0.0]);
    let cell = CellView::from_stacked(dims, &w_ih, &w_hh, &b, &w_y, &b_y).expect("view");
    for &k in Kernel::available().iter() {
        let (mut h, mut c, mut gates) = ([0.5f32], [1.0f32], [0.0f32; 4]);
        k.step(&cell, Input::Token(1), &mut h, &mut c, &mut gates)
            .expect("step");
        assert!((c[0] - 0.769_325_45).abs() < 1e-6, "c = {}", c[0]);
        assert!((h[0] - 0.355_488_05).abs() < 1e-6, "h = {}", h[0]);
        let mut p = [0.0f32; 2];
        k.logits(&cell, &h, &mut p).expect("logits");
        assert_eq!(p, [h[0], -h[0]]);
        k.softmax(&mut p, 1.0);
        assert!(
            (p[0] - 0.670_616_8).abs() < 1e-6 && (p[1] - 0.329_383_2).abs() < 1e-6,
            "{p:?}"
        );
    }
}

/// Dense input [1, 0] must equal one-hot token 0.
#[test]
fn dense_one_hot_vector_equals_token() {
    let m = random_model(5, 9, 11, 0.8);
    let cell = m.cell();
    for &k in Kernel::available().iter() {
        let (mut h1, mut c1, mut g) = (vec![0.1f32; 9], vec![-0.2f32; 9], vec![0.0f32; 36]);
        let (mut h2, mut c2) = (h1.clone(), c1.clone());
        k.step(&cell, Input::Token(3), &mut h1, &mut c1, &mut g)
            .expect("token");
        let x = [0.0, 0.0, 0.0, 1.0, 0.0];
        k.step(&cell, Input::Dense(&x), &mut h2, &mut c2, &mut g)
            .expect("dense");
        assert_eq!(h1, h2);
        assert_eq!(c1, c2);
    }
}

#[test]
fn step_rejects_bad_token_and_lengths() {
    let m = random_model(4, 3, 1, 1.0);
    let cell = m.cell();
    let k = Kernel::Portable;
    let (mut h, mut c, mut g) = (vec![0.0f32; 3], vec![0.0f32; 3], vec![0.0f32; 12]);
    assert!(
        k.step(&cell, Input::Token(4), &mut h, &mut c, &mut g)
            .is_err()
    );
    assert!(
        k.step(&cell, Input::Dense(&[1.0; 3]), &mut h, &mut c, &mut g)
            .is_err()
    );
    assert!(
        k.step(&cell, Input::Token(0), &mut h, &mut c, &mut g[..11])
            .is_err()
    );
    assert!(k.logits(&cell, &h, &mut [0.0; 3]).is_err());
}

/// The activations built on the polynomial exp are within a few ulps of libm.
#[test]
fn softmax_of_wide_range_matches_f64() {
    for &k in Kernel::available().iter() {
        let mut x = -90.0f32;
        while x < 90.0 {
            let mut v = [x, 0.0];
            k.softmax(&mut v, 1.0);
            let want = 1.0 / (1.0 + (-(f64::from(x))).exp());
            let err = (f64::from(v[0]) - want).abs();
            assert!(
                err <= 2e-7 + 4e-7 * want,
                "softmax([{x}, 0])[0] = {}, want {want}",
                v[0]
            );
            x += 0.173;
        }
    }
}

/// The static (nalgebra, const-generic) API runs the same kernel as the slice API.
#[test]
fn static_api_equals_slice_api() {
    let m = random_model(7, 13, 5, 0.9);
    let bytes = m.encode();
    let view = lstm_core::format::decode(&bytes).expect("decode");
    let mut owned = Box::new(OwnedLstm::<7, 13, 7>::zeros());
    owned.fill_from(&view).expect("fill");
    let lstm = owned.as_lstm(&m.vocab);
    let cell = m.cell();
    let k = Kernel::Portable;
    let mut state = State::<13>::zeros();
    let (mut h, mut c, mut g) = (vec![0.0f32; 13], vec![0.0f32; 13], vec![0.0f32; 52]);
    for t in [0usize, 3, 6, 1, 1, 2] {
        lstm.step_token(k, &mut state, t).expect("static step");
        k.step(&cell, Input::Token(t), &mut h, &mut c, &mut g)
            .expect("slice step");
        assert_eq!(state.h.as_slice(), &h[..]);
        assert_eq!(state.c.as_slice(), &c[..]);
    }
    let mut wrong = Box::new(OwnedLstm::<7, 12, 7>::zeros());
    assert!(matches!(
        wrong.fill_from(&view),
        Err(lstm_core::Error::DimensionMismatch {
            name: "n_h",
            expected: 12,
            found: 13
        })
    ));
}

fn run(
    k: Kernel,
    n_v: usize,
    n_h: usize,
    seed: u64,
    scale: f32,
    tokens: &[usize],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let m = random_model(n_v, n_h, seed, scale);
    let cell = m.cell();
    let (mut h, mut c, mut g) = (vec![0.0f32; n_h], vec![0.0f32; n_h], vec![0.0f32; 4 * n_h]);
    let mut p = vec![0.0f32; n_v];
    let mut trace = Vec::new();
    for &t in tokens {
        k.step(&cell, Input::Token(t % n_v), &mut h, &mut c, &mut g)
            .expect("step");
        k.logits(&cell, &h, &mut p).expect("logits");
        k.softmax(&mut p, 0.7);
        trace.extend_from_slice(&p);
    }
    (h, c, trace)
}

proptest! {
    /// Every kernel gives exactly the portable kernel's bits, for sizes that do
    /// and do not divide by eight or four.
    #[test]
    fn kernels_are_bit_identical_to_portable(
        n_v in 1usize..70, n_h in 1usize..70, seed in any::<u64>(),
        tokens in proptest::collection::vec(0usize..1000, 1..6),
    ) {
        let reference = run(Kernel::Portable, n_v, n_h, seed, 1.5, &tokens);
        for &k in Kernel::available().iter() {
            let got = run(k, n_v, n_h, seed, 1.5, &tokens);
            prop_assert_eq!(&got, &reference, "kernel {}", k.name());
        }
    }

    /// The same with weights so large that gate pre-activations and logits
    /// leave exp's range: the saturated results must agree too.
    #[test]
    fn kernels_agree_when_activations_saturate(
        n_v in 1usize..40, n_h in 1usize..40, seed in any::<u64>(),
        tokens in proptest::collection::vec(0usize..1000, 1..6),
    ) {
        let reference = run(Kernel::Portable, n_v, n_h, seed, 80.0, &tokens);
        prop_assert!(reference.0.iter().chain(&reference.1).all(|v| v.is_finite()));
        for &k in Kernel::available().iter() {
            let got = run(k, n_v, n_h, seed, 80.0, &tokens);
            prop_assert_eq!(&got, &reference, "kernel {}", k.name());
        }
    }

    #[test]
    fn dot_is_bit_identical_and_close_to_f64(v in proptest::collection::vec(-10.0f32..10.0, 0..100)) {
        let w: Vec<f32> = v.iter().rev().copied().collect();
        let want: f64 = v.iter().zip(&w).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        let reference = Kernel::Portable.dot(&v, &w);
        prop_assert!((f64::from(reference) - want).abs() <= 1e-4 * (1.0 + want.abs()));
        for &k in Kernel::available().iter() {
            prop_assert_eq!(k.dot(&v, &w).to_bits(), reference.to_bits());
        }
    }

    #[test]
    fn probabilities_sum_to_one(logits in proptest::collection::vec(-50.0f32..50.0, 1..100), t in 0.05f32..5.0) {
        for &k in Kernel::available().iter() {
            let mut p = logits.clone();
            k.softmax(&mut p, t);
            let sum: f64 = p.iter().map(|&x| f64::from(x)).sum();
            prop_assert!((sum - 1.0).abs() < 1e-5, "sum {}", sum);
            prop_assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
        }
    }
}

proptest! {
    /// Any split of the units into two `step_rows` calls from the same
    /// previous state gives `step`'s bits, on every kernel.
    #[test]
    fn step_rows_halves_equal_step(
        n_v in 1usize..30, n_h in 1usize..70, seed in any::<u64>(), cut in 0.0f64..1.0,
        tokens in proptest::collection::vec(0usize..1000, 1..5),
    ) {
        let m = random_model(n_v, n_h, seed, 1.5);
        let cell = m.cell();
        let split = ((n_h as f64) * cut) as usize;
        for &k in Kernel::available().iter() {
            let (mut h, mut c, mut g) = (vec![0.1f32; n_h], vec![-0.3f32; n_h], vec![0.0f32; 4 * n_h]);
            let (mut h2, mut c2) = (h.clone(), c.clone());
            for &t in &tokens {
                let x = Input::Token(t % n_v);
                k.step(&cell, x, &mut h, &mut c, &mut g).expect("step");
                let prev = h2.clone();
                let (h_lo, h_hi) = h2.split_at_mut(split);
                let (c_lo, c_hi) = c2.split_at_mut(split);
                let mut g_lo = vec![0.0f32; 4 * split];
                let mut g_hi = vec![0.0f32; 4 * (n_h - split)];
                k.step_rows(&cell, x, 0..split, &prev, c_lo, h_lo, &mut g_lo).expect("lo");
                k.step_rows(&cell, x, split..n_h, &prev, c_hi, h_hi, &mut g_hi).expect("hi");
                prop_assert_eq!(&h2, &h, "kernel {}", k.name());
                prop_assert_eq!(&c2, &c, "kernel {}", k.name());
            }
        }
    }
}

#[test]
fn step_rows_rejects_bad_ranges_and_lengths() {
    let m = random_model(5, 8, 3, 1.0);
    let cell = m.cell();
    let k = Kernel::Portable;
    let h = [0.0f32; 8];
    let (mut c, mut hn, mut g) = ([0.0f32; 4], [0.0f32; 4], [0.0f32; 16]);
    let x = Input::Token(1);
    assert!(
        k.step_rows(&cell, x, 6..10, &h, &mut c, &mut hn, &mut g)
            .is_err()
    );
    assert!(
        k.step_rows(&cell, x, 0..3, &h, &mut c, &mut hn, &mut g)
            .is_err()
    );
    assert!(
        k.step_rows(&cell, x, 0..4, &h[..7], &mut c, &mut hn, &mut g)
            .is_err()
    );
    assert!(
        k.step_rows(&cell, x, 0..4, &h, &mut c, &mut hn, &mut g[..15])
            .is_err()
    );
    assert!(
        k.step_rows(&cell, Input::Token(5), 0..4, &h, &mut c, &mut hn, &mut g)
            .is_err()
    );
    assert!(
        k.step_rows(&cell, x, 4..8, &h, &mut c, &mut hn, &mut g)
            .is_ok()
    );
}

//! Sampling rules, determinism and the generate loop.

mod common;

use common::random_model;
use lstm_core::{
    Generator, GeneratorBuffers, Kernel, Sampler, SamplerConfig, sample_argmax, sample_multinomial,
    sample_truncated,
};
use proptest::prelude::*;

#[test]
fn argmax_takes_first_maximum() {
    assert_eq!(sample_argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
    assert_eq!(sample_argmax(&[-3.0]), 0);
}

#[test]
fn multinomial_follows_the_cdf() {
    let p = [0.25, 0.5, 0.25];
    assert_eq!(sample_multinomial(&p, 0.0), 0);
    assert_eq!(sample_multinomial(&p, 0.2499), 0);
    assert_eq!(sample_multinomial(&p, 0.25), 1);
    assert_eq!(sample_multinomial(&p, 0.7499), 1);
    assert_eq!(sample_multinomial(&p, 0.75), 2);
    assert_eq!(sample_multinomial(&p, 0.999_999), 2);
    // A zero-mass tail is never chosen.
    assert_eq!(sample_multinomial(&[0.5, 0.5, 0.0], 0.999_999_9), 1);
}

#[test]
fn top_p_keeps_the_smallest_nucleus() {
    let p = [0.1, 0.4, 0.3, 0.2];
    let mut order = [0u16; 4];
    // Sorted: 1 (0.4), 2 (0.3), 3 (0.2), 0 (0.1); top-p 0.6 keeps {1, 2} (mass 0.7).
    for i in 0..100 {
        let coin = i as f32 / 100.0;
        let s = sample_truncated(&p, &mut order, 0, 0.6, coin);
        assert!(s == 1 || s == 2, "coin {coin} gave {s}");
        assert_eq!(s, if coin < 0.4 / 0.7 { 1 } else { 2 });
    }
    assert_eq!(order, [1, 2, 3, 0]);
}

#[test]
fn sampler_rejects_nonsense_settings() {
    let bad = |temperature, top_p| {
        Sampler::new(
            SamplerConfig {
                temperature,
                top_k: 0,
                top_p,
            },
            1,
        )
        .is_err()
    };
    assert!(bad(-1.0, 1.0));
    assert!(bad(f32::NAN, 1.0));
    assert!(bad(1.0, 0.0));
    assert!(bad(1.0, 1.5));
    assert!(!bad(0.0, 1.0));
}

#[test]
fn same_seed_same_draws_and_greedy_ignores_rng() {
    let cfg = SamplerConfig {
        temperature: 0.9,
        top_k: 3,
        top_p: 0.95,
    };
    let mut a = Sampler::new(cfg, 42).expect("sampler");
    let mut b = Sampler::new(cfg, 42).expect("sampler");
    let mut order = [0u16; 5];
    for _ in 0..100 {
        let mut la = [0.3, -1.0, 2.0, 0.5, 0.0];
        let mut lb = la;
        assert_eq!(
            a.sample(Kernel::Portable, &mut la, &mut order).expect("a"),
            b.sample(Kernel::Portable, &mut lb, &mut order).expect("b")
        );
    }
    let mut g = Sampler::new(
        SamplerConfig {
            temperature: 0.0,
            ..cfg
        },
        1,
    )
    .expect("greedy");
    assert_eq!(
        g.sample(Kernel::Portable, &mut [0.3, -1.0, 2.0], &mut order)
            .expect("greedy"),
        2
    );
}

fn generate(
    seed: u64,
    prime: &str,
    cfg: SamplerConfig,
    kernel: Kernel,
) -> Result<String, lstm_core::Error> {
    let m = random_model(6, 10, 3, 1.2);
    let (mut h, mut c, mut g) = (vec![0.0; 10], vec![0.0; 10], vec![0.0; 40]);
    let (mut l, mut o) = (vec![0.0; 6], vec![0u16; 6]);
    let mut generator = Generator::new(
        m.cell(),
        m.input,
        &m.vocab,
        kernel,
        GeneratorBuffers {
            h: &mut h,
            c: &mut c,
            gates: &mut g,
            logits: &mut l,
            order: &mut o,
        },
    )?;
    let mut sampler = Sampler::new(cfg, seed)?;
    let mut out = String::new();
    generator.generate(&mut sampler, prime, 40, None, |ch| out.push(ch))?;
    Ok(out)
}

#[test]
fn generate_is_reproducible_and_includes_the_prime() {
    let cfg = SamplerConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
    };
    let a = generate(7, "abc", cfg, Kernel::Portable).expect("gen");
    assert!(a.starts_with("abc"));
    assert_eq!(a.chars().count(), 43);
    for &k in Kernel::available().iter() {
        assert_eq!(
            generate(7, "abc", cfg, k).expect("gen"),
            a,
            "kernel {}",
            k.name()
        );
    }
    assert_ne!(generate(8, "abc", cfg, Kernel::Portable).expect("gen"), a);
}

#[test]
fn generate_rejects_unknown_prime_symbol_before_emitting() {
    let cfg = SamplerConfig::default();
    assert_eq!(
        generate(1, "abz", cfg, Kernel::Portable),
        Err(lstm_core::Error::UnknownSymbol { symbol: 'z' })
    );
}

#[test]
fn stop_at_ends_generation_after_the_symbol() {
    let m = random_model(6, 10, 3, 1.2);
    let lstm_bytes = m.encode();
    let view = lstm_core::format::decode(&lstm_bytes).expect("decode");
    let mut owned = Box::new(lstm_core::OwnedLstm::<6, 10, 6>::zeros());
    owned.fill_from(&view).expect("fill");
    let lstm = owned.as_lstm(&m.vocab);
    let mut sampler = Sampler::new(SamplerConfig::default(), 3).expect("sampler");
    let mut out = String::new();
    let n = lstm
        .generate(Kernel::Portable, &mut sampler, "", 1000, Some('b'), |c| {
            out.push(c)
        })
        .expect("gen");
    assert!(out.ends_with('b'), "{out:?}");
    assert_eq!(out.matches('b').count(), 1);
    assert_eq!(n, out.chars().count());
}

proptest! {
    #[test]
    fn top_k_never_samples_outside_the_k_best(
        probs in proptest::collection::vec(0.0f32..1.0, 2..40),
        k in 1usize..10,
        coin in 0.0f32..1.0,
    ) {
        let mut order = vec![0u16; probs.len()];
        let s = sample_truncated(&probs, &mut order, k, 1.0, coin);
        // Strictly more probable symbols than the pick must number fewer than k.
        let better = probs.iter().filter(|&&p| p > probs[s]).count();
        prop_assert!(better < k, "picked {} (p={}) with {} better, k={}", s, probs[s], better, k);
    }

    #[test]
    fn coins_are_in_unit_interval(seed in any::<u64>()) {
        let mut s = Sampler::new(SamplerConfig::default(), seed).expect("sampler");
        for _ in 0..100 {
            let c = s.coin();
            prop_assert!((0.0..1.0).contains(&c));
        }
    }
}

/// Text and final state (h, c, digest) of `count` samples on one core or two.
fn generate_on(
    two: bool,
    n_h: usize,
    seed: u64,
    count: usize,
) -> (String, Vec<f32>, Vec<f32>, u32) {
    let m = random_model(9, n_h, 11, 1.3);
    let (mut h, mut c, mut g) = (vec![0.0; n_h], vec![0.0; n_h], vec![0.0; 4 * n_h]);
    let (mut l, mut o) = (vec![0.0; 9], vec![0u16; 9]);
    let cfg = SamplerConfig {
        temperature: 0.9,
        top_k: 0,
        top_p: 1.0,
    };
    let mut sampler = Sampler::new(cfg, seed).expect("sampler");
    let mut out = String::new();
    let bufs = GeneratorBuffers {
        h: &mut h,
        c: &mut c,
        gates: &mut g,
        logits: &mut l,
        order: &mut o,
    };
    let kernel = Kernel::detect();
    let digest = if two {
        lstm_core::with_split_step(m.cell(), |tc| {
            let mut gr = Generator::with_runner(m.cell(), m.input, &m.vocab, kernel, bufs, tc)
                .expect("generator");
            for _ in 0..count {
                gr.generate(&mut sampler, "ab", 60, None, |ch| out.push(ch))
                    .expect("generate");
            }
            gr.state_digest()
        })
    } else {
        let mut gr = Generator::new(m.cell(), m.input, &m.vocab, kernel, bufs).expect("generator");
        for _ in 0..count {
            gr.generate(&mut sampler, "ab", 60, None, |ch| out.push(ch))
                .expect("generate");
        }
        gr.state_digest()
    };
    (out, h, c, digest)
}

/// Splitting each step between two threads changes nothing: same text, same state bits.
#[test]
fn two_cores_generate_the_same_bits_as_one() {
    for n_h in [1usize, 2, 7, 16, 33, 64] {
        for seed in [1u64, 2] {
            let one = generate_on(false, n_h, seed, 3);
            let two = generate_on(true, n_h, seed, 3);
            assert_eq!(one, two, "hidden {n_h}, seed {seed}");
            assert_eq!(one.0.chars().count(), 3 * 62);
        }
    }
}

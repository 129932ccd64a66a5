//! The GEMM against its definition, SIMD tiles against each other, and thread independence.

use super::*;

fn random(rng: &mut crate::rng::Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// `C (+)= A·B` by the definition, in f64.
fn naive(a: MatRef<'_, f64>, b: &[f64], n: usize, c: &mut [f64], accumulate: bool) {
    for i in 0..a.rows {
        for j in 0..n {
            let mut s = 0.0;
            for kk in 0..a.cols {
                s += a.data[i * a.rs + kk * a.cs] * b[kk * n + j];
            }
            c[i * n + j] = if accumulate { c[i * n + j] + s } else { s };
        }
    }
}

/// Every A layout (in place, packed because of 4 KiB rows, transposed) and B layout (in place, strided,
/// packed from row-major and from a transpose), with and without accumulation, in f32 (the SIMD kernel
/// where the CPU has it) and f64 (the portable one), against the definition.
#[test]
fn panel_gemm_matches_definition() {
    let mut rng = crate::rng::Rng::new(11);
    for &(m, k, n) in &[
        (1, 50, 200),
        (7, 33, 45),
        (13, 1024, 70),
        (32, 64, 33),
        (25, 5, 1),
    ] {
        let a_rows = random(&mut rng, m * 1024.max(k));
        let b = random(&mut rng, k * n);
        let c0 = random(&mut rng, m * n);
        let b_t: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let b_pad: Vec<f64> = (0..k * (n + 3))
            .map(|i| {
                if i % (n + 3) < n {
                    b[(i / (n + 3)) * n + i % (n + 3)]
                } else {
                    9.0
                }
            })
            .collect();
        let a_views = [
            MatRef::rm(&a_rows[..m * k], m, k),
            MatRef {
                data: &a_rows[..],
                rows: m,
                cols: k,
                rs: 1024.max(k),
                cs: 1,
            },
            MatRef::rm(&a_rows[..m * k], k, m).t(),
        ];
        for a in a_views {
            for accumulate in [false, true] {
                let mut want = c0.clone();
                naive(a, &b, n, &mut want, accumulate);
                let a32: Vec<f32> = a.data.iter().map(|&v| v as f32).collect();
                let a32v = MatRef {
                    data: &a32[..],
                    rows: a.rows,
                    cols: a.cols,
                    rs: a.rs,
                    cs: a.cs,
                };
                let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                let (b32, bt32, bpad32) = (to32(&b), to32(&b_t), to32(&b_pad));
                for layout in 0..4 {
                    let (mut packed64, mut packed32) = (Vec::new(), Vec::new());
                    let (p64, p32) = match layout {
                        0 => (Panels::rm(&b, k, n), Panels::rm(&b32, k, n)),
                        1 => (
                            Panels::strided(&b_pad, k, n, n + 3),
                            Panels::strided(&bpad32, k, n, n + 3),
                        ),
                        2 => {
                            pack_b(MatRef::rm(&b, k, n), &mut packed64);
                            pack_b(MatRef::rm(&b32, k, n), &mut packed32);
                            (
                                Panels::packed(&packed64, k, n),
                                Panels::packed(&packed32, k, n),
                            )
                        }
                        _ => {
                            pack_b(MatRef::rm(&b_t, n, k).t(), &mut packed64);
                            pack_b(MatRef::rm(&bt32, n, k).t(), &mut packed32);
                            (
                                Panels::packed(&packed64, k, n),
                                Panels::packed(&packed32, k, n),
                            )
                        }
                    };
                    let mut got64 = c0.clone();
                    gemm_panels(a, p64, accumulate, &mut got64, &mut Vec::new());
                    let mut got32 = to32(&c0);
                    gemm_panels(a32v, p32, accumulate, &mut got32, &mut Vec::new());
                    for ((w, g64), g32) in want.iter().zip(&got64).zip(&got32) {
                        assert!(
                            (w - g64).abs() < 1e-12 * (k as f64),
                            "f64 {m}×{k}×{n} layout {layout}"
                        );
                        let tol = 1e-5 * (k as f64).sqrt() * (1.0 + w.abs());
                        assert!(
                            (w - f64::from(*g32)).abs() < tol,
                            "f32 {m}×{k}×{n} layout {layout}: {w} vs {g32}"
                        );
                    }
                }
            }
        }
    }
}

/// The AVX-512 tiles give the AVX2 tiles' bits (same FMA chain per element), for every tile shape:
/// partial panels, 1 to 7+ rows, A packed or in place, accumulating or not.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_tiles_equal_avx2_tiles() {
    if !(std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma"))
    {
        println!(
            "skip: avx512_tiles_equal_avx2_tiles needs AVX-512F, AVX2 and FMA; this CPU lacks one"
        );
        return;
    }
    let mut rng = crate::rng::Rng::new(77);
    for &(m, k, n) in &[
        (1, 9, 70),
        (1, 64, 64),
        (5, 17, 15),
        (6, 33, 16),
        (7, 8, 17),
        (13, 40, 100),
        (12, 3, 33),
        (32, 256, 130),
    ] {
        let a: Vec<f32> = random(&mut rng, m * k).iter().map(|&v| v as f32).collect();
        let b: Vec<f32> = random(&mut rng, k * n).iter().map(|&v| v as f32).collect();
        let c0: Vec<f32> = random(&mut rng, m * n).iter().map(|&v| v as f32).collect();
        let mut packed_b = Vec::new();
        pack_b(MatRef::rm(&b, k, n), &mut packed_b);
        // A packed as `gemm_panels` packs it: row blocks of MR, k-major inside a block.
        let mut packed_a = vec![0.0f32; m * k];
        let mut i0 = 0;
        while i0 < m {
            let rows = MR.min(m - i0);
            for r in 0..rows {
                for kk in 0..k {
                    packed_a[i0 * k + kk * rows + r] = a[(i0 + r) * k + kk];
                }
            }
            i0 += rows;
        }
        let np = n.div_ceil(NR);
        for (a_ptr, rsa) in [(a.as_ptr(), k), (packed_a.as_ptr(), 0)] {
            for accumulate in [false, true] {
                let run = |wide: bool| {
                    let mut c = c0.clone();
                    let job = PanelJob {
                        m,
                        k,
                        n,
                        a: a_ptr,
                        rsa,
                        b: packed_b.as_ptr(),
                        ldb: NR,
                        panel_stride: NR * k,
                        c: c.as_mut_ptr(),
                        accumulate,
                    };
                    // SAFETY: the CPU has the features (checked above); A, B (packed) and C have the
                    // shapes the job describes, and nothing else touches `c` during the call.
                    unsafe {
                        if wide {
                            super::x86::panels_avx512(&job, 0, np);
                        } else {
                            super::x86::panels_avx2(&job, 0, np);
                        }
                    }
                    c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
                };
                assert_eq!(
                    run(true),
                    run(false),
                    "{m}×{k}×{n} rsa {rsa} accumulate {accumulate}"
                );
            }
        }
    }
}

/// A product big enough to be split between two threads gives the same bits on one thread and on two.
#[test]
fn panel_gemm_is_bitwise_independent_of_threads() {
    let mut rng = crate::rng::Rng::new(12);
    let (m, k, n) = (32, 256, 1000);
    assert!(m * k * n >= PAR_MIN);
    let a: Vec<f32> = random(&mut rng, m * k).iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = random(&mut rng, k * n).iter().map(|&v| v as f32).collect();
    let mut packed = Vec::new();
    pack_b(MatRef::rm(&b, k, n), &mut packed);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| {
            assert_eq!(on_pool(), threads > 1);
            let mut c = vec![0.5f32; m * n];
            gemm_panels(
                MatRef::rm(&a, m, k),
                Panels::packed(&packed, k, n),
                true,
                &mut c,
                &mut Vec::new(),
            );
            c
        })
    };
    assert_eq!(run(1), run(2));
}

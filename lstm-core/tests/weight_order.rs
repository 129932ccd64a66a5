//! The quad order of q8 matrices (`lstm_core::weight_order`): its layout on
//! a known matrix, that it is a permutation for every shape, and that a
//! product over it gives the row-major product's bits.

use lstm_core::Kernel;
use lstm_core::weight_order::{WeightOrder, interleave_quads, quad_index};

#[test]
fn quad_order_of_a_five_by_six_matrix() {
    // w[k][j] = 10k + j: one quad (rows 0-3) with a two-column tail, then row 4.
    let src: Vec<i8> = (0..5)
        .flat_map(|k| (0..6).map(move |j| 10 * k + j))
        .collect();
    let mut dst = vec![0i8; 30];
    interleave_quads(&src, 5, 6, &mut dst);
    let want: Vec<i8> = vec![
        0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33, // group 0
        4, 5, 14, 15, 24, 25, 34, 35, // the tails, row by row
        40, 41, 42, 43, 44, 45, // row 4, row-major
    ];
    assert_eq!(dst, want);
    assert_eq!(quad_index(5, 6, 2, 1), 9);
    assert_eq!(quad_index(5, 6, 3, 5), 23);
    assert_eq!(quad_index(5, 6, 4, 0), 24);
}

#[test]
fn quad_index_is_a_permutation_keeping_quads_in_place() {
    for rows in [1, 3, 4, 5, 8, 13, 50, 64] {
        for n in [1, 2, 3, 4, 5, 7, 8, 13, 16, 50] {
            let mut seen = vec![false; rows * n];
            for k in 0..rows {
                for j in 0..n {
                    let i = quad_index(rows, n, k, j);
                    assert!(!seen[i], "rows {rows} n {n}: index {i} twice");
                    seen[i] = true;
                    // Each quad stays in its own 4n bytes; other rows stay put.
                    if k < rows / 4 * 4 {
                        assert_eq!(i / (4 * n), k / 4);
                    } else {
                        assert_eq!(i, k * n + j);
                    }
                }
            }
            assert!(seen.iter().all(|&s| s));
        }
    }
}

#[test]
fn products_over_either_order_give_the_same_bits() {
    let (rows, n) = (13, 50);
    let w: Vec<i8> = (0..rows * n)
        .map(|i| ((i * 37 + 11) % 255) as i8 / 2)
        .collect();
    let h: Vec<f32> = (0..n).map(|j| (j as f32 * 0.37).sin()).collect();
    let scale: Vec<f32> = (0..rows).map(|k| 0.01 + k as f32 * 1e-3).collect();
    let mut wq = vec![0i8; rows * n];
    interleave_quads(&w, rows, n, &mut wq);
    for kernel in Kernel::ALL.iter().copied().filter(|k| k.runs_here()) {
        let mut x = vec![0i16; n];
        kernel.q15_state(&h, &mut x).expect("q15_state");
        let (mut a, mut b) = (vec![0.0f32; rows], vec![0.0f32; rows]);
        kernel
            .gemv_q8_in(WeightOrder::RowMajor, &w, &scale, &x, &mut a)
            .expect("row-major");
        kernel
            .gemv_q8_in(WeightOrder::Quads, &wq, &scale, &x, &mut b)
            .expect("quads");
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{}", kernel.name());
        assert!(a.iter().any(|&v| v != 0.0));
    }
}

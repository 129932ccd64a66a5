//! q8 views built from slices (what the firmware's `static`s use): the
//! accumulator bound, `-128` and bad scales are refused with typed errors
//! when the view is built, and a step's scratch must hold the Q15 operands.

use lstm_core::format::{CellKind, Dtype, InputKind};
use lstm_core::{Error, Input, InputLayout, Kernel, NetworkView, OutputView, RecurrentView};

fn rnn(
    layout: InputLayout,
    n_in: usize,
    n_h: usize,
    w_ih: &[i8],
    w_hh: &[i8],
) -> Result<RecurrentView<'static>, Error> {
    let s_ih: &'static [f32] = Box::leak(vec![0.5f32; n_h].into_boxed_slice());
    let s_hh: &'static [f32] = Box::leak(vec![0.25f32; n_h].into_boxed_slice());
    let b: &'static [f32] = Box::leak(vec![0.0f32; n_h].into_boxed_slice());
    let w_ih: &'static [i8] = Box::leak(w_ih.to_vec().into_boxed_slice());
    let w_hh: &'static [i8] = Box::leak(w_hh.to_vec().into_boxed_slice());
    RecurrentView::new_q8(
        CellKind::Rnn,
        layout,
        n_in,
        n_h,
        w_ih,
        s_ih,
        w_hh,
        s_hh,
        b,
        &[],
    )
}

#[test]
fn rows_beyond_the_accumulator_bound_are_refused() {
    // Every w_hh row has n_h terms.
    assert!(matches!(
        rnn(
            InputLayout::Gather,
            2,
            517,
            &vec![0; 2 * 517],
            &vec![0; 517 * 517]
        ),
        Err(Error::AccumulatorBound {
            name: "n_h",
            n: 517,
            max: 516
        })
    ));
    // A rows-layout input is a product of n_in terms; a gathered one is not.
    assert!(matches!(
        rnn(InputLayout::Rows, 517, 1, &[0; 517], &[0]),
        Err(Error::AccumulatorBound {
            name: "n_in",
            n: 517,
            max: 516
        })
    ));
    let wide = rnn(InputLayout::Gather, 600, 1, &[1; 600], &[1]).expect("a 600-symbol gather");
    assert_eq!(wide.dtype(), Dtype::Q8);
    // The bound itself is allowed.
    rnn(
        InputLayout::Gather,
        1,
        516,
        &vec![127; 516],
        &vec![-127; 516 * 516],
    )
    .expect("n_h = 516");
    assert!(matches!(
        OutputView::new_q8(517, 2, &vec![0; 2 * 517], &[1.0, 1.0], &[0.0, 0.0]),
        Err(Error::AccumulatorBound {
            name: "n_h",
            n: 517,
            max: 516
        })
    ));
}

#[test]
fn bad_values_and_lengths_are_refused() {
    assert!(matches!(
        rnn(InputLayout::Gather, 2, 2, &[0, 1, 2, 3], &[1, -128, 0, 0]),
        Err(Error::QuantOutOfRange {
            tensor: "w_hh",
            index: 1
        })
    ));
    assert!(matches!(
        rnn(InputLayout::Gather, 2, 2, &[0, 1, 2, 3], &[0; 3]),
        Err(Error::TensorLength {
            tensor: "w_hh",
            expected: 4,
            found: 3
        })
    ));
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            RecurrentView::new_q8(
                CellKind::Rnn,
                InputLayout::Gather,
                1,
                2,
                &[1, 1],
                &[1.0, bad],
                &[0; 4],
                &[1.0, 1.0],
                &[0.0, 0.0],
                &[]
            ),
            Err(Error::BadScale {
                tensor: "w_ih.scale",
                index: 1
            })
        ));
    }
    assert!(matches!(
        OutputView::new_q8(2, 1, &[-128, 0], &[1.0], &[0.0]),
        Err(Error::QuantOutOfRange {
            tensor: "w_y",
            index: 0
        })
    ));
    assert!(matches!(
        RecurrentView::new_q8(
            CellKind::Gru,
            InputLayout::Gather,
            1,
            1,
            &[0; 3],
            &[1.0; 3],
            &[0; 3],
            &[1.0; 3],
            &[0.0; 3],
            &[]
        ),
        Err(Error::TensorLength { tensor: "b_hn", .. })
    ));
}

/// The Q15 operands live in the caller's scratch: `scratch_len` counts
/// them, and a scratch without room for them is refused, not overrun.
#[test]
fn a_q8_step_needs_scratch_for_its_q15_operands() {
    let l0 = rnn(InputLayout::Gather, 3, 5, &[7; 15], &[-3; 25]).expect("layer 0");
    let l1 = rnn(InputLayout::Rows, 5, 5, &[2; 25], &[1; 25]).expect("layer 1");
    let out = OutputView::new_q8(5, 3, &[1; 15], &[0.1; 3], &[0.0; 3]).expect("output");
    let net = NetworkView::new(InputKind::OneHot, &[l0, l1], out).expect("network");
    // rnn with rows: 2·n_h, plus ⌈5/2⌉ words for h and ⌈5/2⌉ for the input.
    assert_eq!(l0.scratch_len(5), 5 + 3);
    assert_eq!(l1.scratch_len(5), 10 + 3 + 3);
    assert_eq!(net.scratch_len(), 16);
    let mut h = [0.5f32; 10];
    let k = Kernel::Portable;
    assert!(matches!(
        k.network_step(&net, Input::Token(1), &mut h, &mut [], &mut [0.0; 15]),
        Err(Error::BufferTooSmall {
            needed: 16,
            available: 15
        })
    ));
    assert_eq!(h, [0.5; 10]);
    k.network_step(&net, Input::Token(1), &mut h, &mut [], &mut [0.0; 16])
        .expect("step");
    // Scratch left over from an f32 step or a longer one gives the same bits.
    let mut h2 = [0.5f32; 10];
    k.network_step(&net, Input::Token(1), &mut h2, &mut [], &mut [f32::NAN; 40])
        .expect("step");
    assert_eq!(h, h2);
    assert!(h.iter().all(|v| v.is_finite() && v.abs() < 1.0));
}

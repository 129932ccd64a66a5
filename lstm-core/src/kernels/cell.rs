//! The cell maths, written once over an [`Arch`]'s primitives: one LSTM step
//! (whole or for a range of hidden units), the output layer and softmax.
//!
//! Each function reads like its equations; every architecture instantiates
//! the same body, so they all compute the same operations in the same order.
//! Callers (`Kernel`'s methods) have checked every length.

use core::ops::Range;

use super::arch::Arch;
use crate::view::{CellView, Input};

/// One LSTM step of hidden units `rows` from the whole previous hidden state
/// `h_prev` (`n_h` values); `c` and `h_next` are those units' cell state
/// (updated in place) and new hidden state, `gates` their scratch (`4·m`,
/// `m = rows.len()`):
///
/// ```text
/// a_q = W_hq h_prev + (W_iq x + b_q)    for q in i, f, g, o (one gate block each)
/// i, f, o = σ(a_i), σ(a_f), σ(a_o)      g = tanh(a_g)
/// c = f ⊙ c + i ⊙ g                     h_next = o ⊙ tanh(c)
/// ```
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn lstm_step_rows<A: Arch>(
    arch: A,
    cell: &CellView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h_prev: &[f32],
    c: &mut [f32],
    h_next: &mut [f32],
    gates: &mut [f32],
) {
    lstm_gates(arch, cell, x, rows, h_prev, gates);
    lstm_activate_and_update(arch, gates, c, h_next);
}

/// One whole LSTM step: `h` and `c` (`n_h` each) updated in place, `gates`
/// scratch of `4·n_h`. The same maths as [`lstm_step_rows`] over all units.
#[inline(always)]
pub(crate) fn lstm_step<A: Arch>(
    arch: A,
    cell: &CellView<'_>,
    x: Input<'_>,
    h: &mut [f32],
    c: &mut [f32],
    gates: &mut [f32],
) {
    // The pre-activations read all of the old h before the update writes it.
    lstm_gates(arch, cell, x, 0..cell.n_h, h, gates);
    lstm_activate_and_update(arch, gates, c, h);
}

/// Pre-activations of units `rows`, gate by gate into four blocks of `gates`:
/// `a_q = W_hq h + (W_iq x + b_q)`. A one-hot `x` gathers one column of
/// `W_iq` ([`Arch::gemv_add`]); a dense `x` is a product summed by plain
/// fused multiply-adds in input order, then added as `a += xpart + b`.
#[inline(always)]
fn lstm_gates<A: Arch>(
    arch: A,
    cell: &CellView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h: &[f32],
    gates: &mut [f32],
) {
    let n_h = cell.n_h;
    let m = rows.len();
    debug_assert!(rows.end <= n_h && h.len() == n_h && gates.len() == 4 * m);
    if m == 0 {
        return;
    }
    for (q, a) in gates.chunks_exact_mut(m).enumerate() {
        let w_hh = &cell.w_hh[q][rows.start * n_h..rows.end * n_h];
        let b = &cell.b[q][rows.clone()];
        match x {
            Input::Token(t) => {
                let col = &cell.w_ih[q][t * n_h + rows.start..t * n_h + rows.end];
                arch.gemv_add(w_hh, h, col, b, a);
            }
            Input::Dense(v) => {
                arch.gemv(w_hh, h, a);
                let w_ih = cell.w_ih[q];
                for (k, (a, b)) in rows.clone().zip(a.iter_mut().zip(b)) {
                    let mut xpart = 0.0f32;
                    for (j, &vj) in v.iter().enumerate() {
                        xpart = arch.fma(w_ih[j * n_h + k], vj, xpart);
                    }
                    *a += xpart + *b;
                }
            }
        }
    }
}

/// Gate activations in place (`i, f, o` through sigmoid, `g` through tanh),
/// then the state update of [`Arch::lstm_update`].
#[inline(always)]
fn lstm_activate_and_update<A: Arch>(arch: A, gates: &mut [f32], c: &mut [f32], h: &mut [f32]) {
    let m = c.len();
    debug_assert!(gates.len() == 4 * m && h.len() == m);
    let (i, rest) = gates.split_at_mut(m);
    let (f, rest) = rest.split_at_mut(m);
    let (g, o) = rest.split_at_mut(m);
    arch.sigmoid_in_place(i);
    arch.sigmoid_in_place(f);
    arch.sigmoid_in_place(o);
    arch.tanh_in_place(g);
    arch.lstm_update(i, f, g, o, c, h);
}

/// The output layer: `logits = W_y h + b_y` (the product, then the bias added).
#[inline(always)]
pub(crate) fn logits<A: Arch>(arch: A, cell: &CellView<'_>, h: &[f32], out: &mut [f32]) {
    debug_assert!(h.len() == cell.n_h && out.len() == cell.n_y);
    arch.gemv(cell.w_y, h, out);
    for (o, b) in out.iter_mut().zip(cell.b_y) {
        *o += *b;
    }
}

/// `v = softmax(v / temperature)`: the maximum subtracted, the numerators of
/// [`Arch::exp_shifted`], summed left to right, each divided by the sum.
#[inline(always)]
pub(crate) fn softmax<A: Arch>(arch: A, v: &mut [f32], temperature: f32) {
    // A plain comparison (NaNs are skipped), not `f32::max`, which is a
    // libm call on the Cortex-M4F.
    let max = v
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    arch.exp_shifted(v, max, temperature);
    let mut sum = 0.0f32;
    for &e in v.iter() {
        sum += e;
    }
    for e in v.iter_mut() {
        *e /= sum;
    }
}

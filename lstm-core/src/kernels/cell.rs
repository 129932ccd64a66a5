//! The cell maths, written once over an [`Arch`]'s primitives: one step of a
//! recurrent layer of each kind (whole, or for a range of hidden units), the
//! output layer and softmax. (`Kernel::network_step` steps the layers of a
//! stack one after the other through [`layer_step_of`].)
//!
//! Each function reads like its equations (PyTorch's, see
//! `testdata/golden/v2/SCHEMA.md`); every architecture instantiates the
//! same body, so they all compute the same operations in the same order.
//! Callers (`Kernel`'s methods) have checked every length.
//!
//! The weights are read in one place, [the products](#products) below
//! ([`preact`], [`input_plus_bias`], [`recurrent`], [`logits`]): a new dtype
//! changes those, not the cell bodies. A q8 layer's step packs its Q15
//! operands once ([`pack`]: the previous h, and a rows-layout input) and
//! its products call [`Arch::gemv_q8`] / [`Arch::gemv_q8_quads`] (by the
//! view's weight order, [`q8_product`]) where f32
//! calls [`Arch::gemv`] / [`Arch::gemv_add`]; everything after the
//! products — bias additions, activations, state updates — is the same f32
//! code in the same order for both dtypes, except that a q8 layer's
//! sigmoid and tanh are the table ones of [`crate::lut`] ([`Act`]).

use core::ops::Range;

use super::arch::{Arch, add_q8_column};
use crate::format::CellKind;
use crate::quant::dequantize;
use crate::view::{Input, InputLayout, OutputView, Q8Layer, RecurrentView};
use crate::weight_order::WeightOrder;

/// The Q15 operands of one q8 step, packed once per step by [`pack`] in the
/// architecture's order ([`Arch::q15_pack`]): the previous hidden state and,
/// for a rows-layout layer, its dense input. Both empty for an f32 layer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Packed<'s> {
    h: &'s [i16],
    x: &'s [i16],
}

/// Splits the last [`RecurrentView::packed_len`] words off `scratch` and,
/// for a q8 layer, packs `h` (`n_h`) and a rows-layout dense input there;
/// returns the f32 scratch before them and the packed operands.
#[inline(always)]
fn pack<'s, A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    h: &[f32],
    scratch: &'s mut [f32],
) -> (&'s mut [f32], Packed<'s>) {
    let words = layer.packed_len();
    if words == 0 {
        return (scratch, Packed::default());
    }
    let at = scratch.len().saturating_sub(words);
    let (f32s, tail) = scratch.split_at_mut(at);
    let tail: &mut [i16] = bytemuck::cast_slice_mut(tail);
    let (hq, xq) = tail.split_at_mut((2 * layer.n_h.div_ceil(2)).min(tail.len()));
    let n = h.len().min(hq.len());
    let hq = &mut hq[..n];
    arch.q15_pack(h, hq);
    let xq: &[i16] = match (layer.layout, x) {
        (InputLayout::Rows, Input::Dense(v)) => {
            let n = v.len().min(xq.len());
            let xq = &mut xq[..n];
            arch.q15_pack(v, xq);
            xq
        }
        _ => &[],
    };
    (f32s, Packed { h: hq, x: xq })
}

/// One step of `layer` for hidden units `rows` from the whole previous hidden
/// state `h_prev` (`n_h` values): `c` (lstm: `m = rows.len()` values; empty
/// otherwise) is updated in place, `h_next` (`m`) receives the new hidden
/// state; `scratch` is at least [`RecurrentView::scratch_len`]`(m)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_step_rows<A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h_prev: &[f32],
    c: &mut [f32],
    h_next: &mut [f32],
    scratch: &mut [f32],
) {
    let m = rows.len();
    let (scratch, p) = pack(arch, layer, x, h_prev, scratch);
    match layer.kind {
        CellKind::Lstm => {
            let (gates, tmp) = scratch.split_at_mut(4 * m);
            lstm_gates(arch, layer, x, rows, h_prev, p, gates, tmp);
            lstm_activate_and_update(arch, Act::of(layer), gates, c, h_next);
        }
        CellKind::Gru => {
            h_next.copy_from_slice(&h_prev[rows.clone()]);
            gru_rows(arch, layer, x, rows, h_prev, p, h_next, scratch);
        }
        CellKind::Rnn => {
            rnn_preact(arch, layer, x, rows, h_prev, p, scratch);
            h_next.copy_from_slice(&scratch[..m]);
        }
    }
}

/// One whole step of `layer`: `h` (`n_h`) and, for lstm, `c` (`n_h`; empty
/// otherwise) updated in place; `scratch` at least
/// [`RecurrentView::scratch_len`]`(n_h)`. The same maths as
/// [`layer_step_rows`] over all units. Only the body of the cell kind whose
/// [`CellKind::code`] is `CELL` is compiled in ([`super::ANY`]: every
/// kind's), so a firmware that runs one kind links one body; the caller has
/// checked that `layer` is of that kind (another kind leaves `h` and `c`
/// untouched).
#[inline(always)]
pub(crate) fn layer_step_of<A: Arch, const CELL: u8>(
    arch: A,
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    h: &mut [f32],
    c: &mut [f32],
    scratch: &mut [f32],
) {
    let n_h = layer.n_h;
    let compiled = |kind: CellKind| CELL == super::ANY || CELL == kind.code();
    debug_assert!(
        compiled(layer.kind),
        "layer_step_of: cell kind not compiled in"
    );
    let (scratch, p) = pack(arch, layer, x, h, scratch);
    // The products read all of the old h before the update writes it.
    match layer.kind {
        CellKind::Lstm if compiled(CellKind::Lstm) => {
            let (gates, tmp) = scratch.split_at_mut(4 * n_h);
            lstm_gates(arch, layer, x, 0..n_h, h, p, gates, tmp);
            lstm_activate_and_update(arch, Act::of(layer), gates, c, h);
        }
        CellKind::Gru if compiled(CellKind::Gru) => {
            let (z, n) = gru_gates(arch, layer, x, 0..n_h, h, p, scratch);
            arch.gru_update(z, n, h);
        }
        CellKind::Rnn if compiled(CellKind::Rnn) => {
            rnn_preact(arch, layer, x, 0..n_h, h, p, scratch);
            h.copy_from_slice(&scratch[..n_h]);
        }
        _ => {}
    }
}

/// LSTM pre-activations of units `rows`, gate by gate into four blocks of
/// `gates`: `a_q = W_hq h + (W_iq x + b_q)` for `q` in i, f, g, o
/// ([`preact`]); `tmp` is `m` more values with a rows-layout input.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_gates<A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h: &[f32],
    p: Packed<'_>,
    gates: &mut [f32],
    tmp: &mut [f32],
) {
    let m = rows.len();
    debug_assert!(rows.end <= layer.n_h && h.len() == layer.n_h && gates.len() == 4 * m);
    if m == 0 {
        return;
    }
    for (q, a) in gates.chunks_exact_mut(m).enumerate() {
        preact(arch, layer, q, x, rows.clone(), h, p, a, tmp);
    }
}

/// LSTM gate activations in place (`i, f, o` through sigmoid, `g` through
/// tanh), then the state update of [`Arch::lstm_update`]:
///
/// ```text
/// i, f, o = σ(a_i), σ(a_f), σ(a_o)      g = tanh(a_g)
/// c = f ⊙ c + i ⊙ g                     h = o ⊙ tanh(c)
/// ```
#[inline(always)]
fn lstm_activate_and_update<A: Arch>(
    arch: A,
    act: Act,
    gates: &mut [f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    let m = c.len();
    debug_assert!(gates.len() == 4 * m && h.len() == m);
    let (i, rest) = gates.split_at_mut(m);
    let (f, rest) = rest.split_at_mut(m);
    let (g, o) = rest.split_at_mut(m);
    act.sigmoid(arch, i);
    act.sigmoid(arch, f);
    act.sigmoid(arch, o);
    act.tanh(arch, g);
    match act {
        Act::Exp => arch.lstm_update(i, f, g, o, c, h),
        Act::Table => arch.lstm_update_table(i, f, g, o, c, h),
    }
}

/// A layer's activation functions: an f32 layer's exp-based ones
/// ([`crate::math::sigmoid`], [`crate::math::tanh`]), a q8 layer's table
/// ones ([`crate::lut`]). The cell bodies call them through this, so each
/// kind's equations stay written once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// [`Arch::sigmoid_in_place`], [`Arch::tanh_in_place`], [`Arch::lstm_update`].
    Exp,
    /// [`Arch::sigmoid_table_in_place`], [`Arch::tanh_table_in_place`], [`Arch::lstm_update_table`].
    Table,
}

impl Act {
    /// The activations of `layer`'s dtype: tables for q8.
    #[inline(always)]
    fn of(layer: &RecurrentView<'_>) -> Self {
        if layer.q8.is_some() {
            Act::Table
        } else {
            Act::Exp
        }
    }

    /// `v[k] = σ(v[k])`.
    #[inline(always)]
    fn sigmoid<A: Arch>(self, arch: A, v: &mut [f32]) {
        match self {
            Act::Exp => arch.sigmoid_in_place(v),
            Act::Table => arch.sigmoid_table_in_place(v),
        }
    }

    /// `v[k] = tanh(v[k])`.
    #[inline(always)]
    fn tanh<A: Arch>(self, arch: A, v: &mut [f32]) {
        match self {
            Act::Exp => arch.tanh_in_place(v),
            Act::Table => arch.tanh_table_in_place(v),
        }
    }
}

/// The GRU's gates for units `rows`, in `scratch`'s first three blocks of
/// `m` (the fourth holds `W_hn h + b_hn`); returns `(z, n)`:
///
/// ```text
/// r = σ(W_hr h + (W_ir x + b_r))         b_r = b_ir + b_hr
/// z = σ(W_hz h + (W_iz x + b_z))         b_z = b_iz + b_hz
/// n = tanh(fma(r, W_hn h + b_hn, W_in x + b_in))
/// ```
///
/// (the new state is then [`Arch::gru_update`]: `h' = fma(z, h − n, n)`,
/// PyTorch's `(1 − z) ⊙ n + z ⊙ h`).
#[inline(always)]
fn gru_gates<'s, A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h: &[f32],
    p: Packed<'_>,
    scratch: &'s mut [f32],
) -> (&'s [f32], &'s mut [f32]) {
    let m = rows.len();
    debug_assert!(rows.end <= layer.n_h && h.len() == layer.n_h && scratch.len() >= 4 * m);
    let (r, rest) = scratch.split_at_mut(m);
    let (z, rest) = rest.split_at_mut(m);
    let (n, rest) = rest.split_at_mut(m);
    let hn = &mut rest[..m];
    // `hn` is free until the third gate: the first two use it as `tmp`.
    preact(arch, layer, 0, x, rows.clone(), h, p, r, hn);
    preact(arch, layer, 1, x, rows.clone(), h, p, z, hn);
    input_plus_bias(arch, layer, 2, x, rows.clone(), p, n);
    recurrent(arch, layer, 2, rows.clone(), h, p, hn);
    for (v, b) in hn.iter_mut().zip(&layer.b_hn[rows]) {
        *v += *b;
    }
    let act = Act::of(layer);
    act.sigmoid(arch, r);
    act.sigmoid(arch, z);
    for ((n, r), hn) in n.iter_mut().zip(&*r).zip(&*hn) {
        *n = arch.fma(*r, *hn, *n);
    }
    act.tanh(arch, n);
    (z, n)
}

/// [`gru_gates`] and the update for units `rows`: `h_next` holds the old
/// state of those units on entry and the new one on return.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_rows<A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h_prev: &[f32],
    p: Packed<'_>,
    h_next: &mut [f32],
    scratch: &mut [f32],
) {
    let (z, n) = gru_gates(arch, layer, x, rows, h_prev, p, scratch);
    arch.gru_update(z, n, h_next);
}

/// The tanh RNN's new state for units `rows` into `scratch[..m]`:
/// `h' = tanh(W_hh h + (W_ih x + b))`, `b = b_ih + b_hh`.
#[inline(always)]
fn rnn_preact<A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h: &[f32],
    p: Packed<'_>,
    scratch: &mut [f32],
) {
    let m = rows.len();
    debug_assert!(rows.end <= layer.n_h && h.len() == layer.n_h && scratch.len() >= m);
    let (a, tmp) = scratch.split_at_mut(m);
    preact(arch, layer, 0, x, rows, h, p, a, tmp);
    Act::of(layer).tanh(arch, a);
}

// # Products
//
// The only functions that read a layer's weights. Each has an f32 and a q8
// arm computing the same combination in the same order: the products
// (`gemv` / `gemv_q8`: f32 eight-lane sums, or exact i32 sums scaled once),
// then the same f32 additions.

/// Gate `q`'s pre-activation for units `rows`: `out = W_hq h + (W_iq x + b_q)`
/// — the input part and the bias added first, then onto the product
/// ([`Arch::gemv_add`]). The input part: a one-hot `x` gathers one column of
/// `W_iq` (gather layout); a dense `x` in the gather layout is summed by
/// fused multiply-adds in input order; in the rows layout it is
/// [`Arch::gemv`] into `tmp` (`m` values; untouched otherwise). q8: the
/// same with [`q8_product`] over `p` (then [`add_q8_column`] for a token),
/// and the gathered weights dequantized (`q · scale`, one rounding).
// Inlined everywhere: a step compiled for one dtype (`Kernel::network_step_of`,
// the firmware's `OneCell`) then drops the other dtype's arm, and its
// kernel routines, from flash.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn preact<A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    q: usize,
    x: Input<'_>,
    rows: Range<usize>,
    h: &[f32],
    p: Packed<'_>,
    out: &mut [f32],
    tmp: &mut [f32],
) {
    let n_h = layer.n_h;
    let b = &layer.b[q][rows.clone()];
    if let Some(w) = &layer.q8 {
        let w_hh = Q8Mat::new(w.w_hh[q], w.s_hh[q], n_h, layer.q8_order);
        match (layer.layout, x) {
            (InputLayout::Gather, Input::Token(t)) => {
                let col = &w.w_ih[q][t * n_h + rows.start..t * n_h + rows.end];
                let s_ih = &w.s_ih[q][rows.clone()];
                q8_product_add(arch, w_hh, rows, p.h, (col, s_ih, b), out);
            }
            (InputLayout::Gather, Input::Dense(v)) => {
                q8_product(arch, w_hh, rows.clone(), p.h, out);
                for (k, (a, b)) in rows.zip(out.iter_mut().zip(b)) {
                    *a += gather_dense_q8(arch, w, q, v, n_h, k) + *b;
                }
            }
            (InputLayout::Rows, Input::Dense(_)) => {
                let tmp = &mut tmp[..out.len()];
                let w_ih = Q8Mat::new(w.w_ih[q], w.s_ih[q], layer.n_in, layer.q8_order);
                q8_product(arch, w_ih, rows.clone(), p.x, tmp);
                q8_product(arch, w_hh, rows, p.h, out);
                for ((o, a), b) in out.iter_mut().zip(&*tmp).zip(b) {
                    *o += *a + *b;
                }
            }
            (InputLayout::Rows, Input::Token(_)) => out.fill(f32::NAN),
        }
        return;
    }
    let w_hh = &layer.w_hh[q][rows.start * n_h..rows.end * n_h];
    match (layer.layout, x) {
        (InputLayout::Gather, Input::Token(t)) => {
            let col = &layer.w_ih[q][t * n_h + rows.start..t * n_h + rows.end];
            arch.gemv_add(w_hh, h, col, b, out);
        }
        (InputLayout::Gather, Input::Dense(v)) => {
            arch.gemv(w_hh, h, out);
            for (k, (a, b)) in rows.zip(out.iter_mut().zip(b)) {
                *a += gather_dense(arch, layer.w_ih[q], v, n_h, k) + *b;
            }
        }
        (InputLayout::Rows, Input::Dense(v)) => {
            let tmp = &mut tmp[..out.len()];
            let n_in = layer.n_in;
            arch.gemv(&layer.w_ih[q][rows.start * n_in..rows.end * n_in], v, tmp);
            arch.gemv_add(w_hh, h, tmp, b, out);
        }
        // `Kernel` refuses a token for a rows-layout layer.
        (InputLayout::Rows, Input::Token(_)) => out.fill(f32::NAN),
    }
}

/// Gate `q`'s input part plus its bias for units `rows`:
/// `out = W_iq x + b_q` (as in [`preact`], without the recurrent product).
// Inlined everywhere: a step compiled for one dtype (`Kernel::network_step_of`,
// the firmware's `OneCell`) then drops the other dtype's arm, and its
// kernel routines, from flash.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn input_plus_bias<A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    q: usize,
    x: Input<'_>,
    rows: Range<usize>,
    p: Packed<'_>,
    out: &mut [f32],
) {
    let n_h = layer.n_h;
    let b = &layer.b[q][rows.clone()];
    if let Some(w) = &layer.q8 {
        match (layer.layout, x) {
            (InputLayout::Gather, Input::Token(t)) => {
                let col = &w.w_ih[q][t * n_h + rows.start..t * n_h + rows.end];
                let s_ih = &w.s_ih[q][rows];
                for (((o, c), s), b) in out.iter_mut().zip(col).zip(s_ih).zip(b) {
                    *o = dequantize(*c, *s) + *b;
                }
            }
            (InputLayout::Gather, Input::Dense(v)) => {
                for (k, (o, b)) in rows.zip(out.iter_mut().zip(b)) {
                    *o = gather_dense_q8(arch, w, q, v, n_h, k) + *b;
                }
            }
            (InputLayout::Rows, Input::Dense(_)) => {
                let w_ih = Q8Mat::new(w.w_ih[q], w.s_ih[q], layer.n_in, layer.q8_order);
                q8_product(arch, w_ih, rows, p.x, out);
                for (o, b) in out.iter_mut().zip(b) {
                    *o += *b;
                }
            }
            (InputLayout::Rows, Input::Token(_)) => out.fill(f32::NAN),
        }
        return;
    }
    match (layer.layout, x) {
        (InputLayout::Gather, Input::Token(t)) => {
            let col = &layer.w_ih[q][t * n_h + rows.start..t * n_h + rows.end];
            for ((o, a), b) in out.iter_mut().zip(col).zip(b) {
                *o = *a + *b;
            }
        }
        (InputLayout::Gather, Input::Dense(v)) => {
            for (k, (o, b)) in rows.zip(out.iter_mut().zip(b)) {
                *o = gather_dense(arch, layer.w_ih[q], v, n_h, k) + *b;
            }
        }
        (InputLayout::Rows, Input::Dense(v)) => {
            let n_in = layer.n_in;
            arch.gemv(&layer.w_ih[q][rows.start * n_in..rows.end * n_in], v, out);
            for (o, b) in out.iter_mut().zip(b) {
                *o += *b;
            }
        }
        (InputLayout::Rows, Input::Token(_)) => out.fill(f32::NAN),
    }
}

/// Gate `q`'s recurrent product for units `rows`: `out = W_hq h`.
#[inline(always)]
fn recurrent<A: Arch>(
    arch: A,
    layer: &RecurrentView<'_>,
    q: usize,
    rows: Range<usize>,
    h: &[f32],
    p: Packed<'_>,
    out: &mut [f32],
) {
    let n_h = layer.n_h;
    match &layer.q8 {
        Some(w) => q8_product(
            arch,
            Q8Mat::new(w.w_hh[q], w.s_hh[q], n_h, layer.q8_order),
            rows,
            p.h,
            out,
        ),
        None => arch.gemv(&layer.w_hh[q][rows.start * n_h..rows.end * n_h], h, out),
    }
}

/// One q8 matrix: its int8 values in `order`, one scale per row (all its
/// rows: `s.len()`), rows of `n` values.
#[derive(Clone, Copy)]
struct Q8Mat<'w> {
    q: &'w [i8],
    s: &'w [f32],
    n: usize,
    order: WeightOrder,
}

impl<'w> Q8Mat<'w> {
    #[inline(always)]
    fn new(q: &'w [i8], s: &'w [f32], n: usize, order: WeightOrder) -> Self {
        Q8Mat { q, s, n, order }
    }
}

/// Rows `rows` of `m` times `x` into `out` ([`Arch::gemv_q8_in`]). In quad
/// order a range is taken as whole quads plus the row-major rows after the
/// last quad; a range that starts or ends inside a quad (a split step's)
/// takes those rows from the product of their whole quad (the same bits:
/// each row's sum is exact).
#[inline(always)]
fn q8_product<A: Arch>(arch: A, m: Q8Mat<'_>, rows: Range<usize>, x: &[i16], out: &mut [f32]) {
    let (q, s, n) = (m.q, m.s, m.n);
    if m.order == WeightOrder::RowMajor {
        arch.gemv_q8(&q[rows.start * n..rows.end * n], &s[rows], x, out);
        return;
    }
    if rows.start == 0 && rows.end == s.len() {
        // The whole matrix (every step but a split one's).
        arch.gemv_q8_quads(q, s, x, out);
        return;
    }
    quad_rows(arch, m, rows, x, out);
}

/// [`q8_product`], then a gathered input column and its bias `add = (col,
/// col_scale, b)` ([`add_q8_column`]); a whole quad-order matrix in one
/// [`Arch::gemv_q8_quads_add`] (the same operations).
#[inline(always)]
fn q8_product_add<A: Arch>(
    arch: A,
    m: Q8Mat<'_>,
    rows: Range<usize>,
    x: &[i16],
    add: (&[i8], &[f32], &[f32]),
    out: &mut [f32],
) {
    let (col, col_scale, b) = add;
    if m.order == WeightOrder::Quads && rows.start == 0 && rows.end == m.s.len() {
        arch.gemv_q8_quads_add(m.q, m.s, x, col, col_scale, b, out);
        return;
    }
    q8_product(arch, m, rows, x, out);
    add_q8_column(out, col, col_scale, b);
}

/// [`q8_product`] of a quad-order `m` for a range of rows that is not the
/// whole matrix (out of line: only split steps take it).
#[inline(never)]
fn quad_rows<A: Arch>(arch: A, m: Q8Mat<'_>, rows: Range<usize>, x: &[i16], out: &mut [f32]) {
    let (q, s, n) = (m.q, m.s, m.n);
    let full = s.len() / 4 * 4;
    let (mut k, end) = (rows.start, rows.end);
    let mut out = out;
    while k < end {
        if k.is_multiple_of(4) || k >= full {
            // Whole quads from k, and the row-major rows if `end` is past them.
            let e = if end.is_multiple_of(4) || end >= full {
                end
            } else {
                end / 4 * 4
            };
            if e > k {
                let (o, rest) = out.split_at_mut(e - k);
                arch.gemv_q8_quads(&q[k * n..e * n], &s[k..e], x, o);
                out = rest;
                k = e;
                continue;
            }
        }
        // Rows k.. of the quad at q0, which the range does not cover whole.
        let q0 = k / 4 * 4;
        let mut t = [0.0f32; 4];
        arch.gemv_q8_quads(&q[q0 * n..(q0 + 4) * n], &s[q0..q0 + 4], x, &mut t);
        let take = (q0 + 4).min(end) - k;
        let (o, rest) = out.split_at_mut(take);
        o.copy_from_slice(&t[k - q0..k - q0 + take]);
        out = rest;
        k += take;
    }
}

/// Unit `k` of a gather-layout (`[n_in][n_h]`) block times a dense `v`:
/// fused multiply-adds onto 0.0 in input order.
#[inline(always)]
fn gather_dense<A: Arch>(arch: A, w: &[f32], v: &[f32], n_h: usize, k: usize) -> f32 {
    let mut sum = 0.0f32;
    for (j, &vj) in v.iter().enumerate() {
        sum = arch.fma(w[j * n_h + k], vj, sum);
    }
    sum
}

/// [`gather_dense`] over gate `q` of a q8 layer's gather-layout `w_ih`,
/// each weight dequantized (`q · scale`, one rounding) before its fused
/// multiply-add.
#[inline(always)]
fn gather_dense_q8<A: Arch>(
    arch: A,
    w: &Q8Layer<'_>,
    q: usize,
    v: &[f32],
    n_h: usize,
    k: usize,
) -> f32 {
    let (block, s) = (w.w_ih[q], w.s_ih[q][k]);
    let mut sum = 0.0f32;
    for (j, &vj) in v.iter().enumerate() {
        sum = arch.fma(dequantize(block[j * n_h + k], s), vj, sum);
    }
    sum
}

/// The output layer: `logits = W_y h + b_y` (the product, then the bias
/// added). A q8 output packs `h` into `hq` (`n_h` values) first and takes
/// the product with [`Arch::gemv_q8`]; an f32 one leaves `hq` alone.
#[inline(always)]
pub(crate) fn logits<A: Arch>(
    arch: A,
    output: &OutputView<'_>,
    h: &[f32],
    hq: &mut [i16],
    out: &mut [f32],
) {
    debug_assert!(h.len() == output.n_h && out.len() == output.n_y);
    match &output.q8 {
        Some(w) => {
            let hq = &mut hq[..h.len()];
            arch.q15_pack(h, hq);
            arch.gemv_q8_in(w.order, w.q, w.scale, hq, out);
        }
        None => arch.gemv(output.w_y, h, out),
    }
    for (o, b) in out.iter_mut().zip(output.b_y) {
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

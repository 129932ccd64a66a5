//! The recurrences of one layer, step by step, over a range of batch rows: forward (the recurrent product
//! and the cell) and backward (the cell's backward and `dH_prev = dA_h · w_hᵀ`).
//!
//! Batch rows never meet in a recurrence, so on a multi-threaded pool the batch is cut in two halves that
//! run all their steps on two threads (one fork per layer and pass, not two per step). Each element gets
//! the same operations either way, so the bits do not depend on the thread count.

use lstm_core::format::CellKind;

use crate::cell::{gru, lstm, rnn};
use crate::linalg::{MatRef, PAR_MIN, Panels, gemm_panels_with, on_pool};
use crate::scalar::Float;

/// Batch rows `r0..r1` of a recurrence; `split_products` lets its matrix products use both threads (when
/// the rows are not already split between them).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rows {
    pub r0: usize,
    pub r1: usize,
    pub split_products: bool,
}

impl Rows {
    /// Rows `0..split` and `split..nb`; the products of the first may use both threads only if there is
    /// no second (`split == nb`).
    pub fn halves(split: usize, nb: usize) -> (Rows, Rows) {
        let lo = Rows {
            r0: 0,
            r1: split,
            split_products: split == nb,
        };
        let hi = Rows {
            r0: split,
            r1: nb,
            split_products: false,
        };
        (lo, hi)
    }

    fn len(&self) -> usize {
        self.r1 - self.r0
    }
}

/// Runs `lo` and `hi` on two threads if `two`, else only `lo` (which then covers the whole batch).
pub(super) fn both_halves(two: bool, lo: impl FnOnce() + Send, hi: impl FnOnce() + Send) {
    if two {
        rayon::join(lo, hi);
    } else {
        lo();
    }
}

/// Where the batch splits between two threads: half of the rows when the recurrent product
/// (`nb × h · h × g`) is large enough to pay for a fork and this runs on a multi-threaded pool, else `nb`
/// (no split).
pub(super) fn split_point(nb: usize, h: usize, g: usize) -> usize {
    if nb >= 2 && nb * h * g >= PAR_MIN && on_pool() {
        nb / 2
    } else {
        nb
    }
}

/// Splits `buf`, made of blocks of `block` values, into the first `at` values of every block and the rest.
pub(super) fn split_blocks<T>(
    buf: &mut [T],
    block: usize,
    at: usize,
) -> (Vec<&mut [T]>, Vec<&mut [T]>) {
    buf.chunks_exact_mut(block)
        .map(|b| b.split_at_mut(at))
        .unzip()
}

/// What a forward recurrence reads for the whole batch.
#[derive(Clone, Copy)]
pub(super) struct FwdSeen<'a, T> {
    pub kind: CellKind,
    pub h: usize,
    pub nb: usize,
    pub steps: usize,
    /// `w_h` in column panels.
    pub w_h: Panels<'a, T>,
    /// A GRU's `b_hn` (empty otherwise).
    pub b_hn: &'a [T],
    /// A GRU's input pre-activations `[T][B][G·H]` (empty otherwise).
    pub ax: &'a [T],
    /// Layer 0 of an LSTM or RNN: the input pre-activations are gathered here, step by step, just before
    /// the recurrent product adds to them (while they are in cache): token indices `[T][B]`, `w_x`, `b`.
    pub gather: Option<(&'a [u32], &'a [T], &'a [T])>,
}

/// One half's row blocks for the forward recurrence: activations (one per step; they hold the input
/// pre-activations on entry, except a GRU's), hidden and cell states (one per step and one before; cell
/// states empty unless LSTM), the cell's auxiliary values (one per step), and the half's own scratch.
pub(super) struct FwdHalf<'a, T> {
    pub act: Vec<&'a mut [T]>,
    pub hs: Vec<&'a mut [T]>,
    pub cs: Vec<&'a mut [T]>,
    pub aux: Vec<&'a mut [T]>,
    pub ah: &'a mut Vec<T>,
    pub scratch: &'a mut Vec<T>,
}

/// The forward recurrence over all steps for batch rows `rows`.
pub(super) fn forward<T: Float>(s: &FwdSeen<'_, T>, rows: Rows, half: FwdHalf<'_, T>) {
    let FwdHalf {
        mut act,
        mut hs,
        mut cs,
        mut aux,
        ah,
        scratch,
    } = half;
    let (h, m) = (s.h, rows.len());
    let g = s.kind.gates() * h;
    for t in 0..s.steps {
        let (hs_prev, hs_next) = hs.split_at_mut(t + 1);
        let (h_prev, h_next) = (&*hs_prev[t], &mut *hs_next[0]);
        let (act, aux) = (&mut *act[t], &mut *aux[t]);
        let a = MatRef::rm(h_prev, m, h);
        match s.kind {
            CellKind::Lstm => {
                gather_rows(s, t, rows, act);
                // Hot spot: the recurrent product, B×H · H×4H, added to the input pre-activations.
                gemm_panels_with(a, s.w_h, true, act, scratch, rows.split_products);
                let (cs_prev, cs_next) = cs.split_at_mut(t + 1);
                let (c_prev, c_next) = (&*cs_prev[t], &mut *cs_next[0]);
                for b in 0..m {
                    let r = b * h..(b + 1) * h;
                    lstm::forward(
                        &mut act[b * g..(b + 1) * g],
                        &c_prev[r.clone()],
                        &mut c_next[r.clone()],
                        &mut aux[r.clone()],
                        &mut h_next[r],
                    );
                }
            }
            CellKind::Rnn => {
                gather_rows(s, t, rows, act);
                gemm_panels_with(a, s.w_h, true, act, scratch, rows.split_products);
                for b in 0..m {
                    let r = b * h..(b + 1) * h;
                    rnn::forward(&mut act[b * g..(b + 1) * g], &mut h_next[r]);
                }
            }
            CellKind::Gru => {
                // The recurrent part stays apart: `r` multiplies only `W_hn h + b_hn`.
                ah.resize(m * g, T::ZERO);
                gemm_panels_with(a, s.w_h, false, ah, scratch, rows.split_products);
                let row0 = t * s.nb + rows.r0;
                let ax = &s.ax[row0 * g..(row0 + m) * g];
                for b in 0..m {
                    let (gb, hb) = (b * g..(b + 1) * g, b * h..(b + 1) * h);
                    gru::forward(
                        &ax[gb.clone()],
                        &ah[gb.clone()],
                        s.b_hn,
                        &h_prev[hb.clone()],
                        &mut act[gb],
                        &mut aux[hb.clone()],
                        &mut h_next[hb],
                    );
                }
            }
        }
    }
}

/// Step `t`'s input pre-activations of batch rows `rows` into `act`, if the layer gathers them here:
/// `W_x · one-hot(x) + b` is row x of `w_x` plus `b`.
fn gather_rows<T: Float>(s: &FwdSeen<'_, T>, t: usize, rows: Rows, act: &mut [T]) {
    let Some((x, w_x, bias)) = s.gather else {
        return;
    };
    let g = bias.len();
    for (b, dst) in (rows.r0..rows.r1).zip(act.chunks_exact_mut(g)) {
        let xi = x[t * s.nb + b] as usize;
        let row = &w_x[xi * g..(xi + 1) * g];
        for ((d, &w), &bb) in dst.iter_mut().zip(row).zip(bias) {
            *d = w + bb;
        }
    }
}

/// What a backward recurrence reads for the whole batch (the layer's forward cache).
#[derive(Clone, Copy)]
pub(super) struct BwdSeen<'a, T> {
    pub kind: CellKind,
    pub h: usize,
    pub nb: usize,
    pub steps: usize,
    /// Activations `[T][B][G·H]`.
    pub act: &'a [T],
    /// LSTM `tanh(c)`, GRU `W_hn h + b_hn`: `[T][B][H]`.
    pub aux: &'a [T],
    /// Hidden states `[(T+1)][B][H]`.
    pub hs: &'a [T],
    /// Cell states `[(T+1)][B][H]` (LSTM only).
    pub cs: &'a [T],
    /// ∂loss/∂(the layer's output) `[T][B][H]`, dropout mask applied.
    pub d_out: &'a [T],
    /// `w_hᵀ` in column panels.
    pub w_ht: Panels<'a, T>,
    /// Row stride of the gradient rows in [`BwdHalf`] (at least `G·H`).
    pub lda: usize,
}

/// One half's row blocks for the backward recurrence: ∂/∂(input pre-activations) and, for a GRU,
/// ∂/∂(recurrent pre-activations) (one per step), and its rows of the running ∂/∂h, ∂/∂c and a GRU's
/// direct `z ⊙ ∂h` term; the half's own scratch.
pub(super) struct BwdHalf<'a, T> {
    pub d_ax: Vec<&'a mut [T]>,
    pub d_ah: Vec<&'a mut [T]>,
    pub dh: &'a mut [T],
    pub dc: &'a mut [T],
    pub direct: &'a mut [T],
    pub scratch: &'a mut Vec<T>,
}

/// The backward recurrence over all steps, last first, for batch rows `rows`; leaves ∂/∂h0 (and ∂/∂c0)
/// of those rows in `half.dh` (`half.dc`).
pub(super) fn backward<T: Float>(s: &BwdSeen<'_, T>, rows: Rows, half: BwdHalf<'_, T>) {
    let BwdHalf {
        mut d_ax,
        mut d_ah,
        dh,
        dc,
        direct,
        scratch,
    } = half;
    let (h, nb, m) = (s.h, s.nb, rows.len());
    let g = s.kind.gates() * h;
    let bh = nb * h;
    let gru = s.kind == CellKind::Gru;
    for t in (0..s.steps).rev() {
        let dax = &mut *d_ax[t];
        for bb in 0..m {
            let b = rows.r0 + bb;
            let r = t * nb + b;
            let (hr, gr) = (r * h..(r + 1) * h, r * g..(r + 1) * g);
            let (hb, gb) = (bb * h..(bb + 1) * h, bb * s.lda..bb * s.lda + g);
            let prev = t * bh + b * h..t * bh + (b + 1) * h;
            match s.kind {
                CellKind::Lstm => lstm::backward(
                    &s.act[gr],
                    &s.aux[hr.clone()],
                    &s.cs[prev],
                    &s.d_out[hr],
                    &dh[hb.clone()],
                    &mut dc[hb],
                    &mut dax[gb],
                ),
                CellKind::Rnn => rnn::backward_row(
                    &s.hs[bh + r * h..bh + (r + 1) * h],
                    &s.d_out[hr],
                    &dh[hb],
                    &mut dax[gb],
                ),
                CellKind::Gru => gru::backward(
                    &s.act[gr],
                    &s.aux[hr.clone()],
                    &s.hs[prev],
                    &s.d_out[hr],
                    &dh[hb.clone()],
                    &mut dax[gb.clone()],
                    &mut d_ah[t][gb],
                    &mut direct[hb],
                ),
            }
        }
        // dH_prev = dA_h,t · w_hᵀ (B×G·H · G·H×H), plus a GRU's direct z ⊙ ∂h.
        let d_rec: &[T] = if gru { &*d_ah[t] } else { &*dax };
        let d_rec = MatRef {
            data: d_rec,
            rows: m,
            cols: g,
            rs: s.lda,
            cs: 1,
        };
        gemm_panels_with(d_rec, s.w_ht, false, dh, scratch, rows.split_products);
        if gru {
            for (d, &v) in dh.iter_mut().zip(direct.iter()) {
                *d += v;
            }
        }
    }
}

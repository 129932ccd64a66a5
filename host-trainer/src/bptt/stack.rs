//! Stacked layers of any cell kind (LSTM, GRU, tanh RNN; PyTorch's equations), with inverted dropout
//! between layers and before the output layer: batched forward with cache and backpropagation through
//! time and through the layers, generic over `f32`/`f64`.
//!
//! Layer by layer, for the whole batch: the input pre-activations `A_x` (a row gather of `w_x` on layer 0,
//! done step by step for an LSTM or RNN; one GEMM of all `T·B` rows of the layer below's output on the
//! others), then step by step the recurrent product `H_prev · w_h` and the cell. The output layer reads the top layer's (dropped-out)
//! states. Backward runs the layers top first; in each, time last step first, then the weight gradients
//! as GEMMs over the whole sequence, and ∂/∂input for the layer below. Every product is a
//! [`crate::linalg`] GEMM, whose bits do not depend on the thread count; the recurrences may run the
//! two halves of the batch on two threads (`recur.rs`), which changes no element's operations; the
//! dropout masks are drawn on one thread from their seed. So a pass gives the same bits on any number
//! of threads.

use lstm_core::format::CellKind;

use super::{ForwardStats, output_backward, output_forward, recur};
use crate::data::batch::BatchRef;
use crate::linalg::{MatRef, PAR_MIN, Panels, gemm_panels, pack_b};
use crate::model::Stack;
use crate::rng::Rng;
use crate::scalar::Float;

/// `w_h` is packed for the forward product from this many elements (`H·G·H`) on.
const PACK_MIN: usize = 64 * 1024;

/// Row stride of the pre-activation gradients `d_ax`, `d_ah` (`G·H` wide): one cache line more, so rows are
/// never a multiple of 4 KiB apart and the products read them in place without cache aliasing.
fn da_stride(g: usize) -> usize {
    g + 16
}

/// `rows × cols` rows `ld` apart.
fn strided<T>(data: &[T], rows: usize, cols: usize, ld: usize) -> MatRef<'_, T> {
    MatRef {
        data,
        rows,
        cols,
        rs: ld,
        cs: 1,
    }
}

/// Inverted dropout on every layer's output (the input of the layer above, and of the output layer):
/// each value is zeroed with probability `p`, the others scaled by `1/(1 − p)`. Training only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Probability of zeroing a value, in `[0, 1)`.
    pub p: f64,
    /// Seed of this pass's masks.
    pub seed: u64,
}

/// What one layer's forward pass keeps for the backward pass.
#[derive(Debug, Clone, Default)]
struct LayerCache<T> {
    /// Hidden states `[(T+1)][B][H]`; block 0 is the initial state.
    hs: Vec<T>,
    /// Cell states `[(T+1)][B][H]` (LSTM only).
    cs: Vec<T>,
    /// Activations `[T][B][G·H]` (LSTM i, f, g, o; GRU r, z, n; RNN h).
    act: Vec<T>,
    /// LSTM `tanh(c)`, GRU `W_hn h + b_hn`: `[T][B][H]`.
    aux: Vec<T>,
    /// GRU input pre-activations `[T][B][G·H]`.
    ax: Vec<T>,
    /// The output after dropout, `[T][B][H]` (when `dropped`).
    out: Vec<T>,
    /// Dropout multipliers (0 or `1/(1 − p)`), `[T][B][H]` (when `dropped`).
    mask: Vec<T>,
    /// Whether dropout was applied to this layer's output.
    dropped: bool,
}

impl<T> LayerCache<T> {
    /// The layer's output over all steps, `[T][B][H]` (`bh = B·H`, `tbh = T·B·H`).
    fn output(&self, bh: usize, tbh: usize) -> &[T] {
        if self.dropped {
            &self.out[..tbh]
        } else {
            &self.hs[bh..bh + tbh]
        }
    }
}

/// Preallocated buffers for one stacked forward/backward pass; reused across steps.
#[derive(Debug, Clone, Default)]
pub struct StackWorkspace<T> {
    steps: usize,
    batch: usize,
    layers: Vec<LayerCache<T>>,
    /// Probabilities `[T][B][Y]` after forward; overwritten by ∂loss/∂logits in backward.
    pub probs: Vec<T>,
    ah: Vec<T>,
    d_out: Vec<T>,
    d_ax: Vec<T>,
    d_ah: Vec<T>,
    dh_next: Vec<T>,
    dc: Vec<T>,
    direct: Vec<T>,
    packed: Vec<T>,
    scratch: Vec<T>,
    /// The second half's GRU recurrent product and GEMM scratch when the batch is split between threads.
    ah_hi: Vec<T>,
    scratch_hi: Vec<T>,
    /// ∂loss/∂h0 after [`backward`], `[L][B][H]`.
    pub dh0: Vec<T>,
    /// ∂loss/∂c0 after [`backward`], `[L][B][H]` (LSTM only).
    pub dc0: Vec<T>,
}

impl<T: Float> StackWorkspace<T> {
    /// An empty workspace; buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Self::default()
    }

    fn prepare(&mut self, p: &Stack<T>, steps: usize, batch: usize) {
        let (h, y) = (p.dims.n_h, p.dims.n_y);
        let g = p.kind.gates() * h;
        let (tb, bh, nl) = (steps * batch, batch * h, p.layers.len());
        self.steps = steps;
        self.batch = batch;
        self.layers.resize_with(nl, LayerCache::default);
        let lstm = p.kind == CellKind::Lstm;
        let gru = p.kind == CellKind::Gru;
        for lc in &mut self.layers {
            lc.hs.resize((steps + 1) * bh, T::ZERO);
            lc.cs
                .resize(if lstm { (steps + 1) * bh } else { 0 }, T::ZERO);
            lc.act.resize(tb * g, T::ZERO);
            lc.aux.resize(tb * h, T::ZERO);
            lc.ax.resize(if gru { tb * g } else { 0 }, T::ZERO);
            lc.dropped = false;
        }
        self.probs.resize(tb * y, T::ZERO);
        self.ah.resize(batch * g, T::ZERO);
        self.d_out.resize(tb * h, T::ZERO);
        self.d_ax.resize(tb * da_stride(g), T::ZERO);
        self.d_ah
            .resize(if gru { tb * da_stride(g) } else { 0 }, T::ZERO);
        self.dh_next.resize(bh, T::ZERO);
        self.dc.resize(bh, T::ZERO);
        self.direct.resize(bh, T::ZERO);
        self.dh0.resize(nl * bh, T::ZERO);
        self.dc0.resize(if lstm { nl * bh } else { 0 }, T::ZERO);
    }

    /// Layer `k`'s hidden states after each step, `[T][B][H]`.
    pub fn h(&self, k: usize) -> &[T] {
        let hs = &self.layers[k].hs;
        &hs[hs.len() / (self.steps + 1)..]
    }

    /// Layer `k`'s cell states after each step, `[T][B][H]` (empty unless LSTM).
    pub fn c(&self, k: usize) -> &[T] {
        let cs = &self.layers[k].cs;
        if cs.is_empty() {
            cs
        } else {
            &cs[cs.len() / (self.steps + 1)..]
        }
    }

    /// Layer `k`'s activations, `[T][B][G·H]` (LSTM i, f, g, o; GRU r, z, n; RNN h).
    pub fn gates(&self, k: usize) -> &[T] {
        &self.layers[k].act
    }

    /// Layer `k`'s hidden state after the last step, `[B][H]`.
    pub fn h_last(&self, k: usize) -> &[T] {
        let hs = &self.layers[k].hs;
        let n = hs.len() / (self.steps + 1);
        &hs[self.steps * n..]
    }

    /// Layer `k`'s cell state after the last step, `[B][H]` (empty unless LSTM).
    pub fn c_last(&self, k: usize) -> &[T] {
        let cs = &self.layers[k].cs;
        let n = cs.len() / (self.steps + 1);
        &cs[self.steps * n..]
    }
}

/// Runs the batch forward from the initial states `h0` (`[L][B][H]`) and, for an LSTM, `c0` (same shape;
/// ignored for the other kinds), with `dropout` if given, caching what [`backward`] needs.
///
/// # Panics
/// If a slice length disagrees with the model or batch, or an index is outside the vocabulary (callers
/// build both).
pub fn forward<T: Float>(
    p: &Stack<T>,
    ws: &mut StackWorkspace<T>,
    batch: &BatchRef<'_>,
    h0: &[T],
    c0: &[T],
    dropout: Option<Dropout>,
) -> ForwardStats {
    let kind = p.kind;
    let h = p.dims.n_h;
    let g = kind.gates() * h;
    let (nb, steps, nl) = (batch.batch, batch.steps, p.layers.len());
    let (bh, tb) = (nb * h, steps * nb);
    assert_eq!(batch.x.len(), tb);
    assert_eq!(batch.y.len(), tb);
    assert_eq!(h0.len(), nl * bh);
    if kind == CellKind::Lstm {
        assert_eq!(c0.len(), nl * bh);
    }
    ws.prepare(p, steps, nb);
    let mut rng = dropout
        .filter(|d| d.p > 0.0)
        .map(|d| (d.p, Rng::new(d.seed)));
    let StackWorkspace {
        layers,
        ah,
        ah_hi,
        packed,
        scratch,
        scratch_hi,
        probs,
        ..
    } = ws;
    for k in 0..nl {
        let (below, rest) = layers.split_at_mut(k);
        let lc = &mut rest[0];
        let layer = &p.layers[k];
        lc.hs[..bh].copy_from_slice(&h0[k * bh..(k + 1) * bh]);
        if kind == CellKind::Lstm {
            lc.cs[..bh].copy_from_slice(&c0[k * bh..(k + 1) * bh]);
        }
        // Input pre-activations of all T·B rows: into `act` (LSTM, RNN: the recurrent product is added
        // there) or `ax` (GRU: kept apart, `r` multiplies only the recurrent part of n).
        let ax = if kind == CellKind::Gru {
            &mut lc.ax[..tb * g]
        } else {
            &mut lc.act[..tb * g]
        };
        // Layer 0 of an LSTM or RNN gathers its input step by step in the recurrence (`recur::FwdSeen`).
        let gather_in_step = k == 0 && kind != CellKind::Gru;
        if k > 0 {
            let input = below[k - 1].output(bh, tb * h);
            pack_b(MatRef::rm(&layer.w_x, h, g), packed);
            gemm_panels(
                MatRef::rm(input, tb, h),
                Panels::packed(packed, h, g),
                false,
                ax,
                scratch,
            );
            for dst in ax.chunks_exact_mut(g) {
                for (d, &bias) in dst.iter_mut().zip(&layer.b) {
                    *d += bias;
                }
            }
        } else if !gather_in_step {
            // W_x · one-hot(x) is row x of w_x: a gather, not a product.
            for (r, dst) in ax.chunks_exact_mut(g).enumerate() {
                let xi = batch.x[r] as usize;
                let row = &layer.w_x[xi * g..(xi + 1) * g];
                for ((d, &w), &bias) in dst.iter_mut().zip(row).zip(&layer.b) {
                    *d = w + bias;
                }
            }
        }
        // `w_h` rows are G·H apart: for large H, rows a power of two apart alias in cache, so pack it once
        // per pass; small ones are read in place (the sums are the same either way).
        let w_h = if h * g >= PACK_MIN {
            pack_b(MatRef::rm(&layer.w_h, h, g), packed);
            Panels::packed(packed, h, g)
        } else {
            Panels::rm(&layer.w_h, h, g)
        };
        let seen = recur::FwdSeen {
            kind,
            h,
            nb,
            steps,
            w_h,
            b_hn: &layer.b_hn,
            ax: &lc.ax,
            gather: gather_in_step.then_some((batch.x, &layer.w_x[..], &layer.b[..])),
        };
        let split = recur::split_point(nb, h, g);
        let (act_lo, act_hi) = recur::split_blocks(&mut lc.act[..tb * g], nb * g, split * g);
        let (hs_lo, hs_hi) = recur::split_blocks(&mut lc.hs[..(steps + 1) * bh], bh, split * h);
        let (cs_lo, cs_hi) = recur::split_blocks(&mut lc.cs, bh, split * h);
        let (aux_lo, aux_hi) = recur::split_blocks(&mut lc.aux[..tb * h], bh, split * h);
        let lo = recur::FwdHalf {
            act: act_lo,
            hs: hs_lo,
            cs: cs_lo,
            aux: aux_lo,
            ah,
            scratch,
        };
        let hi = recur::FwdHalf {
            act: act_hi,
            hs: hs_hi,
            cs: cs_hi,
            aux: aux_hi,
            ah: ah_hi,
            scratch: scratch_hi,
        };
        let (rows_lo, rows_hi) = recur::Rows::halves(split, nb);
        recur::both_halves(
            split < nb,
            || recur::forward(&seen, rows_lo, lo),
            || recur::forward(&seen, rows_hi, hi),
        );
        if let Some((pd, rng)) = rng.as_mut() {
            let keep = T::from_f64(1.0 / (1.0 - *pd));
            lc.mask.resize(tb * h, T::ZERO);
            lc.out.resize(tb * h, T::ZERO);
            for ((m, o), &v) in lc.mask.iter_mut().zip(&mut lc.out).zip(&lc.hs[bh..]) {
                *m = if rng.next_f64() < *pd { T::ZERO } else { keep };
                *o = v * *m;
            }
            lc.dropped = true;
        }
    }
    let top = layers[nl - 1].output(bh, tb * h);
    output_forward(&p.w_y, &p.b_y, top, h, batch, probs, packed, scratch)
}

/// Backpropagates through time and the layers after [`forward`] on the same batch (and dropout masks),
/// writing ∂(scale·loss_sum)/∂θ into `grads` (overwritten) and ∂/∂h0, ∂/∂c0 into `ws.dh0`, `ws.dc0`.
///
/// # Panics
/// If `ws` does not hold a forward pass of this batch, or `grads` has other sizes than `p`.
pub fn backward<T: Float>(
    p: &Stack<T>,
    ws: &mut StackWorkspace<T>,
    batch: &BatchRef<'_>,
    scale: T,
    grads: &mut Stack<T>,
) {
    let kind = p.kind;
    let h = p.dims.n_h;
    let g = kind.gates() * h;
    let (nb, steps, nl) = (batch.batch, batch.steps, p.layers.len());
    let (bh, tb) = (nb * h, steps * nb);
    assert_eq!((ws.steps, ws.batch), (steps, nb));
    assert_eq!(grads.layers.len(), nl);
    let gru = kind == CellKind::Gru;
    let lda = da_stride(g);
    let StackWorkspace {
        layers,
        probs,
        d_out,
        d_ax,
        d_ah,
        dh_next,
        dc,
        direct,
        packed,
        scratch,
        scratch_hi,
        dh0,
        dc0,
        ..
    } = ws;
    let top = layers[nl - 1].output(bh, tb * h);
    output_backward(
        &p.w_y,
        top,
        h,
        batch,
        scale,
        probs,
        [&mut grads.w_y, &mut grads.b_y],
        &mut d_out[..tb * h],
        scratch,
    );
    for k in (0..nl).rev() {
        let lc = &layers[k];
        let layer = &p.layers[k];
        let gl = &mut grads.layers[k];
        if lc.dropped {
            for (d, &m) in d_out.iter_mut().zip(&lc.mask) {
                *d *= m;
            }
        }
        dh_next.fill(T::ZERO);
        dc.fill(T::ZERO);
        pack_b(MatRef::rm(&layer.w_h, h, g).t(), packed);
        let seen = recur::BwdSeen {
            kind,
            h,
            nb,
            steps,
            act: &lc.act,
            aux: &lc.aux,
            hs: &lc.hs,
            cs: &lc.cs,
            d_out: &d_out[..tb * h],
            w_ht: Panels::packed(packed, g, h),
            lda,
        };
        let split = recur::split_point(nb, h, g);
        let (d_ax_lo, d_ax_hi) = recur::split_blocks(&mut d_ax[..tb * lda], nb * lda, split * lda);
        let (d_ah_lo, d_ah_hi) = recur::split_blocks(&mut d_ah[..], nb * lda, split * lda);
        let (dh_lo, dh_hi) = dh_next.split_at_mut(split * h);
        let (dc_lo, dc_hi) = dc.split_at_mut(split * h);
        let (direct_lo, direct_hi) = direct.split_at_mut(split * h);
        let lo = recur::BwdHalf {
            d_ax: d_ax_lo,
            d_ah: d_ah_lo,
            dh: dh_lo,
            dc: dc_lo,
            direct: direct_lo,
            scratch,
        };
        let hi = recur::BwdHalf {
            d_ax: d_ax_hi,
            d_ah: d_ah_hi,
            dh: dh_hi,
            dc: dc_hi,
            direct: direct_hi,
            scratch: scratch_hi,
        };
        let (rows_lo, rows_hi) = recur::Rows::halves(split, nb);
        recur::both_halves(
            split < nb,
            || recur::backward(&seen, rows_lo, lo),
            || recur::backward(&seen, rows_hi, hi),
        );
        dh0[k * bh..(k + 1) * bh].copy_from_slice(dh_next);
        if kind == CellKind::Lstm {
            dc0[k * bh..(k + 1) * bh].copy_from_slice(dc);
        }
        // dW_h = H_prevᵀ · dA_h over all steps at once; H_prev is hs blocks 0..T. The B operands of the
        // weight-gradient products are packed: rows `G·H` apart are a multiple of 4 KiB apart for the
        // usual sizes and would alias in cache when read in place (packing changes no sum).
        let d_rec = if gru {
            &d_ah[..tb * lda]
        } else {
            &d_ax[..tb * lda]
        };
        pack_b(strided(d_rec, tb, g, lda), packed);
        gemm_panels(
            MatRef::rm(&lc.hs[..tb * h], tb, h).t(),
            Panels::packed(packed, tb, g),
            false,
            &mut gl.w_h,
            scratch,
        );
        // db (and, on layer 0, dW_x: row x of a one-hot product) summed over the rows in order.
        gl.b.fill(T::ZERO);
        gl.b_hn.fill(T::ZERO);
        if k == 0 {
            gl.w_x.fill(T::ZERO);
        }
        for r in 0..tb {
            let da = &d_ax[r * lda..r * lda + g];
            if k == 0 {
                let xi = batch.x[r] as usize;
                for ((gb, gx), &d) in
                    gl.b.iter_mut()
                        .zip(&mut gl.w_x[xi * g..(xi + 1) * g])
                        .zip(da)
                {
                    *gb += d;
                    *gx += d;
                }
            } else {
                for (gb, &d) in gl.b.iter_mut().zip(da) {
                    *gb += d;
                }
            }
            if gru {
                for (gb, &d) in gl.b_hn.iter_mut().zip(&d_ah[r * lda + 2 * h..r * lda + g]) {
                    *gb += d;
                }
            }
        }
        if k > 0 {
            let input = layers[k - 1].output(bh, tb * h);
            pack_b(strided(&d_ax[..tb * lda], tb, g, lda), packed);
            gemm_panels(
                MatRef::rm(input, tb, h).t(),
                Panels::packed(packed, tb, g),
                false,
                &mut gl.w_x,
                scratch,
            );
            // ∂/∂(the layer below's output) = dA_x · w_xᵀ.
            pack_b(MatRef::rm(&layer.w_x, h, g).t(), packed);
            gemm_panels(
                strided(&d_ax[..tb * lda], tb, g, lda),
                Panels::packed(packed, g, h),
                false,
                &mut d_out[..tb * h],
                scratch,
            );
        }
    }
}

/// Forward and backward in one call with the mean loss; returns the forward statistics.
pub fn loss_and_grads<T: Float>(
    p: &Stack<T>,
    ws: &mut StackWorkspace<T>,
    batch: &BatchRef<'_>,
    state: [&[T]; 2],
    dropout: Option<Dropout>,
    grads: &mut Stack<T>,
) -> ForwardStats {
    let run = |ws: &mut StackWorkspace<T>, grads: &mut Stack<T>| {
        let stats = forward(p, ws, batch, state[0], state[1], dropout);
        let scale = if stats.count == 0 {
            T::ZERO
        } else {
            T::from_f64(1.0 / stats.count as f64)
        };
        backward(p, ws, batch, scale, grads);
        stats
    };
    // With several threads and products large enough to be split, run the pass on a pool thread: each split
    // is then a local fork that the other worker steals, not a job injected from outside and waited on.
    let h = p.dims.n_h;
    let big = batch.batch * h * p.kind.gates() * h >= PAR_MIN;
    if big && rayon::current_num_threads() > 1 && rayon::current_thread_index().is_none() {
        rayon::scope(|_| run(ws, grads))
    } else {
        run(ws, grads)
    }
}

#[cfg(test)]
mod tests;

//! Batched forward pass with cache and backpropagation through time, generic over `f32`/`f64`.
//!
//! Per step, for the whole batch at once (PyTorch's equations, gate order i, f, g, o):
//! `A = W_x[x] + b + H_prev · w_h` (a row gather plus one GEMM), `i, f, o = σ(·)`, `g = tanh(·)`,
//! `c = f⊙c_prev + i⊙g`, `h = o⊙tanh(c)`. The output layer runs once over all `T·B` states:
//! `logits = H · w_yᵀ + b_y`, `probs = softmax(logits)`. The backward pass turns every product into a
//! GEMM over the whole sequence except `dH_prev = dA_t · w_hᵀ`, which is sequential by nature.

use lstm_core::Dims;

mod recur;
pub mod stack;

use crate::cell::lstm;
use crate::data::batch::BatchRef;
use crate::linalg::{
    MatRef, PAR_MIN, Panels, RowPass, gemm_panels, gemm_panels_with, on_pool, pack_b, wide,
};
use crate::model::{Grads, Params};
use crate::scalar::Float;

/// Row stride of `Workspace::d_a`: `4H` plus one cache line, so rows are never a multiple of 4 KiB apart and
/// the products can read `dA` in place without cache aliasing.
fn da_stride(h: usize) -> usize {
    4 * h + 16
}

/// `w_h` is packed for the forward product from this many elements (`H·4H`) on.
const PACK_MIN: usize = 64 * 1024;

/// Preallocated buffers for one forward/backward pass; reused across steps so training does not allocate.
#[derive(Debug, Clone, Default)]
pub struct Workspace<T> {
    steps: usize,
    batch: usize,
    /// Hidden states `[(T+1)][B][H]`; block 0 is `h0`.
    pub hs: Vec<T>,
    /// Cell states `[(T+1)][B][H]`; block 0 is `c0`.
    pub cs: Vec<T>,
    /// Gate activations `[T][B][4H]` (i, f, g, o after σ / tanh).
    pub gates: Vec<T>,
    /// `tanh(c)`, `[T][B][H]`.
    pub tc: Vec<T>,
    /// Probabilities `[T][B][Y]` after forward; overwritten by ∂loss/∂logits in backward.
    pub probs: Vec<T>,
    d_a: Vec<T>,
    d_hs: Vec<T>,
    dh: Vec<T>,
    scratch: Vec<T>,
    /// Packing scratch of the second half of the batch when the halves run on two threads.
    scratch_hi: Vec<T>,
    /// `w_h` in column panels for the forward product (packed once per pass, not once per step).
    w_h_packed: Vec<T>,
    /// `w_hᵀ` in column panels for the backward product.
    w_ht_packed: Vec<T>,
    /// `w_yᵀ` in column panels for the output layer.
    w_yt_packed: Vec<T>,
    /// ∂loss/∂h0 after [`backward`], `[B][H]`.
    pub dh0: Vec<T>,
    /// ∂loss/∂c0 after [`backward`], `[B][H]`.
    pub dc0: Vec<T>,
}

/// What a forward pass measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForwardStats {
    /// Sum of the per-target cross-entropies (natural log), over unmasked targets.
    pub loss_sum: f64,
    /// Number of unmasked targets.
    pub count: usize,
}

impl ForwardStats {
    /// Mean cross-entropy per target (0 if there are none).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.loss_sum / self.count as f64
        }
    }
}

impl<T: Float> Workspace<T> {
    /// An empty workspace; buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Self {
            steps: 0,
            batch: 0,
            hs: Vec::new(),
            cs: Vec::new(),
            gates: Vec::new(),
            tc: Vec::new(),
            probs: Vec::new(),
            d_a: Vec::new(),
            d_hs: Vec::new(),
            dh: Vec::new(),
            scratch: Vec::new(),
            scratch_hi: Vec::new(),
            w_h_packed: Vec::new(),
            w_ht_packed: Vec::new(),
            w_yt_packed: Vec::new(),
            dh0: Vec::new(),
            dc0: Vec::new(),
        }
    }

    fn prepare(&mut self, s: Dims, steps: usize, batch: usize) {
        let (h, y) = (s.n_h, s.n_y);
        let tb = steps * batch;
        self.steps = steps;
        self.batch = batch;
        // `resize` only allocates when a buffer must grow.
        self.hs.resize((steps + 1) * batch * h, T::ZERO);
        self.cs.resize((steps + 1) * batch * h, T::ZERO);
        self.gates.resize(tb * 4 * h, T::ZERO);
        self.tc.resize(tb * h, T::ZERO);
        self.probs.resize(tb * y, T::ZERO);
        self.d_a.resize(tb * da_stride(h), T::ZERO);
        self.d_hs.resize(tb * h, T::ZERO);
        self.dh.resize(batch * h, T::ZERO);
        self.dh0.resize(batch * h, T::ZERO);
        self.dc0.resize(batch * h, T::ZERO);
    }

    /// The hidden state after the last step, `[B][H]`.
    pub fn h_last(&self, n_h: usize) -> &[T] {
        let n = self.batch * n_h;
        &self.hs[self.steps * n..(self.steps + 1) * n]
    }

    /// The cell state after the last step, `[B][H]`.
    pub fn c_last(&self, n_h: usize) -> &[T] {
        let n = self.batch * n_h;
        &self.cs[self.steps * n..(self.steps + 1) * n]
    }
}

/// Runs the batch forward from `(h0, c0)` (`[B][H]` each), caching what [`backward`] needs.
///
/// # Panics
/// If a slice length disagrees with the batch or an index is out of the vocabulary (callers build both).
pub fn forward<T: Float>(
    p: &Params<T>,
    ws: &mut Workspace<T>,
    batch: &BatchRef<'_>,
    h0: &[T],
    c0: &[T],
) -> ForwardStats {
    let s = p.dims;
    let (h, nb, steps) = (s.n_h, batch.batch, batch.steps);
    let g4 = 4 * h;
    let bh = nb * h;
    assert_eq!(batch.x.len(), steps * nb);
    assert_eq!(batch.y.len(), steps * nb);
    assert_eq!(h0.len(), bh);
    assert_eq!(c0.len(), bh);
    ws.prepare(s, steps, nb);
    ws.hs[..bh].copy_from_slice(h0);
    ws.cs[..bh].copy_from_slice(c0);

    // `w_h` rows are 4H apart: for large H, rows a power of two apart alias in cache, so pack it once.
    let packed_w_h = h * g4 >= PACK_MIN;
    if packed_w_h {
        pack_b(MatRef::rm(&p.w_h, h, g4), &mut ws.w_h_packed);
    }
    let w_h = if packed_w_h {
        Panels::packed(&ws.w_h_packed, h, g4)
    } else {
        Panels::rm(&p.w_h, h, g4)
    };
    // Batch rows never meet in the recurrence: with two threads, each runs all the steps for half of
    // them (one fork per pass, not two per step). Each element gets the same operations either way.
    let split = split_point(nb, h);
    let (mut gates_lo, mut gates_hi) =
        split_blocks(&mut ws.gates[..steps * nb * g4], nb * g4, split * g4);
    let (mut hs_lo, mut hs_hi) = split_blocks(&mut ws.hs[..(steps + 1) * bh], bh, split * h);
    let (mut cs_lo, mut cs_hi) = split_blocks(&mut ws.cs[..(steps + 1) * bh], bh, split * h);
    let (mut tc_lo, mut tc_hi) = split_blocks(&mut ws.tc[..steps * bh], bh, split * h);
    let (scratch_lo, scratch_hi) = (&mut ws.scratch, &mut ws.scratch_hi);
    let (lo, hi) = Rows::halves(split, nb);
    let bufs_lo = [&mut gates_lo, &mut hs_lo, &mut cs_lo, &mut tc_lo];
    let bufs_hi = [&mut gates_hi, &mut hs_hi, &mut cs_hi, &mut tc_hi];
    both_halves(
        split < nb,
        || recur_forward(p, batch, lo, w_h, bufs_lo, scratch_lo),
        || recur_forward(p, batch, hi, w_h, bufs_hi, scratch_hi),
    );

    let hs_out = &ws.hs[bh..(steps + 1) * bh];
    output_forward(
        &p.w_y,
        &p.b_y,
        hs_out,
        h,
        batch,
        &mut ws.probs,
        &mut ws.w_yt_packed,
        &mut ws.scratch,
    )
}

/// The output layer over all `T·B` states at once: `probs = softmax(hs_out · w_yᵀ + b_y)` (`hs_out` is
/// `[T·B][H]`), and the summed cross-entropy over the batch's unmasked targets.
#[allow(clippy::too_many_arguments)]
pub(crate) fn output_forward<T: Float>(
    w_y: &[T],
    b_y: &[T],
    hs_out: &[T],
    h: usize,
    batch: &BatchRef<'_>,
    probs: &mut [T],
    packed: &mut Vec<T>,
    scratch: &mut Vec<T>,
) -> ForwardStats {
    let y = b_y.len();
    let tb = batch.steps * batch.batch;
    pack_b(MatRef::rm(w_y, y, h).t(), packed);
    gemm_panels(
        MatRef::rm(hs_out, tb, h),
        Panels::packed(packed, h, y),
        false,
        &mut probs[..tb * y],
        scratch,
    );
    let mut loss_sum = 0.0f64;
    let mut count = 0usize;
    for r in 0..tb {
        let row = &mut probs[r * y..(r + 1) * y];
        softmax_in_place(row, b_y);
        if batch.mask.is_none_or(|m| m[r] != 0) {
            let target = batch.y[r] as usize;
            loss_sum -= row[target].to_f64().ln();
            count += 1;
        }
    }
    ForwardStats { loss_sum, count }
}

/// `row = softmax(row + bias)`, computed stably (max subtracted), with the widest vectors the CPU has
/// (the same operations on every path, so the same results).
fn softmax_in_place<T: Float>(row: &mut [T], bias: &[T]) {
    struct Pass<'a, T>(&'a mut [T], &'a [T]);
    impl<T: Float> RowPass for Pass<'_, T> {
        #[inline(always)]
        fn run(self) {
            softmax_row(self.0, self.1);
        }
    }
    wide(Pass(row, bias));
}

/// The body of [`softmax_in_place`].
#[inline(always)]
fn softmax_row<T: Float>(row: &mut [T], bias: &[T]) {
    // Separate passes so the element-wise ones vectorise; the max and the sum stay sequential (same order).
    for (v, &b) in row.iter_mut().zip(bias) {
        *v += b;
    }
    let mut max = T::from_f64(f64::NEG_INFINITY);
    for &v in row.iter() {
        if v > max {
            max = v;
        }
    }
    for v in row.iter_mut() {
        *v = (*v - max).exp();
    }
    let mut sum = T::ZERO;
    for &v in row.iter() {
        sum += v;
    }
    let inv = T::ONE / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// The output layer backward: turns `probs` into ∂(scale·loss)/∂logits (0 on masked targets), writes
/// ∂/∂w_y and ∂/∂b_y into `grads` (overwritten) and ∂/∂hs_out into `d_hs` (`[T·B][H]`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn output_backward<T: Float>(
    w_y: &[T],
    hs_out: &[T],
    h: usize,
    batch: &BatchRef<'_>,
    scale: T,
    probs: &mut [T],
    grads: [&mut [T]; 2],
    d_hs: &mut [T],
    scratch: &mut Vec<T>,
) {
    let [g_w_y, g_b_y] = grads;
    let y = g_b_y.len();
    let tb = batch.steps * batch.batch;
    // ∂/∂logits = scale·(probs − onehot(y)) where the target counts, 0 on padding.
    for r in 0..tb {
        let row = &mut probs[r * y..(r + 1) * y];
        if batch.mask.is_none_or(|m| m[r] != 0) {
            row[batch.y[r] as usize] -= T::ONE;
            for v in row.iter_mut() {
                *v *= scale;
            }
        } else {
            row.fill(T::ZERO);
        }
    }
    let d_logits = &probs[..tb * y];
    // dW_y = dLogitsᵀ · H ; db_y = Σ rows ; dH = dLogits · W_y.
    gemm_panels(
        MatRef::rm(d_logits, tb, y).t(),
        Panels::rm(hs_out, tb, h),
        false,
        g_w_y,
        scratch,
    );
    g_b_y.fill(T::ZERO);
    for r in 0..tb {
        for (g, &d) in g_b_y.iter_mut().zip(&d_logits[r * y..(r + 1) * y]) {
            *g += d;
        }
    }
    gemm_panels(
        MatRef::rm(d_logits, tb, y),
        Panels::rm(w_y, y, h),
        false,
        d_hs,
        scratch,
    );
}

/// Backpropagates through time after [`forward`] on the same batch, writing ∂(scale·loss_sum)/∂θ into `grads`
/// (overwritten) and ∂/∂h0, ∂/∂c0 into `ws.dh0`, `ws.dc0`. Use `scale = 1/count` for the mean loss.
pub fn backward<T: Float>(
    p: &Params<T>,
    ws: &mut Workspace<T>,
    batch: &BatchRef<'_>,
    scale: T,
    grads: &mut Grads<T>,
) {
    let s = p.dims;
    let (h, nb, steps) = (s.n_h, batch.batch, batch.steps);
    let g4 = 4 * h;
    let lda = da_stride(h);
    let bh = nb * h;
    let tb = steps * nb;
    assert_eq!(ws.steps, steps);
    assert_eq!(ws.batch, nb);

    let hs_out = &ws.hs[bh..(steps + 1) * bh];
    output_backward(
        &p.w_y,
        hs_out,
        h,
        batch,
        scale,
        &mut ws.probs,
        [&mut grads.w_y, &mut grads.b_y],
        &mut ws.d_hs[..tb * h],
        &mut ws.scratch,
    );

    // `w_hᵀ` in panels, once for all steps.
    pack_b(MatRef::rm(&p.w_h, h, g4).t(), &mut ws.w_ht_packed);
    // Through time, last step first, each half of the batch on its own thread as in `forward`.
    // `dh0` carries ∂/∂h_{t} from step t+1, `dc0` likewise for c.
    ws.dh0[..bh].fill(T::ZERO);
    ws.dc0[..bh].fill(T::ZERO);
    let split = split_point(nb, h);
    let seen = Seen {
        gates: &ws.gates[..tb * g4],
        tc: &ws.tc[..tb * h],
        cs: &ws.cs[..(steps + 1) * bh],
        d_hs: &ws.d_hs[..tb * h],
        w_ht: Panels::packed(&ws.w_ht_packed, g4, h),
    };
    let (mut d_a_lo, mut d_a_hi) = split_blocks(&mut ws.d_a[..tb * lda], nb * lda, split * lda);
    let (dh0_lo, dh0_hi) = ws.dh0[..bh].split_at_mut(split * h);
    let (dc0_lo, dc0_hi) = ws.dc0[..bh].split_at_mut(split * h);
    let (dh_lo, dh_hi) = ws.dh[..bh].split_at_mut(split * h);
    let (scratch_lo, scratch_hi) = (&mut ws.scratch, &mut ws.scratch_hi);
    let (lo, hi) = Rows::halves(split, nb);
    both_halves(
        split < nb,
        || {
            let state = [dh0_lo, dc0_lo, dh_lo];
            recur_backward(h, steps, nb, lo, &seen, &mut d_a_lo, state, scratch_lo);
        },
        || {
            let state = [dh0_hi, dc0_hi, dh_hi];
            recur_backward(h, steps, nb, hi, &seen, &mut d_a_hi, state, scratch_hi);
        },
    );

    let d_a = &ws.d_a[..tb * lda];
    // dW_h = H_prevᵀ · dA over all steps at once; H_prev is hs blocks 0..T.
    gemm_panels(
        MatRef::rm(&ws.hs[..tb * h], tb, h).t(),
        Panels::strided(d_a, tb, g4, lda),
        false,
        &mut grads.w_h,
        &mut ws.scratch,
    );
    grads.b.fill(T::ZERO);
    grads.w_x.fill(T::ZERO);
    for r in 0..tb {
        let da = &d_a[r * lda..r * lda + g4];
        let xi = batch.x[r] as usize;
        for ((gb, gx), &d) in grads
            .b
            .iter_mut()
            .zip(&mut grads.w_x[xi * g4..(xi + 1) * g4])
            .zip(da)
        {
            *gb += d;
            *gx += d;
        }
    }
}

/// Batch rows `r0..r1` of a recurrence; `split_products` lets its matrix products use both threads (when
/// the rows are not already split between them).
#[derive(Debug, Clone, Copy)]
struct Rows {
    r0: usize,
    r1: usize,
    split_products: bool,
}

impl Rows {
    /// Rows `0..split` and `split..nb`; the products of the first may use both threads only if there is
    /// no second (`split == nb`).
    fn halves(split: usize, nb: usize) -> (Rows, Rows) {
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
}

/// Runs `lo` and `hi` on two threads if `two`, else only `lo` (which then covers the whole batch).
fn both_halves(two: bool, lo: impl FnOnce() + Send, hi: impl FnOnce() + Send) {
    if two {
        rayon::join(lo, hi);
    } else {
        lo();
    }
}

/// Where the batch splits between two threads: half of the rows when the recurrence's products are large
/// enough to pay for a fork and this runs on a multi-threaded pool, else `nb` (no split).
fn split_point(nb: usize, h: usize) -> usize {
    if nb >= 2 && nb * h * 4 * h >= PAR_MIN && on_pool() {
        nb / 2
    } else {
        nb
    }
}

/// Splits `buf`, made of blocks of `block` values, into the first `at` values of every block and the rest.
fn split_blocks<T>(buf: &mut [T], block: usize, at: usize) -> (Vec<&mut [T]>, Vec<&mut [T]>) {
    buf.chunks_exact_mut(block)
        .map(|b| b.split_at_mut(at))
        .unzip()
}

/// The forward recurrence over all steps for batch rows `rows`; `bufs` are that half's row blocks of
/// gates (one per step), hidden and cell states (one per step and one before) and `tanh(c)` (one per step).
fn recur_forward<T: Float>(
    p: &Params<T>,
    batch: &BatchRef<'_>,
    rows: Rows,
    w_h: Panels<'_, T>,
    bufs: [&mut Vec<&mut [T]>; 4],
    scratch: &mut Vec<T>,
) {
    let [gates, hs, cs, tc] = bufs;
    let (h, nb) = (p.dims.n_h, batch.batch);
    let g4 = 4 * h;
    let m = rows.r1 - rows.r0;
    for t in 0..batch.steps {
        let a = &mut *gates[t];
        // W_x · one-hot(x) is row x of w_x: a gather, not a product.
        for (b, dst) in (rows.r0..rows.r1).zip(a.chunks_exact_mut(g4)) {
            let xi = batch.x[t * nb + b] as usize;
            let row = &p.w_x[xi * g4..(xi + 1) * g4];
            for ((d, &w), &bias) in dst.iter_mut().zip(row).zip(&p.b) {
                *d = w + bias;
            }
        }
        // Hot spot: the recurrent product, B×H · H×4H.
        let (hs_prev, hs_next) = hs.split_at_mut(t + 1);
        gemm_panels_with(
            MatRef::rm(&hs_prev[t][..], m, h),
            w_h,
            true,
            a,
            scratch,
            rows.split_products,
        );
        let (cs_prev, cs_next) = cs.split_at_mut(t + 1);
        let (c_prev, c_next, h_next) = (&cs_prev[t][..], &mut *cs_next[0], &mut *hs_next[0]);
        let tc = &mut *tc[t];
        for b in 0..m {
            let r = b * h..(b + 1) * h;
            lstm::forward(
                &mut a[b * g4..(b + 1) * g4],
                &c_prev[r.clone()],
                &mut c_next[r.clone()],
                &mut tc[r.clone()],
                &mut h_next[r],
            );
        }
    }
}

/// What the backward recurrence reads, whole-batch: gates, `tanh(c)`, cell states, ∂loss/∂h from the
/// output layer, and `w_hᵀ` in panels.
struct Seen<'a, T> {
    gates: &'a [T],
    tc: &'a [T],
    cs: &'a [T],
    d_hs: &'a [T],
    w_ht: Panels<'a, T>,
}

/// The backward recurrence over all steps, last first, for batch rows `rows`: writes that half's row blocks
/// of ∂/∂a (one per step, `d_a`) and leaves ∂/∂h0, ∂/∂c0 of those rows in `dh0`, `dc0` (`dh` is scratch).
#[allow(clippy::too_many_arguments)]
fn recur_backward<T: Float>(
    h: usize,
    steps: usize,
    nb: usize,
    rows: Rows,
    seen: &Seen<'_, T>,
    d_a: &mut [&mut [T]],
    state: [&mut [T]; 3],
    scratch: &mut Vec<T>,
) {
    let [dh0, dc0, dh] = state;
    let (g4, lda, bh) = (4 * h, da_stride(h), nb * h);
    let m = rows.r1 - rows.r0;
    for t in (0..steps).rev() {
        let d_a = &mut *d_a[t];
        for bb in 0..m {
            let b = rows.r0 + bb;
            let r = t * bh + b * h..t * bh + (b + 1) * h;
            let local = bb * h..(bb + 1) * h;
            lstm::backward(
                &seen.gates[(t * nb + b) * g4..(t * nb + b + 1) * g4],
                &seen.tc[r.clone()],
                &seen.cs[r.clone()],
                &seen.d_hs[r],
                &dh0[local.clone()],
                &mut dc0[local],
                &mut d_a[bb * lda..bb * lda + g4],
            );
        }
        // dH_prev = dA_t · w_hᵀ (B×4H · 4H×H)
        gemm_panels_with(
            MatRef {
                data: d_a,
                rows: m,
                cols: g4,
                rs: lda,
                cs: 1,
            },
            seen.w_ht,
            false,
            dh,
            scratch,
            rows.split_products,
        );
        dh0.copy_from_slice(dh);
    }
}

/// Forward and backward in one call with the mean loss; returns the forward statistics.
pub fn loss_and_grads<T: Float>(
    p: &Params<T>,
    ws: &mut Workspace<T>,
    batch: &BatchRef<'_>,
    h0: &[T],
    c0: &[T],
    grads: &mut Grads<T>,
) -> ForwardStats {
    let run = |ws: &mut Workspace<T>, grads: &mut Grads<T>| {
        let stats = forward(p, ws, batch, h0, c0);
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
    let s = p.dims;
    let big = batch.batch * s.n_h * 4 * s.n_h >= PAR_MIN;
    if big && rayon::current_num_threads() > 1 && rayon::current_thread_index().is_none() {
        rayon::scope(|_| run(ws, grads))
    } else {
        run(ws, grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// One pass of `loss_and_grads` on a pool of `threads` threads: loss, gradients, ∂/∂h0, ∂/∂c0.
    fn pass<T: Float>(threads: usize, nb: usize, h: usize) -> (ForwardStats, Vec<Vec<T>>) {
        let shape = Dims {
            n_x: 11,
            n_h: h,
            n_y: 11,
        };
        let mut rng = Rng::new(5);
        let p = Params::<f64>::init_uniform(shape, &mut rng).cast::<T>();
        let steps = 7;
        let x: Vec<u32> = (0..steps * nb).map(|_| rng.below(11) as u32).collect();
        let y: Vec<u32> = (0..steps * nb).map(|_| rng.below(11) as u32).collect();
        let mask: Vec<u8> = (0..steps * nb).map(|i| u8::from(i % 5 != 3)).collect();
        let h0: Vec<T> = (0..nb * h)
            .map(|_| T::from_f64(rng.next_f64() - 0.5))
            .collect();
        let c0: Vec<T> = (0..nb * h)
            .map(|_| T::from_f64(rng.next_f64() - 0.5))
            .collect();
        let batch = BatchRef {
            steps,
            batch: nb,
            x: &x,
            y: &y,
            mask: Some(&mask),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            let mut ws = Workspace::new();
            let mut grads = Params::zeros(shape);
            let stats = loss_and_grads(&p, &mut ws, &batch, &h0, &c0, &mut grads);
            let mut out: Vec<Vec<T>> = grads.tensors().iter().map(|t| t.to_vec()).collect();
            out.push(ws.dh0[..nb * h].to_vec());
            out.push(ws.dc0[..nb * h].to_vec());
            out.push(ws.h_last(h).to_vec());
            (stats, out)
        })
    }

    /// Every value's bits, widened to f64 (exact, so equal bits before means equal bits after).
    fn bits<T: Float>(v: &[Vec<T>]) -> Vec<Vec<u64>> {
        v.iter()
            .map(|t| t.iter().map(|x| x.to_f64().to_bits()).collect())
            .collect()
    }

    /// One thread and two over the same pass, in `T`: same loss statistics, same bits.
    fn same_on_one_and_two_threads<T: Float>(nb: usize, h: usize) {
        let (s1, g1) = pass::<T>(1, nb, h);
        let (s2, g2) = pass::<T>(2, nb, h);
        assert_eq!(s1, s2);
        assert_eq!(bits(&g1), bits(&g2));
        assert!(
            g1[1].iter().any(|v| v.to_f64() != 0.0),
            "w_h gradient is not all zero"
        );
    }

    /// Two threads split the batch rows (one fork per pass) and must give the one-thread bits.
    #[test]
    fn two_threads_give_the_same_bits_as_one() {
        // Large enough to split (nb·4H² ≥ PAR_MIN), an odd batch so the halves differ in size.
        let (nb, h) = (33, 128);
        assert!(nb * 4 * h * h >= PAR_MIN);
        same_on_one_and_two_threads::<f32>(nb, h);
        same_on_one_and_two_threads::<f64>(nb, h);
    }
}

//! Batched forward pass with cache and backpropagation through time, generic over `f32`/`f64`.
//!
//! Per step, for the whole batch at once (PyTorch's equations, gate order i, f, g, o):
//! `A = W_x[x] + b + H_prev · w_h` (a row gather plus one GEMM), `i, f, o = σ(·)`, `g = tanh(·)`,
//! `c = f⊙c_prev + i⊙g`, `h = o⊙tanh(c)`. The output layer runs once over all `T·B` states:
//! `logits = H · w_yᵀ + b_y`, `probs = softmax(logits)`. The backward pass turns every product into a
//! GEMM over the whole sequence except `dH_prev = dA_t · w_hᵀ`, which is sequential by nature.

use crate::float::{Float, MatRef, PAR_MIN, Panels, gemm_panels, on_pool, pack_b};
use crate::model::{Grads, Params, Shape};

/// Row stride of `Workspace::d_a`: `4H` plus one cache line, so rows are never a multiple of 4 KiB apart and
/// the products can read `dA` in place without cache aliasing.
fn da_stride(h: usize) -> usize {
    4 * h + 16
}

/// `w_h` is packed for the forward product from this many elements (`H·4H`) on.
const PACK_MIN: usize = 64 * 1024;

/// One minibatch, time-major: element `[t][b]` of `x`, `y` and `mask` is at `t·batch + b`.
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    /// Time steps.
    pub steps: usize,
    /// Sequences in the batch.
    pub batch: usize,
    /// Input symbol indices, `[T][B]`.
    pub x: &'a [u32],
    /// Target symbol indices, `[T][B]`.
    pub y: &'a [u32],
    /// `1` where the target counts in the loss, `0` for padding; `None` means all count.
    pub mask: Option<&'a [u8]>,
}

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
            w_h_packed: Vec::new(),
            w_ht_packed: Vec::new(),
            w_yt_packed: Vec::new(),
            dh0: Vec::new(),
            dc0: Vec::new(),
        }
    }

    fn prepare(&mut self, s: Shape, steps: usize, batch: usize) {
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
    let s = p.shape;
    let (h, y, nb, steps) = (s.n_h, s.n_y, batch.batch, batch.steps);
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
    let par_rows = nb >= 2 && nb * h * g4 >= PAR_MIN && on_pool();
    if packed_w_h {
        pack_b(MatRef::rm(&p.w_h, h, g4), &mut ws.w_h_packed);
    }
    for t in 0..steps {
        let a = &mut ws.gates[t * nb * g4..(t + 1) * nb * g4];
        // W_x · one-hot(x) is row x of w_x: a gather, not a product.
        for b in 0..nb {
            let xi = batch.x[t * nb + b] as usize;
            let row = &p.w_x[xi * g4..(xi + 1) * g4];
            for ((dst, &w), &bias) in a[b * g4..(b + 1) * g4].iter_mut().zip(row).zip(&p.b) {
                *dst = w + bias;
            }
        }
        let (hs_prev, _) = ws.hs.split_at((t + 1) * bh);
        let h_prev = &hs_prev[t * bh..];
        // Hot spot: the recurrent product, B×H · H×4H.
        let w_h = if packed_w_h {
            Panels::packed(&ws.w_h_packed, h, g4)
        } else {
            Panels::rm(&p.w_h, h, g4)
        };
        gemm_panels(MatRef::rm(h_prev, nb, h), w_h, true, a, &mut ws.scratch);
        let (cs_prev, cs_next) = ws.cs.split_at_mut((t + 1) * bh);
        let c_prev = &cs_prev[t * bh..];
        let c_next = &mut cs_next[..bh];
        let h_next = &mut ws.hs[(t + 1) * bh..(t + 2) * bh];
        let tc = &mut ws.tc[t * bh..(t + 1) * bh];
        let cells =
            |a: &mut [T], c_prev: &[T], c_next: &mut [T], tc: &mut [T], h_next: &mut [T]| {
                for b in 0..c_prev.len() / h {
                    let r = b * h..(b + 1) * h;
                    T::cell_forward(
                        &mut a[b * g4..(b + 1) * g4],
                        &c_prev[r.clone()],
                        &mut c_next[r.clone()],
                        &mut tc[r.clone()],
                        &mut h_next[r],
                    );
                }
            };
        if par_rows {
            // Rows are independent: two halves, same arithmetic per element.
            let half = nb / 2;
            let (a0, a1) = a.split_at_mut(half * g4);
            let (cp0, cp1) = c_prev.split_at(half * h);
            let (cn0, cn1) = c_next.split_at_mut(half * h);
            let (tc0, tc1) = tc.split_at_mut(half * h);
            let (hn0, hn1) = h_next.split_at_mut(half * h);
            rayon::join(
                || cells(a0, cp0, cn0, tc0, hn0),
                || cells(a1, cp1, cn1, tc1, hn1),
            );
        } else {
            cells(a, c_prev, c_next, tc, h_next);
        }
    }

    // Output layer over all T·B states at once: logits = H · w_yᵀ + b_y.
    let tb = steps * nb;
    let hs_out = &ws.hs[bh..(steps + 1) * bh];
    pack_b(MatRef::rm(&p.w_y, y, h).t(), &mut ws.w_yt_packed);
    gemm_panels(
        MatRef::rm(hs_out, tb, h),
        Panels::packed(&ws.w_yt_packed, h, y),
        false,
        &mut ws.probs[..tb * y],
        &mut ws.scratch,
    );
    let mut loss_sum = 0.0f64;
    let mut count = 0usize;
    for r in 0..tb {
        let row = &mut ws.probs[r * y..(r + 1) * y];
        softmax_in_place(row, &p.b_y);
        if batch.mask.is_none_or(|m| m[r] != 0) {
            let target = batch.y[r] as usize;
            loss_sum -= row[target].to_f64().ln();
            count += 1;
        }
    }
    ForwardStats { loss_sum, count }
}

/// `row = softmax(row + bias)`, computed stably (max subtracted).
fn softmax_in_place<T: Float>(row: &mut [T], bias: &[T]) {
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

/// Backpropagates through time after [`forward`] on the same batch, writing ∂(scale·loss_sum)/∂θ into `grads`
/// (overwritten) and ∂/∂h0, ∂/∂c0 into `ws.dh0`, `ws.dc0`. Use `scale = 1/count` for the mean loss.
pub fn backward<T: Float>(
    p: &Params<T>,
    ws: &mut Workspace<T>,
    batch: &BatchRef<'_>,
    scale: T,
    grads: &mut Grads<T>,
) {
    let s = p.shape;
    let (h, y, nb, steps) = (s.n_h, s.n_y, batch.batch, batch.steps);
    let g4 = 4 * h;
    let lda = da_stride(h);
    let bh = nb * h;
    let tb = steps * nb;
    let par_rows = nb >= 2 && nb * h * g4 >= PAR_MIN && on_pool();
    assert_eq!(ws.steps, steps);
    assert_eq!(ws.batch, nb);

    // ∂/∂logits = scale·(probs − onehot(y)) where the target counts, 0 on padding.
    for r in 0..tb {
        let row = &mut ws.probs[r * y..(r + 1) * y];
        if batch.mask.is_none_or(|m| m[r] != 0) {
            row[batch.y[r] as usize] -= T::ONE;
            for v in row.iter_mut() {
                *v *= scale;
            }
        } else {
            row.fill(T::ZERO);
        }
    }
    let d_logits = &ws.probs[..tb * y];
    let hs_out = &ws.hs[bh..(steps + 1) * bh];
    // dW_y = dLogitsᵀ · H ; db_y = Σ rows ; dH = dLogits · W_y.
    gemm_panels(
        MatRef::rm(d_logits, tb, y).t(),
        Panels::rm(hs_out, tb, h),
        false,
        &mut grads.w_y,
        &mut ws.scratch,
    );
    grads.b_y.fill(T::ZERO);
    for r in 0..tb {
        for (g, &d) in grads.b_y.iter_mut().zip(&d_logits[r * y..(r + 1) * y]) {
            *g += d;
        }
    }
    gemm_panels(
        MatRef::rm(d_logits, tb, y),
        Panels::rm(&p.w_y, y, h),
        false,
        &mut ws.d_hs[..tb * h],
        &mut ws.scratch,
    );

    // `w_hᵀ` in panels, once for all steps.
    pack_b(MatRef::rm(&p.w_h, h, g4).t(), &mut ws.w_ht_packed);
    // Through time, last step first. `dh0` carries ∂/∂h_{t} from step t+1, `dc0` likewise for c.
    ws.dh0[..bh].fill(T::ZERO);
    ws.dc0[..bh].fill(T::ZERO);
    for t in (0..steps).rev() {
        let gates = &ws.gates[t * nb * g4..(t + 1) * nb * g4];
        let tc = &ws.tc[t * bh..(t + 1) * bh];
        let c_prev = &ws.cs[t * bh..(t + 1) * bh];
        let d_hs = &ws.d_hs[t * bh..(t + 1) * bh];
        let d_a = &mut ws.d_a[t * nb * lda..(t + 1) * nb * lda];
        let cells = |d_a: &mut [T], dc: &mut [T], r0: usize| {
            for bb in 0..dc.len() / h {
                let b = r0 + bb;
                let r = b * h..(b + 1) * h;
                T::cell_backward(
                    &gates[b * g4..(b + 1) * g4],
                    &tc[r.clone()],
                    &c_prev[r.clone()],
                    &d_hs[r.clone()],
                    &ws.dh0[r],
                    &mut dc[bb * h..(bb + 1) * h],
                    &mut d_a[bb * lda..bb * lda + g4],
                );
            }
        };
        if par_rows {
            let half = nb / 2;
            let (da0, da1) = d_a.split_at_mut(half * lda);
            let (dc0, dc1) = ws.dc0[..bh].split_at_mut(half * h);
            rayon::join(|| cells(da0, dc0, 0), || cells(da1, dc1, half));
        } else {
            cells(d_a, &mut ws.dc0[..bh], 0);
        }
        // dH_prev = dA_t · w_hᵀ (B×4H · 4H×H)
        gemm_panels(
            MatRef {
                data: d_a,
                rows: nb,
                cols: g4,
                rs: lda,
                cs: 1,
            },
            Panels::packed(&ws.w_ht_packed, g4, h),
            false,
            &mut ws.dh[..bh],
            &mut ws.scratch,
        );
        ws.dh0[..bh].copy_from_slice(&ws.dh[..bh]);
    }

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
    let s = p.shape;
    let big = batch.batch * s.n_h * 4 * s.n_h >= PAR_MIN;
    if big && rayon::current_num_threads() > 1 && rayon::current_thread_index().is_none() {
        rayon::scope(|_| run(ws, grads))
    } else {
        run(ws, grads)
    }
}

//! Backpropagation through time for every model the trainer trains: [`stack`] is the pass (any cell kind,
//! 1–4 layers, dropout), batched over the minibatch and generic over `f32`/`f64`; `recur` holds the
//! layers' step-by-step recurrences; this module the output layer shared by every model, and a one-layer
//! LSTM view of the pass in the [`Params`] layout (the version-1 golden check and the core parity test).
//!
//! Per step, for the whole batch at once: the input pre-activations (a row gather of `w_x` on layer 0, one
//! GEMM of the layer below's output above it), the recurrent product `H_prev · w_h` (one GEMM), the cell.
//! The output layer runs once over all `T·B` states of the top layer: `logits = H · w_yᵀ + b_y`,
//! `probs = softmax(logits)`. The backward pass turns every product into a GEMM over the whole sequence
//! except `dH_prev = dA_t · w_hᵀ`, which is sequential by nature.

mod recur;
pub mod stack;

use crate::data::batch::BatchRef;
use crate::linalg::{MatRef, Panels, RowPass, gemm_panels, pack_b, wide};
use crate::model::{Grads, Params, Stack};
use crate::scalar::Float;
use stack::StackWorkspace;

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

/// A one-layer LSTM pass in the [`Params`] layout: [`stack`]'s pass, its cache copied out after
/// [`forward`] and [`backward`] in the layout of the version-1 golden files.
#[derive(Debug, Clone, Default)]
pub struct Workspace<T> {
    stack: StackWorkspace<T>,
    /// Hidden states `[(T+1)][B][H]`; block 0 is `h0`.
    pub hs: Vec<T>,
    /// Cell states `[(T+1)][B][H]`; block 0 is `c0`.
    pub cs: Vec<T>,
    /// Gate activations `[T][B][4H]` (i, f, g, o after σ / tanh).
    pub gates: Vec<T>,
    /// Probabilities `[T][B][Y]` after forward; ∂loss/∂logits after backward.
    pub probs: Vec<T>,
    /// ∂loss/∂h0 after [`backward`], `[B][H]`.
    pub dh0: Vec<T>,
    /// ∂loss/∂c0 after [`backward`], `[B][H]`.
    pub dc0: Vec<T>,
}

impl<T: Float> Workspace<T> {
    /// An empty workspace.
    pub fn new() -> Self {
        Self {
            stack: StackWorkspace::new(),
            hs: Vec::new(),
            cs: Vec::new(),
            gates: Vec::new(),
            probs: Vec::new(),
            dh0: Vec::new(),
            dc0: Vec::new(),
        }
    }
}

/// Runs a one-layer LSTM forward from `(h0, c0)` (`[B][H]` each) through [`stack::forward`].
///
/// # Panics
/// As [`stack::forward`].
pub fn forward<T: Float>(
    p: &Params<T>,
    ws: &mut Workspace<T>,
    batch: &BatchRef<'_>,
    h0: &[T],
    c0: &[T],
) -> ForwardStats {
    let stats = stack::forward(&Stack::from_params(p), &mut ws.stack, batch, h0, c0, None);
    let s = &ws.stack;
    let bh = h0.len();
    ws.hs.clear();
    ws.hs.extend_from_slice(h0);
    ws.hs.extend_from_slice(s.h(0));
    ws.cs.clear();
    ws.cs.extend_from_slice(c0);
    ws.cs.extend_from_slice(s.c(0));
    debug_assert_eq!(ws.hs.len(), (batch.steps + 1) * bh);
    ws.gates.clear();
    ws.gates.extend_from_slice(s.gates(0));
    ws.probs.clone_from(&s.probs);
    stats
}

/// Backpropagates after [`forward`] on the same batch through [`stack::backward`], writing
/// ∂(scale·loss_sum)/∂θ into `grads` and ∂/∂h0, ∂/∂c0 into `ws.dh0`, `ws.dc0`.
///
/// # Panics
/// As [`stack::backward`].
pub fn backward<T: Float>(
    p: &Params<T>,
    ws: &mut Workspace<T>,
    batch: &BatchRef<'_>,
    scale: T,
    grads: &mut Grads<T>,
) {
    let sp = Stack::from_params(p);
    let mut g = sp.zeros_like();
    stack::backward(&sp, &mut ws.stack, batch, scale, &mut g);
    if let Some(plain) = g.to_params() {
        *grads = plain;
    }
    ws.probs.clone_from(&ws.stack.probs);
    ws.dh0.clone_from(&ws.stack.dh0);
    ws.dc0.clone_from(&ws.stack.dc0);
}

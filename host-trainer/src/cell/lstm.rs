//! The LSTM cell (PyTorch's equations, gate order i, f, g, o): forward and backward of one batch row.
//!
//! Why this is not lstm-core's step: the core runs one `f32` step at a time with its own `exp`
//! (Cody–Waite, degree-7 polynomial in fused multiply-adds, no clamp), the definition every inference
//! kernel — portable, AVX2, Cortex-M4F — reproduces bit for bit. Training runs the same equations over a
//! batch, in `f64` as well as `f32` (gradient checks, golden parity), caching the activations for the
//! backward pass; its `f32` `exp` ([`crate::scalar::exp_f32`]: degree 6, clamped, no FMA) vectorises on
//! any x86-64 without FMA hardware. The two agree to ~1e-6 per activation, not to the bit;
//! `tests/core_parity.rs` checks the trainer's forward against the core's step on the same weights.
//! To give the core's bits instead, `scalar::exp_f32` would call the core's `exp` (private to lstm-core
//! today) and [`crate::linalg::wide`] would enable FMA, since that polynomial is fused multiply-adds.

use crate::linalg::{RowPass, wide};
use crate::scalar::{Float, sigmoid};

/// The fused LSTM cell forward over one batch row (see [`forward_row`]), with the widest vectors the
/// CPU has (the same operations on every path, so the same results).
#[inline]
pub fn forward<T: Float>(a: &mut [T], c_prev: &[T], c: &mut [T], tc: &mut [T], h: &mut [T]) {
    struct Pass<'a, T>(&'a mut [T], &'a [T], &'a mut [T], &'a mut [T], &'a mut [T]);
    impl<T: Float> RowPass for Pass<'_, T> {
        #[inline(always)]
        fn run(self) {
            forward_row(self.0, self.1, self.2, self.3, self.4);
        }
    }
    wide(Pass(a, c_prev, c, tc, h));
}

/// The LSTM cell backward over one batch row (see [`backward_row`]), with the widest vectors the CPU
/// has (the same operations on every path, so the same results).
#[inline]
pub fn backward<T: Float>(
    gates: &[T],
    tc: &[T],
    c_prev: &[T],
    d_h_out: &[T],
    d_h_next: &[T],
    d_c: &mut [T],
    d_a: &mut [T],
) {
    struct Pass<'a, T>([&'a [T]; 5], &'a mut [T], &'a mut [T]);
    impl<T: Float> RowPass for Pass<'_, T> {
        #[inline(always)]
        fn run(self) {
            let [gates, tc, c_prev, d_h_out, d_h_next] = self.0;
            backward_row(gates, tc, c_prev, d_h_out, d_h_next, self.1, self.2);
        }
    }
    wide(Pass([gates, tc, c_prev, d_h_out, d_h_next], d_c, d_a));
}

/// The fused LSTM cell for one batch row: `a` holds the pre-activations `[i | f | g | o]` (each `H = c.len()`
/// wide) and is overwritten with the activations; `c = f⊙c_prev + i⊙g`, `tc = tanh(c)`, `h = o⊙tc`.
#[inline(always)]
pub fn forward_row<T: Float>(a: &mut [T], c_prev: &[T], c: &mut [T], tc: &mut [T], h: &mut [T]) {
    let n = c.len();
    let (ai, rest) = a.split_at_mut(n);
    let (af, rest) = rest.split_at_mut(n);
    let (ag, ao) = rest.split_at_mut(n);
    let (ao, c_prev, tc, h) = (&mut ao[..n], &c_prev[..n], &mut tc[..n], &mut h[..n]);
    for k in 0..n {
        let i = sigmoid(ai[k]);
        let f = sigmoid(af[k]);
        let g = ag[k].tanh();
        let o = sigmoid(ao[k]);
        ai[k] = i;
        af[k] = f;
        ag[k] = g;
        ao[k] = o;
        let cv = f * c_prev[k] + i * g;
        let t = cv.tanh();
        c[k] = cv;
        tc[k] = t;
        h[k] = o * t;
    }
}

/// The LSTM cell backward for one batch row (`H = d_c.len()`): from the cached activations `gates`
/// (`[i | f | g | o]`), `tc = tanh(c)`, `c_prev`, ∂/∂h from the output layer (`d_h_out`) and from the next
/// step (`d_h_next`), and ∂/∂c from the next step (in `d_c`, replaced by ∂/∂c_prev), writes ∂/∂pre-activations
/// into `d_a`.
#[inline(always)]
pub fn backward_row<T: Float>(
    gates: &[T],
    tc: &[T],
    c_prev: &[T],
    d_h_out: &[T],
    d_h_next: &[T],
    d_c: &mut [T],
    d_a: &mut [T],
) {
    let n = d_c.len();
    let (gi, gf, gg, go) = (
        &gates[..n],
        &gates[n..2 * n],
        &gates[2 * n..3 * n],
        &gates[3 * n..4 * n],
    );
    let (tc, c_prev, d_h_out, d_h_next) = (&tc[..n], &c_prev[..n], &d_h_out[..n], &d_h_next[..n]);
    let (dai, rest) = d_a.split_at_mut(n);
    let (daf, rest) = rest.split_at_mut(n);
    let (dag, dao) = rest.split_at_mut(n);
    let dao = &mut dao[..n];
    for k in 0..n {
        let (i, f, g, o) = (gi[k], gf[k], gg[k], go[k]);
        let dh = d_h_out[k] + d_h_next[k];
        let t = tc[k];
        // backprop through h = o ⊙ tanh(c)
        let dc = d_c[k] + dh * o * (T::ONE - t * t);
        let d_o = dh * t;
        // backprop through c = f ⊙ c_prev + i ⊙ g
        let d_i = dc * g;
        let d_g = dc * i;
        let d_f = dc * c_prev[k];
        d_c[k] = dc * f;
        // backprop through the gate nonlinearities
        dai[k] = d_i * i * (T::ONE - i);
        daf[k] = d_f * f * (T::ONE - f);
        dag[k] = d_g * (T::ONE - g * g);
        dao[k] = d_o * o * (T::ONE - o);
    }
}

//! The GRU cell (PyTorch's `nn.GRU`, gate order r, z, n): forward and backward of one batch row.
//!
//! `r = σ(a_x,r + a_h,r)`, `z = σ(a_x,z + a_h,z)`, `n = tanh(a_x,n + r ⊙ (a_h,n + b_hn))`,
//! `h' = (1 − z) ⊙ n + z ⊙ h`, where `a_x = W_ih x + b` (`b` = `b_ih + b_hh` on the r and z blocks, `b_in`
//! on the n block) and `a_h = W_hh h` (no bias). `b_hn` stays inside the product with `r`, so it is a
//! parameter of its own.

use crate::linalg::{RowPass, wide};
use crate::scalar::{Float, sigmoid};

/// [`forward_row`] with the widest vectors the CPU has (the same operations on every path, so the same
/// results; `mul_add` in the activations is one instruction there, not a library call).
#[inline]
pub fn forward<T: Float>(
    ax: &[T],
    ah: &[T],
    b_hn: &[T],
    h_prev: &[T],
    act: &mut [T],
    hn: &mut [T],
    h: &mut [T],
) {
    struct Pass<'a, T>([&'a [T]; 4], &'a mut [T], &'a mut [T], &'a mut [T]);
    impl<T: Float> RowPass for Pass<'_, T> {
        #[inline(always)]
        fn run(self) {
            let [ax, ah, b_hn, h_prev] = self.0;
            forward_row(ax, ah, b_hn, h_prev, self.1, self.2, self.3);
        }
    }
    wide(Pass([ax, ah, b_hn, h_prev], act, hn, h));
}

/// [`backward_row`] with the widest vectors the CPU has (the same operations on every path).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn backward<T: Float>(
    act: &[T],
    hn: &[T],
    h_prev: &[T],
    d_h_out: &[T],
    d_h_next: &[T],
    d_ax: &mut [T],
    d_ah: &mut [T],
    d_h_prev: &mut [T],
) {
    struct Pass<'a, T>([&'a [T]; 5], [&'a mut [T]; 3]);
    impl<T: Float> RowPass for Pass<'_, T> {
        #[inline(always)]
        fn run(self) {
            let [act, hn, h_prev, d_h_out, d_h_next] = self.0;
            let [d_ax, d_ah, d_h_prev] = self.1;
            backward_row(act, hn, h_prev, d_h_out, d_h_next, d_ax, d_ah, d_h_prev);
        }
    }
    wide(Pass(
        [act, hn, h_prev, d_h_out, d_h_next],
        [d_ax, d_ah, d_h_prev],
    ));
}

/// One row forward: from `ax`, `ah` (`[r | z | n]`, each `H = h.len()` wide), `b_hn` and `h_prev`, writes the
/// activations `[r | z | n]` into `act`, `a_h,n + b_hn` into `hn` (the backward pass needs it) and `h`.
#[inline(always)]
pub fn forward_row<T: Float>(
    ax: &[T],
    ah: &[T],
    b_hn: &[T],
    h_prev: &[T],
    act: &mut [T],
    hn: &mut [T],
    h: &mut [T],
) {
    let n = h.len();
    for k in 0..n {
        let r = sigmoid(ax[k] + ah[k]);
        let z = sigmoid(ax[n + k] + ah[n + k]);
        let hnk = ah[2 * n + k] + b_hn[k];
        let nn = (ax[2 * n + k] + r * hnk).tanh();
        act[k] = r;
        act[n + k] = z;
        act[2 * n + k] = nn;
        hn[k] = hnk;
        h[k] = (T::ONE - z) * nn + z * h_prev[k];
    }
}

/// One row backward: from the cached `act` (`[r | z | n]`), `hn`, `h_prev`, and ∂/∂h from the output
/// (`d_h_out`) and from the next step (`d_h_next`), writes ∂/∂a_x into `d_ax`, ∂/∂a_h into `d_ah` (both
/// `[r | z | n]`; ∂/∂b_hn is `d_ah`'s n block) and the direct part of ∂/∂h_prev (`z ⊙ ∂h`) into `d_h_prev`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn backward_row<T: Float>(
    act: &[T],
    hn: &[T],
    h_prev: &[T],
    d_h_out: &[T],
    d_h_next: &[T],
    d_ax: &mut [T],
    d_ah: &mut [T],
    d_h_prev: &mut [T],
) {
    let n = d_h_prev.len();
    for k in 0..n {
        let (r, z, nn) = (act[k], act[n + k], act[2 * n + k]);
        let dh = d_h_out[k] + d_h_next[k];
        let d_z = dh * (h_prev[k] - nn);
        let d_n = dh * (T::ONE - z);
        d_h_prev[k] = dh * z;
        let da_n = d_n * (T::ONE - nn * nn);
        let d_r = da_n * hn[k];
        let da_r = d_r * r * (T::ONE - r);
        let da_z = d_z * z * (T::ONE - z);
        d_ax[k] = da_r;
        d_ax[n + k] = da_z;
        d_ax[2 * n + k] = da_n;
        d_ah[k] = da_r;
        d_ah[n + k] = da_z;
        d_ah[2 * n + k] = da_n * r;
    }
}

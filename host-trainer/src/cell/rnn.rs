//! The plain tanh RNN cell (PyTorch's `nn.RNN(nonlinearity="tanh")`): `h' = tanh(W_ih x + W_hh h + b)`,
//! forward and backward of one batch row.

use crate::linalg::{RowPass, wide};
use crate::scalar::Float;

/// [`forward_row`] with the widest vectors the CPU has (the same operations on every path, so the same
/// results; `mul_add` in `tanh` is one instruction there, not a library call).
#[inline]
pub fn forward<T: Float>(a: &mut [T], h: &mut [T]) {
    struct Pass<'a, T>(&'a mut [T], &'a mut [T]);
    impl<T: Float> RowPass for Pass<'_, T> {
        #[inline(always)]
        fn run(self) {
            forward_row(self.0, self.1);
        }
    }
    wide(Pass(a, h));
}

/// One row forward: `a` holds the pre-activation (`H` wide) and is overwritten with `h' = tanh(a)`, also
/// written to `h`.
#[inline(always)]
pub fn forward_row<T: Float>(a: &mut [T], h: &mut [T]) {
    for (av, hv) in a.iter_mut().zip(h.iter_mut()) {
        *av = av.tanh();
        *hv = *av;
    }
}

/// One row backward: from the cached `h'` and ∂/∂h' from the output (`d_h_out`) and the next step
/// (`d_h_next`), writes ∂/∂pre-activation into `d_a`.
#[inline]
pub fn backward_row<T: Float>(h: &[T], d_h_out: &[T], d_h_next: &[T], d_a: &mut [T]) {
    for k in 0..d_a.len() {
        d_a[k] = (d_h_out[k] + d_h_next[k]) * (T::ONE - h[k] * h[k]);
    }
}

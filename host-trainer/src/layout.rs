//! The one place for the gate layouts of the LSTM's weight matrices and the conversions between them.
//!
//! Every input or recurrent weight belongs to a gate `g` (order i, f, g, o), a hidden unit `k` (`0..H`)
//! and an input column `x` (`0..n_in`: the input size `X` for the input weights, `H` for the recurrent
//! ones). The three homes of the weights place it differently:
//!
//! | layout | input weights | recurrent weights |
//! |---|---|---|
//! | [`Layout::PyTorch`] (`weight_ih_l0`, `weight_hh_l0`) | `(4H, X)`: `(g·H + k)·X + x` | `(4H, H)`: `(g·H + k)·H + x` |
//! | [`Layout::File`] (lstm-core's `w_ih`, `w_hh`) | `[4][X][H]`: `(g·X + x)·H + k` | `[4][H][H]`: `(g·H + k)·H + x` |
//! | [`Layout::Trainer`] ([`crate::model::Params`]) | `[X][4H]`: `x·4H + g·H + k` | `[H][4H]`: `x·4H + g·H + k` |
//!
//! The trainer's rows make a one-hot input a contiguous row (a gather) and `H_prev · w_h` one GEMM over
//! the batch. The biases are `[4H]`, `g·H + k`, everywhere; PyTorch's two are summed by [`merged_bias`].

use lstm_core::format::CellKind;

use crate::model::Layer;
use crate::scalar::Float;

/// Where a weight matrix is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// PyTorch's `nn.LSTM`: one row per gate unit, one column per input.
    PyTorch,
    /// lstm-core's model file: input weights gate-major then input-major; recurrent ones as PyTorch.
    File,
    /// The trainer's [`crate::model::Params`]: one row per input, the four gate blocks side by side.
    Trainer,
}

/// Which weight matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    /// The input weights (`n_in` = input size `X`).
    Input,
    /// The recurrent weights (`n_in` = hidden size `H`).
    Recurrent,
}

impl Layout {
    /// The position of the weight of gate `g`, hidden unit `k`, input column `x` (four gates: the LSTM).
    #[inline]
    pub fn index(self, m: Matrix, n_in: usize, n_h: usize, g: usize, k: usize, x: usize) -> usize {
        self.index_g(4, m, n_in, n_h, g, k, x)
    }

    /// [`Layout::index`] for a cell of `gates` gate blocks (4 LSTM, 3 GRU, 1 RNN).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn index_g(
        self,
        gates: usize,
        m: Matrix,
        n_in: usize,
        n_h: usize,
        g: usize,
        k: usize,
        x: usize,
    ) -> usize {
        match (self, m) {
            (Layout::PyTorch, _) | (Layout::File, Matrix::Recurrent) => (g * n_h + k) * n_in + x,
            (Layout::File, Matrix::Input) => (g * n_in + x) * n_h + k,
            (Layout::Trainer, _) => x * gates * n_h + g * n_h + k,
        }
    }
}

/// Converts a `4·n_h × n_in` weight matrix `m` from layout `from` to layout `to`.
///
/// # Panics
/// If `src` does not hold `4·n_h·n_in` values (a programming error).
pub fn convert<T: Copy>(
    src: &[T],
    m: Matrix,
    n_in: usize,
    n_h: usize,
    from: Layout,
    to: Layout,
) -> Vec<T> {
    convert_g(src, 4, m, n_in, n_h, from, to)
}

/// [`convert`] for a cell of `gates` gate blocks.
///
/// # Panics
/// If `src` does not hold `gates·n_h·n_in` values (a programming error).
pub fn convert_g<T: Copy>(
    src: &[T],
    gates: usize,
    m: Matrix,
    n_in: usize,
    n_h: usize,
    from: Layout,
    to: Layout,
) -> Vec<T> {
    assert_eq!(
        src.len(),
        gates * n_h * n_in,
        "layout::convert: wrong length"
    );
    let mut out = src.to_vec();
    for g in 0..gates {
        for k in 0..n_h {
            for x in 0..n_in {
                out[to.index_g(gates, m, n_in, n_h, g, k, x)] =
                    src[from.index_g(gates, m, n_in, n_h, g, k, x)];
            }
        }
    }
    out
}

/// One PyTorch layer (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`) of a `kind`
/// cell as a trainer [`Layer`]: the biases merged, except a GRU's n block (`b_in` in `b`, `b_hn` apart).
pub fn layer_from_pytorch<T: Float>(
    kind: CellKind,
    n_in: usize,
    n_h: usize,
    [w_ih, w_hh, b_ih, b_hh]: [&[T]; 4],
) -> Layer<T> {
    let gates = kind.gates();
    let (from, to) = (Layout::PyTorch, Layout::Trainer);
    let mut b = merged_bias(b_ih, b_hh);
    let mut b_hn = Vec::new();
    if kind == CellKind::Gru {
        b[2 * n_h..].copy_from_slice(&b_ih[2 * n_h..]);
        b_hn = b_hh[2 * n_h..].to_vec();
    }
    Layer {
        w_x: convert_g(w_ih, gates, Matrix::Input, n_in, n_h, from, to),
        w_h: convert_g(w_hh, gates, Matrix::Recurrent, n_h, n_h, from, to),
        b,
        b_hn,
    }
}

/// A trainer [`Layer`] as PyTorch's four tensors: `bias_ih` = the merged bias, `bias_hh` = zero except a
/// GRU's n block (`b_hn`). The inverse of [`layer_from_pytorch`] up to how the biases are split.
pub fn layer_to_pytorch<T: Float>(
    kind: CellKind,
    n_in: usize,
    n_h: usize,
    l: &Layer<T>,
) -> [Vec<T>; 4] {
    let gates = kind.gates();
    let (from, to) = (Layout::Trainer, Layout::PyTorch);
    let mut b_hh = vec![T::ZERO; l.b.len()];
    if kind == CellKind::Gru {
        b_hh[2 * n_h..].copy_from_slice(&l.b_hn);
    }
    [
        convert_g(&l.w_x, gates, Matrix::Input, n_in, n_h, from, to),
        convert_g(&l.w_h, gates, Matrix::Recurrent, n_h, n_h, from, to),
        l.b.clone(),
        b_hh,
    ]
}

/// PyTorch's two gate biases as one (`b_ih + b_hh`); adding a zero is skipped so that a `-0.0` bias
/// survives export (which writes `b_hh = 0`) and import bit for bit.
pub fn merged_bias<T: Copy + PartialEq + std::ops::Add<Output = T> + Default>(
    b_ih: &[T],
    b_hh: &[T],
) -> Vec<T> {
    b_ih.iter()
        .zip(b_hh)
        .map(|(&a, &c)| if c == T::default() { a } else { a + c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUTS: [Layout; 3] = [Layout::PyTorch, Layout::File, Layout::Trainer];

    /// Each layout is a bijection onto `0..4·H·n_in`, and converting there and back is the identity.
    #[test]
    fn every_layout_is_a_permutation_and_conversions_round_trip() {
        let (n_in, n_h) = (3, 5);
        let src: Vec<u32> = (0..(4 * n_h * n_in) as u32).collect();
        for m in [Matrix::Input, Matrix::Recurrent] {
            for l in LAYOUTS {
                let mut seen = vec![false; src.len()];
                for g in 0..4 {
                    for k in 0..n_h {
                        for x in 0..n_in {
                            let i = l.index(m, n_in, n_h, g, k, x);
                            assert!(!seen[i], "{l:?} {m:?} repeats {i}");
                            seen[i] = true;
                        }
                    }
                }
                for to in LAYOUTS {
                    let there = convert(&src, m, n_in, n_h, l, to);
                    assert_eq!(convert(&there, m, n_in, n_h, to, l), src, "{l:?} → {to:?}");
                }
            }
        }
    }

    /// Known positions, from the definitions (PyTorch row `g·H + k`, column `x`).
    #[test]
    fn known_positions() {
        let (n_x, n_h) = (2, 3);
        let (g, k, x) = (2, 1, 1);
        assert_eq!(
            Layout::PyTorch.index(Matrix::Input, n_x, n_h, g, k, x),
            7 * 2 + 1
        );
        assert_eq!(
            Layout::File.index(Matrix::Input, n_x, n_h, g, k, x),
            (2 * 2 + 1) * 3 + 1
        );
        assert_eq!(
            Layout::Trainer.index(Matrix::Input, n_x, n_h, g, k, x),
            12 + 2 * 3 + 1
        );
        assert_eq!(
            Layout::File.index(Matrix::Recurrent, n_h, n_h, 3, 0, 2),
            (3 * 3) * 3 + 2
        );
        assert_eq!(
            Layout::Trainer.index(Matrix::Recurrent, n_h, n_h, 3, 0, 2),
            2 * 12 + 3 * 3
        );
    }

    #[test]
    fn merged_bias_keeps_negative_zero() {
        let b = merged_bias(&[-0.0f32, 1.0, 2.0], &[0.0, 0.5, -2.0]);
        assert_eq!(b[0].to_bits(), (-0.0f32).to_bits());
        assert_eq!(&b[1..], &[1.5, 0.0]);
    }
}

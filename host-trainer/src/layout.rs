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
    /// The position of the weight of gate `g`, hidden unit `k`, input column `x`.
    #[inline]
    pub fn index(self, m: Matrix, n_in: usize, n_h: usize, g: usize, k: usize, x: usize) -> usize {
        match (self, m) {
            (Layout::PyTorch, _) | (Layout::File, Matrix::Recurrent) => (g * n_h + k) * n_in + x,
            (Layout::File, Matrix::Input) => (g * n_in + x) * n_h + k,
            (Layout::Trainer, _) => x * 4 * n_h + g * n_h + k,
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
    assert_eq!(src.len(), 4 * n_h * n_in, "layout::convert: wrong length");
    let mut out = src.to_vec();
    for g in 0..4 {
        for k in 0..n_h {
            for x in 0..n_in {
                out[to.index(m, n_in, n_h, g, k, x)] = src[from.index(m, n_in, n_h, g, k, x)];
            }
        }
    }
    out
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

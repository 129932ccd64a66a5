//! The model as the kernels see it: a borrowed, validated [`CellView`] of
//! one LSTM cell and its output layer, and the [`Input`] of one step.

use crate::{Dims, Error};

/// A validated, borrowed view of one LSTM cell and its output layer.
///
/// Tensor layout (all row-major, gate order i, f, g, o as PyTorch):
/// `w_ih[g]` is `[n_x][n_h]`, `w_hh[g]` is `[n_h][n_h]`, `b[g]` is `[n_h]`,
/// `w_y` is `[n_y][n_h]`, `b_y` is `[n_y]`.
#[derive(Debug, Clone, Copy)]
pub struct CellView<'a> {
    pub(crate) n_x: usize,
    pub(crate) n_h: usize,
    pub(crate) n_y: usize,
    pub(crate) w_ih: [&'a [f32]; 4],
    pub(crate) w_hh: [&'a [f32]; 4],
    pub(crate) b: [&'a [f32]; 4],
    pub(crate) w_y: &'a [f32],
    pub(crate) b_y: &'a [f32],
}

impl<'a> CellView<'a> {
    /// Builds a view from per-gate slices, checking every length against the dimensions.
    ///
    /// # Errors
    /// [`Error::TensorLength`] if a slice has the wrong length, [`Error::DimensionOutOfRange`] for a zero size.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_x: usize,
        n_h: usize,
        n_y: usize,
        w_ih: [&'a [f32]; 4],
        w_hh: [&'a [f32]; 4],
        b: [&'a [f32]; 4],
        w_y: &'a [f32],
        b_y: &'a [f32],
    ) -> Result<Self, Error> {
        for (name, v) in [("n_x", n_x), ("n_h", n_h), ("n_y", n_y)] {
            if v == 0 {
                return Err(Error::DimensionOutOfRange {
                    name,
                    value: 0,
                    max: usize::MAX,
                });
            }
        }
        let check = |tensor: &'static str, t: &[f32], expected: usize| {
            if t.len() == expected {
                Ok(())
            } else {
                Err(Error::TensorLength {
                    tensor,
                    expected,
                    found: t.len(),
                })
            }
        };
        for g in 0..4 {
            check("w_ih", w_ih[g], n_x * n_h)?;
            check("w_hh", w_hh[g], n_h * n_h)?;
            check("b", b[g], n_h)?;
        }
        check("w_y", w_y, n_y * n_h)?;
        check("b_y", b_y, n_y)?;
        Ok(CellView {
            n_x,
            n_h,
            n_y,
            w_ih,
            w_hh,
            b,
            w_y,
            b_y,
        })
    }

    /// Builds a view from gate-stacked slices in the file layout (`w_ih` `[4][n_x][n_h]`, …).
    ///
    /// # Errors
    /// As [`CellView::new`].
    pub fn from_stacked(
        dims: Dims,
        w_ih: &'a [f32],
        w_hh: &'a [f32],
        b: &'a [f32],
        w_y: &'a [f32],
        b_y: &'a [f32],
    ) -> Result<Self, Error> {
        let (n_x, n_h, n_y) = (dims.n_x, dims.n_h, dims.n_y);
        CellView::new(
            n_x,
            n_h,
            n_y,
            four_blocks("w_ih", w_ih, n_x * n_h)?,
            four_blocks("w_hh", w_hh, n_h * n_h)?,
            four_blocks("b", b, n_h)?,
            w_y,
            b_y,
        )
    }

    /// The sizes `(n_x, n_h, n_y)`.
    pub fn dims(&self) -> Dims {
        Dims {
            n_x: self.n_x,
            n_h: self.n_h,
            n_y: self.n_y,
        }
    }
}

/// Splits a gate-stacked tensor into its four gate blocks of `each` elements.
fn four_blocks<'a>(
    tensor: &'static str,
    t: &'a [f32],
    each: usize,
) -> Result<[&'a [f32]; 4], Error> {
    let err = Error::TensorLength {
        tensor,
        expected: 4 * each,
        found: t.len(),
    };
    if each == 0 || t.len() != 4 * each {
        return Err(err);
    }
    let mut it = t.chunks_exact(each);
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(a), Some(b), Some(c), Some(d)) => Ok([a, b, c, d]),
        _ => Err(err),
    }
}

/// The input of one step.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A symbol index (one-hot input): `W_ih · x` is column gather.
    Token(usize),
    /// A dense input vector of `n_x` values.
    Dense(&'a [f32]),
}

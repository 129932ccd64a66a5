//! q8 layers and output layers: int8 weights with one f32 scale per output
//! unit, checked against the accumulator bound when the view is built.

use super::{InputLayout, OutputView, RecurrentView, check_len, gate_blocks, nonzero};
use crate::Error;
use crate::format::{CellKind, MAX_Q8_ROW};
use crate::weight_order::WeightOrder;

/// A layer's q8 weights, gate block by gate block (`G` blocks; the unused
/// trailing entries are empty): the int8 values in the f32 layout of
/// [`RecurrentView`] and each block's `n_h` scales (block `q`'s unit `k` is
/// unit `q·n_h + k` of the file's scale vector), in the view's
/// `q8_order`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q8Layer<'a> {
    pub(crate) w_ih: [&'a [i8]; 4],
    pub(crate) s_ih: [&'a [f32]; 4],
    pub(crate) w_hh: [&'a [i8]; 4],
    pub(crate) s_hh: [&'a [f32]; 4],
}

/// A q8 matrix: `rows · n` int8 values in `order` and one scale per row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q8Rows<'a> {
    pub(crate) q: &'a [i8],
    pub(crate) scale: &'a [f32],
    pub(crate) order: WeightOrder,
}

impl<'a> RecurrentView<'a> {
    /// Builds a q8 layer view from gate-stacked slices in the file layout:
    /// `w_ih` (`G·n_in·n_h` int8, [`InputLayout`] order) with `w_ih_scale`
    /// (`G·n_h`, one per gate unit), `w_hh` (`G·n_h·n_h` int8, row-major)
    /// with `w_hh_scale` (`G·n_h`), and f32 `b` (`G·n_h`) and `b_hn` (`n_h`
    /// for gru, empty otherwise).
    ///
    /// The int8 × Q15 products accumulate exactly in i32 only for rows of
    /// at most [`MAX_Q8_ROW`] values in `[-127, 127]` (`quant`'s bound), so
    /// this refuses longer rows and `-128`, never letting a sum wrap.
    /// Row-major matrices should start on a 4-byte boundary for the
    /// Cortex-M4F's word loads (any alignment gives the same bits).
    ///
    /// # Errors
    /// [`Error::DimensionOutOfRange`] for a zero size;
    /// [`Error::AccumulatorBound`] if `n_h` (every `w_hh` row) or, in the
    /// rows layout, `n_in` exceeds [`MAX_Q8_ROW`]; [`Error::TensorLength`]
    /// naming the first slice of the wrong length;
    /// [`Error::QuantOutOfRange`] for a `-128`; [`Error::BadScale`] for a
    /// scale that is not positive and finite.
    #[allow(clippy::too_many_arguments)]
    pub fn new_q8(
        kind: CellKind,
        layout: InputLayout,
        n_in: usize,
        n_h: usize,
        w_ih: &'a [i8],
        w_ih_scale: &'a [f32],
        w_hh: &'a [i8],
        w_hh_scale: &'a [f32],
        b: &'a [f32],
        b_hn: &'a [f32],
    ) -> Result<Self, Error> {
        nonzero(&[("n_in", n_in), ("n_h", n_h)])?;
        accumulator_bound("n_h", n_h)?;
        if layout == InputLayout::Rows {
            accumulator_bound("n_in", n_in)?;
        }
        let g = kind.gates();
        let b_hn_len = if kind == CellKind::Gru { n_h } else { 0 };
        check_len("b_hn", b_hn, b_hn_len)?;
        check_q8("w_ih", w_ih, w_ih_scale, g * n_in * n_h, g * n_h)?;
        check_q8("w_hh", w_hh, w_hh_scale, g * n_h * n_h, g * n_h)?;
        let q8 = Q8Layer {
            w_ih: gate_blocks("w_ih", w_ih, g, n_in * n_h)?,
            s_ih: gate_blocks("w_ih.scale", w_ih_scale, g, n_h)?,
            w_hh: gate_blocks("w_hh", w_hh, g, n_h * n_h)?,
            s_hh: gate_blocks("w_hh.scale", w_hh_scale, g, n_h)?,
        };
        Ok(RecurrentView {
            kind,
            layout,
            n_in,
            n_h,
            w_ih: [&[]; 4],
            w_hh: [&[]; 4],
            b: gate_blocks("b", b, g, n_h)?,
            b_hn,
            q8: Some(q8),
            q8_order: WeightOrder::RowMajor,
        })
    }
}

impl<'a> OutputView<'a> {
    /// Builds a q8 output view: `w_y` `[n_y][n_h]` int8 row-major (best on
    /// a 4-byte boundary), one scale per row, f32 `b_y` `[n_y]`.
    ///
    /// # Errors
    /// [`Error::DimensionOutOfRange`] for a zero size,
    /// [`Error::AccumulatorBound`] if `n_h` exceeds [`MAX_Q8_ROW`], and as
    /// [`RecurrentView::new_q8`] for the weights and scales.
    pub fn new_q8(
        n_h: usize,
        n_y: usize,
        w_y: &'a [i8],
        w_y_scale: &'a [f32],
        b_y: &'a [f32],
    ) -> Result<Self, Error> {
        nonzero(&[("n_h", n_h), ("n_y", n_y)])?;
        accumulator_bound("n_h", n_h)?;
        check_q8("w_y", w_y, w_y_scale, n_y * n_h, n_y)?;
        check_len("b_y", b_y, n_y)?;
        Ok(OutputView {
            n_h,
            n_y,
            w_y: &[],
            b_y,
            q8: Some(Q8Rows {
                q: w_y,
                scale: w_y_scale,
                order: WeightOrder::RowMajor,
            }),
        })
    }

    /// Marks a q8 output's `w_y` as stored in `order` ([`crate::weight_order`];
    /// [`OutputView::new_q8`] takes row-major). An f32 view is returned unchanged.
    #[must_use]
    pub fn with_weight_order(mut self, order: WeightOrder) -> Self {
        if let Some(w) = &mut self.q8 {
            w.order = order;
        }
        self
    }
}

impl RecurrentView<'_> {
    /// Marks a q8 layer's `w_hh` gate blocks and, in the rows layout, its
    /// `w_ih` gate blocks as stored in `order` ([`crate::weight_order`]:
    /// each block of `n_h` rows interleaved on its own;
    /// [`RecurrentView::new_q8`] takes row-major). A gather-layout `w_ih`
    /// stays as it is; an f32 view is returned unchanged.
    #[must_use]
    pub fn with_weight_order(mut self, order: WeightOrder) -> Self {
        if self.q8.is_some() {
            self.q8_order = order;
        }
        self
    }
}

/// A row of `n` int8 × Q15 terms must fit the exact i32 sum.
fn accumulator_bound(name: &'static str, n: usize) -> Result<(), Error> {
    if n > MAX_Q8_ROW {
        return Err(Error::AccumulatorBound {
            name,
            n,
            max: MAX_Q8_ROW,
        });
    }
    Ok(())
}

/// A q8 matrix's lengths, values (no `-128`) and scales (positive, finite).
fn check_q8(
    tensor: &'static str,
    q: &[i8],
    scale: &[f32],
    len: usize,
    units: usize,
) -> Result<(), Error> {
    check_len(tensor, q, len)?;
    let scale_name = match tensor {
        "w_ih" => "w_ih.scale",
        "w_hh" => "w_hh.scale",
        _ => "w_y.scale",
    };
    check_len(scale_name, scale, units)?;
    if let Some(index) = q.iter().position(|&v| v == i8::MIN) {
        return Err(Error::QuantOutOfRange { tensor, index });
    }
    if let Some(index) = scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::BadScale {
            tensor: scale_name,
            index,
        });
    }
    Ok(())
}

//! The model as the kernels see it, borrowed and validated: a
//! [`RecurrentView`] of one layer of any cell kind, an [`OutputView`], a
//! [`NetworkView`] of 1 to 4 stacked layers with the output on top, the
//! single-layer LSTM [`CellView`] (what the const-generic [`crate::Lstm`]
//! and the first tools use), and the [`Input`] of one step.

use crate::format::{CellKind, Dtype, MAX_LAYERS};
use crate::weight_order::WeightOrder;
use crate::{Dims, Error, InputKind};

mod family;
mod q8;

pub(crate) use q8::{Q8Layer, Q8Rows};

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

    /// The recurrent layer (an LSTM whose `w_ih` is in the gather layout).
    pub fn layer(&self) -> RecurrentView<'a> {
        RecurrentView {
            kind: CellKind::Lstm,
            layout: InputLayout::Gather,
            n_in: self.n_x,
            n_h: self.n_h,
            w_ih: self.w_ih,
            w_hh: self.w_hh,
            b: self.b,
            b_hn: &[],
            q8: None,
            q8_order: WeightOrder::RowMajor,
        }
    }

    /// The output layer.
    pub fn output(&self) -> OutputView<'a> {
        OutputView {
            n_h: self.n_h,
            n_y: self.n_y,
            w_y: self.w_y,
            b_y: self.b_y,
            q8: None,
        }
    }

    /// The same model as a one-layer [`NetworkView`] taking `input`.
    pub fn network(&self, input: InputKind) -> NetworkView<'a> {
        let layer = self.layer();
        NetworkView {
            input,
            n_layers: 1,
            layers: [layer; MAX_LAYERS],
            output: self.output(),
        }
    }
}

/// How a layer's input weights `w_ih` are laid out (see [`RecurrentView`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputLayout {
    /// `[G][n_in][n_h]`, each gate block transposed (layer 0): a one-hot
    /// input reads one contiguous column per gate; a dense input is summed
    /// by fused multiply-adds in input order.
    Gather,
    /// `[G·n_h][n_in]`, row-major (layers above 0): the dense input (the
    /// layer below's new h) goes through the eight-lane `gemv`.
    Rows,
}

/// A validated, borrowed view of one recurrent layer of any cell kind.
///
/// Tensors (gate blocks in PyTorch's order: lstm i, f, g, o; gru r, z, n;
/// rnn one block; `G` blocks):
/// - `w_ih`: `G` blocks of `n_in · n_h` values, laid out as [`InputLayout`] says;
/// - `w_hh`: `G` blocks of `[n_h][n_h]`, row-major (`W_hh` block `q`);
/// - `b`: `G` blocks of `n_h` (lstm/rnn `b_ih + b_hh`; gru `b_ir + b_hr`,
///   `b_iz + b_hz`, `b_in`);
/// - `b_hn`: the gru's `[n_h]` (inside the `r` product); empty otherwise.
///
/// A q8 layer ([`RecurrentView::new_q8`]) has the same shapes with int8
/// weights and one f32 scale per gate unit; its biases are f32.
#[derive(Debug, Clone, Copy)]
pub struct RecurrentView<'a> {
    pub(crate) kind: CellKind,
    pub(crate) layout: InputLayout,
    pub(crate) n_in: usize,
    pub(crate) n_h: usize,
    /// f32 weights (empty blocks for a q8 layer).
    pub(crate) w_ih: [&'a [f32]; 4],
    pub(crate) w_hh: [&'a [f32]; 4],
    pub(crate) b: [&'a [f32]; 4],
    pub(crate) b_hn: &'a [f32],
    /// The q8 weights, if the layer is q8.
    pub(crate) q8: Option<Q8Layer<'a>>,
    /// The order of the q8 `w_hh` gate blocks and, in the rows layout, the
    /// `w_ih` gate blocks (each block its own `n_h`-row matrix; a
    /// gather-layout `w_ih` is never reordered). Here, not in [`Q8Layer`],
    /// so it fills padding beside `kind` and `layout`.
    pub(crate) q8_order: WeightOrder,
}

impl<'a> RecurrentView<'a> {
    /// Builds a layer view from gate-stacked slices in the file layout
    /// (`w_ih` `G·n_in·n_h`, `w_hh` `G·n_h·n_h`, `b` `G·n_h`, `b_hn` `n_h`
    /// for gru and empty otherwise), checking every length.
    ///
    /// # Errors
    /// [`Error::DimensionOutOfRange`] for a zero size, [`Error::TensorLength`]
    /// naming the first slice of the wrong length.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: CellKind,
        layout: InputLayout,
        n_in: usize,
        n_h: usize,
        w_ih: &'a [f32],
        w_hh: &'a [f32],
        b: &'a [f32],
        b_hn: &'a [f32],
    ) -> Result<Self, Error> {
        nonzero(&[("n_in", n_in), ("n_h", n_h)])?;
        let g = kind.gates();
        let b_hn_len = if kind == CellKind::Gru { n_h } else { 0 };
        check_len("b_hn", b_hn, b_hn_len)?;
        Ok(RecurrentView {
            kind,
            layout,
            n_in,
            n_h,
            w_ih: gate_blocks("w_ih", w_ih, g, n_in * n_h)?,
            w_hh: gate_blocks("w_hh", w_hh, g, n_h * n_h)?,
            b: gate_blocks("b", b, g, n_h)?,
            b_hn,
            q8: None,
            q8_order: WeightOrder::RowMajor,
        })
    }

    /// The cell kind.
    pub fn kind(&self) -> CellKind {
        self.kind
    }

    /// The layout of `w_ih`.
    pub fn layout(&self) -> InputLayout {
        self.layout
    }

    /// Input size (`n_x` for layer 0, `n_h` above).
    pub fn n_in(&self) -> usize {
        self.n_in
    }

    /// Hidden size.
    pub fn n_h(&self) -> usize {
        self.n_h
    }

    /// Length of the cell state `c` a step takes: `n_h` for lstm, 0 otherwise.
    pub fn cell_state_len(&self) -> usize {
        if self.kind.has_cell_state() {
            self.n_h
        } else {
            0
        }
    }

    /// The weights' dtype.
    pub fn dtype(&self) -> Dtype {
        if self.q8.is_some() {
            Dtype::Q8
        } else {
            Dtype::F32
        }
    }

    /// Scratch a step of `m` hidden units needs (`m = n_h` for a whole step):
    /// lstm `4·m` (`5·m` with [`InputLayout::Rows`]), gru `4·m`, rnn `m`
    /// (`2·m` with rows); a q8 layer adds room for its Q15 operands,
    /// `⌈n_h/2⌉` (the previous h) and, with rows, `⌈n_in/2⌉` (the input).
    pub fn scratch_len(&self, m: usize) -> usize {
        let rows = usize::from(self.layout == InputLayout::Rows);
        let f32_len = match self.kind {
            CellKind::Lstm => (4 + rows) * m,
            CellKind::Gru => 4 * m,
            CellKind::Rnn => (1 + rows) * m,
        };
        f32_len + self.packed_len()
    }

    /// Words of scratch the Q15 operands of a q8 step take (0 for f32): the
    /// previous h, then (rows layout) the input, each from a word boundary.
    pub(crate) fn packed_len(&self) -> usize {
        match (self.q8, self.layout) {
            (None, _) => 0,
            (Some(_), InputLayout::Gather) => self.n_h.div_ceil(2),
            (Some(_), InputLayout::Rows) => self.n_h.div_ceil(2) + self.n_in.div_ceil(2),
        }
    }
}

/// A validated, borrowed view of the output layer: `logits = W_y h + b_y`,
/// `w_y` `[n_y][n_h]` row-major, `b_y` `[n_y]` (q8: int8 `w_y` with one
/// scale per row, [`OutputView::new_q8`]).
#[derive(Debug, Clone, Copy)]
pub struct OutputView<'a> {
    pub(crate) n_h: usize,
    pub(crate) n_y: usize,
    /// f32 weights (empty for a q8 output).
    pub(crate) w_y: &'a [f32],
    pub(crate) b_y: &'a [f32],
    /// The q8 weights, if the output is q8.
    pub(crate) q8: Option<Q8Rows<'a>>,
}

impl<'a> OutputView<'a> {
    /// Builds the output view, checking the lengths.
    ///
    /// # Errors
    /// [`Error::DimensionOutOfRange`] for a zero size, [`Error::TensorLength`].
    pub fn new(n_h: usize, n_y: usize, w_y: &'a [f32], b_y: &'a [f32]) -> Result<Self, Error> {
        nonzero(&[("n_h", n_h), ("n_y", n_y)])?;
        check_len("w_y", w_y, n_y * n_h)?;
        check_len("b_y", b_y, n_y)?;
        Ok(OutputView {
            n_h,
            n_y,
            w_y,
            b_y,
            q8: None,
        })
    }

    /// Output size (the vocabulary size).
    pub fn n_y(&self) -> usize {
        self.n_y
    }

    /// The weights' dtype.
    pub fn dtype(&self) -> Dtype {
        if self.q8.is_some() {
            Dtype::Q8
        } else {
            Dtype::F32
        }
    }

    /// Words of scratch a q8 output's Q15 `h` takes (0 for f32).
    pub(crate) fn packed_len(&self) -> usize {
        if self.q8.is_some() {
            self.n_h.div_ceil(2)
        } else {
            0
        }
    }
}

/// A validated, borrowed view of a whole model: 1 to [`MAX_LAYERS`] stacked
/// layers of one cell kind and hidden size (layer 0 takes the input, layer
/// `k > 0` layer `k − 1`'s new h), and the output layer on the last layer's h.
///
/// The state of a network is one `h` per layer and (lstm) one `c` per layer,
/// each laid out layer after layer: `h` is [`NetworkView::state_len`] values
/// (layer `l` at `l·n_h..(l+1)·n_h`), `c` [`NetworkView::cell_state_len`].
#[derive(Debug, Clone, Copy)]
pub struct NetworkView<'a> {
    pub(crate) input: InputKind,
    pub(crate) n_layers: usize,
    pub(crate) layers: [RecurrentView<'a>; MAX_LAYERS],
    pub(crate) output: OutputView<'a>,
}

impl<'a> NetworkView<'a> {
    /// Builds a network from its layers (bottom first) and output layer.
    ///
    /// # Errors
    /// [`Error::DimensionOutOfRange`] for no layers or more than
    /// [`MAX_LAYERS`]; [`Error::UnsupportedModel`] for mixed cell kinds;
    /// [`Error::DimensionMismatch`] for a hidden size that differs between
    /// layers or from the output's, a layer above 0 whose input is not
    /// `n_h` or whose `w_ih` is not in the rows layout, or a layer 0 not in
    /// the gather layout.
    pub fn new(
        input: InputKind,
        layers: &[RecurrentView<'a>],
        output: OutputView<'a>,
    ) -> Result<Self, Error> {
        let first = match layers {
            [first, ..] if layers.len() <= MAX_LAYERS => *first,
            _ => {
                return Err(Error::DimensionOutOfRange {
                    name: "n_layers",
                    value: layers.len(),
                    max: MAX_LAYERS,
                });
            }
        };
        let n_h = first.n_h;
        let mismatch = |name, expected, found| {
            if expected == found {
                Ok(())
            } else {
                Err(Error::DimensionMismatch {
                    name,
                    expected,
                    found,
                })
            }
        };
        mismatch("n_h", n_h, output.n_h)?;
        let mut all = [first; MAX_LAYERS];
        for (l, (slot, layer)) in all.iter_mut().zip(layers).enumerate() {
            if layer.kind != first.kind {
                return Err(Error::UnsupportedModel {
                    what: "layers of different cell kinds",
                });
            }
            mismatch("n_h", n_h, layer.n_h)?;
            let want = if l == 0 {
                InputLayout::Gather
            } else {
                mismatch("n_in", n_h, layer.n_in)?;
                InputLayout::Rows
            };
            if layer.layout != want {
                return Err(Error::DimensionMismatch {
                    name: "w_ih layout (0 = gather for layer 0, 1 = rows above)",
                    expected: usize::from(want == InputLayout::Rows),
                    found: usize::from(layer.layout == InputLayout::Rows),
                });
            }
            *slot = *layer;
        }
        Ok(NetworkView {
            input,
            n_layers: layers.len(),
            layers: all,
            output,
        })
    }

    /// The layers, bottom first.
    pub fn layers(&self) -> &[RecurrentView<'a>] {
        self.layers.get(..self.n_layers).unwrap_or(&self.layers)
    }

    /// The output layer.
    pub fn output(&self) -> &OutputView<'a> {
        &self.output
    }

    /// Input kind of layer 0.
    pub fn input(&self) -> InputKind {
        self.input
    }

    /// Cell kind of every layer.
    pub fn kind(&self) -> CellKind {
        self.layers[0].kind
    }

    /// Number of layers.
    pub fn n_layers(&self) -> usize {
        self.n_layers
    }

    /// Input (layer 0), hidden (every layer) and output sizes.
    pub fn dims(&self) -> Dims {
        Dims {
            n_x: self.layers[0].n_in,
            n_h: self.layers[0].n_h,
            n_y: self.output.n_y,
        }
    }

    /// Length of the hidden state of every layer: `n_layers · n_h`.
    pub fn state_len(&self) -> usize {
        self.n_layers * self.layers[0].n_h
    }

    /// Length of the cell state of every layer: `n_layers · n_h` for lstm, 0 otherwise.
    pub fn cell_state_len(&self) -> usize {
        self.n_layers * self.layers[0].cell_state_len()
    }

    /// The weights' dtype (layer 0's; [`NetworkView::new`] lets layers and
    /// output differ, [`NetworkView::from_family`] never does).
    pub fn dtype(&self) -> Dtype {
        self.layers[0].dtype()
    }

    /// Scratch a whole step needs: the largest [`RecurrentView::scratch_len`]`(n_h)`
    /// of the layers (lstm `4·n_h`, `5·n_h` with two or more layers; gru
    /// `4·n_h`; rnn `n_h`, `2·n_h` with two or more layers; a q8 model adds
    /// its Q15 operands, `⌈n_h/2⌉` and from layer 1 another `⌈n_h/2⌉`). It
    /// also covers [`crate::Kernel::network_logits`].
    pub fn scratch_len(&self) -> usize {
        self.layers()
            .iter()
            .map(|l| l.scratch_len(l.n_h))
            .fold(self.output.packed_len(), usize::max)
    }

    /// The single-layer LSTM [`CellView`] of this network, if it is one.
    pub fn cell_view(&self) -> Option<CellView<'a>> {
        let l = &self.layers[0];
        let f32 = l.q8.is_none() && self.output.q8.is_none();
        (f32 && self.n_layers == 1 && l.kind == CellKind::Lstm && l.layout == InputLayout::Gather)
            .then_some(CellView {
                n_x: l.n_in,
                n_h: l.n_h,
                n_y: self.output.n_y,
                w_ih: l.w_ih,
                w_hh: l.w_hh,
                b: l.b,
                w_y: self.output.w_y,
                b_y: self.output.b_y,
            })
    }
}

/// A zero size is an error naming it.
fn nonzero(dims: &[(&'static str, usize)]) -> Result<(), Error> {
    match dims.iter().find(|(_, v)| *v == 0) {
        Some(&(name, _)) => Err(Error::DimensionOutOfRange {
            name,
            value: 0,
            max: usize::MAX,
        }),
        None => Ok(()),
    }
}

fn check_len<T>(tensor: &'static str, t: &[T], expected: usize) -> Result<(), Error> {
    if t.len() == expected {
        Ok(())
    } else {
        Err(Error::TensorLength {
            tensor,
            expected,
            found: t.len(),
        })
    }
}

/// Splits a gate-stacked tensor into `g` blocks of `each` elements (the
/// unused trailing entries of the array are empty).
fn gate_blocks<'a, T>(
    tensor: &'static str,
    t: &'a [T],
    g: usize,
    each: usize,
) -> Result<[&'a [T]; 4], Error> {
    check_len(tensor, t, g * each)?;
    let mut out: [&'a [T]; 4] = [&[]; 4];
    for (o, block) in out.iter_mut().zip(t.chunks_exact(each.max(1))) {
        *o = block;
    }
    Ok(out)
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

//! The model as the kernels see it, borrowed and validated: a
//! [`RecurrentView`] of one layer of any cell kind, an [`OutputView`], a
//! [`NetworkView`] of 1 to 4 stacked layers with the output on top, the
//! single-layer LSTM [`CellView`] (what the const-generic [`crate::Lstm`]
//! and the first tools use), and the [`Input`] of one step.

use crate::format::{CellKind, FamilyView, MAX_LAYERS, Tensor, Weights};
use crate::{Dims, Error, InputKind};

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
        }
    }

    /// The output layer.
    pub fn output(&self) -> OutputView<'a> {
        OutputView {
            n_h: self.n_h,
            n_y: self.n_y,
            w_y: self.w_y,
            b_y: self.b_y,
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
#[derive(Debug, Clone, Copy)]
pub struct RecurrentView<'a> {
    pub(crate) kind: CellKind,
    pub(crate) layout: InputLayout,
    pub(crate) n_in: usize,
    pub(crate) n_h: usize,
    pub(crate) w_ih: [&'a [f32]; 4],
    pub(crate) w_hh: [&'a [f32]; 4],
    pub(crate) b: [&'a [f32]; 4],
    pub(crate) b_hn: &'a [f32],
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

    /// Scratch a step of `m` hidden units needs (`m = n_h` for a whole step):
    /// lstm `4·m` (`5·m` with [`InputLayout::Rows`]), gru `4·m`, rnn `m`
    /// (`2·m` with rows).
    pub fn scratch_len(&self, m: usize) -> usize {
        let rows = usize::from(self.layout == InputLayout::Rows);
        match self.kind {
            CellKind::Lstm => (4 + rows) * m,
            CellKind::Gru => 4 * m,
            CellKind::Rnn => (1 + rows) * m,
        }
    }
}

/// A validated, borrowed view of the output layer: `logits = W_y h + b_y`,
/// `w_y` `[n_y][n_h]` row-major, `b_y` `[n_y]`.
#[derive(Debug, Clone, Copy)]
pub struct OutputView<'a> {
    pub(crate) n_h: usize,
    pub(crate) n_y: usize,
    pub(crate) w_y: &'a [f32],
    pub(crate) b_y: &'a [f32],
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
        Ok(OutputView { n_h, n_y, w_y, b_y })
    }

    /// Output size (the vocabulary size).
    pub fn n_y(&self) -> usize {
        self.n_y
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

    /// Number of `f32`s [`NetworkView::from_family`] copies a model into: every
    /// layer's `w_ih`, `w_hh`, `b`, `b_hn`, then `w_y` and `b_y`
    /// (`header.param_count()`).
    pub fn storage_len(family: &FamilyView<'_>) -> usize {
        family.header.param_count()
    }

    /// Copies an f32 model decoded from a file (any version, cell kind and
    /// layer count) into `storage` (4-byte aligned, as the file's bytes need
    /// not be) and builds its view over it.
    ///
    /// # Errors
    /// [`Error::UnsupportedModel`] for q8 weights, [`Error::BufferTooSmall`]
    /// if `storage` is not exactly [`NetworkView::storage_len`] long.
    pub fn from_family<'s>(
        family: &FamilyView<'_>,
        storage: &'s mut [f32],
    ) -> Result<NetworkView<'s>, Error> {
        let h = family.header;
        let needed = Self::storage_len(family);
        if storage.len() != needed {
            return Err(Error::BufferTooSmall {
                needed,
                available: storage.len(),
            });
        }
        fn f32_of(w: Weights<'_>) -> Result<Tensor<'_>, Error> {
            w.as_f32().ok_or(Error::UnsupportedModel {
                what: "q8 weights (dequantize them, or use the q8 kernels)",
            })
        }
        // Copy every tensor in file order, then split the storage into
        // shared slices of the lengths the (validated) header gives.
        let mut rest: &mut [f32] = storage;
        let mut put = |t: Tensor<'_>| -> Result<(), Error> {
            let all = core::mem::take(&mut rest);
            let (head, tail) = all.split_at_mut(t.len().min(all.len()));
            t.copy_to(head)?;
            rest = tail;
            Ok(())
        };
        for layer in family.layers() {
            put(f32_of(layer.w_ih)?)?;
            put(f32_of(layer.w_hh)?)?;
            put(layer.b)?;
            put(layer.b_hn)?;
        }
        put(f32_of(family.w_y)?)?;
        put(family.b_y)?;
        let mut rest: &'s [f32] = storage;
        let mut next = |len: usize| {
            let (head, tail) = rest.split_at(len.min(rest.len()));
            rest = tail;
            head
        };
        let (n_h, n_y) = (h.dims.n_h, h.dims.n_y);
        let mut layers: heapless::Vec<RecurrentView<'s>, MAX_LAYERS> = heapless::Vec::new();
        for l in 0..h.n_layers {
            let layout = if l == 0 {
                InputLayout::Gather
            } else {
                InputLayout::Rows
            };
            let layer = RecurrentView::new(
                h.cell,
                layout,
                h.n_in(l),
                n_h,
                next(h.w_ih_len(l)),
                next(h.w_hh_len()),
                next(h.b_len()),
                next(h.b_hn_len()),
            )?;
            layers.push(layer).map_err(|_| Error::DimensionOutOfRange {
                name: "n_layers",
                value: h.n_layers,
                max: MAX_LAYERS,
            })?;
        }
        let output = OutputView::new(n_h, n_y, next(n_y * n_h), next(n_y))?;
        NetworkView::new(h.input, &layers, output)
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

    /// Scratch a whole step needs: the largest [`RecurrentView::scratch_len`]`(n_h)`
    /// of the layers (lstm `4·n_h`, `5·n_h` with two or more layers; gru
    /// `4·n_h`; rnn `n_h`, `2·n_h` with two or more layers).
    pub fn scratch_len(&self) -> usize {
        self.layers()
            .iter()
            .map(|l| l.scratch_len(l.n_h))
            .max()
            .unwrap_or(0)
    }

    /// The single-layer LSTM [`CellView`] of this network, if it is one.
    pub fn cell_view(&self) -> Option<CellView<'a>> {
        let l = &self.layers[0];
        (self.n_layers == 1 && l.kind == CellKind::Lstm && l.layout == InputLayout::Gather)
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

fn check_len(tensor: &'static str, t: &[f32], expected: usize) -> Result<(), Error> {
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
fn gate_blocks<'a>(
    tensor: &'static str,
    t: &'a [f32],
    g: usize,
    each: usize,
) -> Result<[&'a [f32]; 4], Error> {
    check_len(tensor, t, g * each)?;
    let mut out: [&'a [f32]; 4] = [&[]; 4];
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

//! [`NetworkView::from_family`]: a model decoded from a file, f32 or q8,
//! copied into caller storage and viewed.

use super::{InputLayout, NetworkView, OutputView, RecurrentView};
use crate::Error;
use crate::format::{Dtype, FamilyView, MAX_LAYERS, Weights};

impl NetworkView<'_> {
    /// Number of `f32`s [`NetworkView::from_family`] copies a model into:
    /// every layer's `w_ih`, `w_hh`, `b`, `b_hn`, then `w_y` and `b_y`, in
    /// file order. f32: `header.param_count()`. q8: each int8 matrix packed
    /// four values to a word (rounded up, so every matrix starts on a 4-byte
    /// boundary) followed by its scales (a shared-scale `w_hh` has none:
    /// it uses its `w_ih`'s), and the f32 biases.
    pub fn storage_len(family: &FamilyView<'_>) -> usize {
        let h = family.header;
        match h.dtype {
            Dtype::F32 => h.param_count(),
            Dtype::Q8 | Dtype::Q8Shared => {
                let mut words = (h.dims.n_y * h.dims.n_h).div_ceil(4);
                for l in 0..h.n_layers {
                    words += h.w_ih_len(l).div_ceil(4) + h.w_hh_len().div_ceil(4);
                }
                words + h.scale_count() + h.bias_count()
            }
        }
    }

    /// Copies a model decoded from a file (any version, cell kind, layer
    /// count and dtype) into `storage` (4-byte aligned, as the file's bytes
    /// need not be) and builds its view over it. A q8 model's view runs the
    /// q8 step (int8 × Q15 products, see [`crate::quant`]) in every kernel.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if `storage` is not exactly
    /// [`NetworkView::storage_len`] long; for q8, what
    /// [`RecurrentView::new_q8`] refuses (the accumulator bound is already
    /// checked by the decoder).
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
        // Copy every tensor in file order, then split the storage into
        // shared slices of the lengths the (validated) header gives.
        let shared = h.dtype.shares_scales();
        let mut rest: &mut [f32] = storage;
        for layer in family.layers() {
            put(&mut rest, layer.w_ih, true)?;
            put(&mut rest, layer.w_hh, !shared)?;
            put(&mut rest, Weights::F32(layer.b), true)?;
            put(&mut rest, Weights::F32(layer.b_hn), true)?;
        }
        put(&mut rest, family.w_y, true)?;
        put(&mut rest, Weights::F32(family.b_y), true)?;
        let q8 = h.dtype.is_q8();
        let mut r = Reader { rest: storage, q8 };
        let (n_h, n_y) = (h.dims.n_h, h.dims.n_y);
        let units = h.layer_scale_len();
        let mut layers: heapless::Vec<RecurrentView<'s>, MAX_LAYERS> = heapless::Vec::new();
        for l in 0..h.n_layers {
            let layout = if l == 0 {
                InputLayout::Gather
            } else {
                InputLayout::Rows
            };
            let (w_ih, q_ih, s_ih) = r.matrix(h.w_ih_len(l), units);
            let (w_hh, q_hh, s_hh) = r.matrix(h.w_hh_len(), if shared { 0 } else { units });
            // Shared scales: the same slice for both products.
            let s_hh = if shared { s_ih } else { s_hh };
            let (b, b_hn) = (r.f32(h.b_len()), r.f32(h.b_hn_len()));
            let (kind, n_in) = (h.cell, h.n_in(l));
            let layer = if q8 {
                RecurrentView::new_q8(kind, layout, n_in, n_h, q_ih, s_ih, q_hh, s_hh, b, b_hn)?
            } else {
                RecurrentView::new(kind, layout, n_in, n_h, w_ih, w_hh, b, b_hn)?
            };
            layers.push(layer).map_err(|_| Error::DimensionOutOfRange {
                name: "n_layers",
                value: h.n_layers,
                max: MAX_LAYERS,
            })?;
        }
        let (w_y, q_y, s_y) = r.matrix(n_y * n_h, n_y);
        let b_y = r.f32(n_y);
        let output = if q8 {
            OutputView::new_q8(n_h, n_y, q_y, s_y, b_y)?
        } else {
            OutputView::new(n_h, n_y, w_y, b_y)?
        };
        NetworkView::new(h.input, &layers, output)
    }
}

/// Copies one tensor into the next words of `rest`: f32 values as they
/// are; int8 values four to a word (the last word zero-padded), then the
/// scales if `scales` (not for a `w_hh` that uses its `w_ih`'s).
fn put(rest: &mut &mut [f32], w: Weights<'_>, scales: bool) -> Result<(), Error> {
    match w {
        Weights::F32(t) => t.copy_to(take_mut(rest, t.len())),
        Weights::Q8(t) => {
            let words = take_mut(rest, t.len().div_ceil(4));
            let bytes: &mut [i8] = bytemuck::cast_slice_mut(words);
            let (q, pad) = bytes.split_at_mut(t.len().min(bytes.len()));
            q.copy_from_slice(t.q().get(..q.len()).unwrap_or_default());
            pad.fill(0);
            let scale = t.scale();
            if !scales {
                return Ok(());
            }
            scale.copy_to(take_mut(rest, scale.len()))
        }
    }
}

/// Reads back what [`put`] wrote, as shared slices.
struct Reader<'s> {
    rest: &'s [f32],
    q8: bool,
}

impl<'s> Reader<'s> {
    /// The next `len` f32 values.
    fn f32(&mut self, len: usize) -> &'s [f32] {
        let (head, tail) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = tail;
        head
    }

    /// The next matrix of `len` values and `units` scales: f32 values (and
    /// no int8), or int8 values and their scales (and no f32).
    fn matrix(&mut self, len: usize, units: usize) -> (&'s [f32], &'s [i8], &'s [f32]) {
        if self.q8 {
            let bytes: &'s [i8] = bytemuck::cast_slice(self.f32(len.div_ceil(4)));
            (&[], bytes.get(..len).unwrap_or_default(), self.f32(units))
        } else {
            (self.f32(len), &[], &[])
        }
    }
}

/// Takes the first `n` values (at most all) off `rest`.
fn take_mut<'x>(rest: &mut &'x mut [f32], n: usize) -> &'x mut [f32] {
    let all = core::mem::take(rest);
    let (head, tail) = all.split_at_mut(n.min(all.len()));
    *rest = tail;
    head
}

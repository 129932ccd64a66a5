//! The network-level entry points of [`Kernel`]: one step of every layer of
//! a stack, and the output layer on the top layer's state.

use super::{ANY, Kernel, check_at_least, check_compiled, check_input, check_len};
use crate::Error;
use crate::format::Dtype;
use crate::view::{Input, NetworkView};

impl Kernel {
    /// One step of every layer of `net`, bottom first (layer `k > 0` takes
    /// layer `k − 1`'s new h): `h` ([`NetworkView::state_len`]) and `c`
    /// ([`NetworkView::cell_state_len`]) hold every layer's state, layer
    /// after layer, updated in place; `scratch` has at least
    /// [`NetworkView::scratch_len`] values.
    ///
    /// # Errors
    /// Wrong buffer lengths, a token out of range or a dense input of the wrong length.
    pub fn network_step(
        self,
        net: &NetworkView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.network_step_of::<ANY, ANY>(net, x, h, c, scratch)
    }

    /// [`Kernel::network_step`] for a network of the cell kind whose
    /// [`CellKind::code`](crate::format::CellKind::code) is `CELL` and of
    /// the dtype whose [`Dtype::code`] is `DTYPE`, with only that kind's
    /// body and that dtype's products compiled in ([`ANY`]: every one), so
    /// a firmware links what its model needs. The same bits as
    /// [`Kernel::network_step`].
    ///
    /// # Errors
    /// As [`Kernel::network_step`]; [`Error::UnsupportedModel`] for a
    /// network of another kind or dtype.
    pub fn network_step_of<const CELL: u8, const DTYPE: u8>(
        self,
        net: &NetworkView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        check_len(h.len(), net.state_len())?;
        check_len(c.len(), net.cell_state_len())?;
        check_at_least(scratch.len(), net.scratch_len())?;
        check_input(&net.layers[0], x)?;
        let n_h = net.dims().n_h;
        let c_len = net.layers[0].cell_state_len();
        let mut below: &mut [f32] = &mut [];
        let (mut h_rest, mut c_rest) = (h, c);
        for (l, layer) in net.layers().iter().enumerate() {
            let (h_l, h_tail) = core::mem::take(&mut h_rest).split_at_mut(n_h);
            let (c_l, c_tail) = core::mem::take(&mut c_rest).split_at_mut(c_len);
            let input = if l == 0 { x } else { Input::Dense(below) };
            self.layer_step_of::<CELL, DTYPE>(layer, input, h_l, c_l, scratch)?;
            (below, h_rest, c_rest) = (h_l, h_tail, c_tail);
        }
        Ok(())
    }

    /// The output layer of `net` on its last layer's hidden state: `h` is
    /// every layer's state ([`NetworkView::state_len`]), `logits` `n_y`
    /// values; `scratch` has at least [`NetworkView::scratch_len`] values (a
    /// q8 output packs its Q15 state there). The same bits as
    /// [`Kernel::output_logits`] on the top layer's `h`.
    ///
    /// # Errors
    /// Wrong buffer lengths.
    pub fn network_logits(
        self,
        net: &NetworkView<'_>,
        h: &[f32],
        logits: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.network_logits_of::<ANY>(net, h, logits, scratch)
    }

    /// [`Kernel::network_logits`] with only dtype `DTYPE`'s product
    /// compiled in ([`ANY`]: both), as [`Kernel::network_step_of`].
    ///
    /// # Errors
    /// As [`Kernel::network_logits`]; [`Error::UnsupportedModel`] for an
    /// output of another dtype.
    pub fn network_logits_of<const DTYPE: u8>(
        self,
        net: &NetworkView<'_>,
        h: &[f32],
        logits: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        check_compiled::<ANY, DTYPE>(ANY, net.output.dtype())?;
        let mut output = net.output;
        if DTYPE == Dtype::F32.code() {
            output.q8 = None;
        }
        check_len(h.len(), net.state_len())?;
        let words = output.packed_len();
        check_at_least(scratch.len(), words)?;
        let top = &h[h.len() - output.n_h..];
        let hq: &mut [i16] = bytemuck::cast_slice_mut(&mut scratch[..words]);
        self.logits_with(&output, top, hq, logits)
    }
}

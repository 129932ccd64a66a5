//! [`Arch`]: the per-architecture primitives the cell bodies are written
//! over, each with its contract, and their scalar reference definitions.
//!
//! Every method's contract fixes the floating-point operations and their
//! order, so any implementation that keeps it gives the same bits as the
//! default (scalar) one. An architecture overrides a method only to compute
//! the same operations faster.

use crate::lut::{sigmoid_table_with, tanh_table_with};
use crate::math::{exp_with, sigmoid_with, tanh_with};
use crate::quant::{dequantize, dot_q8, q8_output, q15};
use crate::weight_order::{WeightOrder, quad_index};

/// The primitives one architecture provides (a zero-sized token type; a value
/// of it is proof that the running CPU can execute them).
///
/// Lengths are the caller's to get right; each method `debug_assert!`s them.
pub(crate) trait Arch: Copy {
    /// `a·b + c` with a single rounding (IEEE 754 `fusedMultiplyAdd`).
    fn fma(self, a: f32, b: f32, c: f32) -> f32;

    /// The eight-lane dot product of `a` and `b` (equal lengths): lane `j`
    /// accumulates `a[i]·b[i]` for `i ≡ j (mod 8)` by [`Arch::fma`] onto
    /// 0.0, in increasing `i`; the lanes are then reduced by [`reduce8`].
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len(), "dot: lengths differ");
        let mut acc = [0.0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ta, tb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..8 {
                acc[l] = self.fma(x[l], y[l], acc[l]);
            }
        }
        for ((lane, x), y) in acc.iter_mut().zip(ta).zip(tb) {
            *lane = self.fma(*x, *y, *lane);
        }
        reduce8(acc)
    }

    /// `out[k] = dot(row k of w, x)` for a row-major `w` of `out.len()` rows
    /// of `x.len()` values, each row by [`Arch::dot`].
    #[inline(always)]
    fn gemv(self, w: &[f32], x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(w.len(), out.len() * x.len(), "gemv: matrix size");
        if x.is_empty() {
            out.fill(0.0);
            return;
        }
        for (o, row) in out.iter_mut().zip(w.chunks_exact(x.len())) {
            *o = self.dot(row, x);
        }
    }

    /// A gate's pre-activation for a one-hot input:
    /// `out[k] = gemv(w, x)[k] + (col[k] + b[k])` — the input column
    /// (`W_ih · e_token`) and the bias added first, then onto the product.
    #[inline(always)]
    fn gemv_add(self, w: &[f32], x: &[f32], col: &[f32], b: &[f32], out: &mut [f32]) {
        debug_assert!(
            col.len() == out.len() && b.len() == out.len(),
            "gemv_add: lengths"
        );
        self.gemv(w, x, out);
        for ((o, a), b) in out.iter_mut().zip(col).zip(b) {
            *o += *a + *b;
        }
    }

    /// `v[k] = sigmoid(v[k])`, as [`crate::math::sigmoid`] over [`Arch::fma`].
    #[inline(always)]
    fn sigmoid_in_place(self, v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = sigmoid_with(self, *x);
        }
    }

    /// `v[k] = tanh(v[k])`, as [`crate::math::tanh`] over [`Arch::fma`].
    #[inline(always)]
    fn tanh_in_place(self, v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = tanh_with(self, *x);
        }
    }

    /// `v[k] = sigmoid_table(v[k])`, as [`crate::lut::sigmoid_table`] over
    /// [`Arch::fma`] (the q8 dtype's activation).
    #[inline(always)]
    fn sigmoid_table_in_place(self, v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = sigmoid_table_with(self, *x);
        }
    }

    /// `v[k] = tanh_table(v[k])`, as [`crate::lut::tanh_table`] over
    /// [`Arch::fma`] (the q8 dtype's activation).
    #[inline(always)]
    fn tanh_table_in_place(self, v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = tanh_table_with(self, *x);
        }
    }

    /// Softmax numerators: `v[k] = exp((v[k] - max) / t)` (one subtraction,
    /// one division, then [`crate::math::exp`] over [`Arch::fma`]).
    #[inline(always)]
    fn exp_shifted(self, v: &mut [f32], max: f32, t: f32) {
        for e in v.iter_mut() {
            *e = exp_with(self, (*e - max) / t);
        }
    }

    /// The LSTM state update over activated gates `i, f, g, o` (all as long
    /// as `c` and `h`): `c[k] = fma(f[k], c[k], i[k]·g[k])` (the product
    /// rounded, then one fused multiply-add) and `h[k] = o[k] · tanh(c[k])`.
    #[inline(always)]
    fn lstm_update(self, i: &[f32], f: &[f32], g: &[f32], o: &[f32], c: &mut [f32], h: &mut [f32]) {
        lstm_update_scalar(self, i, f, g, o, c, h);
    }

    /// [`Arch::lstm_update`] with the table tanh (the q8 dtype's):
    /// `c[k] = fma(f[k], c[k], i[k]·g[k])` and
    /// `h[k] = o[k] · tanh_table(c[k])` ([`crate::lut::tanh_table`]).
    #[inline(always)]
    fn lstm_update_table(
        self,
        i: &[f32],
        f: &[f32],
        g: &[f32],
        o: &[f32],
        c: &mut [f32],
        h: &mut [f32],
    ) {
        lstm_update_table_scalar(self, i, f, g, o, c, h);
    }

    /// The state `h` as the Q15 vector [`Arch::gemv_q8`] reads, in this
    /// architecture's order: `x[p(j)] = q15(h[j])` ([`crate::quant::q15`])
    /// for a permutation `p` of the indices. The default (and x86-64's) is
    /// the identity; the Cortex-M4F swaps the middle two of every full group
    /// of four (`x0, x2, x1, x3`) so its `SMLAD`s need no shuffles.
    #[inline(always)]
    fn q15_pack(self, h: &[f32], x: &mut [i16]) {
        debug_assert_eq!(h.len(), x.len(), "q15_pack: lengths");
        for (x, h) in x.iter_mut().zip(h) {
            *x = q15(*h);
        }
    }

    /// The int8 × Q15 product: for a row-major `w` of `out.len()` rows of
    /// `n = x.len()` int8 values in `[-127, 127]`, one `scale` per row and `x`
    /// from [`Arch::q15_pack`] (values in `[-32767, 32767]`),
    /// `out[k] = q8_output(Σ_j w[k][j]·x_j, scale[k])`: the sum exact in i32
    /// ([`crate::quant::dot_q8`]; `n ≤ MAX_Q8_ROW` is the caller's to
    /// guarantee, so any summation order gives the same value), then
    /// `((acc as f32) · 2^-15) · scale[k]` ([`crate::quant::q8_output`]).
    #[inline(always)]
    fn gemv_q8(self, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
        debug_assert!(
            w.len() == out.len() * x.len() && scale.len() == out.len(),
            "gemv_q8: matrix size"
        );
        if x.is_empty() {
            for (o, s) in out.iter_mut().zip(scale) {
                *o = q8_output(0, *s);
            }
            return;
        }
        for ((o, row), s) in out.iter_mut().zip(w.chunks_exact(x.len())).zip(scale) {
            *o = q8_output(dot_q8(row, x), *s);
        }
    }

    /// [`Arch::gemv_q8`] over a `w` stored in quad order
    /// ([`crate::weight_order`]; `out.len()` rows of `x.len()` values, the
    /// scales in row order): the same outputs, bit for bit, as over the
    /// row-major matrix. The default reads `w` through
    /// [`quad_index`](crate::weight_order::quad_index) with `x` in this
    /// architecture's [`Arch::q15_pack`] order (the identity).
    #[inline(always)]
    fn gemv_q8_quads(self, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
        debug_assert!(
            w.len() == out.len() * x.len() && scale.len() == out.len(),
            "gemv_q8_quads: matrix size"
        );
        let (rows, n) = (out.len(), x.len());
        for (k, (o, s)) in out.iter_mut().zip(scale).enumerate() {
            let acc = x.iter().enumerate().fold(0i32, |acc, (j, &xj)| {
                let wj = w.get(quad_index(rows, n, k, j)).copied().unwrap_or(0);
                acc.wrapping_add(i32::from(wj) * i32::from(xj))
            });
            *o = q8_output(acc, *s);
        }
    }

    /// [`Arch::gemv_q8_quads`], then a gate's gathered q8 input column and
    /// its bias added ([`add_q8_column`]): the same operations in the same
    /// order.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn gemv_q8_quads_add(
        self,
        w: &[i8],
        scale: &[f32],
        x: &[i16],
        col: &[i8],
        col_scale: &[f32],
        b: &[f32],
        out: &mut [f32],
    ) {
        self.gemv_q8_quads(w, scale, x, out);
        add_q8_column(out, col, col_scale, b);
    }

    /// [`Arch::gemv_q8`] or [`Arch::gemv_q8_quads`], as `order` says.
    #[inline(always)]
    fn gemv_q8_in(self, order: WeightOrder, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
        match order {
            WeightOrder::RowMajor => self.gemv_q8(w, scale, x, out),
            WeightOrder::Quads => self.gemv_q8_quads(w, scale, x, out),
        }
    }

    /// The GRU state update over the activated update gate `z` and candidate
    /// `n` (both as long as `h`): `h[k] = fma(z[k], h[k] − n[k], n[k])` (the
    /// difference rounded, then one fused multiply-add) — PyTorch's
    /// `h' = (1 − z) ⊙ n + z ⊙ h` in one fixed f32 order.
    #[inline(always)]
    fn gru_update(self, z: &[f32], n: &[f32], h: &mut [f32]) {
        gru_update_scalar(self, z, n, h);
    }
}

/// [`Arch::gru_update`]'s definition, one unit at a time over `arch`'s
/// scalar `fma` (what the default runs, and what vector versions run on
/// their tails).
#[inline(always)]
pub(crate) fn gru_update_scalar<A: Arch>(arch: A, z: &[f32], n: &[f32], h: &mut [f32]) {
    debug_assert!(
        z.len() == h.len() && n.len() == h.len(),
        "gru_update: lengths"
    );
    for ((h, z), n) in h.iter_mut().zip(z).zip(n) {
        *h = arch.fma(*z, *h - *n, *n);
    }
}

/// [`Arch::lstm_update`]'s definition, one unit at a time over `arch`'s
/// scalar `fma` (what the default runs, and what vector versions run on
/// their tails).
#[inline(always)]
pub(crate) fn lstm_update_scalar<A: Arch>(
    arch: A,
    i: &[f32],
    f: &[f32],
    g: &[f32],
    o: &[f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    let n = units(i, f, g, o, c, h);
    let gates = i[..n].iter().zip(f).zip(g).zip(o);
    for ((c, h), (((i, f), g), o)) in c.iter_mut().zip(h.iter_mut()).zip(gates) {
        *c = arch.fma(*f, *c, *i * *g);
        *h = *o * tanh_with(arch, *c);
    }
}

/// [`Arch::lstm_update_table`]'s definition, one unit at a time over
/// `arch`'s scalar `fma`.
#[inline(always)]
pub(crate) fn lstm_update_table_scalar<A: Arch>(
    arch: A,
    i: &[f32],
    f: &[f32],
    g: &[f32],
    o: &[f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    let n = units(i, f, g, o, c, h);
    let gates = i[..n].iter().zip(f).zip(g).zip(o);
    for ((c, h), (((i, f), g), o)) in c.iter_mut().zip(h.iter_mut()).zip(gates) {
        *c = arch.fma(*f, *c, *i * *g);
        *h = *o * tanh_table_with(arch, *c);
    }
}

/// The gather part of a q8 gate's pre-activation for a one-hot input, added
/// onto the product: `out[k] += dequantize(col[k], col_scale[k]) + b[k]`
/// (the column's value and the bias first, as [`Arch::gemv_add`] does for f32).
#[inline(always)]
pub(crate) fn add_q8_column(out: &mut [f32], col: &[i8], col_scale: &[f32], b: &[f32]) {
    for (((o, &q), &s), &b) in out.iter_mut().zip(col).zip(col_scale).zip(b) {
        *o += dequantize(q, s) + b;
    }
}

/// The number of units of an [`Arch::lstm_update`] call: `c.len()`, which
/// every other slice's length must equal (`debug_assert!`ed); in a release
/// build the shortest length, so a routine reading that many stays in bounds.
#[inline(always)]
pub(crate) fn units(i: &[f32], f: &[f32], g: &[f32], o: &[f32], c: &[f32], h: &[f32]) -> usize {
    let lens = [i.len(), f.len(), g.len(), o.len(), h.len()];
    debug_assert!(lens.iter().all(|&l| l == c.len()), "lstm_update: lengths");
    lens.into_iter().fold(c.len(), usize::min)
}

/// The fixed reduction of eight lanes: `((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))`,
/// the shape of an eight-wide register folded in halves.
#[inline(always)]
pub(crate) fn reduce8(l: [f32; 8]) -> f32 {
    let s = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    let t = [s[0] + s[2], s[1] + s[3]];
    t[0] + t[1]
}

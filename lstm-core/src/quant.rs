//! The q8 maths, defined once: the Q15 state, the exact int8 × Q15 row
//! product and its f32 tail (what every kernel's `gemv_q8` reproduces bit
//! for bit), and post-training quantization of f32 weights (`FORMAT.md`,
//! "q8 and the accumulator bound").
//!
//! # The product, and where 2^-15 sits
//!
//! A state value `h` (in `[-1, 1]`) enters a product as `x = q15(h)`, an
//! `i16` in `[-32767, 32767]` standing for `x · 2^-15`. A weight row of
//! int8 `w` (in `[-127, 127]`) with scale `s` stands for `w · s`. Output
//! unit `k` of `W · h` is
//!
//! ```text
//! acc_k  = Σ_j w[k][j] · x[j]                 exact, in i32 (any order: n ≤ 516)
//! out[k] = ((acc_k as f32) · 2^-15) · s[k]    two f32 multiplications, in this order
//! ```
//!
//! `acc_k as f32` rounds to nearest-even (the only rounding of the sum); the
//! multiplication by 2^-15 ([`ACC_SCALE`]) is then exact (`|acc| < 2^31`,
//! so the result is a normal f32 or zero); the multiplication by the row's
//! scale rounds once. So `out[k] = round(acc_k · 2^-15 · s[k])` up to that
//! first rounding, and a kernel may fold the 2^-15 into the conversion (the
//! Cortex-M4F's `VCVT.F32.S32 …, #15`) without changing a bit. The bound
//! [`MAX_Q8_ROW`] (`n · 127 · 32767 < 2^31`) makes every partial sum exact;
//! beyond it the sums wrap modulo 2^32, identically in every kernel
//! ([`dot_q8`] uses wrapping adds), but callers must not go there: the
//! format refuses such models and `Kernel::gemv_q8` refuses such rows.
//!
//! # Quantization
//!
//! The rule is the format's, [`WeightLayout::quantize`] (per output unit —
//! a row of a row-major matrix, a `(gate, unit)` column of layer 0's
//! gate-transposed `w_ih` — symmetric: `scale = max|w| / 127`, 1 for an
//! all-zero unit and at least `f32::MIN_POSITIVE`; `q = round(w / scale)`, half away from zero), so each
//! dequantized weight `q · scale` is within `scale / 2` of the original (up
//! to the f32 rounding of the division and the product).
//! [`quantize_weights`] adds the largest rounding error of a matrix (what
//! `inspect` reports); [`quantize_family`] turns a whole f32 model into q8
//! parts in buffers the caller lends (this crate has no heap; an owning
//! wrapper belongs to the host side, `host-trainer`).

use crate::Error;
use crate::format::{
    Dtype, FamilyParts, Header, LayerParts, MAX_LAYERS, MAX_Q8_ROW, WeightLayout, WeightParts,
};
use crate::math::expc::ROUND;

/// The largest Q15 magnitude: `q15` clamps to `[-Q15_MAX, Q15_MAX]`.
pub const Q15_MAX: i16 = 32767;

/// 2^15: the Q15 value of `h` is `h · Q15_ONE`, rounded and clamped.
pub const Q15_ONE: f32 = 32768.0;

/// 2^-15: the exact factor from an int8 × Q15 sum to weight units × state units.
pub const ACC_SCALE: f32 = 1.0 / 32768.0;

/// The row-length bound of exact accumulation (re-exported from the format).
pub const MAX_ROW: usize = MAX_Q8_ROW;

const _: () = assert!((MAX_ROW as i64) * 127 * 32767 < (1i64 << 31));
const _: () = assert!(((MAX_ROW + 1) as i64) * 127 * 32767 >= (1i64 << 31));

/// The Q15 value of a state value: `h · 2^15` rounded to nearest, ties to
/// even, clamped to `[-32767, 32767]`; NaN gives 0.
///
/// Computed as `((h · 2^15 + 1.5·2^23) − 1.5·2^23) as i32`, clamped: the
/// added constant rounds to an integer (ties to even) whenever
/// `|h · 2^15| < 2^22`, and anything larger — or infinite — lands beyond
/// ±32767 either way; `as` saturates and sends NaN to 0. (Equal, for every
/// f32, to clamping first and rounding after; a few instructions on the
/// Cortex-M4F, where the conversion saturates by itself.)
#[inline]
pub fn q15(h: f32) -> i16 {
    let max = i32::from(Q15_MAX);
    let r = ((h * Q15_ONE + ROUND) - ROUND) as i32;
    r.clamp(-max, max) as i16
}

/// The exact int8 × Q15 dot product of the first `min(w.len(), x.len())`
/// elements, in i32 (wrapping, which never happens for rows of at most
/// [`MAX_ROW`] values in `[-127, 127]` × `[-32767, 32767]`).
#[inline]
pub fn dot_q8(w: &[i8], x: &[i16]) -> i32 {
    w.iter().zip(x).fold(0i32, |acc, (&a, &b)| {
        acc.wrapping_add(i32::from(a) * i32::from(b))
    })
}

/// The f32 tail of one output unit: `((acc as f32) · 2^-15) · scale`.
#[inline]
pub fn q8_output(acc: i32, scale: f32) -> f32 {
    (acc as f32 * ACC_SCALE) * scale
}

/// A one-hot gather's value of a q8 weight: `q · scale` (one rounding), the
/// same value [`crate::format::Weights::dequantize_into`] gives.
#[inline]
pub fn dequantize(q: i8, scale: f32) -> f32 {
    f32::from(q) * scale
}

/// Quantizes the f32 matrix `w` of `layout` into `q` (same layout) and
/// `scale` (one per output unit, [`WeightLayout::unit_of`]) by
/// [`WeightLayout::quantize`]; returns the
/// largest rounding error `|q · scale - w|` of any element (0 for an empty
/// matrix).
///
/// # Errors
/// [`Error::TensorLength`] if `w`, `q` or `scale` does not fit `layout`;
/// [`Error::NonFinite`] (naming `name`) for a NaN or infinite weight.
pub fn quantize_weights(
    name: &'static str,
    w: &[f32],
    layout: WeightLayout,
    q: &mut [i8],
    scale: &mut [f32],
) -> Result<f32, Error> {
    let [e] = quantize_weights_shared([name], [w], [layout], [q], scale)?;
    Ok(e)
}

/// Quantizes the f32 matrices `w` (of `layouts`) that share one scale per
/// output unit — a layer's `w_ih` and `w_hh` under [`Dtype::Q8Shared`] —
/// into `q` and `scale` by [`WeightLayout::quantize_shared`]; returns each
/// matrix's largest rounding error `|q · scale - w|`.
///
/// # Errors
/// [`Error::TensorLength`] if a `w`, `q` or `scale` does not fit its layout;
/// [`Error::NonFinite`] (naming the matrix's `names` entry) for a NaN or
/// infinite weight.
pub fn quantize_weights_shared<const N: usize>(
    names: [&'static str; N],
    w: [&[f32]; N],
    layouts: [WeightLayout; N],
    q: [&mut [i8]; N],
    scale: &mut [f32],
) -> Result<[f32; N], Error> {
    for ((&name, w), (layout, q)) in names.iter().zip(&w).zip(layouts.iter().zip(&q)) {
        let length = |found: usize, expected: usize| {
            if found == expected {
                Ok(())
            } else {
                Err(Error::TensorLength {
                    tensor: name,
                    expected,
                    found,
                })
            }
        };
        length(w.len(), layout.len())?;
        length(q.len(), layout.len())?;
        length(scale.len(), layout.units())?;
        if let Some(index) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                tensor: name,
                index,
            });
        }
    }
    let mut worst = [0.0f32; N];
    let mut mats = layouts.map(|l| (l, &[][..], &mut [][..]));
    for ((m, w), q) in mats.iter_mut().zip(w).zip(q) {
        m.1 = w;
        m.2 = q;
    }
    WeightLayout::quantize_shared(&mut mats, scale)?;
    for (worst, (layout, w, q)) in worst.iter_mut().zip(&mats) {
        for (i, (q, &v)) in q.iter().zip(w.iter()).enumerate() {
            let s = scale[layout.unit_of(i)];
            let err = (f64::from(dequantize(*q, s)) - f64::from(v)).abs() as f32;
            if err > *worst {
                *worst = err;
            }
        }
    }
    Ok(worst)
}

/// The largest rounding error quantization can have made in a q8 matrix
/// with these scales: half the largest scale (what `inspect` can tell
/// from a q8 file alone; 0 for no scales).
pub fn rounding_bound(scale: impl IntoIterator<Item = f32>) -> f32 {
    scale
        .into_iter()
        .fold(0.0f32, |m, s| if s > m { s } else { m })
        / 2.0
}

/// The largest rounding error of each quantized matrix (see [`quantize_weights`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QuantErrors {
    /// Each layer's `w_ih` (bottom first; unused layers 0).
    pub w_ih: [f32; MAX_LAYERS],
    /// Each layer's `w_hh` (bottom first; unused layers 0).
    pub w_hh: [f32; MAX_LAYERS],
    /// The output layer's `w_y`.
    pub w_y: f32,
}

/// Number of int8 values and of f32 scales [`quantize_family`] writes for
/// a model with this header (the q8 header's `weight_count` and `scale_count`;
/// for [`quantize_family_to`], take those of the header with its dtype).
pub const fn q8_buffer_lens(header: &Header) -> (usize, usize) {
    let q8 = Header {
        dtype: Dtype::Q8,
        ..*header
    };
    (q8.weight_count(), q8.scale_count())
}

/// Post-training quantization of a whole f32 model to [`Dtype::Q8`]:
/// [`quantize_family_to`] with one scale per output unit of each matrix.
///
/// # Errors
/// As [`quantize_family_to`].
pub fn quantize_family<'a>(
    parts: &FamilyParts<'a>,
    q: &'a mut [i8],
    scale: &'a mut [f32],
    layers: &'a mut [LayerParts<'a>; MAX_LAYERS],
) -> Result<(FamilyParts<'a>, QuantErrors), Error> {
    quantize_family_to(parts, Dtype::Q8, q, scale, layers)
}

/// Post-training quantization of a whole f32 model to `dtype` ([`Dtype::Q8`],
/// or [`Dtype::Q8Shared`]: each layer's `w_ih` and `w_hh` quantized together,
/// [`WeightLayout::quantize_shared`]): validates `parts`, quantizes every
/// weight matrix (per unit, [`quantize_weights`]) into the caller's `q` and
/// `scale` (exactly the q8 header's `weight_count` and `scale_count` long,
/// [`q8_buffer_lens`] for `Q8`; tensors in file order: each layer's `w_ih`,
/// `w_hh`, then `w_y`), and returns the q8 model's parts (biases and
/// vocabulary borrowed from `parts`, layers in `layers`; a shared-scale
/// `w_hh` borrows its `w_ih`'s scales) with the largest rounding error of
/// each matrix. The result passes [`FamilyParts::validate`], so
/// `encode_family` writes it.
///
/// # Errors
/// Whatever `parts.validate()` reports; [`Error::DtypeMismatch`] if `parts`
/// is already q8 or `dtype` is not q8; [`Error::AccumulatorBound`] if the
/// model's rows are too long for q8 (`n_h`, or dense `n_x`, above [`MAX_ROW`]);
/// [`Error::BufferTooSmall`] if `q` or `scale` has the wrong length.
pub fn quantize_family_to<'a>(
    parts: &FamilyParts<'a>,
    dtype: Dtype,
    q: &'a mut [i8],
    scale: &'a mut [f32],
    layers: &'a mut [LayerParts<'a>; MAX_LAYERS],
) -> Result<(FamilyParts<'a>, QuantErrors), Error> {
    parts.validate()?;
    if parts.header.dtype != Dtype::F32 || !dtype.is_q8() {
        return Err(Error::DtypeMismatch { tensor: "w_ih" });
    }
    let header = Header {
        dtype,
        ..parts.header
    };
    header.validate()?;
    let (nq, ns) = (header.weight_count(), header.scale_count());
    for (found, needed) in [(q.len(), nq), (scale.len(), ns)] {
        if found != needed {
            return Err(Error::BufferTooSmall {
                needed,
                available: found,
            });
        }
    }
    let mut errors = QuantErrors::default();
    let (mut q, mut scale) = (q, scale);
    for (l, (out, p)) in layers.iter_mut().zip(parts.layers).enumerate() {
        let layouts = [header.w_ih_layout(l), header.w_hh_layout()];
        let (WeightParts::F32(w_ih), WeightParts::F32(w_hh)) = (p.w_ih, p.w_hh) else {
            return Err(Error::DtypeMismatch { tensor: "w_ih" });
        };
        let q_ih = take(&mut q, layouts[0].len());
        let q_hh = take(&mut q, layouts[1].len());
        let (w_ih, w_hh) = if dtype.shares_scales() {
            let s = take(&mut scale, layouts[0].units());
            let e = quantize_weights_shared(
                ["w_ih", "w_hh"],
                [w_ih, w_hh],
                layouts,
                [&mut *q_ih, &mut *q_hh],
                s,
            )?;
            [errors.w_ih[l], errors.w_hh[l]] = e;
            let s: &'a [f32] = s;
            (
                WeightParts::Q8 { q: q_ih, scale: s },
                WeightParts::Q8 { q: q_hh, scale: s },
            )
        } else {
            let (s_ih, s_hh) = (
                take(&mut scale, layouts[0].units()),
                take(&mut scale, layouts[1].units()),
            );
            errors.w_ih[l] = quantize_weights("w_ih", w_ih, layouts[0], q_ih, s_ih)?;
            errors.w_hh[l] = quantize_weights("w_hh", w_hh, layouts[1], q_hh, s_hh)?;
            (
                WeightParts::Q8 {
                    q: q_ih,
                    scale: s_ih,
                },
                WeightParts::Q8 {
                    q: q_hh,
                    scale: s_hh,
                },
            )
        };
        *out = LayerParts { w_ih, w_hh, ..*p };
    }
    let WeightParts::F32(w) = parts.w_y else {
        return Err(Error::DtypeMismatch { tensor: "w_y" });
    };
    let layout = header.w_y_layout();
    let (q_y, s_y) = (take(&mut q, layout.len()), take(&mut scale, layout.units()));
    errors.w_y = quantize_weights("w_y", w, layout, q_y, s_y)?;
    let w_y = WeightParts::Q8 { q: q_y, scale: s_y };
    let out = FamilyParts {
        header,
        vocab: parts.vocab,
        layers: &layers[..header.n_layers],
        w_y,
        b_y: parts.b_y,
    };
    out.validate()?;
    Ok((out, errors))
}

/// Splits the first `n` values (at most all) off `rest`.
fn take<'a, T>(rest: &mut &'a mut [T], n: usize) -> &'a mut [T] {
    let all = core::mem::take(rest);
    let (head, tail) = all.split_at_mut(n.min(all.len()));
    *rest = tail;
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q15_rounds_ties_to_even_and_clamps() {
        let s = ACC_SCALE;
        assert_eq!(q15(0.0), 0);
        assert_eq!(q15(-0.0), 0);
        assert_eq!(q15(1.0), 32767);
        assert_eq!(q15(-1.0), -32767);
        assert_eq!(q15(2.5), 32767);
        assert_eq!(q15(-1e30), -32767);
        assert_eq!(q15(f32::INFINITY), 32767);
        assert_eq!(q15(f32::NEG_INFINITY), -32767);
        assert_eq!(q15(f32::NAN), 0);
        assert_eq!(q15(0.5), 16384);
        assert_eq!(q15(0.5 * s), 0); // tie: to even 0
        assert_eq!(q15(1.5 * s), 2); // tie: to even 2
        assert_eq!(q15(2.5 * s), 2);
        assert_eq!(q15(-2.5 * s), -2);
        assert_eq!(q15(-3.5 * s), -4);
        assert_eq!(q15(32766.5 * s), 32766);
        assert_eq!(q15(32767.0 * s), 32767);
        for q in -32767..=32767i16 {
            assert_eq!(q15(f32::from(q) * s), q);
        }
    }

    #[test]
    fn the_product_tail_is_exact_in_its_first_step() {
        let max = MAX_ROW as i32 * 127 * 32767;
        assert_eq!(q8_output(max, 1.0), max as f32 / 32768.0);
        assert_eq!(q8_output(-max, 0.5), -(max as f32) / 65536.0);
        assert_eq!(q8_output(1, 1.0), ACC_SCALE);
        let w = [127i8; MAX_ROW];
        let x = [32767i16; MAX_ROW];
        assert_eq!(dot_q8(&w, &x), max);
        assert_eq!(dot_q8(&w, &x.map(|v| -v)), -max);
    }

    #[test]
    fn gate_transposed_units_get_their_own_scale() {
        // [G=2][n_in=2][n_h=2]: unit (g, k) takes elements (g, 0, k), (g, 1, k).
        let layout = WeightLayout::GateTransposed {
            gates: 2,
            n_in: 2,
            n_h: 2,
        };
        let w = [1.0, -3.0, 0.25, 4.0, 0.0, 0.0, 0.0, -127.0];
        let (mut q, mut s) = ([0i8; 8], [0f32; 4]);
        let err = quantize_weights("w", &w, layout, &mut q, &mut s).expect("quantize");
        assert_eq!(s, [1.0 / 127.0, 4.0 / 127.0, 1.0, 1.0]);
        assert_eq!(q, [127, -95, 32, 127, 0, 0, 0, -127]);
        assert!(err > 0.0 && err <= 4.0 / 127.0 / 2.0 * 1.0001, "{err}");
    }
}

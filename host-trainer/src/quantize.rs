//! Quantized (q8) model files on the host: post-training quantization of an f32 model file
//! ([`quantize_model`], the owning wrapper around [`lstm_core::quant::quantize_family`]), what a q8
//! file says about its rounding ([`q8_tensors`]), and the way back to f32 weights
//! ([`dequantize_model`], for `export`).
//!
//! The rule and the maths are lstm-core's (`lstm-core/FORMAT.md`, "q8 and the accumulator bound"):
//! int8 weights, symmetric, one f32 scale per output unit — by default shared by each layer's `w_ih`
//! and `w_hh` (dtype `q8-shared`, [`Scales`]); biases stay f32.

use lstm_core::format::{
    self, Dtype, FamilyParts, FamilyView, Header, LayerParts, MAX_LAYERS, WeightLayout,
    WeightParts, Weights,
};
use lstm_core::quant;

/// Why a model file could not be quantized (or dequantized).
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The bytes are not a valid model file.
    #[error("not a valid model file: {0}")]
    NotAModel(lstm_core::Error),
    /// The model's weights are already q8.
    #[error("the model is already quantized (q8 weights); quantize reads f32 models")]
    AlreadyQuantized,
    /// The model's weights are f32 (dequantizing needs a q8 model).
    #[error("the model's weights are f32, not q8")]
    NotQuantized,
    /// The model's product rows are too long for q8's exact i32 accumulator.
    #[error("the model cannot be quantized: {0}")]
    AccumulatorBound(lstm_core::Error),
    /// lstm-core refused the quantized model (never expected for a valid f32 model).
    #[error("quantizing failed: {0}")]
    Core(lstm_core::Error),
}

/// How a quantized model's recurrent matrices get their scales.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scales {
    /// One scale per gate unit shared by each layer's `w_ih` and `w_hh` (dtype `q8-shared`: 4 bytes
    /// per gate unit and layer smaller).
    #[default]
    Shared,
    /// One scale per output unit of each matrix (dtype `q8`).
    PerMatrix,
}

impl Scales {
    /// The q8 dtype this choice writes.
    pub const fn dtype(self) -> Dtype {
        match self {
            Scales::Shared => Dtype::Q8Shared,
            Scales::PerMatrix => Dtype::Q8,
        }
    }
}

/// One weight matrix of a q8 model and how far its rounding can be from the f32 weights.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRounding {
    /// The tensor's name as the format's errors spell it (`w_ih`, `w_hh`, `l1.w_ih`, …, `w_y`).
    pub name: String,
    /// Number of weights.
    pub elements: usize,
    /// Number of scales (output units).
    pub units: usize,
    /// True if the scales are the layer's `w_ih`'s (a `w_hh` of a `q8-shared` model).
    pub shared: bool,
    /// The largest `|q · scale − w|`: measured when quantizing, else half the largest step.
    pub max_error: f32,
    /// Half the largest scale: the most any weight of the tensor can have moved.
    pub bound: f32,
}

/// A quantized model: its file bytes and what quantization did.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// The q8 model file (format version 2).
    pub bytes: Vec<u8>,
    /// The q8 model's header.
    pub header: Header,
    /// Bytes of tensor data of the f32 model (weights, biases).
    pub f32_weight_bytes: usize,
    /// Bytes of tensor data of the q8 model (int8 weights, f32 scales and biases).
    pub q8_weight_bytes: usize,
    /// Each weight matrix's rounding, in file order.
    pub tensors: Vec<TensorRounding>,
}

/// The format's name of layer `l`'s tensor `t` (`w_ih` for layer 0, `l1.w_ih` above).
fn layer_name(l: usize, t: &str) -> String {
    if l == 0 {
        t.to_owned()
    } else {
        format!("l{l}.{t}")
    }
}

/// An f32 matrix's values, owned (the file's bytes need not be aligned).
fn f32_values(w: Weights<'_>) -> Vec<f32> {
    w.as_f32().map_or_else(Vec::new, |t| t.iter().collect())
}

/// The q8 header of `h` with `scales`, checked against the accumulator bound.
///
/// # Errors
/// [`QuantizeError::AlreadyQuantized`], [`QuantizeError::AccumulatorBound`].
pub fn q8_header(h: &Header, scales: Scales) -> Result<Header, QuantizeError> {
    if h.dtype.is_q8() {
        return Err(QuantizeError::AlreadyQuantized);
    }
    let q8 = Header {
        dtype: scales.dtype(),
        ..*h
    };
    q8.validate().map_err(|e| match e {
        lstm_core::Error::AccumulatorBound { .. } => QuantizeError::AccumulatorBound(e),
        e => QuantizeError::Core(e),
    })?;
    Ok(q8)
}

/// Post-training quantization of an f32 model file of any version, cell kind, layer count and token
/// kind: every weight matrix to int8 with one scale per output unit (each layer's `w_ih` and `w_hh`
/// sharing theirs with [`Scales::Shared`]), biases kept f32.
///
/// # Errors
/// Bytes that are not a model, a model that is already q8 or too wide for q8's accumulator bound;
/// all checked before any weight is touched.
pub fn quantize_model(bytes: &[u8], scales: Scales) -> Result<Quantized, QuantizeError> {
    let view = format::decode_family(bytes).map_err(QuantizeError::NotAModel)?;
    let h = view.header;
    let q8h = q8_header(&h, scales)?;
    let owned: Vec<[Vec<f32>; 4]> = view
        .layers()
        .iter()
        .map(|l| {
            [
                f32_values(l.w_ih),
                f32_values(l.w_hh),
                l.b.iter().collect(),
                l.b_hn.iter().collect(),
            ]
        })
        .collect();
    let (w_y, b_y) = (f32_values(view.w_y), view.b_y.iter().collect::<Vec<f32>>());
    let layers: Vec<LayerParts<'_>> = owned
        .iter()
        .map(|[w_ih, w_hh, b, b_hn]| LayerParts {
            w_ih: WeightParts::F32(w_ih),
            w_hh: WeightParts::F32(w_hh),
            b,
            b_hn,
        })
        .collect();
    let parts = FamilyParts {
        header: h,
        vocab: view.vocab,
        layers: &layers,
        w_y: WeightParts::F32(&w_y),
        b_y: &b_y,
    };
    let (nq, ns) = (q8h.weight_count(), q8h.scale_count());
    let (mut q, mut scale) = (vec![0i8; nq], vec![0.0f32; ns]);
    let Some(&first) = layers.first() else {
        return Err(QuantizeError::Core(lstm_core::Error::DimensionOutOfRange {
            name: "n_layers",
            value: 0,
            max: MAX_LAYERS,
        }));
    };
    let mut slots = [first; MAX_LAYERS];
    let (q8, errors) = quant::quantize_family_to(&parts, q8h.dtype, &mut q, &mut scale, &mut slots)
        .map_err(QuantizeError::Core)?;
    let mut out = vec![0u8; format::encoded_len_family(&q8).map_err(QuantizeError::Core)?];
    let n = format::encode_family(&q8, &mut out).map_err(QuantizeError::Core)?;
    out.truncate(n);
    let written = format::decode_family(&out).map_err(QuantizeError::Core)?;
    let mut tensors = q8_tensors(&written);
    let measured = (0..h.n_layers)
        .flat_map(|l| [errors.w_ih[l], errors.w_hh[l]])
        .chain([errors.w_y]);
    for (t, e) in tensors.iter_mut().zip(measured) {
        t.max_error = e;
    }
    Ok(Quantized {
        bytes: out,
        header: q8h,
        f32_weight_bytes: h.weight_bytes(),
        q8_weight_bytes: q8h.weight_bytes(),
        tensors,
    })
}

/// Each weight matrix of a q8 model, in file order, with the rounding its scales allow (half the
/// largest step; a q8 file does not hold the f32 weights, so that bound is what it can tell).
/// Empty for an f32 model.
pub fn q8_tensors(view: &FamilyView<'_>) -> Vec<TensorRounding> {
    let h = view.header;
    let mut out = Vec::new();
    let mut push = |name: String, w: Weights<'_>, layout: WeightLayout, shared: bool| {
        if let Some(t) = w.as_q8() {
            // A shared-scale w_hh's scales are its w_ih's (the decoder hands them out with it).
            let bound = quant::rounding_bound(t.scale().iter());
            out.push(TensorRounding {
                name,
                elements: layout.len(),
                units: layout.units(),
                shared,
                max_error: bound,
                bound,
            });
        }
    };
    let shared = h.dtype.shares_scales();
    for (l, layer) in view.layers().iter().enumerate() {
        push(layer_name(l, "w_ih"), layer.w_ih, h.w_ih_layout(l), false);
        push(layer_name(l, "w_hh"), layer.w_hh, h.w_hh_layout(), shared);
    }
    push("w_y".to_owned(), view.w_y, h.w_y_layout(), false);
    out
}

/// The f32 model file (format version 2) whose weights are a q8 model's dequantized values
/// (`q · scale`, what the q8 kernels multiply by); biases, vocabulary and shape unchanged.
///
/// # Errors
/// Bytes that are not a model, or an f32 model ([`QuantizeError::NotQuantized`]).
pub fn dequantize_model(bytes: &[u8]) -> Result<Vec<u8>, QuantizeError> {
    let view = format::decode_family(bytes).map_err(QuantizeError::NotAModel)?;
    let h = view.header;
    if !h.dtype.is_q8() {
        return Err(QuantizeError::NotQuantized);
    }
    let deq = |w: Weights<'_>, layout: WeightLayout| -> Result<Vec<f32>, QuantizeError> {
        let mut out = vec![0.0f32; layout.len()];
        w.dequantize_into(layout, &mut out)
            .map_err(QuantizeError::Core)?;
        Ok(out)
    };
    let mut owned = Vec::new();
    for (l, layer) in view.layers().iter().enumerate() {
        owned.push([
            deq(layer.w_ih, h.w_ih_layout(l))?,
            deq(layer.w_hh, h.w_hh_layout())?,
            layer.b.iter().collect(),
            layer.b_hn.iter().collect(),
        ]);
    }
    let (w_y, b_y) = (
        deq(view.w_y, h.w_y_layout())?,
        view.b_y.iter().collect::<Vec<f32>>(),
    );
    let layers: Vec<LayerParts<'_>> = owned
        .iter()
        .map(|[w_ih, w_hh, b, b_hn]| LayerParts {
            w_ih: WeightParts::F32(w_ih),
            w_hh: WeightParts::F32(w_hh),
            b,
            b_hn,
        })
        .collect();
    let parts = FamilyParts {
        header: Header {
            dtype: Dtype::F32,
            ..h
        },
        vocab: view.vocab,
        layers: &layers,
        w_y: WeightParts::F32(&w_y),
        b_y: &b_y,
    };
    let mut out = vec![0u8; format::encoded_len_family(&parts).map_err(QuantizeError::Core)?];
    let n = format::encode_family(&parts, &mut out).map_err(QuantizeError::Core)?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Stack;
    use crate::model_file::{decode_stack, encode_stack};
    use crate::rng::Rng;
    use lstm_core::Dims;
    use lstm_core::format::{CellKind, TokenKind};

    fn model(kind: CellKind, layers: usize, n_h: usize) -> Vec<u8> {
        let dims = Dims {
            n_x: 5,
            n_h,
            n_y: 5,
        };
        let p = Stack::<f32>::init_uniform(kind, dims, layers, &mut Rng::new(7));
        encode_stack(&p, "\nabcd", TokenKind::Chars).expect("encodes")
    }

    /// Every kind and layer count: the q8 file decodes, keeps shape, vocabulary and biases, and each
    /// dequantized weight is within half its unit's step of the f32 weight (the measured error is at
    /// most that bound, and the bound is what `inspect` shows), with either choice of scales.
    #[test]
    fn quantized_weights_are_within_half_a_step_of_the_originals() {
        let cases = [CellKind::Lstm, CellKind::Gru, CellKind::Rnn]
            .into_iter()
            .flat_map(|k| (1..=4).map(move |l| (k, l)))
            .flat_map(|c| [Scales::Shared, Scales::PerMatrix].map(|s| (c, s)));
        for ((kind, layers), scales) in cases {
            {
                let f32_bytes = model(kind, layers, 6);
                let q = quantize_model(&f32_bytes, scales).expect("quantizes");
                let view = format::decode_family(&q.bytes).expect("decodes");
                assert_eq!(view.header.dtype, scales.dtype());
                assert_eq!(view.header.cell, kind);
                assert_eq!(view.header.n_layers, layers);
                assert_eq!(q.tensors.len(), 2 * layers + 1);
                let (orig, vocab, _) = decode_stack(&f32_bytes).expect("f32");
                let (back, v2, _) =
                    decode_stack(&dequantize_model(&q.bytes).expect("deq")).expect("reads");
                assert_eq!(vocab, v2);
                let close = |a: &[f32], b: &[f32], bound: f32, what: &str| {
                    let worst = a
                        .iter()
                        .zip(b)
                        .map(|(x, y)| (x - y).abs())
                        .fold(0.0f32, f32::max);
                    assert!(worst <= bound * 1.0001 + 1e-12, "{what}: {worst} > {bound}");
                };
                for (l, (a, b)) in orig.layers.iter().zip(&back.layers).enumerate() {
                    assert_eq!(a.b, b.b);
                    assert_eq!(a.b_hn, b.b_hn);
                    let (t_ih, t_hh) = (&q.tensors[2 * l], &q.tensors[2 * l + 1]);
                    assert!(t_ih.max_error <= t_ih.bound && t_ih.max_error > 0.0);
                    assert!(t_hh.max_error <= t_hh.bound && t_hh.max_error > 0.0);
                    assert_eq!(t_hh.shared, scales == Scales::Shared);
                    if scales == Scales::Shared {
                        // One set of scales: the same bound for both matrices.
                        assert_eq!(t_ih.bound, t_hh.bound);
                    }
                    close(&a.w_x, &b.w_x, t_ih.max_error, "w_ih");
                    close(&a.w_h, &b.w_h, t_hh.max_error, "w_hh");
                }
                close(&orig.w_y, &back.w_y, q.tensors[2 * layers].max_error, "w_y");
                assert_eq!(orig.b_y, back.b_y);
                let from_file = q8_tensors(&view);
                for (a, b) in from_file.iter().zip(&q.tensors) {
                    assert_eq!((&a.name, a.bound, a.shared), (&b.name, b.bound, b.shared));
                }
            }
        }
    }

    /// The byte counts: int8 weights plus f32 scales and biases against f32 weights and biases; the
    /// f32 scales and biases (12 bytes per gate unit per-matrix, 8 shared) keep small models above a
    /// quarter. Shared scales save 4 bytes per gate unit, in the weights and in the file.
    #[test]
    fn weight_bytes_shrink_to_about_a_quarter() {
        for (n_h, scales, ratio) in [
            (64, Scales::PerMatrix, 0.2891),
            (64, Scales::Shared, 0.2750),
            (256, Scales::PerMatrix, 0.2605),
            (256, Scales::Shared, 0.2567),
        ] {
            let f32_model = model(CellKind::Lstm, 1, n_h);
            let q = quantize_model(&f32_model, scales).expect("quantizes");
            let per_unit = if scales == Scales::Shared { 1 } else { 2 };
            let (w, b, s) = (
                4 * n_h * n_h + 4 * 5 * n_h + 5 * n_h,
                4 * n_h + 5,
                per_unit * 4 * n_h + 5,
            );
            assert_eq!(q.f32_weight_bytes, 4 * (w + b));
            assert_eq!(q.q8_weight_bytes, w + 4 * (b + s));
            let r = q.q8_weight_bytes as f64 / q.f32_weight_bytes as f64;
            assert!((r - ratio).abs() < 1e-4, "{n_h}: {r}");
            if scales == Scales::Shared {
                let other = quantize_model(&f32_model, Scales::PerMatrix).expect("quantizes");
                assert_eq!(other.q8_weight_bytes - q.q8_weight_bytes, 4 * 4 * n_h);
                // The file also drops the w_hh scale string's length varint's second byte.
                assert_eq!(other.bytes.len() - q.bytes.len(), 4 * 4 * n_h + 1);
            }
        }
    }

    #[test]
    fn refuses_q8_models_non_models_and_rows_beyond_the_bound() {
        for scales in [Scales::Shared, Scales::PerMatrix] {
            let q = quantize_model(&model(CellKind::Lstm, 1, 4), scales).expect("quantizes");
            for again in [Scales::Shared, Scales::PerMatrix] {
                assert!(matches!(
                    quantize_model(&q.bytes, again),
                    Err(QuantizeError::AlreadyQuantized)
                ));
            }
        }
        let s = Scales::default();
        assert!(matches!(
            quantize_model(b"hello, not a model", s),
            Err(QuantizeError::NotAModel(lstm_core::Error::BadMagic { .. }))
        ));
        let wide = model(CellKind::Rnn, 1, format::MAX_Q8_ROW + 1);
        assert!(matches!(
            quantize_model(&wide, s),
            Err(QuantizeError::AccumulatorBound(
                lstm_core::Error::AccumulatorBound { name: "n_h", .. }
            ))
        ));
        assert!(quantize_model(&model(CellKind::Rnn, 1, format::MAX_Q8_ROW), s).is_ok());
        assert!(matches!(
            dequantize_model(&model(CellKind::Lstm, 1, 4)),
            Err(QuantizeError::NotQuantized)
        ));
    }
}

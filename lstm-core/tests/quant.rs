//! Post-training quantization (`lstm_core::quant`): per-unit scales and
//! rounding within half a step, every family member quantized, written and
//! read back bit for bit, and the refusals.

use lstm_core::Error;
use lstm_core::format::{
    self, CellKind, Dims, Dtype, FamilyParts, Header, InputKind, LayerParts, MAX_LAYERS, TokenKind,
    WeightLayout, WeightParts, Weights,
};
use lstm_core::quant::{
    QuantErrors, dequantize, q8_buffer_lens, quantize_family, quantize_family_to, quantize_weights,
    rounding_bound,
};
use proptest::prelude::*;

/// `|q·s - w|` may exceed `s/2` only by the f32 roundings of `w/s` and `q·s`.
fn within_half_step(w: f32, deq: f32, s: f32) -> bool {
    let err = (f64::from(deq) - f64::from(w)).abs();
    err <= f64::from(s) * 0.5 * (1.0 + 1e-6) + f64::from(w.abs()) * 1e-7
}

fn arb_layout() -> impl Strategy<Value = WeightLayout> {
    prop_oneof![
        (1usize..9, 1usize..20).prop_map(|(rows, n_in)| WeightLayout::RowMajor { rows, n_in }),
        (1usize..5, 1usize..7, 1usize..7)
            .prop_map(|(gates, n_in, n_h)| WeightLayout::GateTransposed { gates, n_in, n_h }),
    ]
}

/// Weights of every magnitude, with zeros (whole zero units happen) and ties.
fn arb_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => -1.0f32..1.0,
        1 => Just(0.0f32),
        1 => -1e-40f32..1e-40,
        1 => -1e30f32..1e30,
        1 => (-127i32..=127).prop_map(|q| q as f32 * 0.5),
    ]
}

proptest! {
    #[test]
    fn quantized_weights_are_within_half_a_step(
        (layout, w) in arb_layout().prop_flat_map(|l| (Just(l), prop::collection::vec(arb_value(), l.len())))
    ) {
        let mut q = vec![0i8; layout.len()];
        let mut s = vec![0f32; layout.units()];
        let worst = quantize_weights("w", &w, layout, &mut q, &mut s).expect("quantize");
        for &v in &s {
            prop_assert!(v.is_finite() && v > 0.0, "scale {v}");
        }
        prop_assert!(q.iter().all(|&v| (-127..=127).contains(&v)));
        let deq: Vec<f32> = q.iter().enumerate().map(|(i, &qi)| dequantize(qi, s[layout.unit_of(i)])).collect();
        let mut max = 0f32;
        for (i, (&wi, &di)) in w.iter().zip(&deq).enumerate() {
            let si = s[layout.unit_of(i)];
            prop_assert!(within_half_step(wi, di, si), "w {wi} deq {di} scale {si}");
            max = max.max((f64::from(di) - f64::from(wi)).abs() as f32);
        }
        prop_assert_eq!(worst, max);
        // Half a step, plus the rounding of the dequantized product itself (as in
        // `within_half_step`): an exact tie such as -23 at scale 46/127 is off by
        // s/2 and half an ulp of the value.
        let wmax = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        let bound = f64::from(rounding_bound(s.iter().copied())) * (1.0 + 1e-6) + f64::from(wmax) * 1e-7;
        prop_assert!(f64::from(worst) <= bound, "worst {worst} bound {bound}");
        // The largest magnitude of a unit with any weight well above the
        // scale floor quantizes to ±127.
        for (u, &su) in s.iter().enumerate() {
            let members: Vec<usize> = (0..layout.len()).filter(|&i| layout.unit_of(i) == u).collect();
            let amax = members.iter().map(|&i| w[i].abs()).fold(0f32, f32::max);
            if amax > 1e-30 {
                prop_assert!(members.iter().any(|&i| q[i].abs() == 127), "unit {u}");
            } else if amax == 0.0 {
                prop_assert_eq!(su, 1.0);
            }
        }
    }

    #[test]
    fn every_family_member_quantizes_and_round_trips(
        cell in 0u8..3,
        n_layers in 1usize..=MAX_LAYERS,
        dense in any::<bool>(),
        words in any::<bool>(),
        n_h in 1usize..12,
        n_v in 1usize..9,
        shared in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let dtype = if shared { Dtype::Q8Shared } else { Dtype::Q8 };
        let header = Header {
            cell: CellKind::from_code(cell).expect("cell"),
            dtype: Dtype::F32,
            input: if dense { InputKind::Dense } else { InputKind::OneHot },
            tokens: if words { TokenKind::Words } else { TokenKind::Chars },
            dims: Dims { n_x: n_v + usize::from(dense), n_h, n_y: n_v },
            n_layers,
        };
        let model = Model::random(header, seed);
        model.with_parts(|parts| -> Result<(), TestCaseError> {
            let target = Header { dtype, ..header };
            let (nq, ns) = (target.weight_count(), target.scale_count());
            if !shared {
                prop_assert_eq!(q8_buffer_lens(&header), (nq, ns));
            }
            let (mut q, mut s) = (vec![0i8; nq], vec![0f32; ns]);
            let mut layers = no_layers();
            let (qparts, errors) = quantize_family_to(parts, dtype, &mut q, &mut s, &mut layers).expect("quantize");
            prop_assert_eq!(qparts.header.dtype, dtype);
            // Shared: each w_hh borrows its w_ih's scales.
            for l in qparts.layers {
                let (WeightParts::Q8 { scale: a, .. }, WeightParts::Q8 { scale: b, .. }) = (l.w_ih, l.w_hh) else {
                    return Err(TestCaseError::fail("not q8"));
                };
                prop_assert_eq!(core::ptr::eq(a, b), shared);
            }
            check_errors(parts, &qparts, &errors)?;
            let mut bytes = vec![0u8; format::encoded_len_family(&qparts).expect("len")];
            format::encode_family(&qparts, &mut bytes).expect("encode");
            let view = format::decode_family(&bytes).expect("decode");
            prop_assert_eq!(view.header, qparts.header);
            let pairs = view.layers().iter().zip(qparts.layers).flat_map(|(v, p)| [(v.w_ih, p.w_ih), (v.w_hh, p.w_hh)]);
            for (v, p) in pairs.chain([(view.w_y, qparts.w_y)]) {
                let (Weights::Q8(v), WeightParts::Q8 { q, scale }) = (v, p) else {
                    return Err(TestCaseError::fail("not q8"));
                };
                prop_assert_eq!(v.q(), q);
                prop_assert!(v.scale().iter().all(|x| x.is_finite() && x > 0.0));
                let read: Vec<u32> = v.scale().iter().map(f32::to_bits).collect();
                let wrote: Vec<u32> = scale.iter().map(|x| x.to_bits()).collect();
                prop_assert_eq!(read, wrote);
            }
            // The decoded model dequantizes to within half a step of the f32 weights.
            let layouts = (0..n_layers).flat_map(|l| [header.w_ih_layout(l), header.w_hh_layout()]);
            let origs = parts.layers.iter().flat_map(|p| [p.w_ih, p.w_hh]).chain([parts.w_y]);
            let views = view.layers().iter().flat_map(|v| [v.w_ih, v.w_hh]).chain([view.w_y]);
            for ((layout, orig), v) in layouts.chain([header.w_y_layout()]).zip(origs).zip(views) {
                let (WeightParts::F32(w), Weights::Q8(t)) = (orig, v) else {
                    return Err(TestCaseError::fail("dtypes"));
                };
                let mut deq = vec![0f32; w.len()];
                v.dequantize_into(layout, &mut deq).expect("dequantize");
                for (i, (&wi, &di)) in w.iter().zip(&deq).enumerate() {
                    let si = t.scale().get(layout.unit_of(i)).expect("scale");
                    prop_assert!(within_half_step(wi, di, si), "w {wi} deq {di} scale {si}");
                }
            }
            // Quantizing a q8 model is refused.
            let (mut q2, mut s2) = (vec![0i8; nq], vec![0f32; ns]);
            let mut layers2 = no_layers();
            prop_assert_eq!(
                quantize_family_to(&qparts, dtype, &mut q2, &mut s2, &mut layers2).map(|_| ()),
                Err(Error::DtypeMismatch { tensor: "w_ih" })
            );
            // So is quantizing to f32.
            let mut layers3 = no_layers();
            prop_assert_eq!(
                quantize_family_to(parts, Dtype::F32, &mut q2, &mut s2, &mut layers3).map(|_| ()),
                Err(Error::DtypeMismatch { tensor: "w_ih" })
            );
            Ok(())
        })?;
    }
}

/// Each matrix's reported error is its largest `|q·s - w|`, and within half a step.
fn check_errors(
    f: &FamilyParts<'_>,
    q: &FamilyParts<'_>,
    e: &QuantErrors,
) -> Result<(), TestCaseError> {
    let h = q.header;
    let check = |orig: WeightParts<'_>, quant: WeightParts<'_>, layout: WeightLayout, err: f32| {
        let (WeightParts::F32(w), WeightParts::Q8 { q, scale }) = (orig, quant) else {
            return Err(TestCaseError::fail("dtypes"));
        };
        let mut worst = 0f32;
        for (i, (&wi, &qi)) in w.iter().zip(q).enumerate() {
            let s = scale[layout.unit_of(i)];
            let d = f32::from(qi) * s;
            prop_assert!(within_half_step(wi, d, s));
            worst = worst.max((f64::from(d) - f64::from(wi)).abs() as f32);
        }
        prop_assert_eq!(worst, err);
        Ok(())
    };
    for (l, (a, b)) in f.layers.iter().zip(q.layers).enumerate() {
        check(a.w_ih, b.w_ih, h.w_ih_layout(l), e.w_ih[l])?;
        check(a.w_hh, b.w_hh, h.w_hh_layout(), e.w_hh[l])?;
    }
    check(f.w_y, q.w_y, h.w_y_layout(), e.w_y)
}

#[test]
fn quantize_family_refuses_overlong_rows_and_wrong_buffers() {
    let dims = Dims {
        n_x: 2,
        n_h: 517,
        n_y: 2,
    };
    let header = Header::plain(InputKind::OneHot, dims);
    let model = Model::random(header, 1);
    model.with_parts(|parts| {
        let (nq, ns) = q8_buffer_lens(&header);
        let (mut q, mut s) = (vec![0i8; nq], vec![0f32; ns]);
        let mut layers = no_layers();
        assert_eq!(
            quantize_family(parts, &mut q, &mut s, &mut layers).map(|_| ()),
            Err(Error::AccumulatorBound {
                name: "n_h",
                n: 517,
                max: 516
            })
        );
    });
    let header = Header::plain(
        InputKind::OneHot,
        Dims {
            n_x: 2,
            n_h: 3,
            n_y: 2,
        },
    );
    let model = Model::random(header, 2);
    model.with_parts(|parts| {
        let (nq, ns) = q8_buffer_lens(&header);
        let (mut q, mut s) = (vec![0i8; nq - 1], vec![0f32; ns]);
        let mut layers = no_layers();
        assert_eq!(
            quantize_family(parts, &mut q, &mut s, &mut layers).map(|_| ()),
            Err(Error::BufferTooSmall {
                needed: nq,
                available: nq - 1
            })
        );
    });
    let mut q = [0i8; 2];
    let mut s = [0f32; 1];
    let layout = WeightLayout::RowMajor { rows: 1, n_in: 2 };
    assert_eq!(
        quantize_weights("w_hh", &[1.0, f32::NAN], layout, &mut q, &mut s),
        Err(Error::NonFinite {
            tensor: "w_hh",
            index: 1
        })
    );
    assert!(matches!(
        quantize_weights("w_hh", &[1.0], layout, &mut q, &mut s),
        Err(Error::TensorLength { tensor: "w_hh", .. })
    ));
}

// ---------------------------------------------------------------- helpers

/// The layer slots `quantize_family` fills.
fn no_layers() -> [LayerParts<'static>; MAX_LAYERS] {
    let empty = LayerParts {
        w_ih: WeightParts::F32(&[]),
        w_hh: WeightParts::F32(&[]),
        b: &[],
        b_hn: &[],
    };
    [empty; MAX_LAYERS]
}

struct Layer {
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b: Vec<f32>,
    b_hn: Vec<f32>,
}

struct Model {
    header: Header,
    vocab: String,
    layers: Vec<Layer>,
    w_y: Vec<f32>,
    b_y: Vec<f32>,
}

impl Model {
    /// Weights uniform in ±2, with every fifth unit's values zero in `w_hh`.
    fn random(header: Header, seed: u64) -> Model {
        let mut state = seed | 1;
        let mut vals = move |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 23) as f32 * 2.0 - 2.0
                })
                .collect()
        };
        let layers = (0..header.n_layers)
            .map(|l| {
                let mut w_hh = vals(header.w_hh_len());
                let n_h = header.dims.n_h;
                for row in w_hh.chunks_mut(n_h).step_by(5) {
                    row.fill(0.0);
                }
                Layer {
                    w_ih: vals(header.w_ih_len(l)),
                    w_hh,
                    b: vals(header.b_len()),
                    b_hn: vals(header.b_hn_len()),
                }
            })
            .collect();
        let n_y = header.dims.n_y;
        let vocab = match header.tokens {
            TokenKind::Chars => (0..n_y as u32)
                .map(|i| char::from_u32(0x41 + i).expect("char"))
                .collect(),
            TokenKind::Words => (0..n_y)
                .map(|i| format!("t{i}"))
                .collect::<Vec<_>>()
                .join(" "),
        };
        Model {
            header,
            vocab,
            layers,
            w_y: vals(n_y * header.dims.n_h),
            b_y: vals(n_y),
        }
    }

    fn with_parts<T>(&self, f: impl FnOnce(&FamilyParts<'_>) -> T) -> T {
        let layers: Vec<LayerParts<'_>> = self
            .layers
            .iter()
            .map(|l| LayerParts {
                w_ih: WeightParts::F32(&l.w_ih),
                w_hh: WeightParts::F32(&l.w_hh),
                b: &l.b,
                b_hn: &l.b_hn,
            })
            .collect();
        f(&FamilyParts {
            header: self.header,
            vocab: &self.vocab,
            layers: &layers,
            w_y: WeightParts::F32(&self.w_y),
            b_y: &self.b_y,
        })
    }
}

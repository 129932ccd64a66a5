//! The q8 product's cases: int8 rows × Q15 state ([`crate::quant`]), each
//! [`Q8Impl`] against the portable one.

use core::fmt;

use super::{Rng, SCRATCH_LEN, Summary, first_difference, take};
use crate::kernels::Q8Impl;
use crate::weight_order::{WeightOrder, interleave_quads};

/// The q8 row lengths beyond 1..=70 (odd, not multiples of 8 or 4, and the bound).
const Q8_LARGE: [usize; 4] = [97, 130, 257, crate::format::MAX_Q8_ROW];
/// The longest q8 row (and the most rows) of any q8 case.
pub const MAX_Q8_N: usize = crate::format::MAX_Q8_ROW;

/// Bytes of one case's int8 matrix: `MAX_Q8_N²` and an offset of up to 3.
const W_BYTES: usize = MAX_Q8_N * MAX_Q8_N + 4;

/// Floats of scratch [`run_q8`] needs: the weights (row-major and in quad
/// order), the input column, the Q15 vectors, and the f32 scales, biases,
/// state and outputs.
pub const SCRATCH_Q8_LEN: usize =
    (2 * W_BYTES + MAX_Q8_N + 4).div_ceil(4) + 2 * (MAX_Q8_N + 2).div_ceil(2) + 7 * MAX_Q8_N;

const _: () = assert!(SCRATCH_Q8_LEN <= SCRATCH_LEN);

/// One q8 product case: the matrix shape, where the weights and the Q15
/// vector start (byte offset of `w` from a word boundary, i16 offset of `x`),
/// and whether the values are the extreme ones (every `|w| = 127`, every
/// `|x| = 32767`, signs agreeing: the largest accumulator the bound allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Q8Case {
    /// Rows (output units).
    pub rows: usize,
    /// Row length (columns).
    pub n: usize,
    /// Byte offset of the weights from a 4-byte boundary (0..4).
    pub w_offset: usize,
    /// Element offset of the Q15 vector from a 4-byte boundary (0 or 1).
    pub x_offset: usize,
    /// All weights ±127 and all states ±1 with matching signs.
    pub extreme: bool,
    /// Seed of the values.
    pub seed: u64,
}

impl fmt::Display for Q8Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "q8 rows {} n {} w_offset {} x_offset {}{} seed {}",
            self.rows,
            self.n,
            self.w_offset,
            self.x_offset,
            if self.extreme { " extreme" } else { "" },
            self.seed
        )
    }
}

/// Every q8 case, in a fixed order: for each `n` in 1..=70 and [`Q8_LARGE`],
/// a square matrix (`rows = n`) on aligned buffers, a short one (1 to 13
/// rows) on buffers at every misalignment in turn, and for every seventh
/// size and the large ones the extreme values.
pub fn q8_cases() -> impl Iterator<Item = Q8Case> {
    (1..=70).chain(Q8_LARGE).flat_map(|n| {
        let case = |rows, w_offset, x_offset, extreme, k: u64| Q8Case {
            rows,
            n,
            w_offset,
            x_offset,
            extreme,
            seed: (n as u64) << 8 | k,
        };
        let extreme = (n % 7 == 0 || n > 70).then(|| case(n.min(64) | 1, 0, 0, true, 2));
        [
            Some(case(n, 0, 0, false, 0)),
            Some(case(1 + (n * 7 + 3) % 13, n % 4, (n / 4) % 2, false, 1)),
            extreme,
        ]
        .into_iter()
        .flatten()
    })
}

/// One difference between a q8 implementation and the portable one.
#[derive(Debug, Clone, Copy)]
pub struct Q8Mismatch {
    /// The case.
    pub case: Q8Case,
    /// The implementation checked.
    pub imp: Q8Impl,
    /// Which output (`gemv_q8`, `gemv_q8_add`, …).
    pub check: &'static str,
    /// The index of the first differing element.
    pub index: usize,
    /// The reference bits.
    pub want: u32,
    /// The implementation's bits.
    pub got: u32,
}

impl fmt::Display for Q8Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} differs from portable: {} ({}), index {}: {:#010x} ({}) != {:#010x} ({})",
            self.imp.name(),
            self.check,
            self.case,
            self.index,
            self.got,
            f32::from_bits(self.got),
            self.want,
            f32::from_bits(self.want),
        )
    }
}

/// Runs every case of [`q8_cases`] on `imp` against [`Q8Impl::Portable`]:
/// `q15_state` then `gemv_q8`, `gemv_q8_in` over the same matrix in quad
/// order ([`crate::weight_order`]; against the row-major reference), and
/// `gemv_q8_add` (and `gemv_q8_add_in` in quad order), bit for bit, calling
/// `on_mismatch` for each difference (at most one per output).
///
/// # Panics
/// If `scratch` is shorter than [`SCRATCH_Q8_LEN`].
pub fn run_q8(
    imp: Q8Impl,
    scratch: &mut [f32],
    mut on_mismatch: impl FnMut(&Q8Mismatch),
) -> Summary {
    super::tally(q8_cases(), |case, comparisons| {
        run_q8_case(imp, case, scratch, comparisons, &mut on_mismatch)
    })
}

/// Random int8 weights in [-127, 127], one in eight ±127.
pub(super) fn q8_weights(rng: &mut Rng, w: &mut [i8]) {
    for v in w {
        let r = rng.next_u64();
        *v = match r % 16 {
            0 => 127,
            1 => -127,
            _ => (((r >> 8) % 255) as i16 - 127) as i8,
        };
    }
}

/// Random states: mostly `q · 2^-15` for q uniform in [-32767, 32767], and
/// the edges: ±1 (→ ±32767), ±32767·2^-15, ties `(q + 0.5) · 2^-15`, and
/// values beyond ±1 (clamped).
fn q8_states(rng: &mut Rng, h: &mut [f32]) {
    for v in h {
        let r = rng.next_u64();
        let q = ((r >> 16) % 65535) as f32 - 32767.0;
        *v = match r % 16 {
            0 => 1.0,
            1 => -1.0,
            2 => 32767.0 / 32768.0,
            3 => -32767.0 / 32768.0,
            4 | 5 => (q.clamp(-32766.0, 32766.0) + 0.5) / 32768.0,
            6 => 1.25,
            _ => q / 32768.0,
        };
    }
}

/// Runs one q8 case; returns true if anything differed.
fn run_q8_case(
    imp: Q8Impl,
    case: &Q8Case,
    scratch: &mut [f32],
    comparisons: &mut usize,
    on_mismatch: &mut impl FnMut(&Q8Mismatch),
) -> bool {
    let (rows, n) = (case.rows, case.n);
    let mut rng = Rng::new(case.seed);
    let (bytes, mut rest) =
        scratch[..SCRATCH_Q8_LEN].split_at_mut((2 * W_BYTES + MAX_Q8_N + 4).div_ceil(4));
    let bytes: &mut [i8] = bytemuck::cast_slice_mut(bytes);
    let (w_all, rest_bytes) = bytes.split_at_mut(W_BYTES);
    let (wq_all, col_all) = rest_bytes.split_at_mut(W_BYTES);
    let w = &mut w_all[case.w_offset..case.w_offset + rows * n];
    let wq = &mut wq_all[case.w_offset..case.w_offset + rows * n];
    let col = &mut col_all[..rows];
    let xr_all: &mut [i16] = bytemuck::cast_slice_mut(take(&mut rest, (MAX_Q8_N + 2).div_ceil(2)));
    let xk_all: &mut [i16] = bytemuck::cast_slice_mut(take(&mut rest, (MAX_Q8_N + 2).div_ceil(2)));
    let xr = &mut xr_all[..n];
    let xk = &mut xk_all[case.x_offset..case.x_offset + n];
    let [scale, col_scale, b, out_r, out_k] =
        [(); 5].map(|()| &mut take(&mut rest, MAX_Q8_N)[..rows]);
    let h = &mut take(&mut rest, MAX_Q8_N)[..n];
    if case.extreme {
        // Row k's signs follow the state's, alternating by row: sums of ±n·127·32767.
        q8_states(&mut rng, h);
        for (j, v) in h.iter_mut().enumerate() {
            *v = if j % 3 == 1 { -1.0 } else { 1.0 };
        }
        for (k, row) in w.chunks_exact_mut(n).enumerate() {
            for (wj, hj) in row.iter_mut().zip(h.iter()) {
                let same = (*hj > 0.0) == (k % 2 == 0);
                *wj = if same { 127 } else { -127 };
            }
        }
    } else {
        q8_weights(&mut rng, w);
        q8_states(&mut rng, h);
    }
    q8_weights(&mut rng, col);
    for s in [&mut *scale, &mut *col_scale] {
        for v in s.iter_mut() {
            // Positive, from about 2^-20 to 2.
            *v = (1.0 + rng.unit()) * f32::from_bits((107 + (rng.next_u64() % 21) as u32) << 23);
            if *v == 0.0 {
                *v = 1.0;
            }
        }
    }
    rng.fill(b, 2.0);
    let mut failed = false;
    let mut check = |check: &'static str, want: &[f32], got: &[f32]| {
        *comparisons += 1;
        if let Some(index) = first_difference(want, got) {
            failed = true;
            on_mismatch(&Q8Mismatch {
                case: *case,
                imp,
                check,
                index,
                want: want.get(index).map_or(0, |v| v.to_bits()),
                got: got.get(index).map_or(0, |v| v.to_bits()),
            });
        }
    };
    let flag = |ok: bool| [if ok { 1.0f32 } else { 0.0 }];
    let reference = Q8Impl::Portable;
    let ok_r = reference.q15_state(h, xr).is_ok() && reference.gemv_q8(w, scale, xr, out_r).is_ok();
    let ok_k = imp.q15_state(h, xk).is_ok() && imp.gemv_q8(w, scale, xk, out_k).is_ok();
    check("gemv_q8 ok", &flag(ok_r), &flag(ok_k));
    check("gemv_q8", out_r, out_k);
    interleave_quads(w, rows, n, wq);
    out_k.fill(f32::NAN);
    let ok_k = imp
        .gemv_q8_in(WeightOrder::Quads, wq, scale, xk, out_k)
        .is_ok();
    check("gemv_q8_in quads ok", &flag(ok_r), &flag(ok_k));
    check("gemv_q8_in quads", out_r, out_k);
    let ok_r = reference
        .gemv_q8_add(w, scale, xr, col, col_scale, b, out_r)
        .is_ok();
    let ok_k = imp
        .gemv_q8_add(w, scale, xk, col, col_scale, b, out_k)
        .is_ok();
    check("gemv_q8_add ok", &flag(ok_r), &flag(ok_k));
    check("gemv_q8_add", out_r, out_k);
    out_k.fill(f32::NAN);
    let ok_k = imp
        .gemv_q8_add_in(WeightOrder::Quads, wq, scale, xk, col, col_scale, b, out_k)
        .is_ok();
    check("gemv_q8_add_in quads ok", &flag(ok_r), &flag(ok_k));
    check("gemv_q8_add_in quads", out_r, out_k);
    failed
}

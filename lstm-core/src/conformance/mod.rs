//! The kernel conformance suite's cases, in one place for every target: the
//! host test (`tests/conformance.rs`) and the Cortex-M4F run under QEMU
//! (`conformance-m4f/`) both call [`run`]. `no_std`, no heap: the caller
//! lends [`SCRATCH_LEN`] floats.
//!
//! Each [`Case`] is a network of deterministic pseudo-random weights (one
//! to three layers of one cell kind); for three steps it compares, bit for
//! bit, a kernel against [`Kernel::Portable`]: every layer's `layer_step`
//! (h and c) and `layer_step_rows` with several splits (empty, one unit,
//! odd, multiples of eight), the whole `network_step`, `output_logits`,
//! `softmax` and `dot` over every prefix length of a row. Single layers of
//! every kind at hidden sizes 1 to 70 and some larger ones, one-hot and
//! dense input, weights large enough to saturate every activation; stacks
//! of two and three layers at fewer sizes.

use core::fmt;

use crate::format::CellKind;
use crate::{Input, InputKind, InputLayout, Kernel, NetworkView, OutputView, RecurrentView};

mod lut;
mod q8;
mod q8net;

pub use lut::{MAX_TABLE_LEN, SCRATCH_TABLE_LEN, TableCase, TableMismatch, run_table, table_cases};
pub use q8::{MAX_Q8_N, Q8Case, Q8Mismatch, SCRATCH_Q8_LEN, q8_cases, run_q8};
pub use q8net::{Q8NetCase, Q8NetMismatch, SCRATCH_Q8_NET_LEN, q8_net_cases, run_q8_net};

/// The larger hidden sizes beyond 1..=70 (odd, multiples of 8 and 32, and neither).
const LARGE_HIDDEN: [usize; 6] = [96, 97, 128, 130, 256, 257];
/// The hidden sizes of the stacked (two- and three-layer) cases.
const STACK_HIDDEN: [usize; 11] = [1, 2, 3, 5, 8, 9, 16, 17, 31, 33, 64];
/// The cell kinds, in case order.
const KINDS: [CellKind; 3] = [CellKind::Lstm, CellKind::Gru, CellKind::Rnn];
/// The largest hidden size of any case.
pub const MAX_HIDDEN: usize = 257;
/// The largest hidden size of a stacked case.
pub const MAX_STACK_HIDDEN: usize = 64;
/// The most layers of any case.
pub const MAX_LAYERS: usize = 3;
/// The largest vocabulary of any case.
pub const MAX_VOCAB: usize = 13;
/// Steps run per case.
const STEPS: usize = 3;
/// The softmax temperature.
const TEMPERATURE: f32 = 0.7;

/// Floats of scratch [`run`] needs (the largest case's weights and buffers).
pub const SCRATCH_LEN: usize = max(
    case_len(4, 1, MAX_VOCAB, MAX_HIDDEN),
    case_len(4, MAX_LAYERS, MAX_VOCAB, MAX_STACK_HIDDEN),
);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Floats of one case's weights and buffers (`g` gate blocks, a bound for every kind).
const fn case_len(g: usize, layers: usize, n_v: usize, n_h: usize) -> usize {
    let layer0 = g * n_v * n_h + g * n_h * n_h + g * n_h + n_h;
    let upper = g * n_h * n_h + g * n_h * n_h + g * n_h + n_h;
    let weights = layer0 + (layers - 1) * upper + n_v * n_h + n_v;
    // reference, kernel, previous h and c (every layer); one layer's h and c
    // twice (whole step, split step); scratch; two logits; dense x
    let buffers = 6 * layers * n_h + 4 * n_h + 5 * n_h + 3 * n_v;
    weights + buffers
}

/// One conformance case: a network's cell kind, layers, sizes, weight scale, input kind and seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    /// Cell kind of every layer.
    pub kind: CellKind,
    /// Number of layers.
    pub layers: usize,
    /// Hidden size.
    pub n_h: usize,
    /// Vocabulary (input and output) size.
    pub n_v: usize,
    /// Weights are uniform in `±scale`.
    pub scale: f32,
    /// Dense input vectors instead of tokens (layer 0).
    pub dense: bool,
    /// Seed of the weights, the initial state and the inputs.
    pub seed: u64,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} x{} n_h {} n_v {} scale {} {} seed {}",
            self.kind.name(),
            self.layers,
            self.n_h,
            self.n_v,
            self.scale,
            if self.dense { "dense" } else { "one-hot" },
            self.seed
        )
    }
}

/// Every case, in a fixed order. For each cell kind: one layer at hidden
/// sizes 1..=70 and [`LARGE_HIDDEN`], each one-hot and dense at scale 1.5,
/// and every third small size one-hot at scale 80 (pre-activations far
/// outside `exp`'s range); then two and three layers at [`STACK_HIDDEN`],
/// one-hot and dense, and every third of those sizes saturating.
pub fn cases() -> impl Iterator<Item = Case> {
    let singles = KINDS.into_iter().flat_map(|kind| {
        (1..=70)
            .chain(LARGE_HIDDEN)
            .flat_map(move |n_h| variants(kind, 1, n_h, n_h <= 70 && n_h % 3 == 1))
    });
    let stacks = KINDS.into_iter().flat_map(|kind| {
        [2, 3].into_iter().flat_map(move |layers| {
            STACK_HIDDEN
                .into_iter()
                .enumerate()
                .flat_map(move |(i, n_h)| variants(kind, layers, n_h, i % 3 == 0))
        })
    });
    singles.chain(stacks)
}

/// A size's cases: one-hot and dense at scale 1.5, and one-hot at scale 80 if `saturate`.
fn variants(
    kind: CellKind,
    layers: usize,
    n_h: usize,
    saturate: bool,
) -> impl Iterator<Item = Case> {
    let n_v = 1 + (n_h * 5 + 3) % MAX_VOCAB;
    let case = move |scale, dense, k: u64| Case {
        kind,
        layers,
        n_h,
        n_v,
        scale,
        dense,
        seed: (kind.code() as u64) << 24 | (layers as u64) << 16 | (n_h as u64) << 8 | k,
    };
    [
        Some(case(1.5, false, 0)),
        Some(case(1.5, true, 1)),
        saturate.then(|| case(80.0, false, 2)),
    ]
    .into_iter()
    .flatten()
}

/// One difference between a kernel and the portable reference.
#[derive(Debug, Clone, Copy)]
pub struct Mismatch {
    /// The case.
    pub case: Case,
    /// The kernel checked.
    pub kernel: Kernel,
    /// Which output (`step h`, `step_rows c`, `logits`, …).
    pub check: &'static str,
    /// Step number (0-based).
    pub step: usize,
    /// A detail: the split of `step_rows`, the length of `dot`, else 0.
    pub detail: usize,
    /// The index of the first differing element.
    pub index: usize,
    /// The reference bits.
    pub want: u32,
    /// The kernel's bits.
    pub got: u32,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} differs from portable: {} ({}), step {}, detail {}, index {}: {:#010x} ({}) != {:#010x} ({})",
            self.kernel.name(),
            self.check,
            self.case,
            self.step,
            self.detail,
            self.index,
            self.got,
            f32::from_bits(self.got),
            self.want,
            f32::from_bits(self.want),
        )
    }
}

/// How many cases and bit comparisons passed or failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases whose every output matched.
    pub passed: usize,
    /// Cases with at least one mismatch.
    pub failed: usize,
    /// Outputs compared (vectors, each bit for bit).
    pub comparisons: usize,
}

/// Runs every case of [`cases`] on `kernel` against [`Kernel::Portable`],
/// calling `on_mismatch` for each difference (at most one per output).
///
/// # Panics
/// If `scratch` is shorter than [`SCRATCH_LEN`].
pub fn run(kernel: Kernel, scratch: &mut [f32], mut on_mismatch: impl FnMut(&Mismatch)) -> Summary {
    tally(cases(), |case, comparisons| {
        run_case(kernel, case, scratch, comparisons, &mut on_mismatch)
    })
}

/// Runs `run_one` on every case (it adds to the comparison count and says
/// whether the case failed) and counts the cases that passed and failed:
/// the loop of [`run`], [`run_q8`], [`run_q8_net`] and [`run_table`].
fn tally<C>(
    cases: impl Iterator<Item = C>,
    mut run_one: impl FnMut(&C, &mut usize) -> bool,
) -> Summary {
    let mut summary = Summary::default();
    for case in cases {
        let before = summary.comparisons;
        let failed = run_one(&case, &mut summary.comparisons);
        debug_assert!(summary.comparisons > before, "a case compared nothing");
        if failed {
            summary.failed += 1;
        } else {
            summary.passed += 1;
        }
    }
    summary
}

/// A xorshift64 stream of values uniform in `[-1, 1)`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn fill(&mut self, v: &mut [f32], scale: f32) {
        for x in v {
            *x = self.unit() * scale;
        }
    }
}

/// The index of the first element whose bits differ (0 if the lengths differ).
fn first_difference(want: &[f32], got: &[f32]) -> Option<usize> {
    let diff = want
        .iter()
        .zip(got)
        .position(|(w, g)| w.to_bits() != g.to_bits());
    diff.or((want.len() != got.len()).then_some(0))
}

/// Takes the first `n` values off `rest`.
fn take<'a>(rest: &mut &'a mut [f32], n: usize) -> &'a mut [f32] {
    let (head, tail) = core::mem::take(rest).split_at_mut(n);
    *rest = tail;
    head
}

/// The splits `step_rows` is checked with: empty halves, one unit, the middle,
/// a multiple of eight and an odd one.
fn splits(n_h: usize) -> [usize; 6] {
    [0, 1.min(n_h), n_h / 2, n_h / 8 * 8, (n_h / 3) | 1, n_h].map(|s| s.min(n_h))
}

/// Runs one case; returns true if anything differed.
#[allow(clippy::too_many_lines)]
fn run_case(
    kernel: Kernel,
    case: &Case,
    scratch: &mut [f32],
    comparisons: &mut usize,
    on_mismatch: &mut impl FnMut(&Mismatch),
) -> bool {
    let (n_v, n_h, n_l) = (case.n_v, case.n_h, case.layers);
    let g = case.kind.gates();
    let c_len = if case.kind.has_cell_state() { n_h } else { 0 };
    let mut rng = Rng::new(case.seed);
    let need = case_len(g, n_l, n_v, n_h);
    assert!(
        scratch.len() >= need && n_l <= MAX_LAYERS,
        "conformance case {case} needs {need} floats of scratch"
    );
    // Every layer's w_ih, w_hh, b, b_hn; then w_y, b_y: filled, then shared.
    let mut layer_lens = [[0usize; 4]; MAX_LAYERS];
    for (l, lens) in layer_lens.iter_mut().take(n_l).enumerate() {
        let n_in = if l == 0 { n_v } else { n_h };
        let b_hn = if case.kind == CellKind::Gru { n_h } else { 0 };
        *lens = [g * n_in * n_h, g * n_h * n_h, g * n_h, b_hn];
    }
    let total = layer_lens.iter().flatten().sum::<usize>() + n_v * n_h + n_v;
    let (weights, mut rest) = scratch[..need].split_at_mut(total);
    rng.fill(weights, case.scale);
    let [h_r, c_r, h_k, c_k, h_prev, c_prev] = [(); 6].map(|()| take(&mut rest, n_l * n_h));
    let [h_l, c_l, h_s, c_s] = [(); 4].map(|()| take(&mut rest, n_h));
    let gates = take(&mut rest, 5 * n_h);
    let (p_r, p_k, x) = (
        take(&mut rest, n_v),
        take(&mut rest, n_v),
        take(&mut rest, n_v),
    );
    let (c_r, c_k, c_prev) = (
        &mut c_r[..n_l * c_len],
        &mut c_k[..n_l * c_len],
        &mut c_prev[..n_l * c_len],
    );
    let (c_l, c_s) = (&mut c_l[..c_len], &mut c_s[..c_len]);
    let mut w_rest: &[f32] = weights;
    let mut next = |len: usize| {
        let (head, tail) = w_rest.split_at(len);
        w_rest = tail;
        head
    };
    let mut layers: heapless::Vec<RecurrentView<'_>, MAX_LAYERS> = heapless::Vec::new();
    for (l, lens) in layer_lens.iter().take(n_l).enumerate() {
        let (layout, n_in) = if l == 0 {
            (InputLayout::Gather, n_v)
        } else {
            (InputLayout::Rows, n_h)
        };
        let layer = RecurrentView::new(
            case.kind,
            layout,
            n_in,
            n_h,
            next(lens[0]),
            next(lens[1]),
            next(lens[2]),
            next(lens[3]),
        );
        // The sizes are this function's own; a failure here is a bug in the suite.
        let pushed = match layer {
            Ok(layer) => layers.push(layer).is_ok(),
            Err(_) => false,
        };
        assert!(pushed, "conformance case {case} builds no layer {l}");
    }
    let net = OutputView::new(n_h, n_v, next(n_v * n_h), next(n_v))
        .and_then(|out| NetworkView::new(InputKind::OneHot, &layers, out));
    let Ok(net) = net else {
        panic!("conformance case {case} builds no network");
    };
    rng.fill(h_r, 1.0);
    rng.fill(c_r, 1.0);
    let mut failed = false;
    let mut check = |check: &'static str, step: usize, detail: usize, want: &[f32], got: &[f32]| {
        *comparisons += 1;
        if let Some(index) = first_difference(want, got) {
            failed = true;
            on_mismatch(&Mismatch {
                case: *case,
                kernel,
                check,
                step,
                detail,
                index,
                want: want.get(index).map_or(0, |v| v.to_bits()),
                got: got.get(index).map_or(0, |v| v.to_bits()),
            });
        }
    };
    let reference = Kernel::Portable;
    let flag = |ok: bool| [if ok { 1.0f32 } else { 0.0 }];
    for step in 0..STEPS {
        let token = (rng.next_u64() % n_v as u64) as usize;
        rng.fill(x, 1.0);
        h_prev.copy_from_slice(h_r);
        c_prev.copy_from_slice(c_r);
        // Layer by layer: the reference's step, the kernel's whole step and
        // its split steps from the same previous state and input.
        for (l, layer) in net.layers().iter().enumerate() {
            let (below, here) = h_r.split_at_mut(l * n_h);
            let h_rl = &mut here[..n_h];
            let c_rl = &mut c_r[l * c_len..(l + 1) * c_len];
            let input = match (l, case.dense) {
                (0, false) => Input::Token(token),
                (0, true) => Input::Dense(&*x),
                _ => Input::Dense(&below[(l - 1) * n_h..]),
            };
            let hp = &h_prev[l * n_h..(l + 1) * n_h];
            let cp = &c_prev[l * c_len..(l + 1) * c_len];
            h_l.copy_from_slice(hp);
            c_l.copy_from_slice(cp);
            // Lengths are right by construction: an error is a failed check.
            let ok_r = reference
                .layer_step(layer, input, h_rl, c_rl, gates)
                .is_ok();
            let ok_k = kernel.layer_step(layer, input, h_l, c_l, gates).is_ok();
            check("layer_step ok", step, l, &flag(ok_r), &flag(ok_k));
            check("layer_step h", step, l, h_rl, h_l);
            check("layer_step c", step, l, c_rl, c_l);
            for split in splits(n_h) {
                c_s.copy_from_slice(cp);
                let (h_lo, h_hi) = h_s.split_at_mut(split);
                let c_split = split.min(c_len);
                let (c_lo, c_hi) = c_s.split_at_mut(c_split);
                let lo = kernel.layer_step_rows(layer, input, 0..split, hp, c_lo, h_lo, gates);
                let hi = kernel.layer_step_rows(layer, input, split..n_h, hp, c_hi, h_hi, gates);
                let detail = 1000 * l + split;
                check(
                    "layer_step_rows ok",
                    step,
                    detail,
                    &flag(true),
                    &flag(lo.is_ok() && hi.is_ok()),
                );
                check("layer_step_rows h", step, detail, h_rl, h_s);
                check("layer_step_rows c", step, detail, c_rl, c_s);
            }
        }
        h_k.copy_from_slice(h_prev);
        c_k.copy_from_slice(c_prev);
        let input = if case.dense {
            Input::Dense(&*x)
        } else {
            Input::Token(token)
        };
        let ok = kernel.network_step(&net, input, h_k, c_k, gates).is_ok();
        check("network_step ok", step, 0, &flag(true), &flag(ok));
        check("network_step h", step, 0, h_r, h_k);
        check("network_step c", step, 0, c_r, c_k);
        let top = &h_r[(n_l - 1) * n_h..];
        let ok_r = reference.output_logits(net.output(), top, p_r).is_ok();
        let ok_k = kernel.output_logits(net.output(), top, p_k).is_ok();
        check("logits ok", step, 0, &flag(ok_r), &flag(ok_k));
        check("logits", step, 0, p_r, p_k);
        p_k.copy_from_slice(p_r);
        reference.softmax(p_r, TEMPERATURE);
        kernel.softmax(p_k, TEMPERATURE);
        check("softmax", step, 0, p_r, p_k);
        if step == 0 {
            let row = &net.layers()[0].w_hh[0];
            for len in 0..=n_h {
                let (a, v) = (&row[..len], &h_r[..len]);
                let (want, got) = (reference.dot(a, v), kernel.dot(a, v));
                check("dot", step, len, &[want], &[got]);
            }
        }
    }
    failed
}

/// Whether `LSTM_REQUIRE_SIMD=1` asks that no SIMD kernel test be skipped.
#[cfg(feature = "std")]
pub fn simd_required() -> bool {
    std::env::var("LSTM_REQUIRE_SIMD").is_ok_and(|v| v == "1")
}

/// Reports a test that cannot run on this CPU: prints `skip: {reason}` (to
/// the real stderr, past the test harness's capture), or panics when
/// [`simd_required`].
#[cfg(feature = "std")]
pub fn skip(reason: &str) {
    assert!(!simd_required(), "LSTM_REQUIRE_SIMD=1, but {reason}");
    skip_extension(reason);
}

/// Reports a test of a CPU extension beyond AVX2 and FMA (the VNNI
/// products) that this CPU lacks: prints `skip: {reason}`, even when
/// [`simd_required`] (which promises AVX2 and FMA only).
#[cfg(feature = "std")]
pub fn skip_extension(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skip: {reason}");
}

//! Whole q8 networks: every cell kind, one to three layers, int8 weights
//! with per-unit scales; each kernel's steps, split steps and output layer
//! against [`Kernel::Portable`], bit for bit — some cases with the kernel's
//! network in quad order ([`crate::weight_order`]) against the row-major
//! reference.

use core::fmt;

use super::q8::q8_weights;
use super::{KINDS, Rng, SCRATCH_LEN, Summary, first_difference, take};
use crate::format::CellKind;
use crate::weight_order::{WeightOrder, interleave_quads};
use crate::{Input, InputKind, InputLayout, Kernel, NetworkView, OutputView, RecurrentView};

/// The single-layer hidden sizes beyond 1..=70.
const Q8_NET_LARGE: [usize; 7] = [96, 97, 100, 128, 130, 256, 257];
/// The hidden sizes of the stacked (two- and three-layer) q8 cases.
const Q8_NET_STACK: [usize; 14] = [1, 2, 3, 5, 8, 9, 13, 16, 17, 31, 33, 50, 64, 100];
/// The largest hidden size of a single-layer q8 case.
const MAX_Q8_NET_HIDDEN: usize = 257;
/// The largest hidden size of a stacked q8 case.
const MAX_Q8_NET_STACK: usize = 100;
/// The most layers.
const MAX_Q8_NET_LAYERS: usize = 3;
/// The largest vocabulary.
const MAX_Q8_NET_VOCAB: usize = 13;
/// Steps per case.
const STEPS: usize = 3;

/// Floats of scratch [`run_q8_net`] needs.
pub const SCRATCH_Q8_NET_LEN: usize = super::max(
    net_len(4, 1, MAX_Q8_NET_VOCAB, MAX_Q8_NET_HIDDEN),
    net_len(4, MAX_Q8_NET_LAYERS, MAX_Q8_NET_VOCAB, MAX_Q8_NET_STACK),
);

const _: () = assert!(SCRATCH_Q8_NET_LEN <= SCRATCH_LEN);

/// Words of one case's int8 matrices (each from a word boundary, plus a
/// word for the offset; and the quad-order copies of those that have
/// one), f32 scales and biases, and buffers (`g` gate blocks, a bound for
/// every kind).
const fn net_len(g: usize, layers: usize, n_v: usize, n_h: usize) -> usize {
    let q8 = words(g * n_v * n_h)
        + words(g * n_h * n_h)
        + (layers - 1) * 2 * words(g * n_h * n_h)
        + words(n_v * n_h);
    let quads = words(g * n_h * n_h) + (layers - 1) * 2 * words(g * n_h * n_h) + words(n_v * n_h);
    let q8 = q8 + quads;
    let f32s = layers * (3 * g * n_h + n_h) + 2 * n_v;
    // six states of every layer, two of one layer, the step scratch (f32
    // part and the Q15 operands), three vectors of n_v
    let buffers = 6 * layers * n_h + 2 * n_h + (5 * n_h + n_h + 2) + 3 * n_v;
    q8 + f32s + buffers
}

/// Words of an int8 matrix of `n` values placed at any byte offset.
const fn words(n: usize) -> usize {
    n.div_ceil(4) + 1
}

/// One whole-network q8 case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Q8NetCase {
    /// Cell kind of every layer.
    pub kind: CellKind,
    /// Number of layers.
    pub layers: usize,
    /// Hidden size.
    pub n_h: usize,
    /// Vocabulary size.
    pub n_v: usize,
    /// Typical pre-activation magnitude the scales aim at (80 saturates).
    pub reach: f32,
    /// Dense input vectors instead of tokens (layer 0).
    pub dense: bool,
    /// Byte offset of every int8 matrix from a word boundary (0..4).
    pub offset: usize,
    /// The kernel's network has its recurrent, rows-layout input and output
    /// matrices in quad order (the reference's stay row-major).
    pub quads: bool,
    /// Seed of the weights, the initial state and the inputs.
    pub seed: u64,
}

impl fmt::Display for Q8NetCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "q8 {} x{} n_h {} n_v {} reach {} {} offset {}{} seed {}",
            self.kind.name(),
            self.layers,
            self.n_h,
            self.n_v,
            self.reach,
            if self.dense { "dense" } else { "one-hot" },
            self.offset,
            if self.quads { " quads" } else { "" },
            self.seed
        )
    }
}

/// Every q8 network case, in a fixed order. For each cell kind: one layer
/// at hidden sizes 1..=70 and [`Q8_NET_LARGE`] (13, 50, 100 among them),
/// one-hot with word-aligned weights, dense with weights at byte offset
/// `n_h % 4`, and every third small size saturating; then two and three
/// layers at [`Q8_NET_STACK`], one-hot and dense (offsets alternating),
/// every third size saturating. Every size also has a quad-order case
/// (dense at even sizes, at byte offset `(n_h / 2) % 4`).
pub fn q8_net_cases() -> impl Iterator<Item = Q8NetCase> {
    let singles = KINDS.into_iter().flat_map(|kind| {
        (1..=70)
            .chain(Q8_NET_LARGE)
            .flat_map(move |n_h| net_variants(kind, 1, n_h, n_h <= 70 && n_h % 3 == 2))
    });
    let stacks = KINDS.into_iter().flat_map(|kind| {
        [2, 3].into_iter().flat_map(move |layers| {
            Q8_NET_STACK
                .into_iter()
                .enumerate()
                .flat_map(move |(i, n_h)| net_variants(kind, layers, n_h, i % 3 == 1))
        })
    });
    singles.chain(stacks)
}

fn net_variants(
    kind: CellKind,
    layers: usize,
    n_h: usize,
    saturate: bool,
) -> impl Iterator<Item = Q8NetCase> {
    let n_v = 1 + (n_h * 7 + 2) % MAX_Q8_NET_VOCAB;
    let case = move |reach, dense, offset, k: u64| Q8NetCase {
        kind,
        layers,
        n_h,
        n_v,
        reach,
        dense,
        offset,
        quads: k == 3,
        seed: 0x51 << 32
            | (kind.code() as u64) << 24
            | (layers as u64) << 16
            | (n_h as u64) << 8
            | k,
    };
    let odd = if layers > 1 {
        (n_h + layers) % 4
    } else {
        n_h % 4
    };
    [
        Some(case(1.5, false, 0, 0)),
        Some(case(1.5, true, odd, 1)),
        saturate.then(|| case(80.0, false, (n_h / 4) % 4, 2)),
        Some(case(1.5, n_h.is_multiple_of(2), (n_h / 2) % 4, 3)),
    ]
    .into_iter()
    .flatten()
}

/// One difference between a kernel and the portable reference on a q8 network.
#[derive(Debug, Clone, Copy)]
pub struct Q8NetMismatch {
    /// The case.
    pub case: Q8NetCase,
    /// The kernel checked.
    pub kernel: Kernel,
    /// Which output (`network_step h`, `layer_step_rows c`, `logits`, …).
    pub check: &'static str,
    /// Step number (0-based).
    pub step: usize,
    /// The index of the first differing element.
    pub index: usize,
    /// The reference bits.
    pub want: u32,
    /// The kernel's bits.
    pub got: u32,
}

impl fmt::Display for Q8NetMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} differs from portable: {} ({}), step {}, index {}: {:#010x} ({}) != {:#010x} ({})",
            self.kernel.name(),
            self.check,
            self.case,
            self.step,
            self.index,
            self.got,
            f32::from_bits(self.got),
            self.want,
            f32::from_bits(self.want),
        )
    }
}

/// Runs every case of [`q8_net_cases`] on `kernel` against
/// [`Kernel::Portable`], calling `on_mismatch` for each difference (at most
/// one per output).
///
/// # Panics
/// If `scratch` is shorter than [`SCRATCH_Q8_NET_LEN`].
pub fn run_q8_net(
    kernel: Kernel,
    scratch: &mut [f32],
    mut on_mismatch: impl FnMut(&Q8NetMismatch),
) -> Summary {
    super::tally(q8_net_cases(), |case, comparisons| {
        run_case(kernel, case, scratch, comparisons, &mut on_mismatch)
    })
}

/// Takes an int8 matrix of `len` values at byte offset `offset` off `rest`.
fn take_q8<'a>(rest: &mut &'a mut [f32], len: usize, offset: usize) -> &'a mut [i8] {
    let words = take(rest, len.div_ceil(4) + 1);
    let bytes: &mut [i8] = bytemuck::cast_slice_mut(words);
    &mut bytes[offset..offset + len]
}

/// Takes a copy of the `g` blocks of `rows × n` int8 values in `src`, each
/// block interleaved into quad order, at byte offset `offset` off `rest`.
fn quad_copy<'a>(
    rest: &mut &'a mut [f32],
    src: &[i8],
    g: usize,
    rows: usize,
    n: usize,
    offset: usize,
) -> &'a [i8] {
    let dst = take_q8(rest, g * rows * n, offset);
    for (d, s) in dst
        .chunks_exact_mut(rows * n)
        .zip(src.chunks_exact(rows * n))
    {
        interleave_quads(s, rows, n, d);
    }
    dst
}

/// Scales aiming a row of `n` terms at about `reach`: `reach / (127·√n)`
/// times a factor in [0.5, 1.5).
fn scales(rng: &mut Rng, s: &mut [f32], n: usize, reach: f32) {
    let root = libm::sqrtf(n as f32);
    for v in s {
        *v = reach / (127.0 * root) * (1.0 + 0.5 * rng.unit());
    }
}

/// Runs one case; returns true if anything differed.
#[allow(clippy::too_many_lines)]
fn run_case(
    kernel: Kernel,
    case: &Q8NetCase,
    scratch: &mut [f32],
    comparisons: &mut usize,
    on_mismatch: &mut impl FnMut(&Q8NetMismatch),
) -> bool {
    let (n_v, n_h, n_l) = (case.n_v, case.n_h, case.layers);
    let g = case.kind.gates();
    let c_len = if case.kind.has_cell_state() { n_h } else { 0 };
    let b_hn_len = if case.kind == CellKind::Gru { n_h } else { 0 };
    let need = net_len(g, n_l, n_v, n_h);
    assert!(
        scratch.len() >= need && n_l <= MAX_Q8_NET_LAYERS,
        "q8 conformance case {case} needs {need} floats of scratch"
    );
    let mut rng = Rng::new(case.seed);
    let mut rest: &mut [f32] = &mut scratch[..need];
    let mut layers: heapless::Vec<RecurrentView<'_>, MAX_Q8_NET_LAYERS> = heapless::Vec::new();
    // The kernel's layers: `layers`, or with quad-order copies.
    let mut k_layers: heapless::Vec<RecurrentView<'_>, MAX_Q8_NET_LAYERS> = heapless::Vec::new();
    for l in 0..n_l {
        let (layout, n_in) = if l == 0 {
            (InputLayout::Gather, n_v)
        } else {
            (InputLayout::Rows, n_h)
        };
        let w_ih = take_q8(&mut rest, g * n_in * n_h, case.offset);
        let w_hh = take_q8(&mut rest, g * n_h * n_h, case.offset);
        let [s_ih, s_hh, b] = [(); 3].map(|()| take(&mut rest, g * n_h));
        let b_hn = take(&mut rest, b_hn_len);
        q8_weights(&mut rng, w_ih);
        q8_weights(&mut rng, w_hh);
        // A gathered column is one term; a rows-layout input `n_in` terms.
        let ih_terms = if l == 0 && !case.dense { 1 } else { n_in };
        scales(&mut rng, s_ih, ih_terms, case.reach);
        scales(&mut rng, s_hh, n_h, case.reach);
        rng.fill(b, 1.0);
        rng.fill(b_hn, 1.0);
        let (w_ih, w_hh): (&[i8], &[i8]) = (w_ih, w_hh);
        let (k_ih, k_hh) = if case.quads {
            let k_hh = quad_copy(&mut rest, w_hh, g, n_h, n_h, case.offset);
            let k_ih = if layout == InputLayout::Rows {
                quad_copy(&mut rest, w_ih, g, n_h, n_in, case.offset)
            } else {
                w_ih
            };
            (k_ih, k_hh)
        } else {
            (w_ih, w_hh)
        };
        let order = if case.quads {
            WeightOrder::Quads
        } else {
            WeightOrder::RowMajor
        };
        let layer = RecurrentView::new_q8(
            case.kind, layout, n_in, n_h, w_ih, s_ih, w_hh, s_hh, b, b_hn,
        );
        let k_layer = RecurrentView::new_q8(
            case.kind, layout, n_in, n_h, k_ih, s_ih, k_hh, s_hh, b, b_hn,
        )
        .map(|v| v.with_weight_order(order));
        // The sizes are this function's own; a failure here is a bug in the suite.
        let pushed = match (layer, k_layer) {
            (Ok(layer), Ok(k_layer)) => {
                layers.push(layer).is_ok() && k_layers.push(k_layer).is_ok()
            }
            _ => false,
        };
        assert!(pushed, "q8 conformance case {case} builds no layer {l}");
    }
    let w_y = take_q8(&mut rest, n_v * n_h, case.offset);
    let (s_y, b_y) = (take(&mut rest, n_v), take(&mut rest, n_v));
    q8_weights(&mut rng, w_y);
    scales(&mut rng, s_y, n_h, case.reach.min(4.0));
    rng.fill(b_y, 1.0);
    let w_y: &[i8] = w_y;
    let (k_y, order) = if case.quads {
        let k_y = quad_copy(&mut rest, w_y, 1, n_v, n_h, case.offset);
        (k_y, WeightOrder::Quads)
    } else {
        (w_y, WeightOrder::RowMajor)
    };
    let net = OutputView::new_q8(n_h, n_v, w_y, s_y, b_y)
        .and_then(|out| NetworkView::new(InputKind::OneHot, &layers, out));
    let k_net = OutputView::new_q8(n_h, n_v, k_y, s_y, b_y).and_then(|out| {
        NetworkView::new(InputKind::OneHot, &k_layers, out.with_weight_order(order))
    });
    let (Ok(net), Ok(k_net)) = (net, k_net) else {
        panic!("q8 conformance case {case} builds no network");
    };
    let [h_r, c_r, h_k, c_k, h_prev, c_prev] = [(); 6].map(|()| take(&mut rest, n_l * n_h));
    let (h_s, c_s) = (take(&mut rest, n_h), take(&mut rest, n_h));
    let gates = take(&mut rest, net.scratch_len());
    let [p_r, p_k, x] = [(); 3].map(|()| take(&mut rest, n_v));
    let (c_r, c_k, c_prev) = (
        &mut c_r[..n_l * c_len],
        &mut c_k[..n_l * c_len],
        &mut c_prev[..n_l * c_len],
    );
    let c_s = &mut c_s[..c_len];
    rng.fill(h_r, 1.0);
    rng.fill(c_r, 2.0);
    let mut failed = false;
    let mut check = |check: &'static str, step: usize, want: &[f32], got: &[f32]| {
        *comparisons += 1;
        if let Some(index) = first_difference(want, got) {
            failed = true;
            on_mismatch(&Q8NetMismatch {
                case: *case,
                kernel,
                check,
                step,
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
        let input = if case.dense {
            Input::Dense(&*x)
        } else {
            Input::Token(token)
        };
        h_prev.copy_from_slice(h_r);
        c_prev.copy_from_slice(c_r);
        h_k.copy_from_slice(h_r);
        c_k.copy_from_slice(c_r);
        let ok_r = reference.network_step(&net, input, h_r, c_r, gates).is_ok();
        let ok_k = kernel.network_step(&k_net, input, h_k, c_k, gates).is_ok();
        check("network_step ok", step, &flag(ok_r), &flag(ok_k));
        check("network_step h", step, h_r, h_k);
        check("network_step c", step, c_r, c_k);
        // The top layer's units in two parts, from the reference's input to it.
        let l = n_l - 1;
        let top = &k_net.layers()[l];
        let below = if l == 0 {
            input
        } else {
            Input::Dense(&h_r[(l - 1) * n_h..l * n_h])
        };
        let (hp, cp) = (
            &h_prev[l * n_h..(l + 1) * n_h],
            &c_prev[l * c_len..(l + 1) * c_len],
        );
        for split in [n_h / 2, (n_h / 3) | 1].map(|s| s.min(n_h)) {
            c_s.copy_from_slice(cp);
            let (h_lo, h_hi) = h_s.split_at_mut(split);
            let (c_lo, c_hi) = c_s.split_at_mut(split.min(c_len));
            let lo = kernel.layer_step_rows(top, below, 0..split, hp, c_lo, h_lo, gates);
            let hi = kernel.layer_step_rows(top, below, split..n_h, hp, c_hi, h_hi, gates);
            check(
                "layer_step_rows ok",
                step,
                &flag(true),
                &flag(lo.is_ok() && hi.is_ok()),
            );
            check("layer_step_rows h", step, &h_r[l * n_h..], h_s);
            check("layer_step_rows c", step, &c_r[l * c_len..], c_s);
        }
        let ok_r = reference.network_logits(&net, h_r, p_r, gates).is_ok();
        let ok_k = kernel.network_logits(&k_net, h_r, p_k, gates).is_ok();
        check("network_logits ok", step, &flag(ok_r), &flag(ok_k));
        check("network_logits", step, p_r, p_k);
        let ok_k = kernel
            .output_logits(k_net.output(), &h_r[l * n_h..], p_k)
            .is_ok();
        check("output_logits ok", step, &flag(true), &flag(ok_k));
        check("output_logits", step, p_r, p_k);
    }
    failed
}

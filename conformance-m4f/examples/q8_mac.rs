//! Instructions per multiply-accumulate of the Cortex-M4F's q8 products:
//! a one-layer q8 LSTM over 27 symbols (hidden `Q8_MAC_HIDDEN`, 64 by
//! default; build-time environment variable), stepped `TOKENS` times with
//! the output layer, as the firmware steps a model, with `w_hh` and `w_y`
//! in quad order (`lstm_core::weight_order`) as the firmware emits them.
//! Under QEMU, `bench/py/fw_profile.py` counts the instructions executed in
//! `lstm_core_gemv_q8_quads` (the matrix part; `lstm_core_gemv_q8` takes
//! `w_y`'s `V % 4` last rows) per token:
//!
//! ```sh
//! Q8_MAC_HIDDEN=64 cargo build --release --example q8_mac
//! python3 ../bench/py/fw_profile.py target/thumbv7em-none-eabihf/release/examples/q8_mac 64 18112
//! ```
//!
//! (MACs per token: `4·H² + 27·H`; the one-hot input is a gather.) It
//! prints the state digest, so a change of layout can be checked for bits
//! (the weights are drawn row-major, then interleaved: the digest is the
//! row-major model's).

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::hprintln;
use lstm_core::format::CellKind;
use lstm_core::weight_order::{WeightOrder, interleave_quads};
use lstm_core::{Input, InputKind, InputLayout, Kernel, NetworkView, OutputView, RecurrentView};
use panic_semihosting as _;

/// Hidden size (`Q8_MAC_HIDDEN` at build time, else 64).
const H: usize = match option_env!("Q8_MAC_HIDDEN") {
    Some(s) => parse(s),
    None => 64,
};
/// Vocabulary size.
const V: usize = 27;
/// Steps run.
const TOKENS: usize = 64;
/// Words of int8 weights: `w_ih`, `w_hh`, `w_y`.
const QWORDS: usize = (4 * V * H + 4 * H * H + V * H) / 4;
/// f32s: the scales and biases.
const FLOATS: usize = 3 * 4 * H + 2 * V;

const fn parse(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    n
}

/// Weights (int8 four to a word, so word-aligned; row-major as drawn, and
/// the step's copy with `w_hh`'s gate blocks and `w_y` in quad order),
/// scales and biases, state, scratch.
struct Model {
    q: [u32; QWORDS],
    quads: [u32; QWORDS],
    f: [f32; FLOATS],
    h: [f32; H],
    c: [f32; H],
    scratch: [f32; 5 * H + H],
    logits: [f32; V],
}

static MODEL: Mutex<RefCell<Model>> = Mutex::new(RefCell::new(Model {
    q: [0; QWORDS],
    quads: [0; QWORDS],
    f: [0.0; FLOATS],
    h: [0.0; H],
    c: [0.0; H],
    scratch: [0.0; 5 * H + H],
    logits: [0.0; V],
}));

#[entry]
fn main() -> ! {
    let ok = interrupt::free(|cs| run(&mut MODEL.borrow(cs).borrow_mut()));
    debug::exit(if ok { EXIT_SUCCESS } else { EXIT_FAILURE });
    #[allow(clippy::empty_loop)]
    loop {}
}

fn run(m: &mut Model) -> bool {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for w in m.q.iter_mut() {
        // Four int8 in [-127, 127].
        let r = next();
        *w = u32::from_le_bytes([0, 1, 2, 3].map(|k| (((r >> (16 * k)) % 255) as i16 - 127) as u8));
    }
    for (i, v) in m.f.iter_mut().enumerate() {
        let u = (next() >> 40) as f32 / (1u64 << 24) as f32;
        // Scales (the first 2·4H and the V before the last V) near 1/(127·√H); biases in ±0.5.
        *v = if i < 8 * H || (12 * H..12 * H + V).contains(&i) {
            (0.5 + u) / (127.0 * 8.0)
        } else {
            u - 0.5
        };
    }
    {
        let src: &[i8] = i8_of(bytemuck_bytes(&m.q));
        let dst: &mut [i8] = bytemuck::cast_slice_mut(&mut m.quads);
        let (ih, rest) = dst.split_at_mut(4 * V * H);
        let (hh, y) = rest.split_at_mut(4 * H * H);
        ih.copy_from_slice(&src[..4 * V * H]);
        let src_hh = &src[4 * V * H..4 * V * H + 4 * H * H];
        for (d, s) in hh.chunks_exact_mut(H * H).zip(src_hh.chunks_exact(H * H)) {
            interleave_quads(s, H, H, d);
        }
        interleave_quads(&src[4 * V * H + 4 * H * H..], V, H, y);
    }
    let bytes: &[u8] = bytemuck_bytes(&m.quads);
    let q: &[i8] = i8_of(bytes);
    let (w_ih, rest) = q.split_at(4 * V * H);
    let (w_hh, w_y) = rest.split_at(4 * H * H);
    let (s_ih, rest) = m.f.split_at(4 * H);
    let (s_hh, rest) = rest.split_at(4 * H);
    let (b, rest) = rest.split_at(4 * H);
    let (s_y, b_y) = rest.split_at(V);
    let layer = RecurrentView::new_q8(
        CellKind::Lstm,
        InputLayout::Gather,
        V,
        H,
        w_ih,
        s_ih,
        w_hh,
        s_hh,
        b,
        &[],
    );
    let net = layer
        .map(|l| l.with_weight_order(WeightOrder::Quads))
        .and_then(|l| {
            let o = OutputView::new_q8(H, V, w_y, s_y, b_y)?;
            Ok((l, o.with_weight_order(WeightOrder::Quads)))
        })
        .and_then(|(l, o)| NetworkView::new(InputKind::OneHot, &[l], o));
    let Ok(net) = net else {
        hprintln!("q8_mac: the model was refused");
        return false;
    };
    let k = Kernel::CortexM4F;
    let mut digest = 0u32;
    for t in 0..TOKENS {
        let step = k.network_step(
            &net,
            Input::Token(t % V),
            &mut m.h,
            &mut m.c,
            &mut m.scratch,
        );
        let out = k.network_logits(&net, &m.h, &mut m.logits, &mut m.scratch);
        if step.is_err() || out.is_err() {
            hprintln!("q8_mac: step {} failed", t);
            return false;
        }
        for v in m.h.iter().chain(&m.c).chain(&m.logits) {
            digest = digest.rotate_left(5) ^ v.to_bits();
        }
    }
    hprintln!(
        "q8_mac: hidden {} vocabulary {} tokens {} macs/token {} digest {:#010x}",
        H,
        V,
        TOKENS,
        4 * H * H + V * H,
        digest
    );
    true
}

/// The bytes of the weight words.
fn bytemuck_bytes(w: &[u32]) -> &[u8] {
    bytemuck::cast_slice(w)
}

/// The bytes as int8.
fn i8_of(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

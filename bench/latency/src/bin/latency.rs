//! Per-token inference latency of lstm-core at batch 1, as JSON on stdout.
//!
//! One token = gather + cell + output layer + softmax + sample, exactly the
//! loop of `lstm-core/benches/step.rs` (vocabulary 65, temperature 1, no
//! top-k / top-p), for every kernel this CPU runs (`Kernel::available`).
//!
//! Usage: `latency [--hidden 64,128,256] [--vocab 65] [--min-ms 200] [--reps 7] [--threads 1,2]
//! [--dtype f32,q8]`
//!
//! `--dtype q8` times the same weights quantized (`lstm_core::quant::quantize_family`, as
//! `host-trainer quantize` does) through `NetworkView::from_family` and `Kernel::network_step`,
//! one thread, every kernel (rows with `"dtype":"q8"` and the q8 product's implementation);
//! `--dtype f32,q8` both.
//!
//! `--threads 2` also times each SIMD kernel with every step's hidden units
//! split between the calling thread and a helper (`lstm_core::with_split_step`).
//!
//! For each (kernel, hidden) it calibrates a token count that takes at least
//! `--min-ms / reps`, runs `reps` timed repetitions after a warm-up and prints
//! the median and the minimum ns per token.

use std::time::Instant;

use aligned_vec::{AVec, ConstAlign};

use lstm_core::format::{self, Dtype, FamilyParts, Header, LayerParts, WeightParts};
use lstm_core::{
    CellView, Dims, Input, Kernel, InlineStep, NetworkView, Sampler, SamplerConfig, StepRunner,
    with_split_step,
};
use lstm_bench_helpers::weights;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| fail(&format!("{name} {v}: not a valid value")))
        })
        .unwrap_or(default)
}

fn fail(msg: &str) -> ! {
    eprintln!("latency: {msg}");
    std::process::exit(2)
}

/// Times tokens (step through `runner`, logits, softmax, sample): calibrates a
/// count taking `min_ms / reps`, then returns it and the sorted ns/token of `reps` runs.
fn time_tokens(
    kernel: Kernel,
    cell: &CellView<'_>,
    runner: &mut impl StepRunner,
    vocab: usize,
    min_ms: f64,
    reps: usize,
) -> (usize, Vec<f64>) {
    let n_h = cell.dims().n_h;
    let (mut h, mut cs, mut gates) = (vec![0.0f32; n_h], vec![0.0f32; n_h], vec![0.0f32; 4 * n_h]);
    let (mut logits, mut order) = (vec![0.0f32; vocab], vec![0u16; vocab]);
    let mut sampler = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 1.0 }, 1)
        .unwrap_or_else(|e| fail(&format!("sampler: {e}")));
    let mut token = 0usize;
    let mut run = |n: usize| -> f64 {
        let t0 = Instant::now();
        for _ in 0..n {
            if runner
                .step(kernel, cell, Input::Token(token), &mut h, &mut cs, &mut gates)
                .and_then(|()| kernel.logits(cell, &h, &mut logits))
                .and_then(|()| sampler.sample(kernel, &mut logits, &mut order))
                .map(|t| token = t)
                .is_err()
            {
                fail("step failed");
            }
        }
        std::hint::black_box(token);
        t0.elapsed().as_secs_f64()
    };
    // Warm-up and calibration: double n until one batch takes a rep's share.
    let per_rep = min_ms / 1000.0 / reps as f64;
    let mut n = 256usize;
    while run(n) < per_rep && n < (1 << 28) {
        n *= 2;
    }
    let mut ns: Vec<f64> = (0..reps).map(|_| run(n) * 1e9 / n as f64).collect();
    ns.sort_by(f64::total_cmp);
    (n, ns)
}

/// The q8 file of a one-layer LSTM with these (file-layout) tensors, as `host-trainer quantize` writes it.
fn q8_file(dims: Dims, vocab: &str, w_ih: &[f32], w_hh: &[f32], b: &[f32], w_y: &[f32], b_y: &[f32]) -> Vec<u8> {
    let layers = [LayerParts { w_ih: WeightParts::F32(w_ih), w_hh: WeightParts::F32(w_hh), b, b_hn: &[] }];
    let header = Header { dtype: Dtype::F32, ..Header::plain(lstm_core::InputKind::OneHot, dims) };
    let parts = FamilyParts { header, vocab, layers: &layers, w_y: WeightParts::F32(w_y), b_y };
    let (nq, ns) = lstm_core::quant::q8_buffer_lens(&header);
    let (mut q, mut scale) = (vec![0i8; nq], vec![0.0f32; ns]);
    let mut slots = [layers[0]; format::MAX_LAYERS];
    let (q8, _) = lstm_core::quant::quantize_family(&parts, &mut q, &mut scale, &mut slots)
        .unwrap_or_else(|e| fail(&format!("quantize: {e}")));
    let mut out = vec![0u8; format::encoded_len_family(&q8).unwrap_or_else(|e| fail(&format!("{e}")))];
    let n = format::encode_family(&q8, &mut out).unwrap_or_else(|e| fail(&format!("encode: {e}")));
    out.truncate(n);
    out
}

/// [`time_tokens`] for a whole network (any dtype) through `Kernel::network_step`, one thread.
fn time_network(kernel: Kernel, net: &NetworkView<'_>, vocab: usize, min_ms: f64, reps: usize) -> (usize, Vec<f64>) {
    let (mut h, mut cs, mut scratch) =
        (vec![0.0f32; net.state_len()], vec![0.0f32; net.cell_state_len()], vec![0.0f32; net.scratch_len()]);
    let (mut logits, mut order) = (vec![0.0f32; vocab], vec![0u16; vocab]);
    let mut sampler = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 1.0 }, 1)
        .unwrap_or_else(|e| fail(&format!("sampler: {e}")));
    let mut token = 0usize;
    let mut run = |n: usize| -> f64 {
        let t0 = Instant::now();
        for _ in 0..n {
            if kernel
                .network_step(net, Input::Token(token), &mut h, &mut cs, &mut scratch)
                .and_then(|()| kernel.network_logits(net, &h, &mut logits, &mut scratch))
                .and_then(|()| sampler.sample(kernel, &mut logits, &mut order))
                .map(|t| token = t)
                .is_err()
            {
                fail("network step failed");
            }
        }
        std::hint::black_box(token);
        t0.elapsed().as_secs_f64()
    };
    let per_rep = min_ms / 1000.0 / reps as f64;
    let mut n = 256usize;
    while run(n) < per_rep && n < (1 << 28) {
        n *= 2;
    }
    let mut ns: Vec<f64> = (0..reps).map(|_| run(n) * 1e9 / n as f64).collect();
    ns.sort_by(f64::total_cmp);
    (n, ns)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hidden: String = arg(&args, "--hidden", "64,128,256".to_string());
    let vocab: usize = arg(&args, "--vocab", 65);
    let min_ms: f64 = arg(&args, "--min-ms", 200.0);
    let reps: usize = arg(&args, "--reps", 7).max(1);
    let threads: String = arg(&args, "--threads", "1".to_string());
    let dtypes: String = arg(&args, "--dtype", "f32".to_string());
    let q8 = dtypes.split(',').any(|d| d.trim() == "q8");
    let f32_rows = dtypes.split(',').any(|d| d.trim() == "f32");
    if let Some(d) = dtypes.split(',').find(|d| !matches!(d.trim(), "f32" | "q8")) {
        fail(&format!("--dtype {d}: f32 or q8"));
    }
    let thread_counts: Vec<usize> = threads
        .split(',')
        .map(|t| match t.trim() {
            "1" => 1,
            "2" => 2,
            other => fail(&format!("--threads {other}: 1 or 2")),
        })
        .collect();
    let hidden: Vec<usize> = hidden
        .split(',')
        .map(|h| h.trim().parse().unwrap_or_else(|_| fail(&format!("--hidden {h}"))))
        .collect();

    let mut rows = Vec::new();
    for &n_h in &hidden {
        let dims = Dims { n_x: vocab, n_h, n_y: vocab };
        let scale = 1.0 / (n_h as f32).sqrt();
        let (w_ih, w_hh, b) = (
            weights(dims.w_ih_len(), 1, scale),
            weights(dims.w_hh_len(), 2, scale),
            weights(dims.b_len(), 3, scale),
        );
        let (w_y, b_y) = (weights(dims.w_y_len(), 4, scale), weights(dims.b_y_len(), 5, scale));
        // Each tensor on a cache line of its own, as host-trainer's sampler
        // lays them out (PyTorch's tensors are 64-byte aligned too).
        let a = |v: &[f32]| AVec::<f32, ConstAlign<64>>::from_slice(64, v);
        let (w_ih, w_hh, b, w_y, b_y) = (a(&w_ih), a(&w_hh), a(&b), a(&w_y), a(&b_y));
        let cell = CellView::from_stacked(dims, &w_ih, &w_hh, &b, &w_y, &b_y)
            .unwrap_or_else(|e| fail(&format!("cell: {e}")));
        for &kernel in Kernel::available().iter().filter(|_| f32_rows) {
            for &threads in &thread_counts {
                if threads == 2 && kernel == Kernel::Portable {
                    continue; // the portable kernel is the reference, measured on one core only
                }
                let ns = if threads == 2 {
                    with_split_step(cell, |two| time_tokens(kernel, &cell, two, vocab, min_ms, reps))
                } else {
                    time_tokens(kernel, &cell, &mut InlineStep, vocab, min_ms, reps)
                };
                let (n, ns) = ns;
                rows.push(format!(
                    "{{\"impl\":\"ours\",\"dtype\":\"f32\",\"kernel\":\"{}\",\"threads\":{threads},\"hidden\":{n_h},\"vocab\":{vocab},\"macs_per_token\":{},\"tokens_per_rep\":{n},\"reps\":{reps},\"ns_per_token\":{:.1},\"ns_per_token_min\":{:.1}}}",
                    kernel.name(),
                    dims.macs_per_token(),
                    ns[ns.len() / 2],
                    ns[0]
                ));
            }
        }
        if q8 {
            let vocab_text: String = (0..vocab as u32).map(|i| char::from_u32(0x100 + i).unwrap_or('?')).collect();
            let file = q8_file(dims, &vocab_text, &w_ih, &w_hh, &b, &w_y, &b_y);
            let family = format::decode_family(&file).unwrap_or_else(|e| fail(&format!("decode: {e}")));
            let mut storage = AVec::<f32, ConstAlign<64>>::from_slice(64, &vec![0.0f32; NetworkView::storage_len(&family)]);
            let net = NetworkView::from_family(&family, &mut storage)
                .unwrap_or_else(|e| fail(&format!("q8 network: {e}")));
            for &kernel in Kernel::available().iter() {
                let (n, ns) = time_network(kernel, &net, vocab, min_ms, reps);
                rows.push(format!(
                    "{{\"impl\":\"ours\",\"dtype\":\"q8\",\"kernel\":\"{}\",\"q8_impl\":\"{:?}\",\"threads\":1,\"hidden\":{n_h},\"vocab\":{vocab},\"macs_per_token\":{},\"tokens_per_rep\":{n},\"reps\":{reps},\"ns_per_token\":{:.1},\"ns_per_token_min\":{:.1}}}",
                    kernel.name(),
                    kernel.q8_impl(),
                    dims.macs_per_token(),
                    ns[ns.len() / 2],
                    ns[0]
                ));
            }
        }
    }
    println!("[{}]", rows.join(",\n "));
}

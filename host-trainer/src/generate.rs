//! Text generation on the host, through lstm-core's kernels and generator —
//! the same code path the firmware runs, so both print the same text.

use aligned_vec::{AVec, ConstAlign};
use lstm_core::format::{FamilyView, InputKind, TokenKind};
use lstm_core::{
    CellView, Generator, GeneratorBuffers, InlineStep, Kernel, NetworkView, Sampler, SamplerConfig,
    StepRunner,
};

use crate::data::corpus::LINE_WORD;
use crate::model_file::ModelFile;

/// How to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// Text fed before sampling starts; it is part of the output.
    pub prime: String,
    /// Symbols (characters or words) to generate after the prime (per sample).
    pub length: usize,
    /// Softmax temperature; `0` means greedy (argmax).
    pub temperature: f32,
    /// Keep only the `k` most likely symbols.
    pub top_k: Option<usize>,
    /// Keep the smallest set of symbols whose probability reaches `p`.
    pub top_p: Option<f32>,
    /// RNG seed.
    pub seed: u64,
    /// Stop a sample after generating this character (it is included; `\n` is a word model's `<eol>`).
    pub stop_at: Option<char>,
    /// Number of samples.
    pub count: usize,
    /// Cores per step: 2 splits each step's hidden units between two threads
    /// (same bits; faster at hidden ~256) when the machine has two cores, 1 keeps it on one.
    pub cores_per_step: usize,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The model bytes were rejected by lstm-core.
    #[error("invalid model: {0}")]
    Model(lstm_core::Error),
    /// A prime character is not in the model's vocabulary.
    #[error("--prime contains {ch:?}, which is not in the model's vocabulary")]
    UnknownChar {
        /// The character.
        ch: char,
    },
    /// The sampling settings are out of range.
    #[error("invalid sampling settings: {0}")]
    Settings(lstm_core::Error),
    /// Weights so large that a gate or an output could overflow to infinity (and the softmax give NaN).
    #[error(
        "the model's weights are too large: a {what} can reach {bound:e}, beyond f32's range; its probabilities could be NaN, so it is not sampled"
    )]
    Overflow {
        /// Which value: a gate pre-activation or an output logit.
        what: &'static str,
        /// The largest possible magnitude.
        bound: f64,
    },
    /// A prime word is not in the model's vocabulary.
    #[error("--prime contains the word {word:?}, which is not in the model's vocabulary")]
    UnknownWord {
        /// The word.
        word: String,
    },
    /// The model takes dense vectors, not characters.
    #[error("the model takes dense input vectors; it cannot generate text")]
    DenseModel,
}

/// The texts of [`sample_text`] and a digest of the state they ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Samples {
    /// One text per sample, each starting with the prime.
    pub texts: Vec<String>,
    /// [`Generator::state_digest`] after the last sample: the firmware prints the same number.
    pub state_digest: u32,
}

/// Generates `opts.count` samples from the model file bytes; each sample starts with the prime.
///
/// One sampler (seeded once) serves every sample, and each sample starts
/// from a zero state — exactly what the firmware does for one sample.
///
/// # Errors
/// A bad model, an unknown prime character, bad sampling settings.
pub fn sample_text(model_bytes: &[u8], opts: &SampleOptions) -> Result<Samples, GenerateError> {
    let family = lstm_core::format::decode_family(model_bytes).map_err(GenerateError::Model)?;
    match family.plain() {
        Ok(plain) => sample_model(&ModelFile::from_view(&plain), opts),
        Err(_) => sample_family(&family, opts),
    }
}

/// As [`sample_text`], for a model of any cell kind, layer count and token kind (f32), through
/// lstm-core's [`NetworkView`]; a words model's samples are its tokens separated by one space.
fn sample_family(family: &FamilyView<'_>, opts: &SampleOptions) -> Result<Samples, GenerateError> {
    if family.header.input != InputKind::OneHot {
        return Err(GenerateError::DenseModel);
    }
    let mut sampler =
        Sampler::new(sampler_config(opts), opts.seed).map_err(GenerateError::Settings)?;
    let mut storage = vec![0.0f32; NetworkView::storage_len(family)];
    let net = NetworkView::from_family(family, &mut storage).map_err(GenerateError::Model)?;
    let n_y = net.dims().n_y;
    let (mut h, mut c) = (vec![0.0; net.state_len()], vec![0.0; net.cell_state_len()]);
    let (mut gates, mut logits, mut order) = (
        vec![0.0; net.scratch_len()],
        vec![0.0; n_y],
        vec![0u16; n_y],
    );
    let buffers = GeneratorBuffers {
        h: &mut h,
        c: &mut c,
        gates: &mut gates,
        logits: &mut logits,
        order: &mut order,
    };
    let tokens = family.header.tokens;
    let generator = Generator::for_network(
        net,
        tokens,
        family.vocab,
        Kernel::detect(),
        buffers,
        InlineStep,
    )
    .map_err(GenerateError::Model)?;
    if tokens == TokenKind::Chars {
        return run_samples(generator, &mut sampler, opts);
    }
    run_word_samples(generator, &mut sampler, opts)
}

/// Word samples: the prime's words, then sampled ones, separated by one space, with the line symbol
/// ([`LINE_WORD`]) printed as a line break. An empty prime starts a line as lines-mode training does:
/// the model is fed the line symbol first (not printed). `stop_at` `\n` is the line symbol.
fn run_word_samples<S: StepRunner>(
    mut generator: Generator<'_, '_, S>,
    sampler: &mut Sampler,
    opts: &SampleOptions,
) -> Result<Samples, GenerateError> {
    if let Some(w) = generator
        .prime_symbols(&opts.prime)
        .find(|w| generator.symbol_index(w).is_err())
    {
        return Err(GenerateError::UnknownWord { word: w.to_owned() });
    }
    let line = generator.symbol_index(LINE_WORD).ok();
    let stop = opts.stop_at.and_then(|ch| match ch {
        '\n' => line,
        ch => generator.symbol_index(ch.encode_utf8(&mut [0u8; 4])).ok(),
    });
    // Fed as a prime, the line symbol is emitted first: that one is not part of the text.
    let (prime, skip) = match (opts.prime.trim().is_empty(), line) {
        (true, Some(_)) => (LINE_WORD, 1),
        _ => (opts.prime.as_str(), 0),
    };
    let mut texts = Vec::with_capacity(opts.count);
    for _ in 0..opts.count {
        let mut ids = Vec::new();
        generator
            .generate_symbols(sampler, prime, opts.length, stop, |t| ids.push(t))
            .map_err(GenerateError::Model)?;
        let mut text = String::new();
        for &t in ids.iter().skip(skip) {
            let w = generator.symbol_text(t).map_err(GenerateError::Model)?;
            if w == LINE_WORD {
                text.push('\n');
            } else {
                if !(text.is_empty() || text.ends_with('\n')) {
                    text.push(' ');
                }
                text.push_str(w);
            }
        }
        texts.push(text);
    }
    Ok(Samples {
        state_digest: generator.state_digest(),
        texts,
    })
}

/// The sampler settings of `opts`.
fn sampler_config(opts: &SampleOptions) -> SamplerConfig {
    SamplerConfig {
        temperature: opts.temperature,
        top_k: opts.top_k.unwrap_or(0),
        top_p: opts.top_p.unwrap_or(1.0),
    }
}

/// As [`sample_text`], for an already loaded model.
///
/// # Errors
/// As [`sample_text`].
pub fn sample_model(model: &ModelFile, opts: &SampleOptions) -> Result<Samples, GenerateError> {
    if model.input != InputKind::OneHot {
        return Err(GenerateError::DenseModel);
    }
    if let Some(ch) = opts.prime.chars().find(|&c| !model.vocab.contains(c)) {
        return Err(GenerateError::UnknownChar { ch });
    }
    check_outputs_finite(model)?;
    let mut sampler =
        Sampler::new(sampler_config(opts), opts.seed).map_err(GenerateError::Settings)?;
    let d = model.dims;
    let (mut h, mut c, mut gates) = (vec![0.0; d.n_h], vec![0.0; d.n_h], vec![0.0; 4 * d.n_h]);
    let (mut logits, mut order) = (vec![0.0; d.n_y], vec![0u16; d.n_y]);
    // Each tensor starts on a cache line, so the kernels' 32-byte loads of
    // rows whose length is a multiple of 16 never straddle two lines (a
    // plain Vec's large allocation sits 16 bytes past a page boundary).
    let a = |v: &[f32]| AVec::<f32, ConstAlign<64>>::from_slice(64, v);
    let (w_ih, w_hh, b, w_y, b_y) = (
        a(&model.w_ih),
        a(&model.w_hh),
        a(&model.b),
        a(&model.w_y),
        a(&model.b_y),
    );
    let cell =
        CellView::from_stacked(d, &w_ih, &w_hh, &b, &w_y, &b_y).map_err(GenerateError::Model)?;
    let buffers = GeneratorBuffers {
        h: &mut h,
        c: &mut c,
        gates: &mut gates,
        logits: &mut logits,
        order: &mut order,
    };
    let (input, vocab, kernel) = (model.input, model.vocab.as_str(), Kernel::detect());
    // A spinning helper on a machine with one core would only take turns with the caller.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if opts.cores_per_step >= 2 && cores >= 2 {
        lstm_core::with_split_step(cell, |two| {
            let generator = Generator::with_runner(cell, input, vocab, kernel, buffers, two)
                .map_err(GenerateError::Model)?;
            run_samples(generator, &mut sampler, opts)
        })
    } else {
        let generator =
            Generator::new(cell, input, vocab, kernel, buffers).map_err(GenerateError::Model)?;
        run_samples(generator, &mut sampler, opts)
    }
}

/// Refuses a one-hot model whose gate pre-activations or output logits could overflow `f32`.
///
/// With a one-hot input and `|h| ≤ 1`, a gate unit's pre-activation is at most
/// `max_x |w_ih| + Σ_j |w_hh| + |b|` and a logit at most `Σ_j |w_y| + |b_y|` in magnitude (every
/// partial sum too). When each bound is below `f32::MAX / 2` (a margin for rounding) every value is
/// finite, and the softmax of finite logits (maximum subtracted) never gives NaN. Trained models are
/// many orders of magnitude inside the bound; a model whose training diverged is not.
///
/// # Errors
/// [`GenerateError::Overflow`] naming the value that could overflow.
pub fn check_outputs_finite(model: &ModelFile) -> Result<(), GenerateError> {
    let d = model.dims;
    let (nx, nh) = (d.n_x, d.n_h);
    let limit = f64::from(f32::MAX) / 2.0;
    let abs = |v: f32| f64::from(v.abs());
    let mut worst_gate = 0.0f64;
    for g in 0..4 {
        for k in 0..nh {
            let input = (0..nx)
                .map(|x| abs(model.w_ih[(g * nx + x) * nh + k]))
                .fold(0.0, f64::max);
            let rec: f64 = (0..nh)
                .map(|j| abs(model.w_hh[(g * nh + j) * nh + k]))
                .sum();
            worst_gate = worst_gate.max(input + rec + abs(model.b[g * nh + k]));
        }
    }
    if worst_gate > limit {
        return Err(GenerateError::Overflow {
            what: "gate pre-activation",
            bound: worst_gate,
        });
    }
    let worst_logit = (0..d.n_y)
        .map(|i| {
            model.w_y[i * nh..(i + 1) * nh]
                .iter()
                .map(|&w| abs(w))
                .sum::<f64>()
                + abs(model.b_y[i])
        })
        .fold(0.0, f64::max);
    if worst_logit > limit {
        return Err(GenerateError::Overflow {
            what: "output logit",
            bound: worst_logit,
        });
    }
    Ok(())
}

/// Generates the samples of `opts` with `generator`.
fn run_samples<S: StepRunner>(
    mut generator: Generator<'_, '_, S>,
    sampler: &mut Sampler,
    opts: &SampleOptions,
) -> Result<Samples, GenerateError> {
    let mut samples = Vec::with_capacity(opts.count);
    for _ in 0..opts.count {
        let mut text = String::new();
        generator
            .generate(sampler, &opts.prime, opts.length, opts.stop_at, |ch| {
                text.push(ch)
            })
            .map_err(|e| match e {
                lstm_core::Error::UnknownSymbol { symbol } => {
                    GenerateError::UnknownChar { ch: symbol }
                }
                e => GenerateError::Model(e),
            })?;
        samples.push(text);
    }
    Ok(Samples {
        state_digest: generator.state_digest(),
        texts: samples,
    })
}

#[cfg(test)]
mod overflow_tests {
    use super::*;
    use crate::data::corpus::Vocab;
    use crate::model::Params;
    use lstm_core::Dims;

    fn model(edit: impl FnOnce(&mut Params<f32>)) -> Vec<u8> {
        let dims = Dims {
            n_x: 3,
            n_h: 4,
            n_y: 3,
        };
        let mut p = Params::<f32>::init_uniform(dims, &mut crate::rng::Rng::new(1));
        edit(&mut p);
        crate::model_file::encode_model(&p, &Vocab::from_text("\nab", &[])).expect("encodes")
    }

    fn opts() -> SampleOptions {
        SampleOptions {
            prime: String::new(),
            length: 20,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            seed: 0,
            stop_at: None,
            count: 1,
            cores_per_step: 1,
        }
    }

    /// Finite weights whose logits overflow (3e38 + 3e38) are refused, as are gates that can; an
    /// ordinary model samples.
    #[test]
    fn models_whose_outputs_can_overflow_are_refused() {
        assert!(sample_text(&model(|_| {}), &opts()).is_ok());
        let huge_logit = model(|p| {
            p.w_y[0] = 3e38;
            p.w_y[1] = 3e38;
        });
        assert!(matches!(
            sample_text(&huge_logit, &opts()),
            Err(GenerateError::Overflow {
                what: "output logit",
                ..
            })
        ));
        let huge_gate = model(|p| {
            p.w_h.iter_mut().for_each(|w| *w = 2e38);
        });
        assert!(matches!(
            sample_text(&huge_gate, &opts()),
            Err(GenerateError::Overflow {
                what: "gate pre-activation",
                ..
            })
        ));
    }
}

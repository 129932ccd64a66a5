//! `host-trainer eval`: loss and perplexity of a model on a text file (q8 models: [`super::eval_q8`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use crate::bptt::ForwardStats;
use crate::checkpoint::Checkpoint;
use crate::cli::batch_shape;
use crate::data::batch::{Dataset, Mode};
use crate::data::corpus::{self, Preprocess, Tokens, Vocab};
use crate::data::{prepare, prepare_eval};
use crate::evaluate::{evaluate, evaluate_stack};
use crate::model::{Params, Stack};
use crate::model_file::{decode_model, decode_stack};

/// `eval` arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// UTF-8 text to evaluate on. [with --checkpoint: the training corpus]
    #[arg(long, required_unless_present = "checkpoint")]
    pub corpus: Option<PathBuf>,
    /// Evaluate on a split of a training run: its corpus, preprocessing, mode, batch shape and
    /// seeded validation split come from this checkpoint.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint: which part of the corpus.
    #[arg(long, value_enum, default_value = "val", requires = "checkpoint")]
    pub split: SplitPart,
    /// How to read the corpus.
    #[arg(long, value_enum, default_value = "lines")]
    pub mode: Mode,
    /// Lowercase the corpus.
    #[arg(long)]
    pub lowercase: bool,
    /// d2l preprocessing.
    #[arg(long)]
    pub d2l: bool,
    /// Symbols per chunk (stream mode).
    #[arg(long, default_value_t = 35)]
    pub seq_len: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
}

/// A part of a training run's corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitPart {
    /// The held-out validation part.
    Val,
    /// The training part.
    Train,
}

/// Runs `eval`: one line on stdout.
///
/// # Errors
/// Bad arguments, an unreadable model or corpus, a corpus outside the model's vocabulary.
pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    let (batch, seq_len) = batch_shape(a.batch, a.seq_len)?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    if super::eval_q8::is_q8(&bytes) {
        return super::eval_q8::run(a, &bytes, batch, seq_len);
    }
    // A 1-layer LSTM (characters or words: what `train` writes) runs the training pass; any other
    // kind through the stack.
    let (model, vocab): (Result<Params<f32>, Stack<f32>>, Vocab) = match decode_model(&bytes) {
        Ok((p, v)) => (Ok(p), v),
        Err(_) => {
            let (s, v, tokens) =
                decode_stack(&bytes).with_context(|| format!("loading {}", a.model.display()))?;
            (Err(s), Vocab::from_stored(&v, Tokens::of_kind(tokens)))
        }
    };
    if let Some(ckpt) = &a.checkpoint {
        return eval_split(a, ckpt, &model, vocab);
    }
    let Some(corpus_path) = &a.corpus else {
        bail!("--corpus is required without --checkpoint");
    };
    let raw = corpus::load(corpus_path)?;
    let pre = Preprocess {
        lowercase: a.lowercase,
        d2l: a.d2l,
    };
    let data = prepare_eval(&raw, pre, a.mode, &vocab)
        .with_context(|| format!("encoding {}", corpus_path.display()))?;
    let stats = match &model {
        Ok(p) => evaluate(p, &data, batch, seq_len),
        Err(s) => evaluate_stack(s, &data, batch, seq_len),
    };
    if stats.count == 0 {
        bail!("corpus {} has nothing to evaluate", corpus_path.display());
    }
    print_loss(&stats, vocab.tokens())?;
    Ok(())
}

/// One line on stdout: loss, perplexity and count (of characters or words).
pub(crate) fn print_loss(stats: &ForwardStats, tokens: Tokens) -> std::io::Result<()> {
    let loss = stats.mean();
    let unit = match tokens {
        Tokens::Chars => "char",
        Tokens::Words => "word",
    };
    writeln!(
        std::io::stdout(),
        "loss {loss:.6} nats/{unit}, perplexity {:.4}, over {} {}",
        loss.exp(),
        stats.count,
        tokens.plural()
    )
}

/// `eval --checkpoint`: the model on exactly the training run's validation (or training) part, with
/// the run's batch shape, so the loss is the one training reported.
fn eval_split(
    a: &EvalArgs,
    ckpt_path: &Path,
    model: &Result<Params<f32>, Stack<f32>>,
    vocab: Vocab,
) -> anyhow::Result<()> {
    let tokens = vocab.tokens();
    let (data, batch, seq_len) = split_data(a, ckpt_path, vocab)?;
    let stats = match model {
        Ok(p) => evaluate(p, &data, batch, seq_len),
        Err(s) => evaluate_stack(s, &data, batch, seq_len),
    };
    print_loss(&stats, tokens)?;
    Ok(())
}

/// The part `a.split` of the corpus a training run used (its checkpoint at `ckpt_path`), encoded
/// with `vocab` (which must be the run's), and the run's batch shape.
pub(crate) fn split_data(
    a: &EvalArgs,
    ckpt_path: &Path,
    vocab: Vocab,
) -> anyhow::Result<(Dataset, usize, usize)> {
    let ckpt = Checkpoint::load(ckpt_path)?;
    let mut cfg = ckpt.config;
    if let Some(c) = &a.corpus {
        cfg.corpus = c.clone();
    }
    if vocab.as_string() != ckpt.vocab || vocab.tokens() != cfg.tokens {
        bail!(
            "{} and {} have different vocabularies",
            a.model.display(),
            ckpt_path.display()
        );
    }
    let raw = corpus::load(&cfg.corpus)?;
    let prep = prepare(&raw, &cfg.data_spec(), Some(vocab))
        .with_context(|| format!("encoding {}", cfg.corpus.display()))?;
    if prep.fingerprint != ckpt.corpus_fingerprint || prep.split != ckpt.split {
        bail!(
            "corpus {} differs from the one {} was trained on",
            cfg.corpus.display(),
            ckpt_path.display()
        );
    }
    let data = match a.split {
        SplitPart::Val => prep
            .val
            .with_context(|| format!("{} has no validation split", ckpt_path.display()))?,
        SplitPart::Train => prep.train,
    };
    Ok((data, cfg.batch, cfg.seq_len))
}

//! `host-trainer eval`: loss and perplexity of a model on a text file.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::data::batch::Mode;
use crate::data::corpus::Vocab;
use crate::data::corpus::{self, Preprocess};
use crate::data::prepare_eval;
use crate::evaluate::{evaluate, evaluate_stack};
use crate::model::{Params, Stack};
use crate::model_file::{decode_stack, load_model};

/// `eval` arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// UTF-8 text to evaluate on.
    #[arg(long)]
    pub corpus: PathBuf,
    /// How to read the corpus.
    #[arg(long, value_enum, default_value = "lines")]
    pub mode: Mode,
    /// Lowercase the corpus.
    #[arg(long)]
    pub lowercase: bool,
    /// d2l preprocessing.
    #[arg(long)]
    pub d2l: bool,
    /// Characters per chunk (stream mode).
    #[arg(long, default_value_t = 35)]
    pub seq_len: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
}

/// Runs `eval`: one line on stdout.
///
/// # Errors
/// Bad arguments, an unreadable model or corpus, a corpus outside the model's vocabulary.
pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    if a.seq_len == 0 || a.batch == 0 {
        bail!("--seq-len and --batch must be at least 1");
    }
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    let plain = lstm_core::format::decode(&bytes).is_ok();
    // A plain 1-layer LSTM character model runs the training pass; any other kind through the stack.
    let (model, vocab): (Result<Params<f32>, Stack<f32>>, Vocab) = if plain {
        let (p, v) =
            load_model(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
        (Ok(p), v)
    } else {
        let (s, v, tokens) =
            decode_stack(&bytes).with_context(|| format!("loading {}", a.model.display()))?;
        if tokens != lstm_core::format::TokenKind::Chars {
            bail!(
                "eval of word-token models is not supported yet ({})",
                a.model.display()
            );
        }
        (Err(s), Vocab::from_chars(v.chars().collect()))
    };
    let raw = corpus::load(&a.corpus)?;
    let pre = Preprocess {
        lowercase: a.lowercase,
        d2l: a.d2l,
    };
    let data = prepare_eval(&raw, pre, a.mode, &vocab)
        .with_context(|| format!("encoding {}", a.corpus.display()))?;
    let stats = match &model {
        Ok(p) => evaluate(p, &data, a.batch, a.seq_len),
        Err(s) => evaluate_stack(s, &data, a.batch, a.seq_len),
    };
    if stats.count == 0 {
        bail!("corpus {} has nothing to evaluate", a.corpus.display());
    }
    let loss = stats.mean();
    println!(
        "loss {loss:.6} nats/char, perplexity {:.4}, over {} characters",
        loss.exp(),
        stats.count
    );
    Ok(())
}

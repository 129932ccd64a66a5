//! `host-trainer eval` of a q8 model: the same corpus, preprocessing, batches and (with
//! `--checkpoint`) held-out split as the f32 path, each step through lstm-core's q8 kernels
//! ([`crate::eval_core`]), so `eval` of an f32 model and of its quantized file shows the cost.

use anyhow::{Context, bail};

use super::eval::{EvalArgs, print_loss, split_data};
use crate::data::corpus::{self, Preprocess, Tokens, Vocab};
use crate::data::prepare_eval;
use crate::eval_core::evaluate_family;
use lstm_core::Kernel;
use lstm_core::format::{TokenKind, decode_family};

/// Whether `bytes` is a valid model file with q8 weights.
pub fn is_q8(bytes: &[u8]) -> bool {
    decode_family(bytes).is_ok_and(|v| v.header.dtype.is_q8())
}

/// Runs `eval` on a q8 model file's `bytes`: one line on stdout, as for f32.
///
/// # Errors
/// An unreadable corpus or checkpoint, a corpus outside the model's vocabulary, a word-token model,
/// lstm-core refusing the model.
pub fn run(a: &EvalArgs, bytes: &[u8], batch: usize, seq_len: usize) -> anyhow::Result<()> {
    let family = decode_family(bytes).with_context(|| format!("decoding {}", a.model.display()))?;
    if family.header.tokens != TokenKind::Chars {
        bail!(
            "eval of word-token models is not supported yet ({})",
            a.model.display()
        );
    }
    let vocab = Vocab::from_chars(family.vocab.chars().collect());
    let (data, batch, seq_len) = if let Some(ckpt) = &a.checkpoint {
        split_data(a, ckpt, vocab)?
    } else {
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
        (data, batch, seq_len)
    };
    let stats = evaluate_family(&family, Kernel::detect(), &data, batch, seq_len)
        .with_context(|| format!("evaluating {}", a.model.display()))?;
    if stats.count == 0 {
        bail!("nothing to evaluate");
    }
    print_loss(&stats, Tokens::Chars)?;
    Ok(())
}

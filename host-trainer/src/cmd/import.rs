//! `host-trainer import`: a PyTorch nn.LSTM, nn.GRU or tanh nn.RNN (1–4 layers) + nn.Linear
//! (safetensors + vocabulary JSON) into a model file.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cli::PrefixArgs;
use crate::files::{check_outputs, named, write_atomic};
use crate::pytorch;

/// `import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// PyTorch weights (`model.state_dict()` saved with safetensors; F32, F64, F16 or BF16).
    #[arg(long)]
    pub safetensors: PathBuf,
    /// Vocabulary: a JSON list of one-character strings in index order.
    #[arg(long)]
    pub vocab: PathBuf,
    /// Model file to write (lstm-core format).
    #[arg(long)]
    pub out: PathBuf,
    /// Tensor-name prefixes.
    #[command(flatten)]
    pub prefixes: PrefixArgs,
}

/// Runs `import`: writes the model file, one line on stderr.
///
/// # Errors
/// Unreadable inputs, a model the format cannot hold, a file that cannot be written.
pub fn run(a: &ImportArgs) -> anyhow::Result<()> {
    check_outputs(
        &[
            named("--safetensors", &a.safetensors),
            named("--vocab", &a.vocab),
        ],
        &[named("--out", &a.out)],
        &[],
    )?;
    let st = std::fs::read(&a.safetensors)
        .with_context(|| format!("reading {}", a.safetensors.display()))?;
    let json = std::fs::read_to_string(&a.vocab)
        .with_context(|| format!("reading vocabulary {}", a.vocab.display()))?;
    let vocab =
        pytorch::parse_vocab(&json).with_context(|| format!("reading {}", a.vocab.display()))?;
    let model = pytorch::import_any(
        &st,
        &vocab,
        a.prefixes.rnn_prefix(),
        &a.prefixes.linear_prefix,
    )
    .with_context(|| format!("importing {}", a.safetensors.display()))?;
    let bytes = model
        .to_bytes()
        .with_context(|| format!("encoding {}", a.out.display()))?;
    write_atomic(&a.out, &bytes)?;
    let (kind, layers, d) = match &model {
        pytorch::Imported::Plain(m) => ("lstm", 1, m.dims),
        pytorch::Imported::Stack(s, _) => (s.kind.name(), s.layers.len(), s.dims),
    };
    eprintln!(
        "imported {}: {kind} × {layers} layer(s), n_x {} · n_h {} · n_y {}, vocabulary {:?}; model written to {} ({} bytes)",
        a.safetensors.display(),
        d.n_x,
        d.n_h,
        d.n_y,
        vocab,
        a.out.display(),
        bytes.len()
    );
    Ok(())
}

//! `host-trainer export`: a model file as safetensors + vocabulary JSON for PyTorch (a q8 model's
//! weights dequantized to f32).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cli::PrefixArgs;
use crate::files::{FileError, check_outputs, named, write_atomic};
use crate::pytorch;

/// `export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Model file to read (lstm-core format).
    #[arg(long)]
    pub model: PathBuf,
    /// Safetensors file to write (F32).
    #[arg(long)]
    pub safetensors: PathBuf,
    /// Vocabulary JSON file to write.
    #[arg(long)]
    pub vocab: PathBuf,
    /// Tensor-name prefixes.
    #[command(flatten)]
    pub prefixes: PrefixArgs,
}

impl ExportArgs {
    /// Checks the two outputs before any work: distinct files, neither the model (under any spelling),
    /// each a regular file (or new) in an existing directory.
    ///
    /// # Errors
    /// The first refused path.
    pub fn validate(&self) -> Result<(), FileError> {
        check_outputs(
            &[named("--model", &self.model)],
            &[
                named("--safetensors", &self.safetensors),
                named("--vocab", &self.vocab),
            ],
            &[],
        )
    }
}

/// Runs `export`: writes the two files, one line on stderr.
///
/// # Errors
/// Conflicting paths, an unreadable or dense-input model, a file that cannot be written.
pub fn run(a: &ExportArgs) -> anyhow::Result<()> {
    a.validate()?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    // PyTorch holds f32: a q8 model exports its dequantized weights (q · scale).
    let q8 = lstm_core::format::decode_family(&bytes).is_ok_and(|v| v.header.dtype.is_q8());
    let bytes = if q8 {
        eprintln!(
            "{} has q8 weights: exporting their dequantized f32 values (q · scale)",
            a.model.display()
        );
        crate::quantize::dequantize_model(&bytes)
            .with_context(|| format!("dequantizing {}", a.model.display()))?
    } else {
        bytes
    };
    let (st, vocab) =
        pytorch::export_any(&bytes, a.prefixes.rnn_prefix(), &a.prefixes.linear_prefix)
            .with_context(|| format!("exporting {}", a.model.display()))?;
    let mut vocab = pytorch::vocab_json(&vocab);
    vocab.push('\n');
    write_atomic(&a.safetensors, &st)?;
    write_atomic(&a.vocab, vocab.as_bytes())?;
    eprintln!(
        "exported {} to {} and {}",
        a.model.display(),
        a.safetensors.display(),
        a.vocab.display()
    );
    Ok(())
}

//! `host-trainer inspect`: a model file's dimensions, vocabulary, parameter count and size.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Model file.
    pub model: PathBuf,
}

/// Runs `inspect`: a few lines on stdout.
///
/// # Errors
/// An unreadable or invalid model file.
pub fn run(a: &InspectArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    let view = lstm_core::format::decode(&bytes)
        .with_context(|| format!("decoding {}", a.model.display()))?;
    let d = view.dims;
    println!("file:        {} ({} bytes)", a.model.display(), bytes.len());
    println!("input:       {:?}", view.input);
    println!("dims:        n_x {} · n_h {} · n_y {}", d.n_x, d.n_h, d.n_y);
    println!(
        "vocabulary:  {} symbols {:?}",
        view.vocab.chars().count(),
        view.vocab
    );
    println!("parameters:  {}", d.param_count());
    println!("MACs/token:  {}", d.macs_per_token());
    Ok(())
}

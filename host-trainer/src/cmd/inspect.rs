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
    let view = lstm_core::format::decode_family(&bytes)
        .with_context(|| format!("decoding {}", a.model.display()))?;
    let h = view.header;
    let d = h.dims;
    println!("file:        {} ({} bytes)", a.model.display(), bytes.len());
    println!("version:     {}", view.version);
    println!(
        "cell:        {:?} · {} layer{}",
        h.cell,
        h.n_layers,
        if h.n_layers == 1 { "" } else { "s" }
    );
    println!("dtype:       {:?}", h.dtype);
    println!("input:       {:?}", h.input);
    println!("tokens:      {:?}", h.tokens);
    println!("dims:        n_x {} · n_h {} · n_y {}", d.n_x, d.n_h, d.n_y);
    println!(
        "vocabulary:  {} symbols {:?}",
        view.symbols().count(),
        view.vocab
    );
    let per = |w: lstm_core::format::Weights<'_>| match w.dtype() {
        lstm_core::format::Dtype::F32 => 4 * w.len(),
        lstm_core::format::Dtype::Q8 => w.len(),
    };
    let weight_bytes: usize = view
        .layers()
        .iter()
        .map(|l| per(l.w_ih) + per(l.w_hh))
        .sum::<usize>()
        + per(view.w_y);
    let biases: usize = view
        .layers()
        .iter()
        .map(|l| l.b.len() + l.b_hn.len())
        .sum::<usize>()
        + view.b_y.len();
    let weights: usize = view
        .layers()
        .iter()
        .map(|l| l.w_ih.len() + l.w_hh.len())
        .sum::<usize>()
        + view.w_y.len();
    println!("parameters:  {}", weights + biases);
    println!(
        "weight bytes: {weight_bytes} (matrices; biases {} bytes f32)",
        4 * biases
    );
    if let Ok(plain) = view.plain() {
        println!("MACs/token:  {}", plain.dims.macs_per_token());
    }
    Ok(())
}

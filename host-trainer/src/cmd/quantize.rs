//! `host-trainer quantize`: post-training quantization of an f32 model file to q8 (int8 weights,
//! one f32 scale per output unit, by default shared by each layer's `w_ih` and `w_hh`; f32 biases),
//! for flash-limited boards.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::files::{check_outputs, named, write_atomic};
use crate::quantize::{Scales, quantize_model};

/// `quantize` arguments.
#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// f32 model file to read (any version, cell kind and layer count).
    #[arg(long)]
    pub model: PathBuf,
    /// q8 model file to write (format version 2).
    #[arg(long)]
    pub out: PathBuf,
    /// `shared`: one scale per gate unit for each layer's w_ih and w_hh (dtype q8-shared, 4 bytes
    /// per gate unit smaller); `per-matrix`: each matrix its own (dtype q8).
    #[arg(long, value_enum, default_value_t = Scales::default())]
    pub scales: Scales,
}

/// Runs `quantize`: writes the q8 model; the byte counts and each tensor's largest rounding error on
/// stdout.
///
/// # Errors
/// An output naming the input (any spelling), an unreadable input, a file that is not a model, a
/// model already q8 or too wide for q8's accumulator; all before anything is written.
pub fn run(a: &QuantizeArgs) -> anyhow::Result<()> {
    check_outputs(
        &[named("--model", &a.model)],
        &[named("--out", &a.out)],
        &[],
    )?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    let q = quantize_model(&bytes, a.scales)
        .with_context(|| format!("quantizing {}", a.model.display()))?;
    write_atomic(&a.out, &q.bytes)?;
    let h = q.header;
    writeln!(
        std::io::stdout(),
        "quantized {} ({} × {} layer{}, n_x {} · n_h {} · n_y {}) to {} ({} bytes, dtype {})",
        a.model.display(),
        h.cell.name(),
        h.n_layers,
        if h.n_layers == 1 { "" } else { "s" },
        h.dims.n_x,
        h.dims.n_h,
        h.dims.n_y,
        a.out.display(),
        q.bytes.len(),
        h.dtype.name()
    )?;
    writeln!(
        std::io::stdout(),
        "weights: {} bytes f32 -> {} bytes q8 ({:.4}×)",
        q.f32_weight_bytes,
        q.q8_weight_bytes,
        q.q8_weight_bytes as f64 / q.f32_weight_bytes as f64
    )?;
    for t in &q.tensors {
        writeln!(
            std::io::stdout(),
            "  {:<9} {:>8} int8, {:>5} scales{}, largest rounding error {:.3e} (bound {:.3e})",
            t.name,
            t.elements,
            t.units,
            if t.shared { " (w_ih's)" } else { "" },
            t.max_error,
            t.bound
        )?;
    }
    Ok(())
}

//! `host-trainer inspect`: what a model file holds (kind, sizes, vocabulary,
//! parameters, bytes of weights; for q8 the largest rounding error per tensor), the step and
//! validation loss it was saved at (from the sidecar `train` writes beside it) and, with `--board`,
//! whether it fits a board.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lstm_core::board::{self, Board};

use crate::sidecar::{self, Found};

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Model file.
    pub model: PathBuf,
    /// Also print whether the model fits this board's flash and RAM, as the
    /// firmware's build script checks it (`mps2-an386`, `black-pill`).
    #[arg(long, value_parser = board_name)]
    pub board: Vec<Board>,
}

/// Parses a `--board` value.
fn board_name(name: &str) -> Result<Board, String> {
    Board::by_name(name).ok_or_else(|| {
        let names: Vec<&str> = Board::ALL.iter().map(|b| b.name).collect();
        format!("unknown board {name:?}; one of {}", names.join(", "))
    })
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
    writeln!(
        std::io::stdout(),
        "file:        {} ({} bytes, format version {})",
        a.model.display(),
        bytes.len(),
        view.version
    )?;
    writeln!(
        std::io::stdout(),
        "model:       {} × {} layer{}, {} weights, {:?} input, {} tokens",
        h.cell.name(),
        h.n_layers,
        if h.n_layers == 1 { "" } else { "s" },
        h.dtype.name(),
        h.input,
        match h.tokens {
            lstm_core::format::TokenKind::Chars => "character",
            lstm_core::format::TokenKind::Words => "word",
        }
    )?;
    writeln!(
        std::io::stdout(),
        "dims:        n_x {} · n_h {} · n_y {}",
        d.n_x,
        d.n_h,
        d.n_y
    )?;
    writeln!(
        std::io::stdout(),
        "vocabulary:  {} symbols {:?}",
        d.n_y,
        view.vocab
    )?;
    writeln!(std::io::stdout(), "parameters:  {}", h.param_count())?;
    writeln!(
        std::io::stdout(),
        "weights:     {} bytes ({}{})",
        h.weight_bytes(),
        h.dtype.name(),
        if h.dtype.shares_scales() {
            ": one scale per gate unit shared by each layer's w_ih and w_hh"
        } else {
            ""
        }
    )?;
    for t in crate::quantize::q8_tensors(&view) {
        writeln!(
            std::io::stdout(),
            "rounding:    {:<9} largest rounding error ≤ {:.3e} (half the largest of its {} scales{})",
            t.name,
            t.bound,
            t.units,
            if t.shared { ", shared with w_ih" } else { "" }
        )?;
    }
    writeln!(std::io::stdout(), "MACs/token:  {}", h.macs_per_token())?;
    for b in &a.board {
        writeln!(
            std::io::stdout(),
            "fit:         {}",
            board::fit(b, d, h.weight_bytes())
        )?;
    }
    let info = sidecar::sidecar_path(&a.model);
    match sidecar::find(&a.model, &bytes) {
        Found::None => {}
        Found::Current(s) => writeln!(std::io::stdout(), "trained:     {}", s.summary())?,
        Found::Stale(s) => writeln!(
            std::io::stdout(),
            "trained:     unknown: {} is stale (it was written for other model bytes, of step {}); the model was replaced after training",
            info.display(),
            s.step
        )?,
        Found::Unreadable(reason) => {
            writeln!(
                std::io::stdout(),
                "trained:     unknown: {} is unreadable ({reason})",
                info.display()
            )?;
        }
    }
    Ok(())
}

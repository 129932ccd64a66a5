//! `host-trainer gradcheck`: analytic gradients against central differences (f64) on a random model.

use anyhow::bail;
use clap::Args;
use std::io::Write;

use crate::cli::{CellArg, ConfigError, dropout, range};
use crate::gradcheck::{self, GradcheckSpec};
use crate::model::MAX_LAYERS;

/// `gradcheck` arguments.
#[derive(Debug, Args)]
pub struct GradcheckArgs {
    /// Cell kind.
    #[arg(long, value_enum, default_value_t = CellArg::Lstm)]
    pub cell: CellArg,
    /// Layers (1–4).
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Dropout between layers and before the output (the masks fixed by the seed).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Vocabulary size.
    #[arg(long, default_value_t = 5)]
    pub vocab: usize,
    /// Hidden size.
    #[arg(long, default_value_t = 4)]
    pub hidden: usize,
    /// Time steps.
    #[arg(long, default_value_t = 5)]
    pub seq_len: usize,
    /// Batch size.
    #[arg(long, default_value_t = 3)]
    pub batch: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl GradcheckArgs {
    /// Validates into a [`GradcheckSpec`] (small sizes only: the check does two passes per parameter).
    ///
    /// # Errors
    /// Out-of-range sizes.
    pub fn to_spec(&self) -> Result<GradcheckSpec, ConfigError> {
        Ok(GradcheckSpec {
            cell: self.cell.into(),
            layers: range("layers", self.layers, 1, MAX_LAYERS)?,
            dropout: dropout("dropout", self.dropout)?,
            vocab: range("vocab", self.vocab, 1, 64)?,
            hidden: range("hidden", self.hidden, 1, 64)?,
            seq_len: range("seq-len", self.seq_len, 1, 64)?,
            batch: range("batch", self.batch, 1, 16)?,
            seed: self.seed,
        })
    }
}

/// Runs `gradcheck`: a table on stdout.
///
/// # Errors
/// Bad sizes, or a relative error above [`gradcheck::MAX_REL`].
pub fn run(a: &GradcheckArgs) -> anyhow::Result<()> {
    let spec = a.to_spec()?;
    let checks = gradcheck::run(&spec);
    writeln!(
        std::io::stdout(),
        "gradcheck: cell {:?}, layers {}, dropout {}, vocab {}, hidden {}, seq-len {}, batch {}, seed {} (f64, eps {:e})",
        spec.cell,
        spec.layers,
        spec.dropout,
        spec.vocab,
        spec.hidden,
        spec.seq_len,
        spec.batch,
        spec.seed,
        gradcheck::EPS
    )?;
    let mut worst = 0.0f64;
    for c in &checks {
        writeln!(
            std::io::stdout(),
            "  {:<7} {:>6} values  max rel {:.2e}  max abs {:.2e}",
            c.name,
            c.count,
            c.max_rel,
            c.max_abs
        )?;
        worst = worst.max(c.max_rel);
    }
    if worst > gradcheck::MAX_REL || worst.is_nan() {
        bail!(
            "gradcheck failed: worst relative error {worst:.2e} > {:e}",
            gradcheck::MAX_REL
        );
    }
    writeln!(
        std::io::stdout(),
        "ok: worst relative error {worst:.2e} <= {:e}",
        gradcheck::MAX_REL
    )?;
    Ok(())
}

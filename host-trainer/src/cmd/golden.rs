//! `host-trainer golden`: forward values and gradients against PyTorch reference files (lstm-golden/1 and rnn-golden/2).

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::golden;

/// `golden` arguments.
#[derive(Debug, Args)]
pub struct GoldenArgs {
    /// Reference files (lstm-golden/1 or rnn-golden/2 JSON).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `golden`: a table per file on stdout.
///
/// # Errors
/// An unreadable file, a failed comparison, or no golden case among the files.
pub fn run(a: &GoldenArgs) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    let mut checked = 0;
    for path in &a.files {
        let case = match golden::load_any(path) {
            Ok(c) => c,
            Err(golden::GoldenError::Index { .. }) => {
                writeln!(
                    std::io::stdout(),
                    "{}: index of golden files, skipped",
                    path.display()
                )?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        checked += 1;
        writeln!(
            std::io::stdout(),
            "{} ({})",
            path.display(),
            case.describe()
        )?;
        let f64_rows = case.check_f64();
        let f32_rows = case.check_f32();
        writeln!(
            std::io::stdout(),
            "  {:<18} {:>10} {:>10}   {:>10} {:>10}",
            "quantity",
            "f64 abs",
            "f64 rel",
            "f32 abs",
            "f32 rel"
        )?;
        let mut ok = true;
        for (r, r32) in f64_rows.iter().zip(&f32_rows) {
            writeln!(
                std::io::stdout(),
                "  {:<18} {:>10.2e} {:>10.2e}   {:>10.2e} {:>10.2e}{}{}",
                r.name,
                r.max_abs,
                r.max_rel,
                r32.max_abs,
                r32.max_rel,
                if r.pass { "" } else { "  FAIL (f64)" },
                if r32.pass { "" } else { "  FAIL (f32)" }
            )?;
            ok &= r.pass && r32.pass;
        }
        writeln!(std::io::stdout(), "  {}", if ok { "pass" } else { "FAIL" })?;
        if !ok {
            failed.push(path.display().to_string());
        }
    }
    if !failed.is_empty() {
        bail!("golden check failed for {}", failed.join(", "));
    }
    if checked == 0 {
        bail!("no golden case among the files given");
    }
    Ok(())
}

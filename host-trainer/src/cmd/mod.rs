//! The subcommands: one file each, holding its arguments (clap), their validation, and its run with
//! the console output. The binary's `main` only parses [`Cli`] and calls [`run`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod eval;
pub mod eval_q8;
pub mod export;
pub mod golden;
pub mod gradcheck;
pub mod import;
pub mod inspect;
pub mod quantize;
pub mod sample;
pub mod train;

/// Train character-level LSTMs and export them for lstm-core.
#[derive(Debug, Parser)]
#[command(name = "host-trainer", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on a text file.
    Train(Box<train::TrainArgs>),
    /// Generate text from a model file.
    Sample(sample::SampleArgs),
    /// Report loss and perplexity of a model on a text file.
    Eval(eval::EvalArgs),
    /// Show a model file's dimensions, vocabulary, parameter count and size.
    Inspect(inspect::InspectArgs),
    /// Check analytic gradients against central differences (f64) on a random model.
    Gradcheck(gradcheck::GradcheckArgs),
    /// Check forward values and gradients against PyTorch reference files (lstm-golden/1).
    Golden(golden::GoldenArgs),
    /// Convert a PyTorch nn.LSTM + nn.Linear (safetensors + vocabulary JSON) into a model file.
    Import(import::ImportArgs),
    /// Write a model file as safetensors + vocabulary JSON for PyTorch (load_state_dict(strict=True)).
    Export(export::ExportArgs),
    /// Quantize an f32 model file to q8 (int8 weights, one f32 scale per output unit).
    Quantize(quantize::QuantizeArgs),
}

/// Runs the parsed command; its exit code (non-zero for an interrupted `train`).
///
/// # Errors
/// The command's error, for `main` to print.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Train(a) => train::run(&a),
        Command::Sample(a) => done(sample::run(&a)),
        Command::Eval(a) => done(eval::run(&a)),
        Command::Inspect(a) => done(inspect::run(&a)),
        Command::Gradcheck(a) => done(gradcheck::run(&a)),
        Command::Golden(a) => done(golden::run(&a)),
        Command::Import(a) => done(import::run(&a)),
        Command::Export(a) => done(export::run(&a)),
        Command::Quantize(a) => done(quantize::run(&a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ConfigError;
    use crate::pytorch::Prefixes;
    use train::TrainArgs;

    fn parse(args: &[&str]) -> TrainArgs {
        let mut v = vec![
            "host-trainer",
            "train",
            "--corpus",
            "c.txt",
            "--out",
            "m.bin",
        ];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).map(|c| c.command) {
            Ok(Command::Train(t)) => *t,
            other => panic!("unexpected parse: {other:?}"),
        }
    }

    #[test]
    fn rejects_nonsense_values() {
        assert!(matches!(
            parse(&["--hidden", "0"]).to_config(),
            Err(ConfigError::OutOfRange { flag: "hidden", .. })
        ));
        assert!(matches!(
            parse(&["--lr", "NaN"]).to_config(),
            Err(ConfigError::BadFloat { flag: "lr", .. })
        ));
        assert!(matches!(
            parse(&["--lr", "-1"]).to_config(),
            Err(ConfigError::BadFloat { flag: "lr", .. })
        ));
        assert!(matches!(
            parse(&["--batch", "0"]).to_config(),
            Err(ConfigError::OutOfRange { flag: "batch", .. })
        ));
        assert!(matches!(
            parse(&["--val-fraction", "1.5"]).to_config(),
            Err(ConfigError::BadFloat { .. })
        ));
        assert!(matches!(
            parse(&["--d2l"]).to_config(),
            Err(ConfigError::Conflict(_))
        ));
        assert!(parse(&["--hidden", "8"]).to_config().is_ok());
    }

    #[test]
    fn import_and_export_take_prefixes() {
        let cli = Cli::try_parse_from([
            "host-trainer",
            "import",
            "--safetensors",
            "m.safetensors",
            "--vocab",
            "v.json",
            "--out",
            "m.lstm",
            "--lstm-prefix",
            "rnn.",
        ]);
        match cli.map(|c| c.command) {
            Ok(Command::Import(a)) => assert_eq!(
                a.prefixes.to_prefixes(),
                Prefixes {
                    lstm: "rnn.".into(),
                    linear: "fc.".into()
                }
            ),
            other => panic!("unexpected parse: {other:?}"),
        }
        let cli = Cli::try_parse_from([
            "host-trainer",
            "export",
            "--model",
            "m.lstm",
            "--safetensors",
            "x",
            "--vocab",
            "x",
        ]);
        match cli.map(|c| c.command) {
            Ok(Command::Export(a)) => {
                assert_eq!(a.prefixes.to_prefixes(), Prefixes::default());
                assert!(matches!(
                    a.validate(),
                    Err(crate::files::FileError::SameOutput { .. })
                ));
            }
            other => panic!("unexpected parse: {other:?}"),
        }
    }
}

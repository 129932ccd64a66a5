//! `host-trainer`: train, sample, evaluate, inspect, gradient-check and golden-check character LSTMs,
//! and import / export PyTorch models. Only dispatch: each subcommand lives in `host_trainer::cmd`.

#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

use host_trainer::cmd::{self, Cli};

fn main() -> ExitCode {
    // Usage errors print clap's message and exit 2; --help / --version exit 0.
    let cli = Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the error is a closed stdout (e.g. `| head`), which is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

//! Signals during `train`: the first SIGINT, SIGTERM or SIGHUP stops the run at the next step boundary
//! with a checkpoint; the exit code says which signal it was.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use anyhow::Context;

/// Set by the first SIGINT, SIGTERM or SIGHUP: stop at the next step boundary and checkpoint.
pub(super) static INTERRUPT: AtomicBool = AtomicBool::new(false);
/// The first signal received (its number), for the exit code.
pub(super) static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The exit code of a run stopped by signal `sig`: `128 + sig`.
pub(super) fn interrupted_code(sig: i32) -> u8 {
    u8::try_from(128 + sig).unwrap_or(130)
}

/// A signal's name for messages.
pub(super) fn signal_name(sig: i32) -> &'static str {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// SIGINT, SIGTERM and SIGHUP: the first asks the loop to stop at the next step boundary and write a
/// checkpoint; a second is ignored (`timeout` signals the child and then its process group, and a
/// checkpoint being written must not be cut short); a third exits at once with `128 + signal`, which
/// cannot damage a file (writes are atomic: the destination keeps its old content).
pub(super) fn install_signal_handlers() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for (count, sig) in signals.forever().enumerate() {
                match count {
                    0 => {
                        SIGNAL.store(sig, Ordering::SeqCst);
                        INTERRUPT.store(true, Ordering::SeqCst);
                        eprintln!(
                            "{}: stopping after this step and writing a checkpoint (a third signal exits without one)",
                            signal_name(sig)
                        );
                    }
                    1 => eprintln!(
                        "{}: still writing the checkpoint; one more signal exits without it",
                        signal_name(sig)
                    ),
                    _ => std::process::exit(i32::from(interrupted_code(sig))),
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

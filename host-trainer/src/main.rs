//! `host-trainer`: train, sample, evaluate, inspect, gradient-check and golden-check character LSTMs,
//! and import / export PyTorch models.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use clap::Parser;

use host_trainer::batch::{Dataset, Mode, split_lines};
use host_trainer::checkpoint::Checkpoint;
use host_trainer::cli::{
    Cli, Command, EvalArgs, ExportArgs, GoldenArgs, GradcheckArgs, ImportArgs, InspectArgs,
    SampleArgs, TrainArgs,
};
use host_trainer::corpus::{self, Preprocess};
use host_trainer::export;
use host_trainer::generate::LoadedModel;
use host_trainer::golden;
use host_trainer::gradcheck;
use host_trainer::pytorch;
use host_trainer::train::{Controls, Outcome, Trainer, evaluate};

static INTERRUPT: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    // Usage errors print clap's message and exit 2; --help / --version exit 0.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(a) => train(&a),
        Command::Sample(a) => sample(&a),
        Command::Eval(a) => eval(&a),
        Command::Inspect(a) => inspect(&a),
        Command::Gradcheck(a) => run_gradcheck(&a),
        Command::Golden(a) => run_golden(&a),
        Command::Import(a) => import(&a),
        Command::Export(a) => export_pytorch(&a),
    }
}

fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    // Parallelism comes from rayon: large products split their output columns between threads
    // (`float::gemm_panels`), never the summation, so the model bytes are the same for any thread count.
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("starting the thread pool")?;
    }
    Ok(())
}

fn train(a: &TrainArgs) -> anyhow::Result<()> {
    set_threads(a.threads)?;
    let mut trainer = if let Some(ckpt_path) = &a.resume {
        let ckpt = Checkpoint::load(ckpt_path)?;
        let cfg = a.apply_to_resumed(ckpt.config.clone())?;
        let raw = corpus::load(&cfg.corpus)?;
        eprintln!(
            "resuming from {} at step {}",
            ckpt_path.display(),
            ckpt.state.step
        );
        Trainer::resume(ckpt, cfg, &raw)?
    } else {
        let cfg = a.to_config()?;
        let raw = corpus::load(&cfg.corpus)?;
        Trainer::new(cfg, &raw)?
    };
    let p = &trainer.prep;
    eprintln!(
        "corpus {}: {} training targets, vocabulary {} ({:?}), unigram entropy {:.4} nats/char; {} parameters",
        trainer.cfg.corpus.display(),
        p.train.target_count(),
        p.vocab.len(),
        p.vocab.as_string(),
        p.unigram_entropy,
        trainer.params.shape.param_count()
    );
    ctrlc::set_handler(|| {
        if INTERRUPT.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: the user really wants out.
            std::process::exit(130);
        }
    })
    .context("installing the Ctrl-C handler")?;
    let start = std::time::Instant::now();
    let tokens0 = trainer.state.tokens;
    let outcome = trainer.run(&Controls {
        interrupt: Some(&INTERRUPT),
        stop_after: None,
        verbose: true,
    })?;
    let secs = start.elapsed().as_secs_f64();
    let sm = trainer.state.smoothed.unwrap_or(f64::NAN);
    eprintln!(
        "step {}, epoch {}: smoothed loss {sm:.4} nats/char (perplexity {:.3}); unigram entropy {:.4}; {:.0} tokens/s",
        trainer.state.step,
        trainer.state.epoch,
        sm.exp(),
        trainer.prep.unigram_entropy,
        (trainer.state.tokens - tokens0) as f64 / secs.max(1e-9)
    );
    if let Some(v) = trainer.validate() {
        eprintln!("validation loss {v:.4} (perplexity {:.3})", v.exp());
    }
    eprintln!("model written to {}", trainer.cfg.out.display());
    match outcome {
        Outcome::Finished(reason) => eprintln!("done: {reason}"),
        Outcome::Interrupted { checkpoint } => {
            eprintln!(
                "interrupted: checkpoint saved to {}; continue with --resume",
                checkpoint.display()
            )
        }
    }
    Ok(())
}

fn sample(a: &SampleArgs) -> anyhow::Result<()> {
    let opts = a.to_options()?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    let samples = host_trainer::generate::sample_text(&bytes, &opts)
        .with_context(|| format!("sampling from {}", a.model.display()))?;
    let mut out = std::io::stdout().lock();
    for s in &samples.texts {
        out.write_all(s.as_bytes())?;
        if opts.stop_at.is_none() || !s.ends_with('\n') {
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    if a.digest {
        eprintln!("state digest: {:#010x}", samples.state_digest);
    }
    Ok(())
}

fn eval(a: &EvalArgs) -> anyhow::Result<()> {
    if a.seq_len == 0 || a.batch == 0 {
        bail!("--seq-len and --batch must be at least 1");
    }
    let (params, vocab) =
        export::load_model(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let raw = corpus::load(&a.corpus)?;
    let text = corpus::preprocess(
        &raw,
        Preprocess {
            lowercase: a.lowercase,
            d2l: a.d2l,
        },
    );
    let tokens = vocab
        .encode(&text)
        .with_context(|| format!("encoding {}", a.corpus.display()))?;
    let data = match a.mode {
        Mode::Lines => {
            let newline = vocab
                .index('\n')
                .context("the model's vocabulary has no newline; use --mode stream")?;
            Dataset::Lines {
                lines: split_lines(&tokens, newline),
                newline,
            }
        }
        Mode::Stream => Dataset::Stream { tokens },
    };
    let stats = evaluate(&params, &data, a.batch, a.seq_len);
    if stats.count == 0 {
        bail!("corpus {} has nothing to evaluate", a.corpus.display());
    }
    let loss = stats.mean();
    println!(
        "loss {loss:.6} nats/char, perplexity {:.4}, over {} characters",
        loss.exp(),
        stats.count
    );
    Ok(())
}

fn inspect(a: &InspectArgs) -> anyhow::Result<()> {
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

fn run_gradcheck(a: &GradcheckArgs) -> anyhow::Result<()> {
    let spec = a.to_spec()?;
    let checks = gradcheck::run(&spec);
    println!(
        "gradcheck: vocab {}, hidden {}, seq-len {}, batch {}, seed {} (f64, eps {:e})",
        spec.vocab,
        spec.hidden,
        spec.seq_len,
        spec.batch,
        spec.seed,
        gradcheck::EPS
    );
    let mut worst = 0.0f64;
    for c in &checks {
        println!(
            "  {:<4} {:>6} values  max rel {:.2e}  max abs {:.2e}",
            c.name, c.count, c.max_rel, c.max_abs
        );
        worst = worst.max(c.max_rel);
    }
    if worst > gradcheck::MAX_REL || worst.is_nan() {
        bail!(
            "gradcheck failed: worst relative error {worst:.2e} > {:e}",
            gradcheck::MAX_REL
        );
    }
    println!(
        "ok: worst relative error {worst:.2e} <= {:e}",
        gradcheck::MAX_REL
    );
    Ok(())
}

fn run_golden(a: &GoldenArgs) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    let mut checked = 0;
    for path in &a.files {
        let case = match golden::load(path) {
            Ok(c) => c,
            Err(golden::GoldenError::Index { .. }) => {
                println!("{}: index of golden files, skipped", path.display());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        checked += 1;
        println!(
            "{} ({}: n_x {} n_h {} T {} m {})",
            path.display(),
            case.case,
            case.shape.n_x,
            case.shape.n_h,
            case.steps,
            case.batch
        );
        let f64_rows = golden::check_f64(&case);
        let f32_rows = golden::check_f32(&case);
        println!(
            "  {:<16} {:>10} {:>10}   {:>10} {:>10}",
            "quantity", "f64 abs", "f64 rel", "f32 abs", "f32 rel"
        );
        let mut ok = true;
        for (r, r32) in f64_rows.iter().zip(&f32_rows) {
            println!(
                "  {:<16} {:>10.2e} {:>10.2e}   {:>10.2e} {:>10.2e}{}{}",
                r.name,
                r.max_abs,
                r.max_rel,
                r32.max_abs,
                r32.max_rel,
                if r.pass { "" } else { "  FAIL (f64)" },
                if r32.pass { "" } else { "  FAIL (f32)" }
            );
            ok &= r.pass && r32.pass;
        }
        println!("  {}", if ok { "pass" } else { "FAIL" });
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

fn import(a: &ImportArgs) -> anyhow::Result<()> {
    let st = std::fs::read(&a.safetensors)
        .with_context(|| format!("reading {}", a.safetensors.display()))?;
    let json = std::fs::read_to_string(&a.vocab)
        .with_context(|| format!("reading vocabulary {}", a.vocab.display()))?;
    let vocab =
        pytorch::parse_vocab(&json).with_context(|| format!("reading {}", a.vocab.display()))?;
    let model = pytorch::import(&st, &vocab, &a.prefixes.to_prefixes())
        .with_context(|| format!("importing {}", a.safetensors.display()))?;
    let bytes = model
        .to_bytes()
        .with_context(|| format!("encoding {}", a.out.display()))?;
    export::write_atomic(&a.out, &bytes)?;
    let d = model.dims;
    eprintln!(
        "imported {}: n_x {} · n_h {} · n_y {}, vocabulary {:?}; model written to {} ({} bytes)",
        a.safetensors.display(),
        d.n_x,
        d.n_h,
        d.n_y,
        model.vocab,
        a.out.display(),
        bytes.len()
    );
    Ok(())
}

fn export_pytorch(a: &ExportArgs) -> anyhow::Result<()> {
    a.validate()?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading model {}", a.model.display()))?;
    let model = LoadedModel::from_bytes(&bytes)
        .with_context(|| format!("decoding {}", a.model.display()))?;
    let st = pytorch::export(&model, &a.prefixes.to_prefixes())
        .with_context(|| format!("exporting {}", a.model.display()))?;
    let mut vocab = pytorch::vocab_json(&model.vocab);
    vocab.push('\n');
    export::write_atomic(&a.safetensors, &st)?;
    export::write_atomic(&a.vocab, vocab.as_bytes())?;
    let d = model.dims;
    eprintln!(
        "exported {} (n_x {} · n_h {} · n_y {}) to {} and {}",
        a.model.display(),
        d.n_x,
        d.n_h,
        d.n_y,
        a.safetensors.display(),
        a.vocab.display()
    );
    Ok(())
}

//! Pins the trainer's exact output: the model bytes `train` writes for a fixed corpus, seed and recipe
//! (lines and stream mode, one and two threads), and the text and state digest `sample` draws from them.
//!
//! Any change to these values is a change of the trainer's arithmetic and must be deliberate: update the
//! pins in a commit that says so, with the old and new values and the losses before and after.
//!
//! The bits belong to the x86-64 AVX2 + FMA products (the GEMM's fused multiply-adds round differently
//! from the portable multiply-then-add), so on another CPU the test prints a skip line and checks only
//! that the thread count does not change the bytes.

use std::path::Path;
use std::process::{Command, Output};

/// A fixed training text (about 900 bytes, 19 lines), embedded so the pins do not depend on files.
const CORPUS: &str = "\
the quick brown fox jumps over the lazy dog
a stitch in time saves nine
all that glitters is not gold
the early bird catches the worm
actions speak louder than words
better late than never
birds of a feather flock together
every cloud has a silver lining
fortune favours the bold
great minds think alike
honesty is the best policy
laughter is the best medicine
practice makes perfect
the pen is mightier than the sword
when in rome do as the romans do
where there is smoke there is fire
you cannot judge a book by its cover
two wrongs do not make a right
the grass is always greener on the other side
";

fn run(args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_host-trainer"))
        .args(args)
        .output()
        .expect("binary runs");
    assert!(
        o.status.success(),
        "host-trainer {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// CRC-64/XZ of `bytes` (not CRC-32: the file ends with its own CRC-32, so the CRC-32 of every valid
/// file is the same residue).
fn crc64(bytes: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(bytes)
}

/// Whether this CPU runs the AVX2 + FMA products whose bits are pinned.
fn pinned_cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One training recipe and the values it must produce.
struct Pin {
    name: &'static str,
    /// `train` flags after `--corpus/--out/--threads`.
    recipe: &'static [&'static str],
    /// Length and CRC-64 of the model file.
    model: (usize, u64),
    /// `sample` output (stdout) with [`SAMPLE`] flags.
    text: &'static str,
    /// `sample --digest` line value.
    digest: &'static str,
}

/// The `sample` flags of every pin.
const SAMPLE: &[&str] = &[
    "--prime",
    "th",
    "--length",
    "80",
    "--temperature",
    "0.8",
    "--seed",
    "5",
    "--count",
    "2",
    "--digest",
];

// Changed once, deliberately, when the trainer's f32 activations became lstm-core's (`math::exp` over
// `f32::mul_add`): lines was (23204, 0x4a87_037c_57be_a204) / 0x9a78ac5c, stream (336039,
// 0x3896_ac9e_74a8_f2ce) / 0x14f3bf17; the sampled texts did not change.
const PINS: &[Pin] = &[
    Pin {
        name: "lines",
        recipe: &[
            "--mode", "lines", "--hidden", "24", "--batch", "4", "--steps", "60", "--seed", "7",
        ],
        model: (23204, 0x8c31_014c_0cf1_c323),
        text: "thge\n re ct enrontthe the n ite thony ot coo  fomac e vhe\n trp\nhas\ns hntheisdhs r\n\nth e she mme oerwe th the dr the inthen\n werstil\ncer tttatereo is asn ic thifei aa\n",
        digest: "0x13f72d67",
    },
    // Large enough (batch 32 · 4·128² ≥ the split threshold) that two threads split the products.
    Pin {
        name: "stream",
        recipe: &[
            "--mode",
            "stream",
            "--hidden",
            "128",
            "--batch",
            "32",
            "--seq-len",
            "16",
            "--steps",
            "6",
            "--seed",
            "3",
        ],
        model: (336039, 0x9354_0332_7aaa_e5e1),
        text: "thre\n nbc t\ndkspntvne rhr h dsdatltlzhhs  nm \n nhde   wli\n ttt\ni s\nrfapuignsniuen\n\nth daohhegmk ldsxe uk tnhd p sie eftnoo  xastuok\ndhrctxt teslo esd oo e  rntgem   \n",
        digest: "0x05ae8f5d",
    },
];

#[test]
fn model_bytes_text_and_digest_are_pinned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, CORPUS).expect("write corpus");
    let pinned = pinned_cpu();
    if !pinned {
        println!(
            "skip: pinned bits are those of AVX2 + FMA; this CPU lacks them, checking thread independence only"
        );
    }
    let mut report = String::new();
    let mut mismatch = false;
    for pin in PINS {
        let mut bytes = Vec::new();
        for threads in ["1", "2"] {
            let model = dir.path().join(format!("{}-{threads}.bin", pin.name));
            let mut args = vec![
                "train",
                "--corpus",
                s(&corpus),
                "--out",
                s(&model),
                "--threads",
                threads,
            ];
            args.extend_from_slice(pin.recipe);
            run(&args);
            bytes.push(std::fs::read(&model).expect("model written"));
        }
        assert!(
            bytes[0] == bytes[1],
            "{}: model bytes differ between 1 and 2 threads",
            pin.name
        );
        let model = dir.path().join(format!("{}-1.bin", pin.name));
        let mut args = vec!["sample", "--model", s(&model)];
        args.extend_from_slice(SAMPLE);
        let o = run(&args);
        let text = String::from_utf8(o.stdout).expect("utf-8 text");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let digest = err
            .lines()
            .find_map(|l| l.strip_prefix("state digest: "))
            .unwrap_or_else(|| panic!("no digest line: {err}"))
            .to_string();
        let got = (bytes[0].len(), crc64(&bytes[0]));
        report += &format!(
            "{}: model ({}, {:#018x}), digest {digest}, text {text:?}\n",
            pin.name, got.0, got.1
        );
        mismatch |= got != pin.model || text != pin.text || digest != pin.digest;
    }
    if pinned {
        assert!(!mismatch, "pinned values changed; now:\n{report}");
    }
    print!("{report}");
}

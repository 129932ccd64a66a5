#!/usr/bin/env bash
# One command for issue 7's side-by-side benchmarks: training throughput and
# loss (host-trainer vs PyTorch nn.LSTM), per-token inference latency
# (lstm-core kernels vs PyTorch eager, TorchScript, ONNX Runtime) and the
# firmware's instructions per token under QEMU (firmware-example vs plain C), and
# quantized (q8) models: held-out loss, weight bytes and latency against f32.
# Prints one table; see bench/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
VENV="$ROOT/target/bench-venv"
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$ROOT/target/bench-results/$STAMP"
ONLY="train,infer,firmware,quant"
THREADS="1,2"
EXTRA=()
PYTHON_BASE="${PYTHON:-python3}"

usage() {
    cat <<'USAGE'
usage: bench/compare.sh [options]

  --long             more training steps (about 7x) and longer latency runs
  --quick            a quarter of the default training steps (for a smoke test)
  --only LIST        comma-separated subset of: train,infer,firmware,quant
  --threads LIST     thread counts for training and inference rows (default 1,2)
  --repeat N         training: run each pair N times (alternating), keep the best throughput of each side
  --no-trace         skip the per-symbol QEMU trace of the firmware (~1 min)
  --cell-rows MODE   issue 12's training rows (2-layer LSTM and GRU on The Time Machine, RNN
                     dinosaurs): auto (default: when host-trainer train takes --cell/--layers), yes, no
  --out DIR          where results go (default target/bench-results/<date>)
  -h, --help         this text

Environment: TIMEMACHINE, DINOS (corpus paths), PYTHON (interpreter that
makes the virtualenv, default python3), HOST_TRAINER (a prebuilt
host-trainer binary to use instead of building one).
USAGE
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --long) EXTRA+=(--long --latency-ms 2000); shift ;;
        --quick) EXTRA+=(--steps-scale 0.25 --latency-ms 300); shift ;;
        --only) ONLY="${2:?--only needs a list}"; shift 2 ;;
        --threads) THREADS="${2:?--threads needs a list}"; shift 2 ;;
        --no-trace) EXTRA+=(--fw-profile none); shift ;;
        --repeat) EXTRA+=(--repeat "${2:?--repeat needs a number}"); shift 2 ;;
        --cell-rows) EXTRA+=(--cell-rows "${2:?--cell-rows needs auto, yes or no}"); shift 2 ;;
        --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

die() { echo "compare.sh: error: $*" >&2; exit 1; }
say() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"; }

for part in ${ONLY//,/ }; do
    case "$part" in train|infer|firmware|quant) ;; *) die "--only: unknown part '$part' (train, infer, firmware, quant)" ;; esac
done
has() { [[ ",$ONLY," == *",$1,"* ]]; }

# ---- tools ----
need cargo "install Rust (rustup)"
need "$PYTHON_BASE" "install Python 3.9+ (with the venv module: apt-get install python3-venv)"
"$PYTHON_BASE" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' \
    || die "$PYTHON_BASE must be Python 3.9+ with the venv module"
if has firmware; then
    need qemu-system-arm "apt-get install qemu-system-arm"
    need arm-none-eabi-gcc "apt-get install gcc-arm-none-eabi (plus libnewlib-arm-none-eabi)"
    need arm-none-eabi-size "apt-get install binutils-arm-none-eabi"
fi

# ---- corpora ----
first_file() {
    local f
    for f in "$@"; do
        if [[ -n "$f" && -f "$f" ]]; then echo "$f"; return 0; fi
    done
    return 0
}
[[ -z "${TIMEMACHINE:-}" || -f "$TIMEMACHINE" ]] || die "TIMEMACHINE=$TIMEMACHINE is not a file"
[[ -z "${DINOS:-}" || -f "$DINOS" ]] || die "DINOS=$DINOS is not a file"
TM="$(first_file "${TIMEMACHINE:-}" "$ROOT/data/timemachine.txt" "$ROOT/../shared/data/timemachine.txt")"
DN="$(first_file "${DINOS:-}" "$ROOT/data/dinos.txt" "$ROOT/../shared/data/dinos.txt")"
if has train || has quant; then
    [[ -n "$TM" || -n "$DN" ]] || die "no corpus found: set TIMEMACHINE and DINOS to the text files"
    [[ -n "$TM" ]] || say "warning: no timemachine.txt (set TIMEMACHINE); its rows are skipped"
    [[ -n "$DN" ]] || say "warning: no dinos.txt (set DINOS); its rows are skipped"
fi

# ---- Python virtualenv (torch, onnxruntime) ----
REQ_HASH="$(sha256sum "$BENCH/requirements.txt" | cut -c1-16)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.bench-stamp" 2>/dev/null)" != "$REQ_HASH" ]]; then
    say "creating $VENV (torch from PyPI pulls ~5 GB of CUDA runtime wheels; the bench uses the CPU only)"
    "$PYTHON_BASE" -m venv "$VENV" || die "could not create the virtualenv $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip \
        || die "pip upgrade failed (is PyPI reachable?)"
    "$VENV/bin/python" -m pip install --quiet -r "$BENCH/requirements.txt" \
        || die "pip install -r bench/requirements.txt failed (is PyPI reachable?)"
    echo "$REQ_HASH" > "$VENV/.bench-stamp"
fi
PY="$VENV/bin/python"
"$PY" -c 'import torch, onnxruntime, onnx, numpy' 2>/dev/null \
    || die "the virtualenv $VENV cannot import torch/onnxruntime/onnx/numpy; delete it and rerun"

# ---- builds ----
HT="${HOST_TRAINER:-$ROOT/target/release/host-trainer}"
if [[ -n "${HOST_TRAINER:-}" ]]; then
    [[ -x "$HOST_TRAINER" ]] || die "HOST_TRAINER=$HOST_TRAINER is not an executable"
    say "using HOST_TRAINER=$HOST_TRAINER (not rebuilt)"
elif has train || has firmware || has quant; then
    say "building host-trainer (release)"
    (cd "$ROOT" && cargo build --release --quiet -p host-trainer) \
        || die "cargo build -p host-trainer failed (HOST_TRAINER=path uses a prebuilt binary instead)"
fi
say "building the bench helpers (bench/latency, release)"
CARGO_TARGET_DIR="$ROOT/target/bench-rust" cargo build --release --quiet \
    --manifest-path "$BENCH/latency/Cargo.toml" || die "building bench/latency failed"

# ---- machine line ----
mkdir -p "$OUT"
if has train || has firmware || has quant; then
    # A private copy: another build of the workspace may replace target/release/host-trainer mid-run.
    cp "$HT" "$OUT/host-trainer" || die "cannot copy $HT"
    HT="$OUT/host-trainer"
fi
CPU="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
{
    echo "machine: ${CPU:-unknown CPU}, $(nproc) cores, $(free -g 2>/dev/null | awk '/^Mem:/{print $2 " GiB"}'), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
    echo "flags: $(grep -o -w -E 'avx2|fma|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    echo "software: $("$PY" -c 'import torch, onnxruntime, sys; print(f"Python {sys.version.split()[0]}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")'), $(rustc --version)"
    if has firmware; then echo "firmware: $(qemu-system-arm --version | head -1), $(arm-none-eabi-gcc --version | head -1)"; fi
    echo "commit: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo none)$(cd "$ROOT" && [[ -n "$(git status --porcelain 2>/dev/null)" ]] && echo ' (dirty tree)')"
} | tee "$OUT/machine.txt"

# ---- run ----
"$PY" "$BENCH/py/compare.py" \
    --python "$PY" \
    --host-trainer "$HT" \
    --latency-bin "$ROOT/target/bench-rust/release/latency" \
    --mkmodel-bin "$ROOT/target/bench-rust/release/mkmodel" \
    --firmware-dir "$ROOT/firmware-example" \
    --fw-target "$ROOT/target/bench-fw" \
    ${TM:+--timemachine "$TM"} ${DN:+--dinos "$DN"} \
    --out-dir "$OUT" --only "$ONLY" --threads "$THREADS" ${EXTRA[@]+"${EXTRA[@]}"} \
    | tee "$OUT/table.txt"
echo "machine: $(head -1 "$OUT/machine.txt" | cut -d' ' -f2-)"

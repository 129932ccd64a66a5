"""Issue 11's host rows for quantized (q8) models, for bench/py/compare.py.

* quality: train an f32 model with a held-out validation split (`--val-fraction 0.1`), quantize
  it (`host-trainer quantize`), and evaluate both files on exactly that held-out split
  (`host-trainer eval --checkpoint ... --split val`; the q8 file through lstm-core's q8 step).
  Targets: held-out loss of q8 <= f32 + 0.015 nats/char, weight bytes q8 <= 0.27 x f32.
* latency: the `latency` binary's q8 rows (same weights quantized, same kernel family) beside
  its f32 rows and PyTorch eager / ONNX Runtime. Target at hidden 256, one thread: q8 <= 0.5 x f32.

Standard library only; compare.py passes in its `run` and `recipe_flags`.
"""

import os
import re
import time

LOSS_SLACK = 0.015  # nats/char
BYTES_RATIO = 0.27
LATENCY_RATIO = 0.5

# name, corpus key, flags (as compare.RECIPES), default steps, --long steps
QUANT_RECIPES = [
    ("timemachine stream, hidden 128", "timemachine",
     dict(mode="stream", d2l=True, lowercase=False, hidden=128, seq_len=35, batch=32,
          optimizer="adam", lr=0.005, clip_norm=1.0), 1200, 6000),
    ("timemachine stream, hidden 256", "timemachine",
     dict(mode="stream", d2l=True, lowercase=False, hidden=256, seq_len=35, batch=32,
          optimizer="adam", lr=0.005, clip_norm=1.0), 1200, 6000),
    ("dinos lines, hidden 64", "dinos",
     dict(mode="lines", d2l=False, lowercase=True, hidden=64, seq_len=35, batch=32,
          optimizer="adam", lr=0.01, clip_norm=1.0), 1500, 6000),
]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=__import__("sys").stderr, flush=True)


def _loss(text, what, BenchError):
    m = re.search(r"loss ([0-9.]+) nats/char", text)
    if not m:
        raise BenchError(f"{what}: no 'loss X nats/char' in its output:\n{text}")
    return float(m.group(1))


def quality(a, corpora, run, recipe_flags, BenchError, rows, problems):
    """Trains, quantizes and evaluates each recipe; appends table rows; returns the raw results."""
    out = []
    work = os.path.join(a.out_dir, "quant")
    os.makedirs(work, exist_ok=True)
    threads = max(int(t) for t in a.threads.split(","))
    for name, key, r, steps, long_steps in QUANT_RECIPES:
        corpus = corpora.get(key)
        if not corpus:
            problems.append(f"quantization '{name}' skipped: no {key} corpus (set {key.upper()}=path)")
            continue
        steps = max(1, int((long_steps if a.long else steps) * a.steps_scale))
        tag = re.sub(r"[^a-z0-9]+", "-", name)
        f32, q8, ckpt = (os.path.join(work, f"{tag}.lstm"), os.path.join(work, f"{tag}.q8.lstm"),
                         os.path.join(work, f"{tag}.ckpt"))
        for p in (f32, q8, ckpt):
            if os.path.exists(p):
                os.remove(p)
        log(f"quantization {name}: training f32, {steps} steps")
        run([a.host_trainer, "train", "--corpus", corpus, "--out", f32, "--checkpoint", ckpt,
             "--val-fraction", "0.1"] + recipe_flags(r, steps, a.seed, threads),
            what="host-trainer train", timeout=7200)
        so, _ = run([a.host_trainer, "quantize", "--model", f32, "--out", q8], what="host-trainer quantize")
        m = re.search(r"weights: (\d+) bytes f32 -> (\d+) bytes q8", so)
        if not m:
            raise BenchError("host-trainer quantize: no 'weights: X bytes f32 -> Y bytes q8' line:\n" + so)
        f32_bytes, q8_bytes = int(m.group(1)), int(m.group(2))
        losses = {}
        for dtype, model in (("f32", f32), ("q8", q8)):
            log(f"quantization {name}: held-out loss of the {dtype} model")
            so, _ = run([a.host_trainer, "eval", "--model", model, "--checkpoint", ckpt, "--split", "val"],
                        what=f"host-trainer eval ({dtype})")
            losses[dtype] = _loss(so, f"host-trainer eval ({dtype})", BenchError)
        res = {"recipe": name, "steps": steps, "f32_loss": losses["f32"], "q8_loss": losses["q8"],
               "f32_weight_bytes": f32_bytes, "q8_weight_bytes": q8_bytes, "quantize_report": so}
        out.append(res)
        cfg = f"{name}, {steps} steps, held-out 10 %"
        d = losses["q8"] - losses["f32"]
        rows.append(("quant", cfg, f"held-out loss nats/char, q8 (ours f32 {d:+.4f})", losses["q8"],
                     "ours f32", losses["f32"], losses["q8"] / losses["f32"],
                     f"<= f32 + {LOSS_SLACK}", d <= LOSS_SLACK))
        ratio = q8_bytes / f32_bytes
        rows.append(("quant", cfg, "weight bytes, q8", q8_bytes, "ours f32", f32_bytes, ratio,
                     f"<= {BYTES_RATIO}", ratio <= BYTES_RATIO))
    return out


def latency_rows(ours, theirs, best, thread_counts, rows):
    """q8 latency rows from the latency binary's JSON (`dtype` "q8") beside f32, PyTorch and ORT."""
    q8 = [o for o in ours if o.get("dtype") == "q8"]
    for H in sorted({o["hidden"] for o in q8}):
        for t in thread_counts:
            qk = {o["kernel"]: o for o in q8 if o["hidden"] == H and o.get("threads", 1) == t}
            fk = {o["kernel"]: o for o in ours
                  if o.get("dtype", "f32") == "f32" and o["hidden"] == H and o.get("threads", 1) == t}
            th = {r["impl"]: r for r in theirs if r["hidden"] == H and r["threads"] == t}
            if best not in qk:
                continue
            q = qk[best]["ns_per_token"]
            cfg = f"hidden {H}, vocab 65, batch 1, {t} thr"
            if best in fk:
                ratio = q / fk[best]["ns_per_token"]
                tgt = H == 256 and t == 1
                rows.append(("quant", cfg, f"ns/token, ours q8 {qk[best].get('q8_impl', best)}",
                             q, f"ours f32 {best}", fk[best]["ns_per_token"], ratio,
                             f"<= {LATENCY_RATIO}" if tgt else "", (ratio <= LATENCY_RATIO) if tgt else None))
            for impl, label in (("torch-eager", "PyTorch eager LSTMCell"), ("onnxruntime", "ONNX Runtime")):
                if impl in th:
                    rows.append(("quant", cfg, "ns/token, ours q8", q, label, th[impl]["ns_per_token"],
                                 q / th[impl]["ns_per_token"], "", None))

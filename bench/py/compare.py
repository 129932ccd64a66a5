#!/usr/bin/env python3
"""Driver of bench/compare.sh: runs every row back to back (ours, then
theirs, for the same configuration) and prints one table.

Not meant to be run by hand: compare.sh builds what this needs and passes
the paths. Standard library only (it runs the PyTorch scripts as
subprocesses with the virtualenv's interpreter).
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import quant_rows  # noqa: E402  (issue 11's q8 rows)


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, *, cwd=None, env=None, timeout=1800, what=None):
    """Runs cmd; returns (stdout, stderr); raises BenchError with the tail of stderr on failure."""
    what = what or " ".join(cmd[:3])
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: timed out after {timeout} s\n  command: {' '.join(cmd)}")
    except FileNotFoundError as e:
        raise BenchError(f"{what}: {e}")
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{what}: exit status {p.returncode}\n  command: {' '.join(cmd)}\n{tail}")
    return p.stdout, p.stderr


def last_json(text, what):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            return json.loads(line)
    raise BenchError(f"{what}: no JSON in its output:\n{text[-2000:]}")


# --------------------------------------------------------------------------------------------
# Training


RECIPES = [
    # name, corpus key, flags shared by both sides, default steps, long steps, throughput target
    ("timemachine d2l", "timemachine",
     dict(mode="stream", d2l=True, lowercase=False, hidden=256, seq_len=35, batch=32,
          optimizer="sgd", lr=1.0, clip_norm=1.0), 200, 1500, 1.0),
    ("dinos 1/step", "dinos",
     dict(mode="lines", d2l=False, lowercase=True, hidden=50, seq_len=35, batch=1,
          optimizer="adam", lr=0.01, clip_norm=None), 3000, 15000, 10.0),
    ("dinos 32/batch", "dinos",
     dict(mode="lines", d2l=False, lowercase=True, hidden=50, seq_len=35, batch=32,
          optimizer="adam", lr=0.01, clip_norm=None), 600, 3000, 2.0),
]

# Issue 12's rows: other cells and stacked layers (recipes as above plus "cell" / "layers").
# They need a host-trainer whose `train` takes --cell and --layers (see --cell-rows).
CELL_RECIPES = [
    ("timemachine d2l, lstm x2", "timemachine",
     dict(RECIPES[0][2], cell="lstm", layers=2), 200, 1500, 1.0),
    ("timemachine d2l, gru x2", "timemachine",
     dict(RECIPES[0][2], cell="gru", layers=2), 200, 1500, 1.0),
    # The dinosaur exercise: vanilla tanh RNN, hidden 50, SGD, element-wise clip at 5, one name per step.
    ("dinos 1/step, rnn", "dinos",
     dict(RECIPES[1][2], cell="rnn", optimizer="sgd", lr=0.1, clip_value=5.0), 3000, 15000, 10.0),
]


def recipe_flags(r, steps, seed, threads):
    f = ["--mode", r["mode"], "--hidden", str(r["hidden"]), "--seq-len", str(r["seq_len"]),
         "--batch", str(r["batch"]), "--optimizer", r["optimizer"], "--lr", str(r["lr"]),
         "--steps", str(steps), "--seed", str(seed), "--threads", str(threads)]
    if r["d2l"]:
        f.append("--d2l")
    if r["lowercase"]:
        f.append("--lowercase")
    if r["clip_norm"] is not None:
        f += ["--clip-norm", str(r["clip_norm"])]
    if r.get("clip_value") is not None:
        f += ["--clip-value", str(r["clip_value"])]
    # Only the new rows pass these, so the older rows run with any host-trainer.
    if r.get("cell", "lstm") != "lstm" or r.get("layers", 1) != 1:
        f += ["--cell", r.get("cell", "lstm"), "--layers", str(r.get("layers", 1))]
    return f


def torch_label(r):
    """The PyTorch module of a recipe, e.g. 'PyTorch nn.GRU x2'."""
    name = {"lstm": "nn.LSTM", "gru": "nn.GRU", "rnn": "nn.RNN"}[r.get("cell", "lstm")]
    layers = r.get("layers", 1)
    return f"PyTorch {name}" + (f" x{layers}" if layers > 1 else "")


def trainer_has_cells(host_trainer):
    """Whether `host-trainer train` takes --cell and --layers (issue 12)."""
    try:
        p = subprocess.run([host_trainer, "train", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = p.stdout + p.stderr
    return "--cell" in text and "--layers" in text


def train_ours(a, corpus, r, steps, threads, work):
    out = os.path.join(work, "ours.lstm")
    logf = os.path.join(work, "ours.csv")
    for p in (out, logf, out + ".ckpt"):
        if os.path.exists(p):
            os.remove(p)
    cmd = [a.host_trainer, "train", "--corpus", corpus, "--out", out, "--log", logf] + \
        recipe_flags(r, steps, a.seed, threads)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    _, err = run(cmd, what="host-trainer train", timeout=3600)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - t0
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    # The closing summary: "step N, epoch E: smoothed loss ... ; T tokens/s"
    m = re.search(r"^step (\d+), epoch \d+: .*?([0-9.]+) tokens/s\s*$", err, re.M)
    if not m:
        raise BenchError("host-trainer train: no 'step N, epoch E: ... T tokens/s' summary line on stderr "
                         "(the bench parses it; has its format changed?)\n" + err[-1500:])
    if int(m.group(1)) != steps:
        raise BenchError(f"host-trainer train stopped at step {m.group(1)}, not {steps}")
    with open(logf, newline="") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    if len(losses) != steps:
        raise BenchError(f"host-trainer's CSV log has {len(losses)} rows, expected {steps}")
    tail = losses[-max(1, len(losses) // 10):]
    ev = [a.host_trainer, "eval", "--model", out, "--corpus", corpus, "--mode", r["mode"]]
    if r["d2l"]:
        ev.append("--d2l")
    if r["lowercase"]:
        ev.append("--lowercase")
    so, _ = run(ev, what="host-trainer eval")
    m2 = re.search(r"loss ([0-9.]+) nats/char", so)
    if not m2:
        raise BenchError("host-trainer eval: no 'loss X nats/char' in its output:\n" + so)
    return {"impl": "ours", "tokens_per_s": float(m.group(2)), "loss_tail": sum(tail) / len(tail),
            "loss_first": losses[0], "eval_loss": float(m2.group(1)), "process_wall_s": wall,
            "process_cpu_s": cpu}


def train_torch(a, corpus, r, steps, threads):
    cmd = [a.python, os.path.join(HERE, "train_torch.py"), "--corpus", corpus] + \
        recipe_flags(r, steps, a.seed, threads)
    so, _ = run(cmd, what="PyTorch training (bench/py/train_torch.py)", timeout=3600)
    return last_json(so, "train_torch.py")


# --------------------------------------------------------------------------------------------
# Firmware


FW_PATTERNS = {
    "instr_per_token": r"^# instructions per token: ([0-9.]+)",
    "instr_per_mac": r"^# instructions per MAC: ([0-9.]+)",
    "flash_report": r"^# flash: (\d+) bytes",
    "ram_report": r"^# RAM: (\d+) bytes static.*?stack high-water mark (\d+) bytes",
    "selfcheck": r"^# icount self-check: .*measured as (\d+)",
}

QEMU = ["qemu-system-arm", "-machine", "mps2-an386", "-cpu", "cortex-m4",
        "-icount", "shift=7,align=off,sleep=off", "-semihosting-config", "enable=on,target=native",
        "-nographic", "-kernel"]


def size_of(elf):
    """Berkeley sizes: flash = text + data (code, constants, .data's initial values), static RAM = data + bss."""
    so, _ = run(["arm-none-eabi-size", elf], what="arm-none-eabi-size")
    text, data, bss = (int(x) for x in so.strip().splitlines()[-1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "static_ram": data + bss}


def firmware_ours(a, model, hidden, work):
    env = dict(os.environ, LSTM_MODEL=model, LSTM_LENGTH=str(a.fw_length), CARGO_TARGET_DIR=a.fw_target)
    run(["cargo", "build", "--release", "--quiet"], cwd=a.firmware_dir, env=env,
        what=f"building firmware-example with LSTM_MODEL={model}", timeout=1800)
    elf = os.path.join(a.fw_target, "thumbv7em-none-eabihf", "release", "firmware-example")
    keep = os.path.join(work, f"firmware-h{hidden}.elf")
    shutil.copyfile(elf, keep)
    so, se = run(["timeout", "300"] + QEMU + [keep], what=f"QEMU running firmware-example (hidden {hidden})", timeout=320)
    out = so + se
    with open(os.path.join(work, f"firmware-h{hidden}.txt"), "w") as f:
        f.write(out)
    res = {"impl": "ours", "elf": keep}
    for k, pat in FW_PATTERNS.items():
        m = re.search(pat, out, re.M)
        if m:
            res[k] = float(m.group(1)) if k in ("instr_per_token", "instr_per_mac") else int(m.group(1))
            if k == "ram_report":
                res["stack"] = int(m.group(2))
    if "instr_per_token" not in res:
        raise BenchError("firmware-example printed no '# instructions per token: X' line:\n" + out[-2000:])
    res.update(size_of(keep))
    # The generated text must be host-trainer sample's, byte for byte (firmware defaults: seed 42,
    # temperature 0.8, no top-k / top-p, empty prime, one sample).
    text = None
    for stream in (so, se):
        m = re.search(r"^# text begins\n(.*?)^# text ends \((\d+) bytes\)", stream, re.M | re.S)
        if m:
            text = m.group(1).encode()[: int(m.group(2))].decode(errors="replace")
            break
    if text is not None and a.host_trainer and os.path.exists(a.host_trainer):
        hs, he = run([a.host_trainer, "sample", "--model", model, "--length", str(a.fw_length),
                      "--temperature", "0.8", "--seed", "42", "--digest"], what="host-trainer sample")
        # The digest is a CRC-32 of the final state's bits: equal means the same bits, not just the same text.
        host_digest = re.search(r"^state digest: (0x[0-9a-f]{8})$", he, re.M)
        fw_digest = re.search(r"^# state digest: (0x[0-9a-f]{8})$", out, re.M)
        res["text_identical"] = (hs == text and host_digest is not None and fw_digest is not None
                                 and host_digest.group(1) == fw_digest.group(1))
    return res


def firmware_c(a, model, hidden, work):
    header = os.path.join(work, f"model-h{hidden}.h")
    run([a.mkmodel_bin, "--vocab", str(a.fw_vocab), "--hidden", str(hidden), "--out",
         os.path.join(work, "unused.lstm"), "--c-header", header], what="mkmodel (C header)")
    # Same weights as `model`: mkmodel is deterministic for the same seed; check the bytes.
    with open(os.path.join(work, "unused.lstm"), "rb") as f1, open(model, "rb") as f2:
        if f1.read() != f2.read():
            raise BenchError("mkmodel did not reproduce the model file for the C header")
    incdir = os.path.join(work, f"inc-h{hidden}")
    os.makedirs(incdir, exist_ok=True)
    shutil.copyfile(header, os.path.join(incdir, "model.h"))
    elf = os.path.join(work, f"c-step-h{hidden}.elf")
    cdir = os.path.join(os.path.dirname(HERE), "c")
    run(["arm-none-eabi-gcc"] + a.cflags.split() + [f"-DLENGTH={a.fw_length}", "-I", incdir,
         "-nostartfiles", "-specs=nano.specs", "-T", os.path.join(cdir, "link.ld"), "-Wl,--gc-sections",
         "-o", elf, os.path.join(cdir, "startup.c"), os.path.join(cdir, "step.c"), "-lm", "-lc", "-lnosys"],
        what="arm-none-eabi-gcc (C reference)")
    so, se = run(["timeout", "300"] + QEMU + [elf], what=f"QEMU running the C reference (hidden {hidden})", timeout=320)
    out = so + se
    with open(os.path.join(work, f"c-step-h{hidden}.txt"), "w") as f:
        f.write(out)
    res = {"impl": "c", "elf": elf}
    for k, pat in FW_PATTERNS.items():
        m = re.search(pat, out, re.M)
        if m:
            res[k] = float(m.group(1)) if k in ("instr_per_token", "instr_per_mac") else int(m.group(1))
            if k == "ram_report":
                res["stack"] = int(m.group(2))
    m = re.search(r"^# phases per token: matrix ([0-9.]+) \(([0-9.]+) per W_hh MAC\), activations ([0-9.]+), "
                  r"output ([0-9.]+) \(([0-9.]+) per MAC\), softmax\+sample ([0-9.]+)", out, re.M)
    if m:
        res.update(matrix=float(m.group(1)), matrix_per_mac=float(m.group(2)), activations=float(m.group(3)),
                   output=float(m.group(4)), softmax_sample=float(m.group(6)))
    if "instr_per_token" not in res:
        raise BenchError("the C reference printed no '# instructions per token' line:\n" + out[-2000:])
    res.update(size_of(elf))
    return res


# --------------------------------------------------------------------------------------------
# Table


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    if abs(v) >= 100:
        return f"{v:.0f}{unit}"
    if abs(v) >= 10:
        return f"{v:.1f}{unit}"
    return f"{v:.3f}{unit}"


# CMSIS-NN's int8 LSTM + FC + int8 softmax, instructions per token at hidden 64
# (../shared/notes/MCU-COUNTING.md), by vocabulary size.
CMSIS_NN_INT8 = {27: 101442, 65: 145379}


def fw_trace_cycles(elf):
    """Instructions by symbol and the model's cycles per instruction (fw_profile --cycles)."""
    sys.path.insert(0, HERE)
    import fw_profile
    counts, cycles = fw_profile.profile(elf, fw_profile.disassemble(elf))
    return counts, fw_profile.model_cpi(counts, cycles)


def firmware_q8(a, hidden, vocab, work, problems, f32, trace):
    """The q8 form of the f32 random model (mkmodel --q8, the same weights quantized) under
    QEMU; with `trace`, its estimated cycles per token (the trace's model CPI times the exact
    instructions per token; the f32 firmware's come from its own trace) and the matrix part's
    instructions per MAC."""
    model = os.path.join(work, f"random-v{vocab}-h{hidden}.q8.lstm")
    run([a.mkmodel_bin, "--vocab", str(vocab), "--hidden", str(hidden), "--q8", "--out", model],
        what="mkmodel --q8")
    log(f"firmware, hidden {hidden}, vocab {vocab}: ours q8 (firmware-example under QEMU)")
    q8 = firmware_ours(a, model, f"{hidden}-v{vocab}-q8", work)
    if not trace:
        return q8
    log(f"firmware, hidden {hidden}, vocab {vocab}: tracing q8 for estimated cycles")
    try:
        counts, cpi = fw_trace_cycles(q8["elf"])
        q8["model_cpi"] = cpi
        q8["cycles_per_token"] = cpi * q8["instr_per_token"] if cpi else None
        # The q8 routines (fw_profile counts their marked column-add block apart).
        mat = sum(v for k, v in counts.items() if k.startswith("lstm_core_gemv"))
        q8["matrix_per_mac"] = mat / a.fw_length / (4 * hidden * hidden + vocab * hidden)
    except (RuntimeError, OSError) as e:
        problems.append(f"firmware cycle trace (hidden {hidden}, vocab {vocab}) failed: {e}")
    return q8


def q8_rows(cfg, hidden, vocab, f32, q8):
    """The q8 firmware's rows (issue 11): against CMSIS-NN's int8 LSTM, our f32 firmware's
    estimated cycles, the matrix part's instructions per MAC, text and digest, flash."""
    rows = []
    cmsis = CMSIS_NN_INT8.get(vocab) if hidden == 64 else None
    if cmsis:
        r = q8["instr_per_token"] / cmsis
        rows.append(("firmware", cfg, "q8: instructions/token", q8["instr_per_token"],
                     "CMSIS-NN int8 LSTM (MCU-COUNTING.md)", cmsis, r, "<= 0.4", r <= 0.4))
    rows.append(("firmware", cfg, "q8: instructions/token", q8["instr_per_token"], "ours f32",
                 f32["instr_per_token"], q8["instr_per_token"] / f32["instr_per_token"], "", None))
    if q8.get("cycles_per_token") and f32.get("cycles_per_token"):
        r = q8["cycles_per_token"] / f32["cycles_per_token"]
        rows.append(("firmware", cfg, "q8: estimated cycles/token (trace x Cortex-M4 TRM table)",
                     q8["cycles_per_token"], "ours f32", f32["cycles_per_token"], r, "<= 0.45", r <= 0.45))
        rows.append(("firmware", cfg, "q8: ms/token at 100 MHz (estimated)", q8["cycles_per_token"] / 1e5,
                     "ours f32", f32["cycles_per_token"] / 1e5, r, "", None))
    if q8.get("matrix_per_mac"):
        m = q8["matrix_per_mac"]
        rows.append(("firmware", cfg, "q8: instructions/MAC, matrix part (lstm_core_gemv_q8*, its column add apart)", m,
                     "ours f32 (lstm_core_gemv8)", f32.get("matrix_per_mac"),
                     m / f32["matrix_per_mac"] if f32.get("matrix_per_mac") else None, "<= 1.3", m <= 1.3))
    if "text_identical" in q8:
        rows.append(("firmware", cfg, "q8: text and state digest identical to host-trainer sample",
                     "yes" if q8["text_identical"] else "NO", "", None, None, "identical", q8["text_identical"]))
    rows.append(("firmware", cfg, "q8: flash bytes (text+data)", q8["flash"], "ours f32", f32["flash"],
                 q8["flash"] / f32["flash"], "", None))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--host-trainer", required=True)
    ap.add_argument("--latency-bin", required=True)
    ap.add_argument("--mkmodel-bin", required=True)
    ap.add_argument("--firmware-dir", required=True)
    ap.add_argument("--fw-target", required=True)
    ap.add_argument("--timemachine")
    ap.add_argument("--dinos")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--steps-scale", type=float, default=1.0)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="training: best throughput of N alternating runs")
    ap.add_argument("--only", default="train,infer,firmware,quant")
    ap.add_argument("--cell-rows", choices=["auto", "yes", "no"], default="auto",
                    help="issue 12's training rows (GRU, RNN, 2 layers): auto = when host-trainer "
                         "train takes --cell and --layers")
    ap.add_argument("--latency-ms", type=float, default=700)
    ap.add_argument("--fw-length", type=int, default=200)
    ap.add_argument("--fw-vocab", type=int, default=27)
    ap.add_argument("--fw-hidden", default="64,128")
    ap.add_argument("--fw-profile", default="64,128", help="hidden sizes whose firmware gets a per-symbol trace profile, or 'none'")
    ap.add_argument("--cflags", default="-O3 -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -mthumb")
    a = ap.parse_args()
    only = set(a.only.split(","))
    os.makedirs(a.out_dir, exist_ok=True)
    rows = []  # (section, config, metric, ours, theirs_name, theirs, ratio, target_text, met)
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds")}
    problems = []

    # ---------------- training ----------------
    if "train" in only:
        results["train"] = []
        corpora = {"timemachine": a.timemachine, "dinos": a.dinos}
        recipes = list(RECIPES)
        cells = a.cell_rows == "yes" or (a.cell_rows == "auto" and trainer_has_cells(a.host_trainer))
        if cells:
            recipes += CELL_RECIPES
        elif a.cell_rows == "auto":
            problems.append("the cell / layer training rows are skipped: this host-trainer's `train` "
                            "has no --cell / --layers (--cell-rows yes runs them anyway)")
        for name, key, r, steps, long_steps, tgt in recipes:
            corpus = corpora[key]
            if not corpus:
                problems.append(f"training '{name}' skipped: no {key} corpus (set {key.upper()}=path)")
                continue
            steps = max(1, int((long_steps if a.long else steps) * a.steps_scale))
            for threads in [int(t) for t in a.threads.split(",")]:
                work = os.path.join(a.out_dir, "train")
                os.makedirs(work, exist_ok=True)
                ours = theirs = None
                for rep in range(max(1, a.repeat)):
                    tag = f" (run {rep + 1}/{a.repeat})" if a.repeat > 1 else ""
                    log(f"training {name}, {steps} steps, {threads} thread(s): ours{tag}")
                    o = train_ours(a, corpus, r, steps, threads, work)
                    log(f"training {name}, {steps} steps, {threads} thread(s): PyTorch{tag}")
                    t = train_torch(a, corpus, r, steps, threads)
                    if ours is None or o["tokens_per_s"] > ours["tokens_per_s"]:
                        ours = o
                    if theirs is None or t["tokens_per_s"] > theirs["tokens_per_s"]:
                        theirs = t
                results["train"].append({"recipe": name, "steps": steps, "threads": threads, "ours": ours, "pytorch": theirs})
                cfg = f"{name}, {steps} steps, {threads} thr"
                ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
                rows.append(("train", cfg, "tokens/s (higher is better)", ours["tokens_per_s"], torch_label(r),
                             theirs["tokens_per_s"], ratio, f">= {tgt:g}", ratio >= tgt))
                lr = ours["eval_loss"] / theirs["eval_loss"]
                rows.append(("train", cfg, "corpus loss after training (nats/char)", ours["eval_loss"], torch_label(r),
                             theirs["eval_loss"], lr, "within 2 %", abs(lr - 1) <= 0.02))

    # ---------------- inference ----------------
    if "infer" in only:
        thread_counts = [int(t) for t in a.threads.split(",")]
        log(f"inference latency: ours (lstm-core kernels), {a.threads} thread(s)")
        so, _ = run([a.latency_bin, "--min-ms", str(a.latency_ms), "--threads", a.threads, "--dtype", "f32,q8"],
                    what="bench latency binary")
        ours = json.loads(so)
        theirs = []
        for t in thread_counts:
            log(f"inference latency: PyTorch eager, TorchScript, ONNX Runtime, {t} thread(s)")
            so, _ = run([a.python, os.path.join(HERE, "infer_torch.py"), "--min-ms", str(a.latency_ms),
                         "--threads", str(t)], what="PyTorch inference (bench/py/infer_torch.py)")
            theirs += [dict(r, threads=t) for r in last_json(so, "infer_torch.py")]
        results["infer"] = {"ours": ours, "theirs": theirs}
        kernels = []
        for o in ours:
            if o["kernel"] not in kernels:
                kernels.append(o["kernel"])
        best = kernels[-1]
        for H in sorted({o["hidden"] for o in ours}):
            for t in thread_counts:
                ok = {o["kernel"]: o for o in ours
                      if o["hidden"] == H and o.get("threads", 1) == t and o.get("dtype", "f32") == "f32"}
                th = {r["impl"]: r for r in theirs if r["hidden"] == H and r["threads"] == t}
                if best not in ok:
                    continue
                cfg = f"hidden {H}, vocab 65, batch 1, {t} thr"
                for impl, label, tgt in (("torch-eager", "PyTorch eager LSTMCell", 0.1),
                                         ("torchscript", "TorchScript", None),
                                         ("torchscript-loop", "TorchScript, loop in script", None),
                                         ("onnxruntime", "ONNX Runtime", 1 / 3)):
                    if impl not in th:
                        continue
                    ratio = ok[best]["ns_per_token"] / th[impl]["ns_per_token"]
                    rows.append(("infer", cfg, f"ns/token, ours {best} (lower is better)",
                                 ok[best]["ns_per_token"], label, th[impl]["ns_per_token"], ratio,
                                 f"<= {tgt:.3g}" if tgt else "", (ratio <= tgt) if tgt else None))
                if t == 1 and "portable" in ok and best != "portable":
                    ratio = ok[best]["ns_per_token"] / ok["portable"]["ns_per_token"]
                    rows.append(("infer", cfg, f"ns/token, ours {best} vs ours portable",
                                 ok[best]["ns_per_token"], "ours portable", ok["portable"]["ns_per_token"], ratio,
                                 "<= 0.333" if H == 256 else "", (ratio <= 1 / 3) if H == 256 else None))

        quant_rows.latency_rows(ours, theirs, best, thread_counts, rows)

    # ---------------- quantized models: quality and size (issue 11) ----------------
    if "quant" in only:
        results["quant"] = quant_rows.quality(a, {"timemachine": a.timemachine, "dinos": a.dinos},
                                              run, recipe_flags, BenchError, rows, problems)

    # ---------------- firmware ----------------
    if "firmware" in only:
        results["firmware"] = []
        work = os.path.join(a.out_dir, "firmware")
        os.makedirs(work, exist_ok=True)
        for H in [int(h) for h in a.fw_hidden.split(",")]:
            model = os.path.join(work, f"random-v{a.fw_vocab}-h{H}.lstm")
            run([a.mkmodel_bin, "--vocab", str(a.fw_vocab), "--hidden", str(H), "--out", model], what="mkmodel")
            log(f"firmware, hidden {H}: ours (firmware-example under QEMU)")
            ours = firmware_ours(a, model, H, work)
            log(f"firmware, hidden {H}: C reference under QEMU")
            c = firmware_c(a, model, H, work)
            prof = counts = None
            if str(H) in a.fw_profile.split(","):
                log(f"firmware, hidden {H}: tracing ours instruction by instruction (bench/py/fw_profile.py)")
                try:
                    counts, cpi = fw_trace_cycles(ours["elf"])
                    ours["model_cpi"] = cpi
                    ours["cycles_per_token"] = cpi * ours["instr_per_token"] if cpi else None
                except (RuntimeError, OSError) as e:
                    problems.append(f"firmware trace profile (hidden {H}) failed: {e}")
                    counts = None
            if counts:
                n = a.fw_length
                prof = {k: v / n for k, v in counts.most_common()}
                mat = sum(v for k, v in prof.items() if k.startswith("lstm_core_gemv") or k.startswith("lstm_core_dot"))
                ours["matrix_per_token"] = mat
                ours["matrix_per_mac"] = mat / (4 * H * H + a.fw_vocab * H)
                # lstm-core's other asm routines (exp / activation helpers, whatever their current names).
                act = {k: v for k, v in prof.items() if re.match(r"lstm_core_(?!gemv|dot|fmaf)", k)}
                ours["act_per_token"] = sum(act.values())
                ours["act_symbols"] = sorted(act)
                with open(os.path.join(work, f"firmware-h{H}-profile.txt"), "w") as f:
                    for k, v in counts.most_common():
                        f.write(f"{v / n:12.1f}  {k}\n")
            q8 = firmware_q8(a, H, a.fw_vocab, work, problems, ours, trace=str(H) in a.fw_profile.split(","))
            results["firmware"].append({"hidden": H, "ours": ours, "c": c, "ours_profile_per_token": prof,
                                        "q8": q8})
            cfg = f"hidden {H}, vocab {a.fw_vocab}, {a.fw_length} tokens"
            tgt = 38000 if H == 64 else None
            rows.append(("firmware", cfg, "instructions/token (lower is better)", ours["instr_per_token"], "C gcc -O3",
                         c["instr_per_token"], ours["instr_per_token"] / c["instr_per_token"],
                         "<= 38,000 abs." if tgt else "", (ours["instr_per_token"] <= tgt) if tgt else None))
            if "text_identical" in ours:
                rows.append(("firmware", cfg, "text and state digest identical to host-trainer sample",
                             "yes" if ours["text_identical"] else "NO", "", None, None, "identical",
                             ours["text_identical"]))
            rows.append(("firmware", cfg, "instructions/MAC, whole token", ours["instr_per_mac"], "C gcc -O3",
                         c["instr_per_mac"], ours["instr_per_mac"] / c["instr_per_mac"], "", None))
            if "matrix" in c:
                c_mat = (c["matrix"] + c["output"]) / (4 * H * H + a.fw_vocab * H)
                o_mat = ours.get("matrix_per_mac")
                rows.append(("firmware", cfg, "instructions/MAC, matrix-vector part alone", o_mat, "C gcc -O3", c_mat,
                             o_mat / c_mat if o_mat else None, "< 1.5 (floor ~1.1)" if o_mat else "",
                             (o_mat < 1.5) if o_mat else None))
                o_act = ours.get("act_per_token")
                names = "+".join(ours.get("act_symbols", [])) or "-"
                rows.append(("firmware", cfg, f"activations instr/token: ours {names} vs C expf/tanhf phase",
                             o_act, "C gcc -O3", c["activations"], o_act / c["activations"] if o_act else None, "", None))
            flash_ratio = ours["flash"] / c["flash"]
            rows.append(("firmware", cfg, "flash bytes (text+data)", ours["flash"], "C gcc -O3", c["flash"],
                         flash_ratio, "<= 1.15" if H == 64 else "", (flash_ratio <= 1.15) if H == 64 else None))
            ours_ram = ours["static_ram"] + ours.get("stack", 0)
            c_ram = c["static_ram"] + c.get("stack", 0)
            rows.append(("firmware", cfg, "RAM bytes (static + stack peak)", ours_ram, "C gcc -O3", c_ram,
                         ours_ram / c_ram if c_ram else None, "", None))

            rows.extend(q8_rows(cfg, H, a.fw_vocab, ours, q8))
        if "firmware" in only and 64 in [int(h) for h in a.fw_hidden.split(",")] and a.fw_vocab != 65:
            # CMSIS-NN's int8 LSTM is also recorded at vocabulary 65 (MCU-COUNTING.md).
            model = os.path.join(work, "random-v65-h64.lstm")
            run([a.mkmodel_bin, "--vocab", "65", "--hidden", "64", "--out", model], what="mkmodel")
            log("firmware, hidden 64, vocab 65: ours f32 and q8 (firmware-example under QEMU)")
            ours65 = firmware_ours(a, model, "64-v65", work)
            q8 = firmware_q8(a, 64, 65, work, problems, ours65, trace=False)
            results["firmware"].append({"hidden": 64, "vocab": 65, "ours": ours65, "q8": q8})
            rows.extend(q8_rows(f"hidden 64, vocab 65, {a.fw_length} tokens", 64, 65, ours65, q8))

    results["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    with open(os.path.join(a.out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)

    # ---------------- the table ----------------
    head = ["section", "configuration", "metric", "ours", "theirs", "theirs value", "ours/theirs", "target", "met"]
    body = [[s, c, m, fmt(o), t, fmt(tv), "-" if r is None else f"{r:.3f}", tg,
             "" if met is None else ("yes" if met else "NO")] for s, c, m, o, t, tv, r, tg, met in rows]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for b in body:
        lines.append("| " + " | ".join(x.ljust(w) for x, w in zip(b, widths)) + " |")
    table = "\n".join(lines)
    with open(os.path.join(a.out_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    for p in problems:
        print(f"note: {p}")
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {' '.join(f.read().split()[:3])} (other processes on this machine skew every figure)")
    print(f"raw results: {os.path.join(a.out_dir, 'results.json')}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        sys.exit(1)

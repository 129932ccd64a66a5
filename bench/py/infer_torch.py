#!/usr/bin/env python3
"""Per-token inference latency at batch 1 on the PyTorch side: PyTorch eager,
TorchScript and ONNX Runtime, for the same step as lstm-core's benchmark
(one-hot input -> LSTM cell -> output layer -> softmax -> sample).

* eager: `nn.LSTMCell(V, H)` + `nn.Linear(H, V)`, input `F.one_hot(token)`,
  `torch.softmax`, `torch.multinomial`, under `torch.inference_mode()`;
* torchscript: the same step module through `torch.jit.script` and
  `torch.jit.freeze`, called once per token from Python;
* torchscript-loop: the token loop itself inside the script (one call for n
  tokens), PyTorch's best case at batch 1;
* onnxruntime: the same step module (without the sampling) exported with
  `torch.onnx.export` (token, h, c) -> (probs, h, c), run by an
  `InferenceSession` (`--threads` intra-op threads, all graph optimisations) once per
  token, sampled in NumPy (cumulative sum + searchsorted).

The token stays a tensor (no `.item()`), which favours PyTorch slightly.
Each figure is the median over `--reps` timed runs of a calibrated number of
tokens, after a warm-up. Prints a JSON list on stdout.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


class Step(nn.Module):
    def __init__(self, vocab: int, hidden: int, sample: bool):
        super().__init__()
        self.vocab = vocab
        self.sample = sample
        self.cell = nn.LSTMCell(vocab, hidden)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        x = F.one_hot(token, self.vocab).float()
        h, c = self.cell(x, (h, c))
        p = torch.softmax(self.fc(h), dim=-1)
        if self.sample:
            return torch.multinomial(p, 1).squeeze(1), h, c
        return p, h, c


class Loop(nn.Module):
    """n tokens in one TorchScript call: PyTorch's best case at batch 1."""

    def __init__(self, step: Step):
        super().__init__()
        self.step = step

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor, n: int):
        for _ in range(n):
            token, h, c = self.step(token, h, c)
        return token, h, c


def timed(run, min_s, reps):
    """Calibrates n so that one run takes about min_s / reps; returns sorted ns/token."""
    per_rep = min_s / reps
    n = 64
    while True:
        t0 = time.perf_counter()
        run(n)
        if time.perf_counter() - t0 >= per_rep or n >= 1 << 22:
            break
        n *= 2
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run(n)
        out.append((time.perf_counter() - t0) * 1e9 / n)
    return sorted(out), n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", default="64,128,256")
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--min-ms", type=float, default=300)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import onnxruntime as ort

    V = args.vocab
    rows = []

    def row(impl, H, ns, n):
        rows.append({
            "impl": impl, "hidden": H, "vocab": V, "tokens_per_rep": n, "reps": len(ns),
            "ns_per_token": ns[len(ns) // 2], "ns_per_token_min": ns[0],
        })
        print(f"  {impl:12} hidden {H:4}: {ns[len(ns) // 2]:10.0f} ns/token", file=sys.stderr)

    for H in [int(h) for h in args.hidden.split(",")]:
        model = Step(V, H, sample=True).eval()

        # -- eager --
        with torch.inference_mode():
            st = {"tok": torch.zeros(1, dtype=torch.long), "h": torch.zeros(1, H), "c": torch.zeros(1, H)}

            def run_eager(n, st=st, m=model):
                tok, h, c = st["tok"], st["h"], st["c"]
                for _ in range(n):
                    tok, h, c = m(tok, h, c)
                st["tok"], st["h"], st["c"] = tok, h, c

            ns, n = timed(run_eager, args.min_ms / 1000, args.reps)
        row("torch-eager", H, ns, n)

        # -- TorchScript --
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripted = torch.jit.freeze(torch.jit.script(model))
        with torch.inference_mode():
            st = {"tok": torch.zeros(1, dtype=torch.long), "h": torch.zeros(1, H), "c": torch.zeros(1, H)}

            def run_script(n, st=st, m=scripted):
                tok, h, c = st["tok"], st["h"], st["c"]
                for _ in range(n):
                    tok, h, c = m(tok, h, c)
                st["tok"], st["h"], st["c"] = tok, h, c

            ns, n = timed(run_script, args.min_ms / 1000, args.reps)
        row("torchscript", H, ns, n)

        # -- TorchScript with the token loop inside the script (no Python per token) --
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            looped = torch.jit.freeze(torch.jit.script(Loop(model).eval()))
        with torch.inference_mode():
            st = {"tok": torch.zeros(1, dtype=torch.long), "h": torch.zeros(1, H), "c": torch.zeros(1, H)}

            def run_loop(n, st=st, m=looped):
                st["tok"], st["h"], st["c"] = m(st["tok"], st["h"], st["c"], n)

            ns, n = timed(run_loop, args.min_ms / 1000, args.reps)
        row("torchscript-loop", H, ns, n)

        # -- ONNX Runtime --
        probs_model = Step(V, H, sample=False).eval()
        probs_model.load_state_dict(model.state_dict())
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "step.onnx")
            example = (torch.zeros(1, dtype=torch.long), torch.zeros(1, H), torch.zeros(1, H))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    probs_model, example, path, dynamo=False,
                    input_names=["token", "h", "c"], output_names=["probs", "h_out", "c_out"],
                )
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        st = {"tok": np.zeros(1, dtype=np.int64), "h": np.zeros((1, H), np.float32), "c": np.zeros((1, H), np.float32)}

        def run_ort(n, st=st, sess=sess):
            tok, h, c = st["tok"], st["h"], st["c"]
            for _ in range(n):
                p, h, c = sess.run(None, {"token": tok, "h": h, "c": c})
                cdf = np.cumsum(p[0])
                k = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
                tok = np.array([min(k, V - 1)], dtype=np.int64)
            st["tok"], st["h"], st["c"] = tok, h, c

        ns, n = timed(run_ort, args.min_ms / 1000, args.reps)
        row("onnxruntime", H, ns, n)

    json.dump(rows, sys.stdout)
    print()


if __name__ == "__main__":
    main()

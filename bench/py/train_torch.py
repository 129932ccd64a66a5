#!/usr/bin/env python3
"""PyTorch side of the training rows: the same recipes as `host-trainer train`.

Idiomatic PyTorch (d2l style): one-hot inputs into `nn.LSTM` (or `nn.GRU`, or
`nn.RNN` with tanh: `--cell`; `--layers` stacked, no dropout), `nn.Linear` on
the top layer's every hidden state, `nn.CrossEntropyLoss` (mean over the targets that count),
`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`, `torch.optim.SGD` /
`Adagrad` / `Adam`. The data pipeline mirrors host-trainer's exactly
(host-trainer/src/batch.rs, corpus.rs):

* preprocessing: `--d2l` keeps letters, turns every other run of characters
  into one space and lowercases, per line, lines joined by one space;
  `--lowercase` lowercases; the vocabulary is the sorted set of characters
  (plus '\n' in lines mode);
* lines mode: every non-empty line is a sequence from a zero state, input
  '\n' + line, target line + '\n'; lines shuffled each epoch; a batch of B
  lines is padded at the end and the padding is masked out of the loss;
* stream mode: d2l's sequential partitioning, a random offset in [0, seq_len)
  each epoch, B parallel streams, state carried (detached) between batches
  and reset at each epoch.

Throughput is the number of targets that counted divided by the wall time of
the training loop (batching, forward, backward, clipping, update), data
preparation excluded -- what host-trainer's closing line reports. The loss
figures are the mean training loss over the last 10 % of the steps, and the
mean loss of the final model over the whole corpus (as `host-trainer eval`
computes it: lines in order in batches of 32; stream mode from offset 0 with
batch 32, seq-len 35, state carried).

Prints one JSON object on stdout.
"""

import argparse
import json
import math
import random
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F


def preprocess(text, d2l, lowercase):
    if d2l:
        out = []
        for line in text.splitlines():
            cleaned = []
            pending = False
            for ch in line:
                if ch.isascii() and ch.isalpha():
                    if pending and cleaned:
                        cleaned.append(" ")
                    pending = False
                    cleaned.append(ch.lower())
                else:
                    pending = True
            if cleaned:
                out.append("".join(cleaned))
        return " ".join(out)
    if lowercase:
        return text.lower()
    return text


CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}  # nn.RNN's default nonlinearity is tanh


class CharRNN(nn.Module):
    def __init__(self, vocab, hidden, cell="lstm", layers=1):
        super().__init__()
        self.vocab = vocab
        self.cell = cell
        # Named as tools/pytorch/charlstm.py names it (lstm.*, gru.*, rnn.*; fc.*).
        setattr(self, cell, CELLS[cell](vocab, hidden, num_layers=layers))
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        # x: (T, B) symbol indices, time-major as in d2l.
        h, state = getattr(self, self.cell)(F.one_hot(x, self.vocab).float(), state)
        return self.fc(h.reshape(-1, h.shape[-1])), state


def lines_batch(lines, chosen, newline):
    steps = max(len(lines[i]) + 1 for i in chosen)
    x = torch.full((steps, len(chosen)), newline, dtype=torch.long)
    y = torch.full((steps, len(chosen)), -100, dtype=torch.long)  # ignore_index
    for b, i in enumerate(chosen):
        line = lines[i]
        n = len(line)
        x[1 : n + 1, b] = line
        y[:n, b] = line
        y[n, b] = newline
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--mode", choices=["lines", "stream"], required=True)
    ap.add_argument("--lowercase", action="store_true")
    ap.add_argument("--d2l", action="store_true")
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=35)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--optimizer", choices=["sgd", "adagrad", "adam"], required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--clip-value", type=float)
    ap.add_argument("--clip-norm", type=float)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not 1 <= args.layers <= 4:
        ap.error(f"--layers {args.layers}: must be 1 to 4")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    # ---- data preparation (not timed) ----
    with open(args.corpus, encoding="utf-8") as f:
        text = preprocess(f.read(), args.d2l, args.lowercase)
    chars = set(text)
    if args.mode == "lines":
        chars.add("\n")
    vocab = sorted(chars)
    index = {c: i for i, c in enumerate(vocab)}
    V = len(vocab)
    tokens = torch.tensor([index[c] for c in text], dtype=torch.long)
    if args.mode == "lines":
        newline = index["\n"]
        lines, cur = [], []
        for t in tokens.tolist():
            if t == newline:
                if cur:
                    lines.append(torch.tensor(cur, dtype=torch.long))
                cur = []
            else:
                cur.append(t)
        if cur:
            lines.append(torch.tensor(cur, dtype=torch.long))

    model = CharRNN(V, args.hidden, args.cell, args.layers)
    params = list(model.parameters())
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=args.lr)
    elif args.optimizer == "adagrad":
        opt = torch.optim.Adagrad(params, lr=args.lr, eps=1e-8)
    else:
        opt = torch.optim.Adam(params, lr=args.lr, eps=1e-8)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)  # mean over the targets that count

    def epochs():
        """Yields (x, y, new_epoch) minibatches forever."""
        B, S = args.batch, args.seq_len
        while True:
            if args.mode == "lines":
                order = list(range(len(lines)))
                rng.shuffle(order)
                for i in range(0, len(order), B):
                    x, y = lines_batch(lines, order[i : i + B], newline)
                    yield x, y, i == 0
            else:
                offset = rng.randrange(S)
                n = (len(tokens) - offset - 1) // B
                xs = tokens[offset : offset + n * B].reshape(B, n)
                ys = tokens[offset + 1 : offset + 1 + n * B].reshape(B, n)
                for i in range(n // S):
                    yield (xs[:, i * S : (i + 1) * S].T, ys[:, i * S : (i + 1) * S].T, i == 0)

    # ---- training loop (timed) ----
    losses = []
    counted = 0
    state = None
    batches = epochs()
    model.train()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(args.steps):
        x, y, new_epoch = next(batches)
        if args.mode == "lines" or new_epoch:
            state = None
        elif state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        logits, state = model(x, state)
        target = y.reshape(-1)
        loss = loss_fn(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip_value is not None:
            torch.nn.utils.clip_grad_value_(params, args.clip_value)
        if args.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, args.clip_norm)
        opt.step()
        losses.append(loss.item())
        counted += int((target != -100).sum())
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0

    # ---- full-corpus loss of the final model (as `host-trainer eval`) ----
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        if args.mode == "lines":
            for i in range(0, len(lines), 32):
                x, y = lines_batch(lines, list(range(i, min(i + 32, len(lines)))), newline)
                logits, _ = model(x)
                t = y.reshape(-1)
                total += F.cross_entropy(logits, t, ignore_index=-100, reduction="sum").item()
                count += int((t != -100).sum())
        else:
            S = min(35, len(tokens) - 1)
            B = max(1, min(32, (len(tokens) - 1) // S))
            n = (len(tokens) - 1) // B
            xs = tokens[: n * B].reshape(B, n)
            ys = tokens[1 : 1 + n * B].reshape(B, n)
            st = None
            for i in range(n // S):
                logits, st = model(xs[:, i * S : (i + 1) * S].T, st)
                t = ys[:, i * S : (i + 1) * S].T.reshape(-1)
                total += F.cross_entropy(logits, t, reduction="sum").item()
                count += t.numel()

    tail = losses[-max(1, len(losses) // 10) :]
    json.dump(
        {
            "impl": "pytorch",
            "torch": torch.__version__,
            "threads": args.threads,
            "cell": args.cell,
            "layers": args.layers,
            "steps": args.steps,
            "tokens": counted,
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "tokens_per_s": counted / seconds,
            "loss_tail": sum(tail) / len(tail),
            "loss_first": losses[0],
            "eval_loss": total / max(count, 1),
            "vocab": V,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()

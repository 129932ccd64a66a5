"""Reference trainer: a CharLSTM on a text file, saved for `host-trainer import`.

    python tools/pytorch/train.py --corpus data/names.txt --hidden 64 --steps 500 \
        --out names.safetensors --vocab names.vocab.json

Trains on random windows of --seq-len characters, each from a zero state,
with Adam and gradient-norm clipping, on the GPU if there is one. Writes
``model.state_dict()`` with ``safetensors.torch.save_file`` and the
vocabulary (sorted distinct characters of the corpus) as a JSON list.

For multi-GPU training (DistributedDataParallel), save the wrapped module's
state (``ddp_model.module.state_dict()``), or keep the ``module.`` prefix and
import with ``--lstm-prefix module.lstm. --linear-prefix module.fc.``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from charlstm import CharLSTM, save_model, save_vocab


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, type=Path, help="UTF-8 text file")
    ap.add_argument("--hidden", type=int, default=64, help="hidden size H (at most 1024 for host-trainer)")
    ap.add_argument("--steps", type=int, default=1000, help="optimiser steps")
    ap.add_argument("--seq-len", type=int, default=64, help="characters per training window")
    ap.add_argument("--batch", type=int, default=32, help="windows per step")
    ap.add_argument("--lr", type=float, default=0.005, help="Adam learning rate")
    ap.add_argument("--clip-norm", type=float, default=5.0, help="global gradient-norm clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", required=True, type=Path, help="safetensors file to write")
    ap.add_argument("--vocab", required=True, type=Path, help="vocabulary JSON file to write")
    a = ap.parse_args()

    try:
        text = a.corpus.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"error: reading {a.corpus}: {e}")
    vocab = sorted(set(text))
    if len(text) < 2:
        sys.exit(f"error: {a.corpus} is too short to train on")
    if a.hidden < 1 or a.steps < 1 or a.seq_len < 1 or a.batch < 1:
        sys.exit("error: --hidden, --steps, --seq-len and --batch must be at least 1")
    index = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    seq_len = min(a.seq_len, len(data) - 1)

    torch.manual_seed(a.seed)
    model = CharLSTM(len(vocab), a.hidden).to(a.device)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    print(f"corpus {a.corpus}: {len(text)} characters, vocabulary {len(vocab)}; "
          f"hidden {a.hidden}; device {a.device}; torch {torch.__version__}", file=sys.stderr)
    start = time.time()
    smoothed = None
    for step in range(1, a.steps + 1):
        offsets = torch.randint(0, len(data) - seq_len, (a.batch,))
        windows = torch.stack([data[o : o + seq_len + 1] for o in offsets.tolist()], dim=1)
        windows = windows.to(a.device)  # (T + 1, B), sequence-first
        logits, _ = model(windows[:-1])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), windows[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
        opt.step()
        smoothed = loss.item() if smoothed is None else 0.99 * smoothed + 0.01 * loss.item()
        if step % 100 == 0 or step == a.steps:
            print(f"step {step}: loss {loss.item():.4f} (smoothed {smoothed:.4f}) nats/char",
                  file=sys.stderr)
    print(f"{a.steps} steps in {time.time() - start:.1f} s", file=sys.stderr)
    save_model(model, a.out)
    save_vocab(vocab, a.vocab)
    print(f"wrote {a.out} and {a.vocab}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

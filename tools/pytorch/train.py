"""Reference trainer: a CharRNN on a text file, saved for `host-trainer import`.

One process:

    python tools/pytorch/train.py --corpus data/timemachine.txt --cell gru --layers 2 \
        --hidden 64 --steps 500 --out tm.safetensors --vocab tm.vocab.json

Data-parallel, two processes on one machine (gloo on the CPU, NCCL on GPUs):

    torchrun --standalone --nproc_per_node 2 tools/pytorch/train.py --corpus data/timemachine.txt \
        --cell gru --layers 2 --hidden 64 --steps 500 --out tm.safetensors --vocab tm.vocab.json

(several machines: ``torchrun --nnodes N --node_rank R --rdzv_endpoint HOST:PORT ...``, the
same script.)

Each step trains on --batch random windows of --seq-len + 1 characters, each
from a zero state, with Adam and gradient-norm clipping. Every process draws
the same window offsets from a generator seeded with --seed and takes its own
contiguous share of them (--batch must divide by the number of processes), so
the processes see disjoint windows; DistributedDataParallel averages the
gradients, and the update equals a one-process step on the whole batch (up
to the summation order; dropout masks differ). The loss printed is the mean
over all processes. Rank 0 writes ``model.state_dict()`` (the unwrapped
module's, so the names are ``{cell}.*`` and ``fc.*``, not ``module.*``) with
safetensors, and the vocabulary (sorted distinct characters of the corpus) as
a JSON list.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from charlstm import CELLS, MAX_LAYERS, CharRNN, check_config, save_model, save_vocab


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, type=Path, help="UTF-8 text file")
    ap.add_argument("--cell", default="lstm", choices=list(CELLS), help="recurrent cell kind")
    ap.add_argument("--layers", type=int, default=1, help=f"stacked layers, 1 to {MAX_LAYERS}")
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="dropout between the layers and before the output layer, in [0, 1)")
    ap.add_argument("--hidden", type=int, default=64, help="hidden size H (at most 1024 for host-trainer)")
    ap.add_argument("--steps", type=int, default=1000, help="optimiser steps")
    ap.add_argument("--seq-len", type=int, default=64, help="characters per training window")
    ap.add_argument("--batch", type=int, default=32,
                    help="windows per step, over all processes (divisible by their number)")
    ap.add_argument("--lr", type=float, default=0.005, help="Adam learning rate")
    ap.add_argument("--clip-norm", type=float, default=5.0, help="global gradient-norm clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=100, help="print the loss every N steps")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads per process (default: torch's; torchrun sets OMP_NUM_THREADS=1)")
    ap.add_argument("--device", default=None,
                    help="default: cuda (cuda:LOCAL_RANK under torchrun) if available, else cpu")
    ap.add_argument("--out", required=True, type=Path, help="safetensors file to write")
    ap.add_argument("--vocab", required=True, type=Path, help="vocabulary JSON file to write")
    return ap.parse_args()


def main() -> int:
    a = parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    def log(msg: str) -> None:
        if rank == 0:
            print(msg, file=sys.stderr, flush=True)

    # Every check before any process group exists: each process fails alike, nothing is written.
    try:
        check_config(a.cell, a.layers, a.dropout)
    except ValueError as e:
        sys.exit(f"error: {e}")
    if a.hidden < 1 or a.steps < 1 or a.seq_len < 1 or a.batch < 1 or a.log_every < 1:
        sys.exit("error: --hidden, --steps, --seq-len, --batch and --log-every must be at least 1")
    if a.batch % world:
        sys.exit(f"error: --batch {a.batch} does not divide among {world} processes")
    try:
        text = a.corpus.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"error: reading {a.corpus}: {e}")
    if len(text) < 2:
        sys.exit(f"error: {a.corpus} is too short to train on")
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    seq_len = min(a.seq_len, len(data) - 1)

    if a.threads is not None:
        if a.threads < 1:
            sys.exit("error: --threads must be at least 1")
        torch.set_num_threads(a.threads)
    if a.device is None:
        a.device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    distributed = world > 1
    if distributed:
        dist.init_process_group("nccl" if a.device.startswith("cuda") else "gloo")

    torch.manual_seed(a.seed)  # the same initial weights in every process
    model = CharRNN(len(vocab), a.hidden, a.cell, a.layers, a.dropout).to(a.device)
    net = model
    if distributed:
        ids = [torch.device(a.device).index] if a.device.startswith("cuda") else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    windows_gen = torch.Generator().manual_seed(a.seed)  # the same offsets in every process
    torch.manual_seed(a.seed + 1 + rank)  # dropout masks: different in each process
    share = a.batch // world
    log(f"corpus {a.corpus}: {len(text)} characters, vocabulary {len(vocab)}; {a.cell} x {a.layers}, "
        f"hidden {a.hidden}, dropout {a.dropout:g}; {world} process(es) x {share} windows; "
        f"device {a.device}, {torch.get_num_threads()} thread(s) each; torch {torch.__version__}")
    start = time.time()
    smoothed = None
    net.train()
    for step in range(1, a.steps + 1):
        offsets = torch.randint(0, len(data) - seq_len, (a.batch,), generator=windows_gen)
        mine = offsets[rank * share : (rank + 1) * share].tolist()
        windows = torch.stack([data[o : o + seq_len + 1] for o in mine], dim=1)
        windows = windows.to(a.device)  # (T + 1, B / world), sequence-first
        logits, _ = net(windows[:-1])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), windows[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()  # DDP: the gradients are averaged over the processes here
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
        opt.step()
        value = loss.detach()
        if distributed:
            dist.all_reduce(value)
            value /= world
        value = value.item()
        smoothed = value if smoothed is None else 0.99 * smoothed + 0.01 * value
        if step % a.log_every == 0 or step == a.steps or step == 1:
            log(f"step {step}: loss {value:.4f} (smoothed {smoothed:.4f}) nats/char")
    log(f"{a.steps} steps in {time.time() - start:.1f} s")
    if rank == 0:
        save_model(model, a.out)
        save_vocab(vocab, a.vocab)
        log(f"wrote {a.out} and {a.vocab}")
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

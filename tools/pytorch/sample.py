"""Samples text from a CharRNN safetensors file (train.py's, or `host-trainer export`'s).

    host-trainer export --model names.lstm --safetensors names.safetensors --vocab names.vocab.json
    python tools/pytorch/sample.py --safetensors names.safetensors --vocab names.vocab.json \
        --prime a --length 200 --temperature 0.8

Any cell kind and number of layers: the model is rebuilt from the tensor
names and shapes (``lstm.*``, ``gru.*`` or ``rnn.*``, ``weight_*_l{k}``, and
``fc.*``; see charlstm.py) and loaded with ``load_state_dict(strict=True)``
(so any missing or extra tensor is an error); a relu nn.RNN (by the file's
metadata), a bidirectional or a projected LSTM is refused. Samples from a
zero state in evaluation mode (no dropout), feeding the prime first; without
a prime the first character is drawn from the output of the zero state, as
host-trainer and the firmware do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from charlstm import load_model, load_vocab


@torch.no_grad()
def sample(model, vocab, prime: str, length: int, temperature: float, gen: torch.Generator) -> str:
    index = {c: i for i, c in enumerate(vocab)}
    unknown = [c for c in prime if c not in index]
    if unknown:
        raise ValueError(f"--prime contains {unknown[0]!r}, which is not in the vocabulary")
    out = list(prime)
    state = None
    logits = None
    for c in prime:
        logits, state = model(torch.tensor([[index[c]]]), state)
    if logits is None:  # no prime: start from the output of the zero state
        h = torch.zeros(1, model.fc.in_features)  # the top layer's zero state
        logits = model.fc(h).view(1, 1, -1)
    for _ in range(length):
        z = logits[-1, 0]
        if temperature == 0:
            i = int(z.argmax())
        else:
            p = F.softmax(z / temperature, dim=-1)
            i = int(torch.multinomial(p, 1, generator=gen))
        out.append(vocab[i])
        logits, state = model(torch.tensor([[i]]), state)
    return "".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--safetensors", required=True, type=Path)
    ap.add_argument("--vocab", required=True, type=Path)
    ap.add_argument("--prime", default="", help="text fed before sampling (printed)")
    ap.add_argument("--length", type=int, default=200, help="characters to generate")
    ap.add_argument("--temperature", type=float, default=1.0, help="0 is greedy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=1, help="number of samples")
    a = ap.parse_args()
    if a.temperature < 0 or a.length < 0 or a.count < 1:
        sys.exit("error: --temperature and --length must be >= 0, --count >= 1")
    try:
        vocab = load_vocab(a.vocab)
        model = load_model(a.safetensors, len(vocab))
        gen = torch.Generator().manual_seed(a.seed)
        for _ in range(a.count):
            print(sample(model, vocab, a.prime, a.length, a.temperature, gen))
    except (ValueError, KeyError, RuntimeError, OSError) as e:
        sys.exit(f"error: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

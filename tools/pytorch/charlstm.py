"""The PyTorch twin of host-trainer's model: a character-level LSTM.

``CharLSTM`` is one ``nn.LSTM(V, H)`` fed one-hot characters and one
``nn.Linear(H, V)`` output layer, V the vocabulary size. Its
``state_dict()`` names (``lstm.weight_ih_l0`` ... ``fc.bias``) are what
``host-trainer import`` reads and ``host-trainer export`` writes by default
(``--lstm-prefix lstm. --linear-prefix fc.``).

Tensors are **sequence-first** (``nn.LSTM``'s default, ``batch_first=False``):
token indices of shape (T, B), logits of shape (T, B, V). The layout does not
change the weights.

The vocabulary is a JSON list of one-character strings in index order
(``["\\n", " ", "a", ...]``), the sorted distinct characters of the corpus
for models trained with ``train.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class CharLSTM(nn.Module):
    """One-hot characters -> nn.LSTM(V, H) -> nn.Linear(H, V) logits."""

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm = nn.LSTM(vocab_size, hidden)
        self.fc = nn.Linear(hidden, vocab_size)

    def forward(self, tokens: torch.Tensor, state=None):
        """tokens: (T, B) int64 -> logits (T, B, V) and the final (h, c)."""
        x = F.one_hot(tokens, self.vocab_size).to(self.fc.weight.dtype)
        out, state = self.lstm(x, state)
        return self.fc(out), state


def load_vocab(path: str | Path) -> list[str]:
    """Reads a vocabulary JSON list and checks every entry is one character."""
    vocab = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(vocab, list) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
        raise ValueError(f"{path}: expected a JSON list of one-character strings")
    if len(set(vocab)) != len(vocab):
        raise ValueError(f"{path}: a character occurs twice")
    return vocab


def save_vocab(vocab: list[str], path: str | Path) -> None:
    """Writes the vocabulary as a JSON list of one-character strings."""
    Path(path).write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")


def save_model(model: CharLSTM, path: str | Path) -> None:
    """Saves ``model.state_dict()`` as safetensors (what ``host-trainer import`` reads)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt"})


def load_model(path: str | Path, vocab_size: int | None = None) -> CharLSTM:
    """Builds a CharLSTM sized from the file and loads it with ``strict=True``."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    if "lstm.weight_ih_l0" not in state:
        raise ValueError(f"{path} has no tensor 'lstm.weight_ih_l0' (it has {sorted(state)}): "
                         "CharLSTM expects the default names (export without --lstm-prefix / --linear-prefix)")
    four_h, v = state["lstm.weight_ih_l0"].shape
    if vocab_size is not None and vocab_size != v:
        raise ValueError(f"{path}: the model has {v} symbols, the vocabulary {vocab_size}")
    model = CharLSTM(v, four_h // 4)
    model.load_state_dict({k: t.float() for k, t in state.items()}, strict=True)
    return model.eval()

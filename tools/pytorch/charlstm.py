"""The PyTorch twin of host-trainer's models: a character-level RNN.

``CharRNN(V, H, cell="lstm", layers=1, dropout=0.0)`` is one-hot characters
into a stack of ``layers`` recurrent layers of one cell kind, then
``nn.Linear(H, V)`` on the top layer's h, V the vocabulary size:

=========  ===================================================  ==================
``cell``   recurrent module (attribute name = tensor prefix)     gate blocks G
=========  ===================================================  ==================
``lstm``   ``self.lstm = nn.LSTM(V, H, num_layers=L)``           4 (i, f, g, o)
``gru``    ``self.gru = nn.GRU(V, H, num_layers=L)``             3 (r, z, n)
``rnn``    ``self.rnn = nn.RNN(V, H, num_layers=L, nonlinearity="tanh")``  1
=========  ===================================================  ==================

and ``self.fc = nn.Linear(H, V)``. So the ``state_dict()`` names are
``{cell}.weight_ih_l{k}`` (G*H, V for k = 0, G*H, H above),
``{cell}.weight_hh_l{k}`` (G*H, H), ``{cell}.bias_ih_l{k}``,
``{cell}.bias_hh_l{k}`` (G*H), ``fc.weight`` (V, H), ``fc.bias`` (V): the
default prefixes of ``host-trainer import`` / ``export`` for each cell kind.
The cell kind also follows from the shapes alone: G = rows / columns of
``weight_hh_l0``.

``dropout`` P is nn's own between the layers (``nn.LSTM(dropout=P)``, only
when L > 1) plus an ``nn.Dropout(P)`` before the output layer, in training
only (``model.eval()`` turns both off). Dropout has no weights: it is not in
the state dict, only in the metadata ``save_model`` writes.

Tensors are **sequence-first** (nn's default, ``batch_first=False``): token
indices of shape (T, B), logits of shape (T, B, V). The layout does not
change the weights. The state is nn's: ``(h, c)`` of shape (L, B, H) each for
the LSTM, ``h`` (L, B, H) for the GRU and the RNN.

The vocabulary is a JSON list of one-character strings in index order
(``["\\n", " ", "a", ...]``), the sorted distinct characters of the corpus
for models trained with ``train.py``.

``save_model`` writes safetensors with string metadata ``cell`` (``lstm``,
``gru``, ``rnn_tanh``; ``rnn_relu`` for a relu nn.RNN, which nothing here
builds), ``num_layers``, ``hidden_size``, ``vocab_size`` and ``dropout``.
A relu and a tanh nn.RNN have the same tensors: the metadata is the only
way to tell them apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

#: Cell kind -> (nn module class, gate blocks G).
CELLS = {"lstm": (nn.LSTM, 4), "gru": (nn.GRU, 3), "rnn": (nn.RNN, 1)}
#: Most layers host-trainer runs.
MAX_LAYERS = 4


def check_config(cell: str, layers: int, dropout: float) -> None:
    """Raises ValueError naming the problem if host-trainer could not run this model."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r} (expected one of {', '.join(CELLS)})")
    if not 1 <= layers <= MAX_LAYERS:
        raise ValueError(f"--layers {layers}: must be 1 to {MAX_LAYERS}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"--dropout {dropout}: must be in [0, 1)")


class CharRNN(nn.Module):
    """One-hot characters -> L layers of nn.LSTM / nn.GRU / nn.RNN(tanh) -> nn.Linear(H, V) logits."""

    def __init__(self, vocab_size: int, hidden: int, cell: str = "lstm", layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        check_config(cell, layers, dropout)
        self.vocab_size = vocab_size
        self.hidden = hidden
        self.cell = cell
        self.layers = layers
        self.dropout = dropout
        module, _ = CELLS[cell]
        kwargs = {"num_layers": layers, "dropout": dropout if layers > 1 else 0.0}
        if cell == "rnn":
            kwargs["nonlinearity"] = "tanh"
        # The attribute name is the tensor prefix: lstm.*, gru.* or rnn.*.
        setattr(self, cell, module(vocab_size, hidden, **kwargs))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, vocab_size)

    @property
    def recurrent(self) -> nn.RNNBase:
        """The stacked recurrent module (``self.lstm``, ``self.gru`` or ``self.rnn``)."""
        return getattr(self, self.cell)

    def forward(self, tokens: torch.Tensor, state=None):
        """tokens: (T, B) int64 -> logits (T, B, V) and the final state."""
        x = F.one_hot(tokens, self.vocab_size).to(self.fc.weight.dtype)
        out, state = self.recurrent(x, state)
        return self.fc(self.drop(out)), state

    def metadata(self) -> dict[str, str]:
        """The safetensors metadata describing this model (strings only)."""
        return {"format": "pt", "cell": "rnn_tanh" if self.cell == "rnn" else self.cell,
                "num_layers": str(self.layers), "hidden_size": str(self.hidden),
                "vocab_size": str(self.vocab_size), "dropout": repr(float(self.dropout))}


class CharLSTM(CharRNN):
    """A one-layer LSTM CharRNN (the model of format version 1), under its old name."""

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__(vocab_size, hidden, "lstm", 1)


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


def save_tensors(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """Writes safetensors whose bytes depend only on the tensors and metadata.

    ``safetensors`` writes the metadata in hash order, which changes from run
    to run; the header is rewritten here with the metadata keys sorted.
    """
    from safetensors.torch import save

    raw = save({k: v.detach().cpu().contiguous() for k, v in state.items()}, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes with spaces
    Path(path).write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n :])


def save_model(model: CharRNN, path: str | Path) -> None:
    """Saves ``model.state_dict()`` and its metadata as safetensors (what ``host-trainer import`` reads)."""
    save_tensors(model.state_dict(), path, model.metadata())


def describe(state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None,
             path: str | Path = "the file") -> tuple[str, int, int, int]:
    """(cell, layers, hidden, vocab) of a CharRNN state dict; ValueError naming what does not fit."""
    found = [c for c in CELLS if f"{c}.weight_ih_l0" in state]
    if len(found) != 1:
        what = "none" if not found else " and ".join(f"'{c}.weight_ih_l0'" for c in found)
        raise ValueError(f"{path}: expected exactly one of 'lstm.weight_ih_l0', 'gru.weight_ih_l0', "
                         f"'rnn.weight_ih_l0' (found {what}; the file has {sorted(state)})")
    cell = found[0]
    if any(k.endswith("_reverse") for k in state):
        raise ValueError(f"{path}: a bidirectional {cell} (tensors '*_reverse') is not supported")
    if any(".weight_hr_l" in k for k in state):
        raise ValueError(f"{path}: an LSTM with projections (proj_size > 0, tensors 'weight_hr_l*') "
                         "is not supported")
    meta = metadata or {}
    if meta.get("cell") == "rnn_relu" or meta.get("nonlinearity") == "relu":
        raise ValueError(f"{path}: an nn.RNN with nonlinearity='relu' is not supported (tanh only)")
    rows, hidden = state[f"{cell}.weight_hh_l0"].shape
    g = CELLS[cell][1]
    if rows != g * hidden:
        raise ValueError(f"{path}: '{cell}.weight_hh_l0' is {rows}x{hidden}; a {cell} has {g}*H rows")
    ks = [int(k.rsplit("_l", 1)[1]) for k in state
          if k.startswith(f"{cell}.") and k.rsplit("_l", 1)[-1].isdigit()]
    layers = 1 + max(ks)
    vocab = state[f"{cell}.weight_ih_l0"].shape[1]
    for k in range(layers):
        want = {f"{cell}.weight_ih_l{k}": (g * hidden, vocab if k == 0 else hidden),
                f"{cell}.weight_hh_l{k}": (g * hidden, hidden),
                f"{cell}.bias_ih_l{k}": (g * hidden,), f"{cell}.bias_hh_l{k}": (g * hidden,)}
        for name, shape in want.items():
            if name not in state:
                raise ValueError(f"{path}: layer {k} of the {layers}-layer {cell} is missing: "
                                 f"no tensor '{name}'")
            if tuple(state[name].shape) != shape:
                rows = state[name].shape[0] if state[name].dim() else 0
                hint = (f" ({rows} rows: a {next(c for c, (_, n) in CELLS.items() if n * hidden == rows)} "
                        f"layer in a {cell}? mixed cell kinds are not supported)"
                        if name.startswith(f"{cell}.weight") and rows != g * hidden
                        and any(n * hidden == rows for _, n in CELLS.values()) else "")
                raise ValueError(f"{path}: '{name}' is {list(state[name].shape)}, a {cell} of hidden "
                                 f"size {hidden} needs {list(shape)}{hint}")
    return cell, layers, hidden, vocab


def load_model(path: str | Path, vocab_size: int | None = None) -> CharRNN:
    """Builds a CharRNN sized from the file and loads it with ``strict=True`` (eval mode)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    state = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    cell, layers, hidden, v = describe(state, metadata, path)
    if vocab_size is not None and vocab_size != v:
        raise ValueError(f"{path}: the model has {v} symbols, the vocabulary {vocab_size}")
    if not 1 <= layers <= MAX_LAYERS:
        raise ValueError(f"{path}: {layers} layers (at most {MAX_LAYERS})")
    model = CharRNN(v, hidden, cell, layers)
    model.load_state_dict({k: t.float() for k, t in state.items()}, strict=True)
    return model.eval()

"""Writes the PyTorch fixtures of host-trainer's import tests (tests/pytorch.rs).

    python tools/pytorch/make_fixture.py              # both sets
    python tools/pytorch/make_fixture.py --set v1     # host-trainer/tests/data/pytorch/ only
    python tools/pytorch/make_fixture.py --set v2     # host-trainer/tests/data/pytorch2/ only

Re-running gives the same tensors and probabilities (seeded; the JSON files
also record the torch and safetensors versions).

**Set v1** (``host-trainer/tests/data/pytorch/``), the one-layer LSTM of format
version 1: a seeded random CharLSTM (V = 10, H = 8; parameters drawn from
N(0, 0.6^2) so the gates saturate and the probabilities are far from uniform,
and ``bias_hh_l0`` is non-zero so the two biases must be summed) saved as:

* ``model.safetensors`` (F32), ``model_f64.safetensors`` (the same values in
  F64), ``model_f16.safetensors`` and ``model_bf16.safetensors`` (rounded);
* ``vocab.json``: ten characters including a newline and non-ASCII;
* ``expected.json``: the input sequence and PyTorch's softmax probabilities
  after each input symbol from a zero state, for the F32 model and for the
  F16 / BF16 models (their rounded weights run in f32), with the torch and
  safetensors versions.

**Set v2** (``host-trainer/tests/data/pytorch2/``), stacked layers and the other
cells, all over one 7-symbol vocabulary (``vocab.json``: newline, space,
``a d o r``, ``ü``), parameters drawn from N(0, 0.6^2) (every bias non-zero,
so a GRU's ``b_hn`` cannot be folded into ``b_in``), F32 tensors named as
CharRNN names them (prefix ``lstm.`` / ``gru.`` / ``rnn.``, then ``fc.``), with
CharRNN's safetensors metadata (``cell``, ``num_layers``, ...):

* ``lstm2.safetensors``: 2-layer nn.LSTM, H = 5 (trained with dropout 0.25,
  which is in the metadata only); ``gru2.safetensors``: 2-layer nn.GRU, H = 4;
  ``rnn1.safetensors``: 1-layer nn.RNN(nonlinearity="tanh"), H = 6;
* ``lstm2.json``, ``gru2.json``, ``rnn1.json``: the tensor names and shapes,
  the input text and its symbol indices, and after each input symbol from a
  zero state the next-symbol probabilities computed in float64 from the F32
  weights (``probs``, the reference) and by PyTorch in float32
  (``probs_f32``), plus the final state of every layer (``h_n``, and ``c_n``
  for the LSTM) in float64; floats are written with Python's repr (exact);
* ``neg_*.safetensors``, listed in ``negative.json`` with the problem and a
  word the import error must contain: what ``host-trainer import`` must refuse
  (bidirectional, projections, relu RNN, a missing layer, mixed cell kinds,
  two recurrent prefixes, a GRU bias of the wrong length, five layers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import safetensors
import torch
from safetensors.torch import save_file
from torch import nn

from charlstm import CharLSTM, CharRNN, save_tensors, save_vocab

VOCAB = ["\n", " ", "a", "b", "e", "l", "n", "s", "é", "λ"]
HIDDEN = 8
INPUT = "λ bé\nables seal"

VOCAB2 = ["\n", " ", "a", "d", "o", "r", "ü"]
INPUT2 = "adora\nrüd ora ü"
#: name -> (cell, layers, hidden, dropout, seed) of the v2 models.
MODELS2 = {
    "lstm2": ("lstm", 2, 5, 0.25, 21),
    "gru2": ("gru", 2, 4, 0.0, 22),
    "rnn1": ("rnn", 1, 6, 0.0, 23),
}


def probs(model: CharLSTM, tokens: list[int]) -> list[list[float]]:
    with torch.no_grad():
        logits, _ = model(torch.tensor(tokens).view(-1, 1))
        p = torch.softmax(logits[:, 0, :], dim=-1).tolist()
    # Nine significant digits give every f32 exactly.
    return [[float(f"{x:.9g}") for x in row] for row in p]


def write_v1(out_dir: Path) -> None:
    """The one-layer LSTM fixture of format version 1."""
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(5)
    model = CharLSTM(len(VOCAB), HIDDEN)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.6)
    model.eval()
    index = {c: i for i, c in enumerate(VOCAB)}
    tokens = [index[c] for c in INPUT]

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    save_file({k: v.double() for k, v in state.items()},
              str(out_dir / "model_f64.safetensors"), metadata={"format": "pt"})
    expected = {"f32": probs(model, tokens)}
    for name, dtype in [("f16", torch.float16), ("bf16", torch.bfloat16)]:
        rounded = {k: v.to(dtype) for k, v in state.items()}
        save_file(rounded, str(out_dir / f"model_{name}.safetensors"), metadata={"format": "pt"})
        m = CharLSTM(len(VOCAB), HIDDEN)
        m.load_state_dict({k: v.float() for k, v in rounded.items()}, strict=True)
        expected[name] = probs(m.eval(), tokens)
    save_vocab(VOCAB, out_dir / "vocab.json")
    doc = {
        "about": "PyTorch softmax probabilities after each input symbol, from a zero state "
                 "(tools/pytorch/make_fixture.py)",
        "torch_version": torch.__version__,
        "safetensors_version": safetensors.__version__,
        "hidden": HIDDEN,
        "input": INPUT,
        "tokens": tokens,
        "probs": expected,
    }
    write_json(out_dir / "expected.json", doc)


def write_json(path: Path, doc: dict) -> None:
    """One JSON document; floats in repr form (the shortest string giving the same double)."""
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")


def shapes(state: dict[str, torch.Tensor]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in state.items()}


def random_params(module: nn.Module, seed: int) -> None:
    """Every parameter from N(0, 0.6^2), seeded (saturating gates, far from uniform probabilities)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.6)


def save(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    save_tensors({k: v.float() for k, v in state.items()}, path, metadata)


def reference(model: CharRNN, tokens: list[int]) -> dict:
    """Probabilities after each input symbol from a zero state (f64 from the f32 weights, and f32)."""
    x = torch.tensor(tokens).view(-1, 1)
    out = {}
    with torch.no_grad():
        m64 = CharRNN(model.vocab_size, model.hidden, model.cell, model.layers).double().eval()
        m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()}, strict=True)
        logits, state = m64(x)
        out["probs"] = torch.softmax(logits[:, 0, :], dim=-1).tolist()
        h, c = state if model.cell == "lstm" else (state, None)
        out["h_n"] = h[:, 0, :].tolist()
        if c is not None:
            out["c_n"] = c[:, 0, :].tolist()
        logits32, _ = model.eval()(x)
        out["probs_f32"] = torch.softmax(logits32[:, 0, :], dim=-1).tolist()
    return out


def negatives(v: int) -> list[tuple[str, dict[str, torch.Tensor], dict[str, str], str, str]]:
    """(file, state dict, metadata, problem, word the error must contain) for each refused model."""
    meta = {"format": "pt"}
    out = []

    def lstm_like(module: nn.Module, fc_in: int, seed: int, prefix: str = "lstm") -> dict:
        random_params(module, seed)
        fc = nn.Linear(fc_in, v)
        random_params(fc, seed + 100)
        state = {f"{prefix}.{k}": t for k, t in module.state_dict().items()}
        state.update({f"fc.{k}": t for k, t in fc.state_dict().items()})
        return state

    out.append(("neg_lstm_bidirectional.safetensors",
                lstm_like(nn.LSTM(v, 3, bidirectional=True), 6, 31), dict(meta, cell="lstm"),
                "nn.LSTM(bidirectional=True): tensors *_reverse, fc on 2H", "bidirectional"))
    out.append(("neg_lstm_proj.safetensors",
                lstm_like(nn.LSTM(v, 4, proj_size=2), 2, 32), dict(meta, cell="lstm"),
                "nn.LSTM(proj_size=2): weight_hr_l0 (2, 4), weight_hh_l0 (16, 2)", "proj"))
    out.append(("neg_rnn_relu.safetensors",
                lstm_like(nn.RNN(v, 3, nonlinearity="relu"), 3, 33, "rnn"),
                dict(meta, cell="rnn_relu", nonlinearity="relu", num_layers="1"),
                "nn.RNN(nonlinearity='relu'): the tensors of a tanh RNN, metadata cell=rnn_relu, "
                "nonlinearity=relu", "relu"))
    state = lstm_like(nn.LSTM(v, 3, num_layers=3), 3, 34)
    state = {k: t for k, t in state.items() if not k.endswith("_l1")}
    out.append(("neg_lstm3_missing_l1.safetensors", state, dict(meta, cell="lstm"),
                "3-layer nn.LSTM without its layer-1 tensors (l0 and l2 present)", "layer 1"))
    lstm = lstm_like(nn.LSTM(v, 3, num_layers=2), 3, 35)
    gru = lstm_like(nn.GRU(v, 3, num_layers=2), 3, 36)
    mixed = {k: (gru[k] if k.endswith("_l1") else t) for k, t in lstm.items()}
    out.append(("neg_mixed_cells.safetensors", mixed, meta,
                "prefix lstm., layer 0 an LSTM (12 rows), layer 1 a GRU (9 rows)", "cell"))
    two = lstm_like(nn.LSTM(v, 3), 3, 37)
    two.update({k: t for k, t in lstm_like(nn.GRU(v, 3), 3, 38, "gru").items() if k.startswith("gru.")})
    out.append(("neg_two_prefixes.safetensors", two, meta,
                "both lstm.* and gru.* (1 layer each, H 3) with one fc", "gru"))
    state = lstm_like(nn.GRU(v, 3), 3, 39, "gru")
    state["gru.bias_hh_l0"] = state["gru.bias_hh_l0"][:6].clone()
    out.append(("neg_gru_bias_length.safetensors", state, dict(meta, cell="gru"),
                "1-layer nn.GRU, H 3, gru.bias_hh_l0 of length 6 instead of 9 (no b_hn)", "bias_hh_l0"))
    out.append(("neg_rnn5_layers.safetensors", lstm_like(nn.RNN(v, 2, num_layers=5), 2, 40, "rnn"),
                dict(meta, cell="rnn_tanh", num_layers="5"),
                "5-layer tanh nn.RNN (at most 4 layers)", "layers"))
    return out


def write_v2(out_dir: Path) -> None:
    """Stacked LSTM and GRU, a tanh RNN, their references, and the models import must refuse."""
    out_dir.mkdir(parents=True, exist_ok=True)
    v = len(VOCAB2)
    index = {c: i for i, c in enumerate(VOCAB2)}
    tokens = [index[c] for c in INPUT2]
    assert sorted(set(tokens)) == list(range(v)), "the input uses every symbol"
    save_vocab(VOCAB2, out_dir / "vocab.json")
    versions = {"torch_version": torch.__version__, "safetensors_version": safetensors.__version__}
    for name, (cell, layers, hidden, dropout, seed) in MODELS2.items():
        model = CharRNN(v, hidden, cell, layers, dropout)
        random_params(model, seed)
        model.eval()
        state = model.state_dict()
        save(state, out_dir / f"{name}.safetensors", model.metadata())
        doc = {
            "about": "next-symbol probabilities after each input symbol, from a zero state: probs in "
                     "float64 from the F32 weights (the reference), probs_f32 PyTorch's float32 "
                     "forward; h_n (and c_n) the final state of each layer, float64 "
                     "(tools/pytorch/make_fixture.py)",
            "file": f"{name}.safetensors",
            "cell": model.metadata()["cell"],
            "num_layers": layers,
            "hidden": hidden,
            "vocab_size": v,
            "dropout": dropout,
            "tensors": shapes(state),
            "input": INPUT2,
            "tokens": tokens,
            **reference(model, tokens),
            **versions,
        }
        write_json(out_dir / f"{name}.json", doc)
    manifest = []
    for file, state, metadata, problem, word in negatives(v):
        save(state, out_dir / file, metadata)
        manifest.append({"file": file, "problem": problem, "error_mentions": word,
                         "tensors": shapes(state), "metadata": metadata})
    write_json(out_dir / "negative.json", {
        "about": "models host-trainer import must refuse, with an error containing error_mentions "
                 "(tools/pytorch/make_fixture.py); vocabulary vocab.json",
        "files": manifest, **versions})


def main() -> None:
    here = Path(__file__).resolve().parent
    data = here.parent.parent / "host-trainer" / "tests" / "data"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", choices=["v1", "v2", "all"], default="all", help="which fixtures to write")
    ap.add_argument("--out-dir", type=Path, default=data / "pytorch", help="where set v1 goes")
    ap.add_argument("--out-dir-v2", type=Path, default=data / "pytorch2", help="where set v2 goes")
    a = ap.parse_args()
    dirs = []
    if a.set in ("v1", "all"):
        write_v1(a.out_dir)
        dirs.append(a.out_dir)
    if a.set in ("v2", "all"):
        write_v2(a.out_dir_v2)
        dirs.append(a.out_dir_v2)
    for d in dirs:
        for f in d.iterdir():
            f.chmod(0o644)
        print(f"wrote the fixture to {d}")


if __name__ == "__main__":
    main()

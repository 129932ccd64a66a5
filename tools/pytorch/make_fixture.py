"""Writes the PyTorch fixture of host-trainer's import tests (tests/pytorch.rs).

    python tools/pytorch/make_fixture.py   # -> host-trainer/tests/data/pytorch/

A seeded random CharLSTM (V = 10, H = 8; parameters drawn from N(0, 0.6^2) so
the gates saturate and the probabilities are far from uniform, and
``bias_hh_l0`` is non-zero so the two biases must be summed) saved as:

* ``model.safetensors`` (F32), ``model_f64.safetensors`` (the same values in
  F64), ``model_f16.safetensors`` and ``model_bf16.safetensors`` (rounded);
* ``vocab.json``: ten characters including a newline and non-ASCII;
* ``expected.json``: the input sequence and PyTorch's softmax probabilities
  after each input symbol from a zero state, for the F32 model and for the
  F16 / BF16 models (their rounded weights run in f32), with the torch and
  safetensors versions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import safetensors
import torch
from safetensors.torch import save_file

from charlstm import CharLSTM, save_vocab

VOCAB = ["\n", " ", "a", "b", "e", "l", "n", "s", "é", "λ"]
HIDDEN = 8
INPUT = "λ bé\nables seal"


def probs(model: CharLSTM, tokens: list[int]) -> list[list[float]]:
    with torch.no_grad():
        logits, _ = model(torch.tensor(tokens).view(-1, 1))
        p = torch.softmax(logits[:, 0, :], dim=-1).tolist()
    # Nine significant digits give every f32 exactly.
    return [[float(f"{x:.9g}") for x in row] for row in p]


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", type=Path,
                    default=here.parent.parent / "host-trainer" / "tests" / "data" / "pytorch")
    a = ap.parse_args()
    a.out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(5)
    model = CharLSTM(len(VOCAB), HIDDEN)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.6)
    model.eval()
    index = {c: i for i, c in enumerate(VOCAB)}
    tokens = [index[c] for c in INPUT]

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(a.out_dir / "model.safetensors"), metadata={"format": "pt"})
    save_file({k: v.double() for k, v in state.items()},
              str(a.out_dir / "model_f64.safetensors"), metadata={"format": "pt"})
    expected = {"f32": probs(model, tokens)}
    for name, dtype in [("f16", torch.float16), ("bf16", torch.bfloat16)]:
        rounded = {k: v.to(dtype) for k, v in state.items()}
        save_file(rounded, str(a.out_dir / f"model_{name}.safetensors"), metadata={"format": "pt"})
        m = CharLSTM(len(VOCAB), HIDDEN)
        m.load_state_dict({k: v.float() for k, v in rounded.items()}, strict=True)
        expected[name] = probs(m.eval(), tokens)
    save_vocab(VOCAB, a.out_dir / "vocab.json")
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
    (a.out_dir / "expected.json").write_text(json.dumps(doc, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    for f in a.out_dir.iterdir():
        f.chmod(0o644)
    print(f"wrote the fixture to {a.out_dir}")


if __name__ == "__main__":
    main()

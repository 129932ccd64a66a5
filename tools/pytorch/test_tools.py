"""Checks of the PyTorch tools (standard-library unittest; needs the requirements installed).

    python -m unittest discover -s tools/pytorch -p "test_*.py" -v

Tensor names per cell kind, the committed v2 fixtures (reproduced by
make_fixture.py, their reference probabilities recomputed by an independent
numpy pass of the equations, every negative refused naming the problem),
train.py's bad-input errors, and the same model from torchrun with two
processes as from one process (skipped with a message when torchrun cannot
start).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "host-trainer" / "tests" / "data" / "pytorch2"
sys.path.insert(0, str(HERE))

from charlstm import CharRNN, load_model  # noqa: E402


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_probs(st: dict, cell: str, layers: int, hidden: int, vocab: int, tokens: list[int]):
    """The SCHEMA's equations in float64 numpy, from a zero state: (probs [T][V], h [L][H], c [L][H])."""
    h = [np.zeros(hidden) for _ in range(layers)]
    c = [np.zeros(hidden) for _ in range(layers)]
    out = []
    for t in tokens:
        x = np.zeros(vocab)
        x[t] = 1.0
        for k in range(layers):
            wi, wh, bi, bh = (st[f"{cell}.{n}_l{k}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            a, b = wi @ x + bi, wh @ h[k] + bh
            if cell == "lstm":
                i, f, g, o = np.split(a + b, 4)
                c[k] = sigmoid(f) * c[k] + sigmoid(i) * np.tanh(g)
                h[k] = sigmoid(o) * np.tanh(c[k])
            elif cell == "gru":
                (ar, az, an), (br, bz, bn) = np.split(a, 3), np.split(b, 3)
                r, z = sigmoid(ar + br), sigmoid(az + bz)
                h[k] = (1 - z) * np.tanh(an + r * bn) + z * h[k]
            else:
                h[k] = np.tanh(a + b)
            x = h[k]
        logits = st["fc.weight"] @ x + st["fc.bias"]
        e = np.exp(logits - logits.max())
        out.append(e / e.sum())
    return np.array(out), np.array(h), np.array(c)


class Names(unittest.TestCase):
    def test_prefix_is_the_cell_kind(self):
        for cell, g in (("lstm", 4), ("gru", 3), ("rnn", 1)):
            m = CharRNN(5, 3, cell, 2, 0.5)
            shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
            self.assertEqual(shapes, {
                f"{cell}.weight_ih_l0": (g * 3, 5), f"{cell}.weight_hh_l0": (g * 3, 3),
                f"{cell}.bias_ih_l0": (g * 3,), f"{cell}.bias_hh_l0": (g * 3,),
                f"{cell}.weight_ih_l1": (g * 3, 3), f"{cell}.weight_hh_l1": (g * 3, 3),
                f"{cell}.bias_ih_l1": (g * 3,), f"{cell}.bias_hh_l1": (g * 3,),
                "fc.weight": (5, 3), "fc.bias": (5,)})

    def test_bad_settings_are_refused(self):
        for args, word in (((5, 3, "lstm", 0), "layers"), ((5, 3, "lstm", 5), "layers"),
                           ((5, 3, "gru", 1, 1.0), "dropout"), ((5, 3, "cnn"), "cell")):
            with self.assertRaisesRegex(ValueError, word):
                CharRNN(*args)


class Fixtures(unittest.TestCase):
    def test_make_fixture_reproduces_the_committed_files(self):
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([sys.executable, str(HERE / "make_fixture.py"), "--set", "v2", "--out-dir-v2", d],
                           check=True, capture_output=True)
            for f in sorted(FIXTURES.iterdir()):
                self.assertEqual((Path(d) / f.name).read_bytes(), f.read_bytes(), f.name)

    def test_reference_probabilities_match_numpy(self):
        for name in ("lstm2", "gru2", "rnn1"):
            doc = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
            st = {k: v.astype(np.float64) for k, v in load_file(str(FIXTURES / f"{name}.safetensors")).items()}
            cell = {"rnn_tanh": "rnn"}.get(doc["cell"], doc["cell"])
            p, h, c = numpy_probs(st, cell, doc["num_layers"], doc["hidden"], doc["vocab_size"], doc["tokens"])
            self.assertLess(np.abs(p - np.array(doc["probs"])).max(), 1e-14, name)
            self.assertLess(np.abs(h - np.array(doc["h_n"])).max(), 1e-14, name)
            if cell == "lstm":
                self.assertLess(np.abs(c - np.array(doc["c_n"])).max(), 1e-14, name)
            self.assertLess(np.abs(p - np.array(doc["probs_f32"])).max(), 1e-6, name)
            self.assertEqual(load_model(FIXTURES / f"{name}.safetensors", doc["vocab_size"]).cell, cell)

    def test_every_negative_is_refused_naming_the_problem(self):
        doc = json.loads((FIXTURES / "negative.json").read_text(encoding="utf-8"))
        self.assertEqual(len(doc["files"]), 8)
        for entry in doc["files"]:
            with self.assertRaises(ValueError, msg=entry["file"]) as e:
                load_model(FIXTURES / entry["file"])
            self.assertIn(entry["error_mentions"], str(e.exception), entry["file"])


def train(args: list[str], out: Path, torchrun: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(HERE / "train.py")]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(HERE / "train.py")]
    cmd += ["--corpus", str(ROOT / "data" / "timemachine.txt"), "--out", str(out / "m.safetensors"),
            "--vocab", str(out / "v.json")] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


class Train(unittest.TestCase):
    def test_bad_input_is_an_error_and_writes_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            for args, msg in ((["--layers", "0"], "--layers 0"), (["--layers", "5"], "--layers 5"),
                              (["--dropout", "1"], "--dropout 1.0"), (["--cell", "cnn"], "invalid choice")):
                p = train(args + ["--steps", "1"], Path(d))
                self.assertNotEqual(p.returncode, 0, args)
                self.assertIn(msg, p.stderr, args)
                self.assertEqual(list(Path(d).iterdir()), [], args)

    def test_two_processes_train_the_model_one_process_does(self):
        args = ["--cell", "gru", "--layers", "2", "--hidden", "8", "--steps", "5", "--seq-len", "16",
                "--batch", "4", "--threads", "1"]
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            p = train(args, Path(one))
            self.assertEqual(p.returncode, 0, p.stderr)
            p = train(args, Path(two), torchrun=True)
            if p.returncode != 0 and "rendezvous" in p.stderr.lower():
                self.skipTest(f"torchrun could not start here: {p.stderr[-300:]}")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("2 process(es) x 2 windows", p.stderr)
            a = load_file(str(Path(one) / "m.safetensors"))
            b = load_file(str(Path(two) / "m.safetensors"))
            self.assertEqual(sorted(a), sorted(b))
            self.assertLess(max(np.abs(a[k] - b[k]).max() for k in a), 1e-5)
            self.assertEqual((Path(one) / "v.json").read_text(), (Path(two) / "v.json").read_text())


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""Where a Cortex-M4F image's instructions go: runs the ELF under QEMU with
one instruction per translation block and an execution log
(`-singlestep -d exec,nochain`), streamed through a FIFO, and counts the
executed instructions per symbol (QEMU names the function each executed
instruction belongs to). lstm-core's Cortex-M4F kernel routines are
`global_asm!` functions of their own (`lstm_core_gemv8`, `lstm_core_act`,
...), so the matrix products, the exponentials and the rest separate cleanly
even with LTO inlining the Rust code into `main`.

usage: fw_profile.py ELF TOKENS MACS_PER_MATRIX_TOKEN [--json]

Prints instructions per token by symbol (whole run divided by TOKENS, so
start-up and the final report are included in the small entries).
"""

import collections
import json
import os
import re
import subprocess
import sys
import tempfile

QEMU = ["qemu-system-arm", "-machine", "mps2-an386", "-cpu", "cortex-m4",
        "-icount", "shift=7,align=off,sleep=off", "-semihosting-config", "enable=on,target=native",
        "-nographic", "-d", "exec,nochain"]


def one_insn_per_tb():
    """QEMU 7.x spells it -singlestep; 8.1 and later -accel tcg,one-insn-per-tb=on."""
    out = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\d+)\.(\d+)", out)
    if m and (int(m.group(1)), int(m.group(2))) >= (8, 1):
        return ["-accel", "tcg,one-insn-per-tb=on"]
    return ["-singlestep"]


def profile(elf):
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, "trace")
        os.mkfifo(fifo)
        p = subprocess.Popen(["timeout", "600"] + QEMU + one_insn_per_tb() + ["-D", fifo, "-kernel", elf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        counts = collections.Counter()
        pat = re.compile(r"\] (\S+)\s*$")
        with open(fifo, "r", errors="replace") as f:
            for line in f:
                if line.startswith("Trace"):
                    m = pat.search(line)
                    counts[m.group(1) if m else "?"] += 1
        p.wait()
    if sum(counts.values()) == 0:
        raise RuntimeError(f"no instructions traced from {elf} (QEMU exit status {p.returncode})")
    return counts


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    elf, tokens, macs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    try:
        counts = profile(elf)
    except RuntimeError as e:
        print(f"fw_profile: {e}", file=sys.stderr)
        sys.exit(1)
    total = sum(counts.values())
    rows = [{"symbol": s, "per_token": n / tokens, "share": n / total} for s, n in counts.most_common()]
    if "--json" in sys.argv:
        print(json.dumps({"total_per_token": total / tokens, "macs": macs, "symbols": rows}))
        return
    print(f"{total / tokens:,.0f} instructions per token in all (whole run / {tokens} tokens)")
    for r in rows[:15]:
        print(f"  {r['per_token']:>10,.0f}  {100 * r['share']:5.1f} %  {r['symbol']}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Where a Cortex-M4F image's instructions go: runs the ELF under QEMU with
one instruction per translation block and an execution log
(`-singlestep -d exec,nochain`), streamed through a FIFO, and counts the
executed instructions per symbol (QEMU names the function each executed
instruction belongs to). lstm-core's Cortex-M4F kernel routines are
`global_asm!` functions of their own (`lstm_core_gemv8`, `lstm_core_act`,
...), so the matrix products, the exponentials and the rest separate cleanly
even with LTO inlining the Rust code into `main`.

usage: fw_profile.py ELF TOKENS MACS_PER_MATRIX_TOKEN [--json] [--cycles]

Prints instructions per token by symbol (whole run divided by TOKENS, so
start-up and the final report are included in the small entries). A block
the assembly marks with local labels `lstm_core_region_NAME_N` ..
`lstm_core_region_end_NAME_N` counts as `NAME (in SYMBOL)`, apart from its
function (the q8 routine's column add is not matrix work).

With --cycles, also weights every executed instruction with the Cortex-M4
cycle table in bench/README.md ("Cycles"): the ELF is disassembled with
llvm-objdump (or arm-none-eabi-objdump), each traced PC gets its
instruction, a branch counts as taken when the next traced PC is not the
next instruction, and a load or store right after another one gets the
pipelined cost. Prints estimated cycles per token by symbol, cycles per
instruction, and ms per token at 100 MHz (the Black Pill's top clock).
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


# --- The cycle table (bench/README.md, "Cycles"): Cortex-M4 TRM (Arm DDI 0439B),
# table 3-1 (processor instructions) and table 7-1 (FPU instructions).
P = 2  # pipeline refill after a taken branch: 1..3 in the TRM; assumed 2.
ONE = {"add", "adds", "adc", "adcs", "sub", "subs", "sbc", "sbcs", "rsb", "rsbs", "mov", "movs", "movw", "movt",
       "mvn", "mvns", "and", "ands", "orr", "orrs", "orn", "eor", "eors", "bic", "bics", "lsl", "lsls", "lsr",
       "lsrs", "asr", "asrs", "ror", "rors", "rrx", "cmp", "cmn", "tst", "teq", "ubfx", "sbfx", "bfi", "bfc",
       "uxtb", "uxth", "sxtb", "sxth", "uxtab", "uxtah", "sxtab", "sxtah", "rev", "rev16", "revsh", "rbit", "clz",
       "adr", "nop", "it", "ite", "itt", "itee", "itte", "ittt", "itet", "iteee", "ittee", "ittte", "itttt",
       "mul", "muls", "smull", "umull", "smlal", "umlal", "smulbb", "smlabb", "smlad", "smuad", "usat", "ssat",
       "cpsid", "cpsie", "dmb", "dsb", "isb", "wfi", "bkpt", "svc", "sel", "qadd", "qsub", "uadd8", "usub8",
       "vadd", "vsub", "vmul", "vnmul", "vabs", "vneg", "vcmp", "vcmpe", "vcvt", "vcvtr", "vmov", "vmrs", "vmsr",
       "vcvta", "vcvtn", "vcvtp", "vcvtm"}
MAC3 = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}  # 3 cycles
DIV14 = {"vdiv", "vsqrt"}
TWO = {"mla", "mls"}
LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "vldr"}
STORES = {"str", "strb", "strh", "strex", "vstr"}
MULTI = {"ldm", "ldmia", "ldmdb", "stm", "stmia", "stmdb", "push", "pop", "vldm", "vldmia", "vldmdb", "vstm",
         "vstmia", "vstmdb", "vpush", "vpop"}
BRANCH = {"b", "bl", "bx", "blx", "cbz", "cbnz"}
CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")


def base_mnemonic(mn):
    """`vfma.f32` -> `vfma`, `ldr.w` -> `ldr`, `bne.w` -> `b` (conditional), `addeq` -> `add`."""
    m = mn.lower().split(".")[0]
    if m in ONE or m in MAC3 or m in DIV14 or m in TWO or m in LOADS or m in STORES or m in MULTI or m in BRANCH:
        return m, False
    for c in CONDS:
        if m.endswith(c) and len(m) > len(c):
            b = m[: -len(c)]
            if b in ONE or b in MAC3 or b in TWO or b in LOADS or b in STORES or b in MULTI or b in BRANCH:
                return b, True
    return m, False


def words_in_list(ops):
    """Registers moved by ldm/stm/push/pop/vldm/vstm/vpush/vpop (d registers count 2 words)."""
    m = re.search(r"\{([^}]*)\}", ops)
    if not m:
        return 1
    n = 0
    for part in m.group(1).split(","):
        part = part.strip()
        w = 2 if part.startswith("d") else 1
        if "-" in part:
            a, b = part.split("-")
            n += w * (int(b.strip()[1:]) - int(a.strip()[1:]) + 1)
        elif part:
            n += w
    return n


def cycles_of(mn, ops, taken, after_mem):
    """Estimated cycles of one executed instruction (see bench/README.md, "Cycles")."""
    m, _cond = base_mnemonic(mn)
    if m in BRANCH:
        return 1 + P if taken else 1
    if m in MAC3:
        return 3
    if m in DIV14:
        return 14
    if m in TWO:
        return 2
    if m in ("sdiv", "udiv"):
        return 12  # 2..12 in the TRM: the upper end
    if m in LOADS:
        if "pc" in ops.split(",")[0]:
            return 2 + P  # a load into pc is a branch
        return 1 if after_mem else 2
    if m in STORES:
        return 1
    if m in ("ldrd", "strd"):
        return 2 if after_mem else 3
    if m in MULTI:
        n = words_in_list(ops)
        return 1 + n + (P if m == "pop" and "pc" in ops else 0)
    if m in ("tbb", "tbh"):
        return 2 + 1 + 3
    return 1  # data processing, moves, single-cycle FPU operations


def disassemble(elf):
    """{pc: (mnemonic, operands, size in bytes)} from llvm-objdump / arm-none-eabi-objdump."""
    for tool in ("llvm-objdump", "arm-none-eabi-objdump"):
        try:
            out = subprocess.run([tool, "-d", "--no-show-raw-insn", elf], capture_output=True, text=True,
                                 check=True).stdout
            break
        except (OSError, subprocess.CalledProcessError):
            continue
    else:
        raise RuntimeError("needs llvm-objdump or arm-none-eabi-objdump to disassemble the ELF")
    insns = []
    pat = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
    for line in out.splitlines():
        m = pat.match(line)
        if m and not m.group(2).startswith("."):
            insns.append((int(m.group(1), 16), m.group(2), m.group(3).split("@")[0].strip()))
    table = {}
    for i, (pc, mn, ops) in enumerate(insns):
        size = insns[i + 1][0] - pc if i + 1 < len(insns) else 4
        table[pc] = (mn, ops, size if size in (2, 4) else 4)
    return table


def regions(elf):
    """[(lo, hi, name)]: the blocks lstm-core's assembly marks with a pair of local labels
    `lstm_core_region_NAME_N` .. `lstm_core_region_end_NAME_N` (e.g. the q8 routine's column add,
    which is not part of the matrix product), from the ELF's symbol table."""
    for tool in ("llvm-nm", "arm-none-eabi-nm"):
        try:
            out = subprocess.run([tool, elf], capture_output=True, text=True, check=True).stdout
            break
        except (OSError, subprocess.CalledProcessError):
            continue
    else:
        return []
    begin, end = {}, {}
    pat = re.compile(r"^([0-9a-fA-F]+)\s+\w\s+lstm_core_region_(end_)?(\w+)_(\d+)$")
    for line in out.splitlines():
        m = pat.match(line.strip())
        if m:
            (end if m.group(2) else begin)[(m.group(3), m.group(4))] = int(m.group(1), 16)
    return sorted((lo, end[k], k[0]) for k, lo in begin.items() if k in end and end[k] > lo)


def profile(elf, insns=None):
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, "trace")
        os.mkfifo(fifo)
        p = subprocess.Popen(["timeout", "3600"] + QEMU + one_insn_per_tb() + ["-D", fifo, "-kernel", elf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        counts = collections.Counter()
        cycles = collections.Counter()
        marked = regions(elf)
        lo_all, hi_all = (marked[0][0], max(r[1] for r in marked)) if marked else (0, 0)
        pat = re.compile(r"\[[0-9a-f]+/([0-9a-f]+)/[^\]]*\] (\S+)\s*$")
        prev = None  # (pc, mnemonic, ops, size, symbol, is memory access)
        with open(fifo, "r", errors="replace") as f:
            for line in f:
                if not line.startswith("Trace"):
                    continue
                m = pat.search(line)
                sym = m.group(2) if m else "?"
                if m and marked and lo_all <= (pc := int(m.group(1), 16)) < hi_all:
                    # A marked block counts as "NAME (in SYMBOL)", apart from its function.
                    for lo, hi, name in marked:
                        if lo <= pc < hi:
                            sym = f"{name} (in {sym})"
                            break
                counts[sym] += 1
                if insns is None or not m:
                    continue
                pc = int(m.group(1), 16)
                if prev is not None:
                    ppc, pmn, pops, psize, psym, pmem_before = prev
                    taken = pc != ppc + psize
                    cycles[psym] += cycles_of(pmn, pops, taken, pmem_before)
                mn, ops, size = insns.get(pc, ("nop", "", 2))
                was_mem = prev is not None and base_mnemonic(prev[1])[0] in LOADS | STORES | {"ldrd", "strd"}
                prev = (pc, mn, ops, size, sym, was_mem)
        if prev is not None:
            cycles[prev[4]] += cycles_of(prev[1], prev[2], True, prev[5])
        p.wait()
    if sum(counts.values()) == 0:
        raise RuntimeError(f"no instructions traced from {elf} (QEMU exit status {p.returncode})")
    return (counts, cycles) if insns is not None else counts


def model_cpi(counts, cycles):
    """Cycles per instruction of the model's work: the whole trace without start-up
    (cortex-m-rt's `Reset` paints the whole stack) and the report's scan of that paint
    (`stack_high_water`); None for an empty trace."""
    overhead = [s for s in counts if s == "Reset" or "stack_high_water" in s]
    work_i = sum(counts.values()) - sum(counts[s] for s in overhead)
    work_c = sum(cycles.values()) - sum(cycles.get(s, 0) for s in overhead)
    return work_c / work_i if work_i else None


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    elf, tokens, macs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    want_cycles = "--cycles" in sys.argv
    try:
        if want_cycles:
            counts, cycles = profile(elf, disassemble(elf))
        else:
            counts = profile(elf)
    except RuntimeError as e:
        print(f"fw_profile: {e}", file=sys.stderr)
        sys.exit(1)
    if want_cycles:
        total_i = sum(counts.values())
        total_c = sum(cycles.values())
        cpi = model_cpi(counts, cycles)
        if "--json" in sys.argv:
            print(json.dumps({"instructions_per_token": total_i / tokens, "cycles_per_token": total_c / tokens,
                              "ms_per_token_at_100mhz": total_c / tokens / 100e3, "macs": macs,
                              "model_cpi": cpi,
                              "symbols": [{"symbol": s, "instructions_per_token": counts[s] / tokens,
                                           "cycles_per_token": c / tokens} for s, c in cycles.most_common()]}))
            return
        print(f"{total_i / tokens:,.0f} instructions, {total_c / tokens:,.0f} estimated cycles per token "
              f"(CPI {total_c / total_i:.2f}): {total_c / tokens / 100e3:.3f} ms per token at 100 MHz")
        if cpi:
            print(f"without start-up and the stack scan (Reset, stack_high_water): CPI {cpi:.2f}; "
                  f"multiply the firmware's exact instructions per token by it for cycles per token")
        for s_, c in cycles.most_common(15):
            print(f"  {c / tokens:>10,.0f} cycles  {counts[s_] / tokens:>10,.0f} instructions  "
                  f"CPI {c / max(counts[s_], 1):.2f}  {s_}")
        return
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

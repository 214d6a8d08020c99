"""Interpreter vs native tier on the bench kernels (bench/kernels.py), one process.

    python bench/jit.py [--exp 20] [--threads 1,2] [--budget 0.3]

For each kernel: the cold compile time (first compile of its launch key), then the time per
launch on the VM and compiled (prepared launches, best of repeated runs within the budget) for
each thread count, and their ratio. Kernels the native tier declines are listed with the reason.
Ratios are measured in the same process run; the machine's load is printed (results on a busy
machine are informal).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import hologram as hg  # noqa: E402
from hologram import jit  # noqa: E402
from kernels import KERNELS  # noqa: E402


def best_time(fn, budget: float) -> float:
    fn()
    best = float("inf")
    t_end = time.perf_counter() + budget
    reps = 0
    while reps < 3 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        reps += 1
        if reps >= 200:
            break
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp", type=int, default=20, help="size 2^k (default 20)")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--budget", type=float, default=0.3, help="seconds per measurement")
    ap.add_argument("--kernels", default="", help="comma-separated names (default all)")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    names = set(filter(None, args.kernels.split(",")))
    print(f"load average before: {os.getloadavg()}; vector width {jit.vector_width()}")
    rng = np.random.default_rng(1)
    for kern in KERNELS:
        if names and kern.name not in names:
            continue
        n = min(1 << args.exp, kern.max_n)
        prog = None if "{a}" in kern.source else hg.assemble(kern.source)
        be_vm = hg.CpuBackend(engine="vm")
        be_jit = hg.CpuBackend(engine="jit")
        case_vm = kern.setup(prog if prog is not None else kern.source, n, rng, be_vm)
        case_jit = kern.setup(prog if prog is not None else kern.source, n, rng, be_jit)
        t0 = time.perf_counter()
        try:
            case_jit.reset()
            case_jit.launch(be_jit, threads[0])
        except hg.NotCompilable as e:
            print(f"{kern.name:16s} declined: {e}")
            continue
        cold = time.perf_counter() - t0
        case_jit.check()
        line = f"{kern.name:16s} n=2^{args.exp} first launch (compile + run) {cold * 1e3:7.1f} ms"
        for t in threads:
            tv = best_time(lambda: (case_vm.reset(), case_vm.launch(be_vm, t)), args.budget)
            tj = best_time(lambda: (case_jit.reset(), case_jit.launch(be_jit, t)), args.budget)
            line += f" | {t}T vm {tv * 1e3:8.3f} ms jit {tj * 1e3:8.3f} ms ({tv / tj:5.1f}x)"
        print(line, flush=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

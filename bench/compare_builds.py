"""Before/after: the bench kernels on two builds of hologram, alternating on one machine.

    python bench/compare_builds.py OLD_TREE NEW_TREE [--n 1048576] [--rounds 5] [--threads 1,2]

Each tree is a source checkout with its extension built in place. Every round runs one
subprocess per tree (old, new, old, new, ...) so that load changes hit both alike; a subprocess
imports hologram from its tree, times every kernel's prepared launch and numpy on the same
inputs, and reports the best time of a few repetitions. The table gives the best over rounds,
new/old, and each build's ratio to numpy measured in its own process. The kernels and their
inputs are this checkout's bench/kernels.py; a kernel the old build cannot run is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[2])
import numpy as np
import hologram as hg
import kernels as K
n, reps, threads = int(sys.argv[3]), int(sys.argv[4]), [int(t) for t in sys.argv[5].split(",")]
assert hg.__file__.startswith(sys.argv[1]), hg.__file__

def best(fn, reset, reps):
    fn()
    t = float("inf")
    for _ in range(reps):
        reset()
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t

out = {}
be = hg.CpuBackend()
for k in K.KERNELS:
    size = min(n, k.max_n)
    try:
        prog = k.source if "{" in k.source else hg.assemble(k.source)   # templates: by size
        case = k.setup(prog, size, np.random.default_rng(0), be)
        row = {"numpy": best(case.numpy, lambda: None, reps)}
        for t in threads:
            row[f"t{t}"] = best(lambda: case.launch(be, t), case.reset, reps)
        case.reset()
        case.launch(be, threads[0])
        case.check()
    except Exception as e:           # the old build may lack what a kernel needs
        row = {"error": f"{type(e).__name__}: {e}"[:120]}
    out[k.name] = row
print(json.dumps(out))
"""


def run_tree(tree: Path, n: int, reps: int, threads: str) -> Dict[str, Dict[str, float]]:
    env = dict(os.environ, PYTHONPATH="")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(HERE), str(n), str(reps),
                           threads], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--n", type=int, default=1 << 20, help="elements per kernel (default 2^20)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5, help="repetitions per round (best kept)")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from machine import LoadMonitor, describe

    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    best: Dict[str, Dict[str, Dict[str, float]]] = {"old": {}, "new": {}}
    t0 = time.time()
    monitor = LoadMonitor()
    monitor.start()
    for _ in range(args.rounds):
        for which, tree in trees.items():
            for name, row in run_tree(tree, args.n, args.reps, args.threads).items():
                cur = best[which].setdefault(name, {})
                for col, v in row.items():
                    cur[col] = v if col == "error" else min(cur.get(col, v), v)
    load = monitor.stop()
    threads = [f"t{t}" for t in args.threads.split(",")]
    print(f"n = {args.n}, {args.rounds} rounds x {args.reps} reps, {time.time() - t0:.0f} s")
    print(describe(load))
    head = f"{'kernel':<16}" + "".join(
        f"{'old ' + t:>11}{'new ' + t:>11}{'new/old':>9}{'old/np':>8}{'new/np':>8}"
        for t in threads)
    print(head)
    for name, old in best["old"].items():
        new = best["new"].get(name, {})
        if "error" in old or "error" in new:
            print(f"{name:<16} skipped: {old.get('error') or new.get('error')}")
            continue
        line = f"{name:<16}"
        for t in threads:
            line += (f"{old[t] * 1e3:>9.3f}ms{new[t] * 1e3:>9.3f}ms{new[t] / old[t]:>9.2f}"
                     f"{old[t] / old['numpy']:>8.2f}{new[t] / new['numpy']:>8.2f}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

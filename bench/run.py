"""hologram benchmark harness.

    python bench/run.py             # n = 2^8 ... 2^22, every kernel
    python bench/run.py --quick     # a short run (fewer sizes, shorter timing)
    python bench/run.py --ops       # hologram.ops vs numpy at n = 2^20 (bench/ops.py)
    python bench/run.py --peers     # add numba prange peers (bench/peers.py) to the tables
    python bench/run.py --dask      # hologram.dask on LocalClusters (bench/dask_scaling.py)
    python bench/run.py --targets   # also check the project's performance targets
    python bench/run.py --kernels scan,bitonic,stencil,nbody   # the kernels ported from CUDA

For every kernel and size: the sequential run (num_threads=1), the parallel run (all threads),
the numpy equivalent and, with --peers, the same computation as a numba prange loop on the
parallel thread count, measured in the same process: warm-up, then the median of repeated
launches on pre-allocated inputs. Every output is checked against numpy once per size, outside
the timed loop. Prints the machine (CPU, threads, load before and after: a busy machine makes
timings meaningless, and the run says so), tables, writes results JSON and a PNG plot.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import hologram as hg  # noqa: E402
import peers  # noqa: E402
from hologram import vm  # noqa: E402
from kernels import KERNELS  # noqa: E402
from machine import LoadMonitor, cpu_name, describe  # noqa: E402


def timeit(fn: Callable[[], object], budget: float, min_reps: int = 5, max_reps: int = 2000) -> float:
    """Median seconds per call: two warm-up calls, then repeat until `budget` seconds pass."""
    fn()
    fn()
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < budget and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.2f} µs"
    if s < 1:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.2f} s "


def prepare_cost(source: str) -> Dict[str, float]:
    """One-time cost of assemble + validate (assemble() validates) and of lowering."""
    t_asm = timeit(lambda: hg.assemble(source), 0.05, max_reps=200)
    progs = [hg.assemble(source) for _ in range(20)]
    t0 = time.perf_counter()
    for p in progs:
        vm.lower(p)
    return {"assemble_validate_s": t_asm, "lower_s": (time.perf_counter() - t0) / len(progs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run: fewer sizes, less timing")
    ap.add_argument("--min-exp", type=int, default=8, help="smallest size 2^k (default 8; "
                    "kernels with sizes of their own, n-body's bodies, ignore the sweep)")
    ap.add_argument("--max-exp", type=int, default=22, help="largest size 2^k (default 22)")
    ap.add_argument("--step", type=int, default=1, help="exponent step (default 1)")
    ap.add_argument("--kernels", default="", help="comma-separated kernel names (default all); "
                    "with --ops, op names")
    ap.add_argument("--ops", action="store_true",
                    help="time hologram.ops against numpy (n = 2^20, gemm 512x512) instead of "
                         "the kernels")
    ap.add_argument("--dask", action="store_true",
                    help="hologram.dask scaling: no dask vs LocalClusters of 1 and 2 workers, "
                         "chunk-size sweep, task overhead (bench/dask_scaling.py; --quick: "
                         "2^22 elements instead of 2^25)")
    ap.add_argument("--peers", action="store_true",
                    help="time numba prange peers (bench/peers.py) next to hologram and numpy")
    ap.add_argument("--targets", action="store_true",
                    help="check the project's performance targets after the tables")
    ap.add_argument("--threads", type=int, default=None, help="parallel thread count (default all)")
    ap.add_argument("--budget", type=float, default=None, help="seconds per measurement")
    ap.add_argument("--out", default=str(HERE / "results"), help="output folder for JSON and PNG")
    args = ap.parse_args(argv)

    if args.quick:
        args.step = max(args.step, 2)
        args.max_exp = min(args.max_exp, 20)
    budget = args.budget if args.budget is not None else (0.05 if args.quick else 0.25)
    sizes = [1 << k for k in range(args.min_exp, args.max_exp + 1, args.step)]
    chosen = [k for k in KERNELS if not args.kernels or k.name in args.kernels.split(",")]
    threads = hg.effective_num_threads(args.threads)
    if args.peers and not peers.available():
        print("--peers: numba is not installed (pip install numba); no numba column",
              file=sys.stderr)
        args.peers = False
    if args.peers:
        peer_threads = peers.set_threads(threads)
        if peer_threads != threads:
            print(f"numba runs {peer_threads} threads (its maximum), hologram {threads}",
                  file=sys.stderr)
    monitor = LoadMonitor()
    header = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads,
        "openmp": hg.openmp_enabled(), "hologram": hg.__version__, "numpy": np.__version__,
        "numba": peers.version() if args.peers else None,
        "python": platform.python_version(), "load": monitor.start(),
    }
    load = header["load"]["loadavg"]
    print(f"hologram {hg.__version__} benchmark — {header['date']}")
    print(f"CPU: {header['cpu']} ({header['cores']} cores); parallel = {threads} threads; "
          f"OpenMP {'on' if header['openmp'] else 'off'}; numpy {np.__version__}"
          + (f"; numba {header['numba']}" if args.peers else ""))
    print("load average before the run: " +
          ("n/a" if load is None else "/".join(f"{x:.2f}" for x in load)))

    if args.ops:
        return main_ops(args, header, budget, threads, monitor)
    if args.dask:
        import dask_scaling
        return dask_scaling.run(args, header, monitor, fmt_time)

    rng = np.random.default_rng(12345)
    be = hg.CpuBackend()
    results: Dict[str, Dict] = {}
    total = sum(len(k.sizes_for(sizes, args.quick)) for k in chosen)
    done = 0
    for kern in chosen:
        prep = prepare_cost(kern.source.format(a=1, b=2, c=3, count=1) if "{a}" in kern.source
                            else kern.source)
        prog = None if "{a}" in kern.source else hg.assemble(kern.source)
        rows = []
        for n in kern.sizes_for(sizes, args.quick):
            done += 1
            print(f"  [{done}/{total}] {kern.name} n={n} ...", file=sys.stderr, flush=True)
            case = kern.setup(prog if prog is not None else kern.source, n, rng, be)
            case.check()
            case.reset()
            seq = timeit(lambda: case.launch(be, 1), budget)
            par = timeit(lambda: case.launch(be, threads), budget)
            ref = timeit(case.numpy, budget)
            row = {"n": n, "sequential_s": seq, "parallel_s": par, "numpy_s": ref}
            if args.peers and case.peer is not None:
                case.peer_check()
                row["numba_s"] = timeit(case.peer, budget)
            rows.append(row)
        results[kern.name] = {"title": kern.title, "prepare": prep, "rows": rows,
                              "instructions_per_lane": kern.instructions_per_lane,
                              "unit": kern.unit}
        print_table(kern.name, kern.title, prep, rows, kern.pairs)

    overhead = launch_overhead(be, threads, budget)
    print(f"\nlaunch overhead, vector_add n=256: execute_program {overhead['execute_s'] * 1e6:.2f} µs "
          f"(binds parameters every call), prepared launch {overhead['prepared_s'] * 1e6:.2f} µs, "
          f"numpy {overhead['numpy_s'] * 1e6:.2f} µs")
    targets = check_targets(results) if args.targets else []
    if targets:
        print("\n## targets")
        for line in targets:
            print(line)
    header["load"] = monitor.stop()
    print("\n" + describe(header["load"]))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(
        {"machine": header, "kernels": results, "launch_overhead": overhead, "targets": targets},
        indent=1))
    plot(results, header, out / "bench.png")
    print(f"wrote {out / 'results.json'} and {out / 'bench.png'}")
    return 0


def main_ops(args, header: Dict, budget: float, threads: int, monitor: LoadMonitor) -> int:
    """The ops table (bench/ops.py): each op sequential and parallel against numpy (and numba
    with --peers)."""
    from ops import print_ops_table, run_ops
    names = [k for k in args.kernels.split(",") if k]
    rows = run_ops(timeit, budget, threads, names, with_peers=args.peers)
    print_ops_table(rows, fmt_time, threads)
    header["load"] = monitor.stop()
    print("\n" + describe(header["load"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ops.json").write_text(json.dumps({"machine": header, "ops": rows}, indent=1))
    print(f"wrote {out / 'ops.json'}")
    return 0


def launch_overhead(be, threads: int, budget: float) -> Dict[str, float]:
    """vector_add at n=256 through execute_program, through a prepared launch, and numpy."""
    from kernels import VECTOR_ADD
    prog = hg.assemble(VECTOR_ADD)
    n = 256
    a = np.ones(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.zeros(n, np.float32)
    params = {"r1": a, "r2": b, "r3": c, "r4": ("u64", n)}
    cfg = hg.LaunchConfig(1, 256)
    k = be.prepare(prog, cfg, params, num_threads=threads)
    return {"execute_s": timeit(lambda: be.execute_program(prog, cfg, params, num_threads=threads), budget),
            "prepared_s": timeit(k, budget),
            "numpy_s": timeit(lambda: np.add(a, b, out=c), budget)}


# The original Rust implementation's figures for its single-lane LOOP vector_add (sequential).
ORIGINAL_LOOP_S = {256: 189e-6, 1024: 1.10e-3, 4096: 9.8e-3, 16384: 501e-3}


def check_targets(results: Dict[str, Dict]) -> List[str]:
    """The performance targets of the project, each with the measured figure."""
    out: List[str] = []

    def rows(name):
        return {r["n"]: r for r in results.get(name, {}).get("rows", [])}

    va = rows("vector_add")
    for n, limit in ((256, 3e-6), (1024, 3e-6), (16384, 15e-6)):
        if n in va:
            t = va[n]["parallel_s"]
            out.append(f"vector_add n={n}: {t * 1e6:.2f} µs (target <= {limit * 1e6:.0f} µs) "
                       f"{'MET' if t <= limit else 'not met'}")
    big = [r for n, r in va.items() if n >= 262144]
    if big:
        worst = max(r["parallel_s"] / r["numpy_s"] for r in big)
        out.append(f"vector_add n>=262144: worst ratio to numpy {worst:.2f}x (target <= 2x) "
                   f"{'MET' if worst <= 2 else 'not met'}")
    ch = results.get("chain")
    if ch and ch["rows"]:
        r = ch["rows"][-1]
        ns = r["sequential_s"] / (r["n"] * ch["instructions_per_lane"]) * 1e9
        out.append(f"chain, one thread: {ns:.2f} ns per lane-instruction at n={r['n']} "
                   f"(target <= 1) {'MET' if ns <= 1 else 'not met'}")
    for name in ("chain", "mandel"):
        big = [r for n, r in rows(name).items() if n >= 65536]
        if big:
            worst = min(r["sequential_s"] / r["parallel_s"] for r in big)
            out.append(f"{name}: lowest parallel speedup for n>=65536 {worst:.2f}x (target >= 1.8x) "
                       f"{'MET' if worst >= 1.8 else 'not met'}")
    worst, where = 0.0, ""
    for name, data in results.items():
        for r in data["rows"]:
            ratio = r["parallel_s"] / r["sequential_s"]
            if ratio > worst:
                worst, where = ratio, f"{name} n={r['n']}"
    if where:
        out.append(f"parallel vs sequential: worst {worst:.2f}x slower ({where}) (target <= 1.10x) "
                   f"{'MET' if worst <= 1.10 else 'not met'}")
    # issue 14's targets for the four ported kernels: the parallel run against numpy at the
    # largest size measured
    for name, limit, what in (("stencil", 1.0, "numpy (slicing)"),
                              ("nbody", 1.0, "numpy (all-pairs formula)"),
                              ("scan", 3.0, "np.cumsum"), ("bitonic", 20.0, "np.sort per segment")):
        rs = rows(name)
        if rs:
            r = rs[max(rs)]
            ratio = r["parallel_s"] / r["numpy_s"]
            out.append(f"{name} n={r['n']}: {ratio:.2f}x {what} (target <= {limit:g}x) "
                       f"{'MET' if ratio <= limit else 'not met'}")
    lp = rows("vector_add_loop")
    for n, orig in ORIGINAL_LOOP_S.items():
        if n in lp:
            t = min(lp[n]["sequential_s"], lp[n]["parallel_s"])
            out.append(f"LOOP program n={n}: {t * 1e6:.1f} µs, {orig / t:.0f}x faster than the "
                       f"original's {orig * 1e6:.0f} µs (target >= 10x) {'MET' if orig / t >= 10 else 'not met'}")
    return out


def print_table(name: str, title: str, prep: Dict[str, float], rows: List[Dict],
                pairs: bool = False) -> None:
    """One kernel's table; the rate column counts n elements per run, or n^2 pairs."""
    print(f"\n## {name}: {title}")
    print(f"one-time: assemble + validate {prep['assemble_validate_s'] * 1e6:.1f} µs, "
          f"lower {prep['lower_s'] * 1e6:.1f} µs")
    peers_col = any("numba_s" in r for r in rows)
    extra = f" | {'numba':>11} | {'par/numba':>9}" if peers_col else ""
    print(f"{'size':>9} | {'sequential':>11} | {'parallel':>11} | {'speedup':>7} | "
          f"{'Mpair/s' if pairs else 'Melem/s':>8} | {'numpy':>11} | {'par/numpy':>9}{extra}")
    print("-" * (84 + len(extra)))
    for r in rows:
        n, seq, par, ref = r["n"], r["sequential_s"], r["parallel_s"], r["numpy_s"]
        line = (f"{n:>9} | {fmt_time(seq)} | {fmt_time(par)} | {seq / par:6.2f}x | "
                f"{(n * n if pairs else n) / min(seq, par) / 1e6:8.1f} | {fmt_time(ref)} | "
                f"{par / ref:8.2f}x")
        if "numba_s" in r:
            line += f" | {fmt_time(r['numba_s'])} | {par / r['numba_s']:8.2f}x"
        print(line)


def plot(results: Dict[str, Dict], header: Dict, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.ticker
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    names = list(results)
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        data = results[name]["rows"]
        n = [r["n"] for r in data]
        ax.loglog(n, [r["sequential_s"] for r in data], "o-", label="sequential")
        ax.loglog(n, [r["parallel_s"] for r in data], "s-", label=f"parallel ({header['threads']} thr)")
        ax.loglog(n, [r["numpy_s"] for r in data], "^--", label="numpy")
        if all("numba_s" in r for r in data):
            ax.loglog(n, [r["numba_s"] for r in data], "d:", label="numba prange")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"n ({results[name].get('unit', 'elements')})")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylabel("seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"hologram {header['hologram']} — {header['cpu']}, {header['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())

"""hologram.ops against numpy: one table row per op (``python bench/run.py --ops``).

Each op runs on float32 inputs of n = 2^20 elements (gemm: 512 x 512 by 512 x 512; matvec:
1024 x 1024; softmax: 1024 rows of 1024), as a prepared call (``hologram.ops.prepare``: the
launches are bound once, as a steady-state caller would), sequential (num_threads=1) and
parallel, against the numpy expression computing the same thing. Every result is checked
against numpy once, outside the timed loop. Timing helpers are bench/run.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from hologram import ops

N = 1 << 20
GEMM_N = 512


@dataclass
class OpCase:
    name: str
    args: Tuple[Any, ...]
    numpy: Callable[[], Any]
    size: str
    rtol: float = 1e-5


def peer_call(case: OpCase) -> Optional[Callable[[], Any]]:
    """The numba peer of an op (bench/peers.py) on the case's inputs, returning its result;
    None without numba."""
    import peers
    if not peers.available():
        return None
    fn = peers.peer(case.name)
    f = np.float32
    x = case.args[0]
    if case.name in ("sum", "min", "max", "mean"):
        return lambda: fn(x)
    if case.name in ("mse", "cross_entropy", "binary_cross_entropy"):
        return lambda: fn(*case.args)
    if case.name == "fill":
        out = np.empty_like(x)
        v = f(case.args[1])
        return lambda: (fn(out, v), out)[1]
    if case.name == "gemm":
        out = np.empty((x.shape[0], case.args[1].shape[1]), f)
    elif case.name == "matvec":
        out = np.empty(x.shape[0], f)
    elif case.name == "gather":
        out = np.empty(case.args[1].shape, f)
    else:
        out = np.empty_like(x)
    extra = tuple(f(a) if isinstance(a, float) else a for a in case.args[1:])
    return lambda: (fn(x, *extra, out), out)[1]


def cases(rng: np.random.Generator, n: int = N, gemm_n: int = GEMM_N) -> List[OpCase]:
    """The benchmarked calls and their numpy equivalents (float32)."""
    f = np.float32
    a = rng.standard_normal(n).astype(f)
    b = rng.standard_normal(n).astype(f)
    pos = (np.abs(b) + 0.5).astype(f)
    p = rng.uniform(0.01, 0.99, n).astype(f)
    t = (rng.random(n) < 0.5).astype(f)
    side = int(np.sqrt(n))
    rows = a.reshape(side, -1)
    onehot = np.zeros((n // 16, 16), f)
    onehot[np.arange(n // 16), rng.integers(0, 16, n // 16)] = 1
    probs = rng.uniform(0.01, 1, (n // 16, 16)).astype(f)
    ga = rng.standard_normal((gemm_n, gemm_n)).astype(f)
    gb = rng.standard_normal((gemm_n, gemm_n)).astype(f)
    vec = rng.standard_normal(side).astype(f)
    idx = rng.integers(0, n, n).astype(np.int32)
    half, three = f(0.5), f(3.0)
    s = np.sqrt(f(2 / np.pi))

    def softmax_np():
        e = np.exp(rows - rows.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    return [
        OpCase("vector_add", (a, b), lambda: a + b, f"{n:,}"),
        OpCase("vector_sub", (a, b), lambda: a - b, f"{n:,}"),
        OpCase("vector_mul", (a, b), lambda: a * b, f"{n:,}"),
        OpCase("vector_div", (a, pos), lambda: a / pos, f"{n:,}"),
        OpCase("minimum", (a, b), lambda: np.fmin(a, b), f"{n:,}"),
        OpCase("maximum", (a, b), lambda: np.fmax(a, b), f"{n:,}"),
        OpCase("abs", (a,), lambda: np.abs(a), f"{n:,}"),
        OpCase("neg", (a,), lambda: -a, f"{n:,}"),
        OpCase("relu", (a,), lambda: np.maximum(a, f(0)), f"{n:,}"),
        OpCase("clip", (a, -1.0, 1.0), lambda: np.clip(a, f(-1), f(1)), f"{n:,}"),
        OpCase("scalar_add", (a, 3.0), lambda: a + three, f"{n:,}"),
        OpCase("scalar_mul", (a, 3.0), lambda: a * three, f"{n:,}"),
        OpCase("sigmoid", (a,), lambda: 1 / (1 + np.exp(-a)), f"{n:,}"),
        OpCase("tanh", (a,), lambda: np.tanh(a), f"{n:,}"),
        OpCase("gelu", (a,), lambda: half * a * (1 + np.tanh(s * (a + f(0.044715) * a * a * a))),
               f"{n:,}", 1e-4),
        OpCase("softmax", (rows,), softmax_np, f"{rows.shape[0]}x{rows.shape[1]}"),
        OpCase("sum", (a,), lambda: a.sum(), f"{n:,}", 1e-3),
        OpCase("min", (a,), lambda: a.min(), f"{n:,}"),
        OpCase("max", (a,), lambda: a.max(), f"{n:,}"),
        OpCase("mean", (a,), lambda: a.mean(), f"{n:,}", 1e-3),
        OpCase("gemm", (ga, gb), lambda: ga @ gb, f"{gemm_n}x{gemm_n}", 1e-3),
        OpCase("matvec", (rows, vec), lambda: rows @ vec, f"{side}x{side}", 1e-3),
        OpCase("mse", (a, b), lambda: np.mean((a - b) ** 2), f"{n:,}", 1e-4),
        OpCase("cross_entropy", (probs, onehot),
               lambda: -(onehot * np.log(probs)).sum() / probs.shape[0], f"{n:,}", 1e-4),
        OpCase("binary_cross_entropy", (p, t),
               lambda: -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)), f"{n:,}", 1e-4),
        OpCase("copy", (a,), lambda: a.copy(), f"{n:,}"),
        OpCase("fill", (np.empty(n, f), 1.5), lambda: np.full(n, 1.5, f), f"{n:,}"),
        OpCase("gather", (a, idx), lambda: np.take(a, idx), f"{n:,}"),
    ]


def run_ops(timeit: Callable[..., float], budget: float, threads: int,
            names: Optional[List[str]] = None, rng: Optional[np.random.Generator] = None,
            n: int = N, gemm_n: int = GEMM_N, with_peers: bool = False) -> List[Dict[str, Any]]:
    """Time every op (sequential, parallel), numpy and (``with_peers``) its numba peer on
    ``threads`` threads; returns one dict per op."""
    import sys
    rng = rng or np.random.default_rng(12345)
    rows = []
    for case in cases(rng, n, gemm_n):
        if names and case.name not in names:
            continue
        print(f"  ops: {case.name} ...", file=sys.stderr, flush=True)
        seq = ops.prepare(case.name, *case.args, num_threads=1)
        par = ops.prepare(case.name, *case.args, num_threads=threads)
        got = np.asarray(par(), np.float64)
        want = np.asarray(case.numpy(), np.float64)
        np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.rtol)
        row = {"op": case.name, "size": case.size,
               "sequential_s": timeit(seq, budget), "parallel_s": timeit(par, budget),
               "numpy_s": timeit(case.numpy, budget)}
        peer = peer_call(case) if with_peers else None
        if peer is not None:
            got = np.asarray(peer(), np.float64)
            np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.rtol)
            row["numba_s"] = timeit(peer, budget)
        rows.append(row)
    return rows


def print_ops_table(rows: List[Dict[str, Any]], fmt_time: Callable[[float], str],
                    threads: int) -> None:
    peers = any("numba_s" in r for r in rows)
    print(f"\n## hologram.ops vs numpy{' and numba' if peers else ''} "
          f"(float32; parallel = {threads} threads)")
    extra = f" | {'numba':>11} | {'par/numba':>9}" if peers else ""
    print(f"{'op':>21} | {'size':>9} | {'sequential':>11} | {'parallel':>11} | "
          f"{'numpy':>11} | {'seq/numpy':>9} | {'par/numpy':>9}{extra}")
    print("-" * (100 + len(extra)))
    for r in rows:
        seq, par, ref = r["sequential_s"], r["parallel_s"], r["numpy_s"]
        line = (f"{r['op']:>21} | {r['size']:>9} | {fmt_time(seq)} | {fmt_time(par)} | "
                f"{fmt_time(ref)} | {seq / ref:8.1f}x | {par / ref:8.1f}x")
        if "numba_s" in r:
            line += f" | {fmt_time(r['numba_s'])} | {par / r['numba_s']:8.2f}x"
        print(line)

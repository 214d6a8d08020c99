"""Matrix products: gemm (tiled, shared memory + bar.sync) and matvec (block reductions)."""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from ..backend import CpuBackend, LaunchConfig
from . import _build as B
from ._build import FLOAT, Plan, Step
from .reductions import reduce_steps, split, tree_flags, tree_sizes

__all__ = ["gemm", "matvec"]

TILE = 64          # C tile per block (16 x 16 lanes, 4 x 4 outputs each)


def plan_gemm(a: Any, b: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan ``a @ b`` for 2-D float arrays: one launch of gemm.hasm on a 2-D grid of 64x64
    tiles of C."""
    a = B.as_input(a, "gemm", "a")
    b = B.as_input(b, "gemm", "b")
    B.same_dtype("gemm", a=a, b=b)
    t = B.type_of(a, FLOAT, "gemm", "a")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm: expected 2-D arrays, got {a.ndim}-D and {b.ndim}-D")
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise ValueError(f"gemm: inner dimensions differ: a is {a.shape}, b is {b.shape}")
    res = B.output(out, (m, n), a.dtype, "gemm", (a, b))
    c = B.compute_type(t)
    prog = B.program("gemm", T=t.text, C=c.text, SHARED=TILE * TILE * c.size, C1=c.size,
                     C2=2 * c.size, C3=3 * c.size)
    cfg = LaunchConfig(grid=(-(-n // TILE), -(-m // TILE)), block=(16, 16))
    step = Step(prog, cfg, {"r1": a, "r2": b, "r3": res, "r4": ("u64", m), "r5": ("u64", n),
                            "r6": ("u64", k)})
    return Plan([step], lambda: res)


def plan_matvec(a: Any, x: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan ``a @ x`` for a 2-D ``a`` and 1-D ``x``: matvec.hasm, plus a reduce.hasm pass when
    a row is split over several blocks."""
    a = B.as_input(a, "matvec", "a")
    x = B.as_input(x, "matvec", "x")
    B.same_dtype("matvec", a=a, x=x)
    t = B.type_of(a, FLOAT, "matvec", "a")
    if a.ndim != 2 or x.ndim != 1:
        raise ValueError(f"matvec: expected a 2-D matrix and a 1-D vector, got {a.ndim}-D "
                         f"and {x.ndim}-D")
    rows, ncols = a.shape
    if x.shape[0] != ncols:
        raise ValueError(f"matvec: a is {a.shape} but x has {x.shape[0]} elements")
    res = B.output(out, (rows,), a.dtype, "matvec", (a, x))
    c = B.compute_type(t)
    lanes, g = split(ncols)
    keep: List[Any] = []
    dst, o = res, t
    if g > 1:
        dst, o = np.empty(rows * g, np.dtype(c.numpy)), c
        keep.append(dst)
    prog = B.program("matvec", tree_flags(lanes), T=t.text, C=c.text, O=o.text,
                     **tree_sizes(lanes, c))
    steps = [Step(prog, LaunchConfig(grid=(g, rows), block=lanes),
                  {"r1": a, "r2": x, "r3": dst, "r4": ("u64", ncols)})]
    if g > 1:
        steps += reduce_steps("add", dst, c, rows, g, c, t, res, keep)
    return Plan(steps, lambda: res, keep)


def gemm(a: Any, b: Any, out: Optional[np.ndarray] = None, *,
         backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> np.ndarray:
    """Matrix product ``a @ b`` of 2-D float arrays (M x K by K x N): a tiled kernel on a 2-D
    grid (64 x 64 tiles of C per 16 x 16-lane block, 4 x 4 outputs per lane) that stages
    16-wide slices of A and B in shared memory (bar.sync between phases) and accumulates with
    fma (in f32 for f16/bf16). ``out`` must not overlap the inputs."""
    return B.run(plan_gemm(a, b, out), backend, num_threads)


def matvec(a: Any, x: Any, out: Optional[np.ndarray] = None, *,
           backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
           ) -> np.ndarray:
    """Matrix-vector product ``a @ x`` (float dtypes): each row is a block reduction of
    ``a[i, j] * x[j]`` (fma, then a shared-memory tree), deterministic."""
    return B.run(plan_matvec(a, x, out), backend, num_threads)

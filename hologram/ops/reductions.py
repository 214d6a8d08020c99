"""Reductions (sum, min, max, mean) as block reductions in shared memory (reduce.hasm).

A reduction over ``ncols`` elements per row runs on ``g`` blocks of ``lanes`` lanes per row,
both depending only on ``ncols`` (:func:`split`: about 16 elements per lane, 32 to 256 lanes,
at most 64 blocks per row). Each block folds its share (strided per lane, then a tree: bar.sync
levels in shared memory down to one warp, then warp shuffles) into one partial; when ``g > 1``
a second launch folds the ``g`` partials of each row. No float atomics are used, so results
are deterministic: the same bits for every thread count and every run.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..backend import CpuBackend, LaunchConfig
from ..isa import WARP_SIZE, DType
from . import _build as B
from ._build import ALL, FLOAT, Plan, Step

__all__ = ["sum", "min", "max", "mean"]

MAX_SPLIT = 64
PER_LANE = 16


def split(ncols: int) -> Tuple[int, int]:
    """(lanes per block, blocks per row) of the first pass, a function of the row length only
    (so results are deterministic): about PER_LANE elements per lane, since the shared-memory
    tree costs as much as a few dozen elements; short rows get narrower blocks."""
    lanes = 32
    while lanes < 256 and lanes * PER_LANE < ncols:
        lanes *= 2
    return lanes, int(np.clip(-(-ncols // (lanes * PER_LANE)), 1, MAX_SPLIT))


def tree_flags(lanes: int) -> Tuple[str, ...]:
    """Template flags of a block tree over ``lanes`` lanes (reduce.hasm, matvec.hasm): the
    levels above the last five (which warp 0 does with shuffles) use shared memory."""
    return ("tree",) if lanes > WARP_SIZE else ()


def tree_sizes(lanes: int, c: DType) -> Dict[str, int]:
    """``BLOCK``, ``HALF`` and ``SHARED`` (one ``c`` per lane when the tree uses shared memory)
    of a block tree over ``lanes`` lanes."""
    return {"BLOCK": lanes, "HALF": lanes // 2,
            "SHARED": lanes * c.size if lanes > WARP_SIZE else 0}


def identity(op: str, t: DType) -> str:
    """``mov_imm`` literal of the identity of ``op`` in type ``t`` (NaN for float min/max)."""
    if op == "add":
        return "0"
    if t.is_float:
        return "nan"
    bits = t.bits
    if op == "min":
        return str((1 << (bits - 1)) - 1 if t.is_signed else (1 << bits) - 1)
    return str(-(1 << (bits - 1)) if t.is_signed else 0)


def reduce_steps(op: str, x: np.ndarray, t: DType, rows: int, ncols: int, c: DType, o: DType,
                 out: np.ndarray, keep: List[Any]) -> List[Step]:
    """Launches folding each row of ``x`` (rows x ncols, type t) with ``op`` into ``out``
    (rows elements of type o), accumulating in type c."""
    lanes, g = split(ncols)

    def step(src, src_t, dst, dst_t, width, lanes, blocks):
        prog = B.program("reduce", tree_flags(lanes), OP=op, T=src_t.text, C=c.text,
                         O=dst_t.text, IDENT=identity(op, c), **tree_sizes(lanes, c))
        cfg = LaunchConfig(grid=(blocks, rows), block=lanes)
        return Step(prog, cfg, {"r1": src, "r2": dst, "r3": ("u64", width)})

    if g == 1:
        return [step(x, t, out, o, ncols, lanes, 1)]
    partial = np.empty(rows * g, np.dtype(c.numpy))
    keep.append(partial)
    return [step(x, t, partial, c, ncols, lanes, g),
            step(partial, c, out, o, g, split(g)[0], 1)]


def _layout(x: np.ndarray, axis: Optional[int], op: str) -> Tuple[int, int, Tuple[int, ...]]:
    """(rows, ncols, result shape) for axis None (everything) or the last axis."""
    if axis is None:
        return 1, x.size, ()
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be None or an int, got {axis!r}")
    if x.ndim == 0 or axis not in (-1, x.ndim - 1):
        raise ValueError(f"{op}: only axis=None or the last axis is supported "
                         f"(got axis={axis} for a {x.ndim}-d array)")
    ncols = x.shape[-1]
    return x.size // ncols if ncols else int(np.prod(x.shape[:-1])), ncols, x.shape[:-1]


def plan_reduce(op: str, name: str, x: Any, axis: Optional[int] = None,
                out: Optional[np.ndarray] = None, allowed=ALL) -> Plan:
    """Plan sum/min/max of ``x`` over everything (axis=None) or its last axis."""
    x = B.as_input(x, name, "x")
    t = B.type_of(x, allowed, name, "x")
    rows, ncols, shape = _layout(x, axis, name)
    if op != "add" and ncols == 0 and rows > 0:
        raise ValueError(f"{name}: zero-size reduction has no identity")
    res = B.output(out, shape, x.dtype, name, (x,))
    keep: List[Any] = []
    steps = reduce_steps(op, x, t, rows, ncols, B.compute_type(t), t, res, keep)
    return Plan(steps, _result(res, out, axis), keep)


def plan_mean(x: Any, axis: Optional[int] = None, out: Optional[np.ndarray] = None) -> Plan:
    """Plan mean: a sum reduction in the compute type, then scale.hasm divides by ncols."""
    x = B.as_input(x, "mean", "x")
    t = B.type_of(x, FLOAT, "mean", "x")
    rows, ncols, shape = _layout(x, axis, "mean")
    res = B.output(out, shape, x.dtype, "mean", (x,))
    c = B.compute_type(t)
    sums = np.empty(rows, np.dtype(c.numpy))
    keep: List[Any] = [sums]
    steps = reduce_steps("add", x, t, rows, ncols, c, c, sums, keep)
    steps.append(scale_step(sums, c, res, t, rows, float(ncols)))
    return Plan(steps, _result(res, out, axis), keep)


def scale_step(src: np.ndarray, c: DType, dst: np.ndarray, o: DType, n: int,
               divisor: float) -> Step:
    """dst[i] = src[i] / divisor (in c, rounded to o), for i < n: scale.hasm."""
    prog = B.program("scale", T=c.text, C=c.text, O=o.text)
    return Step(prog, B.linear(n), {"r1": src, "r3": dst, "r4": ("u64", n),
                                    "r5": (c.text, divisor)})


def _result(res: np.ndarray, out: Optional[np.ndarray], axis: Optional[int]):
    if out is None and res.ndim == 0:
        return lambda: res[()]          # a numpy scalar, like numpy's reductions
    return lambda: res


def sum(x: Any, axis: Optional[int] = None, out: Optional[np.ndarray] = None, *,
        backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> Any:
    """Sum of all elements (``axis=None``, a numpy scalar) or along the last axis (an array).

    All 12 dtypes; the result has x's dtype (integers wrap modulo 2^w, unlike numpy which
    widens small integers); f16/bf16 accumulate in f32 and round once. Empty input gives 0.
    ``out=``: an array of the result's shape (0-d for axis=None) and x's dtype.
    """
    return B.run(plan_reduce("add", "sum", x, axis, out), backend, num_threads)


def min(x: Any, axis: Optional[int] = None, out: Optional[np.ndarray] = None, *,
        backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> Any:
    """Minimum of all elements or along the last axis. All 12 dtypes. Floats: NaNs are
    ignored (like ``numpy.nanmin``: all-NaN gives NaN), -0 < +0. Empty input: ValueError."""
    return B.run(plan_reduce("min", "min", x, axis, out), backend, num_threads)


def max(x: Any, axis: Optional[int] = None, out: Optional[np.ndarray] = None, *,
        backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> Any:
    """Maximum of all elements or along the last axis; as :func:`min` (like ``numpy.nanmax``)."""
    return B.run(plan_reduce("max", "max", x, axis, out), backend, num_threads)


def mean(x: Any, axis: Optional[int] = None, out: Optional[np.ndarray] = None, *,
         backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> Any:
    """Arithmetic mean (float dtypes): the sum kernel, then a divide by the count in a second
    kernel (in f32 for f16/bf16, rounded once). Empty input gives NaN."""
    return B.run(plan_mean(x, axis, out), backend, num_threads)

"""copy, fill (and full) and gather."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from ..backend import CpuBackend
from ..errors import ExecutionError, OutOfBounds
from . import _build as B
from ._build import ALL, INT, Plan, Step
from .elementwise import plan_unary

__all__ = ["copy", "fill", "full", "gather"]


def plan_copy(x: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan a copy: unary.hasm with ``mov`` (bit-exact)."""
    return plan_unary("unary", "copy", x, out, OP="mov")


def plan_fill(out: np.ndarray, value: Any) -> Plan:
    """Plan fill.hasm: value bound as a typed parameter of out's dtype."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"fill: out must be a numpy array, got {type(out).__name__}")
    t = B.type_of(out, ALL, "fill", "out")
    out = B.output(out, out.shape, out.dtype, "fill")
    prog = B.program("fill", T=t.text)
    step = Step(prog, B.linear(out.size), {"r3": out, "r4": ("u64", out.size),
                                           "r5": B.scalar(t, value, "fill", "value")})
    return Plan([step], lambda: out)


def plan_gather(x: Any, indices: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan gather.hasm for x (flattened) and an integer index array of any shape."""
    x = B.as_input(x, "gather", "x")
    idx = B.as_input(indices, "gather", "indices")
    t = B.type_of(x, ALL, "gather", "x")
    i = B.type_of(idx, INT, "gather", "indices")
    res = B.output(out, idx.shape, x.dtype, "gather", (x, idx))
    prog = B.program("gather", T=t.text, I=i.text)
    step = Step(prog, B.linear(idx.size),
                {"r1": x, "r2": idx, "r3": res, "r4": ("u64", idx.size),
                 "r5": ("i64", x.size), "r6": ("u64", x.size)},
                on_fault=lambda e: _index_error(e, prog, x, idx))
    return Plan([step], lambda: res)


def _index_error(e: ExecutionError, prog, x: np.ndarray, idx: np.ndarray
                 ) -> Optional[BaseException]:
    """The deliberate fault at gather.hasm's @bad label -> IndexError."""
    if isinstance(e, OutOfBounds) and e.pc == prog.labels["bad"] + 1:
        pos = e.global_lane_id
        value = idx.reshape(-1)[pos]
        return IndexError(f"gather: index {value} at position {pos} is out of bounds for size "
                          f"{x.size}")
    return None


def copy(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
         num_threads: Optional[int] = None) -> np.ndarray:
    """A copy of ``x`` made by the VM (bit-exact, NaN payloads included). All 12 dtypes."""
    return B.run(plan_copy(x, out), backend, num_threads)


def fill(out: np.ndarray, value: Any, *, backend: Optional[CpuBackend] = None,
         num_threads: Optional[int] = None) -> np.ndarray:
    """Set every element of ``out`` (C-contiguous, writable) to ``value`` (converted to its
    dtype; integers must be integral and in range); returns ``out``. All 12 dtypes."""
    return B.run(plan_fill(out, value), backend, num_threads)


def full(shape: Union[int, Sequence[int]], value: Any, dtype: Any = np.float32, *,
         backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> np.ndarray:
    """A new array of ``shape`` and ``dtype`` filled with ``value`` by the VM (numpy.full)."""
    return fill(np.empty(shape, dtype), value, backend=backend, num_threads=num_threads)


def gather(x: Any, indices: Any, out: Optional[np.ndarray] = None, *,
           backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
           ) -> np.ndarray:
    """``x.ravel()[indices]`` (like ``numpy.take``): result of ``indices``' shape and x's dtype.
    x: any of the 12 dtypes; indices: any integer dtype; negative indices count from the end;
    an index outside ``[-x.size, x.size)`` raises IndexError (checked in the kernel)."""
    return B.run(plan_gather(x, indices, out), backend, num_threads)

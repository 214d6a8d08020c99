"""Shared machinery of :mod:`hologram.ops`: dtypes, argument checks, the program cache, plans.

An op is planned, then run. Planning checks the arguments, allocates outputs and temporaries
with numpy (numpy never computes a result) and lists the launches (*steps*) that compute the
result on the VM. :func:`run` launches the steps in order on a backend; :class:`Prepared` binds
them once (``CpuBackend.prepare``) to run again with the least overhead.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from .. import kernels
from ..backend import CpuBackend, LaunchConfig, default_backend
from ..errors import ExecutionError
from ..isa import DType
from ..program import Program
from ..text import assemble

BLOCK = 256

FLOAT: FrozenSet[DType] = frozenset({DType.F16, DType.BF16, DType.F32, DType.F64})
INT: FrozenSet[DType] = frozenset(t for t in DType if t.is_int)
ALL: FrozenSet[DType] = FLOAT | INT

_BY_NUMPY: Dict[np.dtype, DType] = {np.dtype(t.numpy): t for t in DType if t != DType.BF16}


def isa_type(dtype: np.dtype) -> Optional[DType]:
    """The ISA type of a numpy dtype (bfloat16 from ml_dtypes included), or None."""
    t = _BY_NUMPY.get(dtype)
    if t is None and dtype.name == "bfloat16":
        return DType.BF16
    return t


def compute_type(t: DType) -> DType:
    """Type in which kernels compute/accumulate: f32 for f16/bf16, else the type itself."""
    return DType.F32 if t in (DType.F16, DType.BF16) else t


def _names(types: FrozenSet[DType]) -> str:
    return ", ".join(t.text for t in sorted(types))


def as_input(x: Any, op: str, arg: str) -> np.ndarray:
    """``x`` as a C-contiguous numpy array (a copy only if it is not contiguous)."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as e:  # noqa: BLE001 - report any conversion failure as a TypeError
            raise TypeError(f"{op}: {arg} is not array-like: {e}") from None
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    return x


def type_of(x: np.ndarray, allowed: FrozenSet[DType], op: str, arg: str) -> DType:
    """The ISA type of ``x``'s dtype; TypeError if the op does not support it."""
    t = isa_type(x.dtype)
    if t is None or t not in allowed:
        raise TypeError(f"{op}: unsupported dtype {x.dtype} for {arg} "
                        f"(supported: {_names(allowed)})")
    return t


def same_dtype(op: str, **arrays: np.ndarray) -> None:
    """TypeError unless all arrays have one dtype (ops never convert silently)."""
    items = list(arrays.items())
    first_name, first = items[0]
    for name, a in items[1:]:
        if a.dtype != first.dtype:
            raise TypeError(f"{op}: dtype mismatch: {first_name} is {first.dtype}, "
                            f"{name} is {a.dtype}")


def output(out: Optional[np.ndarray], shape: Tuple[int, ...], dtype: np.dtype, op: str,
           inputs: Sequence[np.ndarray] = (), elementwise: bool = False) -> np.ndarray:
    """Allocate the result, or check the caller's ``out=`` array.

    ``out`` must be a numpy array of exactly ``shape`` and ``dtype`` (TypeError otherwise for
    the type/dtype, ValueError for the shape), C-contiguous and writable (ValueError). It may
    not overlap an input, except that element-wise ops may write in place (``out`` is exactly
    an input's memory).
    """
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: out must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{op}: out has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if out.shape != tuple(shape):
        raise ValueError(f"{op}: out has shape {out.shape}, expected {tuple(shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{op}: out is read-only")
    for x in inputs:
        if out.size and x.size and np.may_share_memory(out, x):
            same = (elementwise and x.ctypes.data == out.ctypes.data and x.nbytes == out.nbytes)
            if not same:
                raise ValueError(f"{op}: out overlaps an input"
                                 + (" (only exact in-place use is allowed)" if elementwise else ""))
    return out


def scalar(t: DType, value: Any, op: str, arg: str) -> Tuple[str, Any]:
    """A typed-scalar launch parameter of type ``t`` (ints must be integral and in range)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if t.is_int:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{op}: {arg} must be an integer for dtype {t.text}, got {value!r}")
        try:
            v = operator.index(value)
        except TypeError:
            raise TypeError(f"{op}: {arg} must be an integer for dtype {t.text}, "
                            f"got {value!r}") from None
        info = np.iinfo(t.numpy)
        lo, hi = int(info.min), int(info.max)
        if not lo <= v <= hi:
            raise ValueError(f"{op}: {arg} = {v} is out of range for {t.text}")
        return (t.text, v)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                   np.floating)):
        raise TypeError(f"{op}: {arg} must be a real number, got {value!r}")
    return (t.text, float(value))


@lru_cache(maxsize=None)
def program(name: str, flags: Tuple[str, ...] = (), **subs: Any) -> Program:
    """The assembled kernel ``name`` for these substitutions: built once, then cached."""
    return assemble(kernels.render(name, flags, **subs))


@lru_cache(maxsize=256)
def linear(n: int) -> LaunchConfig:
    """One lane per element, 256-lane blocks (configs are immutable: cached per size)."""
    return LaunchConfig.linear(n, BLOCK)


@dataclass
class Step:
    """One launch of a plan; ``on_fault`` may translate the VM's fault into another error."""
    program: Program
    config: LaunchConfig
    params: Dict[str, Any]
    on_fault: Optional[Callable[[ExecutionError], Optional[BaseException]]] = None

    @property
    def empty(self) -> bool:
        grid = self.config.grid or (1, 1, 1)
        return 0 in grid


@dataclass
class Plan:
    """The launches of one op call and how to produce its result afterwards."""
    steps: List[Step]
    result: Callable[[], Any]
    keep: List[Any] = field(default_factory=list)    # temporaries the steps write


def _launch(fn: Callable[[], Any], step: Step) -> None:
    try:
        fn()
    except ExecutionError as e:
        if step.on_fault is not None:
            err = step.on_fault(e)
            if err is not None:
                raise err from e
        raise


def run(plan: Plan, backend: Optional[CpuBackend] = None,
        num_threads: Optional[int] = None) -> Any:
    """Launch a plan's steps in order on ``backend`` (default: the process-wide VM backend)."""
    be = backend if backend is not None else default_backend()
    for step in plan.steps:
        if not step.empty:
            _launch(lambda: be.execute_program(step.program, step.config, step.params,
                                               num_threads=num_threads), step)
    return plan.result()


class Prepared:
    """An op call bound once with ``CpuBackend.prepare``: call it to run it again.

    The input arrays stay bound (each call sees their current contents) and every call writes
    the same output array, which the call returns (or the same scalar position, read anew).
    """

    def __init__(self, plan: Plan, backend: Optional[CpuBackend] = None,
                 num_threads: Optional[int] = None):
        be = backend if backend is not None else default_backend()
        self._plan = plan
        self._launches = [(be.prepare(s.program, s.config, s.params, num_threads=num_threads), s)
                          for s in plan.steps if not s.empty]

    def __call__(self) -> Any:
        for k, step in self._launches:
            _launch(k, step)
        return self._plan.result()

    def __repr__(self) -> str:
        names = ", ".join(s.program.name or "?" for _, s in self._launches)
        return f"<hologram.ops.Prepared [{names}]>"

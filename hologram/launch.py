"""A launch as data: what a backend hands its engine, and what comes back (ISA.md §7).

:class:`Launch` describes one bound launch (program, shapes, parameters, limits) and refers to
no backend: an engine gets the backend's host buffers as an argument of ``run(launch,
buffers)``. :class:`LaunchResult` is what a launch returns and :func:`raise_fault` turns an
engine's fault report into the exception of ISA.md §7.5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import faults
from .atlas import NUM_CLASSES
from .errors import LaunchConfigError
from .isa import DType
from .program import Program
from .window import WindowFault, WindowInfo, window_message

__all__ = ["Launch", "LaunchResult", "raise_fault", "lane_coords", "byte_view", "Shape3"]

Shape3 = Tuple[int, int, int]


class LaunchResult:
    """What a launch returns: the resonance accumulator (96 float64 sums of ``res.accum``) and
    the number of threads the launch was allowed; ``engine``: which engine ran it (``"vm"``
    the interpreter, ``"jit"`` compiled code, ``"reference"`` the reference interpreter)."""
    __slots__ = ("_resonance", "num_threads", "engine")

    def __init__(self, resonance: Optional[np.ndarray], num_threads: int, engine: str = "vm"):
        self._resonance = resonance          # None: all zeros, made on first access
        self.num_threads = num_threads
        self.engine = engine

    @property
    def resonance(self) -> np.ndarray:
        if self._resonance is None:
            self._resonance = np.zeros(NUM_CLASSES, np.float64)
        return self._resonance

    def __repr__(self) -> str:
        return (f"LaunchResult(num_threads={self.num_threads}, engine={self.engine!r}, "
                f"resonance={self.resonance!r})")


@dataclass(eq=False)
class Launch:
    """Everything an engine needs for one launch (built by the backend's ``_make_launch``).

    ``reg_init`` lists the parameter registers in ascending order as (register, type, value):
    integers as Python ints in the type's range, floats as bit patterns. ``bound`` lists the
    parameter buffers as (handle, object, address, nbytes) in ascending handle order, each
    8-byte aligned (an aligned copy where needed). The backend's host buffers are not part of
    a launch (they may change between runs of a prepared launch): engines receive them with
    each run.
    """
    program: Program
    grid: Shape3
    block: Shape3
    shared_memory: int
    reg_init: List[Tuple[int, DType, int]]
    bound: List[Tuple[int, Any, int, int]]
    pools: Any                # _core.PoolTable; pool 0 is the boundary pool
    max_steps: Optional[int]
    num_threads: int
    engine_state: Any = None  # what an engine caches between runs of a prepared launch
    timeout: Optional[float] = None   # seconds per run (None: no limit)
    # buffer exports (memoryviews) of directly bound parameters that are not numpy arrays:
    # while they exist, a bytearray / mmap / array.array cannot be resized or closed
    exports: Optional[List[memoryview]] = None
    # (start, stop): run only these linear blocks of the grid (ids stay those of the grid)
    block_range: Optional[Tuple[int, int]] = None
    # parameters bound as windows (hologram.window.BufferWindow), by handle
    windows: Optional[Dict[int, WindowInfo]] = None

    def release(self) -> None:
        """Drop the parameter exports (after the last run)."""
        for mv in self.exports or ():
            mv.release()
        self.exports = None

    @property
    def params(self) -> List[Tuple[int, int, int]]:
        """The bound parameters as (handle, address, nbytes), for the VM."""
        return [(h, addr, n) for h, _, addr, n in self.bound]


_FIELD_NAMES = re.compile(r":[^:]*:")


def _object_items(obj: Any) -> Optional[str]:
    """What makes the items of ``obj`` Python object references (numpy dtype object or a
    structured dtype with such a field, ctypes.py_object arrays, memoryviews of them), or
    None. Their bytes must never reach the VM: a kernel could read and overwrite the pointers,
    and Python would then crash."""
    if isinstance(obj, np.ndarray):
        return f"dtype {obj.dtype}"[:100] if obj.dtype.hasobject else None
    try:
        fmt = memoryview(obj).format
    except (TypeError, ValueError, BufferError):
        return None                      # not a buffer: the caller reports it
    # 'O' is the struct code of an object reference; field names (":name:") may hold any letter
    return f"buffer format {fmt!r}"[:100] if "O" in _FIELD_NAMES.sub("", fmt) else None


def refuse_objects(obj: Any, what: str) -> None:
    """LaunchConfigError if the items of ``obj`` are Python object references."""
    kind = _object_items(obj)
    if kind is not None:
        raise LaunchConfigError(f"{what}: {type(obj).__name__} with {kind} holds Python object "
                                f"references, which a kernel must not read or write; use a "
                                f"numeric dtype")


def byte_view(obj: Any, what: str, writable: bool) -> np.ndarray:
    """A uint8 view of a C-contiguous buffer-protocol object (zero-copy); LaunchConfigError
    if it is not one (or is read-only and ``writable`` is asked) or if its items are Python
    object references."""
    refuse_objects(obj, what)
    if isinstance(obj, np.ndarray):
        if not obj.flags.c_contiguous:
            raise LaunchConfigError(f"{what}: array is not C-contiguous")
        if writable and not obj.flags.writeable:
            raise LaunchConfigError(f"{what}: array is read-only")
        return obj.reshape(-1).view(np.uint8) if obj.size else np.zeros(0, np.uint8)
    try:
        mv = memoryview(obj)
    except TypeError:
        raise LaunchConfigError(f"{what}: expected an array or a bytes-like object, "
                                f"got {type(obj).__name__}") from None
    if not mv.c_contiguous:
        raise LaunchConfigError(f"{what}: buffer is not C-contiguous")
    if writable and mv.readonly:
        raise LaunchConfigError(f"{what}: buffer is read-only")
    if not mv.nbytes:
        return np.zeros(0, np.uint8)
    return np.frombuffer(mv.cast("B"), np.uint8)      # writable iff the object is


def lane_coords(gid: int, grid: Shape3, block: Shape3) -> Tuple[Shape3, Shape3]:
    """(block index, lane index) of a global lane id (ISA.md §7.2)."""
    per_block = block[0] * block[1] * block[2]
    b, l = divmod(gid, per_block)
    gx, gy = grid[0], grid[1]
    bidx = (b % gx, (b % (gx * gy)) // gx, b // (gx * gy))
    lidx = (l % block[0], (l // block[0]) % block[1], l // (block[0] * block[1]))
    return bidx, lidx


def raise_fault(program: Program, grid: Shape3, block: Shape3, fault: faults.Fault,
                windows: Optional[Dict[int, WindowInfo]] = None) -> None:
    """Raise the ExecutionError subclass for an engine's fault report (``windows``: the
    launch's window parameters, which out-of-bounds messages name)."""
    cls = faults.CLASSES[fault.code]
    assert cls is not None
    msg = faults.message(fault.code, fault.detail)
    if fault.code in (faults.INTERRUPTED, faults.TIMEOUT):
        raise cls(msg)
    where = None
    if fault.code == faults.OUT_OF_BOUNDS and windows and not fault.detail[4]:
        info = windows.get(fault.detail[0])
        if info is not None:
            off, n = fault.detail[1], fault.detail[2]
            msg = window_message(fault.detail[0], info, off, n)
            where = WindowFault(info.reg, info.base, info.end, info.size, off, n)
    bidx, lidx = lane_coords(fault.lane, grid, block)
    text = str(program.instructions[fault.pc]) if 0 <= fault.pc < len(program) else "<end>"
    err = cls(msg, block_idx=bidx, lane_idx=lidx, global_lane_id=fault.lane, pc=fault.pc,
              instruction=text)
    if where is not None:
        err.window = where          # type: ignore[attr-defined]
    raise err

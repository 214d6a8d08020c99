"""Backends: host memory, launch configuration, parameters and the launch path (ISA.md §7).

:class:`CpuBackend` owns host memory and runs launches on an *engine*: the Cython VM
(``engine="vm"``, :class:`hologram.vm.VmEngine`) or the pure-Python reference interpreter
(``engine="reference"``, :class:`hologram.reference.ReferenceEngine`). Both get the same
:class:`~hologram.launch.Launch` and the backend's host buffers, so the two differ only in the
engine; :class:`ReferenceBackend` is ``CpuBackend(engine="reference")``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core, atlas
from .errors import (AllocationFailed, BackendBusy, InvalidHandle, LaunchConfigError, NotCompilable,
                     OutOfBounds,
                     ProgramError)
from .floats import float_to_bits
from .isa import DType, ParamDecl
from .launch import Launch, LaunchResult, Shape3, raise_fault
from .launch import byte_view as _byte_view
from .launch import lane_coords  # noqa: F401  (re-exported)
from .launch import refuse_objects
from .program import Program
from .vm import VmEngine
from .window import BufferWindow, WindowInfo

__all__ = ["LaunchConfig", "LaunchResult", "CpuBackend", "ReferenceBackend", "launch",
           "effective_num_threads", "openmp_enabled", "BOUNDARY_POOL_BYTES", "CLASS_HANDLE_BASE",
           "MAX_THREADS", "DEFAULT_POOL_QUOTA"]

BOUNDARY_POOL_BYTES = atlas.BOUNDARY_BYTES
CLASS_BYTES = atlas.CLASS_BYTES
CLASS_HANDLE_BASE = atlas.CLASS_HANDLE_BASE
MAX_EXTENT = 2**31 - 1
MAX_BLOCK_LANES = 1024
MAX_SHARED = 2**26

ShapeArg = Union[int, Sequence[int], None]


def openmp_enabled() -> bool:
    """True if the VM was built with OpenMP (otherwise launches run serially)."""
    return bool(_core.openmp_enabled())


def effective_num_threads(num_threads: Optional[int] = None) -> int:
    """Resolve a ``num_threads`` argument (ISA.md §7.8).

    None: the OpenMP default, read now (honours OMP_NUM_THREADS and threadpoolctl limits),
    capped at the CPU count when OMP_NUM_THREADS is unset; n > 0: n; n < 0: max + 1 + n.
    At most :data:`MAX_THREADS`: a larger n raises LaunchConfigError (the default and negative
    n are capped). A build without OpenMP always runs one thread.
    """
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
            raise LaunchConfigError(f"num_threads must be an int or None, got {_show(num_threads)}")
        if num_threads == 0:
            raise LaunchConfigError("num_threads=0 is invalid (use None for the default, -1 "
                                    "for all)")
        if num_threads > MAX_THREADS:
            raise LaunchConfigError(f"num_threads={_show(num_threads)} is more than the maximum "
                                    f"of {MAX_THREADS} (hologram.backend.MAX_THREADS)")
    if not _core.openmp_enabled():
        return 1
    most = min(_core.max_threads(), MAX_THREADS)
    if num_threads is not None:
        n = int(num_threads)
        return n if n > 0 else max(1, most + 1 + n)
    if not _OMP_NUM_THREADS_SET:
        most = min(most, _CPUS)
    return max(1, most)


# Read once: os.cpu_count() costs microseconds per call, and the OpenMP runtime itself reads
# OMP_NUM_THREADS only when it starts.
_CPUS = (getattr(os, "process_cpu_count", None) or os.cpu_count)() or 1
_OMP_NUM_THREADS_SET = bool(os.environ.get("OMP_NUM_THREADS"))

# The most threads a launch may use: 4 per CPU of the machine, at least 64. More only slow a
# launch down, and OpenMP runtimes fail (or crash the process) when asked for tens of thousands.
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))


def _physical_memory() -> Optional[int]:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):     # no sysconf (Windows) or no such name
        return None


# The bytes the pools of one backend may hold by default (CpuBackend(pool_quota=...)): half of
# the machine's physical memory, 8 GiB where that cannot be read.
DEFAULT_POOL_QUOTA = (_physical_memory() or 2**34) // 2


def _show(value: Any) -> str:
    """repr() for error messages: safe for ints beyond Python's int-to-text limit, short."""
    try:
        text = repr(value)
    except Exception:            # noqa: BLE001 - e.g. an int of more than 4,300 digits
        bits = value.bit_length() if isinstance(value, int) else None
        return f"<an int of {bits} bits>" if bits is not None else f"<a {type(value).__name__}>"
    return text if len(text) <= 100 else text[:80] + "..." + text[-10:]


def _shape3(value: ShapeArg, what: str) -> Optional[Shape3]:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),)
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        raise LaunchConfigError(f"{what} must be an int or a tuple of 1-3 ints, got {_show(value)}")
    dims = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise LaunchConfigError(f"{what} extents must be ints, got {_show(value)}")
        dims.append(int(v))
    return tuple(dims + [1] * (3 - len(dims)))  # type: ignore[return-value]


@dataclass(frozen=True)
class LaunchConfig:
    """Grid and block shapes and the shared-memory size of a launch (ISA.md §7.1).

    Shapes are ints or 1-3 tuples (missing extents are 1). None fields take the defaults: grid
    (1, 1, 1); block from the program's ``.block``, else (1, 1, 1); shared memory from
    ``.shared``, else 0.
    """
    grid: Optional[Shape3] = None
    block: Optional[Shape3] = None
    shared_memory: Optional[int] = None

    def __init__(self, grid: ShapeArg = None, block: ShapeArg = None,
                 shared_memory: Optional[int] = None):
        object.__setattr__(self, "grid", _shape3(grid, "grid"))
        object.__setattr__(self, "block", _shape3(block, "block"))
        if shared_memory is not None and (isinstance(shared_memory, bool) or
                                          not isinstance(shared_memory, (int, np.integer))):
            raise LaunchConfigError(f"shared_memory must be an int, got {_show(shared_memory)}")
        object.__setattr__(self, "shared_memory",
                           None if shared_memory is None else int(shared_memory))

    @classmethod
    def linear(cls, total: int, block_size: int = 256, shared_memory: Optional[int] = None
               ) -> "LaunchConfig":
        """ceil(total / block_size) blocks of block_size lanes (kernels bounds-check)."""
        if block_size < 1:
            raise LaunchConfigError(f"block_size must be >= 1, got {_show(block_size)}")
        if total < 0:
            raise LaunchConfigError(f"total must be >= 0, got {_show(total)}")
        return cls(grid=(total + block_size - 1) // block_size, block=block_size,
                   shared_memory=shared_memory)

    def resolve(self, program: Optional[Program] = None) -> Tuple[Shape3, Shape3, int]:
        """Fill in defaults and check the limits; LaunchConfigError if violated."""
        grid = self.grid or (1, 1, 1)
        block = self.block or (program.block if program is not None and program.block else None) \
            or (1, 1, 1)
        shared = self.shared_memory
        if shared is None:
            shared = program.shared_memory if program is not None and \
                program.shared_memory is not None else 0
        for g in grid:
            if not 0 <= g <= MAX_EXTENT:
                raise LaunchConfigError(f"grid extents must be in [0, 2^31 - 1], got {_show(grid)}")
        for b in block:
            if not 1 <= b <= MAX_BLOCK_LANES:
                raise LaunchConfigError(f"block extents must be in [1, {MAX_BLOCK_LANES}], "
                                        f"got {_show(block)}")
        if block[0] * block[1] * block[2] > MAX_BLOCK_LANES:
            raise LaunchConfigError(f"a block has at most {MAX_BLOCK_LANES} lanes, got {block}")
        if not 0 <= shared <= MAX_SHARED:
            raise LaunchConfigError(f"shared_memory must be in [0, 2^26], got {_show(shared)}")
        total = grid[0] * grid[1] * grid[2] * block[0] * block[1] * block[2]
        if total >= 2**63:
            raise LaunchConfigError(f"a launch has fewer than 2^63 lanes, got {total}")
        return grid, block, shared


def _aligned_zeros(nbytes: int, phase: int = 0) -> np.ndarray:
    """Zero-filled uint8 array whose data address is ``phase`` mod 8 (8-byte aligned by
    default: atomics need natural alignment; a window at base b needs phase b mod 8)."""
    raw = np.zeros(nbytes + 8, np.uint8)
    off = (phase - raw.ctypes.data) % 8
    return raw[off:off + nbytes]


_REGISTER_KEYS: Dict[Any, int] = {}


def _param_register(key: Any) -> int:
    if type(key) is int or type(key) is str:      # exact types: 5.0 == 5 must not hit the cache
        reg = _REGISTER_KEYS.get(key)
        if reg is not None:
            return reg
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        reg = int(key)
    elif isinstance(key, str) and key[:1] in "rR" and key[1:].isascii() and key[1:].isdigit() \
            and len(key) <= 12:
        reg = int(key[1:])
    else:
        raise LaunchConfigError(f"parameter key must be a register ('r5' or 5) or a name the "
                                f"program declares with .param, got {_show(key)}")
    if not 0 <= reg <= 255:
        raise LaunchConfigError(f"parameter register {_show(key)} out of range (r0-r255)")
    if type(key) in (int, str) and len(_REGISTER_KEYS) < 4096:
        _REGISTER_KEYS[key] = reg
    return reg


_NUMPY_TYPES = {np.dtype(t.numpy): t for t in DType if t != DType.BF16}


def _scalar_dtype(value: np.generic) -> DType:
    if value.dtype.name == "bfloat16":
        return DType.BF16
    t = _NUMPY_TYPES.get(value.dtype)
    if t is None:
        raise LaunchConfigError(f"no ISA type for numpy scalar of dtype {value.dtype}")
    return t


def typed_scalar(ty: DType, value: Any, what: str = "scalar") -> int:
    """A typed scalar's register content: ints as Python ints, floats as bit patterns."""
    if ty.is_int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise LaunchConfigError(f"{what}: {ty.text} needs an integer, got {value!r}")
        v = int(value)
        lo, hi = (-(1 << (ty.bits - 1)), (1 << (ty.bits - 1)) - 1) if ty.is_signed else \
            (0, (1 << ty.bits) - 1)
        if not lo <= v <= hi:
            raise LaunchConfigError(f"{what}: {_show(v)} out of range for {ty.text}")
        return v
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                   np.floating)):
        raise LaunchConfigError(f"{what}: {ty.text} needs a number, got {_show(value)}")
    try:
        x = float(value)
    except OverflowError:            # an int beyond the f64 range (numpy refuses it too)
        raise LaunchConfigError(f"{what}: {_show(value)} out of range for {ty.text}") from None
    return float_to_bits(ty, x)


# Typed scalars already converted, by (type text, value, value's type, sign): only exact str
# types and int/float values are cached, and floats with their sign, because values that
# compare equal may differ in bits (-0.0 == 0.0).
_SCALARS: Dict[Tuple[Any, ...], Tuple[DType, int]] = {}


def _scalar_param(reg: int, value: Any) -> Tuple[int, DType, int]:
    what = f"parameter r{reg}"
    if isinstance(value, tuple):
        if len(value) != 2:
            raise LaunchConfigError(f"{what}: a typed scalar is (type, value), got {_show(value)}")
        key: Optional[Tuple[Any, ...]] = None
        t1 = type(value[1])
        if type(value[0]) is str and (t1 is int or t1 is float):
            key = (value[0], value[1], t1, math.copysign(1.0, value[1]) if t1 is float else 0)
            hit = _SCALARS.get(key)
            if hit is not None:
                return reg, hit[0], hit[1]
        try:
            ty = DType.parse(value[0])
        except (ProgramError, ValueError):     # ValueError: an int too long to print
            raise LaunchConfigError(f"{what}: unknown type {_show(value[0])}") from None
        v = typed_scalar(ty, value[1], what)
        if key is not None and len(_SCALARS) < 4096:
            _SCALARS[key] = (ty, v)
        return reg, ty, v
    ty = _scalar_dtype(value)
    if ty.is_float:
        bits = int(np.asarray(value).reshape(1).view(f"u{ty.size}")[0])
        return reg, ty, bits
    return reg, ty, int(value)


ENGINES = ("auto", "jit", "vm", "reference")
# engine policies that run on the VM engine object (the native tier shares its host table)
_VM_POLICIES = ("auto", "jit", "vm")
# "auto": a launch key whose interpreted launches took this long in total gets compiled in the
# background (docs/native-tier.md)
AUTO_COMPILE_SECONDS = 0.02


def default_engine() -> str:
    """The default engine policy: ``HOLOGRAM_ENGINE`` (auto, jit or vm) if set, else auto."""
    env = os.environ.get("HOLOGRAM_ENGINE", "").strip().lower()
    if not env:
        return "auto"
    if env not in _VM_POLICIES:
        raise ValueError(f"HOLOGRAM_ENGINE must be auto, jit or vm, got {env!r}")
    return env


def _check_engine(name: Any) -> str:
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {name!r}")
    return name


def _make_engine(name: str, pools: Any, boundary: np.ndarray) -> Any:
    """The engine called ``name``: an object with ``name``, ``run(launch, buffers)`` returning
    (resonance or None, fault or None) and ``buffers_changed()``."""
    if name in _VM_POLICIES:
        return VmEngine(pools, boundary)
    if name == "reference":
        # imported here (the VM path never needs the interpreter); a signal handler that makes
        # a reference backend while this thread imports the module meets it half-imported
        try:
            from .reference import ReferenceEngine
        except ImportError:
            raise BackendBusy("the reference interpreter is still being imported") from None
        return ReferenceEngine()
    raise ValueError(f"engine must be one of {ENGINES}, got {name!r}")


class _Typed(NamedTuple):
    """A declared scalar parameter converted to its register content (§12.6)."""
    ty: DType
    content: int


def _declared_params(decls: Tuple[ParamDecl, ...], params: Optional[Mapping[Any, Any]]
                     ) -> Dict[int, Any]:
    """ISA 1.1 §12.6: map ``params`` of a program with ``.param`` declarations to registers.

    Keys are registers or declared names; every declaration must be given and nothing else.
    Declared scalars come back converted (bare Python int / float with the rules of §7.3, or a
    numpy scalar / typed tuple of the declared type); declared buffers keep their object after
    their numpy dtype is checked.
    """
    if params is None:
        params = {}
    elif not isinstance(params, Mapping):
        raise LaunchConfigError(f"params must be a mapping, got {type(params).__name__}")
    by_reg = {d.reg: d for d in decls}
    by_name = {d.name: d for d in decls if d.name is not None}
    given: Dict[int, Any] = {}
    unknown = []
    for key, value in params.items():
        decl = by_name.get(key) if type(key) is str else None
        if decl is None:
            try:
                decl = by_reg.get(_param_register(key))
            except LaunchConfigError:
                decl = None
        if decl is None:
            unknown.append(repr(key))
        elif decl.reg in given:
            raise LaunchConfigError(f"parameter {decl.label} given twice in params")
        else:
            given[decl.reg] = _declared_value(decl, value)
    if unknown:
        raise LaunchConfigError(f"params {', '.join(unknown)} not declared by the program "
                                f"(declared: {', '.join(d.label for d in decls)})")
    missing = [d.label for d in decls if d.reg not in given]
    if missing:
        raise LaunchConfigError(f"missing parameter(s) {', '.join(missing)}")
    return given


def _declared_value(decl: ParamDecl, value: Any) -> Any:
    what = f"parameter {decl.label}"
    ty = decl.type
    is_scalar = isinstance(value, (tuple, int, float, np.generic))
    if decl.buffer:
        if is_scalar:
            raise LaunchConfigError(f"{what}: expected a buffer of {ty.text}, got "
                                    f"{type(value).__name__}")
        data = value.data if isinstance(value, BufferWindow) else value
        if isinstance(data, np.ndarray) and ty != DType.U8:      # u8[]: any bytes
            want = ("bfloat16", "uint16") if ty == DType.BF16 else (ty.numpy,)
            if data.dtype.name not in want or not data.dtype.isnative:
                raise LaunchConfigError(f"{what}: expected an array of {want[0]}, got "
                                        f"{data.dtype}")
        return value
    if not is_scalar:
        raise LaunchConfigError(f"{what}: expected a {ty.text} scalar, got "
                                f"{type(value).__name__}")
    if isinstance(value, tuple):
        try:
            same = len(value) == 2 and DType.parse(value[0]) == ty
        except ProgramError:
            same = False
        if not same:
            raise LaunchConfigError(f"{what}: expected a {ty.text} scalar, got {value!r}")
        value = value[1]
    elif isinstance(value, np.generic):
        if _scalar_dtype(value) != ty:
            raise LaunchConfigError(f"{what}: expected a {ty.text} scalar, got a numpy "
                                    f"{value.dtype} scalar")
        return _Typed(*_scalar_param(decl.reg, value)[1:])
    return _Typed(ty, typed_scalar(ty, value, what))          # bare int / float: §7.3 rules


class CpuBackend:
    """Owns global memory (buffers, the boundary pool, pools) and runs programs on an engine.

    ``num_threads``: the default thread count of this backend's launches (None: the OpenMP
    default, see :func:`effective_num_threads`). ``engine``: ``"vm"`` (the Cython VM) or
    ``"reference"`` (the pure-Python reference interpreter, slow; the oracle the VM is tested
    against), or the policy between the VM and the native tier (docs/native-tier.md):
    ``"auto"`` (compiled code when it is compiled already, the interpreter otherwise, compiling
    in the background once a launch's interpreted time says it pays), ``"jit"`` (compiled, or
    :class:`NotCompilable`); None: ``HOLOGRAM_ENGINE`` or ``"auto"`` (with ``jit`` from the
    environment, launches the compiler declines run on the VM). ``pool_quota``: the bytes its pools (from lanes and the host) may hold together,
    each counting its size + 128 (None: :data:`DEFAULT_POOL_QUOTA`, half the physical memory);
    an allocation beyond it fails with :class:`AllocationFailed`. Launches and host memory
    operations on one backend are serialized; separate backends are independent.
    """

    def __init__(self, num_threads: Optional[int] = None, *, engine: Optional[str] = None,
                 pool_quota: Optional[int] = None):
        if num_threads is not None:
            effective_num_threads(num_threads)          # validate early
        # (policy, strict): strict jit raises NotCompilable, the environment's falls back
        if engine is None:
            self._policy, self._strict = default_engine(), False
        else:
            self._policy, self._strict = _check_engine(engine), engine == "jit"
        engine = self._policy
        self.num_threads = num_threads
        self._lock = threading.RLock()
        self._next_handle = 1
        self._buffers: Dict[int, np.ndarray] = {}
        self.boundary = _aligned_zeros(BOUNDARY_POOL_BYTES)
        self._pools = _core.PoolTable(self.boundary, _quota(pool_quota))
        self._engine = _make_engine(engine, self._pools, self.boundary)
        # True while a launch runs. The lock serializes other threads, but the launching thread
        # itself may re-enter (a Python signal handler runs inside the VM's Ctrl-C check).
        self._busy = False

    @property
    def engine_name(self) -> str:
        """``"vm"`` or ``"reference"``: the engine object this backend runs launches on (the
        VM also runs the native tier's compiled code; see :attr:`engine_policy`)."""
        return str(self._engine.name)

    @property
    def engine_policy(self) -> str:
        """``"auto"``, ``"jit"``, ``"vm"`` or ``"reference"``: this backend's default engine."""
        return self._policy

    # ---- buffers

    def allocate_buffer(self, nbytes: int) -> int:
        """Allocate a zero-filled buffer of ``nbytes`` bytes; returns its handle (1, 2, ...)."""
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
            raise ValueError(f"nbytes must be an int >= 0, got {_show(nbytes)}")
        with self._lock:
            try:
                arr = _aligned_zeros(int(nbytes))
            except (MemoryError, ValueError, OverflowError):   # beyond numpy's size limit
                raise AllocationFailed(f"cannot allocate a buffer of {_show(nbytes)} bytes") \
                    from None
            h = self._new_handle()
            self._buffers[h] = arr
            self._engine.buffers_changed()
            return h

    def _new_handle(self) -> int:
        h = self._next_handle
        self._next_handle += 1
        return h

    def free_buffer(self, handle: int) -> None:
        """Free a buffer; InvalidHandle if unknown, already freed, 0 or a class handle."""
        with self._lock:
            if self._buffers.pop(_as_handle(handle), None) is None:
                raise InvalidHandle(f"invalid buffer handle: {handle}")
            self._engine.buffers_changed()

    def _buffer(self, handle: int) -> np.ndarray:
        h = _as_handle(handle)
        if h == 0:
            return self.boundary
        if h >= CLASS_HANDLE_BASE:
            c = h - CLASS_HANDLE_BASE
            return self.boundary[c * CLASS_BYTES:(c + 1) * CLASS_BYTES]
        arr = self._buffers.get(h)
        if arr is None:
            raise InvalidHandle(f"invalid buffer handle: {handle}")
        return arr

    def buffer_size(self, handle: int) -> int:
        with self._lock:
            return int(self._buffer(handle).size)

    def buffer_view(self, handle: int) -> np.ndarray:
        """A writable uint8 numpy view of a buffer (zero-copy)."""
        with self._lock:
            return self._buffer(handle)

    def copy_to_buffer(self, handle: int, data: Any, offset: int = 0) -> None:
        """Copy the bytes of ``data`` (bytes-like or C-contiguous array) into a buffer."""
        with self._lock:
            _copy_in(self._buffer(handle), data, offset, f"buffer {handle}")

    def copy_from_buffer(self, handle: int, out: Any, offset: int = 0) -> Any:
        """Fill ``out`` (writable C-contiguous array or bytearray) from a buffer at ``offset``."""
        with self._lock:
            _copy_out(self._buffer(handle), out, offset, f"buffer {handle}")
            return out

    # ---- pools

    @property
    def pool_quota(self) -> int:
        """The bytes this backend's pools may hold together (each counts its size + 128);
        settable (an int >= 0, None for the default). Lowering it below what the pools hold
        frees nothing: later allocations fail until enough pools are freed."""
        return int(self._pools.quota)

    @pool_quota.setter
    def pool_quota(self, nbytes: Optional[int]) -> None:
        quota = _quota(nbytes)
        with self._lock:
            self._pools.quota = quota

    @property
    def pool_bytes(self) -> int:
        """The bytes the pools hold against :attr:`pool_quota` now."""
        return int(self._pools.used)

    def allocate_pool(self, nbytes: int) -> int:
        """Allocate a zero-filled pool; returns its id (ISA.md §4.4: ids are never reused).
        :class:`AllocationFailed` beyond :attr:`pool_quota` or the machine's memory."""
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
            raise ValueError(f"nbytes must be an int >= 0, got {_show(nbytes)}")
        with self._lock:
            pid = self._pools.alloc(int(nbytes)) if nbytes < 2**64 else 0
            if pid <= 0:
                why = (f" (the pools would hold more than the backend's pool_quota of "
                       f"{self._pools.quota} bytes)") if pid < 0 else ""
                raise AllocationFailed(f"cannot allocate a pool of {_show(nbytes)} bytes{why}")
            return pid

    def free_pool(self, pool: int) -> None:
        """Free a pool; InvalidHandle if unknown, already freed or 0 (the boundary pool)."""
        with self._lock:
            # during a launch (a signal handler) lanes may still read it: release after it
            if not self._pools.free(_as_handle(pool), self._busy):
                raise InvalidHandle(f"invalid pool id: {pool}")

    def _pool_copy(self, pool: int, obj: Any, offset: Any, to_pool: bool) -> None:
        pid = _as_handle(pool)
        size = self._pools.size(pid)
        if size < 0:
            raise InvalidHandle(f"invalid pool id: {pool}")
        data = _byte_view(obj, "data" if to_pool else "out", writable=not to_pool)
        off = _check_span(size, offset, data.size, f"pool {pool}")
        # The copy runs under the pool table's lock: in a signal handler, a lane of the
        # running launch may free the pool meanwhile (then it is gone: InvalidHandle).
        done = self._pools.write(pid, off, data) if to_pool else self._pools.read(pid, off, data)
        if not done:
            raise InvalidHandle(f"invalid pool id: {pool}")

    def copy_to_pool(self, pool: int, data: Any, offset: int = 0) -> None:
        """Copy the bytes of ``data`` (bytes-like or C-contiguous array) into a pool."""
        with self._lock:
            self._pool_copy(pool, data, offset, True)

    def copy_from_pool(self, pool: int, out: Any, offset: int = 0) -> Any:
        """Fill ``out`` (writable C-contiguous array or bytearray) from a pool at ``offset``."""
        with self._lock:
            self._pool_copy(pool, out, offset, False)
            return out

    # ---- launches

    def execute_program(self, program: Program, config: Optional[LaunchConfig] = None,
                        params: Optional[Mapping[Any, Any]] = None, *,
                        max_steps: Optional[int] = None,
                        num_threads: Optional[int] = None,
                        timeout: Optional[float] = None,
                        block_range: Optional[Sequence[int]] = None,
                        engine: Optional[str] = None) -> LaunchResult:
        """Run ``program`` over the launch's grid of blocks of lanes.

        ``params`` maps registers (``"r1"`` or ``1``) to arrays / bytes-like objects (bound as
        buffers for this launch; the register receives the handle as u64), to
        :class:`~hologram.BufferWindow` objects (an array bound as a byte range of a larger
        virtual buffer) or typed scalars (``("u32", 5)`` or a numpy scalar). Raises the fault
        of the lowest faulting global lane as an :class:`ExecutionError` subclass; Ctrl-C
        raises :class:`Interrupted`. ``timeout``: seconds (> 0) after which the launch stops
        and raises :class:`Timeout` (checked every 20 ms, with Ctrl-C). ``block_range``:
        ``(start, stop)`` (or a ``range``) of linear block indices: only those blocks of the
        grid run, with the ids they have in the whole grid. ``engine``: ``"auto"``, ``"jit"``
        or ``"vm"`` for this launch (None: the backend's; see :class:`CpuBackend`);
        ``LaunchResult.engine`` says which one ran.
        """
        policy = self._launch_policy(engine)
        with self._lock:
            self._check_idle()
            launch, copy_back = self._make_launch(program, config, params, max_steps,
                                                  num_threads, timeout, block_range)
            try:
                return self._execute(launch, copy_back, policy)
            finally:
                launch.release()

    def prepare(self, program: Program, config: Optional[LaunchConfig] = None,
                params: Optional[Mapping[Any, Any]] = None, *, max_steps: Optional[int] = None,
                num_threads: Optional[int] = None,
                timeout: Optional[float] = None,
                block_range: Optional[Sequence[int]] = None,
                engine: Optional[str] = None) -> "PreparedLaunch":
        """Bind a launch once, to run it many times with the least overhead per call.

        ``k = backend.prepare(prog, config, params); k(); k()`` is ``execute_program`` with the
        same arguments, except that validation, configuration, parameter binding and the thread
        count are settled here. The arrays in ``params`` stay bound (and alive) for the life of
        the returned object (bytearrays and other resizable objects cannot be resized meanwhile);
        each call sees their current contents. ``timeout`` applies to each call; ``engine`` as
        for :meth:`execute_program`.
        """
        policy = self._launch_policy(engine)
        with self._lock:
            launch, copy_back = self._make_launch(program, config, params, max_steps,
                                                  num_threads, timeout, block_range)
        return PreparedLaunch(self, launch, copy_back, policy)

    def _launch_policy(self, engine: Optional[str]) -> Tuple[str, bool]:
        """(policy, strict) of a launch: its own engine= argument or the backend's."""
        if engine is None:
            return self._policy, self._strict
        if engine not in _VM_POLICIES:
            raise ValueError(f"engine must be 'auto', 'jit' or 'vm', got {engine!r}")
        if self._policy == "reference":
            raise ValueError("a reference backend runs only the reference interpreter")
        return engine, engine == "jit"

    def _native(self, launch: Launch, policy: Tuple[str, bool]) -> Any:
        """The compiled function to run this launch with, or None for the interpreter
        (raises NotCompilable for a strict jit policy that cannot compile it)."""
        name, strict = policy
        if name == "vm" or name == "reference":
            return None
        from . import jit
        sig = tuple([(r, ty) for r, ty, _ in launch.reg_init])
        steps = launch.max_steps is not None
        if name == "auto":
            return jit.cached(launch.program, sig, launch.block, launch.shared_memory, steps)
        try:
            return jit.compile_launch(launch.program, sig, launch.block, launch.shared_memory,
                                      steps)
        except NotCompilable:
            if strict:
                raise
            return None

    def _auto_consider(self, launch: Launch, seconds: float) -> None:
        """"auto": count a launch's interpreted time for its key; past AUTO_COMPILE_SECONDS
        compile it on a background thread (later launches of the key then run compiled)."""
        from . import jit
        if not jit.available():
            return
        sig = tuple([(r, ty) for r, ty, _ in launch.reg_init])
        jit.note_interpreted(launch.program, sig, launch.block, launch.shared_memory, seconds,
                             AUTO_COMPILE_SECONDS, launch.max_steps is not None)

    def _check_idle(self) -> None:
        if self._busy:
            raise BackendBusy("a launch of this backend is running in this thread (e.g. a "
                              "signal handler ran during it); cannot start another launch")

    def _make_launch(self, program, config, params, max_steps, num_threads, timeout=None,
                     block_range=None):
        if not isinstance(program, Program):
            raise TypeError(f"expected a Program, got {type(program).__name__}")
        if not program._validated:
            program.validate()
        config = config if config is not None else _DEFAULT_CONFIG
        if not isinstance(config, LaunchConfig):
            raise LaunchConfigError(f"config must be a LaunchConfig, got {config!r}")
        grid, block, shared = config.resolve(program)
        if max_steps is not None and (isinstance(max_steps, bool) or
                                      not isinstance(max_steps, (int, np.integer)) or
                                      max_steps < 0):
            raise LaunchConfigError(f"max_steps must be None or an int >= 0, got "
                                    f"{_show(max_steps)}")
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer,
                                                                     np.floating)) \
                    or not timeout > 0:
                raise LaunchConfigError(f"timeout must be None or a number of seconds > 0, "
                                        f"got {_show(timeout)}")
            # beyond 10^9 s (~30 years; ints beyond the float range included): no limit
            timeout = None if timeout > 1e9 else float(timeout)
        threads = effective_num_threads(num_threads if num_threads is not None
                                        else self.num_threads)
        if block_range is not None:
            block_range = _block_range(block_range, grid[0] * grid[1] * grid[2])
        exports: List[memoryview] = []
        windows: Dict[int, WindowInfo] = {}
        if program.params:                 # §12.6: names, completeness and types
            params = _declared_params(program.params, params)
        reg_init, bound, copy_back = self._bind_params(params, exports, windows)
        launch = Launch(program, grid, block, shared, reg_init, bound, self._pools,
                        # no lane can count to 2^64: larger limits are no limit (the VM
                        # counts in u64)
                        None if max_steps is None else min(int(max_steps), 2**64 - 1),
                        threads, timeout=timeout, exports=exports, block_range=block_range,
                        windows=windows or None)
        return launch, copy_back

    def _execute(self, launch: Launch, copy_back,
                 policy: Optional[Tuple[str, bool]] = None) -> LaunchResult:
        """Run a launch (the caller holds the lock and checked _check_idle); copy back and raise
        its fault."""
        policy = policy if policy is not None else (self._policy, self._strict)
        compiled = self._native(launch, policy)
        ran = "jit" if compiled is not None else self._engine.name
        _count(ran)
        self._busy = True
        t0 = time.perf_counter() if compiled is None and policy[0] == "auto" else 0.0
        try:
            if compiled is not None:
                resonance, fault = self._engine.run_compiled(launch, self._buffers, compiled,
                                                             self.boundary)
            else:
                resonance, fault = self._engine.run(launch, self._buffers)
        except MemoryError as e:        # the VM's per-thread scratch memory
            if isinstance(e, AllocationFailed):
                raise
            raise AllocationFailed(f"cannot allocate the launch's memory: {e}") from None
        finally:
            self._busy = False
            if copy_back:
                for dst, tmp in copy_back:
                    dst[...] = tmp
            self._pools.release_deferred()
        if t0:
            self._auto_consider(launch, time.perf_counter() - t0)
        if fault is not None:
            raise_fault(launch.program, launch.grid, launch.block, fault, launch.windows)
        return LaunchResult(resonance, launch.num_threads, ran)

    def _bind_params(self, params: Optional[Mapping[Any, Any]],
                     exports: Optional[List[memoryview]] = None,
                     windows: Optional[Dict[int, WindowInfo]] = None):
        """Parameters -> (reg_init, bound buffers, copy-backs); see :class:`Launch`. Objects
        bound in place that are not numpy arrays get a buffer export appended to ``exports``
        (numpy arrays cannot be resized while the launch references them); buffer windows are
        added to ``windows`` by handle."""
        reg_init: List[Tuple[int, DType, int]] = []
        bound: List[Tuple[int, Any, int, int]] = []
        copy_back: List[Tuple[np.ndarray, np.ndarray]] = []
        if type(params) is not dict and not isinstance(params, Mapping):
            if params is None:
                return reg_init, bound, copy_back
            raise LaunchConfigError(f"params must be a mapping, got {type(params).__name__}")
        regs: Dict[int, Any] = {}
        for key, value in params.items():
            reg = _param_register(key)
            if reg in regs:
                raise LaunchConfigError(f"register r{reg} given twice in params")
            regs[reg] = value
        for reg in sorted(regs):
            value = regs[reg]
            tv = type(value)
            if tv is _Typed:                  # a declared scalar, already converted
                reg_init.append((reg, value.ty, value.content))
                continue
            if tv is tuple or isinstance(value, np.generic):
                reg_init.append(_scalar_param(reg, value))
                continue
            if tv in (bool, int, float, complex):
                raise LaunchConfigError(
                    f"parameter r{reg}: a bare Python {tv.__name__} is ambiguous; "
                    f"give a typed scalar such as ('u32', {_show(value)}) or a numpy scalar")
            window = None
            if tv is BufferWindow:
                if windows is None:
                    raise LaunchConfigError(f"parameter r{reg}: a BufferWindow cannot be "
                                            f"bound here")
                window, value = value, value.data
            refuse_objects(value, f"parameter r{reg}")
            try:
                addr, nbytes, writable = _core.array_address(value)
            except (BufferError, TypeError, ValueError):
                _byte_view(value, f"parameter r{reg}", writable=False)   # raises the right error
                raise LaunchConfigError(f"parameter r{reg}: cannot bind {type(value).__name__}") from None
            obj = value
            # a window keeps the alignment of the virtual buffer's offsets
            phase = window.base % 8 if window is not None else 0
            if window is not None and nbytes > (window.size if window.size is not None
                                                else 2**64) - window.base:
                raise LaunchConfigError(
                    f"parameter r{reg}: a window of {nbytes} bytes at {window.base} does not "
                    f"fit a buffer of {window.size} bytes")
            if not writable or addr % 8 != phase:
                view = _byte_view(value, f"parameter r{reg}", writable=False)
                obj = _aligned_zeros(nbytes, phase)
                obj[...] = view
                if writable:
                    copy_back.append((view, obj))
                addr = obj.ctypes.data
            elif exports is not None and not isinstance(value, np.ndarray):
                try:
                    mv = memoryview(value)
                except (TypeError, ValueError, BufferError):   # pragma: no cover - exotic
                    mv = None
                if mv is not None:
                    exports.append(mv)
                    # the address may have changed between array_address and the export
                    addr, nbytes, _ = _core.array_address(value)
            h = self._new_handle()
            bound.append((h, obj, addr, nbytes))
            reg_init.append((reg, DType.U64, h))
            if window is not None and windows is not None:
                size = window.size if window.size is not None else window.base + nbytes
                windows[h] = WindowInfo(reg, window.base, nbytes, size)
        return reg_init, bound, copy_back


class PreparedLaunch:
    """A launch bound once by :meth:`CpuBackend.prepare`; call it to run it again."""

    def __init__(self, backend: CpuBackend, launch: Launch, copy_back,
                 policy: Optional[Tuple[str, bool]] = None):
        self.backend = backend
        self.launch = launch
        self._policy = policy
        self._copy_back = copy_back
        self._copy_in = [(dst, tmp) for dst, tmp in copy_back]

    def __call__(self) -> LaunchResult:
        """Run the launch once more; raises as :meth:`CpuBackend.execute_program`."""
        be = self.backend
        with be._lock:
            be._check_idle()
            if self._copy_in:
                for src, tmp in self._copy_in:    # unaligned parameters: refresh the copy
                    tmp[...] = src
            return be._execute(self.launch, self._copy_back, self._policy)

    def __repr__(self) -> str:
        L = self.launch
        return f"<PreparedLaunch {L.program!r} grid={L.grid} block={L.block}>"


class ReferenceBackend(CpuBackend):
    """``CpuBackend(engine="reference")``: the pure-Python reference interpreter as the engine
    (slow; the oracle the VM is tested against)."""

    def __init__(self, num_threads: Optional[int] = None, *, pool_quota: Optional[int] = None):
        super().__init__(num_threads, engine="reference", pool_quota=pool_quota)

    @property
    def step_counts(self) -> Dict[str, Any]:
        """Instructions executed so far, by kernel name: ``{name: StepCount}``
        (:class:`hologram.reference.StepCount`: launches, lanes, steps, max_lane, instructions,
        per_lane).
        Counts accumulate over this backend's launches; ``step_counts.clear()`` resets them."""
        return self._engine.step_counts


def _block_range(value: Any, nblocks: int) -> Tuple[int, int]:
    """A ``block_range`` argument as (start, stop) with 0 <= start <= stop <= nblocks."""
    if isinstance(value, range):
        if value.step != 1:
            raise LaunchConfigError(f"block_range must have step 1, got {value!r}")
        value = (value.start, value.stop)
    if not isinstance(value, (tuple, list)) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value):
        raise LaunchConfigError(f"block_range must be (start, stop) of ints, got "
                                f"{_show(value)}")
    start, stop = int(value[0]), int(value[1])
    if not 0 <= start <= stop <= nblocks:
        raise LaunchConfigError(f"block_range ({start}, {stop}) is not a range of the grid's "
                                f"{nblocks} blocks (0 <= start <= stop <= {nblocks})")
    return start, stop


def _quota(nbytes: Optional[int]) -> int:
    """A pool quota argument as the core takes it (bytes, at most 2^64 - 1)."""
    if nbytes is None:
        return DEFAULT_POOL_QUOTA
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
        raise ValueError(f"pool_quota must be None or an int >= 0 (bytes), got {_show(nbytes)}")
    return min(int(nbytes), 2**64 - 1)


def _as_handle(h: Any) -> int:
    if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 0 <= h < 2**64:
        raise InvalidHandle(f"invalid handle: {_show(h)}")
    return int(h)


def _check_span(size: int, offset: Any, n: int, what: str) -> int:
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise TypeError(f"offset must be an int, got {_show(offset)}")
    offset = int(offset)
    if offset < 0 or offset + n > size:
        raise OutOfBounds(f"out of bounds: {n} bytes at offset {_show(offset)} of {what} "
                          f"(size {size})")
    return offset


def _copy_in(dst: np.ndarray, data: Any, offset: int, what: str) -> None:
    src = _byte_view(data, "data", writable=False)
    off = _check_span(dst.size, offset, src.size, what)
    dst[off:off + src.size] = src


def _copy_out(src: np.ndarray, out: Any, offset: int, what: str) -> None:
    dst = _byte_view(out, "out", writable=True)
    off = _check_span(src.size, offset, dst.size, what)
    dst[...] = src[off:off + dst.size]


_DEFAULT_CONFIG = LaunchConfig()
_default_backends: Dict[str, CpuBackend] = {}
# re-entrant: a signal handler may launch while this thread is inside default_backend()
_default_lock = threading.RLock()


def _count(engine: str) -> None:
    """Count launches per engine when HOLOGRAM_COUNT_ENGINES is set (the test suite's
    summary of how many launches ran compiled)."""
    if _COUNT_ENGINES:
        from . import jit
        jit.COUNTS[engine] = jit.COUNTS.get(engine, 0) + 1


_COUNT_ENGINES = bool(os.environ.get("HOLOGRAM_COUNT_ENGINES"))


def default_backend(kind: str = "vm") -> CpuBackend:
    """The process-wide backend used by :func:`launch` when none is given."""
    with _default_lock:
        be = _default_backends.get(kind)
        if be is None:
            new = CpuBackend() if kind == "vm" else ReferenceBackend()
            # a signal handler may have made one meanwhile: the first one made stays
            be = _default_backends.setdefault(kind, new)
        return be


def launch(program: Program, grid: ShapeArg = None, block: ShapeArg = None, *,
           shared_memory: Optional[int] = None, params: Optional[Mapping[Any, Any]] = None,
           max_steps: Optional[int] = None, num_threads: Optional[int] = None,
           timeout: Optional[float] = None,
           backend: Union[CpuBackend, str, None] = None,
           block_range: Optional[Sequence[int]] = None,
           engine: Optional[str] = None) -> LaunchResult:
    """Run ``program`` in one call: ``launch(prog, grid, block, params={...})``.

    ``grid``/``block`` are ints or 1-3 tuples; None takes the defaults (grid 1, the program's
    ``.block`` and ``.shared``). ``backend`` is a backend object, ``"vm"`` (default) or
    ``"reference"`` (the pure-Python interpreter); named backends are process-wide.
    ``max_steps`` and ``timeout`` (seconds) bound the launch (:class:`StepLimitExceeded`,
    :class:`Timeout`); ``block_range=(start, stop)`` runs only those blocks of the grid.
    ``engine``: ``"auto"``, ``"jit"`` or ``"vm"`` (None: the backend's policy, by default
    ``HOLOGRAM_ENGINE`` or ``"auto"``); see :class:`CpuBackend`.
    """
    if backend is None or isinstance(backend, str):
        kind = backend or "vm"
        if kind not in ("vm", "reference"):
            raise ValueError(f"backend must be a backend, 'vm' or 'reference', got {backend!r}")
        backend = default_backend(kind)
    return backend.execute_program(program, LaunchConfig(grid, block, shared_memory), params,
                                   max_steps=max_steps, num_threads=num_threads, timeout=timeout,
                                   block_range=block_range, engine=engine)

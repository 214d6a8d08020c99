"""``hologram.dask.launch``: one ISA program over chunked data, as one big launch would run it.

Each task runs a range of blocks of the global grid (``block_range``): its chunk of every
*partitioned* array is bound as a window of the whole array (``hologram.BufferWindow``), so
the kernel keeps its global byte offsets and global lane ids; *replicated* arrays are bound
whole; *reduced* arrays are private copies initialised to the identity of their op, combined
over the chunks by VM kernels and finally with the caller's initial array. The static check
of :mod:`hologram._partition` runs first, before any task exists; a task's access that leaves
its window (what the static check could not decide) comes back as
:class:`~hologram.dask.NotPartitionable`. Faults travel as data: the fault of the lowest global
lane over all chunks is raised, as by a single launch (hologram.dask._chunks).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

import dask
import dask.array as da

from .. import _partition
from .._partition import NotPartitionable, Role
from ..backend import CpuBackend, LaunchConfig, _param_register
from ..errors import ExecutionError, LaunchConfigError, OutOfBounds
from ..isa import DType
from ..ops import _build as B
from ..ops.elementwise import plan_binary
from ..program import Program
from ..window import BufferWindow
from . import _chunks
from ._runtime import ThreadPolicy, local_backend, policy, program_from_json

__all__ = ["launch", "partitioned", "replicated", "reduced", "Partitioned", "Replicated",
           "Reduced", "REDUCE_OPS"]

#: The ops a reduced parameter may be combined with (the ISA's commutative atomics).
REDUCE_OPS = ("add", "min", "max", "and", "or", "xor")
RESONANCE = "resonance"           # the result key of the summed res.accum accumulator
SPLIT_EVERY = 8                   # partials combined per task of a reduced parameter's tree


class Partitioned:
    """A partitioned parameter: an input dask array, or an output of ``shape``/``dtype``
    (optionally ``chunks``) assembled from the chunks. See :func:`partitioned`."""
    __slots__ = ("array", "shape", "dtype", "chunks")

    def __init__(self, array: Any = None, shape: Any = None, dtype: Any = None,
                 chunks: Any = None):
        self.array, self.shape, self.dtype, self.chunks = array, shape, dtype, chunks


class Replicated:
    """A read-only array given whole to every task. See :func:`replicated`."""
    __slots__ = ("array",)

    def __init__(self, array: Any):
        self.array = array


class Reduced:
    """A private copy per task, combined with ``op``. See :func:`reduced`."""
    __slots__ = ("init", "op")

    def __init__(self, init: Any, op: str):
        self.init, self.op = init, op


def partitioned(array: Any = None, *, shape: Any = None, dtype: Any = None,
                chunks: Any = None) -> Partitioned:
    """A parameter split into chunks, one lane per element.

    ``partitioned(x)``: an input (a dask array, or an array dask can wrap); each task binds its
    chunk as a window of the whole array. ``partitioned(shape=..., dtype=...)``: an output,
    zero-filled, assembled from the chunks (``chunks``: its chunking along axis 0 when no input
    is partitioned). Chunks run along axis 0 and are aligned to whole blocks.
    """
    if (array is None) == (shape is None):
        raise LaunchConfigError("partitioned: give either an array (an input) or shape= and "
                                "dtype= (an output)")
    if array is None and dtype is None:
        raise LaunchConfigError("partitioned: an output needs dtype=")
    return Partitioned(array, shape, dtype, chunks)


def replicated(array: Any) -> Replicated:
    """A read-only array (numpy or dask) bound whole in every task; stores to it are
    rejected."""
    return Replicated(array)


def reduced(init: Any, op: str = "add") -> Reduced:
    """An array that lanes update only with ``atom.<op>`` (their old value unused): each task
    updates a private copy, and the result is ``init`` combined with every task's copy by
    ``op`` (add, min, max, and, or, xor) on the VM."""
    if op not in REDUCE_OPS:
        raise LaunchConfigError(f"reduced: op must be one of {', '.join(REDUCE_OPS)}, "
                                f"got {op!r}")
    return Reduced(init, op)


# ---- planning (on the client)

class _Param:
    """One parameter of a chunked launch as the tasks see it."""
    __slots__ = ("key", "reg", "kind", "dtype", "shape", "op", "value", "name")

    def __init__(self, key: Any, reg: int, kind: str, name: str, dtype: Any = None,
                 shape: Tuple[int, ...] = (), op: str = "", value: Any = None):
        self.key, self.reg, self.kind, self.name = key, reg, kind, name
        self.dtype, self.shape, self.op, self.value = dtype, shape, op, value

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_Param, (self.key, self.reg, self.kind, self.name, self.dtype, self.shape,
                         self.op, self.value))

    @property
    def row(self) -> int:
        """Elements per row (axis-0 index) of a partitioned array."""
        return int(np.prod(self.shape[1:]))


class _Job:
    """What every task of one chunked launch shares (small; programs travel as JSON)."""
    __slots__ = ("program", "block", "grid", "n", "params", "written", "resonance", "pol",
                 "timeout", "engine")

    def __init__(self, program: str, block: int, grid: int, n: int, params: List[_Param],
                 written: frozenset, resonance: bool, pol: ThreadPolicy,
                 timeout: Optional[float], engine: Optional[str]):
        self.program, self.block, self.grid, self.n = program, block, grid, n
        self.params, self.written, self.resonance = params, written, resonance
        self.pol, self.timeout, self.engine = pol, timeout, engine

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_Job, (self.program, self.block, self.grid, self.n, self.params, self.written,
                       self.resonance, self.pol, self.timeout, self.engine))


_VALIDATOR: Optional[CpuBackend] = None


def _validate(program: Program, grid: int, block: int, params: Dict[Any, Any],
              num_threads: Optional[int], timeout: Optional[float]) -> Dict[int, Any]:
    """Check params exactly as a launch would (empty arrays stand for the arrays): keys,
    declared types, scalars, num_threads, timeout, grid. Returns the scalars' register
    contents by register."""
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = CpuBackend()
    launch, _ = _VALIDATOR._make_launch(program, LaunchConfig(grid, block), params, None,
                                        num_threads, timeout)
    launch.release()
    return {reg: (ty, v) for reg, ty, v in launch.reg_init}


def _register_of(program: Program, key: Any) -> int:
    """The register of a params key: a declared name (ISA 1.1 §12.6) or a register."""
    for d in program.params:
        if type(key) is str and key == d.name:
            return d.reg
    return _param_register(key)


def _dtype(x: Any) -> np.dtype:
    return np.dtype(x.dtype)


def _classify(program: Program, params: Mapping[Any, Any]
              ) -> Tuple[List[_Param], Dict[int, Any]]:
    """Parameters -> _Param list (in register order) and the dask/numpy arrays by register."""
    out: List[_Param] = []
    arrays: Dict[int, Any] = {}
    for key, value in params.items():
        reg = _register_of(program, key)
        name = key if isinstance(key, str) else f"r{reg}"
        if isinstance(value, Partitioned):
            if value.array is not None:
                x = da.asarray(value.array)
                arrays[reg] = x
                out.append(_Param(key, reg, "in", name, _dtype(x), tuple(x.shape)))
            else:
                dims = (value.shape,) if isinstance(value.shape, (int, np.integer)) \
                    else value.shape
                shape = tuple(int(s) for s in dims)
                out.append(_Param(key, reg, "out", name, np.dtype(value.dtype), shape,
                                  value=value.chunks))
        elif isinstance(value, Replicated):
            x = da.asarray(value.array)
            arrays[reg] = x
            out.append(_Param(key, reg, "replicated", name, _dtype(x), tuple(x.shape)))
        elif isinstance(value, Reduced):
            init = np.ascontiguousarray(value.init)
            if B.isa_type(init.dtype) not in (DType.I32, DType.I64, DType.U32, DType.U64,
                                              DType.F32, DType.F64):
                raise LaunchConfigError(f"parameter {name}: a reduced array must be of a type "
                                        f"atomics update (int32, int64, uint32, uint64, "
                                        f"float32, float64), got {init.dtype}")
            if value.op in ("and", "or", "xor") and init.dtype.kind == "f":
                raise LaunchConfigError(f"parameter {name}: op {value.op!r} needs an integer "
                                        f"array, got {init.dtype}")
            out.append(_Param(key, reg, "reduced", name, init.dtype, init.shape, value.op,
                              init))
        elif isinstance(value, (tuple, int, float, np.generic)):
            out.append(_Param(key, reg, "scalar", name, value=value))
        else:
            raise LaunchConfigError(f"parameter {name}: say how to distribute a "
                                    f"{type(value).__name__}: hd.partitioned(...), "
                                    f"hd.replicated(...) or hd.reduced(...); scalars are "
                                    f"typed tuples or numpy scalars")
    out.sort(key=lambda p: p.reg)
    return out, arrays


def _boundaries(params: List[_Param], arrays: Dict[int, Any], n: int, unit: int) -> List[int]:
    """Chunk boundaries in elements: those of the first partitioned input (else of the first
    output's chunks), rounded to multiples of ``unit`` (whole blocks and whole rows)."""
    first = next((p for p in params if p.kind == "in"), None)
    if first is not None:
        rows = arrays[first.reg].chunks[0]
        row = first.row
    else:
        out = next(p for p in params if p.kind == "out")
        rows = da.core.normalize_chunks(out.value if out.value is not None else "auto",
                                        out.shape, dtype=out.dtype)[0]
        row = out.row
    marks = {0, n}
    for b in np.cumsum(rows)[:-1] * row:
        marks.add(int(min(n, round(b / unit) * unit)))
    return sorted(marks) if n else [0, 0]


def launch(program: Program, *, block: Any = None, params: Mapping[Any, Any],
           num_threads: Optional[int] = None, timeout: Optional[float] = None,
           engine: Optional[str] = None) -> Dict[Any, da.Array]:
    """Run ``program`` over chunked data; returns ``{param key: dask array}`` of its outputs.

    ``params`` maps registers (``"r1"``, 1) or declared names to :func:`partitioned`,
    :func:`replicated` or :func:`reduced` specs, or to scalars as in :func:`hologram.launch`.
    One lane per element of the partitioned arrays (all of one element count n; chunks along
    axis 0): the grid is ceil(n / block) blocks of ``block`` lanes (1-D; default the program's
    ``.block``), and each task runs the blocks of its chunk with the lane ids of that grid.
    Results: the partitioned outputs, the partitioned inputs the program stores to (as new
    arrays: inputs are never written), the reduced arrays, and ``"resonance"`` (96 float64
    sums) if the program uses ``res.accum``.

    Raises :class:`NotPartitionable` now for programs whose accesses cannot be chunked (see
    :mod:`hologram._partition`), LaunchConfigError for bad parameters; computing a result
    raises the fault of the lowest global lane over all chunks (NotPartitionable if that lane
    left its chunk's window). ``timeout`` applies to each task's launch; ``num_threads`` is
    per task (see :class:`hologram.dask.ThreadPolicy`); ``engine``: ``"vm"`` or
    ``"reference"``.
    """
    if not isinstance(program, Program):
        raise TypeError(f"expected a Program, got {type(program).__name__}")
    program.validate()
    if engine not in (None, "vm", "reference"):
        raise ValueError(f"engine must be None, 'vm' or 'reference', got {engine!r}")
    if not isinstance(params, Mapping):
        raise LaunchConfigError(f"params must be a mapping, got {type(params).__name__}")
    plist, arrays = _classify(program, params)
    B_ = _block_size(program, block)
    parts = [p for p in plist if p.kind in ("in", "out")]
    if not parts:
        raise LaunchConfigError("a chunked launch needs at least one hd.partitioned parameter "
                                "(its elements are what the lanes are)")
    n = int(np.prod(parts[0].shape))
    for p in parts:
        if not p.shape:
            raise LaunchConfigError(f"parameter {p.name}: a partitioned array needs at least "
                                    f"one axis")
        if int(np.prod(p.shape)) != n:
            raise LaunchConfigError(f"partitioned parameters have one lane per element, so "
                                    f"they need one element count: {parts[0].name} has {n}, "
                                    f"{p.name} has {int(np.prod(p.shape))}")
    grid = -(-n // B_)
    meta = {p.key: np.empty(0, p.dtype) if p.kind != "scalar" else p.value for p in plist}
    regs = _validate(program, grid, B_, meta, num_threads, timeout)
    roles = {}
    for p in plist:
        if p.kind == "scalar":
            ty, v = regs[p.reg]
            roles[p.reg] = Role(_partition.SCALAR, p.name, value=v if ty.is_int else None)
        elif p.kind in ("in", "out"):
            roles[p.reg] = Role(_partition.PARTITIONED, p.name, itemsize=p.dtype.itemsize)
        elif p.kind == "replicated":
            roles[p.reg] = Role(_partition.REPLICATED, p.name)
        else:
            roles[p.reg] = Role(_partition.REDUCED, p.name, op=p.op,
                                dtype=B.isa_type(p.dtype))
    analysis = _partition.check(program, roles, B_)
    if analysis.uses_resonance and any(p.key == RESONANCE for p in plist):
        raise LaunchConfigError(f"the program uses res.accum, whose sums are returned as "
                                f"{RESONANCE!r}: a parameter may not have that name")
    unit = math.lcm(B_, *[p.row for p in parts]) if n else 1
    bounds = _boundaries(plist, arrays, n, unit)
    job = _Job(program.to_json(), B_, grid, n, plist, frozenset(analysis.written),
               analysis.uses_resonance, policy(num_threads), timeout, engine)
    return _graph(job, bounds, arrays)


def _block_size(program: Program, block: Any) -> int:
    if block is None:
        block = program.block or 1
    dims = (block,) if isinstance(block, (int, np.integer)) else tuple(block)
    if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer))
                       for d in dims):
        raise LaunchConfigError(f"block must be an int or a tuple of ints, got {block!r}")
    if any(int(d) != 1 for d in dims[1:]) or not 1 <= int(dims[0]) <= 1024:
        raise LaunchConfigError(f"a chunked launch has 1-D blocks of 1 to 1024 lanes, got "
                                f"{block!r}")
    return int(dims[0])


def _graph(job: _Job, bounds: List[int], arrays: Dict[int, Any]) -> Dict[Any, da.Array]:
    """The tasks: one per chunk, the fault check, the outputs and the reduction trees."""
    nchunks = len(bounds) - 1
    inputs: List[Any] = []          # per chunk: the delayed blocks, in parameter order
    delayed_in: Dict[int, Any] = {}
    for p in job.params:
        x = arrays.get(p.reg)
        if x is None:
            continue
        if p.kind == "in":
            rows = tuple((b - a) // p.row for a, b in zip(bounds[:-1], bounds[1:]))
            x = x.rechunk((rows,) + tuple(-1 for _ in p.shape[1:]))
            delayed_in[p.reg] = x.to_delayed().reshape(-1)
        elif p.kind == "replicated":
            whole = x.rechunk(tuple(-1 for _ in x.shape)) if x.ndim else x
            delayed_in[p.reg] = whole.to_delayed().reshape(-1)[0]
    parts = []
    for k in range(nchunks):
        args = [delayed_in[p.reg][k] if p.kind == "in" else delayed_in[p.reg]
                for p in job.params if p.reg in delayed_in]
        parts.append(dask.delayed(_run_chunk, pure=False)(job, k, bounds[k], bounds[k + 1],
                                                          *args))
    checked = dask.delayed(_chunks.check_faults, pure=False)(
        *[dask.delayed(_chunks.fault_of, pure=False)(p) for p in parts])
    results: Dict[Any, da.Array] = {}
    for p in job.params:
        if p.kind == "out" or (p.kind == "in" and p.reg in job.written):
            blocks = [da.from_delayed(
                dask.delayed(_chunks.value_of, pure=False)(parts[k], checked, p.reg),
                ((bounds[k + 1] - bounds[k]) // p.row,) + p.shape[1:], p.dtype,
                meta=np.empty((0,) * len(p.shape), p.dtype)) for k in range(nchunks)]
            results[p.key] = da.concatenate(blocks, axis=0) if len(blocks) > 1 else blocks[0]
        elif p.kind == "reduced":
            results[p.key] = _reduction(job, parts, checked, p.reg, p.op, p.value)
    if job.resonance:
        results[RESONANCE] = _reduction(job, parts, checked, RESONANCE, "add", None)
    return results


def _reduction(job: _Job, parts: List[Any], checked: Any, key: Any, op: str,
               init: Optional[np.ndarray]) -> da.Array:
    """The tree that combines the tasks' partial copies with ``op``, then with ``init``."""
    level = [dask.delayed(_pick, pure=False)(p, key) for p in parts]
    while len(level) > 1:
        level = [dask.delayed(_combine, pure=False)(op, job.pol, job.engine,
                                                    *level[i:i + SPLIT_EVERY])
                 for i in range(0, len(level), SPLIT_EVERY)]
    final = dask.delayed(_finish, pure=False)(op, job.pol, job.engine, init, level[0], checked)
    shape, dtype = ((96,), np.dtype(np.float64)) if init is None else (init.shape, init.dtype)
    return da.from_delayed(final, shape, dtype, meta=np.empty((0,) * len(shape), dtype))


# ---- tasks (on the workers)

def _pick(part: _chunks.Part, key: Any) -> Optional[np.ndarray]:
    return None if part.value is None else part.value[key]


def _combine(op: str, pol: ThreadPolicy, engine: Optional[str],
             *partials: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Fold partial copies with ``op`` on the VM (None: a task that faulted)."""
    acc: Optional[np.ndarray] = None
    for x in partials:
        if x is None:
            continue
        if acc is None:
            acc = np.array(x)
        else:
            B.run(plan_binary(op, f"reduced_{op}", acc, x, acc), local_backend(engine),
                  pol.resolve())
    return acc


def _finish(op: str, pol: ThreadPolicy, engine: Optional[str], init: Optional[np.ndarray],
            total: Optional[np.ndarray], checked: bool) -> np.ndarray:
    if init is None:
        assert total is not None
        return total
    return _combine(op, pol, engine, init, total)     # type: ignore[return-value]


_IDENTITY = {"add": 0, "and": -1, "or": 0, "xor": 0}


def _identity(op: str, dtype: np.dtype, shape: Tuple[int, ...]) -> np.ndarray:
    """A fresh partial copy: the identity of ``op`` (float add: -0.0; float min/max: NaN,
    which the ISA's min/max ignore; integer min/max: the type's extremes)."""
    if op in _IDENTITY:
        if dtype.kind == "f":
            return np.full(shape, -0.0, dtype)
        return np.full(shape, _IDENTITY[op], dtype) if op != "and" else \
            np.full(shape, np.iinfo(dtype).max if dtype.kind == "u" else -1, dtype)
    if dtype.kind == "f":
        return np.full(shape, np.nan, dtype)
    info = np.iinfo(dtype)
    return np.full(shape, info.max if op == "min" else info.min, dtype)


def _run_chunk(job: _Job, k: int, start: int, stop: int, *arrays: np.ndarray) -> _chunks.Part:
    """Run the blocks of elements [start, stop) on this thread's backend."""
    program = program_from_json(job.program)
    supplied = iter(arrays)
    params: Dict[Any, Any] = {}
    outputs: Dict[Any, np.ndarray] = {}
    for p in job.params:
        if p.kind in ("in", "out"):
            if p.kind == "in":
                blk = np.ascontiguousarray(next(supplied))
                if p.reg in job.written:
                    blk = outputs[p.reg] = blk.copy()
            else:
                blk = outputs[p.reg] = np.zeros(((stop - start) // p.row,) + p.shape[1:],
                                                p.dtype)
            size = p.dtype.itemsize
            params[p.key] = BufferWindow(blk, start * size, job.n * size)
        elif p.kind == "replicated":
            params[p.key] = np.ascontiguousarray(next(supplied))
        elif p.kind == "reduced":
            params[p.key] = outputs[p.reg] = _identity(p.op, p.dtype, p.shape)
        else:
            params[p.key] = p.value
    be = local_backend(job.engine)
    try:
        r = be.execute_program(program, LaunchConfig(job.grid, job.block), params,
                               num_threads=job.pol.resolve(), timeout=job.timeout,
                               block_range=(start // job.block, -(-stop // job.block)))
    except ExecutionError as e:
        return _chunks.Part(None, _fault(job, k, start, stop, e))
    if job.resonance:
        outputs[RESONANCE] = r.resonance
    return _chunks.Part(outputs)


def _fault(job: _Job, k: int, start: int, stop: int, e: ExecutionError
           ) -> Tuple[Tuple[int, int], BaseException]:
    """(sort key, exception) of a task's fault. Faults without a lane (Timeout, Interrupted)
    come first, as they take precedence in a launch; an access that stayed inside the virtual
    array but left the task's window is what only a single launch could do."""
    if e.global_lane_id is None:
        return (0, k), e
    where = getattr(e, "window", None) if isinstance(e, OutOfBounds) else None
    if where is not None and where.inside:
        name = next(p.name for p in job.params if p.reg == where.reg)
        return (1, e.global_lane_id), NotPartitionable(
            f"lane {e.global_lane_id} accessed bytes [{where.offset}, "
            f"{where.offset + where.nbytes}) of {name}, outside its chunk: chunk {k} holds "
            f"elements [{start}, {stop}), bytes [{where.base}, {where.end}) (found at run "
            f"time: the static check could not decide this access)",
            pc=e.pc, instruction=e.instruction, param=name,
            global_lane_id=e.global_lane_id, offset=where.offset)
    return (1, e.global_lane_id), e

"""Dask twins of :mod:`hologram.ops`: the same operations on dask arrays, chunk by chunk.

Each twin takes and returns dask arrays (numpy arrays are accepted as one-chunk inputs) and
runs every value on the VM, in the task that holds the chunk:

* element-wise ops: the op on each chunk (``map_blocks``, chunks of the inputs aligned);
* ``softmax``: rows must not be split, so the last axis is rechunked to one chunk;
* reductions (``sum min max mean`` and the losses): ``dask.array.reduction`` whose chunk,
  combine and aggregate steps are all VM kernels; partials are kept in the compute type
  (f32 for f16/bf16) and rounded once. The tree depends only on the chunks and
  ``split_every``, so results are bit-for-bit reproducible for a given chunking (a different
  chunking may round float sums differently);
* ``gemm``/``matvec``: block products on the VM; when the contraction axis has several
  chunks, the partial products are summed by a VM reduction;
* ``gather``: the indices chunk by chunk, ``x`` whole (one chunk, shipped to every task).

Argument errors (dtype, shape, axis, scalar range) are raised when the twin is called, with
``hologram.ops``' messages. Faults found while computing (integer ``vector_div`` by zero,
``gather`` out of range) are those of the lowest global element over all chunks, as one
``hologram.ops`` call on the whole array would raise.

Every twin takes the keyword-only ``num_threads`` (threads per task: see
:class:`hologram.dask.ThreadPolicy`) and ``engine`` (``"vm"`` or ``"reference"``); reductions
take ``split_every`` (as ``dask.array.reduction``).
"""

from __future__ import annotations

import builtins
import functools
import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np

import dask
import dask.array as da

from .. import ops as _ops
from ..errors import ExecutionError
from ..isa import DType
from ..ops import _build as B
from ..ops.nn import plan_loss
from ..ops.reductions import plan_mean, reduce_steps, scale_step
from . import _chunks
from ._runtime import ThreadPolicy, local_backend, policy

__all__ = [
    "vector_add", "vector_sub", "vector_mul", "vector_div", "add", "sub", "mul", "div",
    "minimum", "maximum", "abs", "neg", "relu", "clip", "scalar_add", "scalar_mul",
    "sigmoid", "tanh", "gelu", "softmax", "sum", "min", "max", "mean", "gemm", "matvec",
    "mse", "cross_entropy", "binary_cross_entropy", "copy", "fill", "full", "gather",
]

Engine = Optional[str]


def _array(x: Any, op: str, arg: str) -> da.Array:
    if isinstance(x, da.Array):
        return x
    try:
        return da.asarray(x)
    except Exception as e:      # noqa: BLE001 - any conversion failure is a TypeError (as ops)
        raise TypeError(f"{op}: {arg} is not array-like: {e}") from None


def _meta(dtype: Any, ndim: int) -> np.ndarray:
    return np.empty((0,) * ndim, dtype)


def _np(t: DType) -> np.dtype:
    """The numpy dtype of an ISA type (bf16: ml_dtypes' bfloat16)."""
    if t == DType.BF16:
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(t.numpy)


def _run(op: str, pol: ThreadPolicy, engine: Engine, *args: Any) -> Any:
    """hologram.ops.<op>(*args) on this thread's backend, with the policy's thread count."""
    fn = _EXTRA_OPS.get(op) or getattr(_ops, op)
    return fn(*args, backend=local_backend(engine), num_threads=pol.resolve())


def _chunk_op(*blocks: Any, op: str, extra: Tuple[Any, ...], pol: ThreadPolicy,
              engine: Engine) -> np.ndarray:
    return _run(op, pol, engine, *blocks, *extra)


# ---- element-wise

def _elementwise(op: str, arrays: Sequence[Any], extra: Tuple[Any, ...] = (), *,
                 num_threads: Optional[int], engine: Engine) -> da.Array:
    names = ("a", "b") if len(arrays) == 2 else ("x",)
    xs = [_array(a, op, n) for a, n in zip(arrays, names)]
    # the op itself checks dtypes and scalars (on empty arrays: nothing runs)
    _run(op, ThreadPolicy(1), engine, *[np.empty(0, x.dtype) for x in xs], *extra)
    if len(xs) == 2 and xs[0].shape != xs[1].shape:
        raise ValueError(f"{op}: shape mismatch: a is {xs[0].shape}, b is {xs[1].shape} "
                         f"(no broadcasting)")
    pol = policy(num_threads)
    dtype = xs[0].dtype
    xs[1:] = [x.rechunk(xs[0].chunks) for x in xs[1:]]          # one chunking for all
    if op == "vector_div" and np.dtype(dtype).kind in "iu":      # may fault: DivisionByZero
        return _guarded(op, xs, (), extra, dtype, pol, engine)
    return da.map_blocks(_chunk_op, *xs, op=op, extra=extra, pol=pol, engine=engine,
                         dtype=dtype, meta=_meta(dtype, xs[0].ndim))


def _binary(op: str, doc: str):
    def f(a: Any, b: Any, *, num_threads: Optional[int] = None, engine: Engine = None
          ) -> da.Array:
        return _elementwise(op, (a, b), num_threads=num_threads, engine=engine)
    f.__name__ = f.__qualname__ = op
    f.__doc__ = f"{doc} (twin of :func:`hologram.ops.{op}`): chunk by chunk on the VM."
    return f


def _unary(op: str, doc: str):
    def f(x: Any, *, num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
        return _elementwise(op, (x,), num_threads=num_threads, engine=engine)
    f.__name__ = f.__qualname__ = op
    f.__doc__ = f"{doc} (twin of :func:`hologram.ops.{op}`): chunk by chunk on the VM."
    return f


vector_add = _binary("vector_add", "``a + b`` element-wise")
vector_sub = _binary("vector_sub", "``a - b`` element-wise")
vector_mul = _binary("vector_mul", "``a * b`` element-wise")
vector_div = _binary("vector_div", "``a / b`` element-wise (integers: truncated, DivisionByZero "
                                   "of the lowest element)")
minimum = _binary("minimum", "Element-wise minimum, NaN-ignoring")
maximum = _binary("maximum", "Element-wise maximum, NaN-ignoring")
abs = _unary("abs", "``|x|``")
neg = _unary("neg", "``-x``")
relu = _unary("relu", "``max(x, 0)``")
sigmoid = _unary("sigmoid", "``1 / (1 + exp(-x))``")
tanh = _unary("tanh", "Hyperbolic tangent")
gelu = _unary("gelu", "GELU (tanh approximation)")
copy = _unary("copy", "A copy made by the VM")
add, sub, mul, div = vector_add, vector_sub, vector_mul, vector_div


def clip(x: Any, lo: Any, hi: Any, *, num_threads: Optional[int] = None,
         engine: Engine = None) -> da.Array:
    """``min(max(x, lo), hi)`` (twin of :func:`hologram.ops.clip`)."""
    return _elementwise("clip", (x,), (lo, hi), num_threads=num_threads, engine=engine)


def scalar_add(x: Any, s: Any, *, num_threads: Optional[int] = None,
               engine: Engine = None) -> da.Array:
    """``x + s`` (twin of :func:`hologram.ops.scalar_add`)."""
    return _elementwise("scalar_add", (x,), (s,), num_threads=num_threads, engine=engine)


def scalar_mul(x: Any, s: Any, *, num_threads: Optional[int] = None,
               engine: Engine = None) -> da.Array:
    """``x * s`` (twin of :func:`hologram.ops.scalar_mul`)."""
    return _elementwise("scalar_mul", (x,), (s,), num_threads=num_threads, engine=engine)


def softmax(x: Any, *, num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """Softmax over the last axis of a 1-D array or each row of a 2-D one (twin of
    :func:`hologram.ops.softmax`); the last axis is rechunked to one chunk."""
    x = _array(x, "softmax", "x")
    _run("softmax", ThreadPolicy(1), engine, np.empty((0,) * builtins.max(x.ndim, 1), x.dtype))
    if x.ndim not in (1, 2):
        raise ValueError(f"softmax: expected a 1-D or 2-D array, got {x.ndim}-D")
    x = x.rechunk({x.ndim - 1: -1})
    return da.map_blocks(_chunk_op, x, op="softmax", extra=(), pol=policy(num_threads),
                         engine=engine, dtype=x.dtype, meta=_meta(x.dtype, x.ndim))


def fill(x: Any, value: Any, *, num_threads: Optional[int] = None,
         engine: Engine = None) -> da.Array:
    """A new array of ``x``'s shape, chunks and dtype with every element ``value``, filled by
    the VM (the dask form of :func:`hologram.ops.fill`, which fills in place)."""
    x = _array(x, "fill", "out")
    return _full(x.chunks, value, x.dtype, num_threads, engine)


def full(shape: Any, value: Any, dtype: Any = np.float32, *, chunks: Any = "auto",
         num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """A new dask array of ``shape`` and ``dtype`` (chunked as ``chunks``) filled with
    ``value`` by the VM (twin of :func:`hologram.ops.full`)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype)
    return _full(da.core.normalize_chunks(chunks, shape, dtype=dtype), value, dtype,
                 num_threads, engine)


def _full(chunks: Any, value: Any, dtype: np.dtype, num_threads: Optional[int],
          engine: Engine) -> da.Array:
    _run("fill", ThreadPolicy(1), engine, np.empty(0, dtype), value)   # checks dtype, value
    return da.map_blocks(_chunk_full, value=value, dtype=dtype, chunks=chunks,
                         meta=_meta(dtype, len(chunks)), pol=policy(num_threads),
                         engine=engine, element_type=dtype)


def _chunk_full(value: Any, pol: ThreadPolicy, engine: Engine, element_type: Any,
                block_info: Any = None) -> np.ndarray:
    shape = block_info[None]["chunk-shape"]
    return _run("fill", pol, engine, np.empty(shape, element_type), value)


# ---- faults of the lowest element over all chunks

def _guarded(op: str, arrays: Sequence[da.Array], replicated: Sequence[Any],
             extra: Tuple[Any, ...], dtype: Any, pol: ThreadPolicy, engine: Engine
             ) -> da.Array:
    """``op`` chunk by chunk over ``arrays`` (equal chunks; ``replicated``: delayed values
    given whole to every task), each task returning its fault as data (see _chunks)."""
    base = arrays[0]
    blocks = [a.to_delayed() for a in arrays]
    starts = _chunks.block_starts(base.chunks)
    parts = {}
    for idx in np.ndindex(*base.numblocks):
        start = tuple(int(starts[d][i]) for d, i in enumerate(idx))
        parts[idx] = dask.delayed(_guarded_chunk, pure=False)(
            op, extra, start, base.shape, pol, engine, len(arrays),
            *[b[idx] for b in blocks], *replicated)
    faults = [dask.delayed(_chunks.fault_of, pure=False)(p) for p in parts.values()]
    checked = dask.delayed(_chunks.check_faults, pure=False)(*faults)
    meta = _meta(dtype, base.ndim)
    return _chunks.assemble(
        lambda idx, shape: da.from_delayed(
            dask.delayed(_chunks.value_of, pure=False)(parts[idx], checked), shape, dtype,
            meta=meta), base.chunks)


def _guarded_chunk(op: str, extra: Tuple[Any, ...], start: Tuple[int, ...],
                   shape: Tuple[int, ...], pol: ThreadPolicy, engine: Engine, narrays: int,
                   *args: Any) -> _chunks.Part:
    """Run ``op`` on one chunk; a fault comes back as (global element, exception) with the
    element numbered in the whole array, as one call on the whole array would number it."""
    blocks = args[:narrays]

    def global_position(local: int) -> int:
        at = np.unravel_index(local, blocks[0].shape)
        return int(np.ravel_multi_index(tuple(s + int(i) for s, i in zip(start, at)), shape))

    try:
        return _chunks.Part(_run(op, pol, engine, *args, *extra))
    except ExecutionError as e:
        if e.global_lane_id is None:
            raise
        g = global_position(e.global_lane_id)
        lanes = B.BLOCK                   # the ops launch one lane per element, 256 per block
        return _chunks.Part(None, (g, type(e)(
            e.message, block_idx=(g // lanes, 0, 0), lane_idx=(g % lanes, 0, 0),
            global_lane_id=g, pc=e.pc, instruction=e.instruction)))
    except IndexError as e:                 # gather: the kernel's deliberate fault
        cause = e.__cause__
        if not isinstance(cause, ExecutionError) or cause.global_lane_id is None:
            raise
        local = cause.global_lane_id
        g = global_position(local)
        value = np.asarray(blocks[0]).reshape(-1)[local]
        size = np.asarray(args[narrays]).size
        return _chunks.Part(None, (g, IndexError(
            f"gather: index {value} at position {g} is out of bounds for size {size}")))


def gather(x: Any, indices: Any, *, num_threads: Optional[int] = None,
           engine: Engine = None) -> da.Array:
    """``x.ravel()[indices]`` (twin of :func:`hologram.ops.gather`): the indices chunk by chunk,
    ``x`` whole in every task; IndexError for the lowest out-of-range position."""
    x = _array(x, "gather", "x")
    idx = _array(indices, "gather", "indices")
    _run("gather", ThreadPolicy(1), engine, np.empty(0, x.dtype), np.empty(0, idx.dtype))
    whole = x.reshape(-1).rechunk(-1) if x.ndim != 1 or x.numblocks != (1,) else x
    return _guarded("gather_indices", [idx], [whole.to_delayed().reshape(-1)[0]], (),
                    x.dtype, policy(num_threads), engine)


def _gather_indices(idx: np.ndarray, x: np.ndarray, *, backend: Any, num_threads: Any
                    ) -> np.ndarray:
    return _ops.gather(x, idx, backend=backend, num_threads=num_threads)


_EXTRA_OPS = {"gather_indices": _gather_indices}


# ---- reductions

def _axes(x: da.Array, axis: Any, op: str) -> Tuple[int, ...]:
    """The reduced axes: all (axis=None) or the last, with ops' errors otherwise."""
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be None or an int, got {axis!r}")
    if x.ndim == 0 or axis not in (-1, x.ndim - 1):
        raise ValueError(f"{op}: only axis=None or the last axis is supported "
                         f"(got axis={axis} for a {x.ndim}-d array)")
    return (x.ndim - 1,)


def _fold(op: str, x: np.ndarray, axes: Tuple[int, ...], keepdims: bool, c: DType,
          o: DType, divisor: Optional[float], pol: ThreadPolicy, engine: Engine) -> np.ndarray:
    """Fold ``x`` over ``axes`` (all, or the last) with ``op`` on the VM, accumulating in
    ``c``; the result in ``o``, divided by ``divisor`` if given."""
    x = np.ascontiguousarray(x)
    t = B.isa_type(x.dtype)
    assert t is not None
    whole = len(axes) == x.ndim
    rows = 1 if whole else int(np.prod(x.shape[:-1]))
    ncols = x.size if whole else x.shape[-1]
    shape = tuple(1 if (whole or d == x.ndim - 1) else n for d, n in enumerate(x.shape))
    out = np.empty(shape, _np(o))
    keep: list = []
    if divisor is None:
        steps = reduce_steps(op, x, t, rows, ncols, c, o, out, keep)
    else:
        sums = np.empty(rows, _np(c))
        keep.append(sums)
        steps = reduce_steps(op, x, t, rows, ncols, c, c, sums, keep)
        steps.append(scale_step(sums, c, out, o, rows, divisor))
    B.run(B.Plan(steps, lambda: out, keep), local_backend(engine), pol.resolve())
    return out if keepdims else out.reshape(tuple(n for d, n in enumerate(shape)
                                                  if not (whole or d == x.ndim - 1)))


def _partial(op: str, c: DType, pol: ThreadPolicy, engine: Engine, x: np.ndarray,
             axis: Any = None, keepdims: bool = True) -> np.ndarray:
    """da.reduction's chunk and combine steps: a fold kept in the compute type."""
    return _fold(op, x, _norm_axes(axis, x.ndim), keepdims, c, c, None, pol, engine)


def _final(op: str, c: DType, o: DType, divisor: Optional[float], pol: ThreadPolicy,
           engine: Engine, x: np.ndarray, axis: Any = None, keepdims: bool = False
           ) -> np.ndarray:
    """da.reduction's aggregate step: the last fold, rounded once to ``o`` (and divided)."""
    return _fold(op, x, _norm_axes(axis, x.ndim), keepdims, c, o, divisor, pol, engine)


def _norm_axes(axis: Any, ndim: int) -> Tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes) if ndim else ()


def _reduce(op: str, name: str, x: da.Array, axis: Any, split_every: Any,
            num_threads: Optional[int], engine: Engine, allowed=B.ALL, mean: bool = False,
            out: Optional[DType] = None, divisor: Optional[float] = None) -> da.Array:
    """A VM reduction tree over ``x`` (see the module docstring)."""
    t = B.type_of(np.empty(0, x.dtype), allowed, name, "x")
    axes = _axes(x, axis, name)
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    if any(math.isnan(n) for n in x.shape):
        raise ValueError(f"{name}: the array's shape must be known (compute its chunk sizes)")
    rows = int(np.prod(x.shape)) // count if count else int(np.prod([
        n for d, n in enumerate(x.shape) if d not in axes]))
    if op != "add" and count == 0 and rows > 0:
        raise ValueError(f"{name}: zero-size reduction has no identity")
    c = B.compute_type(t)
    o = out or t
    if mean:
        divisor = float(count)
    pol = policy(num_threads)
    return da.reduction(
        x, functools.partial(_partial, op, c, pol, engine),
        functools.partial(_final, op, c, o, divisor, pol, engine),
        axis=axes, keepdims=False, dtype=_np(o), split_every=split_every,
        combine=functools.partial(_partial, op, c, pol, engine), concatenate=True,
        meta=_meta(_np(o), x.ndim - len(axes)))


def sum(x: Any, axis: Optional[int] = None, *, split_every: Any = None,
        num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """Sum over everything (a 0-d dask array) or the last axis (twin of
    :func:`hologram.ops.sum`: integers wrap, f16/bf16 accumulate in f32 and round once)."""
    return _reduce("add", "sum", _array(x, "sum", "x"), axis, split_every, num_threads, engine)


def min(x: Any, axis: Optional[int] = None, *, split_every: Any = None,
        num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """Minimum, NaN-ignoring (twin of :func:`hologram.ops.min`)."""
    return _reduce("min", "min", _array(x, "min", "x"), axis, split_every, num_threads, engine)


def max(x: Any, axis: Optional[int] = None, *, split_every: Any = None,
        num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """Maximum, NaN-ignoring (twin of :func:`hologram.ops.max`)."""
    return _reduce("max", "max", _array(x, "max", "x"), axis, split_every, num_threads, engine)


def mean(x: Any, axis: Optional[int] = None, *, split_every: Any = None,
         num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """Mean of a float array (twin of :func:`hologram.ops.mean`): a VM sum tree, then a VM
    divide by the count."""
    return _reduce("add", "mean", _array(x, "mean", "x"), axis, split_every, num_threads,
                   engine, B.FLOAT, mean=True)


# ---- losses: per-chunk sums of the loss terms, then a VM sum tree and divide

def _loss(kind: str, name: str, a: Any, b: Any, split_every: Any,
          num_threads: Optional[int], engine: Engine) -> da.Array:
    a = _array(a, name, "predictions")
    b = _array(b, name, "targets")
    plan_loss(kind, name, np.empty(0, a.dtype), np.empty(0, b.dtype))   # dtype checks
    if a.shape != b.shape:
        raise ValueError(f"{name}: shape mismatch: predictions {a.shape}, targets {b.shape}")
    t = B.isa_type(np.dtype(a.dtype))
    assert t is not None
    c = B.compute_type(t)
    b = b.rechunk(a.chunks)
    pol = policy(num_threads)
    ind = tuple(range(a.ndim))
    partials = da.blockwise(_chunk_loss, ind, a, ind, b, ind, kind=kind, name_=name, pol=pol,
                            engine=engine, dtype=_np(c), adjust_chunks={d: 1 for d in ind},
                            meta=_meta(_np(c), a.ndim))
    if kind == "xent":
        divisor = int(np.prod(a.shape[:-1])) if a.ndim > 1 else 1
    else:
        divisor = int(np.prod(a.shape))
    return _reduce("add", name, partials, None, split_every, num_threads, engine, B.FLOAT,
                   out=t, divisor=float(divisor))


def _chunk_loss(a: np.ndarray, b: np.ndarray, kind: str, name_: str, pol: ThreadPolicy,
                engine: Engine) -> np.ndarray:
    """The sum of one chunk's loss terms, in the compute type: hologram.ops' loss plan without
    its final divide."""
    plan = plan_loss(kind, name_, a, b)
    B.run(B.Plan(plan.steps[:-1], lambda: None, plan.keep), local_backend(engine),
          pol.resolve())
    total = plan.keep[1]                   # plan_loss keeps [terms, total]
    return total.reshape((1,) * a.ndim)


def mse(predictions: Any, targets: Any, *, split_every: Any = None,
        num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """Mean squared error, a 0-d dask array (twin of :func:`hologram.ops.mse`)."""
    return _loss("mse", "mse", predictions, targets, split_every, num_threads, engine)


def cross_entropy(probs: Any, targets: Any, *, split_every: Any = None,
                  num_threads: Optional[int] = None, engine: Engine = None) -> da.Array:
    """Cross entropy averaged over rows (twin of :func:`hologram.ops.cross_entropy`)."""
    return _loss("xent", "cross_entropy", probs, targets, split_every, num_threads, engine)


def binary_cross_entropy(probs: Any, targets: Any, *, split_every: Any = None,
                         num_threads: Optional[int] = None, engine: Engine = None
                         ) -> da.Array:
    """Binary cross entropy (twin of :func:`hologram.ops.binary_cross_entropy`)."""
    return _loss("bce", "binary_cross_entropy", probs, targets, split_every, num_threads,
                 engine)


# ---- matrix products

def gemm(a: Any, b: Any, *, split_every: Any = None, num_threads: Optional[int] = None,
         engine: Engine = None) -> da.Array:
    """``a @ b`` of 2-D float arrays (twin of :func:`hologram.ops.gemm`): block products on
    the VM; with the inner axis in several chunks, their partial products (rounded to the
    dtype) are summed by a VM reduction."""
    a = _array(a, "gemm", "a")
    b = _array(b, "gemm", "b")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm: expected 2-D arrays, got {a.ndim}-D and {b.ndim}-D")
    _run("gemm", ThreadPolicy(1), engine, np.empty((0, 0), a.dtype), np.empty((0, 0), b.dtype))
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"gemm: inner dimensions differ: a is {a.shape}, b is {b.shape}")
    return _product("gemm", a, b, "kj", "ij", split_every, num_threads, engine)


def matvec(a: Any, x: Any, *, split_every: Any = None, num_threads: Optional[int] = None,
           engine: Engine = None) -> da.Array:
    """``a @ x`` for a 2-D ``a`` and 1-D ``x`` (twin of :func:`hologram.ops.matvec`), summed
    over column chunks by a VM reduction when ``a`` has several."""
    a = _array(a, "matvec", "a")
    x = _array(x, "matvec", "x")
    if a.ndim != 2 or x.ndim != 1:
        raise ValueError(f"matvec: expected a 2-D matrix and a 1-D vector, got {a.ndim}-D "
                         f"and {x.ndim}-D")
    _run("matvec", ThreadPolicy(1), engine, np.empty((0, 0), a.dtype), np.empty(0, x.dtype))
    if x.shape[0] != a.shape[1]:
        raise ValueError(f"matvec: a is {a.shape} but x has {x.shape[0]} elements")
    return _product("matvec", a, x, "k", "i", split_every, num_threads, engine)


def _product(op: str, a: da.Array, b: da.Array, b_ind: str, out_ind: str, split_every: Any,
             num_threads: Optional[int], engine: Engine) -> da.Array:
    """``op`` (gemm or matvec) of a ("ik") and b (``b_ind``): with one chunk along k, the op
    per output block; else partial products per k chunk (a trailing axis), summed on the VM."""
    b = b.rechunk({0: a.chunks[1]})
    kw = dict(op=op, extra=(), pol=policy(num_threads), engine=engine, dtype=a.dtype)
    if a.numblocks[1] == 1:
        return da.blockwise(_chunk_op, out_ind, a, "ik", b, b_ind, concatenate=True,
                            meta=_meta(a.dtype, len(out_ind)), **kw)
    partial = da.blockwise(_chunk_product, out_ind + "k", a, "ik", b, b_ind,
                           adjust_chunks={"k": 1}, meta=_meta(a.dtype, len(out_ind) + 1), **kw)
    return _reduce("add", op, partial, -1, split_every, num_threads, engine, B.FLOAT)


def _chunk_product(*blocks: Any, op: str, extra: Tuple[Any, ...], pol: ThreadPolicy,
                   engine: Engine) -> np.ndarray:
    """One block's partial product, with a trailing axis of length 1 (the inner chunk)."""
    return _run(op, pol, engine, *blocks)[..., None]

"""hologram.ops: numpy-like array operations, each computed by Atlas ISA kernels on the VM.

Every op is a lane-parallel ISA program (templates in :mod:`hologram.kernels`, one ``.hasm``
file each), assembled once per (op, dtype) and cached; numpy only allocates outputs and checks
arguments. Reductions are shared-memory block reductions with ``bar.sync``, combined across
blocks by a second pass (deterministic, no float atomics). ::

    import numpy as np
    from hologram import ops
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    y = ops.gelu(x)                     # new array
    ops.vector_add(x, y, out=y)         # in place
    s = ops.sum(y)                      # numpy scalar (float32)
    p = ops.softmax(np.ones((4, 10)))   # rows of a 2-D array

Every op accepts the keyword-only ``backend=`` (default: the process-wide VM backend) and
``num_threads=`` (default: the backend's). For repeated calls on the same arrays,
``k = ops.prepare(ops.vector_add, a, b, out=c)`` binds the launches once; ``k()`` reruns them.

dtypes: all ops accept float32 and float64 and, where the ISA has the arithmetic, float16 and
bfloat16 (``ml_dtypes.bfloat16``; computed in f32 and rounded where noted). The element-wise
arithmetic, min/max, abs, neg, relu, clip, scalar ops, copy, fill, gather and sum/min/max also
accept int8 ... int64 and uint8 ... uint64 (wrapping arithmetic, as the ISA). Errors: TypeError
for unsupported or mismatched dtypes and wrong argument types, ValueError for shape mismatches
and bad ``out=`` arrays.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

from ..backend import CpuBackend
from ._build import Plan, Prepared
from .elementwise import (abs, add, clip, div, gelu, maximum, minimum, mul, neg, plan_abs,
                          plan_activation, plan_binary, plan_clip, plan_neg, plan_scalar,
                          plan_unary, relu, scalar_add, scalar_mul, sigmoid, sub, tanh,
                          vector_add, vector_div, vector_mul, vector_sub)
from .linalg import gemm, matvec, plan_gemm, plan_matvec
from .memory import copy, fill, full, gather, plan_copy, plan_fill, plan_gather
from .nn import binary_cross_entropy, cross_entropy, mse, plan_loss, plan_softmax, softmax
from .reductions import max, mean, min, plan_mean, plan_reduce, sum

__all__ = [
    "vector_add", "vector_sub", "vector_mul", "vector_div", "add", "sub", "mul", "div",
    "minimum", "maximum", "abs", "neg", "relu", "clip", "scalar_add", "scalar_mul",
    "sigmoid", "tanh", "gelu", "softmax", "sum", "min", "max", "mean", "gemm", "matvec",
    "mse", "cross_entropy", "binary_cross_entropy", "copy", "fill", "full", "gather",
    "prepare", "Prepared", "OPS",
]

# op name -> planner: the same arguments as the op, minus backend/num_threads.
_PLANNERS: Dict[str, Callable[..., Plan]] = {
    "vector_add": lambda a, b, out=None: plan_binary("add", "vector_add", a, b, out),
    "vector_sub": lambda a, b, out=None: plan_binary("sub", "vector_sub", a, b, out),
    "vector_mul": lambda a, b, out=None: plan_binary("mul", "vector_mul", a, b, out),
    "vector_div": lambda a, b, out=None: plan_binary("div", "vector_div", a, b, out),
    "minimum": lambda a, b, out=None: plan_binary("min", "minimum", a, b, out),
    "maximum": lambda a, b, out=None: plan_binary("max", "maximum", a, b, out),
    "abs": plan_abs,
    "neg": plan_neg,
    "relu": lambda x, out=None: plan_unary("relu", "relu", x, out),
    "clip": plan_clip,
    "scalar_add": lambda x, s, out=None: plan_scalar("add", "scalar_add", x, s, out),
    "scalar_mul": lambda x, s, out=None: plan_scalar("mul", "scalar_mul", x, s, out),
    "sigmoid": lambda x, out=None: plan_activation("sigmoid", x, out),
    "tanh": lambda x, out=None: plan_activation("tanh", x, out),
    "gelu": lambda x, out=None: plan_activation("gelu", x, out),
    "softmax": plan_softmax,
    "sum": lambda x, axis=None, out=None: plan_reduce("add", "sum", x, axis, out),
    "min": lambda x, axis=None, out=None: plan_reduce("min", "min", x, axis, out),
    "max": lambda x, axis=None, out=None: plan_reduce("max", "max", x, axis, out),
    "mean": plan_mean,
    "gemm": plan_gemm,
    "matvec": plan_matvec,
    "mse": lambda a, b, out=None: plan_loss("mse", "mse", a, b, out),
    "cross_entropy": lambda a, b, out=None: plan_loss("xent", "cross_entropy", a, b, out),
    "binary_cross_entropy":
        lambda a, b, out=None: plan_loss("bce", "binary_cross_entropy", a, b, out),
    "copy": plan_copy,
    "fill": plan_fill,
    "gather": plan_gather,
}
_ALIASES = {"add": "vector_add", "sub": "vector_sub", "mul": "vector_mul", "div": "vector_div"}

#: The names of the ops (aliases add/sub/mul/div and the helper ``full`` not included).
OPS = tuple(_PLANNERS)

def prepare(op: Union[str, Callable[..., Any]], *args: Any,
            backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None,
            **kwargs: Any) -> Prepared:
    """Bind one op call for repeated runs: ``k = prepare(ops.gemm, a, b); c = k()``.

    ``op`` is an op function or its name; the other arguments are the op's. The launches are
    prepared once with :meth:`CpuBackend.prepare` (validation, parameter binding and thread
    count settled); each ``k()`` reruns them on the current contents of the same arrays and
    returns the result (the same output array every time).
    """
    name = op if isinstance(op, str) else getattr(op, "__name__", "")
    name = _ALIASES.get(name, name)
    planner = _PLANNERS.get(name)
    if planner is None:
        raise ValueError(f"prepare: unknown op {op!r}; ops: {', '.join(OPS)}")
    return Prepared(planner(*args, **kwargs), backend, num_threads)

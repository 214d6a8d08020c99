"""Element-wise ops: arithmetic, min/max, abs/neg, activations, clip, scalar ops.

Every function takes arrays of one shape and dtype (no broadcasting: a shape or dtype mismatch
is an error, never a silent conversion), runs one lane per element and returns a new array, or
writes ``out=`` (which may be exactly one of the inputs: in-place use is allowed).
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Optional

import numpy as np

from ..backend import CpuBackend
from ..isa import DType
from . import _build as B
from ._build import ALL, FLOAT, Plan, Step

__all__ = ["vector_add", "vector_sub", "vector_mul", "vector_div", "minimum", "maximum",
           "abs", "neg", "relu", "clip", "scalar_add", "scalar_mul", "sigmoid", "tanh", "gelu",
           "add", "sub", "mul", "div"]

def plan_binary(op: str, name: str, a: Any, b: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan ``out = a OP b`` (binary.hasm); OP is an ISA mnemonic."""
    a = B.as_input(a, name, "a")
    b = B.as_input(b, name, "b")
    B.same_dtype(name, a=a, b=b)
    t = B.type_of(a, ALL, name, "a")
    if a.shape != b.shape:
        raise ValueError(f"{name}: shape mismatch: a is {a.shape}, b is {b.shape} "
                         f"(no broadcasting)")
    out = B.output(out, a.shape, a.dtype, name, (a, b), elementwise=True)
    prog = B.program("binary", T=t.text, OP=op, NAME=f"{name}_{t.text}")
    step = Step(prog, B.linear(a.size), {"r1": a, "r2": b, "r3": out, "r4": ("u64", a.size)})
    return Plan([step], lambda: out)


def plan_unary(kernel: str, name: str, x: Any, out: Optional[np.ndarray] = None,
               allowed: FrozenSet[DType] = ALL, extra: Optional[Dict[str, Any]] = None,
               **subs: Any) -> Plan:
    """Plan a one-input element-wise kernel ``kernel`` (r1 = x, r3 = out, r4 = n; ``extra``
    adds launch parameters, ``subs`` template substitutions)."""
    x = B.as_input(x, name, "x")
    t = B.type_of(x, allowed, name, "x")
    out = B.output(out, x.shape, x.dtype, name, (x,), elementwise=True)
    prog = B.program(kernel, T=t.text, C=B.compute_type(t).text, NAME=f"{name}_{t.text}",
                     **subs)
    params: Dict[str, Any] = {"r1": x, "r3": out, "r4": ("u64", x.size)}
    params.update(extra or {})
    return Plan([Step(prog, B.linear(x.size), params)], lambda: out)


def plan_activation(op: str, x: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan sigmoid, tanh (one ISA instruction each, unary.hasm) or gelu (gelu.hasm)."""
    if op == "gelu":
        return plan_unary("gelu", "gelu", x, out, FLOAT)
    return plan_unary("unary", op, x, out, FLOAT, OP=op)


def plan_abs(x: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan abs: the ISA's abs for signed and float types, a copy for unsigned ones."""
    x = B.as_input(x, "abs", "x")
    t = B.type_of(x, ALL, "abs", "x")
    return plan_unary("unary", "abs", x, out, OP="mov" if t.is_int and not t.is_signed else "abs")


def plan_neg(x: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan neg: the ISA's neg, or 0 - x (neg_unsigned.hasm) for unsigned types."""
    x = B.as_input(x, "neg", "x")
    t = B.type_of(x, ALL, "neg", "x")
    if t.is_int and not t.is_signed:
        return plan_unary("neg_unsigned", "neg", x, out)
    return plan_unary("unary", "neg", x, out, OP="neg")


def plan_scalar(op: str, name: str, x: Any, s: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan ``x OP s`` with the scalar s bound as a typed parameter (scalar.hasm)."""
    x = B.as_input(x, name, "x")
    t = B.type_of(x, ALL, name, "x")
    value = B.scalar(t, s, name, "s")
    return plan_unary("scalar", name, x, out, OP=op, extra={"r5": value})


def plan_clip(x: Any, lo: Any, hi: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan clip (clip.hasm) with lo and hi as typed parameters."""
    x = B.as_input(x, "clip", "x")
    t = B.type_of(x, ALL, "clip", "x")
    return plan_unary("clip", "clip", x, out,
                      extra={"r5": B.scalar(t, lo, "clip", "lo"),
                             "r6": B.scalar(t, hi, "clip", "hi")})


def _run(plan: Plan, backend: Optional[CpuBackend], num_threads: Optional[int]) -> np.ndarray:
    return B.run(plan, backend, num_threads)


def vector_add(a: Any, b: Any, out: Optional[np.ndarray] = None, *,
               backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
               ) -> np.ndarray:
    """``a + b`` element-wise (integers wrap). All 12 dtypes; same shape and dtype required."""
    return _run(plan_binary("add", "vector_add", a, b, out), backend, num_threads)


def vector_sub(a: Any, b: Any, out: Optional[np.ndarray] = None, *,
               backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
               ) -> np.ndarray:
    """``a - b`` element-wise (integers wrap). All 12 dtypes."""
    return _run(plan_binary("sub", "vector_sub", a, b, out), backend, num_threads)


def vector_mul(a: Any, b: Any, out: Optional[np.ndarray] = None, *,
               backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
               ) -> np.ndarray:
    """``a * b`` element-wise (integers: low bits of the product). All 12 dtypes."""
    return _run(plan_binary("mul", "vector_mul", a, b, out), backend, num_threads)


def vector_div(a: Any, b: Any, out: Optional[np.ndarray] = None, *,
               backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
               ) -> np.ndarray:
    """``a / b`` element-wise. Floats: IEEE division (x/0 = ±inf, 0/0 = NaN). Integers: the
    quotient truncated toward zero, in the input dtype (C semantics, *not* numpy's true
    division); a zero divisor raises :class:`hologram.DivisionByZero`; MIN / -1 = MIN."""
    return _run(plan_binary("div", "vector_div", a, b, out), backend, num_threads)


def minimum(a: Any, b: Any, out: Optional[np.ndarray] = None, *,
            backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
            ) -> np.ndarray:
    """Element-wise minimum. Floats follow the ISA's ``min``: if one operand is NaN the other
    is returned (like ``numpy.fmin``), and -0 < +0. All 12 dtypes."""
    return _run(plan_binary("min", "minimum", a, b, out), backend, num_threads)


def maximum(a: Any, b: Any, out: Optional[np.ndarray] = None, *,
            backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
            ) -> np.ndarray:
    """Element-wise maximum; NaN-ignoring like ``numpy.fmax`` (see :func:`minimum`)."""
    return _run(plan_binary("max", "maximum", a, b, out), backend, num_threads)


def abs(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
        num_threads: Optional[int] = None) -> np.ndarray:
    """``|x|``. Signed integers: abs(MIN) = MIN (wraps, as numpy); unsigned: a copy; floats:
    the sign bit cleared. All 12 dtypes."""
    return _run(plan_abs(x, out), backend, num_threads)


def neg(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
        num_threads: Optional[int] = None) -> np.ndarray:
    """``-x``. Integers wrap (unsigned: 2^w - x, as numpy.negative); floats: sign bit flipped.
    All 12 dtypes."""
    return _run(plan_neg(x, out), backend, num_threads)


def relu(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
         num_threads: Optional[int] = None) -> np.ndarray:
    """``max(x, 0)`` element-wise (NaN stays NaN, like ``numpy.maximum(x, 0)``). All 12 dtypes."""
    return _run(plan_unary("relu", "relu", x, out), backend, num_threads)


def clip(x: Any, lo: Any, hi: Any, out: Optional[np.ndarray] = None, *,
         backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> np.ndarray:
    """``min(max(x, lo), hi)`` like ``numpy.clip`` (NaN stays NaN; lo > hi gives hi). ``lo`` and
    ``hi`` are scalars converted to x's dtype (integers must be integral and in range)."""
    return _run(plan_clip(x, lo, hi, out), backend, num_threads)


def scalar_add(x: Any, s: Any, out: Optional[np.ndarray] = None, *,
               backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
               ) -> np.ndarray:
    """``x + s`` with a scalar ``s`` converted to x's dtype. All 12 dtypes."""
    return _run(plan_scalar("add", "scalar_add", x, s, out), backend, num_threads)


def scalar_mul(x: Any, s: Any, out: Optional[np.ndarray] = None, *,
               backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
               ) -> np.ndarray:
    """``x * s`` with a scalar ``s`` converted to x's dtype. All 12 dtypes."""
    return _run(plan_scalar("mul", "scalar_mul", x, s, out), backend, num_threads)


def sigmoid(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
            num_threads: Optional[int] = None) -> np.ndarray:
    """``1 / (1 + exp(-x))`` (the ISA's ``sigmoid``; f16/bf16 evaluated in f32, rounded once).
    Float dtypes."""
    return _run(plan_activation("sigmoid", x, out), backend, num_threads)


def tanh(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
         num_threads: Optional[int] = None) -> np.ndarray:
    """Hyperbolic tangent (the ISA's ``tanh``). Float dtypes."""
    return _run(plan_activation("tanh", x, out), backend, num_threads)


def gelu(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
         num_threads: Optional[int] = None) -> np.ndarray:
    """GELU, **tanh approximation**: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``
    (not the exact erf form). Float dtypes; f16/bf16 computed in f32 and rounded once."""
    return _run(plan_activation("gelu", x, out), backend, num_threads)


add = vector_add
sub = vector_sub
mul = vector_mul
div = vector_div

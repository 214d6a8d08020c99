"""softmax and the losses (mse, cross_entropy, binary_cross_entropy): multi-kernel ops."""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from ..backend import CpuBackend
from . import _build as B
from ._build import FLOAT, Plan, Step
from .reductions import reduce_steps, scale_step

__all__ = ["softmax", "mse", "cross_entropy", "binary_cross_entropy"]


def plan_softmax(x: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan softmax over the last axis of a 1-D or 2-D float array (four kinds of launch:
    row max, exp(x - max), row sum, divide)."""
    x = B.as_input(x, "softmax", "x")
    t = B.type_of(x, FLOAT, "softmax", "x")
    if x.ndim not in (1, 2):
        raise ValueError(f"softmax: expected a 1-D or 2-D array, got {x.ndim}-D")
    res = B.output(out, x.shape, x.dtype, "softmax", (x,))
    rows, ncols = (1, x.shape[0]) if x.ndim == 1 else x.shape
    c = B.compute_type(t)
    cd = np.dtype(c.numpy)
    m, s, e = np.empty(rows, cd), np.empty(rows, cd), np.empty(rows * ncols, cd)
    keep: List[Any] = [m, s, e]
    grid = B.linear(rows * ncols)
    steps = reduce_steps("max", x, t, rows, ncols, c, c, m, keep)
    steps.append(Step(B.program("rowwise", ("exp",), T=t.text, C=c.text, KIND="exp"), grid,
                      {"r1": x, "r2": m, "r3": e, "r4": ("u64", ncols),
                       "r5": ("u64", rows * ncols)}))
    steps += reduce_steps("add", e, c, rows, ncols, c, c, s, keep)
    steps.append(Step(B.program("rowwise", ("div",), T=t.text, C=c.text, KIND="div"), grid,
                      {"r1": e, "r2": s, "r3": res, "r4": ("u64", ncols),
                       "r5": ("u64", rows * ncols)}))
    return Plan(steps, lambda: res, keep)


def plan_loss(kind: str, name: str, a: Any, b: Any, out: Optional[np.ndarray] = None) -> Plan:
    """Plan a loss: per-element terms (loss.hasm), their sum (reduce.hasm), a divide
    (scale.hasm) by the number of elements, or of rows for cross_entropy."""
    a = B.as_input(a, name, "predictions")
    b = B.as_input(b, name, "targets")
    B.same_dtype(name, predictions=a, targets=b)
    t = B.type_of(a, FLOAT, name, "predictions")
    if a.shape != b.shape:
        raise ValueError(f"{name}: shape mismatch: predictions {a.shape}, targets {b.shape}")
    res = B.output(out, (), a.dtype, name, (a, b))
    c = B.compute_type(t)
    cd = np.dtype(c.numpy)
    n = a.size
    terms, total = np.empty(n, cd), np.empty(1, cd)
    keep: List[Any] = [terms, total]
    steps = [Step(B.program("loss", (kind,), T=t.text, C=c.text, KIND=kind), B.linear(n),
                  {"r1": a, "r2": b, "r3": terms, "r4": ("u64", n)})]
    steps += reduce_steps("add", terms, c, 1, n, c, c, total, keep)
    if kind == "xent":
        divisor = int(np.prod(a.shape[:-1])) if a.ndim > 1 else 1   # rows: the batch size
    else:
        divisor = n
    steps.append(scale_step(total, c, res, t, 1, float(divisor)))
    return Plan(steps, (lambda: res[()]) if out is None else (lambda: res), keep)


def softmax(x: Any, out: Optional[np.ndarray] = None, *, backend: Optional[CpuBackend] = None,
            num_threads: Optional[int] = None) -> np.ndarray:
    """Numerically stable softmax ``exp(x - max) / sum(exp(x - max))`` over the **last axis**
    of a 1-D array or of each row of a 2-D array (other ranks: ValueError). Float dtypes;
    computed in f32 for f16/bf16. Max, sums and the division all run in the VM."""
    return B.run(plan_softmax(x, out), backend, num_threads)


def mse(predictions: Any, targets: Any, out: Optional[np.ndarray] = None, *,
        backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None) -> Any:
    """Mean squared error ``mean((predictions - targets)^2)`` over all elements (a numpy
    scalar, or written to a 0-d ``out``). Float dtypes, same shape and dtype."""
    return B.run(plan_loss("mse", "mse", predictions, targets, out), backend, num_threads)


def cross_entropy(probs: Any, targets: Any, out: Optional[np.ndarray] = None, *,
                  backend: Optional[CpuBackend] = None, num_threads: Optional[int] = None
                  ) -> Any:
    """Cross entropy of predicted probabilities ``probs`` against target probabilities (e.g.
    one-hot) of the same shape: ``-sum(targets * log(probs)) / rows`` where the last axis holds
    the classes (rows = 1 for 1-D input), i.e. the batch mean. ``log`` is clamped at -100 (as
    PyTorch does), so a zero probability gives a finite loss. Float dtypes."""
    return B.run(plan_loss("xent", "cross_entropy", probs, targets, out), backend, num_threads)


def binary_cross_entropy(probs: Any, targets: Any, out: Optional[np.ndarray] = None, *,
                         backend: Optional[CpuBackend] = None,
                         num_threads: Optional[int] = None) -> Any:
    """``-mean(t log p + (1 - t) log(1 - p))`` over all elements, logs clamped at -100 (as
    PyTorch's ``binary_cross_entropy``). Float dtypes, same shape and dtype."""
    return B.run(plan_loss("bce", "binary_cross_entropy", probs, targets, out), backend,
                 num_threads)

"""numba peers: every bench kernel and op written as a ``@njit(parallel=True)`` ``prange`` loop.

numba (the fastest compiled SIMT-on-CPU peer measured on the project's machine) is an optional
``bench`` dependency: :func:`available` says whether it imports. Each peer computes what the
hologram kernel computes, on the same inputs, with the thread count set through
:func:`set_threads` (``numba.set_num_threads``) so the comparison runs with the same threads as
hologram's parallel column. No ``fastmath``: like hologram's default engine, results follow the
C library's functions. The harness checks each peer's output against numpy once.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

import numpy as np

try:
    import numba
    from numba import njit, prange
except ImportError:              # the harness prints the tables without the numba column
    numba = None

F = np.float32


def available() -> bool:
    """True if numba imports (``pip install -e ".[bench]"`` installs it)."""
    return numba is not None


def set_threads(n: int) -> int:
    """Run the peers on ``n`` threads (capped at numba's maximum); returns the count used."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


def version() -> Optional[str]:
    return None if numba is None else numba.__version__


_CACHE: Dict[str, Callable[..., Any]] = {}


def peer(name: str) -> Callable[..., Any]:
    """The compiled peer of a bench kernel or op (compiled on first use: numba compiles lazily,
    so the harness calls it once before timing)."""
    fn = _CACHE.get(name)
    if fn is None:
        fn = _CACHE[name] = _BUILDERS[name]()
    return fn


# ---- builders (numba functions are made on demand so importing this module costs nothing)

def _map1(f):
    """out[i] = f(x[i]) over prange."""
    f = njit(inline="always")(f)

    @njit(parallel=True)
    def run(x, out):
        for i in prange(x.shape[0]):
            out[i] = f(x[i])
    return run


def _map2(f):
    """out[i] = f(x[i], y[i]) over prange."""
    f = njit(inline="always")(f)

    @njit(parallel=True)
    def run(x, y, out):
        for i in prange(x.shape[0]):
            out[i] = f(x[i], y[i])
    return run


def _sigmoid(x):
    return F(1) / (F(1) + np.exp(-x))


def _gelu(x):
    c = F(0.7978845608028654)
    return F(0.5) * x * (F(1) + np.tanh(c * (x + F(0.044715) * x * x * x)))


def _chain(x):
    s = F(1) / (F(1) + np.exp(-x))
    return s * np.tanh(x) + np.exp(-x * x) * F(0.5) - x / F(3)


def _mandel():
    @njit(parallel=True)
    def run(cre, cim, counts, max_iter):
        for i in prange(cre.shape[0]):
            zr = F(0)
            zi = F(0)
            k = 0
            while k < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > F(4):
                    break
                t = zr * zi
                zi = (t + t) + cim[i]
                zr = (zr2 - zi2) + cre[i]
                k += 1
            counts[i] = k
    return run


def _saxpy():
    @njit(parallel=True)
    def run(x, y, a):
        for i in prange(x.shape[0]):
            y[i] = a * x[i] + y[i]
    return run


def _vector_add_loop():
    @njit
    def run(a, b, out):                     # the original's single-lane loop: sequential
        for i in range(a.shape[0]):
            out[i] = a[i] + b[i]
    return run


def _gather():
    @njit(parallel=True)
    def run(x, idx, out):
        for i in prange(idx.shape[0]):
            out[i] = x[idx[i]]
    return run


def _histogram():
    # numba has no atomics on the CPU: the fastest correct prange histogram gives each chunk
    # private bins and adds them up afterwards.
    @njit(parallel=True)
    def run(x, bins):
        nchunks = numba.get_num_threads()
        n = x.shape[0]
        part = np.zeros((nchunks, bins.shape[0]), np.uint32)
        step = (n + nchunks - 1) // nchunks
        for c in prange(nchunks):
            for i in range(c * step, min(n, (c + 1) * step)):
                part[c, x[i]] += 1
        for c in range(nchunks):
            for j in range(bins.shape[0]):
                bins[j] += part[c, j]
    return run


def _scan():
    # the usual parallel scan on a CPU: each chunk (one per thread) scans its part, then adds
    # the total of the chunks before it
    @njit(parallel=True)
    def run(x, out):
        n = x.shape[0]
        nchunks = numba.get_num_threads()
        step = (n + nchunks - 1) // nchunks
        totals = np.zeros(nchunks, np.uint32)
        for c in prange(nchunks):
            s = np.uint32(0)
            for i in range(c * step, min(n, (c + 1) * step)):
                s = np.uint32(s + x[i])
                out[i] = s
            totals[c] = s
        for c in prange(1, nchunks):
            off = np.uint32(0)
            for k in range(c):
                off = np.uint32(off + totals[k])
            for i in range(c * step, min(n, (c + 1) * step)):
                out[i] = np.uint32(out[i] + off)
    return run


def _sort_segments():
    @njit(parallel=True)
    def run(x, out, segment):
        n = x.shape[0]
        for s in prange((n + segment - 1) // segment):
            lo = s * segment
            hi = min(n, lo + segment)
            out[lo:hi] = np.sort(x[lo:hi])
    return run


def _stencil():
    @njit(parallel=True)
    def run(u, out, a):
        h, w = u.shape
        for i in prange(1, h - 1):
            for j in range(1, w - 1):
                c = u[i, j]
                out[i, j] = c + a * ((((u[i - 1, j] + u[i + 1, j]) + u[i, j - 1]) + u[i, j + 1])
                                     - F(4) * c)
    return run


def _nbody():
    @njit(parallel=True)
    def run(body, acc, eps2):
        n = body.shape[0]
        for i in prange(n):
            xi, yi, zi = body[i, 0], body[i, 1], body[i, 2]
            ax = F(0)
            ay = F(0)
            az = F(0)
            for j in range(n):
                dx = body[j, 0] - xi
                dy = body[j, 1] - yi
                dz = body[j, 2] - zi
                r2 = dx * dx + dy * dy + dz * dz + eps2
                inv = F(1) / np.sqrt(r2)
                s = body[j, 3] * (inv * inv * inv)
                ax += dx * s
                ay += dy * s
                az += dz * s
            acc[i, 0] = ax
            acc[i, 1] = ay
            acc[i, 2] = az
    return run


def _sum():
    @njit(parallel=True)
    def run(x):
        s = F(0)
        for i in prange(x.shape[0]):
            s += x[i]
        return s
    return run


def _min():
    @njit(parallel=True)
    def run(x):
        m = np.inf
        for i in prange(x.shape[0]):
            m = min(m, x[i])
        return m
    return run


def _max():
    @njit(parallel=True)
    def run(x):
        m = -np.inf
        for i in prange(x.shape[0]):
            m = max(m, x[i])
        return m
    return run


def _mean():
    s = _sum()

    @njit
    def run(x):
        return s(x) / F(x.shape[0])
    return run


def _gemm():
    @njit(parallel=True)
    def run(a, b, c):                       # i-k-j: the inner loop streams rows of b and c
        n, m = a.shape[0], b.shape[1]
        for i in prange(n):
            for j in range(m):
                c[i, j] = F(0)
            for k in range(a.shape[1]):
                aik = a[i, k]
                for j in range(m):
                    c[i, j] += aik * b[k, j]
    return run


def _matvec():
    @njit(parallel=True)
    def run(a, v, out):
        for i in prange(a.shape[0]):
            s = F(0)
            for k in range(a.shape[1]):
                s += a[i, k] * v[k]
            out[i] = s
    return run


def _softmax():
    @njit(parallel=True)
    def run(x, out):
        for r in prange(x.shape[0]):
            m = x[r, 0]
            for k in range(1, x.shape[1]):
                m = max(m, x[r, k])
            s = F(0)
            for k in range(x.shape[1]):
                e = np.exp(x[r, k] - m)
                out[r, k] = e
                s += e
            for k in range(x.shape[1]):
                out[r, k] = out[r, k] / s
    return run


def _mse():
    @njit(parallel=True)
    def run(a, b):
        s = F(0)
        for i in prange(a.shape[0]):
            d = a[i] - b[i]
            s += d * d
        return s / F(a.shape[0])
    return run


def _cross_entropy():
    @njit(parallel=True)
    def run(p, t):
        s = F(0)
        for i in prange(p.shape[0]):
            for k in range(p.shape[1]):
                s += t[i, k] * max(np.log(p[i, k]), F(-100))
        return -s / F(p.shape[0])
    return run


def _binary_cross_entropy():
    @njit(parallel=True)
    def run(p, t):
        s = F(0)
        for i in prange(p.shape[0]):
            s += t[i] * max(np.log(p[i]), F(-100)) + (F(1) - t[i]) * max(np.log(F(1) - p[i]),
                                                                        F(-100))
        return -s / F(p.shape[0])
    return run


def _fill():
    @njit(parallel=True)
    def run(out, v):
        for i in prange(out.shape[0]):
            out[i] = v
    return run


def _clip():
    @njit(parallel=True)
    def run(x, lo, hi, out):
        for i in prange(x.shape[0]):
            out[i] = min(max(x[i], lo), hi)
    return run


def _scalar(op):
    f = njit(inline="always")(op)

    @njit(parallel=True)
    def run(x, s, out):
        for i in prange(x.shape[0]):
            out[i] = f(x[i], s)
    return run


_BUILDERS: Dict[str, Callable[[], Callable[..., Any]]] = {
    # bench kernels
    "vector_add": lambda: _map2(lambda a, b: a + b),
    "vector_add_loop": _vector_add_loop,
    "saxpy": _saxpy,
    "relu": lambda: _map1(lambda x: x if x > F(0) else F(0)),
    "chain": lambda: _map1(_chain),
    "mandel": _mandel,
    "block_sum": _sum,
    "gather": _gather,
    "histogram": _histogram,
    "scan": _scan,
    "bitonic": _sort_segments,
    "stencil": _stencil,
    "nbody": _nbody,
    # ops
    "vector_sub": lambda: _map2(lambda a, b: a - b),
    "vector_mul": lambda: _map2(lambda a, b: a * b),
    "vector_div": lambda: _map2(lambda a, b: a / b),
    "minimum": lambda: _map2(lambda a, b: b if math.isnan(a) else (a if math.isnan(b) else min(a, b))),
    "maximum": lambda: _map2(lambda a, b: b if math.isnan(a) else (a if math.isnan(b) else max(a, b))),
    "abs": lambda: _map1(lambda x: abs(x)),
    "neg": lambda: _map1(lambda x: -x),
    "clip": _clip,
    "scalar_add": lambda: _scalar(lambda x, s: x + s),
    "scalar_mul": lambda: _scalar(lambda x, s: x * s),
    "sigmoid": lambda: _map1(_sigmoid),
    "tanh": lambda: _map1(lambda x: np.tanh(x)),
    "gelu": lambda: _map1(_gelu),
    "softmax": _softmax,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "mean": _mean,
    "gemm": _gemm,
    "matvec": _matvec,
    "mse": _mse,
    "cross_entropy": _cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
    "copy": lambda: _map1(lambda x: x),
    "fill": _fill,
}

"""The benchmark kernels: ISA source, inputs, launch and the numpy equivalent of each.

Every kernel is an ISA program assembled once; ``setup(n, rng)`` returns a :class:`Case` holding
pre-allocated inputs/outputs, a function that launches the kernel on a backend and one that runs
the numpy equivalent, and a check that the VM's output matches numpy (run once per size, outside
the timed loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

import hologram as hg
import peers

VECTOR_ADD = """
.kernel vector_add
.block 256
.param r1 f32[] a
.param r2 f32[] b
.param r3 f32[] c
.param r4 u64 n
        setgeu.u64  p0, r255, r4        ; r255 = global lane id i; past the end: nothing to do
        bra.p0      @done
        ldg.f32     r10, [r1 + r255*4]
        ldg.f32     r11, [r2 + r255*4]
        add.f32     r12, r10, r11
        stg.f32     [r3 + r255*4], r12
done:
        exit
"""

# The original's single-lane program: buffer handles baked in as immediates, r0 counts down.
VECTOR_ADD_LOOP = """
.kernel vector_add_loop
        mov_imm.u64 r1, {a}
        mov_imm.u64 r2, {b}
        mov_imm.u64 r3, {c}
        mov_imm.u32 r0, {count}
        mov_imm.u64 r4, 0
        mov_imm.u64 r5, 4
loop_body:
        ldg.f32     r10, [r1 + r4]
        ldg.f32     r11, [r2 + r4]
        add.f32     r12, r10, r11
        stg.f32     [r3 + r4], r12
        add.u64     r4, r4, r5
        loop        r0, @loop_body
"""

SAXPY = """
.kernel saxpy
.block 256
; y = a * x + y
.param r1 f32[] x
.param r2 f32[] y
.param r3 f32 a
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.f32     r10, [r1 + r255*4]
        ldg.f32     r11, [r2 + r255*4]
        fma.f32     r12, r3, r10, r11
        stg.f32     [r2 + r255*4], r12
done:
        exit
"""

RELU = """
.kernel relu
.block 256
.param r1 f32[] x
.param r2 f32[] y
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        mov_imm.f32 r5, 0.0
        ldg.f32     r10, [r1 + r255*4]
        setgt.f32   p1, r10, 0.0
        sel.f32     r11, p1, r10, r5
        stg.f32     [r2 + r255*4], r11
done:
        exit
"""

# Compute-bound: y = sigmoid(x) * tanh(x) + exp(-x*x) * 0.5 - x/3, ten ALU ops per element.
CHAIN = """
.kernel chain
.block 256
.param r1 f32[] x
.param r2 f32[] y
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        mov_imm.f32 r20, 0.5
        ldg.f32     r10, [r1 + r255*4]
        sigmoid.f32 r11, r10
        tanh.f32    r12, r10
        mul.f32     r13, r11, r12
        mul.f32     r14, r10, r10
        neg.f32     r14, r14
        exp.f32     r15, r14
        fma.f32     r16, r15, r20, r13
        div.f32     r17, r10, 3.0
        sub.f32     r18, r16, r17
        stg.f32     [r2 + r255*4], r18
done:
        exit
"""

# Divergent per-lane loop: escape-time iteration counts of z <- z^2 + c (mandelbrot-like).
MANDEL = """
.kernel mandel
.block 256
.param r1 f32[] cre
.param r2 f32[] cim
.param r3 u32[] counts
.param r4 u64 n
.param r5 u32 max_iter
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.f32     r10, [r1 + r255*4]
        ldg.f32     r11, [r2 + r255*4]
        mov_imm.f32 r12, 0.0            ; zr
        mov_imm.f32 r13, 0.0            ; zi
        mov_imm.u32 r21, 0              ; k
iter:
        setge.u32   p1, r21, r5
        bra.p1      @store
        mul.f32     r14, r12, r12       ; zr^2
        mul.f32     r15, r13, r13       ; zi^2
        add.f32     r16, r14, r15
        setgt.f32   p2, r16, 4.0
        bra.p2      @store
        mul.f32     r17, r12, r13
        add.f32     r17, r17, r17       ; 2 zr zi
        sub.f32     r18, r14, r15
        add.f32     r12, r18, r10
        add.f32     r13, r17, r11
        add.u32     r21, r21, 1
        bra         @iter
store:
        stg.u32     [r3 + r255*4], r21
done:
        exit
"""

BLOCK_SUM = """
.kernel block_sum
.block 256
.shared 32
.param r1 f32[] x
.param r2 f32[] out                     ; out[0] += the sum (zeroed by the caller)
.param r3 u64 n
; Each warp sums its 32 values with shuffles, warp 0 sums the 8 warp sums the same way, and
; lane 0 adds the block's sum to out[0].
        mov_imm.f32  r10, 0.0
        setgeu.u64   p0, r255, r3       ; past the end: contribute 0
        bra.p0       @reduce
        ldg.f32      r10, [r1 + r255*4]
reduce:
        shfl.down.f32 r11, r10, 16
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 8
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 4
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 2
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 1
        add.f32      r10, r10, r11      ; warp lane 0: the warp's sum
        mov.u32      r20, %laneid
        mov.u32      r21, %warpid
        cvt.u64.u32  r22, r21
        setne.u32    p1, r20, 0
        bra.p1       @wait
        sts.f32      [r22*4], r10       ; shared[warp] = the warp's sum
wait:
        bar.sync     0
        setne.u32    p2, r21, 0
        bra.p2       @done              ; warp 0 goes on
        cvt.u64.u32  r23, r20
        mov_imm.f32  r10, 0.0
        setgeu.u32   p3, r20, 8
        bra.p3       @fold
        lds.f32      r10, [r23*4]       ; lanes 0..7: the warp sums
fold:
        shfl.down.f32 r11, r10, 4
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 2
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 1
        add.f32      r10, r10, r11
        setne.u32    p4, r20, 0
        bra.p4       @done              ; lane 0 adds the block's sum
        atom.add.f32 r14, [r2 + 0], r10
done:
        exit
"""

GATHER = """
.kernel gather
.block 256
; out[i] = x[idx[i]]
.param r1 f32[] x
.param r2 u32[] idx
.param r3 f32[] out
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.u32     r10, [r2 + r255*4]
        cvt.u64.u32 r11, r10
        ldg.f32     r12, [r1 + r11*4]
        stg.f32     [r3 + r255*4], r12
done:
        exit
"""

HISTOGRAM = """
.kernel histogram
.block 256
; bins[x[i]] += 1
.param r1 u32[] x                       ; values < 256
.param r2 u32[] bins                    ; 256 bins, zeroed
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.u32     r10, [r1 + r255*4]
        cvt.u64.u32 r11, r10
        mov_imm.u32 r12, 1
        atom.add.u32 r13, [r2 + r11*4], r12
done:
        exit
"""


@dataclass
class Case:
    """One kernel at one size: run it on a backend, run numpy, compare."""
    launch: Callable[[hg.CpuBackend, Optional[int]], None]
    numpy: Callable[[], None]
    check: Callable[[], None]
    reset: Callable[[], None] = lambda: None     # outputs that accumulate (sums, histograms)
    # the numba prange peer (bench/peers.py) on the same inputs, and its one-time check
    peer: Optional[Callable[[], None]] = None
    peer_check: Optional[Callable[[], None]] = None


@dataclass
class Kernel:
    name: str
    title: str
    source: str
    setup: Callable[[hg.Program, int, np.random.Generator, hg.CpuBackend], Case]
    max_n: int = 1 << 22
    instructions_per_lane: Optional[int] = None   # executed per lane (uniform kernels)


def _grid(n: int) -> int:
    return (n + 255) // 256


def launcher(prog: hg.Program, config: hg.LaunchConfig, params: Dict[str, object]):
    """launch(backend, threads): the kernel as a prepared launch (bound once per backend and
    thread count, as a steady-state caller would), then run."""
    cache: Dict[object, object] = {}

    def launch(be: hg.CpuBackend, threads: Optional[int]) -> None:
        key = (id(be), threads)
        k = cache.get(key)
        if k is None:
            k = cache[key] = be.prepare(prog, config, params, num_threads=threads)
        k()
    return launch


def _peer(name: str, args, result, expected, rtol: float = 0.0, before=None):
    """(peer, peer_check) for a numba peer writing ``result`` (an array, or None when the peer
    returns its result); ``expected()`` gives numpy's answer; ``before()`` runs before the check
    (resets outputs that the kernel updates in place; timed runs keep updating them, as the
    hologram launches do)."""
    if not peers.available():
        return None, None
    fn = peers.peer(name)

    def run():
        return fn(*args)

    def check():
        if before is not None:
            before()
        got = run()
        got = result if result is not None else got
        if rtol:
            np.testing.assert_allclose(got, expected(), rtol=rtol, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, expected())
    return run, check


def _elementwise(out_name: str, numpy_fn, inputs: Dict[str, np.ndarray], out: np.ndarray,
                 prog: hg.Program, n: int, extra: Dict[str, object], be: hg.CpuBackend,
                 rtol: float = 0.0, peer_name: str = "", peer_args=()):
    params = dict(inputs)
    params[out_name] = out
    params.update(extra)
    expected = np.empty_like(out)

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def run_numpy():
        numpy_fn(expected)

    def check():
        out[...] = 0
        launch(be, None)
        numpy_fn(expected)
        if rtol:
            np.testing.assert_allclose(out, expected, rtol=rtol, atol=1e-6)
        else:
            np.testing.assert_array_equal(out, expected)

    peer_out = np.empty_like(out)

    def want():
        numpy_fn(expected)
        return expected
    peer, peer_check = _peer(peer_name, tuple(peer_args) + (peer_out,), peer_out, want, rtol) \
        if peer_name else (None, None)
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


def setup_vector_add(prog, n, rng, be):
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    c = np.zeros(n, np.float32)
    return _elementwise("r3", lambda out: np.add(a, b, out=out), {"r1": a, "r2": b}, c, prog, n,
                        {"r4": ("u64", n)}, be, peer_name="vector_add", peer_args=(a, b))


def setup_vector_add_loop(source, n, rng, be):
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    ha, hb, hc = (be.allocate_buffer(4 * n) for _ in range(3))
    be.copy_to_buffer(ha, a)
    be.copy_to_buffer(hb, b)
    prog = hg.assemble(source.format(a=ha, b=hb, c=hc, count=n - 1))
    expected = np.empty(n, np.float32)
    c_view = be.buffer_view(hc).view(np.float32)

    launch = launcher(prog, hg.LaunchConfig(1, 1), {})

    def check():
        launch(be, None)
        np.add(a, b, out=expected)
        np.testing.assert_array_equal(c_view, expected)

    peer_out = np.empty(n, np.float32)
    peer, peer_check = _peer("vector_add_loop", (a, b, peer_out), peer_out,
                             lambda: np.add(a, b))
    return Case(launch, lambda: np.add(a, b, out=expected), check, peer=peer,
                peer_check=peer_check)


def setup_saxpy(prog, n, rng, be):
    x = rng.random(n, dtype=np.float32)
    y0 = rng.random(n, dtype=np.float32)
    y = y0.copy()
    alpha = np.float32(1.5)
    expected = np.empty_like(y)
    tmp = np.empty_like(y)
    params = {"r1": x, "r2": y, "r3": alpha, "r4": ("u64", n)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def run_numpy():
        np.multiply(alpha, x, out=tmp)
        np.add(tmp, y, out=expected)

    def check():
        y[...] = y0
        launch(be, 1)
        ref = (x.astype(np.float64) * alpha + y0).astype(np.float32)   # fma: one rounding
        np.testing.assert_allclose(y, ref, rtol=1e-6)

    y_peer = y0.copy()
    peer, peer_check = _peer("saxpy", (x, y_peer, alpha), y_peer,
                             lambda: (x.astype(np.float64) * alpha + y0).astype(np.float32),
                             rtol=1e-6, before=lambda: y_peer.__setitem__(Ellipsis, y0))
    return Case(launch, run_numpy, check, reset=lambda: y.__setitem__(Ellipsis, y0),
                peer=peer, peer_check=peer_check)


def setup_relu(prog, n, rng, be):
    x = rng.standard_normal(n).astype(np.float32)
    y = np.zeros(n, np.float32)
    return _elementwise("r2", lambda out: np.maximum(x, np.float32(0), out=out), {"r1": x}, y,
                        prog, n, {"r4": ("u64", n)}, be, peer_name="relu", peer_args=(x,))


def _chain_numpy(x):
    def run(out):
        s = 1 / (1 + np.exp(-x))
        t = np.tanh(x)
        out[...] = s * t + np.exp(-x * x) * np.float32(0.5) - x / np.float32(3)
    return run


def setup_chain(prog, n, rng, be):
    x = rng.standard_normal(n).astype(np.float32)
    y = np.zeros(n, np.float32)
    return _elementwise("r2", _chain_numpy(x), {"r1": x}, y, prog, n, {"r4": ("u64", n)}, be,
                        rtol=1e-5, peer_name="chain", peer_args=(x,))


MAX_ITER = 64


def setup_mandel(prog, n, rng, be):
    side = int(np.sqrt(n)) or 1
    re_ = np.linspace(-2.0, 0.5, side, dtype=np.float32)
    im_ = np.linspace(-1.2, 1.2, max(n // side, 1), dtype=np.float32)
    cre = np.resize(np.repeat(re_[None, :], len(im_), 0).reshape(-1), n).astype(np.float32)
    cim = np.resize(np.repeat(im_[:, None], side, 1).reshape(-1), n).astype(np.float32)
    counts = np.zeros(n, np.uint32)
    expected = np.zeros(n, np.uint32)

    def run_numpy(out=expected):
        zr = np.zeros(n, np.float32)
        zi = np.zeros(n, np.float32)
        out[...] = MAX_ITER
        alive = np.ones(n, bool)
        for k in range(MAX_ITER):
            zr2, zi2 = zr * zr, zi * zi
            esc = alive & (zr2 + zi2 > 4)
            out[esc] = k
            alive &= ~esc
            if not alive.any():
                break
            zi = np.where(alive, (zr * zi + zr * zi) + cim, zi).astype(np.float32)
            zr = np.where(alive, (zr2 - zi2) + cre, zr).astype(np.float32)

    params = {"r1": cre, "r2": cim, "r3": counts, "r4": ("u64", n), "r5": ("u32", MAX_ITER)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def check():
        launch(be, None)
        run_numpy()
        np.testing.assert_array_equal(counts, expected)

    peer_counts = np.zeros(n, np.uint32)

    def want():
        run_numpy()
        return expected
    peer, peer_check = _peer("mandel", (cre, cim, peer_counts, MAX_ITER), peer_counts, want)
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


def setup_block_sum(prog, n, rng, be):
    x = rng.random(n, dtype=np.float32)
    out = np.zeros(1, np.float32)
    params = {"r1": x, "r2": out, "r3": ("u64", n)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def check():
        out[0] = 0
        launch(be, None)
        np.testing.assert_allclose(out[0], x.sum(dtype=np.float64), rtol=1e-4)

    peer, peer_check = _peer("block_sum", (x,), None, lambda: x.sum(dtype=np.float64), rtol=1e-4)
    return Case(launch, lambda: x.sum(), check, reset=lambda: out.__setitem__(0, 0),
                peer=peer, peer_check=peer_check)


def setup_gather(prog, n, rng, be):
    x = rng.random(n, dtype=np.float32)
    idx = rng.integers(0, n, n, dtype=np.uint32)
    out = np.zeros(n, np.float32)
    return _elementwise("r3", lambda o: np.take(x, idx, out=o), {"r1": x, "r2": idx}, out, prog,
                        n, {"r4": ("u64", n)}, be, peer_name="gather", peer_args=(x, idx))


def setup_histogram(prog, n, rng, be):
    x = rng.integers(0, 256, n, dtype=np.uint32)
    bins = np.zeros(256, np.uint32)
    params = {"r1": x, "r2": bins, "r4": ("u64", n)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def check():
        bins[...] = 0
        launch(be, None)
        np.testing.assert_array_equal(bins, np.bincount(x, minlength=256))

    peer_bins = np.zeros(256, np.uint32)
    peer, peer_check = _peer("histogram", (x, peer_bins), peer_bins,
                             lambda: np.bincount(x, minlength=256),
                             before=lambda: peer_bins.__setitem__(Ellipsis, 0))
    return Case(launch, lambda: np.bincount(x, minlength=256), check,
                reset=lambda: bins.__setitem__(Ellipsis, 0), peer=peer, peer_check=peer_check)


KERNELS: List[Kernel] = [
    Kernel("vector_add", "vector_add f32, one lane per element (headline)", VECTOR_ADD,
           setup_vector_add, instructions_per_lane=7),
    Kernel("vector_add_loop", "the original's single-lane LOOP program (12 instructions)",
           VECTOR_ADD_LOOP, setup_vector_add_loop, max_n=1 << 20),
    Kernel("saxpy", "saxpy with fma.f32", SAXPY, setup_saxpy, instructions_per_lane=7),
    Kernel("relu", "relu with setcc + sel", RELU, setup_relu, instructions_per_lane=8),
    Kernel("chain", "compute-bound chain (sigmoid, tanh, exp; 10 ALU ops/element)", CHAIN,
           setup_chain, instructions_per_lane=15),
    Kernel("mandel", "divergent per-lane loop (escape time, max 64 iterations)", MANDEL,
           setup_mandel),
    Kernel("block_sum", "block sum: warp shuffles, shared memory, bar.sync, atom.add",
           BLOCK_SUM, setup_block_sum),
    Kernel("gather", "gather through an index buffer", GATHER, setup_gather,
           instructions_per_lane=7),
    Kernel("histogram", "histogram with atom.add (256 u32 bins)", HISTOGRAM, setup_histogram,
           instructions_per_lane=7),
]

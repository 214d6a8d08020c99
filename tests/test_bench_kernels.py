"""The benchmark's four ported kernels (bench/kernels.py: scan, bitonic, stencil, nbody) at small
sizes, on the VM with 1 and 2 threads and on the reference interpreter, against numpy computed
here; edge sizes included (n not a multiple of the block, one block, a partial last block,
three scan levels). Also the bench's own checks and target lines."""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest

import hologram as hg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
if not os.path.exists(os.path.join(BENCH, "kernels.py")):          # a copy of tests/ alone
    pytest.skip("needs the source checkout's bench/", allow_module_level=True)


def _import(name):
    sys.path[:0] = [ROOT, BENCH]            # bench scripts import their siblings
    try:
        return importlib.import_module(name)
    finally:
        del sys.path[:2]


bk = _import("bench.kernels")

# (engine, threads): the VM sequential and parallel, and the reference interpreter (slow: it
# gets the small sizes only)
ENGINES = [("vm", 1), ("vm", 2), ("reference", None)]


def _backend(engine):
    return hg.CpuBackend() if engine == "vm" else hg.ReferenceBackend()


def _run(launch, engine, threads):
    launch(_backend(engine), threads)


# ---- scan


SCAN_SIZES = [1, 3, 4, 5, 255, 1023, 1024, 1025, 4096 + 3, (1 << 20) + 5]
SCAN_SIZES_REF = [5, 1030]


def _scan_cases():
    for engine, threads in ENGINES:
        for n in SCAN_SIZES_REF if engine == "reference" else SCAN_SIZES:
            yield pytest.param(engine, threads, n, id=f"{engine}-{threads}-{n}")


@pytest.mark.parametrize("engine,threads,n", list(_scan_cases()))
def test_scan_is_cumsum(engine, threads, n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 1 << 32, n, dtype=np.uint32)        # the sums wrap mod 2^32
    x0 = x.copy()
    y = np.zeros(n, np.uint32)
    _run(bk.scan_launches(x, y), engine, threads)
    np.testing.assert_array_equal(y, np.cumsum(x0.astype(np.uint64)).astype(np.uint32))
    np.testing.assert_array_equal(x, x0)


def test_scan_of_nothing_and_of_ones():
    be = hg.CpuBackend()
    y = np.zeros(0, np.uint32)
    bk.scan_launches(np.zeros(0, np.uint32), y)(be, 2)
    n = 3 * 1024 * 1024 + 17                               # three levels, partial segments
    y = np.zeros(n, np.uint32)
    bk.scan_launches(np.ones(n, np.uint32), y)(be, 2)
    np.testing.assert_array_equal(y, np.arange(1, n + 1, dtype=np.uint32))


def test_scan_refuses_other_dtypes():
    with pytest.raises(ValueError, match="uint32"):
        bk.scan_launches(np.zeros(4, np.int32), np.zeros(4, np.uint32))


# ---- bitonic sort


SORT_SIZES = [1, 7, 512, 1000, 1024, 3 * 1024 + 5]
SORT_SIZES_REF = [1000]


def _segments_sorted(x, segment=1024):
    return np.concatenate([np.sort(x[s:s + segment]) for s in range(0, len(x), segment)])


def _sort_cases():
    for engine, threads in ENGINES:
        for n in SORT_SIZES_REF if engine == "reference" else SORT_SIZES:
            yield pytest.param(engine, threads, n, id=f"{engine}-{threads}-{n}")


@pytest.mark.parametrize("engine,threads,n", list(_sort_cases()))
def test_bitonic_sorts_each_segment(engine, threads, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    x0 = x.copy()
    y = np.zeros(n, np.float32)
    _run(bk.sort_launch(x, y), engine, threads)
    np.testing.assert_array_equal(y, _segments_sorted(x0))
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("threads", [1, 2])
def test_bitonic_with_duplicates_and_infinities(threads):
    rng = np.random.default_rng(7)
    n = 2 * 1024 + 300
    x = rng.integers(-3, 4, n).astype(np.float32)
    x[rng.integers(0, n, 40)] = np.inf
    x[rng.integers(0, n, 40)] = -np.inf
    x[x == 0] = 0.5                                      # no -0 / +0 ties (sort order of bits)
    y = np.zeros(n, np.float32)
    bk.sort_launch(x, y)(hg.CpuBackend(), threads)
    np.testing.assert_array_equal(y, _segments_sorted(x))


# ---- stencil


STENCIL_SHAPES = [(3, 3), (2, 10), (10, 2), (5, 40), (17, 9), (9, 33), (64, 100)]
STENCIL_SHAPES_REF = [(3, 3), (10, 35)]


def _stencil_cases():
    for engine, threads in ENGINES:
        for shape in STENCIL_SHAPES_REF if engine == "reference" else STENCIL_SHAPES:
            yield pytest.param(engine, threads, shape,
                               id=f"{engine}-{threads}-{shape[0]}x{shape[1]}")


@pytest.mark.parametrize("engine,threads,shape", list(_stencil_cases()))
def test_stencil_interior(engine, threads, shape):
    h, w = shape
    rng = np.random.default_rng(h * 1000 + w)
    u = rng.standard_normal(shape).astype(np.float32)
    a = np.float32(0.2)
    out = np.full(shape, 7.0, np.float32)                # the border must stay as it was
    _run(bk.stencil_launch(u, out, a), engine, threads)
    want = np.full(shape, 7.0, np.float32)
    if h > 2 and w > 2:
        c = u[1:-1, 1:-1]
        lap = (((u[:-2, 1:-1] + u[2:, 1:-1]) + u[1:-1, :-2]) + u[1:-1, 2:]) - np.float32(4) * c
        want[1:-1, 1:-1] = c + a * lap
    np.testing.assert_array_equal(out, want)             # one rounding per operation: exact


# ---- n-body


NBODY_SIZES = [1, 5, 256, 257, 600]
NBODY_SIZES_REF = [5]


def _accelerations_f64(body, eps2):
    """acc_i = sum_j m_j (p_j - p_i) / (|p_j - p_i|^2 + eps2)^1.5 in float64, a loop over i,
    and per component the sum of its terms' magnitudes."""
    p, m = body[:, :3].astype(np.float64), body[:, 3].astype(np.float64)
    acc = np.zeros((len(body), 3))
    scale = np.zeros((len(body), 3))
    for i in range(len(body)):
        d = p - p[i]
        r2 = (d ** 2).sum(axis=1) + float(eps2)
        terms = d * (m / r2 ** 1.5)[:, None]
        acc[i] = terms.sum(axis=0)
        scale[i] = np.abs(terms).sum(axis=0)
    return acc, scale


def _nbody_cases():
    for engine, threads in ENGINES:
        for n in NBODY_SIZES_REF if engine == "reference" else NBODY_SIZES:
            yield pytest.param(engine, threads, n, id=f"{engine}-{threads}-{n}")


@pytest.mark.parametrize("engine,threads,n", list(_nbody_cases()))
def test_nbody_accelerations(engine, threads, n):
    body = bk.nbody_bodies(n, np.random.default_rng(n))
    acc = np.full((n, 3), np.nan, np.float32)
    eps2 = np.float32(0.01)
    _run(bk.nbody_launch(body, acc, eps2), engine, threads)
    want, scale = _accelerations_f64(body, eps2)
    # float32 sums of n terms: each component within 2e-5 of the sum of its terms' magnitudes
    assert np.all(np.abs(acc - want) <= 2e-5 * scale), np.max(np.abs(acc - want) / scale)
    if n > 1:
        assert np.all(np.abs(want) > 0)                  # a non-trivial answer was checked


def test_nbody_check_catches_a_missing_body():
    n = 300
    body = bk.nbody_bodies(n, np.random.default_rng(3))
    acc = np.zeros((n, 3), np.float32)
    bk.nbody_launch(body, acc, bk.NBODY_EPS2)(hg.CpuBackend(), 2)
    ref = bk.nbody_reference(body, bk.NBODY_EPS2)
    bk.check_nbody(acc, ref)
    body[-1, 3] = 0                                      # the last body (second tile) massless
    bk.nbody_launch(body, acc, bk.NBODY_EPS2)(hg.CpuBackend(), 2)
    with pytest.raises(AssertionError, match="n-body"):
        bk.check_nbody(acc, ref)


# ---- the bench cases and the targets


@pytest.mark.parametrize("name,n", [("scan", 5000), ("bitonic", 2048), ("stencil", 4096),
                                    ("nbody", 300)])
def test_bench_case_checks(name, n):
    """Each kernel's bench case runs and its check (against numpy) passes; its numpy
    equivalent runs."""
    kern = next(k for k in bk.KERNELS if k.name == name)
    be = hg.CpuBackend()
    case = kern.setup(hg.assemble(kern.source), n, np.random.default_rng(0), be)
    case.check()
    case.numpy()
    case.launch(be, 1)


def test_bench_sizes():
    kern = {k.name: k for k in bk.KERNELS}
    sweep = [1 << k for k in range(8, 23)]
    assert kern["bitonic"].sizes_for(sweep, False) == [1 << k for k in range(10, 21)]
    assert kern["bitonic"].sizes_for(sweep, True)[-1] == 1 << 18
    assert kern["nbody"].sizes_for(sweep, False) == [256, 512, 1024, 2048, 4096]
    assert kern["scan"].sizes_for(sweep, False) == sweep
    assert bk.stencil_shape(1 << 21) == (1024, 2048) and bk.stencil_shape(256) == (16, 16)


def test_targets_lines():
    run = _import("run")

    def result(n, par, ref):
        return {"rows": [{"n": 256, "sequential_s": 1.0, "parallel_s": 1.0, "numpy_s": 1.0},
                         {"n": n, "sequential_s": 2 * par, "parallel_s": par, "numpy_s": ref}]}
    lines = run.check_targets({"stencil": result(1 << 22, 2.0, 1.0),
                               "nbody": result(4096, 0.5, 1.0),
                               "scan": result(1 << 22, 2.9, 1.0),
                               "bitonic": result(1 << 20, 21.0, 1.0)})
    want = {"stencil n=4194304: 2.00x numpy (slicing) (target <= 1x) not met",
            "nbody n=4096: 0.50x numpy (all-pairs formula) (target <= 1x) MET",
            "scan n=4194304: 2.90x np.cumsum (target <= 3x) MET",
            "bitonic n=1048576: 21.00x np.sort per segment (target <= 20x) not met"}
    assert want <= set(lines), lines

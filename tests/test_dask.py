"""hologram.dask: the op twins and chunked launches, against single-process hologram.

The default run uses dask's synchronous scheduler (a few seconds); the tests marked ``dask``
(``--rundask``) run on a real ``dask.distributed.LocalCluster`` of 2 worker processes on
loopback: real scheduler, real serialization, no mocks. Every result is compared with the
same computation by :mod:`hologram.ops` / :func:`hologram.launch` in this process.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import hologram as hg  # noqa: E402
import hologram.dask as hd  # noqa: E402
from hologram import kernels, ops  # noqa: E402
from hologram.dask import _runtime  # noqa: E402

from helpers import histogram  # noqa: E402

RNG = np.random.default_rng(16)
N = 1000
# chunkings: one chunk, a ragged last chunk, chunks that are no multiple of the 256-lane
# block (more chunks than workers)
CHUNKS_1D = {"one": -1, "ragged": 300, "unaligned": 77}
CHUNKS_2D = {"one": -1, "ragged": (25, 30), "unaligned": (7, 9)}


def sync(x: Any) -> Any:
    return x.compute(scheduler="synchronous")


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


X, Y = f32(N), f32(N)
XI = RNG.integers(-1000, 1000, N).astype(np.int32)
YI = RNG.integers(1, 50, N).astype(np.int32) * np.where(RNG.random(N) < 0.5, -1, 1).astype(np.int32)
M, M2 = f32(60, 70), f32(70, 40)
V = f32(70)
PROBS = RNG.random((60, 70)).astype(np.float32)
ONEHOT = np.eye(70, dtype=np.float32)[RNG.integers(0, 70, 60)]
IDX = RNG.integers(-N, N, 500)

# (name, numpy arguments, other arguments, exact with several chunks)
ELEMENTWISE = [
    ("vector_add", (X, Y), ()), ("vector_sub", (X, Y), ()), ("vector_mul", (X, Y), ()),
    ("vector_div", (X, Y), ()), ("vector_div", (XI, YI), ()), ("minimum", (X, Y), ()),
    ("maximum", (XI, YI), ()), ("abs", (X,), ()), ("neg", (XI,), ()), ("relu", (X,), ()),
    ("clip", (X,), (-0.5, 0.5)), ("scalar_add", (XI,), (7,)), ("scalar_mul", (X,), (2.5,)),
    ("sigmoid", (X,), ()), ("tanh", (X,), ()), ("gelu", (X,), ()), ("copy", (XI,), ()),
]
REDUCTIONS = [("sum", X), ("sum", XI), ("min", X), ("max", XI), ("mean", X)]


def chunked(x: np.ndarray, chunks: Any) -> Any:
    return da.from_array(x, chunks=chunks)


def check_elementwise(compute: Callable[[Any], Any], name: str, args, extra, chunks) -> None:
    got = compute(getattr(hd, name)(*[chunked(a, chunks) for a in args], *extra))
    want = getattr(ops, name)(*args, *extra)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name


def check_reduction(compute, name: str, x: np.ndarray, chunks, axis=None) -> None:
    got = compute(getattr(hd, name)(chunked(x, chunks), axis=axis))
    want = getattr(ops, name)(x, axis=axis)
    assert np.asarray(got).dtype == np.asarray(want).dtype and np.shape(got) == np.shape(want)
    if chunks == -1 or x.dtype.kind in "iu":
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), name
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


# ---- default run: the synchronous scheduler

def test_every_ops_function_has_a_twin():
    names = set(ops.OPS) | {"add", "sub", "mul", "div", "full"}
    assert names <= set(hd.__all__)
    for name in names:
        assert callable(getattr(hd, name)), name


@pytest.mark.parametrize("name,args,extra", ELEMENTWISE)
def test_elementwise_twins(name, args, extra):
    check_elementwise(sync, name, args, extra, CHUNKS_1D["unaligned"])


@pytest.mark.parametrize("chunking", list(CHUNKS_1D))
@pytest.mark.parametrize("name,x", REDUCTIONS)
def test_reduction_twins(name, x, chunking):
    check_reduction(sync, name, x, CHUNKS_1D[chunking])


@pytest.mark.parametrize("chunking", list(CHUNKS_2D))
def test_2d_twins(chunking):
    c = CHUNKS_2D[chunking]
    check_reduction(sync, "sum", M, c, axis=-1)
    check_reduction(sync, "max", M, c, axis=1)
    check_reduction(sync, "mean", M, c)
    assert sync(hd.softmax(chunked(M, c))).tobytes() == ops.softmax(M).tobytes()
    check_elementwise(sync, "gelu", (M,), (), c)


def test_the_other_twins():
    assert sync(hd.softmax(chunked(X, 77))).tobytes() == ops.softmax(X).tobytes()
    inner_whole = da.from_array(M, chunks=(25, -1))
    assert sync(hd.gemm(inner_whole, chunked(M2, (70, 15)))).tobytes() == \
        ops.gemm(M, M2).tobytes()
    np.testing.assert_allclose(sync(hd.gemm(chunked(M, (25, 30)), chunked(M2, (20, 15)))),
                               ops.gemm(M, M2), rtol=1e-5, atol=1e-5)
    assert sync(hd.matvec(inner_whole, V)).tobytes() == ops.matvec(M, V).tobytes()
    np.testing.assert_allclose(sync(hd.matvec(chunked(M, (25, 30)), chunked(V, 33))),
                               ops.matvec(M, V), rtol=1e-5, atol=1e-5)
    for name, a, b in [("mse", M, M * 0.5), ("cross_entropy", PROBS, ONEHOT),
                       ("binary_cross_entropy", PROBS, ONEHOT)]:
        want = getattr(ops, name)(a, b)
        assert sync(getattr(hd, name)(da.from_array(a, chunks=-1), b)) == want
        np.testing.assert_allclose(sync(getattr(hd, name)(chunked(a, (7, 9)), b)), want,
                                   rtol=1e-5)
    full = sync(hd.full((10, 3), 2.5, np.float64, chunks=4))
    assert full.dtype == np.float64 and (full == 2.5).all() and full.shape == (10, 3)
    assert (sync(hd.fill(chunked(XI, 77), -3)) == -3).all()
    assert sync(hd.gather(chunked(M, (7, 9)), chunked(IDX, 33))).tobytes() == \
        ops.gather(M, IDX).tobytes()


def test_float16_and_bfloat16_round_once():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for dt in (np.float16, ml_dtypes.bfloat16):
        x = X.astype(dt)
        assert sync(hd.sum(da.from_array(x, chunks=-1))).tobytes() == ops.sum(x).tobytes()
        assert sync(hd.gelu(chunked(x, 77))).tobytes() == ops.gelu(x).tobytes()
        assert sync(hd.sum(chunked(x, 77))).dtype == x.dtype


def test_reductions_are_reproducible():
    x = chunked(f32(20_000), 1_111)
    for split_every in (None, 2, 5):
        a = sync(hd.sum(x, split_every=split_every))
        b = sync(hd.sum(x, split_every=split_every))
        assert a.tobytes() == b.tobytes()
    threaded = hd.sum(x).compute(scheduler="threads")
    assert threaded.tobytes() == sync(hd.sum(x)).tobytes()


def test_the_twins_check_arguments_when_called():
    x = chunked(X, 77)
    with pytest.raises(TypeError, match="dtype mismatch"):
        hd.vector_add(x, chunked(XI, 77))
    with pytest.raises(ValueError, match="shape mismatch"):
        hd.vector_add(x, chunked(X[:10], 5))
    with pytest.raises(TypeError, match="unsupported dtype int32"):
        hd.gelu(chunked(XI, 77))
    with pytest.raises(ValueError, match="only axis=None or the last axis"):
        hd.sum(chunked(M, 7), axis=0)
    with pytest.raises(ValueError, match="zero-size reduction has no identity"):
        hd.min(da.zeros((3, 0), chunks=1))
    with pytest.raises(ValueError, match="out of range for i8"):
        hd.clip(chunked(XI.astype(np.int8), 10), 0, 300)
    with pytest.raises(ValueError, match="expected a 1-D or 2-D array"):
        hd.softmax(da.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="inner dimensions differ"):
        hd.gemm(chunked(M, 7), chunked(M, 7))
    with pytest.raises(hg.LaunchConfigError, match="num_threads=0"):
        hd.gelu(x, num_threads=0)


def test_faults_are_those_of_the_lowest_element_over_all_chunks():
    """A zero divisor at elements 930 and 120 (different chunks): DivisionByZero names element
    120 with the lane, block and pc that hologram.ops names; gather the lowest bad position."""
    b = np.ones(N, np.int32)
    b[[930, 120]] = 0
    with pytest.raises(hg.DivisionByZero) as want:
        ops.vector_div(XI, b)
    for chunks in (77, 300):
        with pytest.raises(hg.DivisionByZero) as got:
            sync(hd.vector_div(chunked(XI, chunks), chunked(b, chunks)))
        assert str(got.value) == str(want.value) and got.value.global_lane_id == 120
    idx = IDX.copy()
    idx[[400, 50]] = N + 5
    with pytest.raises(IndexError, match="index 1005 at position 50 is out of bounds for "
                                         "size 1000"):
        sync(hd.gather(chunked(X, 300), chunked(idx, 33)))


def test_engine_reference():
    x = chunked(X[:300], 100)
    assert sync(hd.gelu(x, engine="reference")).tobytes() == ops.gelu(X[:300]).tobytes()
    assert sync(hd.sum(x, engine="reference")) == sync(hd.sum(x))


# ---- chunked launches (synchronous scheduler)

VADD = hg.assemble(kernels.render("binary", T="f32", OP="add", NAME="vadd"))


def hist_launch(x: np.ndarray, chunks: Any, **kw: Any) -> Any:
    return hd.launch(histogram(), params={
        "r1": hd.partitioned(chunked(x, chunks)), "r2": hd.reduced(np.zeros(256, np.uint32)),
        "r3": ("u64", x.size)}, **kw)["r2"]


@pytest.mark.parametrize("chunks", [-1, 1000, 777])
def test_histogram_through_a_reduced_array(chunks):
    x = RNG.integers(0, 256, 5003).astype(np.uint8)
    got = sync(hist_launch(x, chunks))
    assert got.dtype == np.uint32 and (got == np.bincount(x, minlength=256)).all()


def test_vector_add_with_partitioned_inputs_and_output_equals_one_launch():
    a, b = f32(5000), f32(5000)
    out = hd.launch(VADD, params={"r1": hd.partitioned(chunked(a, 1000)),
                                  "r2": hd.partitioned(chunked(b, 700)),
                                  "r3": hd.partitioned(shape=5000, dtype=np.float32),
                                  "r4": ("u64", 5000)})
    assert set(out) == {"r3"}
    want = np.zeros(5000, np.float32)
    hg.launch(VADD, 20, 256, params={"r1": a, "r2": b, "r3": want, "r4": ("u64", 5000)})
    r3 = out["r3"]
    assert all(c % 256 == 0 for c in r3.chunks[0][:-1])       # whole blocks per chunk
    assert sync(r3).tobytes() == want.tobytes()


TABLE_ADD = """
.block 64
.param r1 f32[] x
.param r2 f32[] table
.param r3 u64 n
; x[i] += table[i mod 4] (x partitioned and written in place, table replicated)
        setgeu.u64   p0, r255, r3
        bra.p0       @done
        mov_imm.u64  r20, 4
        rem.u64      r21, r255, r20
        mul.u64      r22, r21, r20
        ldg.f32      r10, [r2 + r22]
        mul.u64      r23, r255, r20
        ldg.f32      r11, [r1 + r23]
        add.f32      r12, r11, r10
        stg.f32      [r1 + r23], r12
done:
        exit
"""


def test_declared_names_replicated_tables_and_inputs_written_in_place():
    x = f32(3000)
    table = np.array([1, 2, 3, 4], np.float32)
    xd = chunked(x, 500)
    out = hd.launch(hg.assemble(TABLE_ADD), params={
        "x": hd.partitioned(xd), "table": hd.replicated(table), "n": 3000})
    assert set(out) == {"x"}                       # the written input, as a new array
    want = x.copy()
    hg.launch(hg.assemble(TABLE_ADD), 47, params={"x": want, "table": table, "n": 3000})
    assert sync(out["x"]).tobytes() == want.tobytes()
    assert sync(xd).tobytes() == x.tobytes()        # the input was not written


AFFINE_11 = """
.block 64
.param r1 f32[] x
.param r2 f32[] y
.param r4 u64 n
; y[i] = 2 x[i] + 1.5 in ISA 1.1 forms: scaled addresses, immediates, a bare int for n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.f32     r10, [r1 + r255*4]
        mul.f32     r10, r10, 2.0
        add.f32     r10, r10, 1.5
        stg.f32     [r2 + r255*4], r10
done:
        exit
"""


@pytest.mark.parametrize("chunks", [5000, 1000, 777])
def test_isa11_scaled_addresses_and_immediates_partition(chunks):
    x = np.arange(5000, dtype=np.float32)
    out = hd.launch(hg.assemble(AFFINE_11), params={
        "x": hd.partitioned(chunked(x, chunks)),
        "y": hd.partitioned(shape=5000, dtype=np.float32), "n": 5000})
    assert sync(out["y"]).tobytes() == (x * np.float32(2) + np.float32(1.5)).tobytes()


REDUCE_ALL = """
.block 32
; one atomic per lane on r2 (op {op}, u32[4]) at element gid mod 4 with value r1[gid]
        setgeu.u64   p0, r255, r3
        bra.p0       @done
        mov_imm.u64  r20, 4
        mul.u64      r21, r255, r20
        ldg.u32      r10, [r1 + r21]
        rem.u64      r22, r255, r20
        mul.u64      r23, r22, r20
        atom.{op}.u32 r11, [r2 + r23], r10
done:
        exit
"""


@pytest.mark.parametrize("op", hd.REDUCE_OPS)
def test_every_reduce_op_and_an_initial_value_that_is_not_its_identity(op):
    v = RNG.integers(0, 2**32, 999, dtype=np.uint64).astype(np.uint32)
    init = np.array([5, 2**31, 0, 2**32 - 1], np.uint32)
    prog = hg.assemble(REDUCE_ALL.format(op=op))
    got = sync(hd.launch(prog, params={"r1": hd.partitioned(chunked(v, 100)),
                                       "r2": hd.reduced(init, op), "r3": ("u64", 999)})["r2"])
    want = init.copy()
    hg.launch(prog, 32, params={"r1": v, "r2": want, "r3": ("u64", 999)})
    assert got.tobytes() == want.tobytes()


def test_resonance_is_summed_and_2d_partitioned_arrays_chunk_by_rows():
    prog = hg.assemble("""
.block 64
; out[i] = x[i] * 2 for a (rows, 5) array; res.accum of 1.0 into class 3 per lane
        setgeu.u64   p0, r255, r3
        bra.p0       @done
        mov_imm.u32  r20, 3
        shl.u64      r21, r255, r20
        ldg.f64      r10, [r1 + r21]
        add.f64      r11, r10, r10
        stg.f64      [r2 + r21], r11
        mov_imm.u8   r12, 3
        mov_imm.f64  r13, 1.0
        res.accum    r12, r13
done:
        exit
""")
    x = RNG.standard_normal((301, 5))
    out = hd.launch(prog, params={"r1": hd.partitioned(da.from_array(x, chunks=(40, 2))),
                                  "r2": hd.partitioned(shape=(301, 5), dtype=np.float64),
                                  "r3": ("u64", x.size)})
    assert set(out) == {"r2", "resonance"}
    assert all(c * 5 % 64 == 0 for c in out["r2"].chunks[0][:-1])   # whole blocks, whole rows
    assert (sync(out["r2"]) == 2 * x).all()
    res = sync(out["resonance"])
    assert res.shape == (96,) and res[3] == x.size and res.sum() == x.size


GATHER = hg.assemble(kernels.render("gather", T="f32", I="i64"))


def test_rejections_happen_when_launch_is_called():
    x = chunked(X, 300)
    idx = chunked(RNG.integers(0, N, N), 300)
    out = hd.partitioned(shape=N, dtype=np.float32)
    scalars = {"r4": ("u64", N), "r5": ("i64", N), "r6": ("u64", N)}
    with pytest.raises(hd.NotPartitionable, match="depends on memory contents") as e:
        hd.launch(GATHER, params={"r1": hd.partitioned(x), "r2": hd.partitioned(idx),
                                  "r3": out, **scalars})
    assert e.value.param == "r1" and e.value.pc is not None
    got = hd.launch(GATHER, params={"r1": hd.replicated(x), "r2": hd.partitioned(idx),
                                    "r3": out, **scalars})["r3"]
    assert sync(got).tobytes() == ops.gather(X, sync(idx)).tobytes()
    with pytest.raises(hd.NotPartitionable, match="atomics on r2, a partitioned"):
        hd.launch(histogram(), params={"r1": hd.partitioned(chunked(XI.astype(np.uint8),
                                                                          300)),
                                             "r2": hd.partitioned(chunked(XI, 300)),
                                             "r3": ("u64", N)})


@pytest.mark.parametrize("params,match", [
    (lambda: {"r1": X, "r4": ("u64", N)}, "say how to distribute a ndarray"),
    (lambda: {"r1": hd.replicated(X), "r4": ("u64", N)}, "at least one hd.partitioned"),
    (lambda: {"r1": hd.partitioned(chunked(X, 300)), "r2": hd.partitioned(chunked(X[:9], 3)),
              "r3": hd.partitioned(shape=N, dtype=np.float32), "r4": ("u64", N)},
     "one element count"),
    (lambda: {"r1": hd.partitioned(chunked(X, 300)), "r2": hd.reduced(np.zeros(4, np.float16)),
              "r4": ("u64", N)}, "a reduced array must be of a type atomics update"),
    (lambda: {"r1": hd.partitioned(chunked(X, 300)), "r2": hd.reduced(np.zeros(4), "xor"),
              "r4": ("u64", N)}, "needs an integer array"),
])
def test_launch_parameter_errors(params, match):
    with pytest.raises(hg.LaunchConfigError, match=match):
        hd.launch(VADD, params=params())


def test_launch_bare_int_only_for_declared_scalars():
    """A bare Python int is ambiguous for an undeclared register (ISA.md §7.3) and converted
    to the declared type for a declared one (§12.6); the kernel template declares r4 u64."""
    undeclared = hg.assemble("\n".join(line for line in kernels.render(
        "binary", T="f32", OP="add", NAME="vadd").splitlines()
        if not line.startswith(".param")))
    assert not undeclared.params and VADD.params
    x = chunked(X, 300)

    def params():
        return {"r1": hd.partitioned(x), "r2": hd.partitioned(x),
                "r3": hd.partitioned(shape=N, dtype=np.float32), "r4": N}
    with pytest.raises(hg.LaunchConfigError, match="bare Python int"):
        hd.launch(undeclared, params=params())
    got = hd.launch(VADD, params=params())["r3"]
    assert sync(got).tobytes() == (X + X).tobytes()


def test_launch_spec_errors():
    with pytest.raises(hg.LaunchConfigError, match="op must be one of"):
        hd.reduced(np.zeros(3), "mul")
    with pytest.raises(hg.LaunchConfigError, match="an output needs dtype"):
        hd.partitioned(shape=3)
    with pytest.raises(hg.LaunchConfigError, match="1-D blocks"):
        hd.launch(VADD, block=(16, 16), params={"r1": hd.partitioned(chunked(X, 300))})


SHIFT = """
.block 64
; out[i] = x[i], except that lane r4 reads x[i + 1]: only the run-time check can tell
        setgeu.u64   p0, r255, r3
        bra.p0       @done
        mov.u64      r20, r255
        setne.u64    p1, r255, r4
        bra.p1       @same
        mov_imm.u64  r22, 1
        add.u64      r20, r20, r22
same:
        mov_imm.u32  r12, 2
        shl.u64      r13, r20, r12
        ldg.f32      r10, [r1 + r13]
        shl.u64      r14, r255, r12
        div.u32      r15, r12, r5             ; r5 = 0 makes every lane fault here
        stg.f32      [r2 + r14], r10
done:
        exit
"""


def shift_launch(lane: int, chunks: Any = 1000, divisor: int = 1, n: int = 5000) -> Any:
    return hd.launch(hg.assemble(SHIFT), params={
        "r1": hd.partitioned(chunked(np.arange(n, dtype=np.float32), chunks)),
        "r2": hd.partitioned(shape=n, dtype=np.float32), "r3": ("u64", n),
        "r4": ("u64", lane), "r5": ("u32", divisor)})["r2"]


def test_a_run_time_window_fault_is_not_partitionable():
    assert sync(shift_launch(4000))[4000] == 4001           # inside its chunk: fine
    with pytest.raises(hd.NotPartitionable, match="lane 1023 accessed bytes \\[4096, 4100\\) "
                                                  "of r1, outside its chunk") as e:
        sync(shift_launch(1023))                 # chunk 0 holds elements [0, 1024)
    assert (e.value.global_lane_id, e.value.offset, e.value.pc) == (1023, 4096, 9)
    with pytest.raises(hg.OutOfBounds, match="beyond the end of the 20000-byte buffer") as e2:
        sync(shift_launch(4999))                 # past the array: what one launch raises
    assert e2.value.global_lane_id == 4999


def test_the_lowest_lane_wins_over_window_faults_and_chunk_order():
    """Every lane faults (division by zero) after lane 1023 left its window: the lowest lane,
    0, is what one launch reports."""
    with pytest.raises(hg.DivisionByZero) as e:
        sync(shift_launch(1023, divisor=0))
    assert e.value.global_lane_id == 0


def test_thread_policy_outside_a_cluster():
    assert _runtime.ThreadPolicy(3).resolve() == 3
    assert _runtime.ThreadPolicy().resolve() is None          # the caller's thread: default
    seen: List[Any] = []
    t = threading.Thread(target=lambda: seen.append(_runtime.ThreadPolicy().resolve()))
    t.start()
    t.join()
    assert seen == [max(1, _runtime.cpus() // _runtime.cpus())]   # dask's pool: cpus threads
    be1 = _runtime.local_backend()
    assert _runtime.local_backend() is be1 and _runtime.local_backend("reference") is not be1
    other: List[Any] = []
    t = threading.Thread(target=lambda: other.append(_runtime.local_backend()))
    t.start()
    t.join()
    assert other[0] is not be1


# ---- on a real cluster (--rundask)

def local_cluster(workers: int, threads: int) -> Any:
    """A real cluster of worker processes on loopback (any free ports)."""
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                    processes=True, host="127.0.0.1", dashboard_address=":0")


@pytest.fixture(scope="module")
def client():
    from distributed import Client
    with local_cluster(2, 1) as cluster, Client(cluster) as c:
        yield c


def on_cluster(x: Any) -> Any:
    return x.compute()                      # the module's client is the default scheduler


@pytest.mark.dask
@pytest.mark.parametrize("chunking", list(CHUNKS_1D))
def test_cluster_every_twin(client, chunking):
    c1, c2 = CHUNKS_1D[chunking], CHUNKS_2D[chunking]
    for name, args, extra in ELEMENTWISE:
        check_elementwise(on_cluster, name, args, extra, c1)
    for name, x in REDUCTIONS:
        check_reduction(on_cluster, name, x, c1)
    check_reduction(on_cluster, "sum", M, c2, axis=-1)
    assert on_cluster(hd.softmax(chunked(M, c2))).tobytes() == ops.softmax(M).tobytes()
    np.testing.assert_allclose(on_cluster(hd.gemm(chunked(M, c2), chunked(M2, c2))),
                               ops.gemm(M, M2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(on_cluster(hd.matvec(chunked(M, c2), chunked(V, c1))),
                               ops.matvec(M, V), rtol=1e-5, atol=1e-5)
    for name, a, b in [("mse", M, M * 0.5), ("cross_entropy", PROBS, ONEHOT),
                       ("binary_cross_entropy", PROBS, ONEHOT)]:
        np.testing.assert_allclose(on_cluster(getattr(hd, name)(chunked(a, c2), b)),
                                   getattr(ops, name)(a, b), rtol=1e-5)
    assert on_cluster(hd.gather(chunked(M, c2), chunked(IDX, c1))).tobytes() == \
        ops.gather(M, IDX).tobytes()
    assert (on_cluster(hd.full((10, 3), 2.5, chunks=c2)) == 2.5).all()
    assert (on_cluster(hd.fill(chunked(XI, c1), 9)) == 9).all()


@pytest.mark.dask
def test_cluster_reductions_are_reproducible_and_equal_the_local_tree(client):
    x = chunked(f32(100_000), 7_000)
    runs = [on_cluster(hd.sum(hd.gelu(x))) for _ in range(3)]
    assert len({r.tobytes() for r in runs}) == 1
    assert runs[0].tobytes() == sync(hd.sum(hd.gelu(x))).tobytes()   # same tree, same bits
    assert on_cluster(hd.mean(x, split_every=3)).tobytes() == \
        sync(hd.mean(x, split_every=3)).tobytes()


@pytest.mark.dask
def test_cluster_histogram_and_launch(client):
    x = RNG.integers(0, 256, 200_001).astype(np.uint8)
    assert (on_cluster(hist_launch(x, 30_000)) == np.bincount(x, minlength=256)).all()
    xs = f32(3000)
    out = hd.launch(hg.assemble(TABLE_ADD), params={
        "x": hd.partitioned(chunked(xs, 500)),
        "table": hd.replicated(np.array([1, 2, 3, 4], np.float32)), "n": 3000})
    want = xs + np.tile(np.array([1, 2, 3, 4], np.float32), 750)
    assert on_cluster(out["x"]).tobytes() == want.tobytes()


@pytest.mark.dask
def test_cluster_rejections_submit_nothing(client):
    from distributed import get_task_stream
    with get_task_stream(client) as ts:
        with pytest.raises(hd.NotPartitionable):
            hd.launch(GATHER, params={
                "r1": hd.partitioned(chunked(X, 300)),
                "r2": hd.partitioned(chunked(RNG.integers(0, N, N), 300)),
                "r3": hd.partitioned(shape=N, dtype=np.float32), "r4": ("u64", N),
                "r5": ("i64", N), "r6": ("u64", N)})
    assert ts.data == []


SLOW_FAULT = """
.block 64
; lane r4 spins r5 iterations, then faults (division by zero); lane r6 faults at once
        setgeu.u64   p0, r255, r3
        bra.p0       @done
        seteq.u64    p1, r255, r6
        bra.p1       @fault
        setne.u64    p2, r255, r4
        bra.p2       @done
        mov.u32      r10, r5
spin:
        loop         r10, @spin
fault:
        mov_imm.u32  r11, 0
        div.u32      r12, r11, r11
        mov_imm.u32  r13, 2
        shl.u64      r14, r255, r13
        ldg.f32      r15, [r1 + r14]
        stg.f32      [r2 + r14], r15
done:
        exit
"""


@pytest.mark.dask
def test_cluster_the_lowest_lane_wins_not_the_first_task_to_fail(client):
    """Lane 10 (chunk 0) faults after a long loop, lane 4500 (the last chunk) at once: the
    fault raised is lane 10's, whichever task finished first."""
    prog = hg.assemble(SLOW_FAULT)
    out = hd.launch(prog, params={
        "r1": hd.partitioned(chunked(X[:1] .repeat(5000), 1000)),
        "r2": hd.partitioned(shape=5000, dtype=np.float32), "r3": ("u64", 5000),
        "r4": ("u64", 10), "r5": ("u32", 20_000_000), "r6": ("u64", 4500)})["r2"]
    with pytest.raises(hg.DivisionByZero) as e:
        on_cluster(out)
    assert e.value.global_lane_id == 10 and e.value.block_idx == (0, 0, 0)


def _worker_omp() -> Tuple[str, int]:
    """What a worker's OMP_NUM_THREADS and hologram default are: a nanny sets the variable to 1
    unless this process's environment already names a value, which the worker inherits."""
    omp = os.environ.get("OMP_NUM_THREADS", "1")
    return omp, int(omp)


def _task_threads(p: Any) -> Tuple[Any, ...]:
    return (os.environ.get("OMP_NUM_THREADS"), hg.effective_num_threads(), p.resolve())


@pytest.mark.dask
def test_cluster_thread_policy(client):
    """Workers start with dask's OMP_NUM_THREADS (1 unless the caller's environment sets it) and
    hologram's default follows it; the policy gives each task the machine's cores divided by the
    dask threads on it, whatever that variable says."""
    p = hd.thread_policy()
    omp, default, threads = client.submit(_task_threads, p, pure=False).result()
    assert (omp, default) == _worker_omp()
    assert threads == max(1, _runtime.cpus() // 2)
    assert client.submit(_task_threads, hd.thread_policy(1), pure=False).result()[2] == 1


@pytest.mark.dask
def test_one_worker_gets_all_cores_despite_omp_num_threads():
    from distributed import Client
    with local_cluster(1, 1) as cluster, Client(cluster) as c:
        omp, default, threads = c.submit(_task_threads, hd.thread_policy(),
                                         pure=False).result()
        assert (omp, default, threads) == (*_worker_omp(), _runtime.cpus())
        if _runtime.cpus() > 1:
            with pytest.warns(hd.OversubscriptionWarning, match="exceed its"):
                hd.thread_policy(2 * _runtime.cpus())


_barrier_lock = threading.Lock()
_barriers: Dict[str, threading.Barrier] = {}


def _meet(tag: str) -> Tuple[int, int]:
    """Wait for the other task (two run at once), then name this thread and its backend."""
    with _barrier_lock:
        b = _barriers.setdefault(tag, threading.Barrier(2))
    b.wait(timeout=30)
    return threading.get_ident(), id(_runtime.local_backend())


@pytest.mark.dask
def test_two_threads_per_worker_use_a_backend_each():
    from distributed import Client
    with local_cluster(1, 2) as cluster, Client(cluster) as c:
        futures = [c.submit(_meet, "t", pure=False) for _ in range(2)]
        (t1, b1), (t2, b2) = [f.result() for f in futures]
        assert t1 != t2 and b1 != b2
        x = chunked(f32(50_000), 3_000)
        assert hd.gelu(x).compute().tobytes() == ops.gelu(sync(x)).tobytes()
        assert hd.sum(x).compute().tobytes() == sync(hd.sum(x)).tobytes()


@pytest.mark.dask
def test_a_worker_restarted_mid_graph_still_gives_exact_results():
    """One worker is restarted while the graph runs (its results and running tasks are lost);
    the scheduler recomputes them and the results are exactly the local ones."""
    from distributed import Client
    rs = da.random.RandomState(5)           # data made by the tasks, not shipped with the graph
    xb = rs.randint(0, 256, 2_000_000, chunks=50_000).astype(np.uint8)
    xf = rs.standard_normal(4_000_000, chunks=100_000).astype(np.float32)
    total = hd.sum(hd.gelu(xf))
    bins = hd.launch(histogram(), params={
        "r1": hd.partitioned(xb), "r2": hd.reduced(np.zeros(256, np.uint32)),
        "r3": ("u64", xb.shape[0])})["r2"]
    want_total, x = sync(total), sync(xb)
    with local_cluster(2, 1) as cluster, Client(cluster) as c:
        fut = c.compute([total, bins])
        deadline = time.monotonic() + 60
        while not any(c.processing().values()):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert not all(f.done() for f in fut)
        c.restart_workers([next(iter(c.scheduler_info()["workers"]))])
        got_total, got_bins = c.gather(fut)
    assert got_total.tobytes() == want_total.tobytes()
    assert (got_bins == np.bincount(x, minlength=256)).all()


def test_the_python_blocks_of_docs_dask_md_run():
    """docs/dask.md's examples run as written (in order, one namespace; the cluster example
    is guarded by ``if __name__ == "__main__"``)."""
    import re
    from pathlib import Path
    doc = Path(__file__).resolve().parent.parent / "docs" / "dask.md"
    if not doc.exists():
        pytest.skip("docs/dask.md is only in the source tree")
    text = doc.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) >= 3
    namespace: Dict[str, Any] = {"__name__": "__docs__"}
    with dask.config.set(scheduler="synchronous"):
        for source in blocks:
            exec(compile(source, str(doc), "exec"), namespace)

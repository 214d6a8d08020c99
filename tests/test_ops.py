"""hologram.ops against numpy: every op and dtype, hypothesis over shapes, argument errors.

Tolerances (the VM computes, numpy is the oracle; float64 references unless stated):
* exact (bit for bit, NaN = NaN): add/sub/mul/div/minimum/maximum/abs/neg/relu/clip/scalar ops
  for every dtype (f16/bf16 reference: the op in float32, rounded once, as ISA.md §2 says),
  copy, fill, gather, integer sums (wrapping), min/max;
* sigmoid, tanh: rtol 2e-6 (f32), 1e-13 (f64), 2 ulp of the type (f16/bf16); gelu adds atol for
  values near 0 (the cubic term cancels);
* sum, mean, matvec, gemm: |error| <= (terms * eps(accumulator) + eps(type)) * sum(|terms|)
  + one subnormal ulp of the type;
* softmax, losses: rtol/atol 1e-5 (f32), 1e-12 (f64), 4e-3 (f16), 3e-2 (bf16).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import hologram as hg
from hologram import kernels, ops
from hologram.ops import _build

try:
    import ml_dtypes
    BF16 = [np.dtype(ml_dtypes.bfloat16)]
except ImportError:  # pragma: no cover - bf16 tests need ml_dtypes
    BF16 = []

F16 = np.dtype(np.float16)
FLOATS = [F16, *BF16, np.dtype(np.float32), np.dtype(np.float64)]
INTS = [np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64,
                              np.uint8, np.uint16, np.uint32, np.uint64)]
ALL = FLOATS + INTS
EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23, "float64": 2.0 ** -52}
TINY = {"float16": 2.0 ** -24, "bfloat16": 2.0 ** -133, "float32": 2.0 ** -149,  # subnormal ulp
        "float64": 5e-324}
LOSS_TOL = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 1e-5, "float64": 1e-12}
SIZES = [0, 1, 255, 256, 257, 1000, 5000]      # 5000 > 4096: reductions take two passes

rng = np.random.default_rng(2026)


def ids(dt) -> str:
    return np.dtype(dt).name


def is_low(dt) -> bool:
    return np.dtype(dt).name in ("float16", "bfloat16")


def data(dt, n, rng=rng, scale=10.0, positive=False) -> np.ndarray:
    """Random values covering the dtype: full range for integers, normal * scale for floats."""
    dt = np.dtype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo = 1 if positive else info.min
        return rng.integers(lo, info.max, size=n, dtype=dt, endpoint=True)
    x = rng.standard_normal(n) * scale
    if positive:
        x = np.abs(x) + 0.5
    return x.astype(dt)


def in_f32(fn, dt, *xs):
    """The ISA's f16/bf16 semantics: widen to f32, compute, round once."""
    if is_low(dt):
        return fn(*[x.astype(np.float32) for x in xs]).astype(dt)
    return fn(*xs)


def assert_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values (NaN = NaN, -0 = +0), same dtype and shape."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f" or is_low(got.dtype):
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))
    else:
        np.testing.assert_array_equal(got, want)


def assert_close(got, want, dt, rtol, atol=0.0) -> None:
    got = np.asarray(got).astype(np.float64)
    want = np.asarray(want).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncated toward zero (C, ISA DIV); b must be non-zero."""
    with np.errstate(all="ignore"):
        q = a // b
        if a.dtype.kind == "i":
            fix = (a % b != 0) & ((a < 0) != (b < 0))
            q = np.where(fix, q + 1, q).astype(a.dtype)
    return q


# ------------------------------------------------------------------------------------------
# element-wise

BINARY = {
    "vector_add": np.add, "vector_sub": np.subtract, "vector_mul": np.multiply,
    "vector_div": None, "minimum": np.fmin, "maximum": np.fmax,
}


def binary_reference(name, a, b):
    dt = a.dtype
    if name == "vector_div":
        if dt.kind in "iu":
            return trunc_div(a, b)
        return in_f32(np.divide, dt, a, b)
    with np.errstate(all="ignore"):
        return in_f32(BINARY[name], dt, a, b)


@pytest.mark.parametrize("dt", ALL, ids=ids)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, dt):
    n = 1000
    a, b = data(dt, n), data(dt, n)
    if name == "vector_div" and dt.kind in "iu":
        b[b == 0] = 1
    with np.errstate(all="ignore"):
        want = binary_reference(name, a, b)
    assert_bits(getattr(ops, name)(a, b), want)


def test_aliases():
    a, b = data(np.float32, 10), data(np.float32, 10)
    assert_bits(ops.add(a, b), a + b)
    assert_bits(ops.sub(a, b), a - b)
    assert_bits(ops.mul(a, b), a * b)
    assert_bits(ops.div(a, b), a / b)


def test_float_specials():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5], np.float32)
    y = np.array([1.0, np.nan, 2.0, -0.0, 0.0, np.inf, np.nan], np.float32)
    assert_bits(ops.minimum(x, y), np.fmin(x, y))
    assert_bits(ops.maximum(x, y), np.fmax(x, y))
    with np.errstate(all="ignore"):
        assert_bits(ops.vector_div(x, y), x / y)
        assert_bits(ops.relu(x), np.maximum(x, np.float32(0)))
    assert_bits(ops.clip(x, -1, 1), np.clip(x, np.float32(-1), np.float32(1)))
    assert_bits(ops.abs(x), np.abs(x))
    assert np.signbit(ops.neg(np.array([0.0]))[0])
    assert np.isnan(ops.max(np.array([np.nan, np.nan], np.float64)))     # all NaN: NaN
    assert np.isnan(ops.min(np.full(5000, np.nan, np.float32)))
    assert ops.max(np.array([np.nan, 3.0, np.nan])) == 3.0          # NaN-ignoring (nanmax)


def test_integer_div_semantics():
    a = np.array([7, -7, 7, -7, -128], np.int8)
    b = np.array([2, 2, -2, -2, -1], np.int8)
    assert ops.vector_div(a, b).tolist() == [3, -3, -3, 3, -128]
    with pytest.raises(hg.DivisionByZero):
        ops.vector_div(np.array([1, 2], np.int32), np.array([1, 0], np.int32))


UNARY = {
    "abs": np.abs, "neg": np.negative,
    "relu": lambda x: np.where(x < 0, np.zeros_like(x), x),
    "copy": lambda x: x.copy(),
}


@pytest.mark.parametrize("dt", ALL, ids=ids)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_exact(name, dt):
    x = data(dt, 1000)
    with np.errstate(all="ignore"):
        want = UNARY[name](x)
    assert_bits(getattr(ops, name)(x), want)


@pytest.mark.parametrize("dt", ALL, ids=ids)
def test_scalar_ops_and_clip(dt):
    x = data(dt, 777)
    s = 3 if dt.kind in "iu" else 0.1
    sv = np.array(s).astype(dt)[()]
    with np.errstate(all="ignore"):
        assert_bits(ops.scalar_add(x, s), in_f32(lambda u, v: (u + v).astype(u.dtype), dt, x,
                                                     np.full_like(x, sv)))
        assert_bits(ops.scalar_mul(x, s), in_f32(lambda u, v: (u * v).astype(u.dtype), dt, x,
                                                     np.full_like(x, sv)))
    lo, hi = (-5, 100) if dt.kind == "i" else (2, 100) if dt.kind == "u" else (-1.5, 2.0)
    want = np.clip(x, np.array(lo).astype(dt), np.array(hi).astype(dt)).astype(dt)
    assert_bits(ops.clip(x, lo, hi), want)


ACT_RTOL = {"float16": 2 * 2.0 ** -10, "bfloat16": 2 * 2.0 ** -7, "float32": 2e-6,
            "float64": 1e-13}


def gelu_ref(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


@pytest.mark.parametrize("dt", FLOATS, ids=ids)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu"])
def test_activations(name, dt):
    x = data(dt, 1000, scale=3.0)
    x64 = x.astype(np.float64)
    ref = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh, "gelu": gelu_ref}[name]
    got = getattr(ops, name)(x)
    assert got.dtype == dt
    atol = (20 * EPS[dt.name] if is_low(dt) else 1e-6 if dt.name == "float32" else 1e-14) \
        if name == "gelu" else 0
    assert_close(got, ref(x64), dt, ACT_RTOL[dt.name], atol)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu", "softmax", "mean", "gemm"])
@pytest.mark.parametrize("dt", [np.int32, np.uint64], ids=ids)
def test_float_only_ops_reject_integers(name, dt):
    x = np.ones((2, 2), dt)
    with pytest.raises(TypeError, match="unsupported dtype"):
        getattr(ops, name)(*((x, x) if name == "gemm" else (x,)))


# ------------------------------------------------------------------------------------------
# reductions


def sum_tol(x: np.ndarray, terms: int) -> float:
    dt = x.dtype.name
    acc = EPS["float64" if dt == "float64" else "float32"]
    return (max(terms, 1) * acc + EPS[dt]) * float(np.abs(x.astype(np.float64)).sum()) + TINY[dt]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dt", ALL, ids=ids)
def test_sum(dt, n):
    x = data(dt, n)
    got = ops.sum(x)
    assert isinstance(got, np.generic) and got.dtype == dt
    if dt.kind in "iu":
        assert got == np.sum(x, dtype=dt)          # wraps modulo 2^w
    else:
        assert abs(float(got) - x.astype(np.float64).sum()) <= sum_tol(x, 64)


@pytest.mark.parametrize("n", [1, 255, 257, 5000])
@pytest.mark.parametrize("dt", ALL, ids=ids)
def test_min_max(dt, n):
    x = data(dt, n)
    ref = x.astype(np.float64) if is_low(dt) else x
    assert ops.min(x) == ref.min() and ops.max(x) == ref.max()
    assert ops.min(x).dtype == dt


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dt", FLOATS, ids=ids)
def test_mean(dt, n):
    x = data(dt, n)
    got = ops.mean(x)
    assert got.dtype == dt
    if n == 0:
        assert np.isnan(got)
    else:
        want = x.astype(np.float64).mean()
        assert abs(float(got) - want) <= sum_tol(x, 64) / n + EPS[dt.name] * abs(want)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, F16], ids=ids)
def test_reductions_last_axis(dt):
    x = data(dt, 3 * 5000).reshape(3, 5000)
    assert ops.sum(x, axis=-1).shape == (3,)
    if np.dtype(dt).kind in "iu":
        assert_bits(ops.sum(x, axis=1), np.sum(x, axis=1, dtype=dt))
    else:
        for i, s in enumerate(ops.sum(x, axis=-1)):
            assert abs(float(s) - x[i].astype(np.float64).sum()) <= sum_tol(x[i], 64)
    ref = x.astype(np.float64)
    assert_bits(ops.max(x, axis=-1).astype(np.float64), ref.max(axis=-1))
    assert_bits(ops.min(x, axis=1).astype(np.float64), ref.min(axis=1))
    if np.dtype(dt).kind == "f":
        assert_close(ops.mean(x, axis=-1), ref.mean(axis=-1), dt, 1e-3 if is_low(dt) else 1e-5)
    out = np.empty(3, dt)
    assert ops.sum(x, axis=-1, out=out) is out


def test_reductions_deterministic_across_threads():
    x = data(np.float32, 300_000)
    be = hg.CpuBackend()
    one = ops.sum(x, backend=be, num_threads=1)
    two = ops.sum(x, backend=be, num_threads=2)
    assert one.tobytes() == two.tobytes()
    assert ops.softmax(x[:9000], num_threads=1).tobytes() == \
        ops.softmax(x[:9000], num_threads=2).tobytes()


# ------------------------------------------------------------------------------------------
# softmax and losses


def softmax_ref(x):
    x = x.astype(np.float64)
    if x.size == 0:
        return x
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("shape", [(0,), (1,), (300,), (5000,), (7, 33), (3, 5000), (0, 4)])
@pytest.mark.parametrize("dt", FLOATS, ids=ids)
def test_softmax(dt, shape):
    x = data(dt, int(np.prod(shape)), scale=5.0).reshape(shape)
    got = ops.softmax(x)
    assert got.dtype == dt and got.shape == shape
    tol = LOSS_TOL[dt.name]
    assert_close(got, softmax_ref(x), dt, tol, tol)


def test_softmax_large_values_stable():
    x = np.array([1000.0, 1001.0, 1002.0], np.float32)
    assert_close(ops.softmax(x), softmax_ref(x), np.float32, 1e-6)


@pytest.mark.parametrize("dt", FLOATS, ids=ids)
def test_losses(dt):
    p = rng.uniform(0.01, 0.99, (40, 7)).astype(dt)
    t = np.eye(7)[rng.integers(0, 7, 40)].astype(dt)
    y = (rng.random((40, 7)) < 0.5).astype(dt)
    p64, t64, y64 = (v.astype(np.float64) for v in (p, t, y))
    tol = LOSS_TOL[dt.name]
    got = ops.mse(p, t)
    assert isinstance(got, np.generic) and got.dtype == dt
    assert_close(got, ((p64 - t64) ** 2).mean(), dt, tol)
    assert_close(ops.cross_entropy(p, t), -(t64 * np.log(p64)).sum() / 40, dt, tol)
    bce = -(y64 * np.log(p64) + (1 - y64) * np.log(1 - p64)).mean()
    assert_close(ops.binary_cross_entropy(p, y), bce, dt, tol)


def test_loss_edge_cases():
    p = np.array([0.0, 1.0, 0.5])
    t = np.array([1.0, 0.0, 1.0])
    assert ops.cross_entropy(p, t) == pytest.approx(100 + np.log(2))     # log clamped at -100
    assert ops.binary_cross_entropy(p, t) == pytest.approx((100 + 100 + np.log(2)) / 3)
    assert ops.cross_entropy(p[None, :], t[None, :]) == ops.cross_entropy(p, t)
    assert np.isnan(ops.mse(np.zeros(0), np.zeros(0)))
    y = np.array([1.0, 1.0], np.float32)
    for bad in (np.nan, -0.5, 1.5):          # NaN logs are not clamped away
        q = np.array([bad, 0.5], np.float32)
        assert np.isnan(ops.binary_cross_entropy(q, y))
        assert np.isnan(ops.cross_entropy(q, y)) == (bad != 1.5)     # log(1.5) is finite
    out = np.empty((), np.float64)
    assert ops.mse(p, t, out=out) is out and out[()] == pytest.approx(((p - t) ** 2).mean())


# ------------------------------------------------------------------------------------------
# gemm, matvec


def assert_matmul(got, a, b):
    dt = a.dtype
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64
    scale = np.abs(a64) @ np.abs(b64)
    k = a.shape[1]
    acc = EPS["float64" if dt.name == "float64" else "float32"]
    tol = (max(k, 1) * acc + EPS[dt.name]) * scale + TINY[dt.name]
    assert got.dtype == dt and got.shape == ref.shape
    assert np.all(np.abs(got.astype(np.float64) - ref) <= tol)


@pytest.mark.parametrize("shape", [(1, 1, 1), (16, 16, 16), (17, 33, 15), (40, 0, 3), (0, 5, 4),
                                   (64, 100, 48), (130, 70, 150)])
@pytest.mark.parametrize("dt", FLOATS, ids=ids)
def test_gemm(dt, shape):
    m, k, n = shape
    a, b = data(dt, m * k, scale=1).reshape(m, k), data(dt, k * n, scale=1).reshape(k, n)
    assert_matmul(ops.gemm(a, b), a, b)


@pytest.mark.parametrize("shape", [(1, 1), (5, 300), (3, 5000), (0, 4), (4, 0), (300, 17)])
@pytest.mark.parametrize("dt", FLOATS, ids=ids)
def test_matvec(dt, shape):
    a = data(dt, int(np.prod(shape)), scale=1).reshape(shape)
    x = data(dt, shape[1], scale=1)
    assert_matmul(ops.matvec(a, x)[:, None], a, x[:, None])


# ------------------------------------------------------------------------------------------
# copy, fill, gather


@pytest.mark.parametrize("dt", ALL, ids=ids)
def test_fill_and_full(dt):
    value = -3 if dt.kind == "i" else 7 if dt.kind == "u" else 2.5
    out = np.zeros((3, 100), dt)
    assert ops.fill(out, value) is out
    assert_bits(out, np.full((3, 100), value, dt))
    assert_bits(ops.full(10, value, dt), np.full(10, value, dt))


def test_copy_is_bit_exact():
    bits = np.array([0x7FC00001, 0xFFC00123, 0x80000000, 1], np.uint32)
    x = bits.view(np.float32)
    assert ops.copy(x).view(np.uint32).tolist() == bits.tolist()


@pytest.mark.parametrize("it", INTS, ids=ids)
@pytest.mark.parametrize("dt", ALL, ids=ids)
def test_gather(dt, it):
    x = data(dt, 100)
    idx = rng.integers(-100 if it.kind == "i" else 0, 100, 50).astype(it)
    if it.itemsize == 1 and it.kind == "i":
        idx = np.clip(idx, -100, 99).astype(it)
    got = ops.gather(x, idx.reshape(5, 10))
    assert_bits(got, np.take(x, idx.astype(np.int64)).reshape(5, 10))


def test_gather_out_of_range():
    x = np.arange(10.0)
    with pytest.raises(IndexError, match="index 10 at position 2"):
        ops.gather(x, np.array([0, 1, 10]))
    with pytest.raises(IndexError, match="index -11"):
        ops.gather(x, np.array([-11], np.int8))
    with pytest.raises(IndexError):
        ops.gather(x, np.array([2 ** 62], np.uint64))      # no wrap-around of the offset
    with pytest.raises(IndexError):
        ops.gather(np.zeros(0), np.array([0]))
    assert ops.gather(np.zeros(0), np.zeros(0, np.int32)).shape == (0,)


# ------------------------------------------------------------------------------------------
# hypothesis: shapes (empty, not a multiple of the block), dtypes, ops

DTYPES = st.sampled_from(ALL)
N = st.one_of(st.integers(0, 600), st.sampled_from([255, 256, 257, 4095, 4096, 4097, 9000]))


@given(name=st.sampled_from(list(BINARY) + list(UNARY)), dt=DTYPES, n=N,
       seed=st.integers(0, 2 ** 32 - 1))
def test_elementwise_shapes(name, dt, n, seed):
    r = np.random.default_rng(seed)
    shape = (n,) if n % 3 else (n // 3, 3)
    a = data(dt, n, r).reshape(shape)
    if name in BINARY:
        b = data(dt, n, r, positive=name == "vector_div").reshape(shape)
        with np.errstate(all="ignore"):
            want = binary_reference(name, a, b)
        assert_bits(getattr(ops, name)(a, b), want)
    else:
        with np.errstate(all="ignore"):
            assert_bits(getattr(ops, name)(a), UNARY[name](a))


@given(op=st.sampled_from(["sum", "min", "max"]), dt=DTYPES,
       n=st.one_of(st.integers(0, 700), st.integers(4000, 20000)), seed=st.integers(0, 2 ** 32 - 1))
def test_reduction_shapes(op, dt, n, seed):
    x = data(dt, n, np.random.default_rng(seed))
    if op != "sum" and n == 0:
        with pytest.raises(ValueError):
            getattr(ops, op)(x)
        return
    got = getattr(ops, op)(x)
    if op == "sum":
        if dt.kind in "iu":
            assert got == np.sum(x, dtype=dt)
        else:
            assert abs(float(got) - x.astype(np.float64).sum()) <= sum_tol(x, 64)
    else:
        ref = getattr(x.astype(np.float64) if is_low(dt) else x, op)()
        assert got == ref


@given(dt=st.sampled_from(FLOATS), rows=st.integers(0, 4), cols=st.integers(0, 700),
       seed=st.integers(0, 2 ** 32 - 1), one_d=st.booleans())
def test_softmax_shapes(dt, rows, cols, seed, one_d):
    shape = (cols,) if one_d else (rows, cols)
    x = data(dt, int(np.prod(shape)), np.random.default_rng(seed), scale=4).reshape(shape)
    tol = LOSS_TOL[dt.name]
    assert_close(ops.softmax(x), softmax_ref(x), dt, tol, tol)


@given(dt=st.sampled_from(FLOATS), m=st.integers(0, 40), k=st.integers(0, 40),
       n=st.integers(0, 40), seed=st.integers(0, 2 ** 32 - 1))
def test_gemm_matvec_shapes(dt, m, k, n, seed):
    r = np.random.default_rng(seed)
    a, b = data(dt, m * k, r, 1).reshape(m, k), data(dt, k * n, r, 1).reshape(k, n)
    assert_matmul(ops.gemm(a, b), a, b)
    x = data(dt, k, r, 1)
    assert_matmul(ops.matvec(a, x)[:, None], a, x[:, None])


# ------------------------------------------------------------------------------------------
# errors, out=, caching, prepare


def test_dtype_and_shape_mismatch():
    a32, a64 = np.ones(4, np.float32), np.ones(4, np.float64)
    with pytest.raises(TypeError, match="dtype mismatch"):
        ops.vector_add(a32, a64)
    with pytest.raises(ValueError, match="shape mismatch"):
        ops.vector_mul(a32, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="shape mismatch"):
        ops.vector_mul(a32, np.ones((4, 1), np.float32))
    with pytest.raises(TypeError, match="unsupported dtype"):
        ops.vector_add(np.ones(3, bool), np.ones(3, bool))
    with pytest.raises(TypeError, match="unsupported dtype"):
        ops.sum(np.ones(3, np.complex64))
    with pytest.raises(TypeError, match="dtype mismatch"):
        ops.gemm(np.ones((2, 2), np.float32), np.ones((2, 2)))
    with pytest.raises(ValueError, match="inner dimensions"):
        ops.gemm(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="2-D"):
        ops.gemm(np.ones(3), np.ones((3, 1)))
    with pytest.raises(ValueError):
        ops.matvec(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        ops.softmax(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="shape mismatch"):
        ops.mse(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="last axis"):
        ops.sum(np.ones((2, 3)), axis=0)
    with pytest.raises(ValueError, match="no identity"):
        ops.min(np.ones(0, np.int32))
    with pytest.raises(TypeError, match="integer"):
        ops.scalar_add(np.ones(3, np.int32), 1.5)
    with pytest.raises(ValueError, match="out of range"):
        ops.fill(np.ones(3, np.uint8), 256)
    with pytest.raises(TypeError, match="indices"):
        ops.gather(np.ones(3), np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="unsupported dtype object"):
        ops.relu(object())


@pytest.mark.parametrize("op,args,shape", [
    (ops.vector_add, (np.ones(6, np.float32), np.ones(6, np.float32)), (6,)),
    (ops.relu, (np.ones((2, 3), np.float64),), (2, 3)),
    (ops.gemm, (np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)), (2, 4)),
    (ops.sum, (np.ones(6, np.float32),), ()),
    (ops.softmax, (np.ones((2, 3), np.float32),), (2, 3)),
])
def test_out_checks(op, args, shape):
    dt = args[0].dtype
    out = np.empty(shape, dt)
    assert op(*args, out=out) is out
    with pytest.raises(TypeError, match="dtype"):
        op(*args, out=np.empty(shape, np.int16))
    with pytest.raises(ValueError, match="shape"):
        op(*args, out=np.empty((7,), dt))
    with pytest.raises(TypeError, match="numpy array"):
        op(*args, out=[0.0] * 6)
    ro = np.empty(shape, dt)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        op(*args, out=ro)
    if len(shape) == 2:
        with pytest.raises(ValueError, match="contiguous"):
            op(*args, out=np.empty(shape[::-1], dt).T)


def test_out_in_place_and_overlap():
    a = data(np.float32, 1000)
    b = data(np.float32, 1000)
    want = a + b
    assert ops.vector_add(a, b, out=a) is a
    assert_bits(a, want)
    with pytest.raises(ValueError, match="overlaps"):
        ops.vector_add(a[1:], b[1:], out=a[:-1])
    m = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        ops.gemm(m, m, out=m)


def test_non_contiguous_inputs_are_accepted():
    x = data(np.float64, 200).reshape(10, 20)
    assert_bits(ops.relu(x.T), np.where(x.T < 0, 0.0, x.T))
    assert ops.sum(x[:, ::2]) == pytest.approx(x[:, ::2].sum())


def test_programs_are_built_once():
    x = data(np.float32, 300)
    ops.sigmoid(x)
    before = _build.program.cache_info()
    for _ in range(3):
        ops.sigmoid(x)
    after = _build.program.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 3


def test_prepare():
    a, b = data(np.float32, 5000), data(np.float32, 5000)
    k = ops.prepare(ops.vector_add, a, b)
    first = k()
    assert_bits(first, a + b)
    a += 1
    assert k() is first
    assert_bits(first, a + b)
    s = ops.prepare("sum", a, num_threads=1)
    assert abs(float(s()) - a.astype(np.float64).sum()) <= sum_tol(a, 64)
    g = ops.prepare(ops.gemm, np.eye(3), np.arange(9.0).reshape(3, 3))
    assert_bits(g(), np.arange(9.0).reshape(3, 3))
    with pytest.raises(ValueError, match="unknown op"):
        ops.prepare("nope", a)


def test_every_op_has_a_docstring():
    for name in ops.__all__:
        if name != "OPS":
            assert getattr(ops, name).__doc__, name
    assert hg.ops is ops and set(ops.OPS) <= set(ops.__all__)


def test_kernel_templates():
    assert {"binary", "reduce", "gemm", "matvec", "gather"} <= set(kernels.names())
    prog = hg.assemble(kernels.render("binary", T="f64", OP="max", NAME="vmax"))
    a, b, c = np.arange(5.0), np.full(5, 2.0), np.empty(5)
    hg.launch(prog, grid=1, block=256, params={"r1": a, "r2": b, "r3": c, "r4": ("u64", 5)})
    assert c.tolist() == [2.0, 2.0, 2.0, 3.0, 4.0]
    src = kernels.render("reduce", T="f16", C="f32", O="f16", OP="add", IDENT="0", SHARED=1024,
                         BLOCK=256, HALF=128)
    assert "cvt.f32.f16" in src and "cvt.f16.f32" in src and "?" not in src
    with pytest.raises(FileNotFoundError):
        kernels.template("nope")


def test_kernels_agree_with_the_reference_interpreter():
    """The ops' kernels are plain ISA: the pure-Python reference interpreter (lane by lane,
    barriers as ISA.md §6.3) gives the same bits as the VM."""
    ref = hg.ReferenceBackend()
    r = np.random.default_rng(7)
    x = r.standard_normal(300).astype(np.float32)
    a = r.standard_normal((5, 70)).astype(np.float32)
    b = r.standard_normal((70, 3)).astype(np.float32)
    p = r.uniform(0.1, 0.9, 50)
    y = (r.random(50) < 0.5) * 1.0
    calls = [(ops.sum, (x,)), (ops.max, (x,)), (ops.mean, (x.astype(F16),)),
             (ops.gemm, (a, b)), (ops.softmax, (a,)), (ops.matvec, (a, a[0])),
             (ops.gather, (x, np.array([-1, 3], np.int16))), (ops.relu, (x,)),
             (ops.clip, (x, -1, 1)), (ops.binary_cross_entropy, (p, y)),
             (ops.cross_entropy, (p, y)), (ops.gelu, (x,)), (ops.neg, (x.view(np.uint32),))]
    for op, args in calls:
        assert_bits(np.asarray(op(*args, backend=ref)), np.asarray(op(*args))), op.__name__

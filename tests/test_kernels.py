"""End-to-end kernels written in assembly, checked against numpy.

Each kernel runs on both engines (small sizes on the slow reference interpreter, larger ones on
the VM) and, for the VM, with num_threads=1 and 2 (race-free kernels must give identical
results; the float block sum is order-dependent and is compared with a tolerance).
"""

from __future__ import annotations

import numpy as np
import pytest

import hologram as hg
from isa_testlib import BLOCK_SUM, VECTOR_ADD   # the ISA.md §8.6 kernels, verbatim

# --------------------------------------------------------------------------------------------
# kernels


TRANSPOSE = """
.kernel transpose
.block 16, 16
; params: r1 = in (rows x cols f32), r2 = out (cols x rows f32), r3 = rows, r4 = cols (u32)
        mov.u32     r10, %block.x
        mov.u32     r11, %blockdim.x
        mov.u32     r12, %lane.x
        mad.u32     r13, r10, r11, r12  ; x = column
        mov.u32     r10, %block.y
        mov.u32     r11, %blockdim.y
        mov.u32     r12, %lane.y
        mad.u32     r14, r10, r11, r12  ; y = row
        setge.u32   p0, r13, r4
        bra.p0      @done
        setge.u32   p1, r14, r3
        bra.p1      @done
        mov_imm.u32 r20, 2
        mad.u32     r15, r14, r4, r13   ; y*cols + x
        cvt.u64.u32 r16, r15
        shl.u64     r16, r16, r20
        ldg.f32     r17, [r1 + r16]
        mad.u32     r18, r13, r3, r14   ; x*rows + y
        cvt.u64.u32 r19, r18
        shl.u64     r19, r19, r20
        stg.f32     [r2 + r19], r17
done:
        exit
"""

MATRIX_ADD_SCALED = """
.block 16, 16
; params: r1 = a, r2 = b, r3 = c (rows x cols f32), r4 = rows, r5 = cols (u32)
; c[y, x] = a[y, x] + 2 * b[y, x]; indices from %block.y/%lane.y
        mov.u32     r10, %block.y
        mov.u32     r11, %blockdim.y
        mov.u32     r12, %lane.y
        mad.u32     r13, r10, r11, r12
        mov.u32     r10, %block.x
        mov.u32     r11, %blockdim.x
        mov.u32     r12, %lane.x
        mad.u32     r14, r10, r11, r12
        setlt.u32   p0, r13, r4
        setlt.u32   p1, r14, r5
        mov_imm.u8  r30, 1
        mov_imm.u8  r31, 0
        sel.u8      r32, p0, r30, r31
        sel.u8      r33, p1, r32, r31
        seteq.u8    p2, r33, r31
        bra.p2      @done
        mad.u32     r15, r13, r5, r14
        cvt.u64.u32 r16, r15
        mov_imm.u32 r20, 2
        shl.u64     r16, r16, r20
        ldg.f32     r17, [r1 + r16]
        ldg.f32     r18, [r2 + r16]
        mov_imm.f32 r19, 2.0
        mad.f32     r21, r18, r19, r17
        stg.f32     [r3 + r16], r21
done:
        exit
"""

COLLATZ = """
; params: r1 = n (u32 array), r2 = steps (u32 array), r3 = count (u64)
        setgeu.u64  p0, r255, r3
        bra.p0      @done
        mov_imm.u32 r20, 2
        shl.u64     r4, r255, r20
        ldg.u32     r5, [r1 + r4]
        mov_imm.u32 r6, 0
        mov_imm.u32 r7, 1
        mov_imm.u32 r8, 3
top:
        setle.u32   p1, r5, r7          ; n <= 1: stop
        bra.p1      @store
        and.u32     r9, r5, r7
        seteq.u32   p2, r9, r7
        bra.p2      @odd
        shr.u32     r5, r5, r7          ; n / 2
        bra         @next
odd:
        mad.u32     r5, r5, r8, r7      ; 3n + 1
next:
        add.u32     r6, r6, r7
        bra         @top
store:
        stg.u32     [r2 + r4], r6
done:
        exit
"""

MANDELBROT = """
; params: r1 = cr, r2 = ci (f32 arrays), r3 = iterations (u32 array), r4 = n (u64),
;         r5 = max_iter (u32)
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        mov_imm.u32 r20, 2
        shl.u64     r6, r255, r20
        ldg.f32     r7, [r1 + r6]
        ldg.f32     r8, [r2 + r6]
        mov_imm.f32 r9, 0.0             ; zr
        mov_imm.f32 r10, 0.0            ; zi
        mov_imm.u32 r11, 0              ; k
        mov_imm.u32 r12, 1
        mov_imm.f32 r13, 4.0
        mov_imm.f32 r14, 2.0
loop:
        setge.u32   p1, r11, r5
        bra.p1      @store
        mul.f32     r15, r9, r9
        mul.f32     r16, r10, r10
        add.f32     r17, r15, r16
        setgt.f32   p2, r17, r13        ; escaped
        bra.p2      @store
        sub.f32     r18, r15, r16
        add.f32     r18, r18, r7        ; zr' = (zr^2 - zi^2) + cr
        mul.f32     r19, r14, r9
        mul.f32     r19, r19, r10
        add.f32     r10, r19, r8        ; zi' = (2 zr) zi + ci
        mov.f32     r9, r18
        add.u32     r11, r11, r12
        bra         @loop
store:
        stg.u32     [r3 + r6], r11
done:
        exit
"""


BLOCK_SUM_I32 = (BLOCK_SUM.replace("f32", "i32").replace("mov_imm.i32  r10, 0.0",
                                                         "mov_imm.i32  r10, 0"))

HISTOGRAM = """
; params: r1 = data (u32 values < nbins), r2 = bins (u32 array), r3 = n (u64)
        setgeu.u64  p0, r255, r3
        bra.p0      @done
        mov_imm.u32 r20, 2
        shl.u64     r4, r255, r20
        ldg.u32     r5, [r1 + r4]
        cvt.u64.u32 r6, r5
        shl.u64     r6, r6, r20
        mov_imm.u32 r7, 1
        atom.add.u32 r8, [r2 + r6], r7
done:
        exit
"""

HISTOGRAM_SHARED = """
.block 128
; params: r1 = data, r2 = bins (u32), r3 = n (u64), r9 = nbins (u32, <= 128);
; shared memory: 4 * nbins bytes of per-block bins
        mov.u32     r20, %lane.x
        mov_imm.u32 r21, 2
        cvt.u64.u32 r22, r20
        shl.u64     r22, r22, r21
        setgeu.u64  p0, r255, r3
        bra.p0      @sync
        shl.u64     r4, r255, r21
        ldg.u32     r5, [r1 + r4]
        cvt.u64.u32 r6, r5
        shl.u64     r6, r6, r21
        mov_imm.u32 r7, 1
        atoms.add.u32 r8, [r0 + r6], r7
sync:
        bar.sync    0
        setge.u32   p1, r20, r9
        bra.p1      @done
        lds.u32     r10, [r0 + r22]
        atom.add.u32 r11, [r2 + r22], r10
done:
        exit
"""

SUBROUTINES = """
; params: r1 = x (i32 array), r2 = y (i32 array), r3 = n (u64)
; y = x^3 + 2x + sum(k^2 for k in 0..(x & 7))
        setgeu.u64  p0, r255, r3
        bra.p0      @done
        mov_imm.u32 r20, 2
        shl.u64     r4, r255, r20
        ldg.i32     r10, [r1 + r4]
        mov.i32     r30, r10
        call        @cube               ; r32 = x^3 (calls square: nested)
        mov.i32     r13, r32
        call        @twice              ; r33 = 2x
        add.i32     r13, r13, r33
        mov_imm.i32 r14, 7
        and.i32     r15, r10, r14
        cvt.u32.i32 r16, r15            ; loop count m: the body runs with k = m, ..., 0
        mov_imm.i32 r18, 0
body:
        cvt.i32.u32 r30, r16
        call        @square
        add.i32     r18, r18, r31
        loop        r16, @body
        add.i32     r13, r13, r18
        stg.i32     [r2 + r4], r13
done:
        exit
square:
        mul.i32     r31, r30, r30
        ret
cube:
        call        @square
        mul.i32     r32, r31, r30
        ret
twice:
        add.i32     r33, r30, r30
        ret
"""

THREADS = [1, 2]


def small(backend_name, vm, ref):
    return vm if backend_name == "vm" else ref


def ceil_div(a, b):
    return (a + b - 1) // b


# --------------------------------------------------------------------------------------------
# vector_add


def _vector_add(backend, n, **kw):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    c = np.full(n, 123.0, np.float32)
    pad = np.full(8, -5.0, np.float32)       # a guard buffer bound right after c
    backend.execute_program(hg.assemble(VECTOR_ADD), hg.LaunchConfig(ceil_div(n, 256), 256),
                            {"r1": a, "r2": b, "r3": c, "r4": ("u64", n), "r5": pad}, **kw)
    return a, b, c, pad


@pytest.mark.parametrize("n", [1, 255, 257, 1000, 4099])
def test_vector_add(backend, backend_name, n):
    if backend_name == "reference" and n > 300:
        pytest.skip("large sizes on the VM only")
    a, b, c, pad = _vector_add(backend, n)
    assert np.array_equal(c, a + b)
    assert (pad == -5.0).all()


def test_vector_add_isa_example(backend):
    n = 1000
    a = np.arange(n, dtype=np.float32)
    b = 2 * a
    c = np.zeros(n, np.float32)
    hg.launch(hg.assemble(VECTOR_ADD), grid=(n + 255) // 256, block=256,
              params={"r1": a, "r2": b, "r3": c, "r4": ("u64", n)}, backend=backend)
    assert (c == 3 * a).all() and c[:5].tolist() == [0, 3, 6, 9, 12]


def test_vector_add_default_block_from_directive(backend):
    # .block 256 is the default block shape
    n = 300
    a = np.ones(n, np.float32)
    c = np.zeros(n, np.float32)
    backend.execute_program(hg.assemble(VECTOR_ADD), hg.LaunchConfig(grid=2),
                            {"r1": a, "r2": a, "r3": c, "r4": ("u64", n)})
    assert (c == 2).all()


# --------------------------------------------------------------------------------------------
# 2-D grids


def _transpose(backend, rows, cols, block, **kw):
    x = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) * np.float32(0.5) - 7
    out = np.full((cols, rows), np.nan, np.float32)
    grid = (ceil_div(cols, block[0]), ceil_div(rows, block[1]))
    backend.execute_program(hg.assemble(TRANSPOSE), hg.LaunchConfig(grid, block),
                            {"r1": x, "r2": out, "r3": ("u32", rows), "r4": ("u32", cols)}, **kw)
    return x, out


def test_transpose_2d_grid(backend, backend_name):
    rows, cols, block = small(backend_name, (37, 53, (16, 16)), (9, 13, (4, 4)))
    x, out = _transpose(backend, rows, cols, block)
    assert np.array_equal(out, x.T)


def test_matrix_add_2d_grid(backend, backend_name):
    rows, cols, block = small(backend_name, (37, 53, (16, 16)), (7, 11, (4, 2)))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((rows, cols)).astype(np.float32)
    b = rng.standard_normal((rows, cols)).astype(np.float32)
    c = np.zeros((rows, cols), np.float32)
    grid = (ceil_div(cols, block[0]), ceil_div(rows, block[1]))
    backend.execute_program(hg.assemble(MATRIX_ADD_SCALED), hg.LaunchConfig(grid, block),
                            {"r1": a, "r2": b, "r3": c, "r4": ("u32", rows),
                             "r5": ("u32", cols)})
    # mad.f32 rounds twice: round(round(2b) + a) = round(2b + a) since 2b is exact
    assert np.array_equal(c, a + np.float32(2) * b)


# --------------------------------------------------------------------------------------------
# divergent per-lane loops


def _collatz_steps(n):
    steps = 0
    while n > 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def _collatz(backend, count, **kw):
    n = np.arange(1, count + 1, dtype=np.uint32)
    steps = np.full(count, 0xFFFFFFFF, np.uint32)
    backend.execute_program(hg.assemble(COLLATZ), hg.LaunchConfig(ceil_div(count, 64), 64),
                            {"r1": n, "r2": steps, "r3": ("u64", count)}, **kw)
    return n, steps


def test_collatz_divergent_loop(backend, backend_name):
    count = small(backend_name, 10000, 32)
    n, steps = _collatz(backend, count)
    assert steps.tolist() == [_collatz_steps(int(v)) for v in n]
    assert steps[26] == 111            # n = 27
    if count >= 9663:
        assert steps[9662] == 184      # n = 9663


def _mandelbrot_grid(side):
    xs = np.linspace(-2.0, 0.6, side, dtype=np.float32)
    ys = np.linspace(-1.2, 1.2, side, dtype=np.float32)
    cr, ci = np.meshgrid(xs, ys)
    return np.ascontiguousarray(cr.ravel()), np.ascontiguousarray(ci.ravel())


def _mandelbrot_numpy(cr, ci, max_iter):
    zr = np.zeros_like(cr)
    zi = np.zeros_like(ci)
    it = np.zeros(cr.size, np.uint32)
    active = np.ones(cr.size, bool)
    two = np.float32(2)
    for _ in range(max_iter):
        zr2 = zr * zr
        zi2 = zi * zi
        active &= ~((zr2 + zi2) > np.float32(4))
        if not active.any():
            break
        nzr = (zr2 - zi2) + cr
        nzi = (two * zr) * zi + ci
        zr = np.where(active, nzr, zr)
        zi = np.where(active, nzi, zi)
        it += active
    return it


def _mandelbrot(backend, side, max_iter, **kw):
    cr, ci = _mandelbrot_grid(side)
    out = np.zeros(cr.size, np.uint32)
    backend.execute_program(hg.assemble(MANDELBROT), hg.LaunchConfig(ceil_div(cr.size, 128), 128),
                            {"r1": cr, "r2": ci, "r3": out, "r4": ("u64", cr.size),
                             "r5": ("u32", max_iter)}, **kw)
    return cr, ci, out


def test_mandelbrot_escape_time(backend, backend_name):
    side, max_iter = small(backend_name, (64, 200), (8, 20))
    cr, ci, out = _mandelbrot(backend, side, max_iter)
    expected = _mandelbrot_numpy(cr, ci, max_iter)
    assert np.array_equal(out, expected)
    assert out.min() < 3 and out.max() == max_iter     # really divergent


# --------------------------------------------------------------------------------------------
# shared memory, barriers and atomics


def _block_sum(backend, src, x, **kw):
    out = np.zeros(1, x.dtype)
    backend.execute_program(hg.assemble(src), hg.LaunchConfig.linear(x.size, 256),
                            {"r1": x, "r2": out, "r3": ("u64", x.size)}, **kw)
    return out[0]


def test_block_sum_f32(backend, backend_name):
    n = small(backend_name, 100_000, 300)
    x = np.random.default_rng(0).random(n, dtype=np.float32)
    got = _block_sum(backend, BLOCK_SUM, x)
    assert np.isclose(got, x.sum(dtype=np.float64), rtol=1e-4)


def test_block_sum_f32_single_block_exact(backend):
    # one block: the tree order is fixed, so the result is the pairwise tree sum exactly
    x = np.random.default_rng(5).random(256, dtype=np.float32)
    got = _block_sum(backend, BLOCK_SUM, x)
    t = x.copy()
    s = 128
    while s:
        t[:s] = t[:s] + t[s:2 * s]
        s //= 2
    assert got == t[0]


def test_block_sum_i32_exact(backend, backend_name):
    n = small(backend_name, 100_003, 300)
    x = np.random.default_rng(3).integers(-1000, 1000, n).astype(np.int32)
    assert _block_sum(backend, BLOCK_SUM_I32, x) == int(x.sum())


def _histogram(backend, n, nbins, shared=False, **kw):
    rng = np.random.default_rng(n + nbins)
    data = np.minimum(rng.geometric(0.08, n) - 1, nbins - 1).astype(np.uint32)
    bins = np.zeros(nbins, np.uint32)
    if shared:
        backend.execute_program(hg.assemble(HISTOGRAM_SHARED),
                                hg.LaunchConfig(ceil_div(n, 128), 128, 4 * nbins),
                                {"r1": data, "r2": bins, "r3": ("u64", n),
                                 "r9": ("u32", nbins)}, **kw)
    else:
        backend.execute_program(hg.assemble(HISTOGRAM), hg.LaunchConfig(ceil_div(n, 256), 256),
                                {"r1": data, "r2": bins, "r3": ("u64", n)}, **kw)
    return data, bins


@pytest.mark.parametrize("shared", [False, True], ids=["global", "shared"])
def test_histogram_atomics(backend, backend_name, shared):
    n = small(backend_name, 100_000, 500)
    data, bins = _histogram(backend, n, 64, shared)
    assert bins.tolist() == np.bincount(data, minlength=64).tolist()
    assert int(bins.sum()) == n


def _subroutines(backend, n, **kw):
    x = np.random.default_rng(n).integers(-1000, 1000, n).astype(np.int32)
    y = np.zeros(n, np.int32)
    backend.execute_program(hg.assemble(SUBROUTINES), hg.LaunchConfig(ceil_div(n, 64), 64),
                            {"r1": x, "r2": y, "r3": ("u64", n)}, **kw)
    return x, y


def test_subroutines_many_lanes(backend, backend_name):
    n = small(backend_name, 5000, 100)
    x, y = _subroutines(backend, n)
    x64 = x.astype(np.int64)
    m = x64 & 7
    expected = x64 ** 3 + 2 * x64 + m * (m + 1) * (2 * m + 1) // 6
    assert y.tolist() == expected.tolist()


def test_cas_lock_free_increment(backend, backend_name):
    # every lane adds 3 to a counter with a CAS retry loop (tests CAS under contention)
    prog = hg.assemble("""
        mov_imm.u64 r1, 0
        mov_imm.u32 r5, 3
    retry:
        ldg.u32 r2, [r9 + r1]
        add.u32 r3, r2, r5
        atom.cas.u32 r4, [r9 + r1], r2, r3
        setne.u32 p0, r4, r2
        bra.p0 @retry
        """)
    blocks = small(backend_name, 64, 4)
    out = np.zeros(1, np.uint32)
    backend.execute_program(prog, hg.LaunchConfig(blocks, 64), {"r9": out})
    assert out[0] == 3 * 64 * blocks


# --------------------------------------------------------------------------------------------
# thread counts (VM only): race-free kernels give identical results with 1 and 2 threads


def _vm(threads):
    return hg.CpuBackend(num_threads=threads)


def test_threads_vector_add():
    res = [_vector_add(_vm(t), 4099)[2] for t in THREADS]
    assert np.array_equal(res[0], res[1])


def test_threads_transpose():
    res = [_transpose(_vm(t), 37, 53, (16, 16))[1] for t in THREADS]
    assert np.array_equal(res[0], res[1])


def test_threads_collatz_and_mandelbrot():
    col = [_collatz(_vm(t), 5000)[1] for t in THREADS]
    assert np.array_equal(col[0], col[1])
    man = [_mandelbrot(_vm(t), 48, 100)[2] for t in THREADS]
    assert np.array_equal(man[0], man[1])


def test_threads_histograms_and_integer_sums():
    for shared in (False, True):
        hist = [_histogram(_vm(t), 50_000, 64, shared)[1] for t in THREADS]
        assert np.array_equal(hist[0], hist[1])
    x = np.random.default_rng(11).integers(-10**6, 10**6, 50_000).astype(np.int32)
    sums = [_block_sum(_vm(t), BLOCK_SUM_I32, x) for t in THREADS]
    assert sums[0] == sums[1] == int(x.sum())


def test_threads_float_block_sum_tolerance():
    x = np.random.default_rng(2).random(60_000, dtype=np.float32)
    sums = [_block_sum(_vm(t), BLOCK_SUM, x) for t in THREADS]
    for s in sums:
        assert np.isclose(s, x.sum(dtype=np.float64), rtol=1e-4)
    # with one thread the block order is fixed: deterministic run to run
    assert _block_sum(_vm(1), BLOCK_SUM, x) == sums[0]


def test_threads_subroutines():
    res = [_subroutines(_vm(t), 5000)[1] for t in THREADS]
    assert np.array_equal(res[0], res[1])


def test_threads_num_threads_reported():
    be = _vm(2)
    r = be.execute_program(hg.assemble("exit"), hg.LaunchConfig(4, 4))
    assert r.num_threads == (2 if hg.openmp_enabled() else 1)
    r1 = be.execute_program(hg.assemble("exit"), hg.LaunchConfig(4, 4), num_threads=1)
    assert r1.num_threads == 1


@pytest.mark.parametrize("threads", THREADS)
def test_fault_of_lowest_lane_any_thread_count(threads):
    # lanes >= 3000 divide by zero, lanes >= 700 (and odd) read out of bounds: the error of the
    # lowest faulting lane (701) is raised whatever the thread count
    prog = hg.assemble("""
        mov_imm.u64 r1, 700
        setlt.u64 p0, r255, r1
        bra.p0 @done
        mov_imm.u64 r2, 3000
        setgeu.u64 p1, r255, r2
        bra.p1 @div
        mov_imm.u64 r3, 1
        and.u64 r4, r255, r3
        seteq.u64 p2, r4, r3
        bra.p2 @oob
        exit
    oob:
        mov_imm.u64 r5, 100
        ldg.u8 r6, [r9 + r5]
        exit
    div:
        mov_imm.i32 r7, 0
        div.i32 r8, r7, r7
    done:
        exit
        """)
    out = np.zeros(4, np.uint8)
    with pytest.raises(hg.OutOfBounds) as ei:
        _vm(threads).execute_program(prog, hg.LaunchConfig(40, 128), {"r9": out})
    e = ei.value
    assert (e.global_lane_id, e.block_idx, e.lane_idx, e.pc) == (701, (5, 0, 0), (61, 0, 0), 12)

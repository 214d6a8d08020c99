"""Threads: OpenMP thread counts, the GIL, Ctrl-C, and concurrent Python threads (ISA.md §7.7-§7.9).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings

import hologram as hg
from isa_testlib import VECTOR_ADD

from test_differential import ATOMICS, CONTROL, MEMORY, SHARED, cases, compare, run_case

# ---------------------------------------------------------------------------------------------
# Race-free programs: identical results for any thread count

VECTOR_OPS = hg.assemble("""
    setgeu.u64   p0, r255, r4          ; past the end
    bra.p0       @done
    mov_imm.u32  r250, 2
    shl.u64      r0, r255, r250
    ldg.f32      r10, [r1 + r0]
    ldg.f32      r11, [r2 + r0]
    mov_imm.u32  r20, 7                ; 8 rounds of a little recurrence
    mov.f32      r12, r10
again:
    fma.f32      r12, r12, r11, r10
    sin.f32      r12, r12
    loop         r20, @again
    stg.f32      [r3 + r0], r12
done:
    exit
""")

BLOCK_SUM_U32 = hg.assemble("""
.shared 1024
    mov.u32      r20, %lane.x
    cvt.u64.u32  r21, r20
    mov_imm.u32  r30, 2
    shl.u64      r22, r21, r30
    mov_imm.u32  r10, 0
    setgeu.u64   p0, r255, r3
    bra.p0       @stash
    shl.u64      r23, r255, r30
    ldg.u32      r10, [r1 + r23]
stash:
    sts.u32      [r0 + r22], r10
    bar.sync     0
    mov_imm.u32  r24, 128
    mov_imm.u32  r31, 1
    mov_imm.u32  r32, 0
step:
    setge.u32    p1, r20, r24
    bra.p1       @sync
    add.u32      r25, r20, r24
    cvt.u64.u32  r26, r25
    shl.u64      r26, r26, r30
    lds.u32      r11, [r0 + r26]
    lds.u32      r12, [r0 + r22]
    add.u32      r12, r12, r11
    sts.u32      [r0 + r22], r12
sync:
    bar.sync     0
    shr.u32      r24, r24, r31
    setne.u32    p2, r24, r32
    bra.p2       @step
    setne.u32    p3, r20, r32
    bra.p3       @done
    lds.u32      r13, [buf0 + 0]
    mov.u32      r40, %block.x
    cvt.u64.u32  r41, r40
    shl.u64      r41, r41, r30
    stg.u32      [r2 + r41], r13       ; per-block total
    mov_imm.u64  r33, 0
    atom.add.u32 r14, [r4 + r33], r13  ; grand total
    mov_imm.u32  r15, 1
    atom.add.u32 r14, [r5 + r33], r15  ; blocks done
done:
    exit
""")


def _run_vector(num_threads):
    rng = np.random.default_rng(1)
    n = 50_000
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    c = np.zeros(n, np.float32)
    be = hg.CpuBackend(num_threads=num_threads)
    res = be.execute_program(VECTOR_OPS, hg.LaunchConfig.linear(n, 128),
                             {"r1": a, "r2": b, "r3": c, "r4": ("u64", n)})
    assert res.num_threads == (num_threads if hg.openmp_enabled() else 1)   # serial build: 1
    return c


def _run_block_sum(num_threads):
    n = 100_003
    x = (np.arange(n, dtype=np.uint64) * 2654435761 % 1000).astype(np.uint32)
    blocks = (n + 255) // 256
    per_block = np.zeros(blocks, np.uint32)
    total = np.zeros(1, np.uint32)
    done = np.zeros(1, np.uint32)
    hg.CpuBackend(num_threads=num_threads).execute_program(
        BLOCK_SUM_U32, hg.LaunchConfig.linear(n, 256),
        {"r1": x, "r2": per_block, "r3": ("u64", n), "r4": total, "r5": done})
    assert int(total[0]) == int(x.sum())
    assert int(done[0]) == blocks
    padded = np.zeros(blocks * 256, np.uint64)
    padded[:n] = x
    assert per_block.tolist() == padded.reshape(blocks, 256).sum(axis=1).tolist()
    return per_block


@pytest.mark.parametrize("kernel", [_run_vector, _run_block_sum])
def test_kernels_identical_for_thread_counts(kernel):
    results = [kernel(nt) for nt in (1, 2, 4)]
    for r in results[1:]:
        assert r.tobytes() == results[0].tobytes()


def _compare_thread_counts(case):
    base = run_case(case, "vm", 1)
    assert base.error is None, base.error
    for nt in (2, 4):
        compare(case, base, run_case(case, "vm", nt), f"vm num_threads={nt} vs 1")


@settings(max_examples=40)
@given(cases(MEMORY, max_lanes=512))
def test_random_memory_programs_identical_for_thread_counts(case):
    _compare_thread_counts(case)


@settings(max_examples=40)
@given(cases(SHARED, max_lanes=512))
def test_random_shared_programs_identical_for_thread_counts(case):
    _compare_thread_counts(case)


@settings(max_examples=40)
@given(cases(ATOMICS, max_lanes=512))
def test_random_atomic_programs_identical_for_thread_counts(case):
    _compare_thread_counts(case)


@settings(max_examples=40)
@given(cases(CONTROL, max_lanes=512))
def test_random_control_programs_identical_for_thread_counts(case):
    _compare_thread_counts(case)


# ---------------------------------------------------------------------------------------------
# num_threads resolution

def test_threadpool_limits_make_effective_threads_one():
    if not hg.openmp_enabled():
        pytest.skip("built without OpenMP")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    be = hg.CpuBackend()
    with threadpoolctl.threadpool_limits(1):
        assert hg.effective_num_threads() == 1
        assert hg.effective_num_threads(None) == 1
        assert be.execute_program(hg.assemble("exit"), hg.LaunchConfig(8, 8)).num_threads == 1
        assert hg.effective_num_threads(3) == 3       # an explicit count is not limited
    with threadpoolctl.threadpool_limits(4):
        # n < 0 means max threads + 1 + n (max threads = the OpenMP limit, here 4)
        assert [hg.effective_num_threads(-k) for k in (1, 2, 3, 4)] == [4, 3, 2, 1]
        assert hg.effective_num_threads() >= 1


def test_no_openmp_means_one_thread():
    if hg.openmp_enabled():
        assert hg.effective_num_threads(5) == 5
    else:
        assert hg.effective_num_threads(5) == 1 and hg.effective_num_threads() == 1


@pytest.mark.parametrize("bad", [0, 1.5, True, "2"])
def test_invalid_num_threads(bad):
    prog = hg.assemble("exit")
    with pytest.raises(ValueError):
        hg.effective_num_threads(bad)
    with pytest.raises(ValueError):
        hg.CpuBackend(num_threads=bad)
    with pytest.raises(ValueError):
        hg.CpuBackend().execute_program(prog, num_threads=bad)
    with pytest.raises(ValueError):
        hg.launch(prog, 1, 1, num_threads=bad)
    assert hg.CpuBackend().execute_program(prog).num_threads >= 1


def test_negative_num_threads():
    out = np.zeros(64, np.uint32)
    prog = hg.assemble("""
        mov.u64 r2, %gid
        mov_imm.u64 r3, 4
        mul.u64 r3, r2, r3
        cvt.u32.u64 r4, r2
        stg.u32 [r1 + r3], r4
    """)
    for n in (-1, -2, -1000):
        k = hg.effective_num_threads(n)
        assert k >= 1
        if hg.openmp_enabled():
            assert k == max(1, hg.effective_num_threads(-1) + 1 + n)
        out[:] = 0
        res = hg.CpuBackend(num_threads=n).execute_program(prog, hg.LaunchConfig(4, 16),
                                                           {"r1": out})
        assert res.num_threads == k
        assert out.tolist() == list(range(64))
    if hg.openmp_enabled():
        assert hg.effective_num_threads(-1) >= hg.effective_num_threads(-2)


# ---------------------------------------------------------------------------------------------
# The GIL is released during a launch

def _gil_trial(be, long_loop):
    """(main-thread counts during a launch in another thread, expected if unimpeded)."""
    t0, n = time.perf_counter(), 0                # the main thread's rate without a launch
    while time.perf_counter() - t0 < 0.2:
        n += 1
    solo_rate = n / (time.perf_counter() - t0)
    errors = []

    def work():
        try:
            be.execute_program(long_loop)
        except BaseException as e:       # pragma: no cover - reported below
            errors.append(e)

    th = threading.Thread(target=work)
    count = 0
    t0 = time.perf_counter()
    th.start()
    while th.is_alive():
        count += 1
    elapsed = time.perf_counter() - t0
    th.join()
    assert not errors, errors
    assert elapsed > 0.2, "the launch was too short to measure"
    return count, solo_rate * elapsed


def test_gil_released_during_launch():
    """A long single-threaded VM launch runs in a Python thread while the main thread keeps
    counting. Were the GIL held during the launch, the counter could not advance at all (or
    only in short bursts); released, the main thread keeps most of its speed. (Best of three
    trials, against the noise of a loaded machine.)"""
    long_loop = hg.assemble("mov_imm.u32 r1, 400000000\nL: loop r1, @L")
    be = hg.CpuBackend(num_threads=1)
    trials = []
    for _ in range(3):
        count, unimpeded = _gil_trial(be, long_loop)
        trials.append((count, unimpeded))
        if count > 0.25 * unimpeded:
            return
    raise AssertionError(f"main thread starved during launches: {trials}")


def test_concurrent_launches_on_separate_backends_overlap():
    """A launch on one backend does not block a launch on another (no global lock, GIL
    released): launch A spins until the host sets a flag in its buffer; launch B, on a second
    backend, must complete while A is still running. Not a timing test: with a global lock B
    could never finish before the flag is set."""
    spin = hg.assemble("""
        mov_imm.u64 r5, 0
        mov_imm.u64 r7, 4
        mov_imm.u32 r6, 1
        stg.u32     [r1 + r7], r6       ; flag[1] = 1: A is inside the VM
        mov_imm.u32 r6, 0
    L:  ldg.u32     r2, [r1 + r5]       ; until the host sets flag[0]
        setne.u32   p0, r2, r6
        bra.p0      @out
        bra         @L
    out:
        exit
    """)
    flag = np.zeros(2, np.uint32)
    be1, be2 = hg.CpuBackend(num_threads=1), hg.CpuBackend(num_threads=1)
    a = threading.Thread(target=be1.execute_program, args=(spin, None, {"r1": flag}))
    a.start()
    try:
        deadline = time.monotonic() + 60
        while flag[1] == 0 and a.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert flag[1] == 1, "launch A did not start"
        out = np.zeros(256, np.float32)
        x = np.arange(256, dtype=np.float32)
        b = threading.Thread(target=be2.execute_program,
                             args=(hg.assemble(VECTOR_ADD), hg.LaunchConfig(1, 256),
                                   {"r1": x, "r2": x, "r3": out, "r4": ("u64", 256)}))
        b.start()
        b.join(timeout=60)
        finished_b, running_a = not b.is_alive(), a.is_alive()
    finally:
        flag[0] = 1
        a.join(timeout=60)
    assert finished_b and running_a, "launch B waited for launch A"
    np.testing.assert_array_equal(out, 2 * x)


# ---------------------------------------------------------------------------------------------
# Ctrl-C

CHILD = textwrap.dedent("""
    import sys, threading, time
    import numpy as np
    import hologram as hg

    spin = hg.assemble("L: bra @L")
    small = hg.assemble('''
        mov.u64 r2, %gid
        mov_imm.u64 r3, 4
        mul.u64 r3, r2, r3
        cvt.u32.u64 r4, r2
        mov_imm.u32 r5, 3
        mul.u32 r4, r4, r5
        stg.u32 [r1 + r3], r4
    ''')
    be = hg.CpuBackend()

    def announce(backend, what):
        # "start" only once the launch runs (a loaded machine may take a while to get there)
        while not backend._busy:
            time.sleep(0.001)
        print("start", what, flush=True)

    for engine, nt in (("vm", 1), ("vm", 2), ("reference", None)):
        backend = be if engine == "vm" else hg.ReferenceBackend()
        try:                      # lower and verify the program before the timed launch
            backend.execute_program(spin, hg.LaunchConfig(4, 64), num_threads=nt, max_steps=5)
        except hg.StepLimitExceeded:
            pass
        threading.Thread(target=announce, args=(backend, f"{engine} {nt}"), daemon=True).start()
        t0 = time.perf_counter()
        try:
            backend.execute_program(spin, hg.LaunchConfig(4, 64), num_threads=nt)
            print("finished?!", flush=True)
        except hg.Interrupted as e:
            dt = time.perf_counter() - t0
            print("interrupted", engine, nt, isinstance(e, KeyboardInterrupt),
                  isinstance(e, hg.ExecutionError), e.global_lane_id, flush=True)
        out = np.zeros(8, np.uint32)
        backend.execute_program(small, hg.LaunchConfig(2, 4), {"r1": out})
        print("result", out.tolist(), flush=True)
    threading.Thread(target=announce, args=(be, "uncaught"), daemon=True).start()
    be.execute_program(spin, hg.LaunchConfig(2, 2), num_threads=2)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_ctrl_c_interrupts_launch():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(hg.__file__)))] +
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        lines = []

        def expect(prefix: str) -> str:
            line = proc.stdout.readline()
            lines.append(line)
            assert line.startswith(prefix), (prefix, lines, proc.stderr.read()
                                             if proc.poll() is not None else "")
            return line

        for engine, nt in (("vm", 1), ("vm", 2), ("reference", None)):
            expect(f"start {engine} {nt}")
            time.sleep(0.5)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            line = expect("interrupted")
            assert time.perf_counter() - t0 < 5.0
            assert line.split() == ["interrupted", engine, str(nt), "True", "True", "None"]
            expect("result [0, 3, 6, 9, 12, 15, 18, 21]")
        expect("start uncaught")
        time.sleep(0.5)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=10)
        assert time.perf_counter() - t0 < 5.0
        err = proc.stderr.read()
        assert rc != 0
        assert "Interrupted" in err and "launch interrupted" in err, err
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------
# Many Python threads launching at once

SCALE = hg.assemble("""
    setgeu.u64 p0, r255, r3
    bra.p0 @done
    mov_imm.u32 r9, 2
    shl.u64 r4, r255, r9
    ldg.u32 r5, [r1 + r4]
    mul.u32 r5, r5, r2
    stg.u32 [r1 + r4], r5
done:
    exit
""")


def _worker(backend_for, k: int, results: dict, errors: list) -> None:
    try:
        rng = np.random.default_rng(k)
        for it in range(6):
            be = backend_for(k)
            n = int(rng.integers(1, 3000))
            data = rng.integers(0, 1000, n).astype(np.uint32)
            expect = data * np.uint32(k + it + 2)
            be.execute_program(SCALE, hg.LaunchConfig.linear(n, 64),
                               {"r1": data, "r2": ("u32", k + it + 2), "r3": ("u64", n)},
                               num_threads=1 + (k + it) % 2)
            if not np.array_equal(data, expect):
                errors.append((k, it, "wrong result"))
            # host operations interleaved with other threads' launches
            h = be.allocate_buffer(4 * n)
            be.copy_to_buffer(h, data)
            back = np.zeros(n, np.uint32)
            be.copy_from_buffer(h, back)
            if not np.array_equal(back, data):
                errors.append((k, it, "wrong copy"))
            be.free_buffer(h)
        results[k] = True
    except BaseException as e:           # pragma: no cover - reported below
        errors.append((k, repr(e)))


@pytest.mark.parametrize("shared_backend", [True, False])
def test_many_python_threads_launching(shared_backend):
    one = hg.CpuBackend()
    separate = {k: hg.CpuBackend() for k in range(12)}
    backend_for = (lambda k: one) if shared_backend else (lambda k: separate[k])
    results, errors = {}, []
    threads = [threading.Thread(target=_worker, args=(backend_for, k, results, errors))
               for k in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors
    assert sorted(results) == list(range(12))


def test_threads_with_faults_and_successes_on_one_backend():
    """Faulting launches in some threads do not disturb other threads' launches."""
    be = hg.CpuBackend()
    bad = hg.assemble("mov_imm.u32 r1, 0\ndiv.u32 r2, r1, r1")
    errors = []

    def good(k):
        try:
            for _ in range(10):
                data = np.arange(100, dtype=np.uint32)
                be.execute_program(SCALE, hg.LaunchConfig.linear(100, 32),
                                   {"r1": data, "r2": ("u32", 3), "r3": ("u64", 100)})
                if data.tolist() != [3 * i for i in range(100)]:
                    errors.append("wrong")
        except BaseException as e:       # pragma: no cover
            errors.append(repr(e))

    def faulty(k):
        for _ in range(10):
            try:
                be.execute_program(bad, hg.LaunchConfig(3, 5))
                errors.append("no fault")
            except hg.DivisionByZero as e:
                if e.global_lane_id != 0 or e.pc != 1:
                    errors.append(repr(e))

    threads = [threading.Thread(target=good if k % 2 else faulty, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors


def test_openmp_enabled():
    """Builds with a working OpenMP compiler must not silently fall back to the serial core."""
    if os.environ.get("HOLOGRAM_NO_OPENMP") or os.environ.get("HOLOGRAM_SKIP_OPENMP_TEST"):
        pytest.skip("serial build requested")
    assert hg.openmp_enabled(), "built without OpenMP; set HOLOGRAM_SKIP_OPENMP_TEST to skip"

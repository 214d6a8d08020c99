"""The VM is a sandbox (docs/robustness.md): timeouts, interrupts, step limits, concurrency,
freeing memory during launches, launches of 2^31 - 1 lanes, buffers beyond 4 GiB, and
deterministic fault reports for any thread count.

Regression tests of bugs found by fuzzing and review are named after the bug."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hologram as hg
from isa_testlib import programs

SPIN = hg.assemble("L: bra @L")
PROBE = hg.assemble("""
    mov.u64 r2, %gid
    mov_imm.u64 r3, 4
    mul.u64 r3, r2, r3
    cvt.u32.u64 r4, r2
    mov_imm.u32 r5, 3
    mul.u32 r4, r4, r5
    stg.u32 [r1 + r3], r4
""")
# writes 7 to word 0 of r1 many times (a long launch that uses its parameter)
LONG_STORE = hg.assemble("""
    mov_imm.u32 r5, 20000000
    mov_imm.u64 r3, 0
    mov_imm.u32 r4, 7
L:  stg.u32 [r1 + r3], r4
    loop r5, @L
""")
BACKENDS = [("vm", 1), ("vm", 2), ("reference", None)]
unix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs setitimer / SIGALRM")


def _backend(engine, nt=None):
    return hg.CpuBackend(num_threads=nt) if engine == "vm" else hg.ReferenceBackend()


def _probe(be):
    out = np.zeros(8, np.uint32)
    be.execute_program(PROBE, hg.LaunchConfig(2, 4), {"r1": out})
    assert out.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]


# ---------------------------------------------------------------------------------------------
# timeout=

@pytest.mark.parametrize("engine, nt", BACKENDS)
def test_timeout_stops_infinite_loop(engine, nt):
    be = _backend(engine, nt)
    t0 = time.perf_counter()
    with pytest.raises(hg.Timeout) as info:
        be.execute_program(SPIN, hg.LaunchConfig(4, 64), num_threads=nt, timeout=0.2)
    dt = time.perf_counter() - t0
    assert 0.19 <= dt < 2.0
    e = info.value
    assert isinstance(e, hg.ExecutionError) and isinstance(e, TimeoutError)
    assert e.global_lane_id is None and e.pc is None
    assert e.message == "launch timed out (timeout=0.2 s)"
    _probe(be)                                          # usable afterwards


def test_timeout_on_prepare_and_launch():
    be = hg.CpuBackend(num_threads=2)
    k = be.prepare(SPIN, hg.LaunchConfig(4, 64), timeout=0.1)
    for _ in range(2):
        with pytest.raises(hg.Timeout):
            k()
    with pytest.raises(hg.Timeout):
        hg.launch(SPIN, 2, 2, timeout=0.1, backend=be)
    with pytest.raises(hg.Timeout):
        hg.launch(SPIN, 2, 2, timeout=0.1, backend="reference")
    out = np.zeros(8, np.uint32)
    hg.launch(PROBE, 2, 4, params={"r1": out}, timeout=10.0, backend=be)   # fast: no timeout
    assert out.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
    hg.launch(PROBE, 2, 4, params={"r1": out}, timeout=float("inf"), backend=be)


@pytest.mark.parametrize("bad", [0, -1, 0.0, float("nan"), "1", True, [1]])
def test_timeout_invalid(bad):
    with pytest.raises(hg.LaunchConfigError, match="timeout"):
        hg.CpuBackend().execute_program(PROBE, timeout=bad)


def test_timeout_takes_precedence_over_faults():
    """Block 0 spins, block 1 faults at once: blocks were skipped, so the launch reports the
    timeout rather than a fault that may not be the lowest."""
    prog = hg.assemble("""
        mov.u32 r1, %block.x
        mov_imm.u32 r2, 0
        setne.u32 p0, r1, r2
        bra.p0 @bad
    L:  bra @L
    bad:
        div.u32 r3, r1, r2
    """)
    for nt in (1, 2):
        with pytest.raises(hg.Timeout):
            hg.CpuBackend().execute_program(prog, hg.LaunchConfig(2, 1), num_threads=nt,
                                            timeout=0.1)


@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize("block, shared", [(1, 0), (9, 2**26)])
def test_empty_program_huge_grid_polls_for_timeout_and_ctrl_c(nt, block, shared):
    """Regression: blocks that execute no instruction never reached the Ctrl-C poll, so a
    launch of an empty program over 2^31 - 1 blocks could not be interrupted (~40 s). Then
    (fuzz target vm) with 64 MiB of shared memory cleared per block, a poll every 7,000
    blocks came ~40 s apart: a block's cost now includes its shared memory."""
    t0 = time.perf_counter()
    with pytest.raises(hg.Timeout):
        hg.CpuBackend(num_threads=nt).execute_program(hg.Program([]),
                                                      hg.LaunchConfig(2**31 - 1, block, shared),
                                                      timeout=0.2)
    assert time.perf_counter() - t0 < 2.0


# ---------------------------------------------------------------------------------------------
# Ctrl-C (in process, through a SIGALRM handler that raises KeyboardInterrupt) and max_steps

def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


@unix_only
@pytest.mark.parametrize("engine, nt", BACKENDS)
@pytest.mark.parametrize("program", ["spin", "empty"])
def test_ctrl_c_stops_launch_promptly(engine, nt, program):
    prog = SPIN if program == "spin" else hg.Program([])
    config = hg.LaunchConfig(4, 64) if program == "spin" else hg.LaunchConfig(2**31 - 1, 1)
    be = _backend(engine, nt)
    old = signal.signal(signal.SIGALRM, _raise_keyboard_interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t0 = time.perf_counter()
        with pytest.raises(hg.Interrupted):
            be.execute_program(prog, config, num_threads=nt)
        assert time.perf_counter() - t0 < 2.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    _probe(be)


@pytest.mark.parametrize("engine, nt", BACKENDS)
def test_max_steps_stops_infinite_loop(engine, nt):
    be = _backend(engine, nt)
    steps = 200_000 if engine == "vm" else 2_000
    t0 = time.perf_counter()
    with pytest.raises(hg.StepLimitExceeded) as info:
        be.execute_program(SPIN, hg.LaunchConfig(4, 64), num_threads=nt, max_steps=steps)
    assert time.perf_counter() - t0 < 5.0
    assert info.value.global_lane_id == 0 and info.value.pc == 0
    _probe(be)


@pytest.mark.parametrize("engine", ["vm", "reference"])
def test_max_steps_beyond_u64_is_no_limit(engine):
    """Regression (fuzz target vm): max_steps >= 2^64 raised OverflowError from the VM."""
    out = np.zeros(8, np.uint32)
    _backend(engine).execute_program(PROBE, hg.LaunchConfig(2, 4), {"r1": out},
                                     max_steps=2**64 + 5)
    assert out.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]


# ---------------------------------------------------------------------------------------------
# Signal handlers running inside a launch (the VM runs them during its Ctrl-C check)

def _in_signal_handler(action, launch):
    """Run `launch()` while a SIGALRM handler runs `action()` 50 ms into it."""
    seen = []

    def handler(signum, frame):
        try:
            seen.append(("ok", action()))
        except Exception as e:
            seen.append(("error", e))

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        result = launch()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return seen, result


@unix_only
@pytest.mark.parametrize("nt", [1, 2])
def test_signal_handler_cannot_start_a_launch_on_the_running_backend(nt):
    """Regression: a launch started by a signal handler during a launch of the same backend
    passed its (re-entrant) lock and reused the running launch's scratch memory."""
    be = hg.CpuBackend(num_threads=nt)
    out = np.zeros(8, np.uint32)
    seen, _ = _in_signal_handler(
        lambda: be.execute_program(PROBE, hg.LaunchConfig(2, 4), {"r1": out}),
        lambda: be.execute_program(hg.assemble("mov_imm.u32 r1, 60000000\nL: loop r1, @L"),
                                   hg.LaunchConfig(2, 1)))
    assert len(seen) == 1 and seen[0][0] == "error", seen
    assert isinstance(seen[0][1], hg.BackendBusy)
    _probe(be)
    # another backend is fine from a signal handler
    other = hg.CpuBackend()
    seen, _ = _in_signal_handler(
        lambda: other.execute_program(PROBE, hg.LaunchConfig(2, 4), {"r1": out}),
        lambda: be.execute_program(hg.assemble("mov_imm.u32 r1, 60000000\nL: loop r1, @L"),
                                   hg.LaunchConfig(2, 1)))
    assert [kind for kind, _ in seen] == ["ok"], seen
    assert out.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]


POOL_READER = hg.assemble("""
    mov_imm.u32 r5, 3000000
    mov_imm.u64 r3, 1000000
L:  pool.load.u64 r4, r1, r3
    loop r5, @L
""")


@unix_only
@pytest.mark.parametrize("nt", [1, 2])
def test_free_pool_from_signal_handler_during_launch_is_deferred(nt):
    """Regression: free_pool from a signal handler released the memory of a pool that the
    running launch was reading (use after free); now the release waits for the launch end
    and the lanes see an invalid pool id."""
    be = hg.CpuBackend(num_threads=nt)
    pid = be.allocate_pool(2 * 2**20)          # large: freed memory is unmapped at once
    seen, err = _in_signal_handler(lambda: be.free_pool(pid), lambda: _catch(
        lambda: be.execute_program(POOL_READER, hg.LaunchConfig(64, 64),
                                   {"r1": ("u64", pid)}, num_threads=nt)))
    assert seen == [("ok", None)], seen
    assert err is None or isinstance(err, hg.InvalidHandle), err
    with pytest.raises(hg.InvalidHandle):
        be.copy_from_pool(pid, bytearray(8))
    _probe(be)


@unix_only
def test_free_buffer_from_signal_handler_during_launch_is_safe():
    """The running launch keeps using the buffer's memory; the handle is gone afterwards."""
    be = hg.CpuBackend(num_threads=1)
    h = be.allocate_buffer(16)
    prog = hg.assemble(f"""
        mov_imm.u32 r5, 30000000
        mov_imm.u32 r4, 7
    L:  stg.u32 [buf{h} + 4], r4
        loop r5, @L
    """)
    seen, _ = _in_signal_handler(lambda: be.free_buffer(h), lambda: be.execute_program(prog))
    assert seen == [("ok", None)], seen
    with pytest.raises(hg.InvalidHandle):
        be.buffer_size(h)
    _probe(be)


def _catch(fn):
    try:
        fn()
    except hg.HologramError as e:
        return e
    return None


# ---------------------------------------------------------------------------------------------
# Concurrency: Python threads

def test_bytearray_param_cannot_be_resized_during_launch():
    """Regression: parameters are bound by address; a bytearray resized by another Python
    thread during the launch (the GIL is released) moved its memory under the VM (a write to
    freed memory). The launch now holds a buffer export, so the resize is refused."""
    be = hg.CpuBackend(num_threads=1)
    ba = bytearray(16)
    th = threading.Thread(target=be.execute_program, args=(LONG_STORE, None, {1: ba}))
    th.start()
    time.sleep(0.05)
    try:
        with pytest.raises(BufferError):
            ba.extend(b"x" * 1_000_000)
    finally:
        th.join()
    assert ba[:4] == (7).to_bytes(4, "little")
    ba.extend(b"x")                 # free again after the launch
    assert len(ba) == 17


def test_prepared_launch_pins_resizable_params():
    be = hg.CpuBackend()
    ba = bytearray(32)
    k = be.prepare(PROBE, hg.LaunchConfig(2, 4), {"r1": ba})
    with pytest.raises(BufferError):
        ba.append(1)
    k()
    assert np.frombuffer(ba, np.uint32).tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
    del k
    gc.collect()
    ba.append(1)


def test_params_stay_alive_for_the_launch():
    """Only the launch references its parameters (the caller kept none): they stay alive (and
    are written) until it ends, then are released. The same for a read-only parameter, which
    runs on an aligned temporary copy."""
    be = hg.CpuBackend(num_threads=2)
    holder = [np.zeros(4, np.uint32), np.frombuffer(bytes(64), np.uint8)]
    refs = [weakref.ref(a) for a in holder]
    seen = []

    def work():
        be.execute_program(LONG_STORE, None, {1: holder.pop(0), 2: holder.pop(0)})
        seen.append(refs[0]()[0] if refs[0]() is not None else "gone")

    th = threading.Thread(target=work)
    th.start()
    time.sleep(0.05)
    gc.collect()
    assert th.is_alive() and not holder
    assert all(r() is not None for r in refs)
    th.join()
    gc.collect()
    assert seen in (["gone"], [7]), seen
    assert all(r() is None for r in refs)


def test_free_buffer_from_another_thread_waits_for_the_launch():
    """Host operations of one backend are serialized with its launches: free_buffer from
    another thread blocks until the launch that uses the buffer is done."""
    be = hg.CpuBackend(num_threads=2)
    h = be.allocate_buffer(16)
    prog = hg.assemble(f"""
        mov_imm.u32 r5, 20000000
        mov_imm.u32 r4, 7
    L:  stg.u32 [buf{h} + 4], r4
        loop r5, @L
    """)
    done = []
    th = threading.Thread(target=lambda: done.append(be.execute_program(prog)))
    th.start()
    time.sleep(0.05)
    be.free_buffer(h)              # waits for the launch
    assert done, "free_buffer returned while the launch was running"
    th.join()
    with pytest.raises(hg.InvalidHandle):
        be.buffer_size(h)


def test_many_threads_prepared_and_timed_out_launches():
    """Threads share one backend: prepared launches, timeouts and plain launches interleave
    with correct results."""
    be = hg.CpuBackend(num_threads=2)
    errors = []

    def work(k):
        try:
            out = np.zeros(8, np.uint32)
            run = be.prepare(PROBE, hg.LaunchConfig(2, 4), {"r1": out})
            for i in range(5):
                out[:] = 0
                run()
                if out.tolist() != [0, 3, 6, 9, 12, 15, 18, 21]:
                    errors.append((k, i, out.tolist()))
                if (k + i) % 3 == 0:
                    try:
                        be.execute_program(SPIN, hg.LaunchConfig(2, 2), timeout=0.02)
                        errors.append((k, i, "no timeout"))
                    except hg.Timeout:
                        pass
        except BaseException as e:       # pragma: no cover - reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors


# ---------------------------------------------------------------------------------------------
# Scale

SCALE_CHILD = textwrap.dedent("""
    import resource, sys, time
    import hologram as hg
    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024   # MiB (Linux: KiB)
    before = rss()
    for grid, block in (((2**31 - 1,), 1), ((2**21 - 1,), 1024), ((2**31 - 1,), 1)):
        for nt in (1, 2):
            for prog, kw in ((hg.assemble("exit"), dict(timeout=0.3)),
                             (hg.assemble("L: bra @L"), dict(max_steps=1000))):
                try:
                    hg.CpuBackend(num_threads=nt).execute_program(
                        prog, hg.LaunchConfig(grid, block), num_threads=nt, **kw)
                except (hg.Timeout, hg.StepLimitExceeded):
                    pass
    print(before, rss())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss units differ")
def test_launch_of_2_31_lanes_keeps_memory_bounded():
    """Lane state is per thread and block, never per launch: launches of 2^31 - 1 lanes (stopped
    by a timeout or the step limit) add only a few MiB to the peak RSS."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(hg.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]]
                                                  if env.get("PYTHONPATH") else []))
    out = subprocess.run([sys.executable, "-c", SCALE_CHILD], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert after - before < 64, (before, after)


def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


BIG = 2**32 + 4096


@pytest.mark.skipif(_mem_available() < 3 * BIG, reason="needs ~13 GiB of available memory")
@pytest.mark.parametrize("engine", ["vm", "reference"])
def test_buffer_and_pool_beyond_4_gib(engine):
    """Offsets beyond 2^32 in a 4 GiB+ buffer and pool: store, load back, bounds checked."""
    be = _backend(engine)
    h = be.allocate_buffer(BIG)
    pid = be.allocate_pool(BIG)
    off = 2**32 + 1000
    prog = hg.assemble(f"""
        mov_imm.u64 r1, {off}
        mov_imm.u64 r2, 0x1122334455667788
        stg.u64 [buf{h} + {off}], r2
        ldg.u64 r3, [buf{h} + {off}]
        add.u64 r3, r3, r3
        mov_imm.u64 r5, {off + 8}
        pool.store.u64 r9, r5, r3
        pool.load.u64 r4, r9, r5
        stg.u64 [buf{h} + {off + 16}], r4
    """)
    be.execute_program(prog, params={"r9": ("u64", pid)})
    got = np.zeros(3, np.uint64)
    be.copy_from_buffer(h, got, offset=off)
    assert got.tolist() == [0x1122334455667788, 0, 2 * 0x1122334455667788 % 2**64]
    p = np.zeros(1, np.uint64)
    be.copy_from_pool(pid, p, offset=off + 8)
    assert p[0] == 2 * 0x1122334455667788 % 2**64
    with pytest.raises(hg.OutOfBounds) as info:
        be.execute_program(hg.assemble(f"mov_imm.u64 r2, 1\nstg.u64 [buf{h} + {BIG - 4}], r2"))
    assert f"offset {BIG - 4}" in str(info.value)
    be.free_buffer(h)
    be.free_pool(pid)


# ---------------------------------------------------------------------------------------------
# Determinism of fault reports across thread counts

def _error_for(program, grid, block, nt, **kw):
    be = hg.CpuBackend(num_threads=nt)
    be.allocate_buffer(64)
    try:
        be.execute_program(program, hg.LaunchConfig(grid, block), **kw, num_threads=nt)
    except hg.ExecutionError as e:
        return (type(e).__name__, e.global_lane_id, e.pc, e.message)
    return None


KINDS = hg.assemble("""
    ldg.u8 r2, [r10 + r255]          ; this lane's fault kind
    mov_imm.u8 r3, 1
    seteq.u8 p0, r2, r3
    bra.p0 @div
    mov_imm.u8 r3, 2
    seteq.u8 p0, r2, r3
    bra.p0 @oob
    mov_imm.u8 r3, 3
    seteq.u8 p0, r2, r3
    bra.p0 @uninit
    mov_imm.u8 r3, 4
    seteq.u8 p0, r2, r3
    bra.p0 @spin
    exit
div:
    mov_imm.u32 r4, 0
    div.u32 r5, r4, r4
    exit
oob:
    mov_imm.u64 r6, 1099511627776
    ldg.u32 r5, [r10 + r6]
    exit
uninit:
    add.u32 r5, r7, r7
    exit
spin:
    bra @spin
""")
NLANES = 64 * 256            # enough lanes for 4 threads (a thread per 4,096 lanes at most)


@settings(max_examples=30)
@given(st.lists(st.tuples(st.integers(0, NLANES - 1), st.integers(1, 4)), max_size=6))
def test_fault_report_identical_for_1_2_4_threads(faults):
    """Lanes anywhere in a 16,384-lane launch fault with different kinds (division by zero,
    out of bounds, uninitialised register, step limit); 1, 2 and 4 threads report the same
    error: the lowest faulting lane, its class, pc and message."""
    kinds = np.zeros(NLANES, np.uint8)
    for lane, kind in faults:
        kinds[lane] = kind
    results = {}
    for nt in (1, 2, 4):
        try:
            hg.CpuBackend(num_threads=nt).execute_program(
                KINDS, hg.LaunchConfig(64, 256), {"r10": kinds}, max_steps=2000, num_threads=nt)
            results[nt] = None
        except hg.ExecutionError as e:
            results[nt] = (type(e).__name__, e.global_lane_id, e.pc, e.message, str(e))
    assert results[1] == results[2] == results[4], results
    faulting = np.flatnonzero(kinds)
    if len(faulting):
        assert results[1][1] == int(faulting[0])
    else:
        assert results[1] is None


@settings(max_examples=40)
@given(programs(max_instructions=16, directives=False))
def test_random_program_fault_identical_for_1_2_4_threads(program):
    """Arbitrary programs (most fault: uninitialised registers, bad handles ...) over 64 blocks
    of 128 lanes: same error class, lane, pc and message for 1, 2 and 4 threads."""
    results = {nt: _error_for(program, 64, 128, nt, max_steps=300) for nt in (1, 2, 4)}
    assert results[1] == results[2] == results[4], results


def test_fault_codes_of_vm_and_python_agree():
    from hologram import _core, faults
    for name, code in _core.FAULT_CODES.items():
        assert getattr(faults, name) == code, name
    assert faults.CLASSES[faults.TIMEOUT] is hg.Timeout
    assert issubclass(hg.Timeout, hg.ExecutionError) and issubclass(hg.Timeout, TimeoutError)
    assert issubclass(hg.BackendBusy, hg.HologramError)


@pytest.mark.parametrize("nbytes", [2**62, 2**63, 2**64, 2**70, np.uint64(2**63)])
def test_huge_allocations_fail_with_allocation_failed(nbytes):
    """Regression (host-API probing): allocate_buffer(>= 2^63) leaked numpy's ValueError and
    allocate_pool(>= 2^64) an OverflowError; both are AllocationFailed now."""
    be = hg.CpuBackend()
    with pytest.raises(hg.AllocationFailed):
        be.allocate_buffer(nbytes)
    with pytest.raises(hg.AllocationFailed):
        be.allocate_pool(nbytes)
    _probe(be)


@pytest.mark.parametrize("engine", ["vm", "reference"])
def test_prepared_launch_after_later_host_allocations(engine):
    """Regression (review of the handle table): a prepared launch keeps its parameter handles;
    host buffers allocated afterwards get higher handles, which left the VM's handle table
    unsorted, so its binary search missed the parameters (a false InvalidHandle)."""
    be = _backend(engine)
    out = np.zeros(8, np.uint32)
    k = be.prepare(PROBE, hg.LaunchConfig(2, 4), {"r1": out})
    k()
    hs = [be.allocate_buffer(16) for _ in range(5)]
    be.copy_to_buffer(hs[-1], b"abcd")
    out[:] = 0
    k()
    assert out.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
    # host buffers with handles above the parameter's stay reachable in the same launch
    prog = hg.assemble(f"ldg.u32 r5, [buf{hs[-1]} + 0]\nmov_imm.u64 r6, 0\nstg.u32 [r1 + r6], r5")
    out[:] = 0
    be.prepare(prog, hg.LaunchConfig(1, 1), {"r1": out})   # params get handles above hs
    k2 = be.prepare(prog, hg.LaunchConfig(1, 1), {"r1": out})
    be.allocate_buffer(8)
    k2()
    assert out[0] == int.from_bytes(b"abcd", "little")

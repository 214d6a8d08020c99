"""Regression tests of the sandbox holes found by a reliability probe (docs/robustness.md):
object arrays bound as bytes (D1), unbounded thread counts (D2), pool memory a launch could
grow without bound (D3), a pool-id table that only grew (D4), a scalar cache that mixed up
-0.0 and +0.0 (D5), signal-handler re-entrancy (D6, D7) and inputs that escaped the documented
error classes (D8).

Cases that would crash or exhaust the process before the fix (huge thread counts, pools of
gigabytes) run in child processes with an address-space limit; every test asserts behaviour
(the error raised, the memory bound), never timing."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hologram as hg
from hologram import _core, cli, ops
from hologram import backend as B
from test_robustness import PROBE, _backend, _probe   # PROBE writes 3 * gid (u32) to r1

unix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs fork/resource/signals")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
ENGINES = [("vm", 1), ("vm", 2), ("reference", None)]


def _quota_backend(engine, nt, quota):
    if engine == "vm":
        return hg.CpuBackend(num_threads=nt, pool_quota=quota)
    return hg.ReferenceBackend(pool_quota=quota)


def _id(value) -> str:
    """A short test id (str() of an int of 5,000 digits raises)."""
    try:
        return repr(value)[:40]
    except ValueError:
        return f"huge-{type(value).__name__}"


def _under_asan() -> bool:
    return "libasan" in os.environ.get("LD_PRELOAD", "")


def _child(code: str, *, limit_as: int = 0, env=None, timeout: float = 300):
    """Run ``code`` in a fresh interpreter that imports this checkout's hologram, with the
    address space limited to ``limit_as`` bytes (not under ASan, which reserves terabytes).
    The timeout only keeps a hung child (the bug) from hanging the test run."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(hg.__file__)))
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join([root] + ([full_env["PYTHONPATH"]]
                                                       if full_env.get("PYTHONPATH") else []))
    prologue = ""
    if limit_as and not _under_asan():
        prologue = (f"import resource\nresource.setrlimit(resource.RLIMIT_AS, "
                    f"({limit_as}, {limit_as}))\n")
    return subprocess.run([sys.executable, "-c", prologue + textwrap.dedent(code)],
                          capture_output=True, text=True, env=full_env, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# D1: arrays of object references are never bound or copied as bytes

def _object_holders():
    objs = np.array([object(), "x", 3], dtype=object)
    rec = np.zeros(2, [("Offset", "<i8"), ("obj", "O")])       # an 'O' in a field name too
    cobjs = (ctypes.py_object * 2)(1, "y")
    return {
        "object array": objs,
        "structured with an object field": rec,
        "ctypes.py_object array": cobjs,
        "memoryview of an object array": memoryview(objs),
        "memoryview of a ctypes.py_object array": memoryview(cobjs),
        "0-d object array": np.array(None, dtype=object),
    }


OBJECT_KINDS = list(_object_holders())


@pytest.mark.parametrize("kind", OBJECT_KINDS)
@pytest.mark.parametrize("engine", ["vm", "reference"])
def test_object_arrays_cannot_be_launch_parameters(engine, kind):
    """Regression (D1, critical): object arrays were bound as raw bytes, so a kernel could read
    PyObject* pointers and overwrite them (then Python crashed)."""
    value = _object_holders()[kind]
    be = _backend(engine)
    prog = hg.assemble("exit")
    with pytest.raises(hg.LaunchConfigError, match="object references") as info:
        be.execute_program(prog, params={"r1": value})
    assert "parameter r1" in str(info.value)
    with pytest.raises(hg.LaunchConfigError, match="object references"):
        be.prepare(prog, params={"r2": value})
    with pytest.raises(hg.LaunchConfigError, match="object references"):
        hg.launch(prog, params={"r1": value}, backend=be)
    _probe(be)


def test_object_array_error_names_the_dtype():
    with pytest.raises(hg.LaunchConfigError, match="dtype object"):
        hg.launch(hg.assemble("exit"), params={"r1": np.zeros(2, object)})
    with pytest.raises(hg.LaunchConfigError, match="buffer format '<O'"):
        hg.launch(hg.assemble("exit"), params={"r1": (ctypes.py_object * 2)(1, 2)})


def test_field_names_with_an_o_are_not_objects():
    """Only the struct code 'O' marks an object: a field called 'Offset' is fine."""
    rec = np.zeros(4, [("Offset", "<u4"), ("Other", "<u4")])
    be = hg.CpuBackend()
    be.execute_program(hg.assemble("mov_imm.u32 r2, 7\nstg.u32 [r1 + 4], r2"),
                       params={"r1": memoryview(rec)})
    assert rec["Other"][0] == 7
    h = be.allocate_buffer(rec.nbytes)
    be.copy_to_buffer(h, memoryview(rec))


@pytest.mark.parametrize("kind", OBJECT_KINDS)
@pytest.mark.parametrize("op", ["copy_to_buffer", "copy_from_buffer", "copy_to_pool",
                                "copy_from_pool"])
def test_object_arrays_cannot_be_copied_to_or_from_memory(op, kind):
    """Regression (D1): copy_from_buffer(h, memoryview(object array)) wrote raw bytes over the
    object pointers (and copy_to_buffer disclosed them)."""
    value = _object_holders()[kind]
    be = hg.CpuBackend()
    handle = be.allocate_pool(64) if op.endswith("pool") else be.allocate_buffer(64)
    with pytest.raises(hg.LaunchConfigError, match="object references"):
        getattr(be, op)(handle, value)


@pytest.mark.parametrize("call", [
    lambda x: ops.vector_add(x, x), lambda x: ops.copy(x), lambda x: ops.sum(x),
    lambda x: ops.fill(x, 1), lambda x: ops.gather(np.arange(3.0), x),
    lambda x: ops.vector_add(np.zeros(3), np.zeros(3), out=x),
    lambda x: ops.full(3, 1, dtype=object),
])
def test_ops_reject_object_arrays(call):
    """hologram.ops only takes its 12 numeric dtypes (this path was already safe)."""
    with pytest.raises(TypeError):
        call(np.array([1, 2, 3], dtype=object))


def test_cli_rejects_object_dtype(tmp_path, capsys, monkeypatch):
    """Regression (D1): `--param r1=zeros:O:2` bound an object array (a kernel storing a u64
    there segfaulted the process)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k.hasm").write_text("exit\n")
    code = cli.main(["run", "k.hasm", "--param", "r1=zeros:O:2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "object references" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# D2: thread counts are capped

def test_max_threads_is_documented_and_positive():
    assert B.MAX_THREADS == max(64, 4 * (os.cpu_count() or 1))
    if hg.openmp_enabled():
        assert hg.effective_num_threads(B.MAX_THREADS) == B.MAX_THREADS
    assert hg.effective_num_threads(-10**5000) == 1


@pytest.mark.parametrize("n", ["max+1", 50_000, 70_000, 2**31, 2**63, 10**5000,
                               np.int64(2**62)], ids=_id)
def test_num_threads_beyond_the_cap_is_a_launch_config_error(n):
    """Regression (D2): num_threads reached OpenMP uncapped: 50,000 made libgomp exit the
    process, 70,000 crashed it, 2^31 raised a bare OverflowError."""
    n = B.MAX_THREADS + 1 if n == "max+1" else n
    with pytest.raises(hg.LaunchConfigError, match="maximum"):
        hg.effective_num_threads(n)
    with pytest.raises(hg.LaunchConfigError):
        hg.CpuBackend(num_threads=n)
    with pytest.raises(hg.LaunchConfigError):
        hg.ReferenceBackend(num_threads=n)
    be = hg.CpuBackend()
    for call in (lambda: be.execute_program(PROBE, num_threads=n),
                 lambda: be.prepare(PROBE, num_threads=n),
                 lambda: hg.launch(PROBE, num_threads=n),
                 lambda: ops.vector_add(np.ones(3), np.ones(3), num_threads=n),
                 lambda: ops.prepare(ops.vector_add, np.ones(3), np.ones(3), num_threads=n)):
        with pytest.raises(hg.LaunchConfigError):
            call()


@unix_only
def test_huge_thread_count_launch_is_refused_in_a_limited_child():
    """The launch the probe crashed the process with (70,000 threads, enough blocks for all of
    them), in a child whose address space is limited: it must raise LaunchConfigError before
    any thread starts, for every entry point."""
    out = _child("""
        import numpy as np, hologram as hg
        from hologram import ops
        prog = hg.assemble("exit")
        be = hg.CpuBackend()
        for call in (lambda: be.execute_program(prog, hg.LaunchConfig(280_000, 1024),
                                                num_threads=70_000),
                     lambda: hg.launch(prog, 280_000, 1024, num_threads=70_000),
                     lambda: be.prepare(prog, hg.LaunchConfig(280_000, 1024),
                                        num_threads=70_000),
                     lambda: ops.sum(np.ones(2**22, np.float32), num_threads=70_000)):
            try:
                call()
                print("ran")
            except hg.LaunchConfigError:
                print("refused")
    """, limit_as=2 * 2**30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["refused"] * 4


@unix_only
def test_omp_num_threads_beyond_the_cap_is_capped():
    """OMP_NUM_THREADS=100000 made the default thread count 100,000."""
    env = dict(os.environ, OMP_NUM_THREADS="100000")
    out = _child("""
        import numpy as np, hologram as hg
        n = hg.effective_num_threads()
        out = np.zeros(2**18, np.uint32)
        prog = hg.assemble('''
            mov.u64 r2, %gid
            mov_imm.u64 r3, 4
            mul.u64 r3, r2, r3
            cvt.u32.u64 r4, r2
            stg.u32 [r1 + r3], r4''')
        res = hg.launch(prog, 256, 1024, params={"r1": out})
        assert (out == np.arange(2**18)).all()
        print(n, res.num_threads, hg.effective_num_threads(-1))
    """, env=env, limit_as=4 * 2**30)
    assert out.returncode == 0, out.stderr
    n, used, all_ = map(int, out.stdout.split())
    cap = max(64, 4 * (os.cpu_count() or 1))            # B.MAX_THREADS
    assert n == used == all_ == (cap if hg.openmp_enabled() else 1)


@unix_only
def test_cli_threads_beyond_the_cap_exits_2(tmp_path):
    """Regression (D2): `hologram run --threads 70000` segfaulted (run in a limited child)."""
    (tmp_path / "k.hasm").write_text("exit\n")
    cap = max(64, 4 * (os.cpu_count() or 1))            # B.MAX_THREADS
    for n in ("70000", str(2**31), str(cap + 1)):
        out = _child(f"""
            import sys
            from hologram import cli
            sys.exit(cli.main(["run", {str(tmp_path / "k.hasm")!r}, "--grid", "300000",
                               "--block", "1024", "--threads", "{n}"]))
        """, limit_as=2 * 2**30)
        assert out.returncode == 2, out.stderr
        assert "maximum" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@linux_only
@pytest.mark.skipif(_under_asan(), reason="ASan keeps freed memory in its quarantine")
def test_engine_does_not_keep_large_scratch_between_launches():
    """The VM kept every thread's scratch (registers and shared memory) for the backend's life:
    one launch with many threads and 64 MiB of shared memory pinned threads x 64 MiB. Scratch
    beyond 64 MiB is now freed after the launch (the resident size drops back)."""
    out = _child("""
        import hologram as hg
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096 // 2**20
        be = hg.CpuBackend(num_threads=2)
        be.execute_program(hg.assemble("exit"), hg.LaunchConfig(1, 1))
        before = rss()
        r = be.execute_program(hg.assemble("exit"), hg.LaunchConfig(16, 1024, 2**26))
        print(before, rss(), r.num_threads)
    """)
    assert out.returncode == 0, out.stderr
    before, after, nt = map(int, out.stdout.split())
    assert after - before < 48, (before, after, nt)


# ---------------------------------------------------------------------------------------------
# D3: the pool quota, and freed pool memory is released at once

MIB = 2**20


@pytest.mark.parametrize("engine, nt", ENGINES)
def test_pool_quota_refuses_lane_allocations_beyond_it(engine, nt):
    """Lanes and the host share the backend's quota; both engines refuse the same allocation
    (each pool counts its size + 128 bytes) with the same message."""
    be = _quota_backend(engine, nt, 3 * MIB)
    assert be.pool_quota == 3 * MIB
    prog = hg.assemble(f"""
        pool.alloc r1, {MIB}
        pool.alloc r2, {MIB}
        pool.alloc r3, {MIB}
    """)
    with pytest.raises(hg.AllocationFailed) as info:
        be.execute_program(prog)
    e = info.value
    assert (e.pc, e.global_lane_id) == (2, 0)
    assert e.message == (f"pool allocation of {MIB} bytes failed (the pools would hold more "
                         f"than the backend's pool_quota of {3 * MIB} bytes)")
    assert be.pool_bytes == 2 * (MIB + 128)         # the two pools outlive the launch
    with pytest.raises(hg.AllocationFailed, match="pool_quota"):
        be.allocate_pool(MIB)
    be.free_pool(1)
    assert be.pool_bytes == MIB + 128
    be.execute_program(hg.assemble(f"pool.alloc r1, {MIB}"))   # room again
    _probe(be)


def test_pool_quota_host_api():
    be = hg.CpuBackend()
    assert be.pool_quota == B.DEFAULT_POOL_QUOTA > 0
    be.pool_quota = 1100
    p = be.allocate_pool(900)
    with pytest.raises(hg.AllocationFailed, match="pool_quota of 1100 bytes"):
        be.allocate_pool(100)
    be.pool_quota = 0                  # below what the pools hold: nothing is freed
    assert be.pool_bytes == 1028
    with pytest.raises(hg.AllocationFailed):
        be.allocate_pool(0)
    be.free_pool(p)
    assert be.pool_bytes == 0
    be.pool_quota = None
    assert be.pool_quota == B.DEFAULT_POOL_QUOTA
    be.pool_quota = 10**30             # more than 2^64 - 1 bytes: no limit
    assert be.pool_quota == 2**64 - 1
    for bad in (-1, 1.5, "1", True, [1]):
        with pytest.raises(ValueError):
            be.pool_quota = bad
        with pytest.raises(ValueError):
            hg.CpuBackend(pool_quota=bad)


ALLOC_FREE_LOOP = """
    mov_imm.u32 r5, {n}
    mov_imm.u64 r2, {last}
    mov.u64 r3, %gid
L:  pool.alloc r1, {size}
    pool.store.u64 r1, r2, r3           ; touch the pool's last word
    pool.load.u64 r4, r1, r2
    setne.u64 p0, r4, r3
    bra.p0 @bad
    pool.free r1
    loop r5, @L
    exit
bad:
    pool.free r0                        ; pool 0 cannot be freed: InvalidHandle
"""


@pytest.mark.parametrize("engine, nt", ENGINES)
def test_freed_pool_bytes_are_reusable_within_a_launch(engine, nt):
    """Regression (D3): pools freed by lanes were released only at the end of the launch, so
    an alloc/free loop grew without bound. A freed pool no longer counts against the quota."""
    be = _quota_backend(engine, nt, 2 * MIB)
    prog = hg.assemble(ALLOC_FREE_LOOP.format(n=50, size=MIB, last=MIB - 8))
    be.execute_program(prog)
    assert be.pool_bytes == 0
    assert len(be._pools) == 2                       # the boundary pool and one slot


@unix_only
def test_alloc_free_loop_memory_stays_bounded_in_a_limited_child():
    """The probe's loop in a child limited to 1 GiB of address space: 4 GiB (one lane, 1 MiB
    pools) and 25 GiB (16,384 lanes on two threads, 16 KiB pools) allocated and freed in one
    launch each, on both engines. Before the fix the freed memory stayed allocated until the
    launch ended, so the child failed with AllocationFailed (or, unlimited, was OOM-killed)."""
    one = ALLOC_FREE_LOOP.format(n=4000, size=MIB, last=MIB - 8)
    many = ALLOC_FREE_LOOP.format(n=100, size=2**14, last=2**14 - 8)
    out = _child(f"""
        import hologram as hg
        one = hg.assemble({one!r})
        many = hg.assemble({many!r})
        for be, prog, grid, block in (
                (hg.CpuBackend(num_threads=1), one, 1, 1),
                (hg.CpuBackend(num_threads=2), many, 16, 1024),
                (hg.ReferenceBackend(), one, 1, 1)):
            be.execute_program(prog, hg.LaunchConfig(grid, block))
            assert be.pool_bytes == 0, be.pool_bytes
            print("ok")
    """, limit_as=2**30 + 256 * MIB)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok"] * 3


@unix_only
def test_timeout_contains_a_loop_of_huge_pools_in_a_limited_child():
    """Regression (D3): `L: pool.alloc r1, N; pool.free r1; bra @L` with a timeout grew past
    3 GiB (22.6 GiB and an OOM kill with 16 MB pools) before the timeout stopped it. Pools of
    256 MiB, each touched, in a child limited to 1 GiB: the launch must end with Timeout.
    (Each allocation also counts size / 64 lane-instructions towards the Ctrl-C / timeout
    poll, so the loop polls at every allocation.)"""
    out = _child(f"""
        import hologram as hg
        prog = hg.assemble('''
            mov_imm.u64 r2, {256 * MIB - 8}
        L:  pool.alloc r1, {256 * MIB}
            pool.store.u64 r1, r2, r2
            pool.free r1
            bra @L''')
        for be in (hg.CpuBackend(num_threads=1), hg.ReferenceBackend()):
            try:
                be.execute_program(prog, timeout=0.3)
            except hg.Timeout:      # the lane may stop while its pool is allocated
                print("timeout", be.pool_bytes <= {256 * MIB + 128})
    """, limit_as=2**30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["timeout", "True"] * 2


LANE_FREES_WHILE_OTHERS_READ = hg.assemble("""
    mov.u64 r2, %gid
    mov_imm.u64 r3, 0
    setne.u64 p0, r2, r3
    bra.p0 @read
    mov_imm.u32 r5, 20000                ; lane 0: let the others start, then free
W:  loop r5, @W
    pool.free r1
    exit
read:
    mov_imm.u32 r5, 2000
    mov_imm.u64 r6, 4088
R:  pool.load.u64 r4, r1, r6
    pool.store.u64 r1, r6, r2
    loop r5, @R
""")


@pytest.mark.parametrize("nt", [1, 2])
def test_lane_frees_a_pool_other_threads_read(nt):
    """A pool freed by a lane is released at once; lanes of other threads reading it then see
    an invalid id (§4.4), never freed memory (run under ASan: docs/robustness.md)."""
    be = hg.CpuBackend(num_threads=nt)
    for _ in range(5):
        pid = be.allocate_pool(4096)
        try:
            be.execute_program(LANE_FREES_WHILE_OTHERS_READ, hg.LaunchConfig(32, 1024),
                               {"r1": ("u64", pid)})
        except hg.InvalidHandle as e:
            assert e.global_lane_id > 0 and e.message == f"invalid pool id: {pid}"
        assert be.pool_bytes == 0
        with pytest.raises(hg.InvalidHandle):
            be.free_pool(pid)
    _probe(be)


@unix_only
@pytest.mark.parametrize("nt", [1, 2])
def test_host_pool_copies_from_a_signal_handler_while_lanes_churn_pools(nt):
    """Host copies take the pool table's lock: a signal handler copying to and from a pool
    while lanes of the running launch allocate and free pools sees consistent data."""
    be = hg.CpuBackend(num_threads=nt)
    host = be.allocate_pool(64)
    prog = hg.assemble(ALLOC_FREE_LOOP.format(n=100, size=256, last=248))
    seen = []

    def handler(signum, frame):
        be.copy_to_pool(host, np.arange(8, dtype=np.uint64))
        got = np.zeros(8, np.uint64)
        be.copy_from_pool(host, got)
        seen.append(got.tolist())

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        for _ in range(4):
            be.execute_program(prog, hg.LaunchConfig(8, 1024))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert all(s == list(range(8)) for s in seen)
    assert be.pool_bytes == 64 + 128


# ---------------------------------------------------------------------------------------------
# D4: pool ids are unique, but slots are reused: the table stays bounded

def test_host_pool_churn_keeps_the_table_bounded():
    """Regression (D4): ids were never reused and the table only grew (after 2^26 allocations
    no pool could be allocated again, and 1.6 GiB stayed held). Slots are reused now, each
    time with a new id; stale ids stay invalid."""
    be = hg.CpuBackend()
    keep = be.allocate_pool(8)
    ids = []
    for _ in range(20_000):
        p = be.allocate_pool(8)
        ids.append(p)
        be.free_pool(p)
    assert len(set(ids)) == len(ids) and keep not in ids and 0 not in ids
    assert len(be._pools) == 3                  # boundary, keep, and one reused slot
    for stale in (ids[0], ids[1], ids[-1]):
        with pytest.raises(hg.InvalidHandle):
            be.copy_from_pool(stale, bytearray(1))
        with pytest.raises(hg.InvalidHandle):
            be.free_pool(stale)
        with pytest.raises(hg.InvalidHandle):   # ... and for lanes
            be.execute_program(hg.assemble("mov_imm.u64 r2, 0\npool.load.u8 r3, r1, r2"),
                               params={"r1": ("u64", stale)})


@pytest.mark.parametrize("engine, nt", ENGINES)
def test_lane_pool_churn_keeps_the_table_bounded(engine, nt):
    be = _backend(engine, nt)
    n = 20_000 if engine == "vm" else 2_000
    out = np.zeros(2, np.uint64)
    be.execute_program(hg.assemble(f"""
        mov_imm.u32 r5, {n}
        mov_imm.u64 r9, 0
        pool.alloc r1, 8
        stg.u64 [r8 + 0], r1
    L:  pool.free r1
        pool.alloc r1, 8
        loop r5, @L
        stg.u64 [r8 + 8], r1
    """), params={"r8": out})
    first, last = out.tolist()
    assert first != last and len(be._pools) == 2
    with pytest.raises(hg.InvalidHandle):
        be.free_pool(first)
    be.free_pool(last)


def test_a_slot_whose_generation_runs_out_is_retired():
    """Ids stay unique when a slot has been reused max_generation times: it is retired (the
    table's generation space is 2^38 per slot; a small one here)."""
    table = _core.PoolTable(np.zeros(64, np.uint8), max_generation=2)
    seen = []
    for _ in range(4):
        p = table.alloc(8)
        seen.append(p)
        assert table.free(p)
    slot = _core.POOL_MAX_GENERATION.bit_length()
    assert seen == [1, 1 + (1 << 26), 1 + (2 << 26), 2]
    assert len(set(seen)) == 4 and len(table) == 3
    assert all(table.view(p) is None and not table.free(p) for p in seen)
    assert slot == 64 - 26


@pytest.mark.slow
def test_more_than_2_26_pool_allocations_in_a_backend():
    """Regression (D4): after 67,108,863 allocations a backend could never allocate a pool
    again (~20 s of a lane loop)."""
    be = hg.CpuBackend(num_threads=1)
    be.execute_program(hg.assemble(f"""
        mov_imm.u32 r5, {2**26 + 100}
    L:  pool.alloc r1, 0
        pool.free r1
        loop r5, @L
    """))
    assert len(be._pools) == 2
    be.free_pool(be.allocate_pool(8))


# ---------------------------------------------------------------------------------------------
# D5: typed scalars are converted by their exact value

@pytest.mark.parametrize("ty", ["f16", "bf16", "f32", "f64"])
@pytest.mark.parametrize("first, second", [(-0.0, 0.0), (0.0, -0.0)])
def test_signed_zero_scalars_keep_their_sign(ty, first, second):
    """Regression (D5): the process-wide scalar cache keyed ("f32", -0.0) and ("f32", 0.0) as
    one entry, so the first launched decided the sign bit of every later launch."""
    prog = hg.assemble(f"stg.{ty} [r2 + 0], r1")
    width = {"f16": 2, "bf16": 2, "f32": 4, "f64": 8}[ty]
    sign = 1 << (8 * width - 1)
    for value in (first, second, first):
        out = np.zeros(width, np.uint8)
        hg.launch(prog, params={"r1": (ty, value), "r2": out})
        bits = int.from_bytes(out.tobytes(), "little")
        assert bits == (sign if str(value).startswith("-") else 0), (value, hex(bits))


def test_ops_full_of_zero_after_negative_zero_is_positive():
    """The probe's case: ops.full(4, 0.0) returned -0.0 after ops.full(4, -0.0)."""
    assert np.signbit(ops.full(4, -0.0)).all()
    assert not np.signbit(ops.full(4, 0.0)).any()
    assert not np.signbit(ops.scalar_mul(np.ones(3, np.float32), 0.0)).any()
    assert np.signbit(ops.scalar_mul(np.ones(3, np.float32), -0.0)).all()


# ---------------------------------------------------------------------------------------------
# D6, D7: signal handlers may launch

@unix_only
def test_signal_handler_launch_while_inside_default_backend():
    """Regression (D6): default_backend() held a non-reentrant lock; a signal handler that
    launched while this thread was inside it waited for itself forever."""
    out = _child("""
        import os, signal
        import numpy as np, hologram as hg
        from hologram import backend as B
        prog = hg.assemble("mov.u64 r2, %gid\\nmov_imm.u64 r3, 4\\nmul.u64 r3, r2, r3\\n"
                           "cvt.u32.u64 r4, r2\\nstg.u32 [r1 + r3], r4")
        out = np.zeros(4, np.uint32)
        seen = []
        def handler(signum, frame):
            hg.launch(prog, 1, 4, params={"r1": out})
            seen.append(B.default_backend())
        signal.signal(signal.SIGUSR1, handler)
        with B._default_lock:               # as if inside default_backend(), first call
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(1000):           # the handler runs between bytecodes
                if seen:
                    break
        assert out.tolist() == [0, 1, 2, 3], out
        assert seen and seen[0] is B.default_backend()
        print("ok")
    """, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok"]


def test_vm_engine_is_imported_with_hologram():
    """Regression (D7): hologram.vm was imported by the first launch; a signal handler that
    launched while that import ran got ImportError from the half-imported module. It is
    imported with hologram now, and the reference interpreter when a ReferenceBackend is
    made."""
    out = _child("""
        import sys
        import hologram as hg
        print("hologram.vm" in sys.modules, "hologram.reference" in sys.modules)
        hg.ReferenceBackend()
        print("hologram.reference" in sys.modules)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True"]


# ---------------------------------------------------------------------------------------------
# D8: every bad input gets a documented error

DIGITS = "9" * 5000
HEX = "0x" + "f" * 5000


@pytest.mark.parametrize("text", [
    f"mov.u32 r{DIGITS}, r1", f"mov_imm.u32 r1, {DIGITS}", f"mov_imm.i32 r1, -{DIGITS}",
    f"mov_imm.u64 r1, {HEX}", f"bar.sync {DIGITS}", f"bar.sync {HEX}",
    f"ldg.u32 r1, [buf{DIGITS} + 0]", f"ldg.u32 r1, [buf{HEX} + 0]",
    f"ldg.u32 r1, [buf1 + {DIGITS}]", f"ldg.u32 r1, [r2 + {DIGITS}]",
    f"ldg.u32 r1, [r2 - {DIGITS}]", f"ldg.u32 r1, [Φ({DIGITS}, 0, 0)]",
    f".block {DIGITS}\nexit", f".block 1, {HEX}\nexit", f".shared {DIGITS}\nexit",
    f"L: bra.p{DIGITS} @L", f"seteq.u32 p{DIGITS}, r1, r2", f"pool.alloc r1, {HEX}",
], ids=_id)
def test_huge_numbers_in_assembly_are_assembly_errors(text):
    """Regression (D8): decimal numbers of more than 4,300 digits raised Python's ValueError
    (its int-from-text limit); hex ones of as many digits could not be printed in the
    message."""
    with pytest.raises(hg.AssemblyError, match="out of range|expected") as info:
        hg.assemble(text)
    assert len(str(info.value).splitlines()[0]) < 200


@pytest.mark.parametrize("value", [
    ("u32", [5]), ("u32", np.array(5)), ({}, 5), ([], 1), ("f32", np.array(1.0)),
    ("f32", 10**400), ("f64", -10**400), ("u32", 10**5000), ("i8", -10**5000), (10**5000, 1),
], ids=_id)
def test_bad_typed_scalars_are_launch_config_errors(value):
    """Regression (D8): unhashable parts raised TypeError from the scalar cache, ints beyond
    the float range OverflowError."""
    with pytest.raises(hg.LaunchConfigError) as info:
        hg.launch(PROBE, params={"r1": value})
    str(info.value)


@pytest.mark.parametrize("key", ["r²", "r" + DIGITS, "r٣", 10**5000, -10**5000, "r 1"], ids=_id)
def test_bad_parameter_keys_are_launch_config_errors(key):
    """Regression (D8): 'r²' and 5000-digit keys raised ValueError from int()."""
    with pytest.raises(hg.LaunchConfigError) as info:
        hg.launch(hg.assemble("exit"), params={key: ("u32", 1)})
    str(info.value)


@pytest.mark.parametrize("timeout", [10**400, 1e300, 2e9, float("inf")], ids=_id)
def test_huge_timeouts_are_no_limit(timeout):
    """Regression (D8): timeout=10**400 raised OverflowError."""
    out = np.zeros(8, np.uint32)
    hg.launch(PROBE, 2, 4, params={"r1": out}, timeout=timeout)
    assert out.tolist() == [3 * i for i in range(8)]
    hg.CpuBackend().prepare(PROBE, hg.LaunchConfig(2, 4), {"r1": out}, timeout=timeout)()


@pytest.mark.parametrize("call, exc", [
    (lambda be: be.allocate_buffer(10**5000), hg.AllocationFailed),
    (lambda be: be.allocate_pool(10**5000), hg.AllocationFailed),
    (lambda be: be.allocate_buffer(-10**5000), ValueError),
    (lambda be: be.free_pool(10**5000), hg.InvalidHandle),
    (lambda be: be.free_buffer(-10**5000), hg.InvalidHandle),
    (lambda be: be.copy_to_buffer(0, b"x", offset=10**5000), hg.OutOfBounds),
    (lambda be: be.copy_from_pool(0, bytearray(1), offset=-10**5000), hg.OutOfBounds),
    (lambda be: be.execute_program(PROBE, hg.LaunchConfig(10**5000)), hg.LaunchConfigError),
    (lambda be: be.execute_program(PROBE, hg.LaunchConfig(1, (1, 10**5000))),
     hg.LaunchConfigError),
    (lambda be: be.execute_program(PROBE, hg.LaunchConfig(1, 1, -10**5000)),
     hg.LaunchConfigError),
    (lambda be: be.execute_program(PROBE, max_steps=-10**5000), hg.LaunchConfigError),
    (lambda be: be.execute_program(PROBE, timeout=-10**5000), hg.LaunchConfigError),
    (lambda be: be.execute_program(PROBE, params={"r1": 10**5000}), hg.LaunchConfigError),
    (lambda be: hg.CpuBackend(pool_quota=-10**5000), ValueError),
])
def test_huge_ints_in_host_calls_get_documented_errors(call, exc):
    """Error messages print arguments safely (str() of an int of more than 4,300 digits
    raises ValueError, which replaced the documented error)."""
    with pytest.raises(exc) as info:
        call(hg.CpuBackend())
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("param", ["r1=zeros:f32:1000000000000000", "r2=f32:0x" + "f" * 300,
                                   "r1=zeros:f32:" + DIGITS, "r1=u32:" + DIGITS,
                                   "r" + DIGITS + "=u32:1", "r1=zeros:u8:" + str(2**70)],
                         ids=_id)
def test_cli_bad_params_exit_2_with_one_line(tmp_path, capsys, monkeypatch, param):
    """Regression (D8): these printed a traceback and exited 1 (2 is documented)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k.hasm").write_text("exit\n")
    code = cli.main(["run", "k.hasm", "--param", param])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

"""The native tier (hologram.jit): compiled code must behave exactly like the interpreter.

* differential: random programs of the compiled subset (the generator of test_differential.py,
  restricted by :class:`GenJit`) run on the reference interpreter, the VM and compiled code
  with 1 and 2 threads; outputs, memory and faults must agree;
* targeted: a fault in the first, a middle, the last and the tail lane of a SIMD chunk;
  divergent loops; every dtype; declines name their reason; the engine policies.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings

import hologram as hg
from hologram import jit
from hologram.isa import DType, Instruction, RegisterIndirectComputed
import test_differential as td
from test_differential import Features, Gen

pytestmark = pytest.mark.skipif(not jit.available(), reason=jit.unavailable_reason() or "-")

from hologram.jit.codegen import SUPPORTED  # noqa: E402

JIT_OPS = tuple(v for v in td.ARITH_ALL if v in SUPPORTED)
JIT_COMMON = tuple(v for v in td.ARITH_COMMON if v in SUPPORTED)


class GenJit(Gen):
    """test_differential's generator limited to the instructions the native tier compiles."""

    def gen_op(self) -> None:
        v = self.ch(JIT_OPS if self.coin(60) else JIT_COMMON)
        getattr(self, "op_" + v, self.op_generic)(v)
        self.pinned.clear()

    def pool_item(self) -> None:
        self.scratch_access()

    def load_input(self, ty, dst=None):
        # pool.load from pool 0 (the boundary pool) -> ldg from handle 0 at the same offset
        d = super().load_input(ty, dst)
        ins = self.r.buf.ins
        last = ins[-1]
        if last.variant == "PoolLoad":
            ins[-1] = Instruction("LDG", ty=last.ty, dst=last.dst,
                                  addr=RegisterIndirectComputed(last.pool, last.offset))
        return d

    def scratch_access(self) -> None:
        """test_differential's scratch access without the pool0 space (pool instructions)."""
        ty = self.ch(td.ALL_TYPES)
        k = self.num(0, td.SCR - ty.size)
        h = td.R_SCRATCH if self.coin(50) else td.R_ZERO
        store = self.coin(55)
        val = self.canon(self.src(ty)) if store else None
        self.emit("MOV_IMM", ty=DType.U64, dst=td.T0, value=k)
        self.emit("ADD", ty=DType.U64, dst=td.T1, src1=td.R_BASE, src2=td.T0)
        if store:
            self.emit("STG", ty=ty, src=val, addr=RegisterIndirectComputed(h, td.T1))
            return
        d = self.dst(ty, True)
        self.emit("LDG", ty=ty, dst=d, addr=RegisterIndirectComputed(h, td.T1))
        self.put(d, ty, True)


ARITH = Features(items=(12, 40))
CONTROL = Features(control=True, exits=True)
MEMORY = Features(memory=True, control=True)

STATS = {"compiled": 0, "declined": 0}


def run_jit(case, num_threads, max_steps=None):
    be = hg.CpuBackend(num_threads=num_threads, engine="jit")
    be.copy_to_buffer(0, case.phi, offset=td.PHI_OFF)
    out = np.zeros(case.nlanes * case.slot, np.uint8)
    scratch = np.zeros(case.nlanes * td.SCR, np.uint8)
    hist = np.zeros(max(8 * td.NBINS, 8 * td.NBINS * len(case.hist_sites)), np.uint8)
    params = {td.R_OUT: out, td.R_IN: case.inp, td.R_SCRATCH: scratch, td.R_HIST: hist}
    if case.kinds is not None:
        params[td.R_KINDS] = case.kinds
    error = None
    try:
        res = be.execute_program(case.program, hg.LaunchConfig(case.grid, case.block,
                                                               case.shared_memory),
                                 params, num_threads=num_threads, max_steps=max_steps)
        assert res.engine == "jit"
    except hg.ExecutionError as e:
        error = e
    return td.Outcome(out, scratch, hist, be.buffer_view(0).copy(), None, error)


def check_jit(case):
    ref = td.run_case(case, "reference")
    assert ref.error is None, f"reference faulted: {ref.error}\n" + td.describe(case)
    vm = td.run_case(case, "vm", 1)
    td.compare(case, ref, vm, "vm")
    try:
        jit.compile_launch(case.program, _signature(case), case.block, case.shared_memory)
    except hg.NotCompilable:
        STATS["declined"] += 1
        return
    STATS["compiled"] += 1
    ref.resonance = None
    for nt in (1, 2):           # one run counts steps (the case's max_steps, never reached)
        out = run_jit(case, nt, case.max_steps if nt == 1 else None)
        td.compare(case, ref, out, f"jit num_threads={nt}")


def _signature(case):
    sig = [(td.R_OUT, DType.U64), (td.R_IN, DType.U64), (td.R_SCRATCH, DType.U64),
           (td.R_HIST, DType.U64)]
    if case.kinds is not None:
        sig.append((td.R_KINDS, DType.U64))
    return tuple(sig)


# (fewer examples than the profile: each runs the reference, the VM, a compile and 2 launches)
@settings(max_examples=30)
@given(td.cases(ARITH, max_lanes=40, gen_cls=GenJit))
def test_jit_differential_arith(case):
    check_jit(case)


@settings(max_examples=30)
@given(td.cases(CONTROL, gen_cls=GenJit))
def test_jit_differential_control(case):
    check_jit(case)


@settings(max_examples=30)
@given(td.cases(MEMORY, gen_cls=GenJit))
def test_jit_differential_memory(case):
    check_jit(case)


def test_jit_differential_mostly_compiled():
    """The generated programs of the subset really compile (the tests above are not vacuous)."""
    total = STATS["compiled"] + STATS["declined"]
    if total == 0:
        pytest.skip("run with the differential tests above")
    assert STATS["compiled"] >= 0.9 * total, STATS


# ---------------------------------------------------------------------------------------------
# Targeted tests

VADD = """
.param r1 {T}[] a
.param r2 {T}[] b
.param r3 {T}[] out
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.{T}     r10, [r1 + r255*{B}]
        ldg.{T}     r11, [r2 + r255*{B}]
        {OP}.{T}    r12, r10, r11
        stg.{T}     [r3 + r255*{B}], r12
done:
        exit
"""


def _both(prog, grid, block, make_params, **kw):
    """Run on the VM and compiled; return both (outputs, error) after checking the engines."""
    outs = []
    for engine in ("vm", "jit"):
        params, arrays = make_params()
        err = None
        try:
            r = hg.launch(prog, grid=grid, block=block, params=params, engine=engine,
                          backend=hg.CpuBackend(), **kw)
            assert r.engine == engine
        except hg.ExecutionError as e:
            err = (type(e).__name__, e.global_lane_id, e.pc, str(e))
        outs.append(([a.copy() for a in arrays], err))
    return outs


DTYPES = [t for t in DType]
NP = {DType.I8: np.int8, DType.I16: np.int16, DType.I32: np.int32, DType.I64: np.int64,
      DType.U8: np.uint8, DType.U16: np.uint16, DType.U32: np.uint32, DType.U64: np.uint64,
      DType.F16: np.float16, DType.BF16: np.uint16, DType.F32: np.float32, DType.F64: np.float64}


@pytest.mark.parametrize("ty", DTYPES, ids=lambda t: t.text)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "min", "max"])
def test_every_dtype_binary(ty, op):
    """Element-wise kernels of every type agree bit for bit (random bits: NaNs, -0, MIN/-1;
    integer division by zero faults the lowest lane on both)."""
    rng = np.random.default_rng(hash((ty.text, op)) & 0xFFFF)
    n = 300
    prog = hg.assemble(VADD.replace("{T}", ty.text).replace("{B}", str(ty.size))
                       .replace("{OP}", op))
    a = rng.integers(0, 256, n * ty.size, dtype=np.uint8).view(NP[ty])
    b = rng.integers(0, 256, n * ty.size, dtype=np.uint8).view(NP[ty])
    if op == "div" and not ty.is_float:
        b[b == 0] = 3                     # the fault is tested below

    def make():
        out = np.zeros(n, NP[ty])
        return {"a": a, "b": b, "out": out, "n": ("u64", n)}, [out]
    (vm_out, vm_err), (jit_out, jit_err) = _both(prog, 3, 128, make)
    assert vm_err == jit_err
    # float arithmetic "may produce any quiet NaN" (ISA.md §2): which operand's payload an
    # add propagates is the C compiler's choice in the VM too; MIN/MAX select an operand (exact)
    exact = not ty.is_float or op in ("min", "max")
    td.compare_typed(vm_out[0].view(np.uint8), jit_out[0].view(np.uint8), ty, exact, "out",
                     lambda: f"{op}.{ty.text}")


@pytest.mark.parametrize("W_lane", ["first", "middle", "last", "tail"])
@pytest.mark.parametrize("nt", [1, 2])
def test_fault_lane_in_chunk(W_lane, nt):
    """An out-of-bounds store at the first/middle/last lane of a SIMD chunk, or in the tail
    chunk of a block whose size is not a multiple of the width: same fault (class, lane, pc,
    message) and the same bytes written by the other lanes."""
    W = jit.vector_width()
    block = 3 * W + 5                        # a tail chunk of 5 lanes
    pos = {"first": W, "middle": W + W // 2, "last": 2 * W - 1, "tail": 3 * W + 3}[W_lane]
    n_out = block + pos                      # lane `pos` of block 1 is the first past the end
    prog = hg.assemble(VADD.replace("{T}", "f32").replace("{B}", "4").replace("{OP}", "add"))
    a = np.arange(4 * block, dtype=np.float32)
    b = np.ones(4 * block, dtype=np.float32)

    def make():
        out = np.zeros(n_out, np.float32)
        return {"a": a, "b": b, "out": out, "n": ("u64", 4 * block)}, [out]
    (vm_out, vm_err), (jit_out, jit_err) = _both(prog, 4, block, make, num_threads=nt)
    assert vm_err is not None and vm_err[0] == "OutOfBounds"
    assert jit_err == vm_err
    assert vm_err[1] == block + pos
    # every lane in bounds stored its value
    np.testing.assert_array_equal(vm_out[0], jit_out[0])
    np.testing.assert_array_equal(jit_out[0], (a + b)[:n_out])


def test_invalid_handle_and_division_fault():
    src = """
.param r1 u32[] out
        mov.u64     r2, %gid
        setgeu.u64  p0, r2, 37
        cvt.u32.u64 r3, r2
        sub.u32     r4, r3, 37
        div.u32     r5, r3, r4            ; lane 37 divides by zero
        stg.u32     [r1 + r2*4], r5
        exit
"""
    prog = hg.assemble(src)

    def make():
        out = np.zeros(100, np.uint32)
        return {"out": out}, [out]
    (vm_out, vm_err), (jit_out, jit_err) = _both(prog, 2, 50, make)
    assert vm_err[0] == "DivisionByZero" and vm_err[1] == 37
    assert jit_err == vm_err
    np.testing.assert_array_equal(vm_out[0][:50], jit_out[0][:50])
    bad = hg.assemble("""
        mov_imm.u64 r1, 12345
        ldg.u32 r2, [r1 + 4]
        exit
""")
    (_, e1), (_, e2) = _both(bad, 1, 20, lambda: ({}, []))
    assert e1[0] == "InvalidHandle" and e1 == e2


DIVERGENT = """
.param r1 u32[] out
        mov.u64     r2, %gid
        cvt.u32.u64 r3, r2
        mov_imm.u32 r4, 0
        and.u32     r5, r3, 7             ; lane-dependent trip count
again:
        add.u32     r4, r4, r3
        sub.u32     r5, r5, 1
        setne.u32   p1, r5, 4294967295
        bra.p1      @again
        setlt.u32   p2, r3, 11
        bra.p2      @skip
        mul.u32     r4, r4, 3
skip:
        mov_imm.u32 r6, 5
        loop        r6, @body             ; a uniform LOOP
        bra         @end
body:
        add.u32     r4, r4, 1
        bra         @skip2
skip2:
        loop        r6, @body
end:
        stg.u32     [r1 + r2*4], r4
        exit
"""


@pytest.mark.parametrize("block", [1, 7, 8, 16, 33])
def test_divergent_loops(block):
    prog = hg.assemble(DIVERGENT)
    n = 4 * block

    def make():
        out = np.zeros(n, np.uint32)
        return {"out": out}, [out]
    (vm_out, vm_err), (jit_out, jit_err) = _both(prog, 4, block, make)
    assert vm_err is None and jit_err is None
    np.testing.assert_array_equal(vm_out[0], jit_out[0])
    assert vm_out[0].any()


def test_intra_block_order_matches_vm():
    """Lanes of a block write a location that other lanes then read (a race the ISA leaves
    to the implementation): the compiled code keeps the VM's order (segments)."""
    src = """
.param r1 u32[] buf
.param r2 u32[] out
        mov.u64     r3, %gid
        cvt.u32.u64 r4, r3
        stg.u32     [r1], r4              ; every lane stores to buf[0]: the last lane wins
        ldg.u32     r5, [r1]              ; ... and then reads it
        stg.u32     [r2 + r3*4], r5
        exit
"""
    prog = hg.assemble(src)

    def make():
        buf = np.zeros(1, np.uint32)
        out = np.zeros(40, np.uint32)
        return {"buf": buf, "out": out}, [buf, out]
    (vm_out, _), (jit_out, _) = _both(prog, 1, 40, make)
    np.testing.assert_array_equal(vm_out[1], jit_out[1])
    assert (vm_out[1] == 39).all()


def test_declines_name_the_reason():
    prog = hg.assemble("""
        bar.sync 0
        exit
""")
    with pytest.raises(hg.NotCompilable, match="BarSync"):
        hg.launch(prog, grid=1, block=4, engine="jit")
    r = hg.launch(prog, grid=1, block=4, engine="auto")
    assert r.engine == "vm"
    assert issubclass(hg.NotCompilable, hg.HologramError)


def test_engine_argument_checked():
    with pytest.raises(ValueError):
        hg.launch(hg.assemble("exit"), grid=1, block=1, engine="fast")
    with pytest.raises(ValueError):
        hg.CpuBackend(engine="fast")


def test_auto_compiles_in_background():
    """"auto": a key whose interpreted launches add up to AUTO_COMPILE_SECONDS is compiled in
    the background; later launches run compiled with the same results."""
    from hologram import backend as bk
    prog = hg.assemble(VADD.replace("{T}", "u32").replace("{B}", "4").replace("{OP}", "add"))
    n = 1000
    a = np.arange(n, dtype=np.uint32)
    be = hg.CpuBackend(engine="auto")
    old = bk.AUTO_COMPILE_SECONDS
    bk.AUTO_COMPILE_SECONDS = 0.0
    try:
        out = np.zeros(n, np.uint32)
        r = be.execute_program(prog, hg.LaunchConfig(4, 256), {"a": a, "b": a, "out": out,
                                                             "n": ("u64", n)})
        assert r.engine == "vm"
        jit.wait_background()
        out2 = np.zeros(n, np.uint32)
        r = be.execute_program(prog, hg.LaunchConfig(4, 256), {"a": a, "b": a, "out": out2,
                                                             "n": ("u64", n)})
        assert r.engine == "jit"
        np.testing.assert_array_equal(out, out2)
        np.testing.assert_array_equal(out, 2 * a)
    finally:
        bk.AUTO_COMPILE_SECONDS = old


def test_environment_default(monkeypatch):
    """HOLOGRAM_ENGINE=jit: compiled when possible, the interpreter for declined launches."""
    monkeypatch.setenv("HOLOGRAM_ENGINE", "jit")
    be = hg.CpuBackend()
    assert be.engine_policy == "jit"
    r = be.execute_program(hg.assemble("bar.sync 0\nexit"), hg.LaunchConfig(1, 4))
    assert r.engine == "vm"
    r = be.execute_program(hg.assemble("exit"), hg.LaunchConfig(1, 4))
    assert r.engine == "jit"
    monkeypatch.setenv("HOLOGRAM_ENGINE", "fast")
    with pytest.raises(ValueError):
        hg.CpuBackend()


def test_ctrl_c_and_timeout_in_compiled_loop():
    """An endless loop under compiled code stops at the timeout (polled in the dispatcher)."""
    prog = hg.assemble("""
top:
        bra @top
""")
    with pytest.raises(hg.Timeout):
        hg.launch(prog, grid=2, block=16, engine="jit", timeout=0.1)


def test_prepared_launch_and_show_config(capsys):
    prog = hg.assemble(VADD.replace("{T}", "f64").replace("{B}", "8").replace("{OP}", "add"))
    n = 50
    a = np.linspace(0, 1, n)
    out = np.zeros(n)
    be = hg.CpuBackend()
    k = be.prepare(prog, hg.LaunchConfig(1, 64), {"a": a, "b": a, "out": out, "n": ("u64", n)},
                   engine="jit")
    assert k().engine == "jit"
    np.testing.assert_array_equal(out, a + a)
    hg.show_config()
    text = capsys.readouterr().out
    assert "native tier" in text and "vector width" in text


@pytest.mark.parametrize("nt", [1, 2])
def test_fault_with_threads_and_many_blocks(nt):
    """A large launch (several threads claiming blocks): the lowest faulting lane and the bytes
    of every block up to the faulting one are those of the VM."""
    prog = hg.assemble(VADD.replace("{T}", "u32").replace("{B}", "4").replace("{OP}", "add"))
    n = 1 << 16
    n_out = 40000 + 7
    a = np.arange(n, dtype=np.uint32)

    def make():
        out = np.zeros(n_out, np.uint32)
        return {"a": a, "b": a, "out": out, "n": ("u64", n)}, [out]
    (vm_out, vm_err), (jit_out, jit_err) = _both(prog, n // 128, 128, make, num_threads=nt)
    assert vm_err[0] == "OutOfBounds" and vm_err[1] == n_out
    assert jit_err == vm_err
    np.testing.assert_array_equal(jit_out[0], 2 * a[:n_out])


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("HOLOGRAM_JIT", "0")
    assert not jit.available()
    with pytest.raises(hg.NotCompilable, match="HOLOGRAM_JIT=0"):
        hg.launch(hg.assemble("exit"), grid=1, block=1, engine="jit", backend=hg.CpuBackend())


@pytest.mark.parametrize("max_steps", [0, 5, 17, 40, 10**6])
def test_step_limit_matches_vm(max_steps):
    """max_steps: compiled code counts each lane's instructions as the VM does and stops the
    same lowest lane at the same pc (divergent trip counts: lanes hit the limit at different
    points)."""
    prog = hg.assemble(DIVERGENT)

    def make():
        out = np.zeros(64, np.uint32)
        return {"out": out}, [out]
    (vm_out, vm_err), (jit_out, jit_err) = _both(prog, 2, 32, make, max_steps=max_steps)
    assert jit_err == vm_err
    np.testing.assert_array_equal(vm_out[0], jit_out[0])
    if max_steps < 10**6:
        assert vm_err[0] == "StepLimitExceeded"

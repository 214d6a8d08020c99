"""Bad input never crashes and raises the documented exception (ISA.md §7.4-§7.8).

Every error is checked for its exact class, its message and (for lane faults) the lane and pc
fields, and every test checks that the backend is still usable afterwards.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import hologram as hg
from hologram.backend import lane_coords
from hologram.isa import (ENUMS, SPECS, AtomOp, BufferOffset, Cond, DType, Imm, Instruction,
                          PhiCoordinate, RegisterIndirect, RegisterIndirectComputed, Scope, SReg)
from hologram.program import Program

SMALL = hg.assemble("""
    mov.u64 r10, %gid
    mov_imm.u64 r11, 4
    mul.u64 r10, r10, r11
    mov.u32 r12, %lane.x
    mov_imm.u32 r13, 7
    mul.u32 r12, r12, r13
    stg.u32 [r1 + r10], r12
""")


def assert_usable(be) -> None:
    """The backend still runs a kernel correctly (and allocates buffers)."""
    out = np.zeros(6, np.uint32)
    be.execute_program(SMALL, hg.LaunchConfig(2, 3), {"r1": out})
    assert out.tolist() == [0, 7, 14, 0, 7, 14]
    h = be.allocate_buffer(8)
    be.copy_to_buffer(h, np.arange(8, dtype=np.uint8))
    back = np.zeros(8, np.uint8)
    be.copy_from_buffer(h, back)
    assert back.tolist() == list(range(8))
    be.free_buffer(h)


def check_fault(e: hg.ExecutionError, program: Program, grid, block, *, cls, lane: int, pc: int,
                message: str) -> None:
    assert type(e) is cls, (type(e), cls, e)
    assert e.message == message
    assert e.global_lane_id == lane
    assert e.pc == pc
    bidx, lidx = lane_coords(lane, hg.LaunchConfig(grid, block).resolve(program)[0],
                             hg.LaunchConfig(grid, block).resolve(program)[1])
    assert e.block_idx == bidx and e.lane_idx == lidx
    assert e.instruction == str(program[pc])
    text = str(e)
    for part in (message, f"lane {lane}", str(bidx), str(lidx), f"pc {pc}", e.instruction):
        assert part in text, (part, text)


# ---------------------------------------------------------------------------------------------
# Text and JSON

@pytest.mark.parametrize("text, line, column, fragment", [
    ("add.f32 r1, r2", 1, 15, "expected ','"),
    ("\n\n  foo r1, r2", 3, 3, "unknown instruction 'foo'"),
    ("add.f32 r256, r1, r2", 1, 9, "r256"),
    ("add.f32 r1 r2, r3", 1, 12, "expected ','"),
    ("ldg.f32 r1, [r2 + ]", 1, 19, "offset"),
    ("exit extra", 1, 6, "extra"),
    ("  add.f32 r1, r2, p3", 1, 19, "p3"),
    ("mov_imm.u32 r1, -1", 1, 17, "negative"),
    ("\tadd.f33 r1, r2, r3", 1, 2, "add.f33"),
    ("x:\nx: exit", 2, 1, "duplicate label 'x'"),
    ("L: L2: bra @L\n  bogus", 2, 3, "bogus"),
    ("mov_imm.f32 r1, 1.5.5", 1, 20, "'.5'"),
    ("mov_imm.i32 r1, 1.5", 1, 17, ""),
    ("mov_imm.u8 r1, 18446744073709551616", 1, 16, ""),
    ("ldg.f32 r1, [buf1 + 1", 1, 22, ""),
    ("bra @", 1, 5, ""),
    ("mov.u32 r1, %gid", 1, 13, ""),
])
def test_assembly_error_line_and_column(text, line, column, fragment):
    with pytest.raises(hg.AssemblyError) as info:
        hg.assemble(text)
    e = info.value
    assert isinstance(e, hg.ProgramError) and isinstance(e, hg.HologramError)
    assert (e.line, e.column) == (line, column), (e.line, e.column, str(e))
    assert fragment in e.message
    assert f"line {line}, column {column}" in str(e)


@pytest.mark.parametrize("text, fragment", [
    ("bra @nowhere", "undefined label 'nowhere'"),
    ("and.f32 r1, r2, r3", "and"),
    ("setltu.f32 p0, r1, r2", "setltu"),
    ("fma.i32 r1, r2, r3, r4", "fma"),
    ("atom.add.u16 r1, [buf1 + 0], r2", "atom"),
    ("abs.u32 r1, r2", "abs"),
    ("ldg.f32 r1, [Φ(96, 0, 0)]", "Φ"),
    ("ldg.f32 r1, [Φ(0, 48, 0)]", "Φ"),
    ("reduce.add.f32 r250, r250, 7", "r250"),
])
def test_invalid_program_text(text, fragment):
    """Validation failures of assembled text (ISA.md §7.4) are ProgramErrors (AssemblyErrors,
    which carry the position of the offending line)."""
    with pytest.raises(hg.ProgramError) as info:
        hg.assemble(text)
    assert fragment in str(info.value)


GOOD_JSON = {"instructions": [{"ADD": {"ty": "F32", "dst": 1, "src1": 2, "src2": 3}}, "EXIT"],
             "labels": {"end": 2}}


def _json_with(**changes):
    d = json.loads(json.dumps(GOOD_JSON))
    for k, v in changes.items():
        d[k] = v
    return json.dumps(d)


@pytest.mark.parametrize("text", [
    "{", "", "[]", '""', "null", "42", '{"instructions": 5}', b"\xff\xfe",
    _json_with(instructions=[{"ADD": {"ty": "F32", "dst": 1, "src1": 2}}]),
    _json_with(instructions=[{"ADD": {"ty": "F32", "dst": 1, "src1": 2, "src2": 3, "x": 1}}]),
    _json_with(instructions=[{"FOO": {}}]),
    _json_with(instructions=[{"LayerNorm": {}}]),
    _json_with(instructions=[{"Gemm": {}}]),
    _json_with(instructions=[{"ADD": {"ty": "F32", "dst": 1.0, "src1": 2, "src2": 3}}]),
    _json_with(instructions=[{"ADD": {"ty": "F32", "dst": True, "src1": 2, "src2": 3}}]),
    _json_with(instructions=[{"ADD": {"ty": "F32", "dst": 256, "src1": 2, "src2": 3}}]),
    _json_with(instructions=[{"ADD": {"ty": "F32", "dst": -1, "src1": 2, "src2": 3}}]),
    _json_with(instructions=[{"ADD": {"ty": "F99", "dst": 1, "src1": 2, "src2": 3}}]),
    _json_with(instructions=[{"AND": {"ty": "F32", "dst": 1, "src1": 2, "src2": 3}}]),
    _json_with(instructions=[{"MOV_IMM": {"ty": "U64", "dst": 1, "value": 2**64}}]),
    _json_with(instructions=[{"MOV_IMM": {"ty": "U64", "dst": 1, "value": -1}}]),
    _json_with(instructions=[{"MOV_IMM": {"ty": "U64", "dst": 1, "value": 1.0}}]),
    _json_with(instructions=["RET", "NOPE"]),
    _json_with(instructions=[{"BRA": {"target": "x"}}]),
    _json_with(instructions=[{"BRA": {"target": 3}}]),
    _json_with(instructions=[{"ADD": {"ty": "F32", "dst": 1, "src1": 2, "src2": 3}, "SUB": {}}]),
    _json_with(instructions=[{"LDG": {"ty": "F32", "dst": 1, "addr": {"Foo": {}}}}]),
    _json_with(instructions=[{"LDG": {"ty": "F32", "dst": 1, "addr": {
        "PhiCoordinate": {"class": 96, "page": 0, "byte": 0}}}}]),
    _json_with(instructions=[{"LDG": {"ty": "F32", "dst": 1, "addr": {
        "BufferOffset": {"handle": 2**64, "offset": 0}}}}]),
    _json_with(instructions=[{"LDG": {"ty": "F32", "dst": 1, "addr": {
        "RegisterIndirect": {"base": 1, "offset": 2**31}}}}]),
    _json_with(instructions=[{"ReduceAdd": {"ty": "F32", "dst": 1, "src_base": 250, "count": 7}}]),
    _json_with(labels={"end": 3}),
    _json_with(labels={"end": -1}),
    _json_with(labels=[]),
    _json_with(shared_memory=-5),
    _json_with(foo=1),
    '{"instructions": [{"UnityTest": {"dst": 0, "epsilon": NaN}}], "labels": {}}',
])
def test_invalid_json(text):
    with pytest.raises(hg.ProgramError):
        Program.from_json(text)


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from(list("adgmovlstbrpixeu.0123456789,[]+-@:;# \n\tΦ%_()"
                                               "fkcnqwyz")), max_size=80))
def test_random_text_never_crashes(text):
    try:
        prog = hg.assemble(text)
    except hg.AssemblyError as e:
        assert e.line >= 1 and e.column >= 1
        return
    except hg.ProgramError:
        return
    assert hg.assemble(prog.disassemble()) == prog


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**65, 2**65) | st.floats() |
    st.sampled_from(["ADD", "F32", "EXIT", "RET", "LDG", "BufferOffset", "x", "I64", "BRA"]),
    lambda inner: st.lists(inner, max_size=4) |
    st.dictionaries(st.sampled_from(["instructions", "labels", "ty", "dst", "src1", "src2",
                                     "ADD", "LDG", "addr", "handle", "offset", "target",
                                     "pred", "name", "block", "shared_memory", "BRA",
                                     "BufferOffset", "MOV_IMM", "value"]), inner, max_size=5),
    max_leaves=20)


@settings(max_examples=200)
@given(_json_values)
def test_random_json_never_crashes(value):
    try:
        text = json.dumps(value)
    except ValueError:
        return
    try:
        prog = Program.from_json(text)
    except hg.ProgramError:
        return
    assert Program.from_json(prog.to_json()) == prog


# ---------------------------------------------------------------------------------------------
# Lane faults: class, message, lane, pc, and the backend afterwards

F32x4 = lambda: {"r1": np.zeros(4, np.float32)}          # noqa: E731   buffer 1: 16 bytes

FAULTS = [
    # (name, text, params, shared, cls, pc, message)
    ("oob", "ldg.f32 r2, [r1 + 16]", F32x4, 0, hg.OutOfBounds, 0,
     "out of bounds: 4 bytes at offset 16 of buffer 1 (size 16)"),
    ("oob_computed", "mov_imm.u64 r2, 13\nldg.u32 r3, [r1 + r2]", F32x4, 0, hg.OutOfBounds, 1,
     "out of bounds: 4 bytes at offset 13 of buffer 1 (size 16)"),
    ("oob_negative", "ldg.u8 r2, [r1 - 1]", F32x4, 0, hg.OutOfBounds, 0,
     "out of bounds: 1 bytes at offset 18446744073709551615 (-1) of buffer 1 (size 16)"),
    ("oob_wrap", "mov_imm.u64 r2, 18446744073709551614\nldg.u32 r3, [r1 + r2]", F32x4, 0,
     hg.OutOfBounds, 1,
     "out of bounds: 4 bytes at offset 18446744073709551614 (-2) of buffer 1 (size 16)"),
    ("oob_store", "mov_imm.u64 r2, 12\nstg.u64 [r1 + r2], r2", F32x4, 0, hg.OutOfBounds, 1,
     "out of bounds: 8 bytes at offset 12 of buffer 1 (size 16)"),
    ("oob_boundary", "ldg.u64 r2, [buf0 + 1179644]", dict, 0, hg.OutOfBounds, 0,
     "out of bounds: 8 bytes at offset 1179644 of buffer 0 (size 1179648)"),
    ("oob_phi", "ldg.u64 r2, [Φ(95, 47, 250)]", dict, 0, hg.OutOfBounds, 0,
     "out of bounds: 8 bytes at offset 1179642 of buffer 0 (size 1179648)"),
    ("oob_class_window",
     "mov_imm.u64 r3, 18446744073709551615\nmov_imm.u64 r4, 12285\nldg.u32 r2, [r3 + r4]",
     dict, 0, hg.OutOfBounds, 2,
     "out of bounds: 4 bytes at offset 12285 of buffer 18446744073709551615 (size 12288)"),
    ("bad_handle", "ldg.u32 r2, [buf7 + 0]", F32x4, 0, hg.InvalidHandle, 0,
     "invalid buffer handle: 7"),
    ("bad_handle_reg", "mov_imm.u64 r5, 18446744073709551519\nstg.u64 [r5 + 0], r5", dict, 0,
     hg.InvalidHandle, 1, "invalid buffer handle: 18446744073709551519"),
    ("shared_oob", "lds.u32 r2, [buf0 + 14]", dict, 16, hg.SharedOutOfBounds, 0,
     "shared memory out of bounds: 4 bytes at offset 14 (size 16)"),
    ("shared_none", "mov_imm.u8 r1, 1\nsts.u8 [buf9 + 0], r1", dict, 0, hg.SharedOutOfBounds, 1,
     "shared memory out of bounds: 1 bytes at offset 0 (size 0)"),
    ("misaligned", "mov_imm.u32 r3, 1\natom.add.u32 r2, [r1 + 2], r3", F32x4, 0, hg.Misaligned,
     1, "misaligned atomic: 4 bytes at offset 2 of buffer 1"),
    ("misaligned_cas", "mov_imm.u64 r3, 1\natom.cas.u64 r2, [r1 + 4], r3, r3", F32x4, 0,
     hg.Misaligned, 1, "misaligned atomic: 8 bytes at offset 4 of buffer 1"),
    ("misaligned_shared", "mov_imm.i64 r3, 1\natoms.max.i64 r2, [buf0 + 4], r3", dict, 16,
     hg.Misaligned, 1, "misaligned atomic: 8 bytes at offset 4 of shared memory"),
    ("atomic_bounds_first", "mov_imm.u32 r3, 1\natom.add.u32 r2, [r1 + 18], r3", F32x4, 0,
     hg.OutOfBounds, 1, "out of bounds: 4 bytes at offset 18 of buffer 1 (size 16)"),
    ("type_mismatch", "mov_imm.i32 r1, 5\nadd.f32 r2, r1, r1", dict, 0, hg.TypeMismatch, 1,
     "type mismatch: r1: expected f32, got i32"),
    ("shift_amount_u32", "mov_imm.u64 r1, 1\nshl.u64 r2, r1, r1", dict, 0, hg.TypeMismatch, 1,
     "type mismatch: r1: expected u32, got u64"),
    ("handle_u64", "mov_imm.u32 r5, 1\nldg.u32 r2, [r5 + 0]", dict, 0, hg.TypeMismatch, 1,
     "type mismatch: r5: expected u64, got u32"),
    ("loop_u32", "mov_imm.i32 r1, 3\nL: loop r1, @L", dict, 0, hg.TypeMismatch, 1,
     "type mismatch: r1: expected u32, got i32"),
    ("no_widening", "mov_imm.u32 r1, 3\ncvt.f32.u64 r2, r1", dict, 0, hg.TypeMismatch, 1,
     "type mismatch: r1: expected u64, got u32"),
    ("uninit", "add.u32 r2, r7, r7", dict, 0, hg.UninitializedRegister, 0,
     "uninitialized register: r7"),
    ("read_order_uninit_first", "mov_imm.f64 r8, 1.0\nadd.u32 r2, r7, r8", dict, 0,
     hg.UninitializedRegister, 1, "uninitialized register: r7"),
    ("read_order_mismatch_first", "mov_imm.f32 r1, 1.0\nadd.u32 r2, r1, r9", dict, 0,
     hg.TypeMismatch, 1, "type mismatch: r1: expected u32, got f32"),
    ("uninit_addr", "ldg.u32 r2, [r30 + r31]", dict, 0, hg.UninitializedRegister, 0,
     "uninitialized register: r30"),
    ("uninit_pred", "bra.p3 @x\nx: exit", dict, 0, hg.UninitializedPredicate, 0,
     "uninitialized predicate: p3"),
    ("uninit_pred_sel", "mov_imm.u8 r1, 1\nsel.u8 r2, p15, r1, r1", dict, 0,
     hg.UninitializedPredicate, 1, "uninitialized predicate: p15"),
    ("div0", "mov_imm.i32 r1, 7\nmov_imm.i32 r2, 0\ndiv.i32 r3, r1, r2", dict, 0,
     hg.DivisionByZero, 2, "division by zero"),
    ("rem0", "mov_imm.u8 r1, 7\nmov_imm.u8 r2, 0\nrem.u8 r3, r1, r2", dict, 0,
     hg.DivisionByZero, 2, "division by zero"),
    ("overflow", "f: call @f", dict, 0, hg.CallStackOverflow, 0,
     "call stack overflow (depth 256)"),
    ("underflow", "call @f\nret\nf: ret", dict, 0, hg.CallStackUnderflow, 1,
     "call stack underflow"),
    ("underflow_no_call", "ret", dict, 0, hg.CallStackUnderflow, 0, "call stack underflow"),
    ("bad_class", "mov_imm.u8 r1, 96\nmirror r2, r1", dict, 0, hg.InvalidCoordinate, 1,
     "invalid coordinate: class 96"),
    ("bad_class_nbr", "mov_imm.u8 r1, 255\nnbr.count r2, r1", dict, 0, hg.InvalidCoordinate, 1,
     "invalid coordinate: class 255"),
    ("bad_page", "mov_imm.u8 r1, 3\nmov_imm.u8 r2, 48\nbound.map r3, r1, r2, r1", dict, 0,
     hg.InvalidCoordinate, 2, "invalid coordinate: page 48"),
    ("bad_class_res", "mov_imm.u8 r1, 100\nmov_imm.f64 r2, 1.0\nres.accum r1, r2", dict, 0,
     hg.InvalidCoordinate, 2, "invalid coordinate: class 100"),
    ("alloc_failed", "pool.alloc r1, 18446744073709551615", dict, 0, hg.AllocationFailed, 0,
     "pool allocation of 18446744073709551615 bytes failed"),
    ("pool_free_unknown", "mov_imm.u64 r1, 77\npool.free r1", dict, 0, hg.InvalidHandle, 1,
     "invalid pool id: 77"),
    ("pool_free_boundary", "mov_imm.u64 r1, 0\npool.free r1", dict, 0, hg.InvalidHandle, 1,
     "invalid pool id: 0"),
    ("pool_double_free", "pool.alloc r1, 8\npool.free r1\npool.free r1", dict, 0,
     hg.InvalidHandle, 2, "invalid pool id: 1"),
    ("pool_oob", "pool.alloc r1, 8\nmov_imm.u64 r2, 5\npool.load.u32 r3, r1, r2", dict, 0,
     hg.OutOfBounds, 2, "out of bounds: 4 bytes at offset 5 of pool 1 (size 8)"),
    ("pool_unknown_load", "mov_imm.u64 r1, 5\npool.load.u32 r3, r1, r1", dict, 0,
     hg.InvalidHandle, 1, "invalid pool id: 5"),
]


@pytest.mark.parametrize("name, text, params, shared, cls, pc, message", FAULTS,
                         ids=[f[0] for f in FAULTS])
def test_lane_fault(backend, name, text, params, shared, cls, pc, message):
    prog = hg.assemble(text)
    with pytest.raises(cls) as info:
        backend.execute_program(prog, hg.LaunchConfig(1, 1, shared), params())
    check_fault(info.value, prog, 1, 1, cls=cls, lane=0, pc=pc, message=message)
    assert isinstance(info.value, hg.ExecutionError) and isinstance(info.value, hg.HologramError)
    assert_usable(backend)


def test_fault_in_later_lane_reports_its_coordinates(backend):
    """Lane (2, 1, 0) of block (1, 1, 0) of grid (2, 2) with blocks (3, 2) faults."""
    prog = hg.assemble("""
        mov.u64 r1, %gid
        mov_imm.u64 r2, 16
        setne.u64 p0, r1, r2
        bra.p0 @ok
        mov_imm.u32 r3, 0
        div.u32 r4, r3, r3
    ok:
        exit
    """)
    with pytest.raises(hg.DivisionByZero) as info:
        backend.execute_program(prog, hg.LaunchConfig((2, 2), (3, 2)))
    # block (1, 0) has linear index 1 -> lanes 6..11; block (0, 1) -> 12..17: gid 16 is lane 4
    # of block (0, 1, 0), i.e. lane (1, 1, 0)
    check_fault(info.value, prog, (2, 2), (3, 2), cls=hg.DivisionByZero, lane=16, pc=5,
                message="division by zero")
    assert info.value.block_idx == (0, 1, 0) and info.value.lane_idx == (1, 1, 0)
    assert_usable(backend)


def test_faulting_instruction_has_no_effect_and_earlier_stores_stay(backend):
    out = np.zeros(4, np.uint32)
    prog = hg.assemble("""
        mov_imm.u32 r2, 11
        stg.u32 [r1 + 0], r2          ; visible: stores before a fault are not rolled back
        mov_imm.u64 r3, 12
        mov_imm.u64 r4, 0xAAAAAAAAAAAAAAAA
        stg.u64 [r1 + r3], r4         ; 8 bytes at 12 of 16: faults, writes nothing
    """)
    with pytest.raises(hg.OutOfBounds):
        backend.execute_program(prog, None, {"r1": out})
    assert out.tolist() == [11, 0, 0, 0]
    assert_usable(backend)


def test_step_limit(backend):
    prog = hg.assemble("""
        mov_imm.u32 r1, 1
    L:  bra @L
    """)
    with pytest.raises(hg.StepLimitExceeded) as info:
        backend.execute_program(prog, hg.LaunchConfig(2, 3), max_steps=1000)
    check_fault(info.value, prog, 2, 3, cls=hg.StepLimitExceeded, lane=0, pc=1,
                message="step limit exceeded (max_steps=1000)")
    with pytest.raises(hg.StepLimitExceeded) as info:
        backend.execute_program(prog, None, max_steps=0)
    assert info.value.pc == 0 and info.value.message == "step limit exceeded (max_steps=0)"
    # exactly enough steps: no fault
    backend.execute_program(hg.assemble("mov_imm.u32 r1, 1\nexit"), None, max_steps=2)
    with pytest.raises(hg.StepLimitExceeded):
        backend.execute_program(hg.assemble("mov_imm.u32 r1, 1\nexit"), None, max_steps=1)
    backend.execute_program(hg.assemble("mov_imm.u32 r1, 1"), None, max_steps=1)  # runs off
    assert_usable(backend)


def test_barrier_divergence(backend):
    prog = hg.assemble("""
        mov.u32 r1, %lane.x
        mov_imm.u32 r2, 1
        setlt.u32 p0, r1, r2
        bra.p0 @zero
        bar.sync 1
        exit
    zero:
        bar.sync 0
    """)
    with pytest.raises(hg.BarrierDivergence) as info:
        backend.execute_program(prog, hg.LaunchConfig(2, 4))
    check_fault(info.value, prog, 2, 4, cls=hg.BarrierDivergence, lane=0, pc=6,
                message="barrier divergence: lanes of the block wait at different barrier ids")
    assert_usable(backend)


def test_freed_and_unbound_handles(backend):
    h = backend.allocate_buffer(16)
    prog = hg.assemble(f"mov_imm.u32 r1, 5\nstg.u32 [buf{h} + 4], r1")
    backend.execute_program(prog)
    view = np.zeros(16, np.uint8)
    backend.copy_from_buffer(h, view)
    assert view.view(np.uint32).tolist() == [0, 5, 0, 0]
    backend.free_buffer(h)
    with pytest.raises(hg.InvalidHandle) as info:
        backend.execute_program(prog)
    assert info.value.message == f"invalid buffer handle: {h}" and info.value.pc == 1
    # a parameter's handle is invalid after its launch
    arr = np.zeros(4, np.uint32)
    backend.execute_program(SMALL, hg.LaunchConfig(1, 1), {"r1": arr})
    param_handle = h + 1
    with pytest.raises(hg.InvalidHandle):
        backend.execute_program(hg.assemble(f"ldg.u32 r2, [buf{param_handle} + 0]"))
    assert_usable(backend)


# ---------------------------------------------------------------------------------------------
# Host operations

def _host_error(e: hg.ExecutionError) -> None:
    assert (e.block_idx, e.lane_idx, e.global_lane_id, e.pc, e.instruction) == (None,) * 5
    assert str(e) == e.message


def test_host_operation_errors(backend):
    h = backend.allocate_buffer(16)
    cases = [
        (lambda: backend.free_buffer(0), hg.InvalidHandle, "invalid buffer handle: 0"),
        (lambda: backend.free_buffer(2**64 - 96), hg.InvalidHandle,
         "invalid buffer handle: 18446744073709551520"),
        (lambda: backend.free_buffer(99), hg.InvalidHandle, "invalid buffer handle: 99"),
        (lambda: backend.free_buffer(-1), hg.InvalidHandle, None),
        (lambda: backend.copy_to_buffer(h, np.zeros(17, np.uint8)), hg.OutOfBounds,
         "out of bounds: 17 bytes at offset 0 of buffer 1 (size 16)"),
        (lambda: backend.copy_to_buffer(h, np.zeros(8, np.uint8), offset=9), hg.OutOfBounds,
         "out of bounds: 8 bytes at offset 9 of buffer 1 (size 16)"),
        (lambda: backend.copy_to_buffer(h, b"x", offset=-1), hg.OutOfBounds, None),
        (lambda: backend.copy_from_buffer(h, np.zeros(4, np.uint8), offset=13), hg.OutOfBounds,
         "out of bounds: 4 bytes at offset 13 of buffer 1 (size 16)"),
        (lambda: backend.copy_from_buffer(99, np.zeros(4, np.uint8)), hg.InvalidHandle,
         "invalid buffer handle: 99"),
        (lambda: backend.copy_to_buffer(0, b"x", offset=1179648), hg.OutOfBounds, None),
        (lambda: backend.copy_to_buffer(2**64 - 1, b"x" * 12289), hg.OutOfBounds, None),
        (lambda: backend.free_pool(0), hg.InvalidHandle, "invalid pool id: 0"),
        (lambda: backend.free_pool(5), hg.InvalidHandle, "invalid pool id: 5"),
        (lambda: backend.copy_to_pool(0, b"12", offset=1179647), hg.OutOfBounds, None),
        (lambda: backend.copy_from_pool(7, bytearray(1)), hg.InvalidHandle, None),
    ]
    for fn, cls, message in cases:
        with pytest.raises(cls) as info:
            fn()
        assert type(info.value) is cls
        _host_error(info.value)
        if message is not None:
            assert info.value.message == message
    backend.copy_to_buffer(2**64 - 1, b"x" * 12288)          # a whole class window: fine
    backend.copy_to_buffer(0, b"y", offset=1179647)          # last byte of the boundary pool
    for bad in (-1, 1.5, "8", True):
        with pytest.raises(ValueError):
            backend.allocate_buffer(bad)
        with pytest.raises(ValueError):
            backend.allocate_pool(bad)
    with pytest.raises(hg.AllocationFailed) as info:
        backend.allocate_buffer(2**62)
    assert isinstance(info.value, MemoryError)
    _host_error(info.value)
    with pytest.raises(hg.AllocationFailed):
        backend.allocate_pool(2**62)
    with pytest.raises(hg.HologramError):
        backend.copy_from_buffer(h, b"read-only")
    p = backend.allocate_pool(8)
    with pytest.raises(hg.OutOfBounds) as info:
        backend.copy_to_pool(p, b"123456789")
    assert info.value.message == f"out of bounds: 9 bytes at offset 0 of pool {p} (size 8)"
    backend.free_pool(p)
    for fn in (lambda: backend.free_pool(p), lambda: backend.copy_to_pool(p, b"1")):
        with pytest.raises(hg.InvalidHandle):
            fn()
    backend.free_buffer(h)
    for fn in (lambda: backend.free_buffer(h), lambda: backend.buffer_view(h),
               lambda: backend.copy_to_buffer(h, b"1"), lambda: backend.buffer_size(h)):
        with pytest.raises(hg.InvalidHandle):
            fn()
    assert backend.allocate_buffer(1) == h + 1                # handles are never reused
    with pytest.raises(TypeError):
        backend.execute_program("exit")
    assert_usable(backend)


# ---------------------------------------------------------------------------------------------
# Launch configurations and parameters

EXIT = hg.assemble("exit")


@pytest.mark.parametrize("grid, block, shared", [
    (2**31, 1, None), ((1, 2**31), 1, None), ((1, 1, 2**31), 1, None), (-1, 1, None),
    (1.5, 1, None), ("2", 1, None), ((1, 2, 3, 4), 1, None), (True, 1, None), ((), 1, None),
    (1, 0, None), (1, 1025, None), (1, (32, 33), None), (1, (1, 1, 0), None), (1, -3, None),
    (1, 2.0, None), (1, (2, None), None), (1, (1024, 2), None),
    (1, 1, 2**26 + 1), (1, 1, -1), (1, 1, 1.0), (1, 1, True), (1, 1, "16"),
    ((2**31 - 1, 2**31 - 1, 2**31 - 1), 1024, None),     # >= 2^63 lanes
    ((2**31 - 1, 2**31 - 1, 2), 1024, None),
])
def test_invalid_launch_config(backend, grid, block, shared):
    with pytest.raises(hg.LaunchConfigError) as info:
        backend.execute_program(EXIT, hg.LaunchConfig(grid, block, shared))
    assert isinstance(info.value, ValueError) and isinstance(info.value, hg.HologramError)
    with pytest.raises(hg.LaunchConfigError):
        hg.launch(EXIT, grid, block, shared_memory=shared, backend=backend)
    assert_usable(backend)


def test_launch_config_limits_are_inclusive(backend):
    backend.execute_program(EXIT, hg.LaunchConfig(0, 1))                    # launches nothing
    backend.execute_program(EXIT, hg.LaunchConfig((2**31 - 1, 0), 1))
    backend.execute_program(EXIT, hg.LaunchConfig(1, (1024,)))
    backend.execute_program(EXIT, hg.LaunchConfig(1, (4, 16, 16)))
    backend.execute_program(EXIT, hg.LaunchConfig(1, 1, 2**26))
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(hg.LaunchConfigError):
            backend.execute_program(EXIT, None, max_steps=bad)
    with pytest.raises(hg.LaunchConfigError):
        backend.execute_program(EXIT, [1, 1])
    with pytest.raises(hg.LaunchConfigError):
        hg.LaunchConfig.linear(-1)
    with pytest.raises(hg.LaunchConfigError):
        hg.LaunchConfig.linear(10, 0)
    assert_usable(backend)


@pytest.mark.parametrize("params", [
    {"r1": 5}, {"r1": 1.5}, {"r1": True}, {"r1": 1 + 2j},
    {"r1": np.zeros(10, np.float32)[::2]}, {"r1": np.zeros((3, 4), order="F")},
    {"r1": memoryview(bytearray(8))[::2]},
    {"r1": ("u33", 1)}, {"r1": ("float", 1.0)}, {"r1": (12, 1)},
    {"r1": ("u8", 256)}, {"r1": ("i8", -129)}, {"r1": ("u32", -1)}, {"r1": ("u64", 2**64)},
    {"r1": ("i64", 2**63)}, {"r1": ("u32", 1.5)}, {"r1": ("u32", True)}, {"r1": ("f32", "1")},
    {"r1": ("u32",)}, {"r1": ("u32", 1, 2)},
    {256: ("u32", 1)}, {-1: ("u32", 1)}, {"r256": ("u32", 1)}, {"x5": ("u32", 1)},
    {"r": ("u32", 1)}, {"r-1": ("u32", 1)}, {"5": ("u32", 1)}, {5.0: ("u32", 1)},
    {True: ("u32", 1)}, {"r5": ("u32", 1), 5: ("u32", 2)},
    {"r1": "abc"}, {"r1": None}, {"r1": {}}, {"r1": np.complex64(1)}, {"r1": np.bool_(True)},
    [("r1", ("u32", 1))],
])
def test_invalid_params(backend, params):
    with pytest.raises(hg.LaunchConfigError) as info:
        backend.execute_program(EXIT, None, params)
    assert isinstance(info.value, ValueError)
    assert_usable(backend)


def test_non_integer_register_keys_are_rejected_after_integer_keys(backend):
    """5.0 == 5 (and hashes alike): a cache of accepted keys must not let 5.0 through."""
    backend.execute_program(EXIT, None, {5: ("u32", 1), "r6": ("u32", 1)})
    for key in (5.0, np.float64(5.0), 5 + 0j):
        with pytest.raises(hg.LaunchConfigError):
            backend.execute_program(EXIT, None, {key: ("u32", 1)})


def test_read_only_parameter_is_copied_not_written(backend):
    arr = np.zeros(4, np.uint32)
    arr.flags.writeable = False
    backend.execute_program(SMALL, hg.LaunchConfig(1, 4), {"r1": arr})
    assert arr.tolist() == [0, 0, 0, 0]
    data = bytes(16)
    backend.execute_program(SMALL, hg.LaunchConfig(1, 4), {"r1": data})
    assert data == bytes(16)
    assert_usable(backend)


# ---------------------------------------------------------------------------------------------
# Lowest faulting lane: deterministic whatever the thread count and the engine

FAULT_BY_KIND = """
    mov.u64 r1, %gid
    ldg.u8 r2, [r10 + r1]          ; kind of this lane
    mov_imm.u8 r3, 0
    seteq.u8 p0, r2, r3
    bra.p0 @done
    mov_imm.u8 r3, 1
    seteq.u8 p1, r2, r3
    bra.p1 @late
    mov_imm.u32 r4, 0              ; kind 2: faults at once
    div.u32 r5, r4, r4
late:                              ; kind 1: faults after a long loop
    mov_imm.u32 r6, 2000
spin:
    loop r6, @spin
    ldg.u32 r7, [r10 - 4]
done:
    mov.u64 r8, %gid
    mov_imm.u64 r9, 4
    mul.u64 r8, r8, r9
    cvt.u32.u64 r12, r1
    stg.u32 [r11 + r8], r12
"""


def _run_kinds(backend, kinds: np.ndarray, grid, block, num_threads=None):
    prog = hg.assemble(FAULT_BY_KIND)
    out = np.zeros(kinds.size, np.uint32)
    with pytest.raises(hg.ExecutionError) as info:
        backend.execute_program(prog, hg.LaunchConfig(grid, block),
                                {"r10": kinds, "r11": out}, num_threads=num_threads)
    return prog, info.value


@pytest.mark.parametrize("engine, num_threads", [("vm", 1), ("vm", 2), ("vm", 4),
                                                 ("reference", None)])
def test_lowest_faulting_lane_in_one_grid(engine, num_threads):
    kinds = np.zeros(1024, np.uint8)
    kinds[900] = 2                    # faults first in time (no loop)
    kinds[456] = 2
    kinds[123] = 1                    # lowest: faults last, after 2000 loop iterations
    be = hg.CpuBackend() if engine == "vm" else hg.ReferenceBackend()
    shapes = ((1, 1024), (4, 256), ((2, 2), (16, 16)), (32, 32), ((2, 2, 2), (8, 4, 4)))
    for i, (grid, block) in enumerate(shapes):
        prog, e = _run_kinds(be, kinds, grid, block, num_threads)
        handle = 2 * i + 1            # r10 then r11 get fresh handles at every launch
        check_fault(e, prog, grid, block, cls=hg.OutOfBounds, lane=123, pc=12,
                    message="out of bounds: 4 bytes at offset 18446744073709551612 (-4) of "
                            f"buffer {handle} (size 1024)")
    assert_usable(be)


@pytest.mark.parametrize("engine, num_threads", [("vm", 1), ("vm", 2), ("vm", 4),
                                                 ("reference", None)])
def test_lowest_faulting_lane_across_blocks(engine, num_threads):
    """A fault in block 7 (early in time) and one in block 3 (late): block 3's lane."""
    kinds = np.zeros(8 * 32, np.uint8)
    kinds[7 * 32 + 1] = 2
    kinds[3 * 32 + 30] = 1
    kinds[5 * 32 + 0] = 2
    be = hg.CpuBackend() if engine == "vm" else hg.ReferenceBackend()
    for _ in range(3):
        prog, e = _run_kinds(be, kinds, 8, 32, num_threads)
        assert type(e) is hg.OutOfBounds
        assert e.global_lane_id == 3 * 32 + 30
        assert e.block_idx == (3, 0, 0) and e.lane_idx == (30, 0, 0) and e.pc == 12
    kinds[3 * 32 + 30] = 0
    prog, e = _run_kinds(be, kinds, 8, 32, num_threads)
    check_fault(e, prog, 8, 32, cls=hg.DivisionByZero, lane=5 * 32, pc=9,
                message="division by zero")
    assert_usable(be)


# ---------------------------------------------------------------------------------------------
# Random programs (valid or not at run time) never crash, and both engines agree

_REGS = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 252, 253, 254, 255])
_TYPES = st.sampled_from(list(DType))


def _address(draw):
    mode = draw(st.integers(0, 3))
    if mode == 0:
        return BufferOffset(draw(st.sampled_from([0, 1, 2, 3, 9, 2**64 - 1, 2**64 - 96])),
                            draw(st.sampled_from([0, 1, 4, 8, 13, 31, 32, 1179640, 2**63])))
    if mode == 1:
        return PhiCoordinate(draw(st.integers(0, 95)), draw(st.integers(0, 47)),
                             draw(st.integers(0, 255)))
    if mode == 2:
        return RegisterIndirect(draw(_REGS),
                                draw(st.sampled_from([0, 4, 7, 16, -1, -8, 2**31 - 1])))
    return RegisterIndirectComputed(draw(_REGS), draw(_REGS), draw(st.sampled_from([1, 2, 4, 8])),
                                    draw(st.sampled_from([0, 0, 4, -4, -2**31, 2**31 - 1])))


@st.composite
def random_instruction(draw):
    spec = draw(st.sampled_from(SPECS))
    fields = {}
    for f in spec.fields:
        k = f.kind
        if k == "type":
            fields[f.name] = draw(st.sampled_from(sorted(spec.types))) if f.name == "ty" \
                else draw(_TYPES)
        elif k == "reg":
            fields[f.name] = draw(_REGS) if f.role != "range" else draw(st.integers(0, 6))
        elif k == "regimm":              # a register or an immediate (ISA 1.1 §12.1)
            fields[f.name] = draw(_REGS | st.builds(Imm, st.sampled_from(
                [0, 1, 2, 31, 32, 0x3F800000, 2**32 - 1])))
        elif k == "flag":                # bra.!pN, sel !pN: only with a predicate
            fields[f.name] = fields.get("pred") is not None and draw(st.booleans())
        elif k in ("pred", "optpred"):
            fields[f.name] = draw(st.integers(0, 3) | st.none()) if k == "optpred" \
                else draw(st.integers(0, 3))
        elif k == "label":
            fields[f.name] = draw(st.sampled_from(["a", "b", "c"]))
        elif k == "imm":
            fields[f.name] = draw(st.sampled_from([0, 1, 2, 3, 7, 255, 2**31, 2**63, 2**64 - 1,
                                                   0x3F800000, 0x7FC00000]))
        elif k == "u8":
            fields[f.name] = draw(st.integers(0, 255))
        elif k == "u16":
            fields[f.name] = draw(st.integers(0, 800))
        elif k == "u32":
            fields[f.name] = draw(st.integers(0, 5))
        elif k == "u64":
            fields[f.name] = draw(st.sampled_from([0, 1, 8, 64, 2**63, 2**64 - 1]))
        elif k == "f64":
            fields[f.name] = draw(st.floats())
        elif k == "cond":
            fields[f.name] = draw(st.sampled_from(list(Cond)))
        elif k == "scope":
            fields[f.name] = draw(st.sampled_from(list(Scope)))
        elif k == "sreg":
            fields[f.name] = draw(st.sampled_from(list(SReg)))
        elif k in ("shflmode", "votemode"):
            fields[f.name] = draw(st.sampled_from(list(ENUMS[k])))
        elif k == "atomop":
            fields[f.name] = draw(st.sampled_from(list(AtomOp)))
        elif k in ("gaddr", "saddr"):
            fields[f.name] = _address(draw)
        else:
            raise AssertionError(k)
    try:
        return Instruction(spec.variant, **fields)
    except hg.ProgramError:
        return Instruction("EXIT")


@st.composite
def random_programs(draw):
    inits = [Instruction("MOV_IMM", ty=draw(_TYPES), dst=draw(_REGS),
                         value=draw(st.sampled_from([0, 1, 2, 5, 8, 96, 2**64 - 1, 0x40490FDB])))
             for _ in range(draw(st.integers(0, 4)))]
    body = draw(st.lists(random_instruction(), min_size=1, max_size=10))
    ins = inits + body
    labels = {name: draw(st.integers(0, len(ins))) for name in ("a", "b", "c")}
    try:
        return Program(ins, labels)
    except hg.ProgramError:
        assume(False)


def _outcome(be, prog, grid, block, shared, num_threads=None):
    buf = np.arange(32, dtype=np.uint8)
    try:
        be.execute_program(prog, hg.LaunchConfig(grid, block, shared),
                           {"r1": buf, "r2": ("u32", 5), "r3": ("f32", 1.5)}, max_steps=300,
                           num_threads=num_threads)
        return None
    except hg.ExecutionError as e:
        assert not isinstance(e, hg.Interrupted)
        return (type(e).__name__, e.global_lane_id, e.pc, e.message, str(e))


@settings(max_examples=300)
@given(random_programs(), st.integers(0, 64))
def test_random_programs_never_crash(prog, shared):
    """One lane: the engines must agree exactly (no races are possible)."""
    ref = _outcome(hg.ReferenceBackend(), prog, 1, 1, shared)
    for nt in (1, 2):
        vm = _outcome(hg.CpuBackend(num_threads=nt), prog, 1, 1, shared)
        assert vm == ref, (vm, ref, prog.disassemble())
    # several blocks and lanes (memory may race; only check nothing worse than an
    # ExecutionError happens, and the backend survives)
    be = hg.CpuBackend(num_threads=2)
    _outcome(be, prog, 3, (2, 2), shared)
    _outcome(be, prog, 2, 5, shared)
    assert_usable(be)

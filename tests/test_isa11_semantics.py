"""ISA 1.1 (ISA.md §12) semantics against hand-computed expectations, on every engine.

§12.1 immediates, §12.2 addressing (with the §12.2.3 change of shared ``[rB ± D]``), §12.3
predicate logic, §12.5 math and the register-naming fault messages of §12.6. Warp collectives are in test_isa11_warp.py, parameter declarations in test_isa11_params.py.
Expected values are literals worked out from the spec (float results as bit patterns);
nothing recomputes them with code that mirrors an engine.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import hologram as hg
from helpers import as_bits, run_snippet

def run(backend, body, outs, **kw):
    """One lane; floats come back as bit patterns, predicates as bools."""
    return [as_bits(v) for v in run_snippet(backend, {}, body, outs, **kw)]


def run1(backend, body, out, **kw):
    return run(backend, body, [out], **kw)[0]


def fault(backend, body, cls, **kw):
    with pytest.raises(cls) as ei:
        run_snippet(backend, {}, body, [], **kw)
    return ei.value


F32_ONE, F32_TWO, F32_THREE = 0x3F800000, 0x40000000, 0x40400000


def f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


# --------------------------------------------------------------------------------------------
# §12.1 immediate operands

@pytest.mark.parametrize("body, out, want", [
    ("mov_imm.u64 r1, 10\nadd.u64 r1, r1, 4", ("r1", "u64"), 14),
    ("mov_imm.i32 r5, 7\nsub.i32 r5, r5, -1", ("r5", "i32"), 8),
    ("mov_imm.u32 r4, 0x1234\nand.u32 r4, r4, 0xff", ("r4", "u32"), 0x34),
    ("mov_imm.u16 r4, 0x00F0\nor.u16 r4, r4, 0x0F00", ("r4", "u16"), 0x0FF0),
    ("mov_imm.i64 r4, 5\nxor.i64 r4, r4, -1", ("r4", "i64"), -6),
    ("mov_imm.u32 r4, 7\nmul.u32 r4, r4, 6", ("r4", "u32"), 42),
    ("mov_imm.i32 r4, -7\ndiv.i32 r4, r4, 2", ("r4", "i32"), -3),
    ("mov_imm.i32 r4, 7\nrem.i32 r4, r4, -3", ("r4", "i32"), 1),
    ("mov_imm.i8 r4, 3\nmin.i8 r4, r4, -5", ("r4", "i8"), -5),
    # the rules of mov_imm: 300 keeps its low 8 bits (44)
    ("mov_imm.u8 r4, 10\nmax.u8 r4, r4, 300", ("r4", "u8"), 44),
    # integers wrap as with a register operand
    ("mov_imm.u8 r4, 250\nadd.u8 r4, r4, 10", ("r4", "u8"), 4),
    ("mov_imm.i32 r4, 2147483647\nadd.i32 r4, r4, 1", ("r4", "i32"), -2147483648),
    # float types: a decimal integer means its value, 0x… a bit pattern
    ("mov_imm.f32 r2, 1.5\nmul.f32 r2, r2, 2", ("r2", "f32"), F32_THREE),
    ("mov_imm.f32 r2, 1.5\nmul.f32 r2, r2, 0x40000000", ("r2", "f32"), F32_THREE),
    ("mov_imm.f32 r2, 1.0\nadd.f32 r2, r2, -3", ("r2", "f32"), f32(-2.0)),
    ("mov_imm.f32 r2, 1.0\nmul.f32 r2, r2, 0.5", ("r2", "f32"), f32(0.5)),
    ("mov_imm.f64 r2, 16.0\npow.f64 r2, r2, 0.5", ("r2", "f64"), f64(4.0)),
    ("mov_imm.f64 r2, 1.0\ndiv.f64 r2, r2, 0", ("r2", "f64"), 0x7FF0000000000000),   # IEEE
    ("mov_imm.f16 r2, 1.0\nadd.f16 r2, r2, 1", ("r2", "f16"), 0x4000),        # 1 + 1 = 2
    ("mov_imm.bf16 r2, 1.5\nmul.bf16 r2, r2, 3", ("r2", "bf16"), 0x4090),     # 4.5
    ("mov_imm.f32 r2, 1.0\nmin.f32 r2, r2, nan", ("r2", "f32"), F32_ONE),     # NaN ignored
    ("mov_imm.f32 r2, -1.0\nmax.f32 r2, r2, -inf", ("r2", "f32"), f32(-1.0)),
])
def test_immediate_last_operand(backend, body, out, want):
    assert run1(backend, body, out) == want


def test_immediate_shift_amounts_and_compares(backend):
    got = run(backend, """
        mov_imm.u64 r1, 3
        shl.u64 r2, r1, 2              ; 12
        shl.u64 r3, r1, 65             ; amount mod 64 = 1: 6
        mov_imm.i16 r4, -64
        shr.i16 r5, r4, 3              ; arithmetic: -8
        mov_imm.f32 r6, 0.0
        setlt.f32 p0, r6, 1e-6         ; 0 < 1e-6
        mov_imm.f32 r7, 1.0
        setlt.f32 p1, r7, 1e-6
        setne.f32 p2, r7, nan          ; NaN: NE is true
        mov_imm.u32 r8, 0xFFFFFFFF
        setgtu.u32 p3, r8, 0
        mov_imm.i32 r9, -1
        setgtu.i32 p4, r9, 7           ; unsigned reinterpretation: 0xFFFFFFFF > 7
        setgt.i32 p5, r9, 7
        """, [("r2", "u64"), ("r3", "u64"), ("r5", "i16"), "p0", "p1", "p2", "p3", "p4", "p5"])
    assert got == [12, 6, -8, True, False, True, True, True, False]


def test_division_by_an_immediate_zero_faults_at_run_time(backend):
    e = fault(backend, "mov_imm.u32 r1, 5\nmov_imm.u32 r9, 1\ndiv.u32 r2, r1, 0",
              hg.DivisionByZero)
    assert e.pc == 2 and e.message == "division by zero" and e.instruction == "div.u32 r2, r1, 0"
    e = fault(backend, "mov_imm.i8 r1, 5\nrem.i8 r2, r1, 0", hg.DivisionByZero)
    assert e.pc == 1


def test_immediate_operand_is_not_a_register_read(backend):
    # the first source is still read and checked; the immediate never is
    e = fault(backend, "add.u32 r2, r1, 4", hg.UninitializedRegister)
    assert e.message == "uninitialized register: r1"
    e = fault(backend, "mov_imm.u64 r1, 4\nadd.u32 r2, r1, 4", hg.TypeMismatch)
    assert e.message == "type mismatch: r1: expected u32, got u64"


# --------------------------------------------------------------------------------------------
# §12.2.1 displacement and scale on a computed address (global memory)

def test_scaled_and_displaced_global_addresses(backend):
    data = np.array([10, 20, 30, 40, 50, 60, 70, 80], np.uint32)
    out = run(backend, """
        mov_imm.u64 r2, 2
        ldg.u32 r10, [r1 + r2*4]          ; element 2
        ldg.u32 r11, [r1 + r2*4 - 4]      ; element 1
        ldg.u32 r12, [r1 + r2*8 + 4]      ; byte 20: element 5
        ldg.u32 r13, [r1 + r2 + 2]        ; byte 4: element 1
        ldg.u16 r14, [r1 + r2*2 + 10]     ; byte 14: high half of element 3 (0)
        ldg.u32 r15, [r1 + r2*1 + 26]     ; byte 28: element 7
        mov_imm.u64 r3, 4611686018427387904
        ldg.u32 r16, [r1 + r3*4]          ; 2^62 * 4 = 2^64 = 0 (mod 2^64): element 0
        """, [("r10", "u32"), ("r11", "u32"), ("r12", "u32"), ("r13", "u32"), ("r14", "u16"),
              ("r15", "u32"), ("r16", "u32")], extra_params={"r1": data})
    assert out == [30, 20, 60, 20, 0, 80, 10]


def test_scaled_global_store_and_atomic(backend):
    data = np.zeros(8, np.uint32)
    run(backend, """
        mov_imm.u64 r7, 3
        mov_imm.u8 r9, 0xAB
        stg.u8 [r1 + r7 + 16], r9          ; byte 19 (element 4, top byte)
        mov_imm.u32 r5, 5
        atom.add.u32 r6, [r1 + r7*8 - 4], r5   ; byte 20: element 5
        atom.add.u32 r6, [r1 + r7*8 - 4], r5
        """, [], extra_params={"r1": data})
    assert data.tolist() == [0, 0, 0, 0, 0xAB000000, 10, 0, 0]


def test_displacement_below_zero_wraps_out_of_bounds(backend):
    data = np.zeros(4, np.uint32)
    e = fault(backend, "mov_imm.u64 r2, 0\nldg.u32 r3, [r1 + r2*4 - 4]", hg.OutOfBounds,
              extra_params={"r1": data})
    assert e.pc == 1
    assert e.message == ("out of bounds: 4 bytes at offset 18446744073709551612 (-4) of "
                         "buffer 1 (size 16)")
    e = fault(backend, "mov_imm.u64 r2, 2\nstg.u32 [r1 + r2*8], r2", hg.TypeMismatch,
              extra_params={"r1": data})      # the source (u64) is read before the address


def test_scaled_address_reads_handle_then_offset_as_u64(backend):
    e = fault(backend, "mov_imm.u32 r2, 1\nldg.u32 r3, [r1 + r2*4]", hg.UninitializedRegister)
    assert e.message == "uninitialized register: r1"
    e = fault(backend, "mov_imm.u32 r2, 1\nldg.u32 r3, [r1 + r2*4]", hg.TypeMismatch,
              extra_params={"r1": np.zeros(4, np.uint8)})
    assert e.message == "type mismatch: r2: expected u64, got u32"


# --------------------------------------------------------------------------------------------
# §12.2.2 scaled shared addresses (handles never read) and §12.2.3 [rB ± D]

def test_scaled_shared_addresses(backend):
    out = run(backend, """
        mov_imm.u64 r5, 3
        mov_imm.u32 r6, 0xCAFE
        sts.u32 [r5*4 + 8], r6            ; no handle part: offset 20
        lds.u32 r7, [r99 + r5*4 + 8]      ; r99 is never written: not read
        mov_imm.u64 r8, 6
        lds.u32 r9, [r8*4 - 4]            ; offset 20
        lds.u32 r10, [r77 + r8*2 + 8]     ; offset 20
        """, [("r7", "u32"), ("r9", "u32"), ("r10", "u32")], shared_memory=32)
    assert out == [0xCAFE, 0xCAFE, 0xCAFE]
    e = fault(backend, "mov_imm.u64 r5, 7\nlds.u32 r7, [r5*4 + 4]", hg.SharedOutOfBounds,
              shared_memory=32)
    assert e.message == "shared memory out of bounds: 4 bytes at offset 32 (size 32)"


def test_shared_register_indirect_adds_the_base(backend):
    """§12.2.3 (changed in 1.1): the shared offset of [rB ± D] is rB ± D (VM included)."""
    out = run(backend, """
        mov_imm.u64 r3, 8
        mov_imm.u32 r4, 0x11111111
        sts.u32 [r3 + 4], r4              ; offset 12
        mov_imm.u32 r4, 0x22222222
        sts.u32 [r3 - 8], r4              ; offset 0
        mov_imm.u64 r5, 12
        lds.u32 r6, [r5]                  ; offset 12
        lds.u32 r7, [buf0 + 0]
        lds.u32 r8, [buf0 + 4]            ; never written: 0
        mov_imm.u32 r9, 5
        atoms.add.u32 r10, [r3 + 4], r9   ; offset 12: old value, then + 5
        lds.u32 r11, [r5 + 0]
        mov_imm.u64 r12, 0
        atoms.cas.u32 r13, [r12 + 0], r4, r9   ; offset 0 holds r4: swapped to 5
        lds.u32 r14, [buf0 + 0]
        """, [("r6", "u32"), ("r7", "u32"), ("r8", "u32"), ("r10", "u32"), ("r11", "u32"),
              ("r13", "u32"), ("r14", "u32")], shared_memory=16)
    assert out == [0x11111111, 0x22222222, 0, 0x11111111, 0x11111116, 0x22222222, 5]


def test_shared_register_indirect_reads_the_base_as_u64(backend):
    e = fault(backend, "lds.u32 r1, [r3 + 4]", hg.UninitializedRegister, shared_memory=16)
    assert e.message == "uninitialized register: r3" and e.pc == 0
    e = fault(backend, "mov_imm.u32 r3, 0\nsts.u32 [r3 + 4], r3", hg.TypeMismatch,
              shared_memory=16)
    assert e.message == "type mismatch: r3: expected u64, got u32"
    # below zero: rB - D wraps to a huge offset (out of bounds), as on global memory
    e = fault(backend, "mov_imm.u64 r3, 2\nlds.u32 r1, [r3 - 4]", hg.SharedOutOfBounds,
              shared_memory=16)
    assert e.message == ("shared memory out of bounds: 4 bytes at offset "
                         "18446744073709551614 (-2) (size 16)")
    e = fault(backend, "mov_imm.u64 r3, 8\nmov_imm.u32 r4, 1\natoms.add.u32 r5, [r3 + 2], r4",
              hg.Misaligned, shared_memory=16)
    assert e.message == "misaligned atomic: 4 bytes at offset 10 of shared memory"


def test_shared_register_indirect_per_lane(backend):
    """Each lane's own base: lane t stores t at 4t through [rB + 0] and reads lane t+1's
    value through [rB + 4] after the barrier (the last lane wraps to slot 0 via -4t)."""
    prog = hg.assemble("""
        mov.u32 r1, %lane.x
        cvt.u64.u32 r2, r1
        mov_imm.u64 r3, 4
        mul.u64 r2, r2, r3                ; 4t
        sts.u32 [r2 + 0], r1
        bar.sync 0
        mov_imm.u32 r4, 7
        setlt.u32 p0, r1, r4
        bra.p0 @next
        mov_imm.u64 r2, 0
        lds.u32 r5, [r2 + 0]
        bra @store
    next:
        lds.u32 r5, [r2 + 4]
    store:
        mov.u64 r6, %gid
        mul.u64 r6, r6, r3
        stg.u32 [r9 + r6], r5
    """)
    out = np.zeros(16, np.uint32)
    backend.execute_program(prog, hg.LaunchConfig(2, 8, 32), {"r9": out})
    assert out.tolist() == [1, 2, 3, 4, 5, 6, 7, 0] * 2


# --------------------------------------------------------------------------------------------
# §12.3 predicate logic, bra.!p, sel !p

@pytest.mark.parametrize("a, b, want", [
    # a, b, (and, or, xor, not a)
    (True, True, [True, True, False, False]), (True, False, [False, True, True, False]),
    (False, True, [False, True, True, True]), (False, False, [False, False, False, True]),
])
def test_predicate_logic_truth_tables(backend, a, b, want):
    got = run(backend, f"""
        mov_imm.u32 r1, 1
        mov_imm.u32 r2, {int(a)}
        mov_imm.u32 r3, {int(b)}
        seteq.u32 p0, r2, r1
        seteq.u32 p1, r3, r1
        and.pred p2, p0, p1
        or.pred p3, p0, p1
        xor.pred p4, p0, p1
        not.pred p5, p0
        and.pred p0, p0, p1               ; pD may be a source
        """, ["p2", "p3", "p4", "p5", "p0"])
    assert got == want + [want[0]]


def test_predicate_logic_reads_both_sources_in_order(backend):
    e = fault(backend, "mov_imm.u32 r1, 1\nseteq.u32 p1, r1, r1\nand.pred p2, p1, p3",
              hg.UninitializedPredicate)
    assert e.message == "uninitialized predicate: p3" and e.pc == 2
    e = fault(backend, "or.pred p2, p4, p3", hg.UninitializedPredicate)
    assert e.message == "uninitialized predicate: p4"
    e = fault(backend, "not.pred p2, p9", hg.UninitializedPredicate)
    assert e.message == "uninitialized predicate: p9"


def test_negated_branch(backend):
    got = run(backend, """
        mov_imm.u32 r1, 1
        mov_imm.u32 r9, 0
        seteq.u32 p0, r1, r1              ; true
        setne.u32 p1, r1, r1              ; false
        bra.!p0 @a                        ; not taken
        mov_imm.u32 r9, 1
    a:
        bra.!p1 @b                        ; taken
        mov_imm.u32 r9, 2
    b:
        """, [("r9", "u32")])
    assert got == [1]
    e = fault(backend, "bra.!p3 @x\nx:", hg.UninitializedPredicate)
    assert e.message == "uninitialized predicate: p3" and e.instruction == "bra.!p3 @x"


def test_negated_select_reads_only_the_selected_source(backend):
    got = run(backend, """
        mov_imm.u32 r1, 1
        seteq.u32 p0, r1, r1              ; true
        mov_imm.f32 r2, 1.0
        mov_imm.f32 r3, 2.0
        sel.f32 r4, !p0, r2, r3           ; p0 true: selects r3
        sel.f32 r5, !p0, r99, r3          ; r99 is never read
        setne.u32 p1, r1, r1              ; false
        sel.f32 r6, !p1, r2, r98          ; p1 false: selects r2; r98 not read
        """, [("r4", "f32"), ("r5", "f32"), ("r6", "f32")])
    assert got == [F32_TWO, F32_TWO, F32_ONE]
    e = fault(backend, "mov_imm.u32 r1, 1\nsetne.u32 p1, r1, r1\nsel.u32 r6, !p1, r98, r1",
              hg.UninitializedRegister)
    assert e.message == "uninitialized register: r98"


# --------------------------------------------------------------------------------------------
# §12.5 math

_NAN32 = 0x7FC00000


def _is_nan(ty: str, bits: int) -> bool:
    exp, man = {"f16": (0x7C00, 0x3FF), "bf16": (0x7F80, 0x7F), "f32": (0x7F800000, 0x7FFFFF),
                "f64": (0x7FF0000000000000, 0xFFFFFFFFFFFFF)}[ty]
    return bits & exp == exp and bits & man != 0


# (x, floor, ceil, trunc, round) as f32 values; None: NaN
ROUNDING = [
    (2.5, 2.0, 3.0, 2.0, 3.0), (-2.5, -3.0, -2.0, -2.0, -3.0), (0.5, 0.0, 1.0, 0.0, 1.0),
    (-0.5, -1.0, -0.0, -0.0, -1.0), (1.5, 1.0, 2.0, 1.0, 2.0), (-1.5, -2.0, -1.0, -1.0, -2.0),
    (0.49999997, 0.0, 1.0, 0.0, 0.0), (-0.49999997, -1.0, -0.0, -0.0, -0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0), (-0.0, -0.0, -0.0, -0.0, -0.0), (3.0, 3.0, 3.0, 3.0, 3.0),
    (8388607.5, 8388607.0, 8388608.0, 8388607.0, 8388608.0),     # largest f32 with a .5
    (16777217.0 * 2, 33554434.0, 33554434.0, 33554434.0, 33554434.0),
    (1e-45, 0.0, 1.0, 0.0, 0.0), (-1e-45, -1.0, -0.0, -0.0, -0.0),
    (math.inf, math.inf, math.inf, math.inf, math.inf),
    (-math.inf, -math.inf, -math.inf, -math.inf, -math.inf),
    (3.4028235e38, 3.4028235e38, 3.4028235e38, 3.4028235e38, 3.4028235e38),
]


@pytest.mark.parametrize("x, fl, ce, tr, ro", ROUNDING, ids=lambda v: repr(v))
def test_floor_ceil_trunc_round_f32(backend, x, fl, ce, tr, ro):
    got = run(backend, f"""
        mov_imm.f32 r1, {x!r}
        floor.f32 r2, r1
        ceil.f32 r3, r1
        trunc.f32 r4, r1
        round.f32 r5, r1
        """, [("r2", "f32"), ("r3", "f32"), ("r4", "f32"), ("r5", "f32")])
    assert got == [f32(fl), f32(ce), f32(tr), f32(ro)]        # bit-exact, -0.0 included


def test_rounding_of_nan_f64_f16_bf16(backend):
    got = run(backend, """
        mov_imm.f32 r1, nan
        floor.f32 r2, r1
        round.f32 r3, r1
        mov_imm.f64 r4, 2.5
        round.f64 r5, r4
        mov_imm.f64 r6, -4503599627370495.5     ; 2^52 - 0.5
        round.f64 r7, r6
        ceil.f64 r8, r6
        mov_imm.f64 r9, 0.49999999999999994     ; largest double below 0.5: rounds to 0
        round.f64 r10, r9
        mov_imm.f16 r11, 2.5
        round.f16 r12, r11
        floor.f16 r13, r11
        mov_imm.bf16 r14, -1.5
        trunc.bf16 r15, r14
        ceil.bf16 r16, r14
        mov_imm.f16 r17, 65504.0
        floor.f16 r18, r17
        """, [("r2", "f32"), ("r3", "f32"), ("r5", "f64"), ("r7", "f64"), ("r8", "f64"),
              ("r10", "f64"), ("r12", "f16"), ("r13", "f16"), ("r15", "bf16"), ("r16", "bf16"),
              ("r18", "f16")])
    assert _is_nan("f32", got[0]) and _is_nan("f32", got[1])
    assert got[2:] == [f64(3.0), f64(-4503599627370496.0), f64(-4503599627370495.0), f64(0.0),
                       0x4200, 0x4000, 0xBF80, 0xBF80, 0x7BFF]


def _ulps(ty: str, got: int, want: float) -> float:
    """Distance in units of the last place of the exact value ``want``."""
    x = struct.unpack("<d", struct.pack("<Q", got))[0] if ty == "f64" else \
        struct.unpack("<f", struct.pack("<I", got))[0]
    m, e = math.frexp(want)
    ulp = math.ldexp(1.0, e - (53 if ty == "f64" else 24))
    return abs(x - want) / ulp


@pytest.mark.parametrize("ty", ["f32", "f64"])
def test_erf_and_exp2(backend, ty):
    got = run(backend, f"""
        mov_imm.{ty} r1, 1.0
        erf.{ty} r2, r1
        mov_imm.{ty} r3, 0.5
        erf.{ty} r4, r3
        mov_imm.{ty} r5, 0.5
        exp2.{ty} r6, r5
        mov_imm.{ty} r7, -0.0
        erf.{ty} r8, r7
        mov_imm.{ty} r9, inf
        erf.{ty} r10, r9
        mov_imm.{ty} r11, -inf
        erf.{ty} r12, r11
        mov_imm.{ty} r13, 10.0
        exp2.{ty} r14, r13
        mov_imm.{ty} r15, -1.0
        exp2.{ty} r16, r15
        mov_imm.{ty} r17, -inf
        exp2.{ty} r18, r17
        mov_imm.{ty} r19, 2000.0
        exp2.{ty} r20, r19
        """, [(f"r{k}", ty) for k in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20)])
    # erf(1), erf(0.5), 2^0.5 (to 17 digits); 4 ulp allowed (§5.6)
    assert _ulps(ty, got[0], 0.84270079294971487) <= 4
    assert _ulps(ty, got[1], 0.52049987781304654) <= 4
    assert _ulps(ty, got[2], 1.4142135623730951) <= 4
    neg_zero, one, m_one = ((1 << 63, f64(1.0), f64(-1.0)) if ty == "f64" else
                            (1 << 31, F32_ONE, f32(-1.0)))
    inf = 0x7FF0000000000000 if ty == "f64" else 0x7F800000
    assert got[3:] == [neg_zero, one, m_one,
                       f64(1024.0) if ty == "f64" else f32(1024.0),
                       f64(0.5) if ty == "f64" else f32(0.5),
                       0, inf]


def test_f16_math_goes_through_f32(backend):
    got = run(backend, """
        mov_imm.f16 r1, 3.0
        exp2.f16 r2, r1
        mov_imm.bf16 r3, 0.0
        erf.bf16 r4, r3
        mov_imm.f16 r5, 16.0
        exp2.f16 r6, r5                  ; 65536 overflows f16: +inf
        """, [("r2", "f16"), ("r4", "bf16"), ("r6", "f16")])
    assert got == [0x4800, 0x0000, 0x7C00]


def test_math_reads_its_type(backend):
    e = fault(backend, "mov_imm.f64 r1, 1.0\nfloor.f32 r2, r1", hg.TypeMismatch)
    assert e.message == "type mismatch: r1: expected f32, got f64"


# --------------------------------------------------------------------------------------------
# §12.6 last item: fault messages name the register (and both types), in every program

def test_type_mismatch_names_register_and_both_types(backend):
    e = fault(backend, """
        mov_imm.u32 r20, 4
        ldg.f32 r10, [r1 + r20]
        """, hg.TypeMismatch, extra_params={"r1": np.zeros(4, np.float32)})
    assert e.message == "type mismatch: r20: expected u64, got u32"
    assert "r20: expected u64, got u32" in str(e)
    e = fault(backend, "ldg.f32 r10, [r1 + r20]", hg.UninitializedRegister,
              extra_params={"r1": np.zeros(4, np.float32)})
    assert e.message == "uninitialized register: r20"
    e = fault(backend, "mov_imm.u32 r1, 1\nsetne.u32 p1, r1, r1\nsel.u32 r3, p7, r1, r1",
              hg.UninitializedPredicate)
    assert e.message == "uninitialized predicate: p7"
    # SEL's selected source (VM: a separate code path)
    e = fault(backend, "mov_imm.u32 r1, 1\nseteq.u32 p1, r1, r1\nmov_imm.i64 r5, 0\n"
                       "sel.u32 r3, p1, r5, r1", hg.TypeMismatch)
    assert e.message == "type mismatch: r5: expected u32, got i64"

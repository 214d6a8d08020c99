"""Every instruction family against hand-computed expectations (ISA.md §2-§7, §10).

Expected values are literals worked out from ISA.md (bit patterns in hex where rounding
matters); nothing here recomputes a result with code that mirrors the implementation. Every
test runs on both engines through the ``backend`` fixture (VM and reference interpreter)
unless its name says otherwise.

Conventions of the local helpers: ``regs`` is a list of ``(register, type, value)`` loaded with
``mov_imm`` before the body; an ``int`` value for a float type is a *bit pattern*, a Python
``float`` is a float literal (nearest f64, then ``cvt.T.f64``). Float outputs are returned as
bit patterns (ints), integers as ints, predicates as bools.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import hologram as hg
from helpers import run_snippet

U64_MAX = 18446744073709551615
I64_MIN = -9223372036854775808
I64_MAX = 9223372036854775807
CLASS0 = 18446744073709551520          # 2**64 - 96: the class-0 window of the boundary pool


# --------------------------------------------------------------------------------------------
# local helpers


def _lit(v):
    return repr(v) if isinstance(v, float) else str(v)


def _setup(regs):
    return "\n".join(f"mov_imm.{ty} {r}, {_lit(v)}" for r, ty, v in regs)


def _bits(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.floating):
        return int(v.view(np.dtype(f"u{v.itemsize}")))
    return int(v)


def run(backend, body, outs, regs=(), **kw):
    """Run ``body`` (after the mov_imm setup of ``regs``) on one lane; floats as bit patterns."""
    src = _setup(regs) + "\n" + body
    return [_bits(v) for v in run_snippet(backend, {}, src, outs, **kw)]


def run1(backend, body, out, regs=(), **kw):
    return run(backend, body, [out], regs, **kw)[0]


def fault(backend, body, exc, regs=(), at=None, message=None, **kw):
    """Run and expect ``exc``; ``at`` = text of the faulting instruction, ``message`` = exact
    message. Returns the exception."""
    with pytest.raises(exc) as ei:
        run(backend, body, [], regs, **kw)
    e = ei.value
    if at is not None:
        assert e.instruction == at
    if message is not None:
        assert e.message == message
    assert e.global_lane_id == 0 and e.block_idx == (0, 0, 0) and e.lane_idx == (0, 0, 0)
    return e


def f16_is_nan(b):
    return (b & 0x7C00) == 0x7C00 and (b & 0x03FF) != 0


def bf16_is_nan(b):
    return (b & 0x7F80) == 0x7F80 and (b & 0x007F) != 0


def f32_is_nan(b):
    return (b & 0x7F800000) == 0x7F800000 and (b & 0x007FFFFF) != 0


def f64_is_nan(b):
    return (b & 0x7FF0000000000000) == 0x7FF0000000000000 and (b & 0xFFFFFFFFFFFFF) != 0


IS_NAN = {"f16": f16_is_nan, "bf16": bf16_is_nan, "f32": f32_is_nan, "f64": f64_is_nan}
NAN = "NaN"    # expectation marker: any NaN


def check(ty, got, expected):
    if expected == NAN:
        assert IS_NAN[ty](got), hex(got)
    else:
        assert got == expected, (hex(got) if isinstance(got, int) else got,
                                 hex(expected) if isinstance(expected, int) else expected)


def ordered(ty, b):
    """Map a float bit pattern to an integer that is monotonic in the float's value."""
    w = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}[ty]
    sign = 1 << (w - 1)
    return -(b & (sign - 1)) if b & sign else b


def f32_bits_of(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits_of(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


# --------------------------------------------------------------------------------------------
# §5.2 integer arithmetic: wrapping for all 8 integer types


INT_BINARY = [
    # (op, ty, a, b, expected)
    ("add", "i8", 127, 1, -128), ("add", "i8", -128, -1, 127),
    ("add", "i16", 32767, 1, -32768), ("add", "i16", -32768, -1, 32767),
    ("add", "i32", 2147483647, 1, -2147483648), ("add", "i32", -2147483648, -1, 2147483647),
    ("add", "i32", 10, 20, 30),
    ("add", "i64", I64_MAX, 1, I64_MIN), ("add", "i64", I64_MIN, -1, I64_MAX),
    ("add", "u8", 250, 10, 4), ("add", "u8", 255, 1, 0),
    ("add", "u16", 65535, 1, 0), ("add", "u16", 65000, 1000, 464),
    ("add", "u32", 4294967295, 1, 0), ("add", "u32", 4000000000, 500000000, 205032704),
    ("add", "u64", U64_MAX, 1, 0), ("add", "u64", U64_MAX, U64_MAX, U64_MAX - 1),
    ("sub", "i8", -128, 1, 127), ("sub", "u8", 0, 1, 255),
    ("sub", "i16", -32768, 1, 32767), ("sub", "u16", 0, 1, 65535),
    ("sub", "i32", -2147483648, 1, 2147483647), ("sub", "i32", 30, 10, 20),
    ("sub", "u32", 0, 1, 4294967295),
    ("sub", "i64", I64_MIN, 1, I64_MAX), ("sub", "u64", 0, 1, U64_MAX),
    ("mul", "i8", 16, 16, 0), ("mul", "i8", 100, 3, 44), ("mul", "i8", -128, -1, -128),
    ("mul", "u8", 200, 2, 144),
    ("mul", "i16", 300, 300, 24464), ("mul", "i16", -32768, -1, -32768),
    ("mul", "u16", 256, 256, 0), ("mul", "u16", 65535, 65535, 1),
    ("mul", "i32", 65537, 65537, 131073), ("mul", "i32", -2147483648, -1, -2147483648),
    ("mul", "i32", 5, 7, 35), ("mul", "i32", -6, 7, -42),
    ("mul", "u32", 4294967295, 4294967295, 1),
    ("mul", "i64", 3037000500, 3037000500, -9223372036709301616),
    ("mul", "i64", I64_MIN, -1, I64_MIN),
    ("mul", "u64", 4294967296, 4294967296, 0), ("mul", "u64", U64_MAX, U64_MAX, 1),
    # DIV: truncation toward zero, MIN / -1 = MIN
    ("div", "i32", 42, 6, 7), ("div", "i32", -7, 2, -3), ("div", "i32", 7, -2, -3),
    ("div", "i32", -7, -2, 3), ("div", "i32", -2147483648, -1, -2147483648),
    ("div", "i8", -128, -1, -128), ("div", "i8", -128, 3, -42), ("div", "i8", 127, -2, -63),
    ("div", "i16", -32768, -1, -32768), ("div", "i16", -7, 2, -3),
    ("div", "i64", I64_MIN, -1, I64_MIN),
    ("div", "i64", -9223372036854775807, 2, -4611686018427387903),
    ("div", "u8", 255, 2, 127), ("div", "u8", 255, 255, 1),
    ("div", "u16", 65535, 256, 255),
    ("div", "u32", 4294967295, 2, 2147483647), ("div", "u32", 7, 2, 3),
    ("div", "u64", U64_MAX, 3, 6148914691236517205), ("div", "u64", U64_MAX, U64_MAX, 1),
    # REM: sign of the dividend, MIN rem -1 = 0
    ("rem", "i32", 7, 2, 1), ("rem", "i32", -7, 2, -1), ("rem", "i32", 7, -2, 1),
    ("rem", "i32", -7, -2, -1), ("rem", "i32", -2147483648, -1, 0),
    ("rem", "i32", -2147483648, 3, -2),
    ("rem", "i8", -128, -1, 0), ("rem", "i8", -128, 3, -2), ("rem", "i8", 127, -10, 7),
    ("rem", "i16", -32768, -1, 0), ("rem", "i16", -32768, 1000, -768),
    ("rem", "i64", I64_MIN, -1, 0), ("rem", "i64", -9223372036854775807, 10, -7),
    ("rem", "u8", 255, 16, 15), ("rem", "u16", 65535, 1000, 535),
    ("rem", "u32", 4294967295, 10, 5), ("rem", "u64", U64_MAX, 10, 5),
    # MIN / MAX by signedness
    ("min", "i8", -1, 1, -1), ("min", "u8", 255, 1, 1), ("min", "i16", -32768, 32767, -32768),
    ("min", "u16", 65535, 0, 0), ("min", "i32", 10, 20, 10), ("min", "i32", -1, 1, -1),
    ("min", "u32", 4294967295, 1, 1), ("min", "i64", I64_MIN, 0, I64_MIN),
    ("min", "u64", U64_MAX, 5, 5),
    ("max", "i8", -1, 1, 1), ("max", "u8", 255, 1, 255), ("max", "i16", -5, -6, -5),
    ("max", "u16", 65535, 0, 65535), ("max", "i32", 10, 20, 20),
    ("max", "u32", 4294967295, 1, 4294967295), ("max", "i64", -1, -2, -1),
    ("max", "u64", 9223372036854775808, 9223372036854775807, 9223372036854775808),
    # bitwise
    ("and", "u32", 0xFF00, 0x0FFF, 0x0F00), ("or", "u32", 0xFF00, 0x0FFF, 0xFFFF),
    ("xor", "u32", 0xFF00, 0x0FFF, 0xF0FF),
    ("and", "i8", -1, 90, 90), ("or", "i8", -128, 1, -127), ("xor", "i8", -1, 15, -16),
    ("and", "u8", 0xF0, 0x3C, 0x30), ("or", "u16", 0x8000, 0x0001, 0x8001),
    ("xor", "i16", -1, 1, -2), ("and", "i32", -16, 0x7F, 0x70),
    ("and", "i64", -1, 0x123456789, 0x123456789),
    ("or", "u64", 9223372036854775808, 1, 9223372036854775809),
    ("xor", "u64", U64_MAX, 1, U64_MAX - 1),
]


@pytest.mark.parametrize("op,ty,a,b,expected", INT_BINARY,
                         ids=[f"{c[0]}.{c[1]}({c[2]},{c[3]})" for c in INT_BINARY])
def test_int_binary(backend, op, ty, a, b, expected):
    got = run1(backend, f"{op}.{ty} r3, r1, r2", ("r3", ty),
               [("r1", ty, a), ("r2", ty, b)])
    assert got == expected


INT_TYPES = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"]


@pytest.mark.parametrize("op", ["div", "rem"])
@pytest.mark.parametrize("ty", INT_TYPES)
def test_int_division_by_zero(backend, op, ty):
    # DivisionByZero at the div/rem; the faulting instruction writes nothing (the lane ends, so
    # the epilogue store of r3 never happens and the output buffer stays zero).
    e = fault(backend, f"mov_imm.{ty} r3, 77\n{op}.{ty} r3, r1, r2", hg.DivisionByZero,
              [("r1", ty, 5), ("r2", ty, 0)], at=f"{op}.{ty} r3, r1, r2")
    assert e.pc == 3


def test_division_by_zero_has_no_effect(backend):
    # A faulting instruction has no effect; stores before it are kept (§4.8.2).
    out = np.zeros(2, np.int32)
    src = ("mov_imm.i32 r3, 77\nmov_imm.i32 r1, 5\nmov_imm.i32 r2, 0\nmov_imm.u64 r9, 0\n"
           "stg.i32 [r8 + 0], r3\ndiv.i32 r3, r1, r2\nstg.i32 [r8 + 4], r3\nexit")
    with pytest.raises(hg.DivisionByZero) as ei:
        backend.execute_program(hg.assemble(src), params={"r8": out})
    assert ei.value.pc == 5
    assert out.tolist() == [77, 0]


INT_MAD = [
    ("i32", 65536, 65536, 5, 5), ("i32", 5, 6, 7, 37), ("i32", -3, 4, 100, 88),
    ("i8", 16, 16, 1, 1), ("i8", -128, -1, 0, -128), ("i16", 256, 256, -1, -1),
    ("i64", 4294967296, 4294967296, 3, 3), ("i64", I64_MIN, -1, 1, -9223372036854775807),
    ("u8", 5, 6, 7, 37), ("u8", 16, 16, 255, 255), ("u16", 255, 257, 2, 1),
    ("u32", 5, 6, 7, 37),                      # original: UnsupportedOperation (ISA.md §11 #4)
    ("u32", 4294967295, 4294967295, 4294967295, 0), ("u64", U64_MAX, 2, 3, 1),
]


@pytest.mark.parametrize("ty,a,b,c,expected", INT_MAD)
def test_int_mad(backend, ty, a, b, c, expected):
    got = run1(backend, f"mad.{ty} r4, r1, r2, r3", ("r4", ty),
               [("r1", ty, a), ("r2", ty, b), ("r3", ty, c)])
    assert got == expected


INT_UNARY = [
    ("abs", "i8", -128, -128), ("abs", "i8", -5, 5), ("abs", "i16", -32768, -32768),
    ("abs", "i32", -2147483648, -2147483648), ("abs", "i32", -42, 42), ("abs", "i32", 7, 7),
    ("abs", "i64", I64_MIN, I64_MIN), ("abs", "i64", -1, 1),
    ("neg", "i8", -128, -128), ("neg", "i8", 5, -5), ("neg", "i16", -32768, -32768),
    ("neg", "i32", -2147483648, -2147483648), ("neg", "i32", 42, -42), ("neg", "i32", 0, 0),
    ("neg", "i64", I64_MIN, I64_MIN), ("neg", "i64", I64_MAX, -I64_MAX),
    ("not", "u32", 0x0000FFFF, 0xFFFF0000), ("not", "i8", 0, -1), ("not", "i8", 127, -128),
    ("not", "u8", 0x0F, 0xF0), ("not", "u16", 0, 65535), ("not", "i16", -1, 0),
    ("not", "i32", 5, -6), ("not", "i64", 0, -1), ("not", "u64", 0, U64_MAX),
]


@pytest.mark.parametrize("op,ty,a,expected", INT_UNARY,
                         ids=[f"{c[0]}.{c[1]}({c[2]})" for c in INT_UNARY])
def test_int_unary(backend, op, ty, a, expected):
    assert run1(backend, f"{op}.{ty} r2, r1", ("r2", ty), [("r1", ty, a)]) == expected


@pytest.mark.parametrize("src", ["abs.u32 r2, r1", "neg.u8 r2, r1", "and.f32 r3, r1, r2",
                                 "rem.f32 r3, r1, r2", "fma.i32 r4, r1, r2, r3",
                                 "not.f64 r2, r1", "shl.f32 r3, r1, r2"])
def test_invalid_type_combinations(src):
    with pytest.raises(hg.ProgramError):
        hg.assemble(src)


# --------------------------------------------------------------------------------------------
# §5.3 shifts: amount read as u32, k = amount mod w, arithmetic vs logical SHR


SHIFTS = [
    ("shl", "u8", 1, 9, 2), ("shl", "u8", 0x81, 1, 0x02), ("shl", "i8", 1, 7, -128),
    ("shl", "i8", -1, 8, -1), ("shl", "u16", 0x8001, 1, 2), ("shl", "i16", 1, 15, -32768),
    ("shl", "u32", 1, 4, 0x10), ("shl", "u32", 1, 32, 1), ("shl", "u32", 1, 33, 2),
    ("shl", "u32", 1, 4294967295, 2147483648), ("shl", "i32", 1, 31, -2147483648),
    ("shl", "u64", 1, 63, 9223372036854775808), ("shl", "u64", 1, 64, 1),
    ("shl", "i64", 3, 65, 6),
    ("shr", "i8", -128, 1, -64), ("shr", "u8", 0x80, 1, 0x40), ("shr", "i8", -128, 7, -1),
    ("shr", "u8", 0x80, 15, 1), ("shr", "i16", -32768, 17, -16384),
    ("shr", "u16", 0x8000, 15, 1), ("shr", "u32", 0x10, 4, 1), ("shr", "i32", -1, 31, -1),
    ("shr", "u32", 0xFFFFFFFF, 31, 1), ("shr", "i32", -16, 2, -4),
    ("shr", "i32", -2147483648, 32, -2147483648), ("shr", "i64", I64_MIN, 63, -1),
    ("shr", "u64", 9223372036854775808, 63, 1), ("shr", "u64", U64_MAX, 64, U64_MAX),
    ("shr", "i64", -5, 1, -3),
]


@pytest.mark.parametrize("op,ty,a,k,expected", SHIFTS,
                         ids=[f"{c[0]}.{c[1]}({c[2]},{c[3]})" for c in SHIFTS])
def test_shifts(backend, op, ty, a, k, expected):
    got = run1(backend, f"{op}.{ty} r3, r1, r2", ("r3", ty), [("r1", ty, a), ("r2", "u32", k)])
    assert got == expected


@pytest.mark.parametrize("op,ty,amount_ty", [("shl", "u32", "u64"), ("shr", "i64", "i64"),
                                             ("shl", "u64", "u64"), ("shr", "u8", "u8")])
def test_shift_amount_must_be_u32(backend, op, ty, amount_ty):
    fault(backend, f"{op}.{ty} r3, r1, r2", hg.TypeMismatch,
          [("r1", ty, 1), ("r2", amount_ty, 1)], at=f"{op}.{ty} r3, r1, r2",
          message=f"type mismatch: r2: expected u32, got {amount_ty}")


# --------------------------------------------------------------------------------------------
# §5.2 float arithmetic, f16/bf16 via f32 with one final rounding


FLOAT_BINARY = [
    # (op, ty, a, b, expected bits or NAN)
    ("add", "f32", 1.5, 2.5, 0x40800000), ("sub", "f32", 1.0, 1.0, 0x00000000),
    ("mul", "f32", -2.0, 0.0, 0x80000000), ("div", "f32", 1.0, 0.0, 0x7F800000),
    ("div", "f32", -1.0, 0.0, 0xFF800000), ("div", "f32", 1.0, -0.0, 0xFF800000),
    ("div", "f32", 0.0, 0.0, NAN), ("sub", "f32", math.inf, math.inf, NAN),
    ("add", "f32", 16777216.0, 1.0, 0x4B800000),        # tie -> even (2^24)
    ("add", "f32", 16777218.0, 1.0, 0x4B800002),        # tie -> even (2^24 + 4)
    ("mul", "f32", 0x00800000, 0.5, 0x00400000),        # subnormal result, no flush
    ("mul", "f32", 0x00000001, 0.5, 0x00000000),        # half the min subnormal: tie -> 0
    ("mul", "f32", 0x00000003, 0.5, 0x00000002),        # 1.5 ulp: tie -> 2
    ("add", "f32", 0x00000001, 0x00000001, 0x00000002),
    ("div", "f32", 0x00800000, 2.0, 0x00400000),
    ("mul", "f32", 0x7F7FFFFF, 2.0, 0x7F800000),
    ("add", "f64", 0.1, 0.2, 0x3FD3333333333334), ("div", "f64", 1.0, 3.0, 0x3FD5555555555555),
    ("mul", "f64", 0x0000000000000001, 0.5, 0x0000000000000000),
    ("div", "f64", 0x0010000000000000, 2.0, 0x0008000000000000),
    ("div", "f64", -1.0, 0.0, 0xFFF0000000000000), ("div", "f64", 0.0, 0.0, NAN),
    # f16: widen to f32, compute, round_f16 once
    ("add", "f16", 0x3C00, 0x1000, 0x3C00),             # 1 + 2^-11: tie -> even (1.0)
    ("add", "f16", 0x3C01, 0x1000, 0x3C02),             # tie -> even (upwards)
    ("add", "f16", 0x7B53, 0x7B53, 0x7C00),             # 60000 + 60000 -> +inf
    ("mul", "f16", 0x0001, 0x3800, 0x0000),             # 2^-25: tie -> 0
    ("mul", "f16", 0x0003, 0x3800, 0x0002),             # 1.5 * 2^-24: tie -> 2
    ("add", "f16", 0x0001, 0x0001, 0x0002),
    ("div", "f16", 0x3C00, 0x4200, 0x3555),             # 1/3
    ("sub", "f16", 0x3C00, 0x3C00, 0x0000), ("div", "f16", 0x0000, 0x0000, NAN),
    ("div", "f16", 0xBC00, 0x0000, 0xFC00),
    # bf16: round_bf16 of the f32 result
    ("add", "bf16", 0x3F80, 0x3B80, 0x3F80),            # 1 + 2^-8: tie -> even
    ("add", "bf16", 0x3F81, 0x3B80, 0x3F82),
    ("mul", "bf16", 0x4000, 0x4040, 0x40C0),            # 2 * 3 = 6
    ("div", "bf16", 0x3F80, 0x4040, 0x3EAB),            # 1/3: f32 0x3EAAAAAB -> 0x3EAB
    ("mul", "bf16", 0x7F7F, 0x4000, 0x7F80),            # overflow -> +inf
    ("sub", "bf16", 0x3F80, 0x3F80, 0x0000),
    # MIN / MAX: NaN ignored if the other is a number, -0 < +0
    ("min", "f32", NAN, 1.0, 0x3F800000), ("min", "f32", 1.0, NAN, 0x3F800000),
    ("max", "f32", NAN, 1.0, 0x3F800000), ("max", "f32", 1.0, NAN, 0x3F800000),
    ("min", "f32", NAN, NAN, NAN), ("max", "f32", NAN, NAN, NAN),
    ("min", "f32", -0.0, 0.0, 0x80000000), ("min", "f32", 0.0, -0.0, 0x80000000),
    ("max", "f32", -0.0, 0.0, 0x00000000), ("max", "f32", 0.0, -0.0, 0x00000000),
    ("min", "f32", -math.inf, 1.0, 0xFF800000), ("max", "f32", 2.5, -3.0, 0x40200000),
    ("min", "f64", NAN, 1.0, 0x3FF0000000000000), ("max", "f64", 1.0, NAN, 0x3FF0000000000000),
    ("min", "f64", -0.0, 0.0, 0x8000000000000000), ("max", "f64", 0.0, -0.0, 0),
    ("min", "f64", NAN, NAN, NAN),
    ("min", "f16", 0x7E00, 0x3C00, 0x3C00), ("min", "f16", 0x8000, 0x0000, 0x8000),
    ("max", "f16", 0x8000, 0x0000, 0x0000), ("min", "f16", 0x3C00, 0xC000, 0xC000),
    ("min", "bf16", 0x7FC0, 0x3F80, 0x3F80), ("max", "bf16", 0x8000, 0x0000, 0x0000),
    ("max", "bf16", 0x4000, 0x3F80, 0x4000),
]

_NAN_BITS = {"f16": 0x7E00, "bf16": 0x7FC0, "f32": 0x7FC00000, "f64": 0x7FF8000000000000}


def _fval(ty, v):
    return _NAN_BITS[ty] if v == NAN else v


@pytest.mark.parametrize("op,ty,a,b,expected", FLOAT_BINARY,
                         ids=[f"{c[0]}.{c[1]}({c[2]},{c[3]})" for c in FLOAT_BINARY])
def test_float_binary(backend, op, ty, a, b, expected):
    got = run1(backend, f"{op}.{ty} r3, r1, r2", ("r3", ty),
               [("r1", ty, _fval(ty, a)), ("r2", ty, _fval(ty, b))])
    check(ty, got, expected)


FLOAT_MAD = [
    # (ty, a, b, c, mad, fma)
    # f32: a = b = 1 + 2^-12, c = -(1 + 2^-11). Exact a*b = 1 + 2^-11 + 2^-24, a tie in f32 that
    # rounds to even (1 + 2^-11); MAD then gives +0, FMA the exact 2^-24.
    ("f32", 0x3F800800, 0x3F800800, 0xBF801000, 0x00000000, 0x33800000),
    # f64: a = b = 1 + 2^-27, c = -(1 + 2^-26); a*b = 1 + 2^-26 + 2^-54 rounds to 1 + 2^-26.
    ("f64", 0x3FF0000002000000, 0x3FF0000002000000, 0xBFF0000004000000,
     0x0000000000000000, 0x3C90000000000000),
    ("f32", 2.0, 3.0, 5.0, 0x41300000, 0x41300000),
    ("f64", 2.0, 3.0, 5.0, 0x4026000000000000, 0x4026000000000000),
    ("f16", 0x4000, 0x4200, 0x4500, 0x4980, 0x4980),       # 2*3+5 = 11
    ("bf16", 0x4000, 0x4040, 0x40A0, 0x4130, 0x4130),      # 2*3+5 = 11
    # f16 a = 1130/1024, b = 1856/1024 * 2^-12, c = 1: exact a*b + c = 1 + 2^-11 + 2^-25. The f32
    # result (MAD and FMA alike) is 1 + 2^-11, an f16 tie that rounds to even: 1.0 (0x3C00),
    # although one rounding of the exact value would give 0x3C01. f16 is rounded once from the
    # f32 result (ISA.md §2).
    ("f16", 0x3C6A, 0x0F40, 0x3C00, 0x3C00, 0x3C00),
]


@pytest.mark.parametrize("ty,a,b,c,mad,fma", FLOAT_MAD)
def test_float_mad_fma(backend, ty, a, b, c, mad, fma):
    got = run(backend, f"mad.{ty} r4, r1, r2, r3\nfma.{ty} r5, r1, r2, r3",
              [("r4", ty), ("r5", ty)], [("r1", ty, a), ("r2", ty, b), ("r3", ty, c)])
    assert got == [mad, fma], [hex(g) for g in got]


FLOAT_UNARY_BITS = [
    # abs/neg edit the sign bit only: bit-exact, NaN payloads (even signalling) included
    ("abs", "f32", 0x80000000, 0x00000000), ("abs", "f32", 0xFFC00001, 0x7FC00001),
    ("abs", "f32", 0xBF800000, 0x3F800000), ("abs", "f32", 0xFF800000, 0x7F800000),
    ("neg", "f32", 0x00000000, 0x80000000), ("neg", "f32", 0x7FC00001, 0xFFC00001),
    ("neg", "f32", 0x7F800001, 0xFF800001),
    ("abs", "f64", 0x8000000000000000, 0), ("neg", "f64", 0x3FF0000000000000, 0xBFF0000000000000),
    ("neg", "f64", 0x7FF0000000000001, 0xFFF0000000000001),
    ("abs", "f16", 0xBC00, 0x3C00), ("neg", "f16", 0x3C00, 0xBC00),
    ("abs", "f16", 0xFC01, 0x7C01), ("neg", "f16", 0x7D23, 0xFD23),
    ("abs", "bf16", 0xBF80, 0x3F80), ("neg", "bf16", 0x3F80, 0xBF80),
    ("abs", "bf16", 0xFF81, 0x7F81),
]


@pytest.mark.parametrize("op,ty,a,expected", FLOAT_UNARY_BITS,
                         ids=[f"{c[0]}.{c[1]}({c[2]:#x})" for c in FLOAT_UNARY_BITS])
def test_float_abs_neg_bit_exact(backend, op, ty, a, expected):
    assert run1(backend, f"{op}.{ty} r2, r1", ("r2", ty), [("r1", ty, a)]) == expected


# --------------------------------------------------------------------------------------------
# §5.4 compare and select


SETCC = [
    ("i32", "eq", 42, 42, True), ("i32", "eq", 42, 43, False), ("i32", "ne", 1, 2, True),
    ("i32", "lt", 10, 20, True), ("i32", "lt", -1, 1, True), ("i32", "le", 5, 5, True),
    ("i32", "gt", 20, 10, True), ("i32", "ge", -1, 0, False),
    # ltu/leu/gtu/geu on signed types: operands reinterpreted as unsigned (ISA.md §11 #5)
    ("i32", "ltu", -1, 1, False), ("i32", "ltu", 1, 2, True), ("i32", "leu", -1, -1, True),
    ("i32", "gtu", -1, 1, True), ("i32", "geu", 0, -1, False),
    ("i8", "lt", -128, 127, True), ("i8", "ltu", -128, 127, False), ("i8", "gtu", -1, 1, True),
    ("i16", "ltu", -1, 0, False), ("i16", "leu", 32767, -32768, True),
    ("i64", "lt", I64_MIN, 0, True), ("i64", "ltu", I64_MIN, 0, False),
    ("i64", "geu", -1, I64_MAX, True),
    ("u32", "lt", 0xFFFFFFFF, 1, False), ("u32", "gt", 0xFFFFFFFF, 1, True),
    ("u32", "ltu", 1, 2, True), ("u32", "geu", 0xFFFFFFFF, 0, True),
    ("u8", "lt", 255, 0, False), ("u16", "le", 65535, 65535, True),
    ("u64", "gt", U64_MAX, 0, True), ("u64", "ne", U64_MAX, U64_MAX, False),
    # floats: IEEE, NaN unordered, -0 == +0
    ("f32", "lt", NAN, 1.0, False), ("f32", "le", NAN, 1.0, False),
    ("f32", "gt", NAN, 1.0, False), ("f32", "ge", NAN, 1.0, False),
    ("f32", "gt", 1.0, NAN, False), ("f32", "eq", 1.0, NAN, False),
    ("f32", "eq", NAN, NAN, False), ("f32", "ne", NAN, 1.0, True), ("f32", "ne", NAN, NAN, True),
    ("f32", "eq", -0.0, 0.0, True), ("f32", "ne", -0.0, 0.0, False),
    ("f32", "lt", -0.0, 0.0, False), ("f32", "le", 0.0, -0.0, True),
    ("f32", "lt", -math.inf, math.inf, True),
    ("f64", "eq", NAN, NAN, False), ("f64", "ne", NAN, 1.0, True), ("f64", "eq", -0.0, 0.0, True),
    ("f64", "lt", 1.0, 0x3FF0000000000001, True),
    ("f16", "eq", 0x8000, 0x0000, True), ("f16", "lt", 0x7E00, 0x3C00, False),
    ("f16", "ne", 0x7E00, 0x7E00, True), ("f16", "lt", 0x3C00, 0x3C01, True),
    ("bf16", "gt", 0x3F81, 0x3F80, True), ("bf16", "eq", 0xFFC0, 0xFFC0, False),
    ("bf16", "ge", 0x8000, 0x0000, True),
]


@pytest.mark.parametrize("ty,cond,a,b,expected", SETCC,
                         ids=[f"set{c[1]}.{c[0]}({c[2]},{c[3]})" for c in SETCC])
def test_setcc(backend, ty, cond, a, b, expected):
    a, b = (_fval(ty, a), _fval(ty, b)) if ty[0] in "fb" else (a, b)
    got = run1(backend, f"set{cond}.{ty} p3, r1, r2", "p3", [("r1", ty, a), ("r2", ty, b)])
    assert got is expected


@pytest.mark.parametrize("src", ["setltu.f32 p0, r1, r2", "setgeu.f16 p0, r1, r2",
                                 "setleu.f64 p0, r1, r2", "setgtu.bf16 p0, r1, r2"])
def test_setcc_unsigned_conditions_reject_floats(src):
    with pytest.raises(hg.ProgramError):
        hg.assemble(src)


def test_sel_reads_only_selected_source(backend):
    # p true: r2 is never written and is not read
    assert run1(backend, "setlt.i32 p0, r1, r9\nsel.i32 r3, p0, r1, r2", ("r3", "i32"),
                [("r1", "i32", 1), ("r9", "i32", 5)]) == 1
    assert run1(backend, "mov_imm.u8 r8, 1\nsetne.u8 p0, r8, r8\nsel.i32 r3, p0, r1, r2",
                ("r3", "i32"), [("r2", "i32", 99)]) == 99      # r1 unset, p0 false
    # the unselected source may hold another type
    assert run1(backend, "mov_imm.u8 r8, 1\nseteq.u8 p0, r8, r8\nsel.i32 r3, p0, r1, r2",
                ("r3", "i32"), [("r1", "i32", -7), ("r2", "f32", 1.0)]) == -7
    # bit-exact (signalling NaN payload kept)
    assert run1(backend, "mov_imm.u8 r8, 1\nseteq.u8 p0, r8, r8\nsel.f32 r3, p0, r1, r2",
                ("r3", "f32"), [("r1", "f32", 0x7F800001)]) == 0x7F800001


def test_sel_faults(backend):
    fault(backend, "sel.i32 r3, p3, r1, r2", hg.UninitializedPredicate,
          [("r1", "i32", 1), ("r2", "i32", 2)], at="sel.i32 r3, p3, r1, r2",
          message="uninitialized predicate: p3")
    fault(backend, "mov_imm.u8 r8, 1\nsetne.u8 p0, r8, r8\nsel.i32 r3, p0, r1, r2",
          hg.UninitializedRegister, [("r1", "i32", 1)], message="uninitialized register: r2")
    fault(backend, "mov_imm.u8 r8, 1\nseteq.u8 p0, r8, r8\nsel.i32 r3, p0, r1, r2",
          hg.TypeMismatch, [("r1", "f32", 1.0), ("r2", "i32", 2)],
          message="type mismatch: r1: expected i32, got f32")


# --------------------------------------------------------------------------------------------
# §5.5 CVT


CVT = [
    # (dst, src, value, expected)
    # same type: bit-exact copies
    ("f16", "f16", 0x7C01, 0x7C01), ("bf16", "bf16", 0xFF81, 0xFF81),
    ("f32", "f32", 0x7F800001, 0x7F800001), ("f64", "f64", 0x7FF0000000000001, 0x7FF0000000000001),
    ("i32", "i32", -5, -5), ("u64", "u64", U64_MAX, U64_MAX),
    # integer -> integer: sign/zero extend, keep the low w bits
    ("i8", "i32", 300, 44), ("u8", "i32", -1, 255), ("i32", "u32", 0xFFFFFFFF, -1),
    ("u16", "i8", -1, 0xFFFF), ("u64", "i8", -1, U64_MAX), ("i32", "i8", -1, -1),
    ("i8", "u8", 255, -1), ("i64", "u8", 255, 255),
    ("i16", "i64", 0x123456789ABCDEF0, -8464), ("u32", "i64", 0x123456789ABCDEF0, 0x9ABCDEF0),
    ("u64", "i16", -2, U64_MAX - 1), ("i64", "u64", 9223372036854775808, I64_MIN),
    ("u64", "i64", I64_MIN, 9223372036854775808), ("i16", "u16", 0x8000, -32768),
    ("i8", "i32", -129, 127), ("i8", "i32", 128, -128),
    # integer -> f32/f64: one RNE rounding of the exact value
    ("f32", "i32", 100, 0x42C80000), ("f32", "i32", 16777217, 0x4B800000),
    ("f32", "i32", 16777219, 0x4B800002), ("f32", "i32", -2147483648, 0xCF000000),
    ("f32", "i32", 2147483647, 0x4F000000), ("f32", "u32", 0xFFFFFFFF, 0x4F800000),
    ("f32", "i8", -128, 0xC3000000),
    # 2^53 + 2^29 + 1: via f64 it would round twice to 2^53; one rounding gives 2^53 + 2^30
    ("f32", "i64", 9007199791611905, 0x5A000001),
    ("f32", "u64", 9223372586610589697, 0x5F000001),   # 2^63 + 2^39 + 1
    ("f32", "u64", U64_MAX, 0x5F800000),
    ("f32", "u64", 18446743523953737727, 0x5F7FFFFF),    # 2^64 - 2^39 - 1: below the midpoint
    ("f32", "i64", -9007199791611905, 0xDA000001),
    ("f64", "u64", 18446744073709550591, 0x43EFFFFFFFFFFFFF),   # 2^64 - 1025 -> 2^64 - 2048
    ("f16", "i64", I64_MIN, 0xFC00),
    # i32 -> f64 was UnsupportedOperation in the original (ISA.md §11 #2): exact
    ("f64", "i32", 1, 0x3FF0000000000000), ("f64", "i32", -2147483648, 0xC1E0000000000000),
    ("f64", "i64", 9007199254740993, 0x4340000000000000),   # 2^53 + 1: tie -> even
    ("f64", "i64", 9007199254740995, 0x4340000000000002),   # tie -> even (upwards)
    ("f64", "i64", I64_MIN, 0xC3E0000000000000), ("f64", "u64", U64_MAX, 0x43F0000000000000),
    ("f64", "u64", 9223372036854776833, 0x43E0000000000001),  # 2^63 + 1025 rounds up
    # integer -> f16/bf16: via f32
    ("f16", "i32", 2049, 0x6800), ("f16", "i32", 2051, 0x6802), ("f16", "i32", 65519, 0x7BFF),
    ("f16", "i32", 65520, 0x7C00), ("f16", "i32", -65520, 0xFC00), ("f16", "u8", 255, 0x5BF8),
    ("f16", "i64", -1, 0xBC00), ("f16", "u64", U64_MAX, 0x7C00), ("f16", "i16", -32768, 0xF800),
    ("bf16", "i32", 257, 0x4380), ("bf16", "i32", 259, 0x4382),
    ("bf16", "u32", 0xFFFFFFFF, 0x4F80),
    # 2^40 + 2^32 + 1 -> f32 2^40 + 2^32 (a bf16 tie) -> even 2^40: rounds twice (§5.5 note)
    ("bf16", "i64", 1103806595073, 0x5380),
    # float -> integer: truncate, saturate, NaN -> 0
    ("i32", "f32", 1e10, 2147483647), ("i32", "f32", -1e10, -2147483648),
    ("i32", "f32", math.inf, 2147483647), ("i32", "f32", -math.inf, -2147483648),
    ("i32", "f32", math.nan, 0), ("i32", "f32", -1.5, -1), ("i32", "f32", 99.7, 99),
    ("i32", "f32", -0.0, 0), ("i32", "f32", 2147483520.0, 2147483520),
    ("i32", "f32", 0x4F000000, 2147483647), ("i32", "f32", 0xCF000000, -2147483648),
    ("u32", "f32", -1.0, 0), ("u32", "f32", -0.9, 0), ("u32", "f32", 4294967040.0, 4294967040),
    ("u32", "f32", 0x4F800000, 4294967295), ("u32", "f32", 1e10, 4294967295),
    ("u32", "f32", 3e9, 3000000000),
    ("u8", "f32", 300.7, 255), ("i8", "f32", -300.7, -128), ("i8", "f32", 127.9, 127),
    ("i8", "f32", -128.9, -128), ("i8", "f32", 200.5, 127), ("u8", "f32", math.nan, 0),
    ("i64", "f32", 0x5F000000, I64_MAX), ("i64", "f32", 0xDF000000, I64_MIN),
    ("i64", "f64", 1e300, I64_MAX), ("i64", "f64", -1e300, I64_MIN),
    ("i64", "f64", 0xC3E0000000000000, I64_MIN), ("i64", "f64", 0x43E0000000000000, I64_MAX),
    ("u64", "f64", 0x43F0000000000000, U64_MAX),
    ("u64", "f32", 0x5F000000, 9223372036854775808), ("u64", "f32", 0x5F7FFFFF, 18446742974197923840),
    ("u64", "f32", 0x5F800000, U64_MAX), ("u64", "f32", -1e30, 0),
    ("u32", "f64", 4294967295.9, 4294967295), ("u32", "f64", 4294967296.0, 4294967295),
    ("i32", "f64", -2147483648.9, -2147483648), ("i32", "f64", -2147483649.0, -2147483648),
    ("i32", "f64", 2147483647.9, 2147483647), ("i8", "f64", -128.99, -128),
    ("u16", "f32", 65535.9, 65535), ("u16", "f32", 65536.0, 65535), ("i16", "f32", -32769.0, -32768),
    ("u64", "f64", 18446744073709549568.0, 18446744073709549568), ("u64", "f64", -5.0, 0),
    ("u64", "f64", math.nan, 0), ("u64", "f64", math.inf, U64_MAX), ("u64", "f64", -0.5, 0),
    ("i8", "f16", 0x5A40, 127), ("i16", "f16", 0xFC00, -32768), ("u16", "f16", 0x7BFF, 65504),
    ("i16", "f16", 0x7BFF, 32767), ("i32", "f16", 0x7E00, 0), ("i32", "f16", 0xBE00, -1),
    ("i32", "f16", 0x0001, 0), ("u32", "f16", 0xBC00, 0), ("u32", "f16", 0x7C00, 4294967295),
    ("i32", "bf16", 0x4F80, 2147483647), ("u32", "bf16", 0x4F80, 4294967295),
    ("i64", "bf16", 0x4F80, 4294967296), ("i32", "bf16", 0xC2C8, -100),
    ("u8", "bf16", 0x3FC0, 1), ("u16", "bf16", 0x7FC0, 0),
    # f32 -> f64 and f16/bf16 -> f32/f64: exact
    ("f64", "f32", 0x3DCCCCCD, 0x3FB99999A0000000), ("f64", "f32", 0x00000001, 0x36A0000000000000),
    ("f32", "f16", 0x0001, 0x33800000), ("f32", "f16", 0x7BFF, 0x477FE000),
    ("f32", "f16", 0xFC00, 0xFF800000), ("f32", "f16", 0x8000, 0x80000000),
    ("f64", "f16", 0x3555, 0x3FD5540000000000), ("f64", "f16", 0x0001, 0x3E70000000000000),
    ("f32", "bf16", 0x3F81, 0x3F810000), ("f64", "bf16", 0x4049, 0x4009200000000000),
    ("f32", "f16", 0x7E00, NAN),
    # f64 -> f32: RNE, overflow to inf, gradual underflow
    ("f32", "f64", 1e300, 0x7F800000), ("f32", "f64", -1e300, 0xFF800000),
    ("f32", "f64", 0x3FF0000010000000, 0x3F800000),        # 1 + 2^-24: tie -> even
    ("f32", "f64", 0x3FF0000010000001, 0x3F800001),
    ("f32", "f64", 0x3FF0000030000000, 0x3F800002),        # 1 + 3*2^-24: tie -> even
    ("f32", "f64", 0x3690000000000000, 0x00000000),        # 2^-150: tie -> 0
    ("f32", "f64", 0x3698000000000000, 0x00000001),        # 1.5 * 2^-150
    ("f32", "f64", 0x47EFFFFFF0000000, 0x7F800000),        # halfway to 2^128 -> inf
    ("f32", "f64", 0x47EFFFFFEFFFFFFF, 0x7F7FFFFF),
    ("f32", "f64", math.nan, NAN),
    # f32 -> f16: subnormals, ties to even, overflow
    ("f16", "f32", 0x33800000, 0x0001),                    # 2^-24
    ("f16", "f32", 0x33000000, 0x0000),                    # 2^-25: tie -> 0
    ("f16", "f32", 0x33000001, 0x0001),
    ("f16", "f32", 0x33C00000, 0x0002),                    # 1.5 * 2^-24: tie -> 2
    ("f16", "f32", 0x34200000, 0x0002),                    # 2.5 * 2^-24: tie -> 2
    ("f16", "f32", 0x387FE000, 0x0400),                    # 1023.5 * 2^-24: tie -> 0x400
    ("f16", "f32", 0x38800000, 0x0400), ("f16", "f32", 0xB3800000, 0x8001),
    ("f16", "f32", 0x32FFFFFF, 0x0000), ("f16", "f32", 0xB2FFFFFF, 0x8000),
    ("f16", "f32", 0x3F801000, 0x3C00),                    # 1 + 2^-11: tie -> even
    ("f16", "f32", 0x3F803000, 0x3C02),                    # 1 + 3*2^-11: tie -> even
    ("f16", "f32", 0x3F801001, 0x3C01),
    ("f16", "f32", 0x477FE000, 0x7BFF), ("f16", "f32", 0x477FF000, 0x7C00),   # 65504 / 65520
    ("f16", "f32", 0x477FEFFF, 0x7BFF), ("f16", "f32", 0xC77FF000, 0xFC00),
    ("f16", "f32", 0x7F800000, 0x7C00), ("f16", "f32", 0xFF800000, 0xFC00),
    ("f16", "f32", 0x80000000, 0x8000), ("f16", "f32", 0x7FC00000, NAN),
    ("f16", "f32", 0x7F800001, NAN),
    # f32 -> bf16: (x + 0x7FFF + ((x >> 16) & 1)) >> 16, NaN -> (x >> 16) | 0x40
    ("bf16", "f32", 0x3F808000, 0x3F80), ("bf16", "f32", 0x3F818000, 0x3F82),
    ("bf16", "f32", 0x3F808001, 0x3F81), ("bf16", "f32", 0x3F80FFFF, 0x3F81),
    ("bf16", "f32", 0x7F7FFFFF, 0x7F80), ("bf16", "f32", 0x7F7F7FFF, 0x7F7F),
    ("bf16", "f32", 0xFF7FFFFF, 0xFF80), ("bf16", "f32", 0x00018000, 0x0002),
    ("bf16", "f32", 0x00008000, 0x0000), ("bf16", "f32", 0x80000000, 0x8000),
    ("bf16", "f32", 0x7FC00001, 0x7FC0), ("bf16", "f32", 0x7F800001, 0x7FC0),
    ("bf16", "f32", 0xFF812345, 0xFFC1),
    # f64 -> f16/bf16: via f32, rounding twice (§5.5 note)
    ("f16", "f64", 0x3FF0020000001000, 0x3C00),   # 1 + 2^-11 + 2^-40 -> f32 tie -> 1.0
    ("f16", "f64", 0x40EFFE0000000000, 0x7C00),   # 65520 -> inf
    ("bf16", "f64", 0x3FF0100000001000, 0x3F80),  # 1 + 2^-8 + 2^-40 -> f32 tie -> 1.0
    # f16 <-> bf16 via f32
    ("bf16", "f16", 0x3C01, 0x3F80), ("bf16", "f16", 0x3C03, 0x3F80),
    ("bf16", "f16", 0x3C06, 0x3F81), ("bf16", "f16", 0x3C04, 0x3F80),
    ("bf16", "f16", 0x3C0C, 0x3F82), ("bf16", "f16", 0x7BFF, 0x4780),
    ("bf16", "f16", 0x0001, 0x3380), ("bf16", "f16", 0x7E00, NAN),
    ("f16", "bf16", 0x3F81, 0x3C08), ("f16", "bf16", 0x4780, 0x7C00),
    ("f16", "bf16", 0x477F, 0x7BF8), ("f16", "bf16", 0x3380, 0x0001),
    ("f16", "bf16", 0x3300, 0x0000), ("f16", "bf16", 0x3340, 0x0001),
    ("f16", "bf16", 0x3F80, 0x3C00), ("f16", "bf16", 0xC000, 0xC000),
    ("f16", "bf16", 0x0001, 0x0000), ("f16", "bf16", 0x7F7F, 0x7C00),
]


@pytest.mark.parametrize("dst,src,value,expected", CVT,
                         ids=[f"cvt.{c[0]}.{c[1]}({c[2]:#x})" if isinstance(c[2], int)
                              else f"cvt.{c[0]}.{c[1]}({c[2]})" for c in CVT])
def test_cvt(backend, dst, src, value, expected):
    got = run1(backend, f"cvt.{dst}.{src} r2, r1", ("r2", dst), [("r1", src, value)])
    if dst in IS_NAN:
        check(dst, got, expected)
    else:
        assert got == expected


def test_cvt_reads_source_type(backend):
    fault(backend, "cvt.f32.i32 r2, r1", hg.TypeMismatch, [("r1", "u32", 1)],
          message="type mismatch: r1: expected i32, got u32")


# --------------------------------------------------------------------------------------------
# §5.6 transcendentals and POW


TRANS_EXACT = [
    # C99 Annex F special values and the values ISA.md names
    ("log", "f32", 0.0, 0xFF800000), ("log", "f32", -0.0, 0xFF800000),
    ("log", "f32", -1.0, NAN), ("log", "f32", math.inf, 0x7F800000), ("log", "f32", 1.0, 0),
    ("log", "f64", 0.0, 0xFFF0000000000000), ("log", "f64", -1.0, NAN),
    ("log2", "f32", 0.0, 0xFF800000), ("log2", "f32", -1.0, NAN),
    ("log10", "f32", 0.0, 0xFF800000), ("log10", "f64", -2.0, NAN),
    ("sqrt", "f32", -1.0, NAN), ("sqrt", "f32", -0.0, 0x80000000),
    ("sqrt", "f32", math.inf, 0x7F800000), ("sqrt", "f32", 16.0, 0x40800000),
    ("sqrt", "f32", 2.25, 0x3FC00000), ("sqrt", "f32", 2.0, 0x3FB504F3),
    ("sqrt", "f32", 0x00000002, 0x1A800000),                 # sqrt(2^-148) = 2^-74
    ("sqrt", "f64", -1.0, NAN), ("sqrt", "f64", 1e6, 0x408F400000000000),
    ("sqrt", "f64", 2.0, 0x3FF6A09E667F3BCD), ("sqrt", "f64", 0.0, 0),
    ("rsqrt", "f32", 0.0, 0x7F800000), ("rsqrt", "f32", -0.0, 0xFF800000),
    ("rsqrt", "f32", 4.0, 0x3F000000), ("rsqrt", "f32", math.inf, 0x00000000),
    ("rsqrt", "f32", -1.0, NAN),
    ("rsqrt", "f64", 0.0, 0x7FF0000000000000), ("rsqrt", "f64", -0.0, 0xFFF0000000000000),
    ("rsqrt", "f64", 0.25, 0x4000000000000000),
    ("exp", "f32", 0.0, 0x3F800000), ("exp", "f32", -math.inf, 0),
    ("exp", "f32", math.inf, 0x7F800000), ("exp", "f32", 1000.0, 0x7F800000),
    ("exp", "f32", -1000.0, 0), ("exp", "f64", 0.0, 0x3FF0000000000000),
    ("sigmoid", "f32", -200.0, 0x00000000), ("sigmoid", "f32", 200.0, 0x3F800000),
    ("sigmoid", "f32", 0.0, 0x3F000000), ("sigmoid", "f32", -math.inf, 0),
    ("sigmoid", "f32", math.inf, 0x3F800000),
    ("sigmoid", "f64", -800.0, 0), ("sigmoid", "f64", 800.0, 0x3FF0000000000000),
    ("sigmoid", "f64", 200.0, 0x3FF0000000000000), ("sigmoid", "f64", 0.0, 0x3FE0000000000000),
    ("tanh", "f32", 0.0, 0), ("tanh", "f32", -0.0, 0x80000000),
    ("tanh", "f32", math.inf, 0x3F800000), ("tanh", "f32", -math.inf, 0xBF800000),
    ("sin", "f32", 0.0, 0), ("sin", "f32", -0.0, 0x80000000), ("sin", "f32", math.inf, NAN),
    ("cos", "f32", 0.0, 0x3F800000), ("cos", "f64", math.inf, NAN),
    ("tan", "f32", 0.0, 0), ("tan", "f64", -0.0, 0x8000000000000000),
    # f16 / bf16: the f32 function, then one rounding
    ("sqrt", "f16", 0x4400, 0x4000), ("sqrt", "f16", 0x4000, 0x3DA8),
    ("log", "f16", 0x0000, 0xFC00), ("rsqrt", "f16", 0x8000, 0xFC00),
    ("exp", "f16", 0x0000, 0x3C00), ("sigmoid", "f16", 0xDA40, 0x0000),
    ("sqrt", "bf16", 0xBF80, NAN), ("rsqrt", "bf16", 0x0000, 0x7F80),
    ("rsqrt", "bf16", 0x8000, 0xFF80), ("sigmoid", "bf16", 0x4348, 0x3F80),
    ("exp", "bf16", 0x0000, 0x3F80), ("log", "bf16", 0xBF80, NAN),
]


@pytest.mark.parametrize("op,ty,x,expected", TRANS_EXACT,
                         ids=[f"{c[0]}.{c[1]}({c[2]})" for c in TRANS_EXACT])
def test_transcendental_exact(backend, op, ty, x, expected):
    got = run1(backend, f"{op}.{ty} r2, r1", ("r2", ty), [("r1", ty, x)])
    check(ty, got, expected)


POW_EXACT = [
    ("f32", math.nan, 0.0, 0x3F800000), ("f32", 0.0, 0.0, 0x3F800000),
    ("f32", -math.inf, -0.0, 0x3F800000), ("f32", 5.0, 0.0, 0x3F800000),
    ("f32", 1.0, math.nan, 0x3F800000), ("f32", 1.0, math.inf, 0x3F800000),
    ("f32", 1.0, 3.7, 0x3F800000), ("f32", -2.0, 0.5, NAN), ("f32", -8.0, 0.3125, NAN),
    ("f32", 0.0, -1.0, 0x7F800000), ("f32", -0.0, -1.0, 0xFF800000),
    ("f64", math.nan, 0.0, 0x3FF0000000000000), ("f64", 1.0, math.nan, 0x3FF0000000000000),
    ("f64", -2.0, 0.5, NAN), ("f64", 3.0, -0.0, 0x3FF0000000000000),
    ("f16", 0xC000, 0x3800, NAN), ("f16", 0x7E00, 0x0000, 0x3C00), ("f16", 0x3C00, 0x7E00, 0x3C00),
    ("bf16", 0x4000, 0x4040, 0x4100),                      # 2^3 = 8
]


@pytest.mark.parametrize("ty,x,y,expected", POW_EXACT,
                         ids=[f"pow.{c[0]}({c[1]},{c[2]})" for c in POW_EXACT])
def test_pow_exact(backend, ty, x, y, expected):
    got = run1(backend, f"pow.{ty} r3, r1, r2", ("r3", ty), [("r1", ty, x), ("r2", ty, y)])
    check(ty, got, expected)


_MATH = {
    "exp": math.exp, "log": math.log, "log2": math.log2, "log10": math.log10,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "tanh": math.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)), "sqrt": math.sqrt,
    "rsqrt": lambda x: 1.0 / math.sqrt(x),
}
TRANS_APPROX = [(op, ty, x) for ty in ("f32", "f64")
                for op, x in [("exp", 1.0), ("exp", -3.5), ("log", 10.0), ("log", 0.001),
                              ("log2", 10.0), ("log2", 8.0), ("log10", 2.0), ("log10", 1000.0),
                              ("sin", 1.0), ("sin", 100.0), ("cos", 1.0), ("tan", 1.0),
                              ("tanh", 0.5), ("tanh", -3.0), ("sigmoid", 1.0),
                              ("sigmoid", -2.5), ("rsqrt", 2.0), ("rsqrt", 10.0)]]


@pytest.mark.parametrize("op,ty,x", TRANS_APPROX, ids=[f"{c[0]}.{c[1]}({c[2]})" for c in TRANS_APPROX])
def test_transcendental_within_4ulp(backend, op, ty, x):
    got = run1(backend, f"{op}.{ty} r2, r1", ("r2", ty), [("r1", ty, x)])
    # x is exactly representable in f32 for the chosen arguments except 0.001 (then f32(x))
    xin = struct.unpack("<f", struct.pack("<f", x))[0] if ty == "f32" else x
    exact = _MATH[op](xin)
    want = f32_bits_of(exact) if ty == "f32" else f64_bits_of(exact)
    assert abs(ordered(ty, got) - ordered(ty, want)) <= 4, (hex(got), hex(want))


@pytest.mark.parametrize("ty,x,y", [("f32", 2.5, 3.5), ("f32", 10.0, -2.0), ("f32", 2.0, 10.0),
                                    ("f64", 2.5, 3.5),
                                    ("f64", 0.5, 100.0), ("f64", 7.0, 1.0 / 3)])
def test_pow_within_4ulp(backend, ty, x, y):
    got = run1(backend, f"pow.{ty} r3, r1, r2", ("r3", ty), [("r1", ty, x), ("r2", ty, y)])
    if ty == "f32":
        want = f32_bits_of(struct.unpack("<f", struct.pack("<f", x))[0] **
                           struct.unpack("<f", struct.pack("<f", y))[0])
    else:
        want = f64_bits_of(x ** y)
    assert abs(ordered(ty, got) - ordered(ty, want)) <= 4, (hex(got), hex(want))


def test_f16_bf16_transcendental_within_1ulp(backend):
    # exp(1) = 2.71828...: nearest f16 2.71875 (0x4170); bf16 2.71875 (0x402E)
    got = run(backend, "exp.f16 r2, r1\nexp.bf16 r4, r3", [("r2", "f16"), ("r4", "bf16")],
              [("r1", "f16", 0x3C00), ("r3", "bf16", 0x3F80)])
    assert abs(got[0] - 0x4170) <= 1 and abs(got[1] - 0x402E) <= 1, [hex(g) for g in got]


# --------------------------------------------------------------------------------------------
# §5.1 data movement: MOV, MOV_IMM, LDG/STG, LDS/STS


MOV_IMM = [
    ("i8", 511, -1), ("u8", 511, 255), ("i16", 0x18000, -32768), ("u16", 65537, 1),
    ("i32", -1, -1), ("i32", 0x100000005, 5), ("u32", 4294967296, 0), ("i32", 2147483648, -2147483648),
    ("u64", U64_MAX, U64_MAX), ("i64", I64_MIN, I64_MIN), ("i64", U64_MAX, -1),
    ("f32", 1065353216, 0x3F800000), ("f32", 0x13F800000, 0x3F800000),   # low 32 bits
    ("f32", 1109917696, 0x42280000),                                     # 42.0
    ("f64", 4607182418800017408, 0x3FF0000000000000),
    ("f16", 0x13C00, 0x3C00), ("bf16", 0xABCD7FC1, 0x7FC1),
    ("f32", 0x7F800001, 0x7F800001), ("f64", 0xFFF0000000000001, 0xFFF0000000000001),
    # float literals: nearest f64, then cvt.T.f64
    ("f32", 1.5, 0x3FC00000), ("f32", -0.0, 0x80000000), ("f32", math.nan, 0x7FC00000),
    ("f32", -math.nan, 0xFFC00000), ("f32", math.inf, 0x7F800000), ("f16", 1.0, 0x3C00),
    ("f16", math.nan, 0x7E00), ("bf16", math.nan, 0x7FC0), ("f64", math.nan, 0x7FF8000000000000),
    ("bf16", -math.inf, 0xFF80), ("f16", 0.1, 0x2E66), ("f32", 0.1, 0x3DCCCCCD),
]


@pytest.mark.parametrize("ty,value,expected", MOV_IMM,
                         ids=[f"mov_imm.{c[0]}({c[1]})" for c in MOV_IMM])
def test_mov_imm(backend, ty, value, expected):
    lit = {math.inf: "inf", -math.inf: "-inf"}.get(value) if isinstance(value, float) else None
    if isinstance(value, float) and math.isnan(value):
        lit = "-nan" if math.copysign(1, value) < 0 else "nan"
    body = f"mov_imm.{ty} r1, {lit or _lit(value)}"
    assert run1(backend, body, ("r1", ty)) == expected


@pytest.mark.parametrize("ty,value", [("i8", -42), ("i16", -1234), ("i32", -123456),
                                      ("i64", -12345678901234), ("u8", 200), ("u16", 50000),
                                      ("u32", 3000000000), ("u64", 12345678901234567890),
                                      ("f16", 0x7C01), ("bf16", 0xFF81), ("f32", 0xFF800001),
                                      ("f64", 0x7FF0000000000001)])
def test_mov_bit_exact(backend, ty, value):
    assert run1(backend, f"mov.{ty} r2, r1", ("r2", ty), [("r1", ty, value)]) == value


def test_mov_type_mismatch(backend):
    fault(backend, "mov.i32 r2, r1", hg.TypeMismatch, [("r1", "f32", 1.0)],
          at="mov.i32 r2, r1", message="type mismatch: r1: expected i32, got f32")


LOADS = [
    # bytes 81 82 83 84 85 86 87 88 at offset 0 of the buffer, read with each type
    ("i8", -127), ("u8", 0x81), ("i16", 0x8281 - 0x10000), ("u16", 0x8281),
    ("i32", 0x84838281 - 2**32), ("u32", 0x84838281),
    ("i64", 0x8887868584838281 - 2**64), ("u64", 0x8887868584838281),
    ("f16", 0x8281), ("bf16", 0x8281), ("f32", 0x84838281), ("f64", 0x8887868584838281),
]


@pytest.mark.parametrize("ty,expected", LOADS)
def test_ldg_little_endian(backend, ty, expected):
    data = np.array([0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89], np.uint8)
    got = run_snippet(backend, {}, f"ldg.{ty} r2, [r1 + 0]", [("r2", ty)],
                      extra_params={"r1": data})
    assert _bits(got[0]) == expected


def test_ldg_unaligned(backend):
    # plain loads have no alignment requirement
    data = np.array([0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89], np.uint8)
    got = run_snippet(backend, {}, "ldg.u32 r2, [r1 + 1]\nldg.u64 r3, [r1 + 1]\n"
                      "ldg.i16 r4, [r1 + 3]", [("r2", "u32"), ("r3", "u64"), ("r4", "i16")],
                      extra_params={"r1": data})
    assert [int(v) for v in got] == [0x85848382, 0x8988878685848382, 0x8584 - 0x10000]


STORES = [
    ("u32", 0x11223344, [0x44, 0x33, 0x22, 0x11]), ("i16", -2, [0xFE, 0xFF]),
    ("i8", -1, [0xFF]), ("u64", 0x0102030405060708, [8, 7, 6, 5, 4, 3, 2, 1]),
    ("f64", 0x3FF0000000000000, [0, 0, 0, 0, 0, 0, 0xF0, 0x3F]),
    ("f32", 0x7F800001, [0x01, 0, 0x80, 0x7F]), ("f16", 0x3C00, [0x00, 0x3C]),
    ("bf16", 0x3F80, [0x80, 0x3F]), ("i64", -2, [0xFE] + [0xFF] * 7),
]


@pytest.mark.parametrize("ty,value,expected", STORES)
def test_stg_bytes_unaligned(backend, ty, value, expected):
    buf = np.full(12, 0xAA, np.uint8)
    run_snippet(backend, {}, f"mov_imm.{ty} r2, {value}\nstg.{ty} [r1 + 3], r2", [],
                extra_params={"r1": buf})
    assert buf.tolist() == [0xAA] * 3 + expected + [0xAA] * (9 - len(expected))


def test_global_bounds_and_handles(backend):
    buf = np.zeros(16, np.uint8)
    # last in-bounds u32, then one byte too far
    assert run_snippet(backend, {}, "ldg.u32 r2, [r1 + 12]", [("r2", "u32")],
                       extra_params={"r1": buf}) == [0]
    with pytest.raises(hg.OutOfBounds) as ei:
        run_snippet(backend, {}, "ldg.u32 r2, [r1 + 13]", [], extra_params={"r1": buf})
    assert not isinstance(ei.value, hg.SharedOutOfBounds)
    # an offset near 2^64 does not wrap around
    with pytest.raises(hg.OutOfBounds):
        run_snippet(backend, {}, f"mov_imm.u64 r3, {U64_MAX - 1}\nldg.u8 r2, [r1 + r3]", [],
                    extra_params={"r1": buf})
    # a faulting store writes no byte
    with pytest.raises(hg.OutOfBounds):
        run_snippet(backend, {}, f"mov_imm.u64 r2, {U64_MAX}\nstg.u64 [r1 + 12], r2", [],
                    extra_params={"r1": buf})
    assert buf.tolist() == [0] * 16
    # negative RegisterIndirect offset -> OutOfBounds (ISA.md §11 #18)
    with pytest.raises(hg.OutOfBounds):
        run_snippet(backend, {}, "ldg.u8 r2, [r1 - 4]", [], extra_params={"r1": buf})
    with pytest.raises(hg.InvalidHandle):
        run_snippet(backend, {}, "ldg.u8 r2, [buf999 + 0]", [])
    with pytest.raises(hg.InvalidHandle):
        run_snippet(backend, {}, f"mov_imm.u64 r1, {CLASS0 - 1}\nldg.u8 r2, [r1 + 0]", [])
    # handles and offsets must be u64
    fault(backend, "ldg.u8 r2, [r1 + r3]", hg.TypeMismatch,
          [("r1", "u64", 0), ("r3", "u32", 0)], message="type mismatch: r3: expected u64, got u32")
    fault(backend, "ldg.u8 r2, [r1 + 4]", hg.TypeMismatch, [("r1", "i64", 0)],
          message="type mismatch: r1: expected u64, got i64")


def test_address_registers_read_before_bounds(backend):
    # STG {ty, src, addr}: the source is read before the address registers
    fault(backend, "stg.u32 [r5 + r6], r7", hg.UninitializedRegister,
          message="uninitialized register: r7")
    fault(backend, "stg.u32 [r5 + r6], r7", hg.UninitializedRegister, [("r7", "u32", 1)],
          message="uninitialized register: r5")
    fault(backend, "stg.u32 [r5 + r6], r7", hg.UninitializedRegister,
          [("r7", "u32", 1), ("r5", "u64", 0)], message="uninitialized register: r6")


def test_shared_memory(backend):
    out = run_snippet(backend, {}, """
        lds.u64 r2, [buf0 + 8]            ; zero-filled at block start
        mov_imm.u32 r3, 0xDEADBEEF
        mov_imm.u64 r99, 2
        sts.u32 [r99 + 2], r3             ; RegisterIndirect: offset rB + D (ISA 1.1 §12.2.3)
        mov_imm.u64 r5, 4
        lds.u32 r4, [r98 + r5]            ; handle register not read
        mov_imm.f16 r6, 0x3C00
        sts.f16 [Φ(0, 0, 14)], r6         ; Φ: same offset, in shared memory
        lds.u16 r7, [buf123 + 14]         ; bufN ignored
        """, [("r2", "u64"), ("r4", "u32"), ("r7", "u16")], shared_memory=16)
    assert [int(v) for v in out] == [0, 0xDEADBEEF, 0x3C00]


def test_shared_out_of_bounds(backend):
    with pytest.raises(hg.SharedOutOfBounds) as ei:
        run_snippet(backend, {}, "lds.u32 r1, [buf0 + 13]", [], shared_memory=16)
    assert ei.value.pc == 0
    with pytest.raises(hg.SharedOutOfBounds):
        run_snippet(backend, {}, "mov_imm.u8 r1, 0\nsts.u8 [buf0 + 0], r1", [])   # 0 bytes
    with pytest.raises(hg.SharedOutOfBounds):
        run_snippet(backend, {}, "mov_imm.u64 r3, 0\nlds.u8 r1, [r3 - 1]", [], shared_memory=16)
    assert run_snippet(backend, {}, "lds.u32 r1, [buf0 + 12]", [("r1", "u32")],
                       shared_memory=16) == [0]


def test_shared_memory_is_per_block(backend):
    # every block adds its block index to a zero-filled shared word and reads it back
    out = np.zeros(4, np.uint32)
    prog = hg.assemble("""
        lds.u32 r1, [buf0 + 0]
        add.u32 r1, r1, r253
        sts.u32 [buf0 + 0], r1
        lds.u32 r2, [buf0 + 0]
        mov_imm.u32 r3, 2
        cvt.u64.u32 r4, r253
        shl.u64 r4, r4, r3
        stg.u32 [r9 + r4], r2
        """)
    backend.execute_program(prog, hg.LaunchConfig(4, 1, 4), {"r9": out})
    assert out.tolist() == [0, 1, 2, 3]


# --------------------------------------------------------------------------------------------
# §3 registers: initial values, special registers, uninitialized reads


def test_mov_sreg_3d_grid(backend):
    grid, block = (2, 3, 2), (4, 2, 2)
    n = 2 * 3 * 2 * 4 * 2 * 2          # 192 lanes
    lines = ["mov.u64 r1, %gid", "mov_imm.u32 r2, 7", "shl.u64 r3, r1, r2"]   # 128 bytes/lane
    names = ["lane.x", "lane.y", "lane.z", "block.x", "block.y", "block.z", "blockdim.x",
             "blockdim.y", "blockdim.z", "griddim.x", "griddim.y", "griddim.z"]
    for k, name in enumerate(names):
        lines += [f"mov.u32 r10, %{name}", f"mov_imm.u64 r4, {4 * k}", "add.u64 r5, r3, r4",
                  "stg.u32 [r9 + r5], r10"]
    for k, reg in enumerate(["r252", "r253", "r254"]):
        lines += [f"mov_imm.u64 r4, {48 + 4 * k}", "add.u64 r5, r3, r4",
                  f"stg.u32 [r9 + r5], {reg}"]
    lines += ["mov_imm.u64 r4, 64", "add.u64 r5, r3, r4", "stg.u64 [r9 + r5], r1",
              "mov_imm.u64 r4, 72", "add.u64 r5, r3, r4", "stg.u64 [r9 + r5], r255"]
    out = np.zeros(n * 32, np.uint32)
    backend.execute_program(hg.assemble("\n".join(lines)), hg.LaunchConfig(grid, block),
                            {"r9": out})
    rows = out.reshape(n, 32)
    gids = rows[:, 16].astype(np.uint64) | (rows[:, 17].astype(np.uint64) << np.uint64(32))
    assert gids.tolist() == list(range(n))
    for gid in range(n):
        b, l = divmod(gid, 16)                       # ISA.md §7.2, inverse formulas
        bx, by, bz = b % 2, (b % 6) // 2, b // 6
        tx, ty, tz = l % 4, (l // 4) % 2, l // 8
        assert rows[gid, :12].tolist() == [tx, ty, tz, bx, by, bz, 4, 2, 2, 2, 3, 2], gid
        assert bx + 2 * (by + 3 * bz) == b and tx + 4 * (ty + 2 * tz) == l
        # initial r252 = lane x, r253 = block x, r254 = block.x extent, r255 = gid
        assert rows[gid, 12:15].tolist() == [tx, bx, 4]
        assert rows[gid, 18] == gid and rows[gid, 19] == 0
    # hand-checked rows: gid 85 = block 5 (1, 2, 0), lane 5 (1, 1, 0);
    # gid 191 = block 11 (1, 2, 1), lane 15 (3, 1, 1)
    assert rows[85, :6].tolist() == [1, 1, 0, 1, 2, 0]
    assert rows[191, :6].tolist() == [3, 1, 1, 1, 2, 1]


@pytest.mark.parametrize("src", ["mov.u32 r1, %gid", "mov.u64 r1, %lane.x",
                                 "mov.i32 r1, %block.y"])
def test_mov_sreg_type_must_match(src):
    with pytest.raises(hg.ProgramError):
        hg.assemble(src)


def test_initial_registers_and_param_overwrite(backend):
    prog = hg.assemble("""
        mov_imm.u32 r2, 2
        cvt.u64.u32 r3, r252
        mov_imm.u32 r4, 4
        shl.u64 r3, r255, r4            ; 16 bytes per lane, by global id
        stg.u32 [r9 + r3], r252
        mov_imm.u64 r5, 4
        add.u64 r6, r3, r5
        stg.u32 [r9 + r6], r253
        add.u64 r6, r6, r5
        stg.u32 [r9 + r6], r254
        """)
    out = np.zeros(4 * 2 * 6, np.uint32)
    backend.execute_program(prog, hg.LaunchConfig(2, (3, 2)), {"r9": out})
    rows = out.reshape(12, 4)
    for gid in range(12):                       # block (3, 2): r254 is 3, not 6
        assert rows[gid, :3].tolist() == [gid % 6 % 3, gid // 6, 3]
    # parameters are written after the special registers and may overwrite them
    prog2 = hg.assemble("stg.u32 [r9 + 0], r252\nstg.f32 [r9 + 4], r255\n"
                        "stg.u32 [r9 + 8], r253\nstg.u32 [r9 + 12], r254")
    out2 = np.zeros(4, np.uint32)
    backend.execute_program(prog2, hg.LaunchConfig(1, 1),
                            {"r9": out2, "r252": ("u32", 77), "r255": ("f32", 2.5)})
    assert out2.tolist() == [77, 0x40200000, 0, 1]


def test_uninitialized_reads(backend):
    e = fault(backend, "add.i32 r3, r5, r5", hg.UninitializedRegister,
              message="uninitialized register: r5", at="add.i32 r3, r5, r5")
    assert e.pc == 0 and "uninitialized register: r5" in str(e)
    fault(backend, "mov_imm.i32 r1, 42\nadd.f32 r3, r1, r1", hg.TypeMismatch,
          message="type mismatch: r1: expected f32, got i32", at="add.f32 r3, r1, r1")
    fault(backend, "bra.p0 @x\nx:\nexit", hg.UninitializedPredicate,
          message="uninitialized predicate: p0", at="bra.p0 @x")
    # operands are read in field order: the first failed read is reported
    fault(backend, "add.i32 r3, r1, r2", hg.UninitializedRegister, [("r2", "f32", 1.0)],
          message="uninitialized register: r1")
    fault(backend, "add.i32 r3, r1, r2", hg.TypeMismatch, [("r1", "f32", 1.0)],
          message="type mismatch: r1: expected i32, got f32")
    fault(backend, "mad.i32 r4, r1, r2, r3", hg.UninitializedRegister,
          [("r1", "i32", 1), ("r3", "i32", 1)], message="uninitialized register: r2")
    # the type follows the last write
    assert run1(backend, "mov_imm.i32 r0, 42\nmov_imm.f32 r0, 1078530011", ("r0", "f32")) \
        == 1078530011
    fault(backend, "mov_imm.i32 r0, 42\nmov_imm.f32 r0, 1.0\nmov.i32 r1, r0", hg.TypeMismatch,
          message="type mismatch: r0: expected i32, got f32")


def test_fault_report_fields(backend):
    # the error of the lowest faulting global lane is raised, with its coordinates
    prog = hg.assemble("""
        mov_imm.u64 r1, 13
        setlt.u64 p0, r255, r1
        bra.p0 @ok
        div.i32 r3, r4, r4              ; lanes with gid >= 13: uninitialized r4
    ok:
        exit
        """)
    with pytest.raises(hg.UninitializedRegister) as ei:
        backend.execute_program(prog, hg.LaunchConfig((2, 2), (4, 2)))
    e = ei.value
    assert (e.global_lane_id, e.block_idx, e.lane_idx, e.pc) == (13, (1, 0, 0), (1, 1, 0), 3)
    assert e.instruction == "div.i32 r3, r4, r4"
    assert e.message == "uninitialized register: r4"
    for part in ("uninitialized register: r4", "13", "div.i32 r3, r4, r4"):
        assert part in str(e)


# --------------------------------------------------------------------------------------------
# §5.7 reductions


REDUCE = [
    # (op, ty, values of r1.., expected)
    ("add", "i32", [1, 2, 3, 4, 5], 15), ("min", "i32", [10, 5, 20, 3, 15], 3),
    ("max", "i32", [10, 5, 20, 3, 15], 20), ("mul", "i32", [2, 3, 4, 5], 120),
    ("add", "u8", [200, 100], 44), ("mul", "u8", [16, 16, 3], 0), ("mul", "i8", [-1, -128], -128),
    ("min", "u16", [65535, 7, 9], 7), ("max", "i64", [I64_MIN, -5, -7], -5),
    ("max", "u64", [3, U64_MAX, 5], U64_MAX),
    # floats: each step is the §5.2 operation
    ("add", "f32", [0x4B800000, 1.0, 1.0], 0x4B800000),    # (2^24 + 1) ties to 2^24, twice
    ("add", "f32", [1.0, 1.0, 0x4B800000], 0x4B800001),    # ascending order: 2 + 2^24
    ("min", "f32", [NAN, 1.0, 2.0], 0x3F800000), ("max", "f32", [-0.0, 0.0], 0x00000000),
    ("min", "f32", [0.0, -0.0], 0x80000000), ("mul", "f64", [0.5, 3.0, -2.0], 0xC008000000000000),
    # f16: rounded at every step (1 + 2^-11 is a tie, twice), so not 1 + 2^-10
    ("add", "f16", [0x3C00, 0x1000, 0x1000], 0x3C00),
    ("add", "f16", [0x1000, 0x1000, 0x3C00], 0x3C01),      # ascending order matters
    ("mul", "bf16", [0x4000, 0x4040], 0x40C0), ("max", "bf16", [0xBF80, 0x7FC0], 0xBF80),
]


@pytest.mark.parametrize("op,ty,values,expected", REDUCE,
                         ids=[f"reduce.{c[0]}.{c[1]}{i}" for i, c in enumerate(REDUCE)])
def test_reduce(backend, op, ty, values, expected):
    regs = [(f"r{1 + i}", ty, _fval(ty, v) if ty[0] in "fb" else v) for i, v in enumerate(values)]
    got = run1(backend, f"reduce.{op}.{ty} r10, r1, {len(values)}", ("r10", ty), regs)
    assert got == expected, hex(got)


REDUCE_EMPTY = [
    ("add", "f32", 0x00000000), ("add", "i32", 0), ("add", "f16", 0x0000),
    ("mul", "i32", 1), ("mul", "u64", 1), ("mul", "f32", 0x3F800000), ("mul", "f16", 0x3C00),
    ("mul", "bf16", 0x3F80), ("mul", "f64", 0x3FF0000000000000),
    ("min", "i8", 127), ("min", "u8", 255), ("min", "i32", 2147483647), ("min", "u64", U64_MAX),
    ("min", "f32", 0x7F800000), ("min", "f16", 0x7C00), ("min", "bf16", 0x7F80),
    ("max", "i8", -128), ("max", "u32", 0), ("max", "i64", I64_MIN),
    ("max", "f64", 0xFFF0000000000000), ("max", "bf16", 0xFF80), ("max", "f16", 0xFC00),
]


@pytest.mark.parametrize("op,ty,expected", REDUCE_EMPTY)
def test_reduce_count_zero_identity(backend, op, ty, expected):
    # count 0 reads no register (r1 is uninitialized) and writes the identity
    assert run1(backend, f"reduce.{op}.{ty} r0, r1, 0", ("r0", ty)) == expected


def test_reduce_reads_in_ascending_order(backend):
    fault(backend, "reduce.add.i32 r10, r1, 3", hg.UninitializedRegister,
          [("r1", "i32", 1)], message="uninitialized register: r2")
    fault(backend, "reduce.add.i32 r10, r1, 3", hg.TypeMismatch,
          [("r1", "i32", 1), ("r2", "f32", 1.0)], message="type mismatch: r2: expected i32, got f32")
    with pytest.raises(hg.ProgramError):
        hg.assemble("reduce.add.i32 r0, r250, 7")
    hg.assemble("reduce.add.i32 r0, r250, 6")


# --------------------------------------------------------------------------------------------
# §6 control flow


def test_loop_runs_k_plus_one_times(backend):
    for k, runs in [(3, 4), (0, 1), (99, 100)]:
        got = run(backend, "L:\nadd.i32 r1, r1, r2\nloop r0, @L", [("r1", "i32"), ("r0", "u32")],
                  [("r0", "u32", k), ("r1", "i32", 0), ("r2", "i32", 1)])
        assert got == [runs, 0]


def test_loop_count_must_be_u32(backend):
    fault(backend, "L:\nloop r0, @L", hg.TypeMismatch, [("r0", "u64", 3)], at="loop r0, @L",
          message="type mismatch: r0: expected u32, got u64")


def test_call_ret_nesting(backend):
    src = """
        mov_imm.i32 r1, 0
        mov_imm.i32 r2, 1
        call @f
        add.i32 r1, r1, r2           ; 1 + 10 + 100 + 1000 + 1
        bra @__epilogue              ; run_snippet's epilogue stores r1
    f:  mov_imm.i32 r3, 10
        add.i32 r1, r1, r3
        call @g
        mov_imm.i32 r3, 1000
        add.i32 r1, r1, r3
        ret
    g:  mov_imm.i32 r3, 100
        add.i32 r1, r1, r3
        ret
        """
    assert run1(backend, src, ("r1", "i32")) == 1111


def test_call_depth_256_ok_257_overflows(backend):
    # f recurses r1 more times; total depth = r1 + 1 return addresses
    src = """
        mov_imm.u32 r2, 1
        mov_imm.u32 r3, 0
        call @f
        stg.u32 [r9 + 4], r1          ; reached after all returns
        exit
    f:  stg.u32 [r9 + 0], r1
        setne.u32 p0, r1, r3
        bra.p0 @deeper
        ret
    deeper:
        sub.u32 r1, r1, r2
        call @f
        ret
        """
    prog = hg.assemble(src)
    out = np.zeros(2, np.uint32)
    backend.execute_program(prog, params={"r9": out, "r1": ("u32", 255)})   # depth 256
    assert out.tolist() == [0, 0]
    out[:] = 7
    with pytest.raises(hg.CallStackOverflow) as ei:
        backend.execute_program(prog, params={"r9": out, "r1": ("u32", 256)})   # depth 257
    assert ei.value.pc == 10 and ei.value.instruction == "call @f"
    assert out.tolist() == [1, 7]       # the 256th call level stored r1 = 1


def test_call_overflow_unbounded_recursion(backend):
    prog = hg.assemble("""
        mov_imm.u32 r1, 0
        mov_imm.u32 r2, 1
        call @f
        exit
    f:  add.u32 r1, r1, r2
        stg.u32 [r10 + 0], r1
        call @f
        """)
    out = np.zeros(1, np.uint32)
    with pytest.raises(hg.CallStackOverflow) as ei:
        backend.execute_program(prog, params={"r10": out})
    assert ei.value.pc == 6
    assert out[0] == 256


def test_ret_on_empty_stack(backend):
    fault(backend, "mov_imm.u8 r1, 1\nret", hg.CallStackUnderflow, at="ret")


def test_exit_inside_subroutine(backend):
    out = np.zeros(2, np.uint32)
    prog = hg.assemble("""
        call @f
        mov_imm.u32 r1, 99
        stg.u32 [r9 + 0], r1
        exit
    f:  mov_imm.u32 r1, 7
        stg.u32 [r9 + 4], r1
        exit
        ret
        """)
    backend.execute_program(prog, params={"r9": out})
    assert out.tolist() == [0, 7]


def test_branch_to_itself_reexecutes(backend):
    # ISA.md §11 #7: the original treated a self-branch as not taken
    out = np.zeros(1, np.uint32)
    prog = hg.assemble("""
        mov_imm.u32 r1, 1
        seteq.u32 p0, r1, r1
    L:  bra.p0 @L
        stg.u32 [r9 + 0], r1
        """)
    with pytest.raises(hg.StepLimitExceeded) as ei:
        backend.execute_program(prog, params={"r9": out}, max_steps=50)
    assert ei.value.pc == 2 and out[0] == 0
    with pytest.raises(hg.StepLimitExceeded) as ei:
        backend.execute_program(hg.assemble("L: bra @L"), max_steps=1000)
    assert ei.value.pc == 0
    # not taken: falls through
    prog2 = hg.assemble("mov_imm.u32 r1, 1\nsetne.u32 p0, r1, r1\nL: bra.p0 @L\n"
                        "stg.u32 [r9 + 0], r1")
    backend.execute_program(prog2, params={"r9": out}, max_steps=50)
    assert out[0] == 1


def test_max_steps_counts_every_instruction(backend):
    prog = hg.assemble("mov_imm.u32 r1, 1\nmov_imm.u32 r2, 2\nexit")
    backend.execute_program(prog, max_steps=3)
    with pytest.raises(hg.StepLimitExceeded) as ei:
        backend.execute_program(prog, max_steps=2)
    assert ei.value.pc == 2
    with pytest.raises(hg.StepLimitExceeded) as ei:
        backend.execute_program(prog, max_steps=0)
    assert ei.value.pc == 0
    backend.execute_program(hg.assemble(""), max_steps=0)      # empty program: no step


def test_running_off_the_end(backend):
    out = np.zeros(1, np.uint32)
    backend.execute_program(hg.assemble("mov_imm.u32 r1, 5\nstg.u32 [r9 + 0], r1"),
                            params={"r9": out})
    assert out[0] == 5
    # a label at len: branching there ends the lane
    out[0] = 0
    backend.execute_program(hg.assemble("bra @end\nmov_imm.u32 r1, 5\nstg.u32 [r9 + 0], r1\nend:"),
                            params={"r9": out})
    assert out[0] == 0


def test_barrier_divergence(backend):
    prog = hg.assemble("""
        mov_imm.u32 r1, 0
        seteq.u32 p0, r252, r1
        bra.p0 @a
        bar.sync 1
        exit
    a:  bar.sync 0
        """)
    with pytest.raises(hg.BarrierDivergence) as ei:
        backend.execute_program(prog, hg.LaunchConfig(1, 4))
    assert ei.value.global_lane_id == 0 and ei.value.pc == 5


def test_memfence_is_a_no_op(backend):
    assert run1(backend, "mov_imm.u32 r1, 3\nmemfence.thread\nmemfence.block\n"
                "memfence.device\nmemfence.system", ("r1", "u32")) == 3


# --------------------------------------------------------------------------------------------
# §5.9 pools and §4.3 boundary pool


def test_pool_lifecycle_from_a_lane(backend):
    got = run_snippet(backend, {}, """
        pool.alloc r1, 1024
        mov_imm.f32 r2, 42.5
        mov_imm.u64 r3, 0
        pool.store.f32 r1, r3, r2
        pool.load.f32 r4, r1, r3
        mov_imm.u64 r5, 1020
        pool.load.u32 r6, r1, r5           ; last in-bounds u32, zero-filled
        pool.free r1
        """, [("r1", "u64"), ("r4", "f32"), ("r6", "u32")])
    assert [int(got[0]), float(got[1]), int(got[2])] == [1, 42.5, 0]
    with pytest.raises(hg.InvalidHandle):
        backend.copy_from_pool(1, bytearray(4))


@pytest.mark.parametrize("body,exc,message", [
    ("mov_imm.u64 r1, 0\npool.free r1", hg.InvalidHandle, None),
    ("mov_imm.u64 r1, 999\npool.free r1", hg.InvalidHandle, None),
    ("pool.alloc r1, 16\npool.free r1\npool.free r1", hg.InvalidHandle, None),
    ("pool.alloc r1, 16\npool.free r1\nmov_imm.u64 r2, 0\npool.load.u8 r3, r1, r2",
     hg.InvalidHandle, None),
    ("pool.alloc r1, 1024\nmov_imm.u64 r2, 1021\npool.load.f32 r3, r1, r2", hg.OutOfBounds, None),
    ("pool.alloc r1, 0\nmov_imm.u64 r2, 0\npool.load.u8 r3, r1, r2", hg.OutOfBounds, None),
    ("pool.alloc r1, 16\nmov_imm.u64 r2, 9\nmov_imm.u64 r3, 1\npool.store.u64 r1, r2, r3",
     hg.OutOfBounds, None),
    ("mov_imm.u64 r1, 7\nmov_imm.u64 r2, 0\npool.load.u8 r3, r1, r2", hg.InvalidHandle, None),
    ("mov_imm.u32 r1, 1\npool.free r1", hg.TypeMismatch, "type mismatch: r1: expected u64, got u32"),
])
def test_pool_faults(backend, body, exc, message):
    e = fault(backend, body, exc, message=message)
    assert e.pc == len(hg.assemble(body)) - 1


def test_pool_zero_is_the_boundary_pool(backend):
    run_snippet(backend, {}, """
        mov_imm.u64 r0, 0
        mov_imm.u64 r1, 24580                 ; class 2, page 0, byte 4
        mov_imm.u32 r2, 0xA1B2C3D4
        pool.store.u32 r0, r1, r2
        """, [])
    assert backend.buffer_view(0)[24580:24584].tolist() == [0xD4, 0xC3, 0xB2, 0xA1]
    got = run_snippet(backend, {}, "mov_imm.u64 r0, 0\nmov_imm.u64 r1, 1179644\n"
                      "mov_imm.f32 r2, 3.5\npool.store.f32 r0, r1, r2\n"
                      "pool.load.f32 r3, r0, r1", [("r3", "f32")])
    assert float(got[0]) == 3.5
    with pytest.raises(hg.OutOfBounds):
        run_snippet(backend, {}, "mov_imm.u64 r0, 0\nmov_imm.u64 r1, 1179645\n"
                    "pool.load.f32 r3, r0, r1", [])


def test_pools_persist_and_share_ids_with_host(backend):
    hp = backend.allocate_pool(64)
    assert hp == 1
    backend.copy_to_pool(hp, np.array([11, 22], np.uint32))
    out = np.zeros(4, np.uint64)
    backend.execute_program(hg.assemble("""
        pool.alloc r1, 32                      ; id 2: ids are shared with the host
        mov_imm.u64 r2, 4
        pool.load.u32 r3, r8, r2               ; host data
        mov_imm.u64 r4, 8
        pool.store.u32 r1, r4, r3
        stg.u64 [r9 + 0], r1
        """), params={"r8": ("u64", hp), "r9": out})
    assert out[0] == 2
    got = np.zeros(4, np.uint32)
    backend.copy_from_pool(2, got)
    assert got.tolist() == [0, 0, 22, 0]
    # a later launch still sees the pool (pools outlive launches)
    res = run_snippet(backend, {"r1": ("u64", 2)}, "mov_imm.u64 r2, 8\npool.load.u32 r3, r1, r2\n"
                      "pool.free r1", [("r3", "u32")])
    assert int(res[0]) == 22
    with pytest.raises(hg.InvalidHandle):
        backend.free_pool(2)
    with pytest.raises(hg.InvalidHandle):
        backend.free_pool(0)
    new = backend.allocate_pool(8)                   # pool 2's slot, a new id (§4.4)
    assert new not in (0, 1, 2)
    with pytest.raises(hg.InvalidHandle):             # the old id stays invalid
        backend.copy_from_pool(2, got)
    backend.copy_from_pool(new, np.zeros(2, np.uint32))


@pytest.mark.parametrize("ty,value", [("f16", 0x7C01), ("bf16", 0xFF81), ("i8", -3),
                                      ("u64", U64_MAX), ("f64", 0x7FF0000000000001)])
def test_pool_all_types(backend, ty, value):
    got = run1(backend, f"pool.alloc r1, 16\nmov_imm.u64 r2, 3\nmov_imm.{ty} r3, {value}\n"
               f"pool.store.{ty} r1, r2, r3\npool.load.{ty} r4, r1, r2", ("r4", ty))
    assert got == value


def test_boundary_pool_handle_zero_and_class_windows(backend):
    run_snippet(backend, {}, f"""
        mov_imm.u32 r1, 0xAABBCCDD
        stg.u32 [buf0 + 12286], r1                        ; straddles classes 0/1: allowed
        mov_imm.u16 r2, 0x1234
        stg.u16 [buf{CLASS0 + 5} + 10], r2                ; class 5 window
        mov_imm.u8 r3, 0x77
        stg.u8 [Φ(5, 12, 200)], r3                        ; 12288*5 + 256*12 + 200
        mov_imm.u64 r4, {CLASS0 + 95}
        mov_imm.u32 r5, 0x01020304
        stg.u32 [r4 + 12284], r5                          ; last word of class 95
        """, [])
    bp = backend.buffer_view(0)
    assert bp.size == 1179648
    assert bp[12286:12290].tolist() == [0xDD, 0xCC, 0xBB, 0xAA]
    assert bp[61450:61452].tolist() == [0x34, 0x12]
    assert bp[64712] == 0x77
    assert bp[1179644:1179648].tolist() == [4, 3, 2, 1]
    # the boundary pool persists across launches; Φ reads the same bytes as handle 0
    got = run_snippet(backend, {}, f"ldg.u32 r1, [Φ(1, 0, 0)]\nldg.u8 r2, [buf{CLASS0 + 5} + 3272]\n"
                      f"ldg.u16 r3, [buf0 + 61450]", [("r1", "u32"), ("r2", "u8"), ("r3", "u16")])
    assert [int(v) for v in got] == [0xAABB, 0x77, 0x1234]


@pytest.mark.parametrize("body", [
    f"ldg.u32 r1, [buf{CLASS0} + 12286]",             # crosses the class-0 window's end
    f"ldg.u32 r1, [buf{CLASS0 + 95} + 12285]",
    "ldg.f32 r1, [Φ(95, 47, 254)]",                   # 1179646 + 4 > 1179648
    "ldg.u8 r1, [buf0 + 1179648]",
])
def test_boundary_out_of_bounds(backend, body):
    fault(backend, body, hg.OutOfBounds, at=body)


def test_boundary_in_bounds_edges(backend):
    got = run(backend, "ldg.f32 r1, [Φ(95, 47, 252)]\nldg.f32 r2, [Φ(0, 47, 254)]\n"
              f"ldg.u8 r3, [buf{CLASS0 + 95} + 12287]", [("r1", "f32"), ("r2", "f32"),
                                                          ("r3", "u8")])
    assert got == [0, 0, 0]


@pytest.mark.parametrize("src", ["ldg.u8 r1, [Φ(96, 0, 0)]", "ldg.u8 r1, [Φ(0, 48, 0)]"])
def test_phi_validation(src):
    with pytest.raises(hg.ProgramError):
        hg.assemble(src)


def test_host_boundary_handles(backend):
    backend.copy_to_buffer(CLASS0 + 2, np.array([5, 6], np.uint8), offset=12286)
    assert backend.buffer_view(0)[2 * 12288 + 12286:2 * 12288 + 12288].tolist() == [5, 6]
    with pytest.raises(hg.OutOfBounds):
        backend.copy_to_buffer(CLASS0 + 2, np.array([5, 6], np.uint8), offset=12287)
    for h in (0, CLASS0, CLASS0 + 95):
        with pytest.raises(hg.InvalidHandle):
            backend.free_buffer(h)


# --------------------------------------------------------------------------------------------
# §5.8 atomics


_SIZES = {"i32": 4, "u32": 4, "f32": 4, "i64": 8, "u64": 8, "f64": 8}


def _decode(ty, raw):
    v = int.from_bytes(raw, "little")
    if ty[0] == "i" and v >= 1 << (8 * len(raw) - 1):
        v -= 1 << (8 * len(raw))
    return v


def atom(backend, op, ty, mem, src, cmp=None, shared=False):
    """One lane: memory word (at offset 8) = mem, run the atomic; returns (old, new)."""
    n = _SIZES[ty]
    buf = np.zeros(16, np.uint8)
    buf[8:8 + n] = list((mem & ((1 << 8 * n) - 1)).to_bytes(n, "little"))
    space = "atoms" if shared else "atom"
    addr = "[buf0 + 8]" if shared else "[r1 + 8]"
    ins = (f"{space}.cas.{ty} r6, {addr}, r7, r5" if op == "cas"
           else f"{space}.{op}.{ty} r6, {addr}, r5")
    body = f"mov_imm.{ty} r5, {src}\n"
    if cmp is not None:
        body += f"mov_imm.{ty} r7, {cmp}\n"
    if shared:    # copy the word into shared memory, operate there, copy back
        body = (f"ldg.{ty} r8, [r1 + 8]\nsts.{ty} [buf0 + 8], r8\n" + body + ins +
                f"\nlds.{ty} r8, [buf0 + 8]\nstg.{ty} [r1 + 8], r8")
    else:
        body += ins
    old = run_snippet(backend, {}, body, [("r6", ty)], extra_params={"r1": buf},
                      shared_memory=16 if shared else 0)[0]
    return _bits(old), _decode(ty, bytes(buf[8:8 + n]))


ATOMICS = [
    # (op, ty, mem, src, expected new)
    ("add", "i32", 2147483647, 1, -2147483648), ("add", "u32", 4294967295, 2, 1),
    ("add", "i64", -5, 3, -2), ("add", "u64", U64_MAX, 1, 0),
    ("add", "f32", 0x3FC00000, 0x40100000, 0x40700000),            # 1.5 + 2.25 = 3.75
    ("add", "f64", 0x3FF0000000000000, 0x3E10000000000000, 0x3FF0000000400000),   # 1 + 2^-30
    ("min", "i32", -3, 2, -3), ("min", "u32", 3, 0xFFFFFFFF, 3), ("min", "i64", 5, -7, -7),
    ("min", "u64", 5, 9223372036854775808, 5),
    ("min", "f32", 0x7FC00000, 0x3F800000, 0x3F800000), ("min", "f32", 0, 0x80000000, 0x80000000),
    ("min", "f64", 0x4004000000000000, 0xBFF0000000000000, 0xBFF0000000000000),
    ("max", "i32", -3, 2, 2), ("max", "u32", 3, 0xFFFFFFFF, 0xFFFFFFFF), ("max", "i64", 5, -7, 5),
    ("max", "u64", 5, 9223372036854775808, 9223372036854775808),
    ("max", "f32", 0x80000000, 0, 0), ("max", "f64", 0x3FF0000000000000, 0x7FF8000000000000,
                                       0x3FF0000000000000),
    ("exch", "i32", 5, -9, -9), ("exch", "u32", 5, 9, 9), ("exch", "i64", 5, I64_MIN, I64_MIN),
    ("exch", "u64", 5, U64_MAX, U64_MAX), ("exch", "f32", 0, 0x7F800001, 0x7F800001),
    ("exch", "f64", 0, 0xFFF0000000000001, 0xFFF0000000000001),
    ("and", "u32", 0xFF00FF00, 0x0FF00FF0, 0x0F000F00), ("or", "u32", 0xFF00FF00, 0x0FF00FF0, 0xFFF0FFF0),
    ("xor", "u32", 0xFF00FF00, 0x0FF00FF0, 0xF0F0F0F0), ("and", "i32", -1, 5, 5),
    ("or", "i32", -2147483648, 1, -2147483647), ("xor", "i32", -1, 1, -2),
    ("and", "u64", U64_MAX, 0x8000000000000001, 0x8000000000000001),
    ("or", "u64", 0x8000000000000000, 1, 0x8000000000000001), ("xor", "u64", U64_MAX, 1, U64_MAX - 1),
    ("and", "i64", -1, I64_MIN, I64_MIN), ("or", "i64", 0, -1, -1), ("xor", "i64", -1, -1, 0),
]


@pytest.mark.parametrize("shared", [False, True], ids=["global", "shared"])
@pytest.mark.parametrize("op,ty,mem,src,new", ATOMICS,
                         ids=[f"{c[0]}.{c[1]}({c[2]},{c[3]})" for c in ATOMICS])
def test_atomic_ops(backend, op, ty, mem, src, new, shared):
    old, got = atom(backend, op, ty, mem, src, shared=shared)
    assert old == mem and got == new, (hex(old), hex(got))


CAS = [
    # (ty, mem, cmp, src, expected new)
    ("i32", 5, 5, 9, 9), ("i32", 5, 6, 9, 5), ("u32", 0xFFFFFFFF, 0xFFFFFFFF, 1, 1),
    ("i64", -1, -1, 7, 7), ("u64", 1, 2, 3, 1),
    ("f32", 0x3F800000, 0x3F800000, 0x40000000, 0x40000000),
    ("f32", 0x00000000, 0x80000000, 0x40000000, 0x00000000),     # +0 vs -0: bits differ -> fail
    ("f32", 0x7FC00000, 0x7FC00000, 0x40000000, 0x40000000),     # NaN with equal bits: success
    ("f64", 0x7FF8000000000001, 0x7FF8000000000001, 0x3FF0000000000000, 0x3FF0000000000000),
    ("f64", 0x8000000000000000, 0, 0x3FF0000000000000, 0x8000000000000000),
]


@pytest.mark.parametrize("shared", [False, True], ids=["global", "shared"])
@pytest.mark.parametrize("ty,mem,cmp,src,new", CAS)
def test_atomic_cas(backend, ty, mem, cmp, src, new, shared):
    old, got = atom(backend, "cas", ty, mem, src, cmp=cmp, shared=shared)
    assert old == mem and got == new


def test_atomic_access_checks(backend):
    buf = np.arange(16, dtype=np.uint8)
    before = buf.tolist()
    cases = [
        ("mov_imm.u32 r5, 1\natom.add.u32 r6, [r1 + 2], r5", hg.Misaligned),
        ("mov_imm.u64 r5, 1\natom.exch.u64 r6, [r1 + 4], r5", hg.Misaligned),
        ("mov_imm.f64 r5, 1.0\nmov_imm.f64 r7, 1.0\natom.cas.f64 r6, [r1 + 12], r7, r5",
         hg.OutOfBounds),                                   # bounds are checked before alignment
        ("mov_imm.u32 r5, 1\natom.add.u32 r6, [r1 + 14], r5", hg.OutOfBounds),
        ("mov_imm.u32 r5, 1\natom.add.u32 r6, [buf999 + 2], r5", hg.InvalidHandle),
        ("mov_imm.u32 r5, 1\natom.add.u32 r6, [r1 - 4], r5", hg.OutOfBounds),
    ]
    for body, exc in cases:
        with pytest.raises(exc) as ei:
            run_snippet(backend, {}, body, [], extra_params={"r1": buf})
        assert type(ei.value) is exc, body
        assert buf.tolist() == before, body
    # the boundary pool accepts atomics too; alignment is of the offset
    got = run_snippet(backend, {}, "mov_imm.u32 r5, 3\natom.add.u32 r6, [Φ(1, 2, 4)], r5\n"
                      "atom.add.u32 r7, [Φ(1, 2, 4)], r5", [("r6", "u32"), ("r7", "u32")])
    assert [int(v) for v in got] == [0, 3]
    with pytest.raises(hg.Misaligned):
        run_snippet(backend, {}, "mov_imm.u32 r5, 3\natom.add.u32 r6, [Φ(1, 2, 5)], r5", [])


def test_shared_atomic_checks(backend):
    with pytest.raises(hg.Misaligned):
        run_snippet(backend, {}, "mov_imm.u32 r5, 1\natoms.add.u32 r6, [buf0 + 2], r5", [],
                    shared_memory=16)
    with pytest.raises(hg.SharedOutOfBounds):
        run_snippet(backend, {}, "mov_imm.u32 r5, 1\natoms.add.u32 r6, [buf0 + 16], r5", [],
                    shared_memory=16)
    with pytest.raises(hg.SharedOutOfBounds):
        run_snippet(backend, {}, "mov_imm.u32 r5, 1\nmov_imm.u32 r7, 1\n"
                    "atoms.cas.u32 r6, [buf0 + 0], r7, r5", [])


@pytest.mark.parametrize("src", ["atom.add.u16 r1, [r2 + r3], r4", "atom.add.f16 r1, [r2 + r3], r4",
                                 "atom.and.f32 r1, [r2 + r3], r4", "atoms.xor.f64 r1, [r2 + r3], r4",
                                 "atom.cas.i8 r1, [r2 + r3], r4, r5",
                                 "atoms.cas.bf16 r1, [r2 + r3], r4, r5"])
def test_atomic_type_validation(src):
    with pytest.raises(hg.ProgramError):
        hg.assemble(src)


def test_atomics_many_lanes(backend):
    # 3 blocks x 32 lanes, every lane hits the same words
    prog = hg.assemble("""
        mov_imm.u32 r1, 1
        atom.add.u32 r2, [r9 + 0], r1
        mov_imm.f32 r3, 1.0
        atom.add.f32 r2, [r9 + 4], r3
        cvt.i32.u64 r4, r255
        neg.i32 r4, r4
        atom.min.i32 r2, [r9 + 8], r4
        atom.max.u64 r2, [r9 + 16], r255
        mov_imm.u32 r5, 31
        and.u32 r6, r252, r5
        shl.u32 r7, r1, r6
        atom.or.u32 r2, [r9 + 24], r7
        atom.xor.u32 r2, [r9 + 28], r7
        """)
    out = np.zeros(4, np.uint64)
    backend.execute_program(prog, hg.LaunchConfig(3, 32), {"r9": out})
    w = out.view(np.uint32)
    assert w[0] == 96
    assert w[1:2].view(np.float32)[0] == 96.0
    assert w[2:3].view(np.int32)[0] == -95
    assert out[2] == 95
    assert w[6] == 0xFFFFFFFF
    assert w[7] == 0xFFFFFFFF        # each bit toggled 3 times


def test_shared_atomics_many_lanes(backend):
    prog = hg.assemble("""
        mov_imm.u32 r1, 1
        atoms.add.u32 r2, [buf0 + 0], r1
        cvt.i32.u32 r3, r252
        atoms.max.i32 r2, [buf0 + 4], r3
        bar.sync 0
        mov_imm.u32 r4, 0
        setne.u32 p0, r252, r4
        bra.p0 @done
        lds.u32 r5, [buf0 + 0]
        lds.i32 r6, [buf0 + 4]
        cvt.u64.u32 r7, r253
        mov_imm.u32 r8, 3
        shl.u64 r7, r7, r8
        stg.u32 [r9 + r7], r5
        mov_imm.u64 r10, 4
        add.u64 r7, r7, r10
        stg.i32 [r9 + r7], r6
    done:
        exit
        """)
    out = np.zeros(4, np.uint32)
    backend.execute_program(prog, hg.LaunchConfig(2, 48, 8), {"r9": out})
    assert out.tolist() == [48, 47, 48, 47]


# --------------------------------------------------------------------------------------------
# §5.10 and §10 Atlas instructions


ATLAS_TABLE = """
0 3 1,6,12,24,48
1 4 0,2,7,13,25,49
2 5 1,8,14,26,50
3 0 4,9,15,27,51
4 1 3,5,10,16,28,52
5 2 4,11,17,29,53
6 9 0,7,18,30,54
7 10 1,6,8,19,31,55
8 11 2,7,20,32,56
9 6 3,10,21,33,57
10 7 4,9,11,22,34,58
11 8 5,10,23,35,59
12 15 0,13,18,36,60
13 16 1,12,14,19,37,61
14 17 2,13,20,38,62
15 12 3,16,21,39,63
16 13 4,15,17,22,40,64
17 14 5,16,23,41,65
18 21 6,12,19,42,66
19 22 7,13,18,20,43,67
20 23 8,14,19,44,68
21 18 9,15,22,45,69
22 19 10,16,21,23,46,70
23 20 11,17,22,47,71
24 27 0,25,30,36,72
25 28 1,24,26,31,37,73
26 29 2,25,32,38,74
27 24 3,28,33,39,75
28 25 4,27,29,34,40,76
29 26 5,28,35,41,77
30 33 6,24,31,42,78
31 34 7,25,30,32,43,79
32 35 8,26,31,44,80
33 30 9,27,34,45,81
34 31 10,28,33,35,46,82
35 32 11,29,34,47,83
36 39 12,24,37,42,84
37 40 13,25,36,38,43,85
38 41 14,26,37,44,86
39 36 15,27,40,45,87
40 37 16,28,39,41,46,88
41 38 17,29,40,47,89
42 45 18,30,36,43,90
43 46 19,31,37,42,44,91
44 47 20,32,38,43,92
45 42 21,33,39,46,93
46 43 22,34,40,45,47,94
47 44 23,35,41,46,95
48 51 0,49,54,60,72
49 52 1,48,50,55,61,73
50 53 2,49,56,62,74
51 48 3,52,57,63,75
52 49 4,51,53,58,64,76
53 50 5,52,59,65,77
54 57 6,48,55,66,78
55 58 7,49,54,56,67,79
56 59 8,50,55,68,80
57 54 9,51,58,69,81
58 55 10,52,57,59,70,82
59 56 11,53,58,71,83
60 63 12,48,61,66,84
61 64 13,49,60,62,67,85
62 65 14,50,61,68,86
63 60 15,51,64,69,87
64 61 16,52,63,65,70,88
65 62 17,53,64,71,89
66 69 18,54,60,67,90
67 70 19,55,61,66,68,91
68 71 20,56,62,67,92
69 66 21,57,63,70,93
70 67 22,58,64,69,71,94
71 68 23,59,65,70,95
72 75 24,48,73,78,84
73 76 25,49,72,74,79,85
74 77 26,50,73,80,86
75 72 27,51,76,81,87
76 73 28,52,75,77,82,88
77 74 29,53,76,83,89
78 81 30,54,72,79,90
79 82 31,55,73,78,80,91
80 83 32,56,74,79,92
81 78 33,57,75,82,93
82 79 34,58,76,81,83,94
83 80 35,59,77,82,95
84 87 36,60,72,85,90
85 88 37,61,73,84,86,91
86 89 38,62,74,85,92
87 84 39,63,75,88,93
88 85 40,64,76,87,89,94
89 86 41,65,77,88,95
90 93 42,66,78,84,91
91 94 43,67,79,85,90,92
92 95 44,68,80,86,91
93 90 45,69,81,87,94
94 91 46,70,82,88,93,95
95 92 47,71,83,89,94
"""   # ISA.md §10: class, mirror, neighbours in ascending order


def _atlas_table():
    rows = {}
    for line in ATLAS_TABLE.strip().splitlines():
        c, m, nb = line.split()
        rows[int(c)] = (int(m), [int(x) for x in nb.split(",")])
    return rows


def test_atlas_tables_for_all_classes(backend):
    # one lane walks the 96 classes: 16 bytes per class =
    # [mirror, 0, 0, 0, degree (u32), nbr.get K for K = 0..7]
    lines = ["mov_imm.u8 r0, 0", "mov_imm.u8 r1, 1", "mov_imm.u8 r2, 96",
             "mov_imm.u64 r3, 0", "mov_imm.u64 r4, 16"]
    lines += [f"mov_imm.u64 r{20 + k}, {k}" for k in range(16)]
    lines += ["top:", "mirror r10, r0", "add.u64 r5, r3, r20", "stg.u8 [r9 + r5], r10",
              "nbr.count r11, r0", "add.u64 r5, r3, r24", "stg.u32 [r9 + r5], r11"]
    for k in range(8):
        lines += [f"nbr.get r12, r0, {k}", f"add.u64 r5, r3, r{28 + k}", "stg.u8 [r9 + r5], r12"]
    lines += ["add.u64 r3, r3, r4", "add.u8 r0, r0, r1", "setlt.u8 p0, r0, r2", "bra.p0 @top"]
    out = np.zeros(96 * 16, np.uint8)
    backend.execute_program(hg.assemble("\n".join(lines)), params={"r9": out})
    rows = out.reshape(96, 16)
    table = _atlas_table()
    for c in range(96):
        mirror, nbrs = table[c]
        deg = len(nbrs)
        assert deg == (6 if c % 3 == 1 else 5)
        assert rows[c, 0] == mirror, c
        assert rows[c, 4:8].view(np.uint32)[0] == deg, c
        assert rows[c, 8:16].tolist() == nbrs + [0] * (8 - deg), c


def test_atlas_scalar_vectors(backend):
    got = run(backend, """
        mirror r10, r0
        nbr.count r11, r1
        nbr.get r12, r1, 5
        nbr.get r13, r0, 9
        bound.map r14, r1, r2, r3
        bound.map r15, r4, r5, r6
        """, [("r10", "u8"), ("r11", "u32"), ("r12", "u8"), ("r13", "u8"), ("r14", "u64"),
              ("r15", "u64")],
        [("r0", "u8", 5), ("r1", "u8", 1), ("r2", "u8", 2), ("r3", "u8", 3),
         ("r4", "u8", 95), ("r5", "u8", 47), ("r6", "u8", 255)])
    assert got == [2, 6, 49, 0, 12803, 1179647]


@pytest.mark.parametrize("body,value", [
    ("mirror r1, r0", "96"), ("nbr.count r1, r0", "96"), ("nbr.get r1, r0, 0", "96"),
    ("bound.map r3, r0, r1, r2", "96"), ("bound.map r3, r1, r4, r2", "48"),
    ("mov_imm.f64 r5, 1.0\nres.accum r0, r5", "96"),
])
def test_atlas_invalid_coordinates(backend, body, value):
    e = fault(backend, body, hg.InvalidCoordinate,
              [("r0", "u8", 96), ("r1", "u8", 0), ("r2", "u8", 0), ("r4", "u8", 48)])
    assert value in e.message and e.pc == 4 + len(hg.assemble(body)) - 1


def test_atlas_operands_are_u8(backend):
    fault(backend, "mirror r1, r0", hg.TypeMismatch, [("r0", "u32", 5)],
          message="type mismatch: r0: expected u8, got u32")
    fault(backend, "mov_imm.f32 r5, 1.0\nres.accum r0, r5", hg.TypeMismatch, [("r0", "u8", 5)],
          message="type mismatch: r5: expected f64, got f32")


def test_class_unity_over_100_blocks(backend):
    # class = block x mod 96 (ISA.md §11 #11): block 98 -> class 2; unity for classes 1 and 4
    prog = hg.assemble("""
        cls.get r1
        cvt.u64.u32 r2, r253
        stg.u8 [r9 + r2], r1
        unity.test p0, 0.5
        mov_imm.u8 r3, 1
        mov_imm.u8 r4, 0
        sel.u8 r5, p0, r3, r4
        stg.u8 [r8 + r2], r5
        unity.test p1, nan                ; epsilon is ignored
        sel.u8 r5, p1, r3, r4
        stg.u8 [r7 + r2], r5
        """)
    cls = np.zeros(100, np.uint8)
    unity = np.zeros(100, np.uint8)
    unity2 = np.zeros(100, np.uint8)
    backend.execute_program(prog, hg.LaunchConfig((100, 1, 1), 1),
                            {"r9": cls, "r8": unity, "r7": unity2})
    assert cls[98] == 2 and cls[0] == 0 and cls[95] == 95 and cls[96] == 0
    assert cls.tolist() == [b % 96 for b in range(100)]
    assert np.flatnonzero(unity).tolist() == [1, 4, 97]
    assert unity2.tolist() == unity.tolist()


def test_class_uses_block_x_only(backend):
    out = np.zeros(6, np.uint8)
    prog = hg.assemble("cls.get r1\nmov.u64 r2, %gid\nstg.u8 [r9 + r2], r1")
    backend.execute_program(prog, hg.LaunchConfig((1, 3, 2), 1), {"r9": out})
    assert out.tolist() == [0] * 6


def test_res_accum(backend):
    prog = hg.assemble("""
        cls.get r1
        cvt.f64.u32 r2, r252
        mov_imm.f64 r3, 1.0
        add.f64 r2, r2, r3
        mov_imm.f64 r4, 0.25
        mul.f64 r2, r2, r4                ; 0.25 * (lane + 1)
        res.accum r1, r2
        mov_imm.u8 r5, 50
        res.accum r5, r3                  ; every lane adds 1.0 to class 50
        """)
    res = backend.execute_program(prog, hg.LaunchConfig(98, 4))
    r = res.resonance
    assert isinstance(r, np.ndarray) and r.shape == (96,) and r.dtype == np.float64
    expected = np.full(96, 2.5)           # 0.25 * (1 + 2 + 3 + 4) per block
    expected[0] += 2.5                    # block 96 -> class 0
    expected[1] += 2.5                    # block 97 -> class 1
    expected[50] += 98 * 4
    assert r.tolist() == expected.tolist()
    # a fresh accumulator per launch
    res2 = backend.execute_program(hg.assemble("exit"), hg.LaunchConfig(1, 1))
    assert res2.resonance.tolist() == [0.0] * 96


def test_phase(backend):
    got = run(backend, """
        phase.get r1
        phase.adv 123
        phase.get r2
        phase.adv 627
        phase.adv 30                      ; 750 + 30 = 780 -> 12
        phase.get r3
        phase.adv 65535                   ; (12 + 65535) mod 768 = 267
        phase.get r4
        """, [("r1", "u32"), ("r2", "u32"), ("r3", "u32"), ("r4", "u32")])
    assert got == [0, 123, 12, 267]


def test_unaligned_parameter_array_atomics(backend):
    # a parameter array at an unaligned address is bound through an aligned copy (§4.2, §7.9),
    # so naturally aligned offsets work with atomics and stores are copied back
    raw = np.zeros(17, np.uint8)
    words = raw[1:17]                       # address is 1 mod 8
    prog = hg.assemble("mov_imm.u32 r1, 5\natom.add.u32 r2, [r9 + 4], r1\n"
                       "mov_imm.u64 r3, 7\natom.exch.u64 r4, [r9 + 8], r3")
    backend.execute_program(prog, hg.LaunchConfig(1, 3), {"r9": words})
    assert raw[0] == 0
    assert words[4:8].view(np.uint32)[0] == 15
    assert words[8:16].view(np.uint64)[0] == 7


def test_read_only_parameter_is_copied(backend):
    src = np.arange(4, dtype=np.uint32)
    src.flags.writeable = False
    out = np.zeros(4, np.uint32)
    prog = hg.assemble("mov_imm.u32 r1, 99\nldg.u32 r2, [r8 + 4]\nstg.u32 [r8 + 4], r1\n"
                       "stg.u32 [r9 + 0], r2\nldg.u32 r3, [r8 + 4]\nstg.u32 [r9 + 4], r3")
    backend.execute_program(prog, params={"r8": src, "r9": out})
    assert src.tolist() == [0, 1, 2, 3]           # the host array is untouched
    assert out[:2].tolist() == [1, 99]            # the lane saw its own store in the copy
    backend.execute_program(prog, params={"r8": bytes(16), "r9": out})
    assert out[:2].tolist() == [0, 99]


def test_step_limit_on_divergent_lanes(backend):
    # lane i runs 3 + 2*i instructions (a per-lane loop of i iterations of 2 instructions,
    # plus setup and exit); with max_steps = 10, lanes 4.. exceed it, and lane 4 is reported
    prog = hg.assemble("""
        mov_imm.u32 r1, 0
        mov_imm.u32 r2, 1
    top:
        setge.u32 p0, r1, r252
        bra.p0 @out
        add.u32 r1, r1, r2
        bra @top
    out:
        exit
        """)
    # lane i: 2 setup + i * 4 loop + 2 (final setge, bra) + 1 exit = 5 + 4i
    backend.execute_program(prog, hg.LaunchConfig(1, 8), max_steps=5 + 4 * 7)
    with pytest.raises(hg.StepLimitExceeded) as ei:
        backend.execute_program(prog, hg.LaunchConfig(1, 8), max_steps=5 + 4 * 3)
    assert ei.value.global_lane_id == 4
    # lane 4 has executed 17 instructions: 2 setup + 3 full iterations (12) + setge, bra, add
    # of the 4th; the 18th would be "bra @top" at pc 5
    assert ei.value.pc == 5


def test_zero_extent_grid_launches_nothing(backend):
    out = np.zeros(1, np.uint32)
    prog = hg.assemble("mov_imm.u32 r1, 1\nstg.u32 [r9 + 0], r1")
    backend.execute_program(prog, hg.LaunchConfig((0, 5, 1), 4), {"r9": out})
    assert out[0] == 0


# --------------------------------------------------------------------------------------------
# §3.1: an implementation may prove reads safe, but wrong reads must still fault identically


def test_same_program_different_parameter_signatures(backend):
    prog = hg.assemble("mov_imm.u64 r2, 1\nadd.u64 r3, r1, r2\nstg.u64 [r9 + 0], r3")
    out = np.zeros(1, np.uint64)
    backend.execute_program(prog, params={"r1": ("u64", 41), "r9": out})
    assert out[0] == 42
    with pytest.raises(hg.TypeMismatch) as ei:
        backend.execute_program(prog, params={"r1": ("u32", 41), "r9": out})
    assert ei.value.pc == 1 and ei.value.message == "type mismatch: r1: expected u64, got u32"
    with pytest.raises(hg.UninitializedRegister) as ei:
        backend.execute_program(prog, params={"r9": out})
    assert ei.value.pc == 1 and ei.value.message == "uninitialized register: r1"
    with pytest.raises(hg.TypeMismatch) as ei:
        backend.execute_program(prog, params={"r1": np.float64(41.0), "r9": out})
    assert ei.value.pc == 1 and ei.value.message == "type mismatch: r1: expected u64, got f64"
    with pytest.raises(hg.TypeMismatch) as ei:
        backend.execute_program(prog, params={"r1": ("u64", 1), "r9": ("u32", 0)})
    assert ei.value.pc == 2 and ei.value.message == "type mismatch: r9: expected u64, got u32"
    backend.execute_program(prog, params={"r1": ("u64", 1), "r9": out})
    assert out[0] == 2


def test_data_dependent_register_types(backend):
    # even lanes write r5 as i32, odd lanes as f32; everyone reads it as i32
    prog = hg.assemble("""
        mov_imm.u32 r1, 1
        and.u32 r2, r252, r1
        seteq.u32 p0, r2, r1
        bra.p0 @odd
        mov_imm.i32 r5, 7
        bra @use
    odd:
        mov_imm.f32 r5, 7.0
    use:
        mov_imm.i32 r6, 1
        add.i32 r7, r5, r6
        """)
    backend.execute_program(prog, hg.LaunchConfig(1, 1))      # lane 0 only: fine
    with pytest.raises(hg.TypeMismatch) as ei:
        backend.execute_program(prog, hg.LaunchConfig(3, 4))
    e = ei.value
    assert (e.global_lane_id, e.pc, e.message) == (1, 8, "type mismatch: r5: expected i32, got f32")


def test_register_written_only_on_later_iteration(backend):
    # r5 is read in the 1st iteration before the write at its end
    prog = hg.assemble("""
        mov_imm.u32 r0, 2
    L:  mov_imm.u32 r1, 2
        setne.u32 p0, r0, r1
        bra.p0 @skip
        mov_imm.i32 r6, 0
        bra @w
    skip:
        add.i32 r6, r5, r5
    w:  mov_imm.i32 r5, 3
        loop r0, @L
        """)
    backend.execute_program(prog)                             # first iteration skips the read
    prog2 = hg.assemble(prog.disassemble().replace("setne.u32", "seteq.u32"))
    with pytest.raises(hg.UninitializedRegister) as ei:
        backend.execute_program(prog2)
    assert ei.value.pc == 6 and ei.value.message == "uninitialized register: r5"


# --------------------------------------------------------------------------------------------
# lanes of one block with different access outcomes; lane state never leaks between lanes


def test_mixed_in_and_out_of_bounds_lanes(backend):
    # one block of 64 lanes stores to a 40-word buffer: lanes 0..39 succeed and go on to the
    # second store, lanes 40..63 fault; the lowest faulting lane (40) is reported
    a = np.zeros(40, np.uint32)
    b = np.zeros(64, np.uint32)
    prog = hg.assemble("""
        mov_imm.u32 r1, 2
        shl.u64 r2, r255, r1
        cvt.u32.u64 r3, r255
        stg.u32 [r8 + r2], r3
        mov_imm.u32 r4, 1000
        add.u32 r3, r3, r4
        stg.u32 [r9 + r2], r3
        """)
    with pytest.raises(hg.OutOfBounds) as ei:
        backend.execute_program(prog, hg.LaunchConfig(1, 64), {"r8": a, "r9": b})
    assert (ei.value.global_lane_id, ei.value.pc) == (40, 3)
    assert a.tolist() == list(range(40))
    assert b.tolist() == [1000 + i for i in range(40)] + [0] * 24


def test_mixed_shared_and_handle_faults(backend):
    # lane t loads shared[4t] from 32 bytes of shared memory: lanes >= 8 fault
    out = np.zeros(16, np.uint32)
    prog = hg.assemble("""
        mov_imm.u32 r1, 2
        cvt.u64.u32 r2, r252
        shl.u64 r2, r2, r1
        lds.u32 r3, [r0 + r2]
        stg.u32 [r9 + r2], r252
        """)
    with pytest.raises(hg.SharedOutOfBounds) as ei:
        backend.execute_program(prog, hg.LaunchConfig(1, 16, 32), {"r9": out})
    assert (ei.value.global_lane_id, ei.value.pc) == (8, 3)
    assert out.tolist() == list(range(8)) + [0] * 8
    # per-lane handles: odd lanes use an unknown handle
    out2 = np.zeros(8, np.uint32)
    prog2 = hg.assemble("""
        mov_imm.u64 r1, 1
        and.u64 r2, r255, r1
        mov_imm.u64 r3, 999
        mul.u64 r4, r2, r3
        seteq.u64 p0, r2, r1
        sel.u64 r5, p0, r4, r9
        mov_imm.u32 r6, 2
        shl.u64 r7, r255, r6
        stg.u32 [r5 + r7], r252
        """)
    with pytest.raises(hg.InvalidHandle) as ei:
        backend.execute_program(prog2, hg.LaunchConfig(1, 8), {"r9": out2})
    assert (ei.value.global_lane_id, ei.value.pc) == (1, 8)
    assert out2.tolist() == [0, 0, 2, 0, 4, 0, 6, 0]


def test_call_stack_not_inherited(backend):
    # block 0 lanes exit inside a subroutine (one return address left); lanes of later blocks
    # RET at top level and must see an empty stack
    prog = hg.assemble("""
        mov_imm.u32 r1, 0
        setne.u32 p0, r253, r1
        bra.p0 @other
        call @f
    f:  exit
    other:
        ret
        """)
    backend.execute_program(prog, hg.LaunchConfig(1, 4))
    with pytest.raises(hg.CallStackUnderflow) as ei:
        backend.execute_program(prog, hg.LaunchConfig(8, 4))
    assert (ei.value.global_lane_id, ei.value.pc) == (4, 5)


def test_lane_state_starts_fresh_in_every_lane(backend):
    # each lane: read its phase (must be 0), advance it; read shared (must be 0), write it;
    # 10 instructions with max_steps = 10 over many blocks
    prog = hg.assemble("""
        phase.get r1
        phase.adv 100
        mov_imm.u32 r2, 2
        shl.u64 r3, r255, r2
        lds.u32 r4, [r0 + r3]
        add.u32 r5, r1, r4
        sts.u32 [r0 + r3], r2
        stg.u32 [r9 + r3], r5
        bar.sync 0
        exit
        """)
    # shared slot index = gid, so give every block enough shared memory for its lanes' gids
    blocks, lanes = 24, 8
    out = np.full(blocks * lanes, 7, np.uint32)
    backend.execute_program(prog, hg.LaunchConfig(blocks, lanes, 4 * blocks * lanes),
                            {"r9": out}, max_steps=10)
    assert out.tolist() == [0] * (blocks * lanes)


def test_registers_not_inherited_across_blocks(backend):
    prog = hg.assemble("""
        mov_imm.u32 r1, 0
        setne.u32 p0, r253, r1
        bra.p0 @read
        mov_imm.i32 r7, 5
        seteq.u32 p1, r1, r1
        exit
    read:
        mov.i32 r8, r7
        """)
    with pytest.raises(hg.UninitializedRegister) as ei:
        backend.execute_program(prog, hg.LaunchConfig(6, 2))
    assert (ei.value.global_lane_id, ei.value.message) == (2, "uninitialized register: r7")
    prog2 = hg.assemble(prog.disassemble().replace("mov.i32 r8, r7", "bra.p1 @x\nx:"))
    with pytest.raises(hg.UninitializedPredicate) as ei:
        backend.execute_program(prog2, hg.LaunchConfig(6, 2))
    assert (ei.value.global_lane_id, ei.value.message) == (2, "uninitialized predicate: p1")
